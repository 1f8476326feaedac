// Style-transfer losses, reference versions: squared error against a target and total variation,
// each giving the loss and (optionally) adding a scaled gradient into an existing one; dot
// products and L1 norms for L-BFGS. Written for clarity; the CPU and CUDA kernels are checked
// against these.
//
// Conventions shared with kernels/cpu/style.hpp and kernels/cuda/style.cuh: the loss is written to
// partial[0] (the CUDA kernels write one partial sum per block instead; ops add them up); grad may
// be null (loss only); otherwise grad = beta * grad + scale * d(loss)/d(input), with beta == 0
// ignoring grad's previous contents.
#pragma once

#include <cstdint>

#include "tinycnn/kernels/reference/accumulate.hpp"

namespace tinycnn::kernels::reference {

// loss = sum_i (f(i) - p(i))^2.
template <class T>
void squared_error_reference(T* grad, const T* f, const T* p, std::int64_t n, T scale, T beta,
                             T* partial) {
  Accumulator<T> acc = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const T d = f[i] - p[i];
    acc += Accumulator<T>(d) * d;
    if (grad) grad[i] = (beta == T(0) ? T(0) : beta * grad[i]) + scale * T(2) * d;
  }
  partial[0] = T(acc);
}

// Total variation of `planes` planes of h x w: loss = sum over every plane of the squared
// differences of vertically and horizontally adjacent pixels.
template <class T>
void tv_loss_reference(T* grad, const T* x, std::int64_t planes, std::int64_t h, std::int64_t w,
                       T scale, T beta, T* partial) {
  Accumulator<T> acc = 0;
  for (std::int64_t pl = 0; pl < planes; ++pl) {
    const T* xp = x + pl * h * w;
    for (std::int64_t i = 0; i < h; ++i)
      for (std::int64_t j = 0; j < w; ++j) {
        const T v = xp[i * w + j];
        T g = 0;
        if (i + 1 < h) {
          const T d = xp[(i + 1) * w + j] - v;
          acc += Accumulator<T>(d) * d;
          g -= T(2) * d;
        }
        if (j + 1 < w) {
          const T d = xp[i * w + j + 1] - v;
          acc += Accumulator<T>(d) * d;
          g -= T(2) * d;
        }
        if (i > 0) g += T(2) * (v - xp[(i - 1) * w + j]);
        if (j > 0) g += T(2) * (v - xp[i * w + j - 1]);
        if (grad) {
          T* gp = grad + pl * h * w + i * w + j;
          *gp = (beta == T(0) ? T(0) : beta * *gp) + scale * g;
        }
      }
  }
  partial[0] = T(acc);
}

// partial[0] = sum_i a(i) * b(i).
template <class T>
void dot_reference(T* partial, const T* a, const T* b, std::int64_t n) {
  Accumulator<T> acc = 0;
  for (std::int64_t i = 0; i < n; ++i) acc += Accumulator<T>(a[i]) * b[i];
  partial[0] = T(acc);
}

// partial[0] = sum_i |a(i)|.
template <class T>
void abs_sum_reference(T* partial, const T* a, std::int64_t n) {
  Accumulator<T> acc = 0;
  for (std::int64_t i = 0; i < n; ++i) acc += a[i] < T(0) ? -Accumulator<T>(a[i]) : Accumulator<T>(a[i]);
  partial[0] = T(acc);
}

}  // namespace tinycnn::kernels::reference
