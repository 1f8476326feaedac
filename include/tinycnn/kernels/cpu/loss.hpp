// Fast CPU mean squared error: the loss sum and the gradient in one pass, summed in double with
// SIMD lanes and OpenMP threads.
#pragma once

#include <cstdint>

#include "tinycnn/kernels/cpu/elementwise.hpp"

namespace tinycnn::kernels::cpu {

// Returns mean((x - target)^2) (0 when n == 0); when dx is not null it receives
// (x - target) * (2 / n), 2 / n rounded to T first (the reference's values, bit for bit).
template <class T>
T mse_loss(T* dx, const T* x, const T* target, std::int64_t n) {
  if (n == 0) return T(0);
  double sum = 0;
  if (dx) {
    const T norm = T(2.0 / double(n));
#ifdef _OPENMP
#pragma omp parallel for simd schedule(static) reduction(+ : sum) if (n > detail::kElementwiseParallel)
#endif
    for (std::int64_t i = 0; i < n; ++i) {
      const double d = double(x[i]) - double(target[i]);
      sum += d * d;
      dx[i] = (x[i] - target[i]) * norm;
    }
  } else {
#ifdef _OPENMP
#pragma omp parallel for simd schedule(static) reduction(+ : sum) if (n > detail::kElementwiseParallel)
#endif
    for (std::int64_t i = 0; i < n; ++i) {
      const double d = double(x[i]) - double(target[i]);
      sum += d * d;
    }
  }
  return T(sum / double(n));
}

}  // namespace tinycnn::kernels::cpu
