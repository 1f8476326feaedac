// Elementwise ops on tensors: ReLU (forward, backward, in place), per-channel bias, add, scale, axpy.
#pragma once

#include <cstdint>

#include "tinycnn/kernels/cpu/conv.hpp"
#include "tinycnn/kernels/cpu/elementwise.hpp"
#include "tinycnn/ops/dispatch.hpp"
#if TINYCNN_HAS_CUDA_KERNELS
#include "tinycnn/kernels/cuda/conv_bias.cuh"
#include "tinycnn/kernels/cuda/elementwise.cuh"
#endif

namespace tinycnn::ops {

// x = max(x, 0) in place.
template <class T, Device D>
Tensor<T, D>& relu_(Tensor<T, D>& x) {
  if (!x.empty())
    TINYCNN_DISPATCH(T, D, kernels::cpu::relu_forward, kernels::cuda::relu_forward, x.data(),
                     x.data(), x.numel());
  return x;
}

template <class T, Device D>
Tensor<T, D> relu(const Tensor<T, D>& x) {
  auto y = Tensor<T, D>::uninitialized(x.shape());
  if (!y.empty())
    TINYCNN_DISPATCH(T, D, kernels::cpu::relu_forward, kernels::cuda::relu_forward, y.data(),
                     x.data(), x.numel());
  return y;
}

// dy = dy where the forward output y > 0, else 0, in place.
template <class T, Device D>
Tensor<T, D>& relu_backward_(Tensor<T, D>& dy, const Tensor<T, D>& y) {
  detail::check_shape("relu_backward", "output gradient dy", dy, y.shape());
  if (!dy.empty())
    TINYCNN_DISPATCH(T, D, kernels::cpu::relu_backward, kernels::cuda::relu_backward, dy.data(),
                     dy.data(), y.data(), dy.numel());
  return dy;
}

// dx = dy where the forward output y > 0, else 0.
template <class T, Device D>
Tensor<T, D> relu_backward(const Tensor<T, D>& dy, const Tensor<T, D>& y) {
  detail::check_shape("relu_backward", "output gradient dy", dy, y.shape());
  auto dx = Tensor<T, D>::uninitialized(y.shape());
  if (!dx.empty())
    TINYCNN_DISPATCH(T, D, kernels::cpu::relu_backward, kernels::cuda::relu_backward, dx.data(),
                     dy.data(), y.data(), dy.numel());
  return dx;
}

// y(n, c, ...) += bias(c) for y of shape (N, C) or (N, C, H, W).
template <class T, Device D>
Tensor<T, D>& bias_add_(Tensor<T, D>& y, const Tensor<T, D>& bias) {
  TINYCNN_CHECK(y.rank() >= 2, "bias_add: y must have rank >= 2 (N, C, ...), got ", y.shape());
  TINYCNN_CHECK(bias.rank() == 1 && bias.dim(0) == y.dim(1), "bias_add: bias must have shape [",
                y.dim(1), "] for y of shape ", y.shape(), ", got ", bias.shape());
  const std::int64_t n = y.dim(0), c = y.dim(1), plane = c ? y.numel() / (n * c) : 0;
  if (!y.empty())
    TINYCNN_DISPATCH(T, D, kernels::cpu::bias_add, kernels::cuda::bias_add, y.data(), bias.data(), n,
                     c, plane);
  return y;
}

// The gradient of bias_add_: db(c) = sum of dy over every dimension but the second, for dy of
// shape (N, C) or (N, C, H, W).
template <class T, Device D>
Tensor<T, D> bias_backward(const Tensor<T, D>& dy) {
  TINYCNN_CHECK(dy.rank() >= 2, "bias_backward: dy must have rank >= 2 (N, C, ...), got ", dy.shape());
  kernels::Conv2dDesc d;  // dy seen as the (N, K, P*Q, 1) output of a 1x1 convolution
  d.n = dy.dim(0), d.k = dy.dim(1), d.c = 1, d.w = 1;
  d.h = d.n * d.k != 0 ? dy.numel() / (d.n * d.k) : 0;
  auto db = Tensor<T, D>::uninitialized({d.k});
  if (db.empty()) return db;
  if (dy.empty()) {
    db.zero_();
    return db;
  }
  TINYCNN_DISPATCH(T, D, kernels::cpu::conv2d_backward_bias, kernels::cuda::conv2d_backward_bias,
                   db.data(), dy.data(), d);
  return db;
}

template <class T, Device D>
Tensor<T, D> add(const Tensor<T, D>& a, const Tensor<T, D>& b) {
  detail::check_shape("add", "b", b, a.shape());
  auto y = Tensor<T, D>::uninitialized(a.shape());
  if (!y.empty())
    TINYCNN_DISPATCH(T, D, kernels::cpu::add, kernels::cuda::add, y.data(), a.data(), b.data(),
                     a.numel());
  return y;
}

template <class T, Device D>
Tensor<T, D> scale(const Tensor<T, D>& x, T alpha) {
  auto y = Tensor<T, D>::uninitialized(x.shape());
  if (!y.empty())
    TINYCNN_DISPATCH(T, D, kernels::cpu::scale, kernels::cuda::scale, y.data(), x.data(), alpha,
                     x.numel());
  return y;
}

template <class T, Device D>
Tensor<T, D>& scale_(Tensor<T, D>& x, T alpha) {
  if (!x.empty())
    TINYCNN_DISPATCH(T, D, kernels::cpu::scale, kernels::cuda::scale, x.data(), x.data(), alpha,
                     x.numel());
  return x;
}

// y += alpha * x.
template <class T, Device D>
Tensor<T, D>& axpy_(Tensor<T, D>& y, T alpha, const Tensor<T, D>& x) {
  detail::check_shape("axpy", "x", x, y.shape());
  if (!y.empty())
    TINYCNN_DISPATCH(T, D, kernels::cpu::axpy, kernels::cuda::axpy, y.data(), alpha, x.data(),
                     y.numel());
  return y;
}

}  // namespace tinycnn::ops
