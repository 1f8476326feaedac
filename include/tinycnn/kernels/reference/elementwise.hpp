// Elementwise references: ReLU, per-channel bias, add, scale, axpy, over n contiguous elements.
#pragma once

#include <cstdint>

namespace tinycnn::kernels::reference {

// y = max(x, 0); y may alias x.
template <class T>
void relu_forward_reference(T* y, const T* x, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = x[i] > T(0) ? x[i] : T(0);
}

// dx = dy where the forward output y was positive, else 0; dx may alias dy.
template <class T>
void relu_backward_reference(T* dx, const T* dy, const T* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) dx[i] = y[i] > T(0) ? dy[i] : T(0);
}

// y(n, c, i) += bias(c) for an (N, C, plane) tensor.
template <class T>
void bias_add_reference(T* y, const T* bias, std::int64_t n, std::int64_t c, std::int64_t plane) {
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < c; ++j)
      for (std::int64_t k = 0; k < plane; ++k) y[(i * c + j) * plane + k] += bias[j];
}

template <class T>
void add_reference(T* y, const T* a, const T* b, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

template <class T>
void scale_reference(T* y, const T* x, T alpha, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = alpha * x[i];
}

// y += alpha * x.
template <class T>
void axpy_reference(T* y, T alpha, const T* x, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

}  // namespace tinycnn::kernels::reference
