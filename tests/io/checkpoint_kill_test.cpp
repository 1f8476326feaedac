// Interrupted saves: a separate writer process (tests/support/checkpoint_writer_main.cpp) saves
// checkpoints to one path in a loop and is killed with SIGKILL at random moments. After every kill
// the path must load and hold exactly one of the states written (never a mix, never a partial
// file), and the next successful save must remove the temporaries that killed writers left.
// Saves that cannot be written (no such directory, a read-only one, a full disk) throw and keep the
// old file; a save removes only the temporaries that no live writer holds.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tinycnn/io/checkpoint.hpp>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/checkpoint_writer.hpp"
#include "support/temp_dir.hpp"

extern char** environ;

using namespace tinycnn;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// A running tests/support/checkpoint_writer_main.cpp; `out` reads its progress bytes.
struct WriterProcess {
  pid_t pid = -1;
  int out = -1;
};

// Spawned, not forked: the test process has OpenMP threads, and posix_spawn is safe beside them.
WriterProcess spawn_writer(const std::string& path, std::int64_t first, std::int64_t count,
                           std::vector<std::string> options = {}) {
  int pipe_fds[2];
  REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
  posix_spawn_file_actions_t actions;
  REQUIRE(::posix_spawn_file_actions_init(&actions) == 0);
  REQUIRE(::posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO) == 0);
  std::vector<std::string> args = {TINYCNN_CHECKPOINT_WRITER, path, std::to_string(first),
                                   std::to_string(count)};
  args.insert(args.end(), options.begin(), options.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  WriterProcess w;
  const int rc = ::posix_spawn(&w.pid, argv[0], &actions, nullptr, argv.data(), environ);
  ::posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_fds[1]);
  w.out = pipe_fds[0];
  INFO("posix_spawn " << argv[0] << ": " << std::strerror(rc));
  REQUIRE(rc == 0);
  return w;
}

// The next progress byte, or 0 once the writer has exited.
char read_progress(const WriterProcess& w) {
  char c = 0;
  ssize_t got;
  while ((got = ::read(w.out, &c, 1)) < 0 && errno == EINTR) {
  }
  return got == 1 ? c : 0;
}

// Waits for the writer and returns its wait status; counts the saves it reported.
int reap(WriterProcess& w, std::int64_t& saves) {
  for (char c; (c = read_progress(w)) != 0;) saves += c == 's';
  ::close(w.out);
  int status = 0;
  while (::waitpid(w.pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

// The temporaries next to `path`, by the pid their name carries ("<path>.tmp.<pid>.<hex>").
std::map<std::string, pid_t> temporaries(const fs::path& path) {
  std::map<std::string, pid_t> out;
  const std::string prefix = path.filename().string() + ".tmp.";
  for (const auto& e : fs::directory_iterator(path.parent_path())) {
    const std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) == 0) out.emplace(name, pid_t(std::atol(name.c_str() + prefix.size())));
  }
  return out;
}

std::int64_t file_size(const std::string& path) {
  struct ::stat st {};
  return ::stat(path.c_str(), &st) == 0 ? std::int64_t(st.st_size) : -1;
}

// Loads `path` and returns the state it holds; fails the test unless every tensor holds that same
// state and the metadata names it.
std::int64_t loaded_state(const std::string& path, nn::Sequential<float>& net) {
  const auto meta = io::load_checkpoint(path, net);
  const std::int64_t k = std::atoll(meta.at("counter").c_str());
  REQUIRE(meta.at("counter") == test::checkpoint_writer_counter(k));
  for (auto& [name, t] : net.state()) {
    const float* p = t->data();
    for (std::int64_t i = 0; i < t->numel(); ++i) {
      if (p[i] != float(k)) {
        FAIL_CHECK("'" << path << "' mixes states: metadata says " << k << ", tensor " << name
                       << "[" << i << "] = " << p[i]);
        return k;
      }
    }
  }
  return k;
}

}  // namespace

TEST_CASE("checkpoint: a writer killed at any moment leaves a whole checkpoint", "[io][checkpoint]") {
  test::TempDir dir("tinycnn_ckpt_kill");
  const std::string path = dir.file("model.safetensors");
  auto net = test::checkpoint_writer_model();

  std::uint64_t seed = std::random_device{}();
  if (const char* s = std::getenv("TINYCNN_KILL_TEST_SEED")) seed = std::strtoull(s, nullptr, 10);
  std::mt19937_64 rng(seed);
  INFO("seed " << seed << " (set TINYCNN_KILL_TEST_SEED to repeat)");

  // Calibration: an uninterrupted writer gives the time of one save cycle and the first state.
  const int kCalibrationSaves = 4;
  auto w = spawn_writer(path, 0, kCalibrationSaves);
  REQUIRE(read_progress(w) == 'r');
  const auto t0 = Clock::now();
  std::int64_t saves = 0;
  const int status = reap(w, saves);
  const double cycle_s = std::chrono::duration<double>(Clock::now() - t0).count() / kCalibrationSaves;
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  REQUIRE(saves == kCalibrationSaves);
  const std::int64_t full_size = file_size(path);
  std::int64_t state = loaded_state(path, net);
  REQUIRE(state == kCalibrationSaves - 1);
  REQUIRE(temporaries(path).empty());

  // Kills: each new writer starts at the next state, waits until its model is built, and is killed
  // after a delay drawn uniformly from [0, 2 cycles], so the kills cover every point of a save.
  const int kKills = 100;
  std::uniform_real_distribution<double> delay_s(0.0, 2.0 * cycle_s);
  std::set<std::string> left_over;  // temporaries that killed writers left and no save removed yet
  int killed_mid_write = 0, unchanged = 0;
  const auto start = Clock::now();
  for (int kill = 0; kill < kKills; ++kill) {
    INFO("kill " << kill << ", writer starting at state " << state + 1);
    w = spawn_writer(path, state + 1, 0);
    REQUIRE(read_progress(w) == 'r');
    std::this_thread::sleep_for(std::chrono::duration<double>(delay_s(rng)));
    REQUIRE(::kill(w.pid, SIGKILL) == 0);
    std::int64_t reported = 0;
    const int st = reap(w, reported);
    REQUIRE(WIFSIGNALED(st));
    REQUIRE(WTERMSIG(st) == SIGKILL);

    // The path holds a whole checkpoint of the last reported state, or of the next one when the
    // kill came after the rename and before the report.
    REQUIRE(file_size(path) == full_size);
    const std::int64_t now = loaded_state(path, net);
    CHECK((now == state + reported || now == state + reported + 1));
    unchanged += now == state;
    state = now;

    // Temporaries: at most one of the killed writer's own, and older ones only while none of this
    // writer's saves has returned (a save removes the temporaries of dead writers once its rename
    // is done, so a kill between the rename and that clean-up may leave some of them).
    const auto temps = temporaries(path);
    int mine = 0;
    std::set<std::string> now_left;
    for (const auto& [name, pid] : temps) {
      now_left.insert(name);
      if (pid == w.pid) {
        ++mine;
      } else {
        INFO("temporary '" << name << "' of an earlier writer");
        CHECK(left_over.count(name) == 1);
        CHECK(reported == 0);
      }
    }
    CHECK(mine <= 1);
    killed_mid_write += mine > 0;
    left_over = now_left;
  }
  const double kill_s = std::chrono::duration<double>(Clock::now() - start).count();

  // One last uninterrupted save removes whatever the killed writers left.
  w = spawn_writer(path, state + 1, 1);
  REQUIRE(read_progress(w) == 'r');
  saves = 0;
  const int last = reap(w, saves);
  REQUIRE(WIFEXITED(last));
  REQUIRE(WEXITSTATUS(last) == 0);
  CHECK(loaded_state(path, net) == state + 1);
  CHECK(dir.entries() == std::vector<std::string>{"model.safetensors"});

  std::cout << "checkpoint kill test: seed " << seed << ", save cycle " << cycle_s * 1e3
            << " ms, " << kKills << " kills in " << kill_s << " s: " << killed_mid_write
            << " left a temporary (killed mid-write), " << unchanged
            << " left the previous state in place\n";
  // The delays must reach into the write itself, or the test proves nothing.
  CHECK(killed_mid_write > 0);
}

TEST_CASE("checkpoint: a save that cannot be written throws and keeps the old checkpoint",
          "[io][checkpoint][errors]") {
  using Catch::Contains;
  test::TempDir dir("tinycnn_ckpt_fail");
  const std::string path = dir.file("model.safetensors");
  auto net = test::checkpoint_writer_model();
  test::set_checkpoint_writer_state(net, 7);
  io::save_checkpoint(path, net, nullptr, {{"counter", test::checkpoint_writer_counter(7)}});
  test::set_checkpoint_writer_state(net, 8);

  SECTION("the directory does not exist") {
    const std::string missing = dir.file("no/such/dir/model.safetensors");
    REQUIRE_THROWS_AS(io::save_checkpoint(missing, net), Error);
    REQUIRE_THROWS_WITH(io::save_checkpoint(missing, net), Contains(missing));
  }
  SECTION("a component of the path is a file") {
    const std::string under_file = path + "/model.safetensors";
    REQUIRE_THROWS_WITH(io::save_checkpoint(under_file, net),
                        Contains(under_file) && Contains("Not a directory"));
  }
  // The next two run in a writer process: it can drop root and limit its file size.
  std::vector<std::string> options;
  SECTION("the directory is read-only") {
    fs::permissions(dir.path(), fs::perms::owner_read | fs::perms::owner_exec);
    options = {"--unprivileged"};  // root would write into it anyway
  }
  SECTION("the disk fills up during the write") {
    options = {"--fsize-limit", std::to_string(1 << 20)};  // write() fails with EFBIG at 1 MiB
  }
  if (!options.empty()) {
    auto w = spawn_writer(path, 9, 1, options);
    REQUIRE(read_progress(w) == 'r');
    std::int64_t saves = 0;
    const int status = reap(w, saves);
    fs::permissions(dir.path(), fs::perms::owner_all);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 3);  // the save threw tinycnn::Error
    CHECK(saves == 0);
  }
  auto other = test::checkpoint_writer_model();
  CHECK(loaded_state(path, other) == 7);
  CHECK(dir.entries() == std::vector<std::string>{"model.safetensors"});
}

TEST_CASE("checkpoint: a save removes dead writers' temporaries and keeps live ones",
          "[io][checkpoint]") {
  test::TempDir dir("tinycnn_ckpt_stale");
  const std::string path = dir.file("model.safetensors");
  auto touch = [&](const std::string& name) { std::ofstream(dir.file(name)) << "partial"; };
  const std::string dead = "model.safetensors.tmp.12345.0123456789abcdef";
  const std::string live = "model.safetensors.tmp.12346.fedcba9876543210";
  touch(dead);
  touch(live);
  touch("model.safetensors.tmp.notes");                    // not a temporary's name
  touch("other.safetensors.tmp.12345.0123456789abcdef");   // another file's temporary
  // A live writer holds an flock() on its temporary until the rename.
  const int held = ::open(dir.file(live).c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(held >= 0);
  REQUIRE(::flock(held, LOCK_EX | LOCK_NB) == 0);

  auto net = test::checkpoint_writer_model();
  test::set_checkpoint_writer_state(net, 5);
  io::save_checkpoint(path, net, nullptr, {{"counter", test::checkpoint_writer_counter(5)}});
  CHECK(dir.entries() == std::vector<std::string>{"model.safetensors", live,
                                                  "model.safetensors.tmp.notes",
                                                  "other.safetensors.tmp.12345.0123456789abcdef"});
  ::close(held);  // the writer died
  io::save_checkpoint(path, net, nullptr, {{"counter", test::checkpoint_writer_counter(5)}});
  CHECK(dir.entries() == std::vector<std::string>{"model.safetensors", "model.safetensors.tmp.notes",
                                                  "other.safetensors.tmp.12345.0123456789abcdef"});
  CHECK(loaded_state(path, net) == 5);
}
