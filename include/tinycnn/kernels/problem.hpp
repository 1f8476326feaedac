// Problem descriptors shared by the reference, CPU and CUDA kernels: sizes, strides, paddings.
// Plain aggregates, trivially copyable, passed by value to kernels.
//
// Dimension letters (used throughout kernels/):
//   GEMM         C(M,N) = alpha * op(A)(M,K) * op(B)(K,N) + beta * C, row-major
//   convolution  input x (N,C,H,W), filter w (K,C,R,S), output y (N,K,P,Q)
//   pooling      input x (N,C,H,W), window (kernel_h,kernel_w), output y (N,C,P,Q)
#pragma once

#include <cstdint>

#include "tinycnn/core/device.hpp"

namespace tinycnn::kernels {

// Row-major GEMM. Without transpose A is M×K with leading dimension lda >= K; with trans_a it is
// stored K×M with lda >= M (likewise B: K×N / N×K). C is M×N, ldc >= N. Batched: `batch` problems,
// each operand advanced by its stride (in elements) from one problem to the next.
struct GemmDesc {
  std::int64_t m = 0, n = 0, k = 0;
  bool trans_a = false, trans_b = false;
  std::int64_t lda = 0, ldb = 0, ldc = 0;
  std::int64_t batch = 1;
  std::int64_t stride_a = 0, stride_b = 0, stride_c = 0;
};

// Leading dimensions of tightly packed operands.
inline GemmDesc packed_gemm(std::int64_t m, std::int64_t n, std::int64_t k, bool trans_a = false,
                            bool trans_b = false) {
  GemmDesc d;
  d.m = m, d.n = n, d.k = k, d.trans_a = trans_a, d.trans_b = trans_b;
  d.lda = trans_a ? m : k;
  d.ldb = trans_b ? k : n;
  d.ldc = n;
  d.stride_a = m * k, d.stride_b = k * n, d.stride_c = m * n;
  return d;
}

// 2-D cross-correlation (what deep-learning frameworks call convolution), no groups.
struct Conv2dDesc {
  std::int64_t n = 1, c = 1, h = 1, w = 1;  // input
  std::int64_t k = 1, r = 1, s = 1;         // filter
  std::int64_t pad_h = 0, pad_w = 0;
  std::int64_t stride_h = 1, stride_w = 1;
  std::int64_t dilation_h = 1, dilation_w = 1;

  TINYCNN_HOST_DEVICE std::int64_t p() const {
    return (h + 2 * pad_h - dilation_h * (r - 1) - 1) / stride_h + 1;
  }
  TINYCNN_HOST_DEVICE std::int64_t q() const {
    return (w + 2 * pad_w - dilation_w * (s - 1) - 1) / stride_w + 1;
  }
  // Multiply-adds of the forward pass times two.
  double flops() const { return 2.0 * double(n) * k * p() * q() * c * r * s; }
};

// Where a layer keeps its prepared filter between calls (ops::ConvFilterCache), for the
// convolution entry points that take one (CPU: kernels::cpu::conv2d_forward_im2col and
// conv2d_backward_data_im2col; CUDA: conv2d_forward_implicit_gemm and
// conv2d_backward_data_implicit_gemm): `data` holds the values the device's filter plan names
// (conv2d_forward_filter_plan, conv2d_backward_data_filter_plan), `ready` says they already are
// this filter's. A call that prepares the filter into `data` sets `ready`; with no store the
// filter is prepared on every call (CPU: in per-thread scratch or packed per GEMM; CUDA: in the
// workspace).
template <class T>
struct FilterStore {
  T* data = nullptr;
  bool ready = false;
};

// What a filter plan keeps: nothing, the Winograd transform of the filter (CUDA: winograd_tf32
// when rounded to TF32 for TF32 products, so that a switch of the TF32 setting makes it again),
// or the CPU direct path's GEMM operand packed whole; `size` values of the convolution's type.
enum class KeptFilter { none, winograd, winograd_tf32, packed };
struct FilterPlan {
  KeptFilter kind = KeptFilter::none;
  std::int64_t size = 0;
};

// What a convolution applies to its output in the same pass: nothing, or a ReLU (max(v, 0), NaN
// to 0), the same values as the ReLU run afterwards.
enum class Activation { none, relu };

// Max or average pooling. ceil_mode rounds the output size up (PyTorch's rule: the last window must
// start inside the input or its left padding). Average pooling divides by the window's size
// including padding when count_include_pad (PyTorch's default), else by the in-bounds count.
struct Pool2dDesc {
  std::int64_t n = 1, c = 1, h = 1, w = 1;
  std::int64_t kernel_h = 1, kernel_w = 1;
  std::int64_t stride_h = 1, stride_w = 1;
  std::int64_t pad_h = 0, pad_w = 0;
  bool ceil_mode = false;
  bool count_include_pad = true;

  TINYCNN_HOST_DEVICE static std::int64_t out_size(std::int64_t in, std::int64_t kernel,
                                                   std::int64_t stride, std::int64_t pad,
                                                   bool ceil) {
    const std::int64_t span = in + 2 * pad - kernel;
    std::int64_t out = (ceil ? (span + stride - 1) / stride : span / stride) + 1;
    if (ceil && (out - 1) * stride >= in + pad) --out;
    return out;
  }
  TINYCNN_HOST_DEVICE std::int64_t p() const {
    return out_size(h, kernel_h, stride_h, pad_h, ceil_mode);
  }
  TINYCNN_HOST_DEVICE std::int64_t q() const {
    return out_size(w, kernel_w, stride_w, pad_w, ceil_mode);
  }

  // The window of output (p, q) clipped to the input, [h0, h1) x [w0, w1), and its average-pooling
  // divisor: PyTorch's rule, the window clipped to the padded input when count_include_pad, else
  // the in-bounds count. Shared by the reference, CPU and CUDA kernels.
  struct Window {
    std::int64_t h0, h1, w0, w1, divisor;
  };
  TINYCNN_HOST_DEVICE Window window(std::int64_t p, std::int64_t q) const {
    std::int64_t h0 = p * stride_h - pad_h, w0 = q * stride_w - pad_w;
    std::int64_t h1 = h0 + kernel_h < h + pad_h ? h0 + kernel_h : h + pad_h;
    std::int64_t w1 = w0 + kernel_w < w + pad_w ? w0 + kernel_w : w + pad_w;
    const std::int64_t padded_size = (h1 - h0) * (w1 - w0);
    h0 = h0 > 0 ? h0 : 0, w0 = w0 > 0 ? w0 : 0;
    h1 = h1 < h ? h1 : h, w1 = w1 < w ? w1 : w;
    return {h0, h1, w0, w1, count_include_pad ? padded_size : (h1 - h0) * (w1 - w0)};
  }
};

}  // namespace tinycnn::kernels
