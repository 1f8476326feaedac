// Seeded fills, reference versions: element i depends only on (seed, i) (see core/random.hpp).
#pragma once

#include <cstdint>

#include "tinycnn/core/random.hpp"

namespace tinycnn::kernels::reference {

// x(i) uniform in [lo, hi).
template <class T>
void uniform_fill_reference(T* x, std::int64_t n, std::uint64_t seed, T lo, T hi) {
  for (std::int64_t i = 0; i < n; ++i)
    x[i] = T(lo + (hi - lo) * T(tinycnn::detail::uniform01(seed, std::uint64_t(i))));
}

// x(i) normal with the given mean and standard deviation.
template <class T>
void normal_fill_reference(T* x, std::int64_t n, std::uint64_t seed, T mean, T stddev) {
  for (std::int64_t i = 0; i < n; ++i)
    x[i] = T(double(mean) + double(stddev) * tinycnn::detail::normal01(seed, std::uint64_t(i)));
}

}  // namespace tinycnn::kernels::reference
