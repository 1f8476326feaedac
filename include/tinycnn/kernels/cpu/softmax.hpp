// Fast CPU softmax, log-softmax (forward and backward) and softmax cross-entropy over the rows of a
// (rows, cols) matrix. Stable (row maximum subtracted), sums and exponentials in double for float;
// OpenMP threads over rows.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

namespace tinycnn::kernels::cpu {

namespace detail {

inline constexpr std::int64_t kSoftmaxParallel = std::int64_t(1) << 14;

template <class T>
using SoftmaxAcc = std::conditional_t<std::is_floating_point_v<T>, double, T>;

template <class T>
SoftmaxAcc<T> row_max(const T* xr, std::int64_t cols) {
  T mx = xr[0];
  for (std::int64_t j = 1; j < cols; ++j) mx = std::max(mx, xr[j]);
  return SoftmaxAcc<T>(mx);
}

// log sum_j exp(x_j) of one row, computed as max + log(sum exp(x - max)).
template <class T>
SoftmaxAcc<T> row_logsumexp(const T* xr, std::int64_t cols) {
  using Acc = SoftmaxAcc<T>;
  const Acc mx = row_max(xr, cols);
  Acc sum = 0;
  for (std::int64_t j = 0; j < cols; ++j) sum += std::exp(Acc(xr[j]) - mx);
  return mx + std::log(sum);
}

}  // namespace detail

template <class T>
void softmax_forward(T* y, const T* x, std::int64_t rows, std::int64_t cols) {
  using Acc = detail::SoftmaxAcc<T>;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (rows * cols > detail::kSoftmaxParallel)
#endif
  for (std::int64_t i = 0; i < rows; ++i) {
    const T* xr = x + i * cols;
    T* yr = y + i * cols;
    const Acc mx = detail::row_max(xr, cols);
    Acc sum = 0;
    for (std::int64_t j = 0; j < cols; ++j) {  // keep exp(x - max) in y: one exp per element
      const Acc e = std::exp(Acc(xr[j]) - mx);
      yr[j] = T(e), sum += e;
    }
    const Acc inv = Acc(1) / sum;
    for (std::int64_t j = 0; j < cols; ++j) yr[j] = T(Acc(yr[j]) * inv);
  }
}

template <class T>
void log_softmax_forward(T* y, const T* x, std::int64_t rows, std::int64_t cols) {
  using Acc = detail::SoftmaxAcc<T>;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (rows * cols > detail::kSoftmaxParallel)
#endif
  for (std::int64_t i = 0; i < rows; ++i) {
    const T* xr = x + i * cols;
    const Acc lse = detail::row_logsumexp(xr, cols);
    for (std::int64_t j = 0; j < cols; ++j) y[i * cols + j] = T(Acc(xr[j]) - lse);
  }
}

// dx = y * (dy - sum_j dy_j y_j), y the softmax output.
template <class T>
void softmax_backward(T* dx, const T* dy, const T* y, std::int64_t rows, std::int64_t cols) {
  using Acc = detail::SoftmaxAcc<T>;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (rows * cols > detail::kSoftmaxParallel)
#endif
  for (std::int64_t i = 0; i < rows; ++i) {
    const T *dyr = dy + i * cols, *yr = y + i * cols;
    Acc dot = 0;
    for (std::int64_t j = 0; j < cols; ++j) dot += Acc(dyr[j]) * Acc(yr[j]);
    for (std::int64_t j = 0; j < cols; ++j) dx[i * cols + j] = T(Acc(yr[j]) * (Acc(dyr[j]) - dot));
  }
}

// dx = dy - exp(y) * sum_j dy_j, y the log-softmax output.
template <class T>
void log_softmax_backward(T* dx, const T* dy, const T* y, std::int64_t rows, std::int64_t cols) {
  using Acc = detail::SoftmaxAcc<T>;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (rows * cols > detail::kSoftmaxParallel)
#endif
  for (std::int64_t i = 0; i < rows; ++i) {
    const T *dyr = dy + i * cols, *yr = y + i * cols;
    Acc sum = 0;
    for (std::int64_t j = 0; j < cols; ++j) sum += Acc(dyr[j]);
    for (std::int64_t j = 0; j < cols; ++j) dx[i * cols + j] = T(Acc(dyr[j]) - std::exp(Acc(yr[j])) * sum);
  }
}

// Mean over rows of -log softmax(logits)[label]; dlogits (may be null) receives its gradient,
// (softmax - onehot(label)) / rows. Labels must lie in [0, cols).
template <class T>
T softmax_cross_entropy(T* dlogits, const T* logits, const std::int32_t* labels, std::int64_t rows,
                        std::int64_t cols) {
  using Acc = detail::SoftmaxAcc<T>;
  Acc total = 0;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) reduction(+ : total) if (rows * cols > detail::kSoftmaxParallel)
#endif
  for (std::int64_t i = 0; i < rows; ++i) {
    const T* xr = logits + i * cols;
    const Acc lse = detail::row_logsumexp(xr, cols);
    total += lse - Acc(xr[labels[i]]);
    if (dlogits)
      for (std::int64_t j = 0; j < cols; ++j)
        dlogits[i * cols + j] = T((std::exp(Acc(xr[j]) - lse) - (j == labels[i] ? Acc(1) : Acc(0))) / Acc(rows));
  }
  return T(total / Acc(rows));
}

}  // namespace tinycnn::kernels::cpu
