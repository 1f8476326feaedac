// Shape: the runtime extent of a tensor, up to kMaxRank dimensions, validated on construction.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <ostream>
#include <span>
#include <string>

#include "tinycnn/core/error.hpp"

namespace tinycnn {

class Shape {
 public:
  static constexpr int kMaxRank = 8;

  Shape() = default;  // rank 0: a scalar, one element
  Shape(std::initializer_list<std::int64_t> dims) { assign(dims.begin(), dims.size()); }
  explicit Shape(std::span<const std::int64_t> dims) { assign(dims.data(), dims.size()); }

  int rank() const noexcept { return rank_; }

  // Dimension i; negative i counts from the end (-1 is the last dimension).
  std::int64_t operator[](int i) const {
    const int j = i < 0 ? i + rank_ : i;
    TINYCNN_CHECK(j >= 0 && j < rank_, "Shape: dimension index ", i, " out of range for shape ",
                  to_string());
    return dims_[j];
  }

  std::int64_t numel() const noexcept {
    std::int64_t n = 1;
    for (int i = 0; i < rank_; ++i) n *= dims_[i];
    return n;
  }

  const std::int64_t* begin() const noexcept { return dims_.data(); }
  const std::int64_t* end() const noexcept { return dims_.data() + rank_; }
  std::span<const std::int64_t> dims() const noexcept { return {dims_.data(), std::size_t(rank_)}; }

  friend bool operator==(const Shape& a, const Shape& b) noexcept {
    if (a.rank_ != b.rank_) return false;
    for (int i = 0; i < a.rank_; ++i)
      if (a.dims_[i] != b.dims_[i]) return false;
    return true;
  }

  std::string to_string() const {
    std::string s = "[";
    for (int i = 0; i < rank_; ++i) {
      if (i) s += ", ";
      s += std::to_string(dims_[i]);
    }
    return s + "]";
  }
  friend std::ostream& operator<<(std::ostream& os, const Shape& s) { return os << s.to_string(); }

 private:
  void assign(const std::int64_t* d, std::size_t n) {
    TINYCNN_CHECK(n <= std::size_t(kMaxRank), "Shape: rank ", n, " exceeds the maximum rank ",
                  kMaxRank);
    rank_ = int(n);
    std::int64_t total = 1;
    for (int i = 0; i < rank_; ++i) {
      dims_[i] = d[i];
      TINYCNN_CHECK(d[i] >= 0, "Shape: dimension ", i, " is ", d[i],
                    "; dimensions must be >= 0 (shape ", to_string_prefix(i + 1), ")");
      TINYCNN_CHECK(d[i] == 0 || total <= std::numeric_limits<std::int64_t>::max() / d[i],
                    "Shape: element count overflows 64 bits (shape ", to_string_prefix(i + 1), ")");
      total *= d[i];
    }
  }
  std::string to_string_prefix(int n) const {
    std::string s = "[";
    for (int i = 0; i < n; ++i) s += (i ? ", " : "") + std::to_string(dims_[i]);
    return s + (n < rank_ ? ", ...]" : "]");
  }

  std::array<std::int64_t, kMaxRank> dims_{};
  int rank_ = 0;
};

}  // namespace tinycnn
