// The losses of neural style transfer (Gatys et al.) with their gradients, and the vector
// reductions L-BFGS needs:
//   content  weight * mean((F - P)^2)                      F, P: (1, C, H, W) features
//   style    weight * mean((G - A)^2), G = F F^T / (C H W) A: the style image's Gram matrix
//   TV       weight * sum of squared differences of vertically and horizontally adjacent pixels
// Each returns the loss as a host scalar; given `grad`, it adds d loss / d input into *grad, or
// creates *grad when it is empty (so the caller need not zero a feature-sized tensor first).
#pragma once

#include <cstdint>

#include "tinycnn/kernels/cpu/style.hpp"
#include "tinycnn/ops/dispatch.hpp"
#include "tinycnn/ops/gemm.hpp"
#include "tinycnn/ops/reduce.hpp"
#if TINYCNN_HAS_CUDA_KERNELS
#include "tinycnn/kernels/cuda/style.cuh"
#endif

namespace tinycnn::ops {

namespace detail {

// Room for the partial sums of one style kernel: one on the CPU, one per block on CUDA.
template <class T, Device D>
Tensor<T, D> style_partials() {
  if constexpr (kIsCpu<D>) {
    return Tensor<T, D>::uninitialized({1});
  } else {
#if TINYCNN_HAS_CUDA_KERNELS
    return Tensor<T, D>::uninitialized({kernels::cuda::kStylePartials});
#else
    require_cuda_kernels<T>();
    return {};
#endif
  }
}

// The gradient output of a loss: null, a fresh tensor (beta 0) or an existing one (beta 1).
template <class T, Device D>
T* prepare_grad(Tensor<T, D>* grad, const Shape& shape, const char* op, T& beta) {
  beta = T(0);
  if (!grad) return nullptr;
  if (grad->empty()) {
    *grad = Tensor<T, D>::uninitialized(shape);
  } else {
    check_shape(op, "gradient", *grad, shape);
    beta = T(1);
  }
  return grad->data();
}

template <class T, Device D>
void check_features(const char* op, const Tensor<T, D>& f) {
  TINYCNN_CHECK(f.rank() == 4 && f.dim(0) == 1, op, ": features must be one feature map ",
                "(1, C, H, W), got shape ", f.shape());
}

// A feature map (1, C, H, W) as the (C, M = H*W) rows its Gram matrix and gradient products read.
// CUDA's GEMM tiles load 16 bytes at a time only from rows that start 16-byte aligned; where M is
// not a multiple of 4 (NIN after its ceil-mode pools: 255^2, 127^2, 63^2 at 2048 px) the rows are
// copied once, zero-padded to a multiple of 4, which changes neither F F^T nor dL/dG F and lets
// both products load vectors (the NIN style iteration's fp32 products ran at 15-24 TFLOP/s with
// scalar loads; docs/performance.md, sixth session).
template <class T, Device D>
struct FeatureRows {
  Tensor<T, D> padded;  // empty when the map's own rows are read
  const T* data = nullptr;
  std::int64_t c = 0, m = 0, ld = 0;
};

template <class T, Device D>
FeatureRows<T, D> feature_rows(const Tensor<T, D>& f) {
  FeatureRows<T, D> r;
  r.c = f.dim(1);
  r.m = r.c ? f.numel() / r.c : 0;
  r.ld = r.m;
  r.data = f.data();
  if constexpr (!kIsCpu<D>) {
#if TINYCNN_HAS_CUDA_KERNELS
    if (r.m % 4 != 0 && r.c > 0) {
      r.ld = (r.m + 3) / 4 * 4;
      r.padded = Tensor<T, D>::uninitialized({r.c, r.ld});
      const std::size_t row = std::size_t(r.m) * sizeof(T), pitch = std::size_t(r.ld) * sizeof(T);
      TINYCNN_CUDA_CHECK(cudaMemcpy2DAsync(r.padded.data(), pitch, f.data(), row, row,
                                           std::size_t(r.c), cudaMemcpyDeviceToDevice,
                                           cuda_stream()));
      TINYCNN_CUDA_CHECK(cudaMemset2DAsync(r.padded.data() + r.m, pitch, 0,
                                           std::size_t(r.ld - r.m) * sizeof(T), std::size_t(r.c),
                                           cuda_stream()));
      r.data = r.padded.data();
    }
#endif
  }
  return r;
}

// G = scale * F F^T from the rows of f.
template <class T, Device D>
Tensor<T, D> gram_of_rows(const FeatureRows<T, D>& f, T scale) {
  auto g = Tensor<T, D>::uninitialized({f.c, f.c});
  if (g.empty()) return g;
  auto d = kernels::packed_gemm(f.c, f.c, f.m, false, true);
  d.lda = d.ldb = f.ld;
  gemm_raw<T, D>(g.data(), f.data, f.data, d, scale, T(0));
  return g;
}

}  // namespace detail

// sum((f - target)^2). With grad: grad = beta * grad + scale * 2 (f - target), beta 1 when grad
// already holds a tensor, 0 (and a new tensor) when it is empty.
template <class T, Device D>
T squared_error(const Tensor<T, D>& f, const Tensor<T, D>& target, Tensor<T, D>* grad = nullptr,
                T scale = T(1)) {
  detail::check_shape("squared_error", "target", target, f.shape());
  T beta;
  T* g = detail::prepare_grad(grad, f.shape(), "squared_error", beta);
  auto partials = detail::style_partials<T, D>();
  TINYCNN_DISPATCH(T, D, kernels::cpu::squared_error, kernels::cuda::squared_error, g, f.data(),
                   target.data(), f.numel(), scale, beta, partials.data());
  return sum(partials);
}

// Total variation of x (N, C, H, W): sum of squared differences of adjacent pixels in every plane.
// With grad: grad = beta * grad + scale * d tv / d x (beta as in squared_error).
template <class T, Device D>
T total_variation(const Tensor<T, D>& x, Tensor<T, D>* grad = nullptr, T scale = T(1)) {
  TINYCNN_CHECK(x.rank() == 4, "total_variation: expects an image batch (N, C, H, W), got shape ",
                x.shape());
  T beta;
  T* g = detail::prepare_grad(grad, x.shape(), "total_variation", beta);
  auto partials = detail::style_partials<T, D>();
  TINYCNN_DISPATCH(T, D, kernels::cpu::tv_loss, kernels::cuda::tv_loss, g, x.data(),
                   x.dim(0) * x.dim(1), x.dim(2), x.dim(3), scale, beta, partials.data());
  return sum(partials);
}

// sum(a * b) over all elements.
template <class T, Device D>
T dot(const Tensor<T, D>& a, const Tensor<T, D>& b) {
  detail::check_shape("dot", "b", b, a.shape());
  auto partials = detail::style_partials<T, D>();
  TINYCNN_DISPATCH(T, D, kernels::cpu::dot, kernels::cuda::dot, partials.data(), a.data(), b.data(),
                   a.numel());
  return sum(partials);
}

// sum(|a|) over all elements.
template <class T, Device D>
T abs_sum(const Tensor<T, D>& a) {
  auto partials = detail::style_partials<T, D>();
  TINYCNN_DISPATCH(T, D, kernels::cpu::abs_sum, kernels::cuda::abs_sum, partials.data(), a.data(),
                   a.numel());
  return sum(partials);
}

// weight * mean((f - target)^2) for features f (1, C, H, W); adds its gradient into *grad.
template <class T, Device D>
T content_loss(const Tensor<T, D>& f, const Tensor<T, D>& target, T weight,
               Tensor<T, D>* grad = nullptr) {
  detail::check_features("content_loss", f);
  const T scale = weight / T(f.numel());
  return scale * squared_error(f, target, grad, scale);
}

// The Gram matrix style transfer compares: F F^T / (C H W) for features (1, C, H, W).
template <class T, Device D>
Tensor<T, D> style_gram(const Tensor<T, D>& f) {
  detail::check_features("style_gram", f);
  return detail::gram_of_rows(detail::feature_rows(f), T(1.0 / double(f.numel())));
}

namespace detail {

// style_loss_from_gram on the rows of f (f itself for the checks and the gradient's shape).
template <class T, Device D>
T style_loss_of_rows(const Tensor<T, D>& f, const FeatureRows<T, D>& rows, const Tensor<T, D>& g,
                     const Tensor<T, D>& target_gram, T weight, std::int64_t numel,
                     Tensor<T, D>* grad) {
  const std::int64_t c = rows.c, m = rows.m;
  TINYCNN_CHECK(target_gram.shape() == Shape({c, c}), "style_loss: the target Gram matrix must be (",
                c, ", ", c, ") for features ", f.shape(), ", got ", target_gram.shape());
  check_shape("style_loss", "Gram matrix", g, target_gram.shape());
  TINYCNN_CHECK(numel >= f.numel() && numel > 0, "style_loss: the feature map has ", numel,
                " elements, fewer than its block ", f.shape());
  const T scale = weight / T(c * c);
  if (!grad) return scale * squared_error(g, target_gram);
  Tensor<T, D> dg;
  const T loss = scale * squared_error(g, target_gram, &dg, scale);
  T beta;
  T* out = prepare_grad(grad, f.shape(), "style_loss", beta);
  if (m > 0) {
    auto d = kernels::packed_gemm(c, m, c, false, false);
    d.ldb = rows.ld;
    gemm_raw<T, D>(out, dg.data(), rows.data, d, T(2.0 / double(numel)), beta);
  }
  return loss;
}

}  // namespace detail

// The style loss of features f whose Gram matrix g = F F^T / numel is given, numel the element
// count of the whole feature map: f may be one block of rows of the map (an image split across
// ranks, tinycnn/dist/spatial_style.hpp) with g summed over the blocks. weight * mean((g -
// target)^2); adds d loss / d f = 2 / numel * dL/dg f into *grad (g is symmetric).
template <class T, Device D>
T style_loss_from_gram(const Tensor<T, D>& f, const Tensor<T, D>& g,
                       const Tensor<T, D>& target_gram, T weight, std::int64_t numel,
                       Tensor<T, D>* grad = nullptr) {
  detail::check_features("style_loss", f);
  return detail::style_loss_of_rows(f, detail::feature_rows(f), g, target_gram, weight, numel,
                                    grad);
}

// weight * mean((G - target)^2), G = style_gram(f), target (C, C); adds its gradient into *grad:
// d/dF = 2 s dL/dG F with s = 1 / (C H W) (G is symmetric).
template <class T, Device D>
T style_loss(const Tensor<T, D>& f, const Tensor<T, D>& target_gram, T weight,
             Tensor<T, D>* grad = nullptr) {
  detail::check_features("style_loss", f);
  const std::int64_t c = f.dim(1);
  TINYCNN_CHECK(target_gram.shape() == Shape({c, c}), "style_loss: the target Gram matrix must be (",
                c, ", ", c, ") for features ", f.shape(), ", got ", target_gram.shape());
  const auto rows = detail::feature_rows(f);  // one padded copy (CUDA) for both products
  const auto g = detail::gram_of_rows(rows, T(1.0 / double(f.numel())));
  return detail::style_loss_of_rows(f, rows, g, target_gram, weight, f.numel(), grad);
}

// weight * total_variation(x); adds its gradient into *grad.
template <class T, Device D>
T tv_loss(const Tensor<T, D>& x, T weight, Tensor<T, D>* grad = nullptr) {
  return weight * total_variation(x, grad, weight);
}

}  // namespace tinycnn::ops
