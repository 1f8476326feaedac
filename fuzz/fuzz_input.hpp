// The libFuzzer side of the fuzz targets: the loaders take paths, so each input is written to one
// temporary file per process (reused, in $TINYCNN_FUZZ_TMPDIR, else /dev/shm, else /tmp), and the
// loader's outcome is checked: tinycnn::Error is the expected answer to a malformed input, any
// other exception is reported and aborts (a finding, like a crash or a sanitizer report).
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include <tinycnn/core/error.hpp>

namespace tinycnn::fuzz {

// A file holding the current input, rewritten in place for each one.
class InputFile {
 public:
  explicit InputFile(const std::string& stem) {
    std::string dir = "/tmp";
    struct ::stat st {};
    if (const char* d = std::getenv("TINYCNN_FUZZ_TMPDIR"); d && *d)
      dir = d;
    else if (::stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode))
      dir = "/dev/shm";
    path_ = dir + "/tinycnn_fuzz_" + stem + "_" + std::to_string(::getpid());
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd_ < 0) {
      std::perror(path_.c_str());
      std::abort();
    }
  }
  ~InputFile() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  const std::string& path() const noexcept { return path_; }

  void write(const void* data, std::size_t size) {
    if (::ftruncate(fd_, 0) != 0) fatal("ftruncate");
    const auto* p = static_cast<const unsigned char*>(data);
    std::size_t done = 0;
    while (done < size) {
      const ::ssize_t put = ::pwrite(fd_, p + done, size - done, ::off_t(done));
      if (put <= 0) fatal("pwrite");
      done += std::size_t(put);
    }
  }

 private:
  [[noreturn]] void fatal(const char* what) const {
    std::perror((std::string(what) + " " + path_).c_str());
    std::abort();
  }
  std::string path_;
  int fd_ = -1;
};

// Runs f(); true when it returns, false when it throws tinycnn::Error; any other exception is
// printed and aborts the process, so libFuzzer saves the input as a crash.
template <class F>
bool accepts(F&& f) {
  try {
    f();
    return true;
  } catch (const tinycnn::Error&) {
    return false;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tinycnn fuzz: unexpected exception (not tinycnn::Error): %s\n",
                 e.what());
    std::abort();
  } catch (...) {
    std::fprintf(stderr, "tinycnn fuzz: unexpected exception of a non-std type\n");
    std::abort();
  }
}

// With TINYCNN_FUZZ_REPORT set, prints whether the loader accepted the input (one line per input:
// "tinycnn fuzz: accepted" or "tinycnn fuzz: refused"); tools/fuzz.sh keep names the inputs it
// adds to the corpus by it.
inline void report(bool accepted) {
  static const bool enabled = std::getenv("TINYCNN_FUZZ_REPORT") != nullptr;
  if (enabled) std::fprintf(stderr, "tinycnn fuzz: %s\n", accepted ? "accepted" : "refused");
}

}  // namespace tinycnn::fuzz
