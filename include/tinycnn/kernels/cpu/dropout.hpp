// Fast CPU dropout without a stored mask: the keep decision of element i is the reference's pure
// function of (seed, i), so the result is bit-identical to the reference whatever the thread count.
#pragma once

#include <cstdint>

#include "tinycnn/core/random.hpp"
#include "tinycnn/kernels/cpu/elementwise.hpp"

namespace tinycnn::kernels::cpu {

// y = x / (1 - p) where uniform01(seed, i) >= p, else 0; y may alias x.
template <class T>
void dropout_forward(T* y, const T* x, std::int64_t n, T p, std::uint64_t seed) {
  const T scale = T(1) / (T(1) - p);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n > detail::kElementwiseParallel / 4)
#endif
  for (std::int64_t i = 0; i < n; ++i)
    y[i] = T(tinycnn::detail::uniform01(seed, std::uint64_t(i))) >= p ? x[i] * scale : T(0);
}

// dx = dy / (1 - p) on the forward's mask (the same seed), else 0; dx may alias dy.
template <class T>
void dropout_backward(T* dx, const T* dy, std::int64_t n, T p, std::uint64_t seed) {
  dropout_forward(dx, dy, n, p, seed);
}

}  // namespace tinycnn::kernels::cpu
