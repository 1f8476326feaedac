// Pooling on tensors (N,C,H,W): max (with argmax for backward), average, global average.
#pragma once

#include <cstdint>

#include "tinycnn/kernels/cpu/pool.hpp"
#include "tinycnn/kernels/problem.hpp"
#include "tinycnn/ops/dispatch.hpp"
#if TINYCNN_HAS_CUDA_KERNELS
#include "tinycnn/kernels/cuda/pool.cuh"
#endif

namespace tinycnn::ops {

struct Pool2dOptions {
  std::int64_t kernel_h = 2, kernel_w = 2;
  std::int64_t stride_h = 2, stride_w = 2;
  std::int64_t pad_h = 0, pad_w = 0;
  bool ceil_mode = false;
  bool count_include_pad = true;  // average pooling only

  static Pool2dOptions square(std::int64_t kernel, std::int64_t stride, std::int64_t pad = 0,
                              bool ceil_mode = false) {
    return {kernel, kernel, stride, stride, pad, pad, ceil_mode, true};
  }
};

inline kernels::Pool2dDesc pool2d_desc(const char* op, const Shape& x, const Pool2dOptions& o) {
  TINYCNN_CHECK(x.rank() == 4, op, ": input must have rank 4 (N, C, H, W), got shape ", x);
  TINYCNN_CHECK(o.kernel_h > 0 && o.kernel_w > 0, op, ": kernel must be positive, got ",
                o.kernel_h, "x", o.kernel_w);
  TINYCNN_CHECK(o.stride_h > 0 && o.stride_w > 0, op, ": strides must be positive, got (",
                o.stride_h, ", ", o.stride_w, ")");
  TINYCNN_CHECK(o.pad_h >= 0 && o.pad_w >= 0 && 2 * o.pad_h <= o.kernel_h &&
                    2 * o.pad_w <= o.kernel_w,
                op, ": padding (", o.pad_h, ", ", o.pad_w, ") must be >= 0 and at most half the ",
                o.kernel_h, "x", o.kernel_w, " kernel");
  kernels::Pool2dDesc d;
  d.n = x[0], d.c = x[1], d.h = x[2], d.w = x[3];
  d.kernel_h = o.kernel_h, d.kernel_w = o.kernel_w, d.stride_h = o.stride_h, d.stride_w = o.stride_w;
  d.pad_h = o.pad_h, d.pad_w = o.pad_w, d.ceil_mode = o.ceil_mode;
  d.count_include_pad = o.count_include_pad;
  TINYCNN_CHECK(o.kernel_h <= d.h + 2 * d.pad_h && o.kernel_w <= d.w + 2 * d.pad_w, op, ": the ",
                o.kernel_h, "x", o.kernel_w, " window is larger than the padded input ",
                d.h + 2 * d.pad_h, "x", d.w + 2 * d.pad_w, " (input shape ", x, ")");
  return d;
}

inline Shape pool2d_output_shape(const kernels::Pool2dDesc& d) { return {d.n, d.c, d.p(), d.q()}; }

template <class T, Device D>
struct MaxPool2dResult {
  Tensor<T, D> y;
  Tensor<std::int32_t, D> argmax;  // per output: index h*W + w of the winner in its (n, c) plane
};

// positive_only: windows whose maximum is not positive (0 or NaN) get argmax -1 and pass no
// gradient back, so the input gradient is zero wherever x is not positive: for x = relu(z) it is
// then the gradient with respect to z as well (what nn::Sequential uses to skip that ReLU's
// backward).
template <class T, Device D>
MaxPool2dResult<T, D> max_pool2d(const Tensor<T, D>& x, const Pool2dOptions& o,
                                 bool positive_only = false) {
  const auto d = pool2d_desc("max_pool2d", x.shape(), o);
  TINYCNN_CHECK(d.h * d.w <= INT32_MAX, "max_pool2d: planes of ", d.h, "x", d.w,
                " elements exceed the 32-bit argmax index");
  MaxPool2dResult<T, D> r{Tensor<T, D>::uninitialized(pool2d_output_shape(d)),
                          Tensor<std::int32_t, D>::uninitialized(pool2d_output_shape(d))};
  if (r.y.empty()) return r;
  TINYCNN_DISPATCH(T, D, kernels::cpu::max_pool2d_forward, kernels::cuda::max_pool2d_forward,
                   r.y.data(), r.argmax.data(), x.data(), d, positive_only);
  return r;
}

template <class T, Device D>
Tensor<T, D> max_pool2d_backward(const Tensor<T, D>& dy, const Tensor<std::int32_t, D>& argmax,
                                 const Shape& x_shape, const Pool2dOptions& o) {
  const auto d = pool2d_desc("max_pool2d_backward", x_shape, o);
  detail::check_shape("max_pool2d_backward", "output gradient dy", dy, pool2d_output_shape(d));
  detail::check_shape("max_pool2d_backward", "argmax", argmax, pool2d_output_shape(d));
  auto dx = Tensor<T, D>::uninitialized(x_shape);
  if (dx.empty()) return dx;
  TINYCNN_DISPATCH(T, D, kernels::cpu::max_pool2d_backward, kernels::cuda::max_pool2d_backward, dx.data(), dy.data(), argmax.data(), d);
  return dx;
}

template <class T, Device D>
Tensor<T, D> avg_pool2d(const Tensor<T, D>& x, const Pool2dOptions& o) {
  const auto d = pool2d_desc("avg_pool2d", x.shape(), o);
  auto y = Tensor<T, D>::uninitialized(pool2d_output_shape(d));
  if (y.empty()) return y;
  TINYCNN_DISPATCH(T, D, kernels::cpu::avg_pool2d_forward, kernels::cuda::avg_pool2d_forward, y.data(), x.data(), d);
  return y;
}

template <class T, Device D>
Tensor<T, D> avg_pool2d_backward(const Tensor<T, D>& dy, const Shape& x_shape,
                                 const Pool2dOptions& o) {
  const auto d = pool2d_desc("avg_pool2d_backward", x_shape, o);
  detail::check_shape("avg_pool2d_backward", "output gradient dy", dy, pool2d_output_shape(d));
  auto dx = Tensor<T, D>::uninitialized(x_shape);
  if (dx.empty()) return dx;
  TINYCNN_DISPATCH(T, D, kernels::cpu::avg_pool2d_backward, kernels::cuda::avg_pool2d_backward, dx.data(), dy.data(), d);
  return dx;
}

// (N,C,H,W) -> (N,C,1,1): the mean of each plane.
template <class T, Device D>
Tensor<T, D> global_avg_pool2d(const Tensor<T, D>& x) {
  detail::check_rank("global_avg_pool2d", "input", x, 4, "(N, C, H, W)");
  TINYCNN_CHECK(x.dim(2) > 0 && x.dim(3) > 0, "global_avg_pool2d: input planes must be non-empty, got ",
                x.shape());
  auto y = Tensor<T, D>::uninitialized({x.dim(0), x.dim(1), 1, 1});
  const std::int64_t planes = x.dim(0) * x.dim(1), plane = x.dim(2) * x.dim(3);
  if (y.empty()) return y;
  TINYCNN_DISPATCH(T, D, kernels::cpu::global_avg_pool2d_forward, kernels::cuda::global_avg_pool2d_forward, y.data(), x.data(), planes, plane);
  return y;
}

template <class T, Device D>
Tensor<T, D> global_avg_pool2d_backward(const Tensor<T, D>& dy, const Shape& x_shape) {
  TINYCNN_CHECK(x_shape.rank() == 4 && x_shape[2] > 0 && x_shape[3] > 0,
                "global_avg_pool2d_backward: input shape must be (N, C, H, W) with non-empty planes, got ",
                x_shape);
  detail::check_shape("global_avg_pool2d_backward", "output gradient dy", dy,
                      Shape{x_shape[0], x_shape[1], 1, 1});
  auto dx = Tensor<T, D>::uninitialized(x_shape);
  const std::int64_t planes = x_shape[0] * x_shape[1], plane = x_shape[2] * x_shape[3];
  if (dx.empty()) return dx;
  TINYCNN_DISPATCH(T, D, kernels::cpu::global_avg_pool2d_backward, kernels::cuda::global_avg_pool2d_backward, dx.data(), dy.data(), planes, plane);
  return dx;
}

}  // namespace tinycnn::ops
