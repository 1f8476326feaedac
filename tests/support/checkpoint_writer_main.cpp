// checkpoint_writer: the process that tests/io/checkpoint_kill_test.cpp kills in the middle of saves.
//   checkpoint_writer PATH FIRST COUNT [--fsize-limit BYTES] [--unprivileged]
// Saves state k = FIRST, FIRST+1, ... of the test model to PATH with save_checkpoint, COUNT times
// (0: until killed). Reports on stdout, one byte each and unbuffered: 'r' once the model is built,
// 's' after each save has returned. The options make the saves fail, and then the first failure
// must be a tinycnn::Error: exit status 3 (any save that succeeds: 4).
//   --fsize-limit BYTES  files are limited to BYTES (RLIMIT_FSIZE), as on a full disk
//   --unprivileged       run as nobody when started as root, so that file permissions apply
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include <tinycnn/io/checkpoint.hpp>

#include "support/checkpoint_writer.hpp"

namespace {
void report(char c) {
  while (::write(STDOUT_FILENO, &c, 1) < 0 && errno == EINTR) {
  }
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s PATH FIRST COUNT [--fsize-limit BYTES] [--unprivileged]\n",
                 argv[0]);
    return 2;
  }
  const std::string path = argv[1];
  const long long first = std::atoll(argv[2]), count = std::atoll(argv[3]);
  bool expect_error = false;
  for (int i = 4; i < argc; ++i) {
    const std::string option = argv[i];
    if (option == "--fsize-limit" && i + 1 < argc) {
      const rlim_t bytes = rlim_t(std::atoll(argv[++i]));
      const rlimit limit{bytes, bytes};
      if (::signal(SIGXFSZ, SIG_IGN) == SIG_ERR || ::setrlimit(RLIMIT_FSIZE, &limit) != 0) {
        std::perror("checkpoint_writer: setrlimit");
        return 2;
      }
    } else if (option == "--unprivileged") {
      // Root ignores file permissions (CAP_DAC_OVERRIDE); nobody does not. Dumpable again after
      // setuid, so that LeakSanitizer can still attach to the process at exit.
      if (::geteuid() == 0 && (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 ||
                               ::setuid(65534) != 0 || ::prctl(PR_SET_DUMPABLE, 1) != 0)) {
        std::perror("checkpoint_writer: dropping root");
        return 2;
      }
    } else {
      std::fprintf(stderr, "checkpoint_writer: unknown option '%s'\n", option.c_str());
      return 2;
    }
    expect_error = true;
  }
  try {
    auto net = tinycnn::test::checkpoint_writer_model();
    report('r');
    for (long long k = first; count == 0 || k < first + count; ++k) {
      tinycnn::test::set_checkpoint_writer_state(net, k);
      tinycnn::io::save_checkpoint(path, net, nullptr,
                                   {{"counter", tinycnn::test::checkpoint_writer_counter(k)}});
      report('s');
    }
  } catch (const tinycnn::Error& e) {
    std::fprintf(stderr, "checkpoint_writer: %s\n", e.what());
    return expect_error ? 3 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "checkpoint_writer: unexpected exception: %s\n", e.what());
    return 1;
  }
  return expect_error ? 4 : 0;
}
