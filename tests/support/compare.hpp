// The one comparison rule of the test suite: relative error ||out - ref|| / ||ref|| within a
// tolerance per dtype, no NaN or Inf where the reference is finite, and a reference that is not all
// zeros (a vacuous comparison proves nothing). On failure the worst element is reported.
#pragma once

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

namespace tinycnn::test {

// Default tolerances: fp32 kernels that accumulate in fp32, double for gradient checks.
template <class T>
constexpr double default_tolerance() {
  if constexpr (std::is_same_v<T, double>) return 1e-12;
  else return 1e-5;
}

struct Comparison {
  double rel_error = 0;       // ||out - ref||_2 / ||ref||_2
  double ref_norm = 0;
  std::int64_t bad_values = 0;  // NaN/Inf in out where ref is finite
  std::int64_t worst = -1;      // index of the largest |out - ref|
  double worst_out = 0, worst_ref = 0;
  std::int64_t n = 0;

  std::string describe(double tol) const {
    std::ostringstream os;
    os.precision(9);
    os << "n=" << n << " rel_error=" << rel_error << " (tolerance " << tol << ")"
       << " ref_norm=" << ref_norm << " non_finite=" << bad_values;
    if (worst >= 0) os << " worst at [" << worst << "]: got " << worst_out << ", want " << worst_ref;
    return os.str();
  }
};

template <class T, class R>
Comparison compare(const T* out, const R* ref, std::int64_t n) {
  Comparison c;
  c.n = n;
  double diff2 = 0, ref2 = 0, worst_abs = -1;
  for (std::int64_t i = 0; i < n; ++i) {
    const double o = double(out[i]), r = double(ref[i]);
    if (!std::isfinite(o) && std::isfinite(r)) {
      ++c.bad_values;
      if (c.bad_values == 1) c.worst = i, c.worst_out = o, c.worst_ref = r, worst_abs = INFINITY;
      continue;
    }
    const double d = o - r;
    diff2 += d * d;
    ref2 += r * r;
    if (std::fabs(d) > worst_abs) worst_abs = std::fabs(d), c.worst = i, c.worst_out = o, c.worst_ref = r;
  }
  c.ref_norm = std::sqrt(ref2);
  c.rel_error = ref2 > 0 ? std::sqrt(diff2 / ref2) : std::sqrt(diff2);
  return c;
}

// For results that are sums whose terms can cancel (an optimizer step p - lr*u, a moment
// b*m + (1-b)*g): a float result near zero made from large terms carries the rounding error of the
// terms, not of itself. So the error is measured against scale(i) >= 0, a bound on the magnitude of
// what was summed into ref(i): rel_error = ||out - ref|| / ||scale||.
template <class T, class R, class S>
Comparison compare_to_scale(const T* out, const R* ref, const S* scale, std::int64_t n) {
  Comparison c = compare(out, ref, n);
  double diff2 = 0, scale2 = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const double o = double(out[i]), r = double(ref[i]), sc = double(scale[i]);
    if (std::isfinite(o)) diff2 += (o - r) * (o - r);
    scale2 += sc * sc;
  }
  c.rel_error = scale2 > 0 ? std::sqrt(diff2 / scale2) : std::sqrt(diff2);
  return c;
}

}  // namespace tinycnn::test

// REQUIRE that out (n elements) matches ref within tol; ref must not be all zeros.
#define TINYCNN_REQUIRE_CLOSE_N(out, ref, n, tol)                                    \
  do {                                                                               \
    const auto tinycnn_cmp_ = ::tinycnn::test::compare((out), (ref), (n));            \
    INFO(tinycnn_cmp_.describe(tol));                                                \
    REQUIRE(tinycnn_cmp_.bad_values == 0);                                           \
    REQUIRE((tinycnn_cmp_.ref_norm > 0 || (n) == 0));                                \
    REQUIRE(tinycnn_cmp_.rel_error <= (tol));                                        \
  } while (0)

// The same for two containers with .data() and .size().
#define TINYCNN_REQUIRE_CLOSE(out, ref, tol)                                          \
  do {                                                                               \
    REQUIRE((out).size() == (ref).size());                                           \
    TINYCNN_REQUIRE_CLOSE_N((out).data(), (ref).data(), std::int64_t((ref).size()), tol); \
  } while (0)

// The same, with the error relative to the terms' scale (compare_to_scale).
#define TINYCNN_REQUIRE_CLOSE_TO_SCALE(out, ref, scale, tol)                                  \
  do {                                                                                      \
    REQUIRE((out).size() == (ref).size());                                                  \
    REQUIRE((scale).size() == (ref).size());                                                \
    const auto tinycnn_cmp_ = ::tinycnn::test::compare_to_scale(                             \
        (out).data(), (ref).data(), (scale).data(), std::int64_t((ref).size()));              \
    INFO(tinycnn_cmp_.describe(tol) << " (error relative to the summed terms' scale)");      \
    REQUIRE(tinycnn_cmp_.bad_values == 0);                                                  \
    REQUIRE((tinycnn_cmp_.ref_norm > 0 || (ref).empty()));                                  \
    REQUIRE(tinycnn_cmp_.rel_error <= (tol));                                               \
  } while (0)
