// Fast CPU seeded fills: element i depends only on (seed, i) (core/random.hpp), so the values are
// bit-identical to the reference fills whatever the thread count.
#pragma once

#include <cmath>
#include <cstdint>

#include "tinycnn/core/random.hpp"

namespace tinycnn::kernels::cpu {

namespace detail {
inline constexpr std::int64_t kFillParallel = std::int64_t(1) << 14;
}  // namespace detail

// x(i) uniform in [lo, hi): the reference's fused multiply-add, evaluated per element.
template <class T>
void uniform_fill(T* x, std::int64_t n, std::uint64_t seed, T lo, T hi) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n > detail::kFillParallel)
#endif
  for (std::int64_t i = 0; i < n; ++i)
    x[i] = T(std::fma(hi - lo, T(tinycnn::detail::uniform01(seed, std::uint64_t(i))), lo));
}

// x(i) normal with the given mean and standard deviation (Box-Muller in double, as the reference).
template <class T>
void normal_fill(T* x, std::int64_t n, std::uint64_t seed, T mean, T stddev) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n > detail::kFillParallel)
#endif
  for (std::int64_t i = 0; i < n; ++i)
    x[i] = T(std::fma(double(stddev), tinycnn::detail::normal01(seed, std::uint64_t(i)), double(mean)));
}

}  // namespace tinycnn::kernels::cpu
