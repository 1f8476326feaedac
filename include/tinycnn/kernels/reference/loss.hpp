// Mean squared error reference: loss = mean over n elements of (x - target)^2, and its gradient.
#pragma once

#include <cstdint>

#include "tinycnn/kernels/reference/accumulate.hpp"

namespace tinycnn::kernels::reference {

// Returns sum((x - target)^2) / n (0 when n == 0). When dx is not null it receives the gradient
// (x - target) * (2 / n), with 2 / n rounded to T first: PyTorch's mse_loss_backward order.
template <class T>
T mse_loss_reference(T* dx, const T* x, const T* target, std::int64_t n) {
  using Acc = Accumulator<T>;
  if (n == 0) return T(0);
  Acc sum = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const Acc d = Acc(x[i]) - Acc(target[i]);
    sum += d * d;
  }
  if (dx) {
    const T norm = T(2.0 / double(n));
    for (std::int64_t i = 0; i < n; ++i) dx[i] = (x[i] - target[i]) * norm;
  }
  return T(sum / Acc(n));
}

}  // namespace tinycnn::kernels::reference
