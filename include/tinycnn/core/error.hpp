// Errors: tinycnn::Error for invalid use, tinycnn::OutOfMemory for allocations that cannot be served.
#pragma once

#include <cstddef>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace tinycnn {

// Thrown for invalid use. The message names the operation and what was expected and received,
// e.g. "conv2d: input must have rank 4 (N, C, H, W), got shape [3, 32, 32]".
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Thrown when memory cannot be allocated (GPU, or host for absurd sizes).
class OutOfMemory : public Error {
 public:
  OutOfMemory(const std::string& what, std::size_t bytes_requested, std::size_t bytes_free)
      : Error(what), bytes_requested_(bytes_requested), bytes_free_(bytes_free) {}
  std::size_t bytes_requested() const noexcept { return bytes_requested_; }
  std::size_t bytes_free() const noexcept { return bytes_free_; }

 private:
  std::size_t bytes_requested_;
  std::size_t bytes_free_;
};

namespace detail {

template <class... Args>
std::string concat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}

template <class... Args>
[[noreturn]] void throw_error(Args&&... args) {
  throw Error(concat(std::forward<Args>(args)...));
}

}  // namespace detail
}  // namespace tinycnn

// TINYCNN_CHECK(cond, parts...): throw tinycnn::Error with the concatenated parts unless cond holds.
#define TINYCNN_CHECK(cond, ...)                       \
  do {                                                 \
    if (!(cond)) ::tinycnn::detail::throw_error(__VA_ARGS__); \
  } while (0)
