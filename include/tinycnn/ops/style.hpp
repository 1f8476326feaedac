// The losses of neural style transfer (Gatys et al.) with their gradients, and the vector
// reductions L-BFGS needs:
//   content  weight * mean((F - P)^2)                      F, P: (1, C, H, W) features
//   style    weight * mean((G - A)^2), G = F F^T / (C H W) A: the style image's Gram matrix
//   TV       weight * sum of squared differences of vertically and horizontally adjacent pixels
// Each returns the loss as a host scalar, or queues it into a LossBuffer that reads several losses
// back at once; given `grad`, it adds d loss / d input into *grad, or creates *grad when it is
// empty (so the caller need not zero a feature-sized tensor first).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "tinycnn/kernels/cpu/style.hpp"
#include "tinycnn/ops/dispatch.hpp"
#include "tinycnn/ops/gemm.hpp"
#include "tinycnn/ops/reduce.hpp"
#if TINYCNN_HAS_CUDA_KERNELS
#include "tinycnn/kernels/cuda/style.cuh"
#endif

namespace tinycnn::ops {

namespace detail {

// Partial sums one style kernel leaves: one on the CPU, one per block on CUDA.
template <Device D>
constexpr std::int64_t style_partial_count() {
  if constexpr (kIsCpu<D>) {
    return 1;
  } else {
#if TINYCNN_HAS_CUDA_KERNELS
    return kernels::cuda::kStylePartials;
#else
    return 1;
#endif
  }
}

}  // namespace detail

// Loss values that stay where they were computed until read together: each loss kernel leaves its
// partial sums in a slot of the buffer, and read() brings every slot to the host at once. On CUDA
// that is one wait for the GPU per read instead of one per loss (a style-transfer iteration has up
// to 2 per tapped layer plus TV), so the host keeps queueing kernels through the backward pass.
template <class T, Device D>
class LossBuffer {
 public:
  explicit LossBuffer(std::int64_t capacity)
      : capacity_(capacity),
        partials_(Tensor<T, D>::uninitialized({std::max<std::int64_t>(capacity, 1) * kSlot})) {
    if constexpr (!detail::kIsCpu<D>) detail::require_cuda_kernels<T>();
  }

  // The slot of the next loss, whose value is factor * (sum of the slot's partial sums).
  T* add(double factor) {
    TINYCNN_CHECK(std::int64_t(factors_.size()) < capacity_, "LossBuffer: all ", capacity_,
                  " slots are taken");
    factors_.push_back(factor);
    return partials_.data() + std::int64_t(factors_.size() - 1) * kSlot;
  }

  std::int64_t size() const noexcept { return std::int64_t(factors_.size()); }

  // The losses in the order they were added (the partial sums added in double).
  std::vector<double> read() const {
    std::vector<double> out(factors_.size(), 0.0);
    if (out.empty()) return out;
    const std::vector<T> host = partials_.to_vector();
    for (std::size_t i = 0; i < out.size(); ++i) {
      double s = 0;
      for (std::int64_t j = 0; j < kSlot; ++j) s += double(host[i * kSlot + j]);
      out[i] = factors_[i] * s;
    }
    return out;
  }

 private:
  static constexpr std::int64_t kSlot = detail::style_partial_count<D>();
  std::int64_t capacity_;
  Tensor<T, D> partials_;
  std::vector<double> factors_;
};

namespace detail {

// A single loss through a one-slot buffer.
template <class T, Device D, class Queue>
T read_one(Queue&& queue) {
  LossBuffer<T, D> b(1);
  queue(b);
  return T(b.read()[0]);
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
  gram_raw<T, D>(g.data(), f.data, f.c, f.m, f.ld, scale);
  return g;
}

}  // namespace detail

// factor * sum((f - target)^2), queued into `into`. With grad: grad = beta * grad + scale * 2 (f -
// target), beta 1 when grad already holds a tensor, 0 (and a new tensor) when it is empty.
template <class T, Device D>
void squared_error(const Tensor<T, D>& f, const Tensor<T, D>& target, Tensor<T, D>* grad, T scale,
                   LossBuffer<T, D>& into, double factor = 1.0) {
  detail::check_shape("squared_error", "target", target, f.shape());
  T beta;
  T* g = detail::prepare_grad(grad, f.shape(), "squared_error", beta);
  T* partials = into.add(factor);
  TINYCNN_DISPATCH(T, D, kernels::cpu::squared_error, kernels::cuda::squared_error, g, f.data(),
                   target.data(), f.numel(), scale, beta, partials);
}

// sum((f - target)^2); grad as above.
template <class T, Device D>
T squared_error(const Tensor<T, D>& f, const Tensor<T, D>& target, Tensor<T, D>* grad = nullptr,
                T scale = T(1)) {
  return detail::read_one<T, D>(
      [&](LossBuffer<T, D>& b) { squared_error(f, target, grad, scale, b); });
}

// factor * total variation of x (N, C, H, W), queued into `into`: the sum of squared differences
// of adjacent pixels in every plane. With grad: grad = beta * grad + scale * d tv / d x (beta as
// in squared_error).
template <class T, Device D>
void total_variation(const Tensor<T, D>& x, Tensor<T, D>* grad, T scale, LossBuffer<T, D>& into,
                     double factor = 1.0) {
  TINYCNN_CHECK(x.rank() == 4, "total_variation: expects an image batch (N, C, H, W), got shape ",
                x.shape());
  T beta;
  T* g = detail::prepare_grad(grad, x.shape(), "total_variation", beta);
  T* partials = into.add(factor);
  TINYCNN_DISPATCH(T, D, kernels::cpu::tv_loss, kernels::cuda::tv_loss, g, x.data(),
                   x.dim(0) * x.dim(1), x.dim(2), x.dim(3), scale, beta, partials);
}

// Total variation of x; grad as above.
template <class T, Device D>
T total_variation(const Tensor<T, D>& x, Tensor<T, D>* grad = nullptr, T scale = T(1)) {
  return detail::read_one<T, D>([&](LossBuffer<T, D>& b) { total_variation(x, grad, scale, b); });
}

// sum(a * b) over all elements.
template <class T, Device D>
T dot(const Tensor<T, D>& a, const Tensor<T, D>& b) {
  detail::check_shape("dot", "b", b, a.shape());
  return detail::read_one<T, D>([&](LossBuffer<T, D>& into) {
    TINYCNN_DISPATCH(T, D, kernels::cpu::dot, kernels::cuda::dot, into.add(1.0), a.data(), b.data(),
                     a.numel());
  });
}

// sum(|a|) over all elements.
template <class T, Device D>
T abs_sum(const Tensor<T, D>& a) {
  return detail::read_one<T, D>([&](LossBuffer<T, D>& into) {
    TINYCNN_DISPATCH(T, D, kernels::cpu::abs_sum, kernels::cuda::abs_sum, into.add(1.0), a.data(),
                     a.numel());
  });
}

// weight * mean((f - target)^2) for features f (1, C, H, W), queued into `into`; adds its
// gradient into *grad.
template <class T, Device D>
void content_loss(const Tensor<T, D>& f, const Tensor<T, D>& target, T weight, Tensor<T, D>* grad,
                  LossBuffer<T, D>& into) {
  detail::check_features("content_loss", f);
  const T scale = weight / T(f.numel());
  squared_error(f, target, grad, scale, into, double(scale));
}

template <class T, Device D>
T content_loss(const Tensor<T, D>& f, const Tensor<T, D>& target, T weight,
               Tensor<T, D>* grad = nullptr) {
  return detail::read_one<T, D>(
      [&](LossBuffer<T, D>& b) { content_loss(f, target, weight, grad, b); });
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
void style_loss_of_rows(const Tensor<T, D>& f, const FeatureRows<T, D>& rows, const Tensor<T, D>& g,
                        const Tensor<T, D>& target_gram, T weight, std::int64_t numel,
                        Tensor<T, D>* grad, LossBuffer<T, D>& into) {
  const std::int64_t c = rows.c, m = rows.m;
  TINYCNN_CHECK(target_gram.shape() == Shape({c, c}), "style_loss: the target Gram matrix must be (",
                c, ", ", c, ") for features ", f.shape(), ", got ", target_gram.shape());
  check_shape("style_loss", "Gram matrix", g, target_gram.shape());
  TINYCNN_CHECK(numel >= f.numel() && numel > 0, "style_loss: the feature map has ", numel,
                " elements, fewer than its block ", f.shape());
  const T scale = weight / T(c * c);
  if (!grad)
    return squared_error(g, target_gram, static_cast<Tensor<T, D>*>(nullptr), T(1), into,
                         double(scale));
  Tensor<T, D> dg;
  squared_error(g, target_gram, &dg, scale, into, double(scale));
  T beta;
  T* out = prepare_grad(grad, f.shape(), "style_loss", beta);
  if (m > 0) {
    auto d = kernels::packed_gemm(c, m, c, false, false);
    d.ldb = rows.ld;
    gemm_raw<T, D>(out, dg.data(), rows.data, d, T(2.0 / double(numel)), beta);
  }
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
  return detail::read_one<T, D>([&](LossBuffer<T, D>& b) {
    detail::style_loss_of_rows(f, detail::feature_rows(f), g, target_gram, weight, numel, grad, b);
  });
}

// weight * mean((G - target)^2), G = style_gram(f), target (C, C), queued into `into`; adds its
// gradient into *grad: d/dF = 2 s dL/dG F with s = 1 / (C H W) (G is symmetric).
template <class T, Device D>
void style_loss(const Tensor<T, D>& f, const Tensor<T, D>& target_gram, T weight,
                Tensor<T, D>* grad, LossBuffer<T, D>& into) {
  detail::check_features("style_loss", f);
  const std::int64_t c = f.dim(1);
  TINYCNN_CHECK(target_gram.shape() == Shape({c, c}), "style_loss: the target Gram matrix must be (",
                c, ", ", c, ") for features ", f.shape(), ", got ", target_gram.shape());
  const auto rows = detail::feature_rows(f);  // one padded copy (CUDA) for both products
  const auto g = detail::gram_of_rows(rows, T(1.0 / double(f.numel())));
  detail::style_loss_of_rows(f, rows, g, target_gram, weight, f.numel(), grad, into);
}

template <class T, Device D>
T style_loss(const Tensor<T, D>& f, const Tensor<T, D>& target_gram, T weight,
             Tensor<T, D>* grad = nullptr) {
  return detail::read_one<T, D>(
      [&](LossBuffer<T, D>& b) { style_loss(f, target_gram, weight, grad, b); });
}

// weight * total_variation(x), queued into `into`; adds its gradient into *grad.
template <class T, Device D>
void tv_loss(const Tensor<T, D>& x, T weight, Tensor<T, D>* grad, LossBuffer<T, D>& into) {
  total_variation(x, grad, weight, into, double(weight));
}

template <class T, Device D>
T tv_loss(const Tensor<T, D>& x, T weight, Tensor<T, D>* grad = nullptr) {
  return detail::read_one<T, D>([&](LossBuffer<T, D>& b) { tv_loss(x, weight, grad, b); });
}

}  // namespace tinycnn::ops
