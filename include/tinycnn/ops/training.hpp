// Ops that training needs beyond the forward/backward of the network's core ops: batch norm,
// dropout, the MSE loss, and the SGD and Adam parameter updates.
#pragma once

#include <cstdint>

#include "tinycnn/kernels/cpu/batchnorm.hpp"
#include "tinycnn/kernels/cpu/dropout.hpp"
#include "tinycnn/kernels/cpu/loss.hpp"
#include "tinycnn/kernels/cpu/optim.hpp"
#include "tinycnn/ops/dispatch.hpp"
#if TINYCNN_HAS_CUDA_KERNELS
#include "tinycnn/kernels/cuda/batchnorm.cuh"
#include "tinycnn/kernels/cuda/dropout.cuh"
#include "tinycnn/kernels/cuda/loss.cuh"
#include "tinycnn/kernels/cuda/optim.cuh"
#endif

namespace tinycnn::ops {

namespace detail {
template <class T, Device D>
void check_batchnorm(const char* op, const Tensor<T, D>& x, const Tensor<T, D>& gamma) {
  TINYCNN_CHECK(x.rank() == 4 || x.rank() == 2, op, ": input must be (N, C, H, W) or (N, C), got ",
                x.shape());
  TINYCNN_CHECK(gamma.rank() == 1 && gamma.dim(0) == x.dim(1), op, ": parameters must have shape [",
                x.dim(1), "] for input ", x.shape(), ", got ", gamma.shape());
}
}  // namespace detail

template <class T, Device D>
struct BatchNormSaved {
  Tensor<T, D> mean, invstd;  // per channel, for backward
};

// Training-mode batch norm: normalises with the batch statistics, updates the running statistics.
template <class T, Device D>
Tensor<T, D> batchnorm2d_training(const Tensor<T, D>& x, const Tensor<T, D>& gamma,
                                  const Tensor<T, D>& beta, Tensor<T, D>& running_mean,
                                  Tensor<T, D>& running_var, T momentum, T eps,
                                  BatchNormSaved<T, D>& saved) {
  detail::check_batchnorm("batchnorm2d", x, gamma);
  const std::int64_t n = x.dim(0), c = x.dim(1), plane = x.rank() == 4 ? x.dim(2) * x.dim(3) : 1;
  TINYCNN_CHECK(n * plane > 1, "batchnorm2d: training needs more than one value per channel, got ",
                "input ", x.shape());
  auto y = Tensor<T, D>::uninitialized(x.shape());
  saved.mean = Tensor<T, D>::uninitialized({c});
  saved.invstd = Tensor<T, D>::uninitialized({c});
  TINYCNN_DISPATCH(T, D, kernels::cpu::batchnorm2d_forward_training,
                   kernels::cuda::batchnorm2d_forward_training, y.data(), saved.mean.data(),
                   saved.invstd.data(), running_mean.data(), running_var.data(), x.data(),
                   gamma.data(), beta.data(), n, c, plane, momentum, eps);
  return y;
}

template <class T, Device D>
Tensor<T, D> batchnorm2d_inference(const Tensor<T, D>& x, const Tensor<T, D>& gamma,
                                   const Tensor<T, D>& beta, const Tensor<T, D>& running_mean,
                                   const Tensor<T, D>& running_var, T eps) {
  detail::check_batchnorm("batchnorm2d", x, gamma);
  const std::int64_t n = x.dim(0), c = x.dim(1), plane = x.rank() == 4 ? x.dim(2) * x.dim(3) : 1;
  auto y = Tensor<T, D>::uninitialized(x.shape());
  if (!y.empty())
    TINYCNN_DISPATCH(T, D, kernels::cpu::batchnorm2d_forward_inference,
                     kernels::cuda::batchnorm2d_forward_inference, y.data(), x.data(), gamma.data(),
                     beta.data(), running_mean.data(), running_var.data(), n, c, plane, eps);
  return y;
}

template <class T, Device D>
struct BatchNormGrads {
  Tensor<T, D> dx, dgamma, dbeta;
};

template <class T, Device D>
BatchNormGrads<T, D> batchnorm2d_backward(const Tensor<T, D>& dy, const Tensor<T, D>& x,
                                          const Tensor<T, D>& gamma,
                                          const BatchNormSaved<T, D>& saved) {
  detail::check_batchnorm("batchnorm2d_backward", x, gamma);
  detail::check_shape("batchnorm2d_backward", "output gradient dy", dy, x.shape());
  const std::int64_t n = x.dim(0), c = x.dim(1), plane = x.rank() == 4 ? x.dim(2) * x.dim(3) : 1;
  BatchNormGrads<T, D> g{Tensor<T, D>::uninitialized(x.shape()), Tensor<T, D>::uninitialized({c}),
                         Tensor<T, D>::uninitialized({c})};
  TINYCNN_DISPATCH(T, D, kernels::cpu::batchnorm2d_backward, kernels::cuda::batchnorm2d_backward,
                   g.dx.data(), g.dgamma.data(), g.dbeta.data(), dy.data(), x.data(), gamma.data(),
                   saved.mean.data(), saved.invstd.data(), n, c, plane);
  return g;
}

// Inverted dropout in place: element i is zeroed unless uniform01(seed, i) >= p, kept ones are
// scaled by 1/(1-p). The same (p, seed) in dropout_backward_ applies the same mask.
template <class T, Device D>
Tensor<T, D>& dropout_(Tensor<T, D>& x, T p, std::uint64_t seed) {
  TINYCNN_CHECK(p >= T(0) && p < T(1), "dropout: p must be in [0, 1), got ", p);
  if (!x.empty())
    TINYCNN_DISPATCH(T, D, kernels::cpu::dropout_forward, kernels::cuda::dropout_forward, x.data(),
                     x.data(), x.numel(), p, seed);
  return x;
}
template <class T, Device D>
Tensor<T, D>& dropout_backward_(Tensor<T, D>& dy, T p, std::uint64_t seed) {
  TINYCNN_CHECK(p >= T(0) && p < T(1), "dropout: p must be in [0, 1), got ", p);
  if (!dy.empty())
    TINYCNN_DISPATCH(T, D, kernels::cpu::dropout_backward, kernels::cuda::dropout_backward,
                     dy.data(), dy.data(), dy.numel(), p, seed);
  return dy;
}

template <class T, Device D>
struct LossResult {
  T loss;
  Tensor<T, D> grad;  // d loss / d input
};

// Mean squared error over all elements, and its gradient 2 (x - target) / n.
template <class T, Device D>
LossResult<T, D> mse_loss(const Tensor<T, D>& x, const Tensor<T, D>& target) {
  detail::check_shape("mse_loss", "target", target, x.shape());
  TINYCNN_CHECK(!x.empty(), "mse_loss: the input is empty (shape ", x.shape(), ")");
  LossResult<T, D> r{T(0), Tensor<T, D>::uninitialized(x.shape())};
  if constexpr (detail::kIsCpu<D>) {
    r.loss = kernels::cpu::mse_loss(r.grad.data(), x.data(), target.data(), x.numel());
  } else {
    detail::require_cuda_kernels<T>();
#if TINYCNN_HAS_CUDA_KERNELS
    auto loss = Tensor<T, D>::uninitialized({1});
    std::size_t ws_bytes = 0;
    TINYCNN_CUDA_CHECK(kernels::cuda::mse_loss(loss.data(), r.grad.data(), x.data(), target.data(),
                                               x.numel(), nullptr, &ws_bytes, cuda_stream()));
    auto ws = Tensor<unsigned char, D>::uninitialized({std::int64_t(ws_bytes)});
    TINYCNN_CUDA_CHECK(kernels::cuda::mse_loss(loss.data(), r.grad.data(), x.data(), target.data(),
                                               x.numel(), ws.data(), &ws_bytes, cuda_stream()));
    r.loss = loss.item();
#endif
  }
  return r;
}

struct SgdHyper {
  double lr = 0.01, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false;
};

// One SGD step on a parameter (PyTorch's torch.optim.SGD); momentum_buf is ignored when momentum
// is 0.
template <class T, Device D>
void sgd_update_(Tensor<T, D>& param, Tensor<T, D>& momentum_buf, const Tensor<T, D>& grad,
                 const SgdHyper& h, bool first_step) {
  detail::check_shape("sgd_update", "gradient", grad, param.shape());
  T* buf = h.momentum != 0 ? momentum_buf.data() : nullptr;
  if (buf) detail::check_shape("sgd_update", "momentum buffer", momentum_buf, param.shape());
  if (!param.empty())
    TINYCNN_DISPATCH(T, D, kernels::cpu::sgd_update, kernels::cuda::sgd_update, param.data(), buf,
                     grad.data(), param.numel(), T(h.lr), T(h.momentum), T(h.dampening),
                     T(h.weight_decay), h.nesterov, first_step);
}

struct AdamHyper {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  bool decoupled_weight_decay = false;  // AdamW
};

// One Adam / AdamW step (PyTorch's formulas); step counts from 1.
template <class T, Device D>
void adam_update_(Tensor<T, D>& param, Tensor<T, D>& exp_avg, Tensor<T, D>& exp_avg_sq,
                  const Tensor<T, D>& grad, const AdamHyper& h, std::int64_t step) {
  detail::check_shape("adam_update", "gradient", grad, param.shape());
  detail::check_shape("adam_update", "exp_avg", exp_avg, param.shape());
  detail::check_shape("adam_update", "exp_avg_sq", exp_avg_sq, param.shape());
  TINYCNN_CHECK(step >= 1, "adam_update: step counts from 1, got ", step);
  if (!param.empty())
    TINYCNN_DISPATCH(T, D, kernels::cpu::adam_update, kernels::cuda::adam_update, param.data(),
                     exp_avg.data(), exp_avg_sq.data(), grad.data(), param.numel(), T(h.lr),
                     T(h.beta1), T(h.beta2), T(h.eps), T(h.weight_decay), step,
                     h.decoupled_weight_decay);
}

}  // namespace tinycnn::ops
