// Seeded fills, reference versions: element i depends only on (seed, i) (see core/random.hpp).
#pragma once

#include <cmath>
#include <cstdint>

#include "tinycnn/core/random.hpp"

namespace tinycnn::kernels::reference {

// x(i) uniform in [lo, hi), as one fused multiply-add lo + (hi - lo) * u so that the result does
// not depend on whether a compiler contracts the expression (nvcc and g++ -O2 do, -O0 does not).
template <class T>
void uniform_fill_reference(T* x, std::int64_t n, std::uint64_t seed, T lo, T hi) {
  for (std::int64_t i = 0; i < n; ++i)
    x[i] = T(std::fma(hi - lo, T(tinycnn::detail::uniform01(seed, std::uint64_t(i))), lo));
}

// x(i) normal with the given mean and standard deviation.
template <class T>
void normal_fill_reference(T* x, std::int64_t n, std::uint64_t seed, T mean, T stddev) {
  for (std::int64_t i = 0; i < n; ++i)
    x[i] = T(std::fma(double(stddev), tinycnn::detail::normal01(seed, std::uint64_t(i)), double(mean)));
}

}  // namespace tinycnn::kernels::reference
