// Softmax, log-softmax and softmax cross-entropy references over rows of a (rows, cols) matrix.
// Stable: the row maximum is subtracted before exponentiating.
#pragma once

#include <cmath>
#include <cstdint>

#include "tinycnn/kernels/reference/accumulate.hpp"

namespace tinycnn::kernels::reference {

template <class T>
void softmax_forward_reference(T* y, const T* x, std::int64_t rows, std::int64_t cols) {
  using Acc = Accumulator<T>;
  for (std::int64_t i = 0; i < rows; ++i) {
    const T* xr = x + i * cols;
    Acc mx = xr[0];
    for (std::int64_t j = 1; j < cols; ++j) mx = std::max<Acc>(mx, xr[j]);
    Acc sum = 0;
    for (std::int64_t j = 0; j < cols; ++j) sum += std::exp(Acc(xr[j]) - mx);
    for (std::int64_t j = 0; j < cols; ++j) y[i * cols + j] = T(std::exp(Acc(xr[j]) - mx) / sum);
  }
}

template <class T>
void log_softmax_forward_reference(T* y, const T* x, std::int64_t rows, std::int64_t cols) {
  using Acc = Accumulator<T>;
  for (std::int64_t i = 0; i < rows; ++i) {
    const T* xr = x + i * cols;
    Acc mx = xr[0];
    for (std::int64_t j = 1; j < cols; ++j) mx = std::max<Acc>(mx, xr[j]);
    Acc sum = 0;
    for (std::int64_t j = 0; j < cols; ++j) sum += std::exp(Acc(xr[j]) - mx);
    const Acc lse = mx + std::log(sum);
    for (std::int64_t j = 0; j < cols; ++j) y[i * cols + j] = T(Acc(xr[j]) - lse);
  }
}

// dx = y * (dy - sum_j dy_j y_j), y the softmax output.
template <class T>
void softmax_backward_reference(T* dx, const T* dy, const T* y, std::int64_t rows,
                                std::int64_t cols) {
  using Acc = Accumulator<T>;
  for (std::int64_t i = 0; i < rows; ++i) {
    Acc dot = 0;
    for (std::int64_t j = 0; j < cols; ++j) dot += Acc(dy[i * cols + j]) * Acc(y[i * cols + j]);
    for (std::int64_t j = 0; j < cols; ++j)
      dx[i * cols + j] = T(Acc(y[i * cols + j]) * (Acc(dy[i * cols + j]) - dot));
  }
}

// dx = dy - exp(y) * sum_j dy_j, y the log-softmax output.
template <class T>
void log_softmax_backward_reference(T* dx, const T* dy, const T* y, std::int64_t rows,
                                    std::int64_t cols) {
  using Acc = Accumulator<T>;
  for (std::int64_t i = 0; i < rows; ++i) {
    Acc sum = 0;
    for (std::int64_t j = 0; j < cols; ++j) sum += Acc(dy[i * cols + j]);
    for (std::int64_t j = 0; j < cols; ++j)
      dx[i * cols + j] = T(Acc(dy[i * cols + j]) - std::exp(Acc(y[i * cols + j])) * sum);
  }
}

// Mean over rows of -log softmax(logits)[label]; dlogits (may be null) receives its gradient,
// (softmax - onehot(label)) / rows. Labels must lie in [0, cols).
template <class T>
T softmax_cross_entropy_reference(T* dlogits, const T* logits, const std::int32_t* labels,
                                  std::int64_t rows, std::int64_t cols) {
  using Acc = Accumulator<T>;
  Acc total = 0;
  for (std::int64_t i = 0; i < rows; ++i) {
    const T* xr = logits + i * cols;
    Acc mx = xr[0];
    for (std::int64_t j = 1; j < cols; ++j) mx = std::max<Acc>(mx, xr[j]);
    Acc sum = 0;
    for (std::int64_t j = 0; j < cols; ++j) sum += std::exp(Acc(xr[j]) - mx);
    const Acc lse = mx + std::log(sum);
    total += lse - Acc(xr[labels[i]]);
    if (dlogits)
      for (std::int64_t j = 0; j < cols; ++j)
        dlogits[i * cols + j] =
            T((std::exp(Acc(xr[j]) - lse) - (j == labels[i] ? Acc(1) : Acc(0))) / Acc(rows));
  }
  return T(total / Acc(rows));
}

}  // namespace tinycnn::kernels::reference
