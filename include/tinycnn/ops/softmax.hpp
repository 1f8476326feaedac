// Softmax, log-softmax and softmax cross-entropy over the last dimension of a tensor.
#pragma once

#include <cstdint>

#include "tinycnn/kernels/cpu/softmax.hpp"
#include "tinycnn/ops/dispatch.hpp"
#if TINYCNN_HAS_CUDA_KERNELS
#include "tinycnn/kernels/cuda/softmax.cuh"
#endif

namespace tinycnn::ops {

namespace detail {
// (rows, cols) with cols the last dimension.
template <class T, Device D>
std::pair<std::int64_t, std::int64_t> rows_cols(const char* op, const Tensor<T, D>& x) {
  TINYCNN_CHECK(x.rank() >= 1 && x.dim(-1) > 0, op,
                ": input needs a non-empty last dimension (classes), got shape ", x.shape());
  return {x.numel() / x.dim(-1), x.dim(-1)};
}
}  // namespace detail

template <class T, Device D>
Tensor<T, D> softmax(const Tensor<T, D>& x) {
  const auto [rows, cols] = detail::rows_cols("softmax", x);
  auto y = Tensor<T, D>::uninitialized(x.shape());
  if (rows)
    TINYCNN_DISPATCH(T, D, kernels::cpu::softmax_forward, kernels::cuda::softmax_forward, y.data(),
                     x.data(), rows, cols);
  return y;
}

template <class T, Device D>
Tensor<T, D> log_softmax(const Tensor<T, D>& x) {
  const auto [rows, cols] = detail::rows_cols("log_softmax", x);
  auto y = Tensor<T, D>::uninitialized(x.shape());
  if (rows)
    TINYCNN_DISPATCH(T, D, kernels::cpu::log_softmax_forward, kernels::cuda::log_softmax_forward,
                     y.data(), x.data(), rows, cols);
  return y;
}

// dx from dy and the softmax output y.
template <class T, Device D>
Tensor<T, D> softmax_backward(const Tensor<T, D>& dy, const Tensor<T, D>& y) {
  const auto [rows, cols] = detail::rows_cols("softmax_backward", y);
  detail::check_shape("softmax_backward", "output gradient dy", dy, y.shape());
  auto dx = Tensor<T, D>::uninitialized(y.shape());
  if (rows)
    TINYCNN_DISPATCH(T, D, kernels::cpu::softmax_backward, kernels::cuda::softmax_backward,
                     dx.data(), dy.data(), y.data(), rows, cols);
  return dx;
}

// dx from dy and the log-softmax output y.
template <class T, Device D>
Tensor<T, D> log_softmax_backward(const Tensor<T, D>& dy, const Tensor<T, D>& y) {
  const auto [rows, cols] = detail::rows_cols("log_softmax_backward", y);
  detail::check_shape("log_softmax_backward", "output gradient dy", dy, y.shape());
  auto dx = Tensor<T, D>::uninitialized(y.shape());
  if (rows)
    TINYCNN_DISPATCH(T, D, kernels::cpu::log_softmax_backward, kernels::cuda::log_softmax_backward,
                     dx.data(), dy.data(), y.data(), rows, cols);
  return dx;
}

template <class T, Device D>
struct CrossEntropyResult {
  T loss;                // mean over the batch
  Tensor<T, D> dlogits;  // d loss / d logits, same shape as the logits
};

// Softmax cross-entropy of logits (N, classes) against class indices (N) in [0, classes).
template <class T, Device D>
CrossEntropyResult<T, D> softmax_cross_entropy(const Tensor<T, D>& logits,
                                               const Tensor<std::int32_t, D>& labels) {
  detail::check_rank("softmax_cross_entropy", "logits", logits, 2, "(N, classes)");
  const std::int64_t rows = logits.dim(0), cols = logits.dim(1);
  TINYCNN_CHECK(cols > 0, "softmax_cross_entropy: logits need at least one class, got shape ",
                logits.shape());
  TINYCNN_CHECK(labels.rank() == 1 && labels.dim(0) == rows, "softmax_cross_entropy: labels must ",
                "have shape [", rows, "] (one per row of logits ", logits.shape(), "), got ",
                labels.shape());
  TINYCNN_CHECK(rows > 0, "softmax_cross_entropy: the batch is empty (logits ", logits.shape(), ")");
  CrossEntropyResult<T, D> r{T(0), Tensor<T, D>::uninitialized(logits.shape())};
  if constexpr (detail::kIsCpu<D>) {
    for (std::int64_t i = 0; i < rows; ++i)
      TINYCNN_CHECK(labels.data()[i] >= 0 && labels.data()[i] < cols, "softmax_cross_entropy: label ",
                    labels.data()[i], " at row ", i, " is outside [0, ", cols, ")");
    r.loss = kernels::cpu::softmax_cross_entropy(r.dlogits.data(), logits.data(), labels.data(), rows,
                                                 cols);
  } else {
    detail::require_cuda_kernels<T>();
#if TINYCNN_HAS_CUDA_KERNELS
    auto scalars = Tensor<T, D>::uninitialized({1});
    auto invalid = Tensor<std::int32_t, D>::uninitialized({1});
    TINYCNN_CUDA_LAUNCH(kernels::cuda::softmax_cross_entropy, scalars.data(), r.dlogits.data(),
                        logits.data(), labels.data(), rows, cols, invalid.data());
    const std::int32_t bad = invalid.item();
    TINYCNN_CHECK(bad == 0, "softmax_cross_entropy: ", bad, " label(s) outside [0, ", cols,
                  ") for logits of shape ", logits.shape());
    r.loss = scalars.item();
#endif
  }
  return r;
}

}  // namespace tinycnn::ops
