// 2-D convolution on tensors: x (N,C,H,W), w (K,C,R,S), y (N,K,P,Q). Validates shapes and
// parameters, allocates outputs and workspaces, and runs the im2col CPU or implicit-GEMM CUDA kernels.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "tinycnn/kernels/cpu/conv.hpp"
#include "tinycnn/kernels/env.hpp"
#include "tinycnn/kernels/problem.hpp"
#include "tinycnn/kernels/tf32.hpp"
#include "tinycnn/ops/dispatch.hpp"
#include "tinycnn/ops/elementwise.hpp"
#if TINYCNN_HAS_CUDA
#include "tinycnn/core/cuda_runtime.hpp"
#endif
#if TINYCNN_HAS_CUDA_KERNELS
#include "tinycnn/kernels/cuda/conv.cuh"
#endif

namespace tinycnn {

// TF32 tensor cores for CUDA convolutions (kernels/tf32.hpp): off by default (fp32, like
// torch.backends.cudnn.allow_tf32 = False); on, the Winograd and 1x1 layers' products round their
// inputs to TF32 and run on tensor cores (sm_80 and later), 2-2.6x our fp32 GEMM rate, at a
// relative error of about 2.5e-4 (1x1) and 3-3.5e-3 (Winograd) instead of 3e-7 and 2-6e-6
// (measured, docs/performance.md). TINYCNN_CUDA_TF32=1 sets it at start. CPU code ignores it.
inline void set_cuda_conv_tf32(bool enabled) {
  kernels::tf32_conv_switch().store(enabled);
}
inline bool cuda_conv_tf32() {
  return kernels::tf32_conv();
}

}  // namespace tinycnn

namespace tinycnn::ops {

struct Conv2dOptions {
  std::int64_t stride_h = 1, stride_w = 1;
  std::int64_t pad_h = 0, pad_w = 0;
  std::int64_t dilation_h = 1, dilation_w = 1;

  // The same stride, padding and dilation on both axes.
  static Conv2dOptions square(std::int64_t stride, std::int64_t pad, std::int64_t dilation = 1) {
    return {stride, stride, pad, pad, dilation, dilation};
  }
};

// The problem descriptor for input shape x (N,C,H,W) and filter shape w (K,C,R,S), validated.
inline kernels::Conv2dDesc conv2d_desc(const char* op, const Shape& x, const Shape& w,
                                       const Conv2dOptions& o) {
  TINYCNN_CHECK(x.rank() == 4, op, ": input must have rank 4 (N, C, H, W), got shape ", x);
  TINYCNN_CHECK(w.rank() == 4, op, ": filter must have rank 4 (K, C, R, S), got shape ", w);
  TINYCNN_CHECK(w[1] == x[1], op, ": input has ", x[1], " channels (shape ", x,
                ") but the filter expects ", w[1], " (shape ", w, ")");
  TINYCNN_CHECK(o.stride_h > 0 && o.stride_w > 0, op, ": strides must be positive, got (",
                o.stride_h, ", ", o.stride_w, ")");
  TINYCNN_CHECK(o.dilation_h > 0 && o.dilation_w > 0, op, ": dilations must be positive, got (",
                o.dilation_h, ", ", o.dilation_w, ")");
  TINYCNN_CHECK(o.pad_h >= 0 && o.pad_w >= 0, op, ": padding must be >= 0, got (", o.pad_h, ", ",
                o.pad_w, ")");
  TINYCNN_CHECK(w[0] > 0 && w[2] > 0 && w[3] > 0, op, ": filter shape ", w,
                " must have K, R, S >= 1");
  kernels::Conv2dDesc d;
  d.n = x[0], d.c = x[1], d.h = x[2], d.w = x[3];
  d.k = w[0], d.r = w[2], d.s = w[3];
  d.pad_h = o.pad_h, d.pad_w = o.pad_w, d.stride_h = o.stride_h, d.stride_w = o.stride_w;
  d.dilation_h = o.dilation_h, d.dilation_w = o.dilation_w;
  const std::int64_t span_h = o.dilation_h * (d.r - 1) + 1, span_w = o.dilation_w * (d.s - 1) + 1;
  TINYCNN_CHECK(span_h <= d.h + 2 * d.pad_h && span_w <= d.w + 2 * d.pad_w, op, ": the ", d.r, "x",
                d.s, " filter (dilated extent ", span_h, "x", span_w,
                ") is larger than the padded input ", d.h + 2 * d.pad_h, "x", d.w + 2 * d.pad_w,
                " (input shape ", x, ", padding ", d.pad_h, ", ", d.pad_w, ")");
  return d;
}

inline Shape conv2d_output_shape(const kernels::Conv2dDesc& d) { return {d.n, d.k, d.p(), d.q()}; }

// A convolution's prepared filters, kept between calls while the filter does not change. On the
// CPU: for layers that run by Winograd the transformed filter (forward, and backward data with the
// turned filter; each 4x the filter's size), for the others the GEMM's operand packed whole (W,
// W^T or the turned filter; the filter's size), made by a call's first use and made again when the
// filter tensor's Tensor::version() differs from the one they were made from. A frozen nn::Conv2d
// keeps one (style transfer: the filter transforms were 13 % of a CPU VGG-19 iteration at 256 px,
// packing the weights a quarter of a 4-block layer's time); TINYCNN_FILTER_CACHE=0 stops that.
// On CUDA: the Winograd transform of the filter (that of a strided layer's stride-1 form over
// phases too; kept apart for TF32 and fp32 products), made where the call runs on the stream.
// Filters made while a CUDA graph records are not kept: the graph makes them on each launch.
template <class T, Device D>
class ConvFilterCache {
 public:
  void clear() {
    forward_ = {};
    backward_data_ = {};
  }
  std::size_t bytes() const noexcept {
    return forward_.values.bytes() + backward_data_.values.bytes();
  }
  // Filters prepared into this cache so far (a measure for tests and benchmarks).
  std::int64_t transforms() const noexcept { return transforms_; }

  // What one call stores: the kernel's FilterStore for `plan` (none when it keeps nothing) made
  // from w, and, after the call, the version the values were made from.
  struct Entry {
    Tensor<T, D> values;
    kernels::KeptFilter kind = kernels::KeptFilter::none;
    std::uint64_t version = 0;  // Tensor versions start at 1
  };
  template <class Call>
  void run(bool backward_data, const Tensor<T, D>& w, kernels::FilterPlan plan, const Call& call) {
    Entry& e = backward_data ? backward_data_ : forward_;
    if (plan.size == 0) return call(static_cast<kernels::FilterStore<T>*>(nullptr));
    if (e.values.numel() != plan.size || e.kind != plan.kind) {
      // Another kind of the same size reuses the memory (a CUDA graph may hold its address).
      if (e.values.numel() != plan.size) e.values = Tensor<T, D>::uninitialized({plan.size});
      e.kind = plan.kind;
      e.version = 0;
    }
    kernels::FilterStore<T> store{e.values.data(), e.version == w.version()};
    const bool made_before = store.ready;
    e.version = 0;  // until the call has made them
    call(&store);
    if (!store.ready || (!made_before && recording())) return;
    e.version = w.version();
    if (!made_before) ++transforms_;
  }

 private:
  // Whether this thread is recording a CUDA graph (CudaGraph::capture), whose launches run later.
  static bool recording() {
#if TINYCNN_HAS_CUDA
    if constexpr (!detail::kIsCpu<D>) return tinycnn::detail::capture_ledger != nullptr;
#endif
    return false;
  }

  Entry forward_, backward_data_;
  std::int64_t transforms_ = 0;
};

namespace detail {
// Whether frozen layers keep their transformed filters: TINYCNN_FILTER_CACHE (1 by default).
inline bool filter_cache_enabled() {
  static const bool on = kernels::env_switch("TINYCNN_FILTER_CACHE", 1) == 1;
  return on;
}

template <class T, Device D>
void check_bias(const char* op, const Tensor<T, D>& bias, std::int64_t k) {
  TINYCNN_CHECK(bias.rank() == 1 && bias.dim(0) == k, op, ": bias must have shape [", k,
                "] (one per filter), got ", bias.shape());
}

template <class T, Device D>
Tensor<T, D> conv2d_forward_impl(const Tensor<T, D>& x, const Tensor<T, D>& w, const T* bias,
                                 const kernels::Conv2dDesc& d,
                                 kernels::Activation act = kernels::Activation::none,
                                 ConvFilterCache<T, D>* cache = nullptr) {
  auto y = Tensor<T, D>::uninitialized(conv2d_output_shape(d));
  if (y.empty()) return y;
  if constexpr (kIsCpu<D>) {
    auto run = [&](kernels::FilterStore<T>* store) {
      kernels::cpu::conv2d_forward_im2col(y.data(), x.data(), w.data(), bias, d, store);
    };
    if (cache)
      cache->run(false, w, kernels::cpu::conv2d_forward_filter_plan<T>(d), run);
    else
      run(nullptr);
    if (act == kernels::Activation::relu) kernels::cpu::relu_forward(y.data(), y.data(), y.numel());
  } else {
    require_cuda_kernels<T>();
#if TINYCNN_HAS_CUDA_KERNELS
    const std::size_t ws_bytes = kernels::cuda::conv2d_forward_workspace_bytes(d);
    auto ws = Tensor<unsigned char, D>::uninitialized({std::int64_t(ws_bytes)});
    auto run = [&](kernels::FilterStore<T>* store) {
      TINYCNN_CUDA_LAUNCH(kernels::cuda::conv2d_forward_implicit_gemm, y.data(), x.data(), w.data(),
                          bias, d, static_cast<void*>(ws.data()), ws_bytes, act, store);
    };
    if (cache)
      cache->run(false, w, kernels::cuda::conv2d_forward_filter_plan(d), run);
    else
      run(nullptr);
#endif
  }
  return y;
}
}  // namespace detail

// y = conv(x, w) (+ bias): x (N,C,H,W), w (K,C,R,S), bias (K). `cache`: where w's transformed
// filter is kept between calls (ConvFilterCache), or null. The same holds for every convolution
// below that takes one.
template <class T, Device D>
Tensor<T, D> conv2d(const Tensor<T, D>& x, const Tensor<T, D>& w, const Conv2dOptions& o = {},
                    std::type_identity_t<ConvFilterCache<T, D>>* cache = nullptr) {
  const auto d = conv2d_desc("conv2d", x.shape(), w.shape(), o);
  return detail::conv2d_forward_impl(x, w, static_cast<const T*>(nullptr), d,
                                     kernels::Activation::none, cache);
}
template <class T, Device D>
Tensor<T, D> conv2d(const Tensor<T, D>& x, const Tensor<T, D>& w, const Tensor<T, D>& bias,
                    const Conv2dOptions& o = {},
                    std::type_identity_t<ConvFilterCache<T, D>>* cache = nullptr) {
  const auto d = conv2d_desc("conv2d", x.shape(), w.shape(), o);
  detail::check_bias("conv2d", bias, d.k);
  return detail::conv2d_forward_impl(x, w, bias.data(), d, kernels::Activation::none, cache);
}

// y = max(conv(x, w) (+ bias), 0): a convolution with the ReLU after it. On CUDA the ReLU is
// applied where y is written (Winograd output transform, GEMM epilogue, split-K reduction), so y is
// written once and not read again; the values are those of relu(conv2d(...)), bit for bit.
template <class T, Device D>
Tensor<T, D> conv2d_relu(const Tensor<T, D>& x, const Tensor<T, D>& w, const Conv2dOptions& o = {},
                         std::type_identity_t<ConvFilterCache<T, D>>* cache = nullptr) {
  const auto d = conv2d_desc("conv2d_relu", x.shape(), w.shape(), o);
  return detail::conv2d_forward_impl(x, w, static_cast<const T*>(nullptr), d,
                                     kernels::Activation::relu, cache);
}
template <class T, Device D>
Tensor<T, D> conv2d_relu(const Tensor<T, D>& x, const Tensor<T, D>& w, const Tensor<T, D>& bias,
                         const Conv2dOptions& o = {},
                         std::type_identity_t<ConvFilterCache<T, D>>* cache = nullptr) {
  const auto d = conv2d_desc("conv2d_relu", x.shape(), w.shape(), o);
  detail::check_bias("conv2d_relu", bias, d.k);
  return detail::conv2d_forward_impl(x, w, bias.data(), d, kernels::Activation::relu, cache);
}

// dx from dy (N,K,P,Q) and w, for an input of shape x_shape.
template <class T, Device D>
Tensor<T, D> conv2d_backward_data(const Tensor<T, D>& dy, const Tensor<T, D>& w,
                                  const Shape& x_shape, const Conv2dOptions& o = {},
                                  std::type_identity_t<ConvFilterCache<T, D>>* cache = nullptr) {
  const auto d = conv2d_desc("conv2d_backward_data", x_shape, w.shape(), o);
  detail::check_shape("conv2d_backward_data", "output gradient dy", dy, conv2d_output_shape(d));
  auto dx = Tensor<T, D>::uninitialized(x_shape);
  if (dx.empty()) return dx;
  if (dy.empty()) {
    dx.zero_();
    return dx;
  }
  if constexpr (detail::kIsCpu<D>) {
    auto run = [&](kernels::FilterStore<T>* store) {
      kernels::cpu::conv2d_backward_data_im2col(dx.data(), dy.data(), w.data(), d, store);
    };
    if (cache)
      cache->run(true, w, kernels::cpu::conv2d_backward_data_filter_plan<T>(d), run);
    else
      run(nullptr);
  } else {
    detail::require_cuda_kernels<T>();
#if TINYCNN_HAS_CUDA_KERNELS
    const std::size_t ws_bytes = kernels::cuda::conv2d_backward_data_workspace_bytes(d);
    auto ws = Tensor<unsigned char, D>::uninitialized({std::int64_t(ws_bytes)});
    auto run = [&](kernels::FilterStore<T>* store) {
      TINYCNN_CUDA_LAUNCH(kernels::cuda::conv2d_backward_data_implicit_gemm, dx.data(), dy.data(),
                          w.data(), d, static_cast<void*>(ws.data()), ws_bytes, nullptr, nullptr,
                          store);
    };
    if (cache)
      cache->run(true, w, kernels::cuda::conv2d_backward_data_filter_plan(d), run);
    else
      run(nullptr);
#endif
  }
  return dx;
}

// Whether conv2d_backward_data_relu masks dy inside the convolution for these shapes (CUDA, float,
// where backward data runs by Winograd); elsewhere it runs relu_backward into a new tensor first.
template <class T, Device D>
bool conv2d_backward_data_takes_relu_mask(const Shape& x_shape, const Shape& w_shape,
                                          const Conv2dOptions& o = {}) {
#if TINYCNN_HAS_CUDA_KERNELS
  if constexpr (!detail::kIsCpu<D> && std::is_same_v<T, float>)
    return kernels::cuda::conv2d_backward_data_takes_relu_mask(
        conv2d_desc("conv2d_backward_data_relu", x_shape, w_shape, o));
#endif
  (void)x_shape, (void)w_shape, (void)o;
  return false;
}

// dx of a convolution with ReLUs around it, each optional (null): relu_after is the output of the
// ReLU after the convolution (dy's shape), relu_before the output of the ReLU before it (the
// convolution's input, of shape x_shape). dx = relu_backward(conv2d_backward_data(
// relu_backward(dy, *relu_after), w), *relu_before), bit for bit. On CUDA, where backward data
// runs by Winograd, both masks are applied inside it (dy as the input transform reads it, dx as
// the output transform writes it); elsewhere dy is masked into a new tensor first and dx in place
// after.
template <class T, Device D>
Tensor<T, D> conv2d_backward_data_relu(
    const Tensor<T, D>& dy, std::type_identity_t<const Tensor<T, D>*> relu_after,
    const Tensor<T, D>& w, const Shape& x_shape, const Conv2dOptions& o,
    std::type_identity_t<const Tensor<T, D>*> relu_before,
    std::type_identity_t<ConvFilterCache<T, D>>* cache = nullptr) {
  const char* op = "conv2d_backward_data_relu";
  const auto d = conv2d_desc(op, x_shape, w.shape(), o);
  detail::check_shape(op, "output gradient dy", dy, conv2d_output_shape(d));
  if (relu_after)
    detail::check_shape(op, "output of the ReLU after, relu_after", *relu_after, dy.shape());
  if (relu_before)
    detail::check_shape(op, "output of the ReLU before, relu_before", *relu_before, x_shape);
#if TINYCNN_HAS_CUDA_KERNELS
  if constexpr (!detail::kIsCpu<D> && std::is_same_v<T, float>) {
    const bool inside = kernels::cuda::conv2d_backward_data_takes_relu_mask(d);
    if (!dy.empty() && (inside || !relu_after)) {
      auto dx = Tensor<T, D>::uninitialized(x_shape);
      if (dx.empty()) return dx;
      const std::size_t ws_bytes = kernels::cuda::conv2d_backward_data_workspace_bytes(d);
      auto ws = Tensor<unsigned char, D>::uninitialized({std::int64_t(ws_bytes)});
      auto run = [&](kernels::FilterStore<T>* store) {
        TINYCNN_CUDA_LAUNCH(kernels::cuda::conv2d_backward_data_implicit_gemm, dx.data(), dy.data(),
                            w.data(), d, static_cast<void*>(ws.data()), ws_bytes,
                            relu_after ? relu_after->data() : nullptr,
                            relu_before ? relu_before->data() : nullptr, store);
      };
      if (cache)
        cache->run(true, w, kernels::cuda::conv2d_backward_data_filter_plan(d), run);
      else
        run(nullptr);
      return dx;
    }
  }
#endif
  auto dx = relu_after ? conv2d_backward_data(relu_backward(dy, *relu_after), w, x_shape, o, cache)
                       : conv2d_backward_data(dy, w, x_shape, o, cache);
  if (relu_before) relu_backward_(dx, *relu_before);
  return dx;
}
// dx from dy through the ReLU after the convolution (y: its output) and the convolution.
template <class T, Device D>
Tensor<T, D> conv2d_backward_data_relu(const Tensor<T, D>& dy, const Tensor<T, D>& y,
                                       const Tensor<T, D>& w, const Shape& x_shape,
                                       const Conv2dOptions& o = {}) {
  return conv2d_backward_data_relu(dy, &y, w, x_shape, o, nullptr);
}

// dw from dy (N,K,P,Q) and x, for a filter of shape w_shape.
template <class T, Device D>
Tensor<T, D> conv2d_backward_filter(const Tensor<T, D>& dy, const Tensor<T, D>& x,
                                    const Shape& w_shape, const Conv2dOptions& o = {}) {
  const auto d = conv2d_desc("conv2d_backward_filter", x.shape(), w_shape, o);
  detail::check_shape("conv2d_backward_filter", "output gradient dy", dy, conv2d_output_shape(d));
  auto dw = Tensor<T, D>::uninitialized(w_shape);
  if (dw.empty()) return dw;
  if (dy.empty()) {
    dw.zero_();
    return dw;
  }
  if constexpr (detail::kIsCpu<D>) {
    kernels::cpu::conv2d_backward_filter_im2col(dw.data(), dy.data(), x.data(), d);
  } else {
    detail::require_cuda_kernels<T>();
#if TINYCNN_HAS_CUDA_KERNELS
    const std::size_t ws_bytes = kernels::cuda::conv2d_backward_filter_workspace_bytes(d);
    auto ws = Tensor<unsigned char, D>::uninitialized({std::int64_t(ws_bytes)});
    TINYCNN_CUDA_LAUNCH(kernels::cuda::conv2d_backward_filter_implicit_gemm, dw.data(), dy.data(),
                        x.data(), d, static_cast<void*>(ws.data()), ws_bytes);
#endif
  }
  return dw;
}

// db(k) = sum of dy over N, P, Q.
template <class T, Device D>
Tensor<T, D> conv2d_backward_bias(const Tensor<T, D>& dy) {
  detail::check_rank("conv2d_backward_bias", "output gradient dy", dy, 4, "(N, K, P, Q)");
  return bias_backward(dy);
}

}  // namespace tinycnn::ops
