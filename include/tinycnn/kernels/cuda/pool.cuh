// Pooling on CUDA: max and average 2-D pooling forward and backward (PyTorch's ceil_mode and
// divisor rules, as in kernels/reference/pool.hpp), and global average pooling. Backward passes are
// gathers: each input element sums the contributions of the windows that cover it, in the
// reference's (p, q) order, so results are deterministic and need neither atomics nor a zero fill.
//
// Letters: input x (N, C, H, W), window (kernel_h, kernel_w), output y (N, C, P, Q).
#pragma once

#include <cmath>
#include <cstdint>

#include <cuda_runtime.h>

#include "tinycnn/kernels/cuda/elementwise.cuh"
#include "tinycnn/kernels/cuda/launch.cuh"
#include "tinycnn/kernels/cuda/reduce.cuh"
#include "tinycnn/kernels/problem.hpp"

namespace tinycnn::kernels::cuda {
namespace detail {

// Output rows p (or columns q) whose window covers input row h: p * stride - pad <= h and
// h < p * stride - pad + kernel, clipped to [0, P). Empty when first > last.
struct CoverRange {
  std::int64_t first, last;  // inclusive
};
__device__ inline CoverRange covering_windows(std::int64_t h, std::int64_t kernel,
                                              std::int64_t stride, std::int64_t pad,
                                              std::int64_t out) {
  const std::int64_t hp = h + pad;
  const std::int64_t first = hp < kernel ? 0 : (hp - kernel) / stride + 1;
  const std::int64_t last = hp / stride < out - 1 ? hp / stride : out - 1;
  return {first, last};
}

// One thread per output element (n, c, p, q), grid-stride over N*C*P*Q; consecutive threads take
// consecutive q, so a warp reads its window rows as contiguous runs.
template <class T>
__global__ void max_pool2d_forward_direct_kernel(T* __restrict__ y,
                                                 std::int32_t* __restrict__ argmax,
                                                 const T* __restrict__ x, Pool2dDesc d,
                                                 std::int64_t P, std::int64_t Q) {
  const std::int64_t total = d.n * d.c * P * Q;
  for (std::int64_t o = grid_thread_index(); o < total; o += grid_thread_count()) {
    const std::int64_t q = o % Q, p = (o / Q) % P, nc = o / (P * Q);
    const T* plane = x + nc * d.h * d.w;
    const std::int64_t h0 = p * d.stride_h - d.pad_h, w0 = q * d.stride_w - d.pad_w;
    const std::int64_t hs = max(h0, std::int64_t(0)), he = min(h0 + d.kernel_h, d.h);
    const std::int64_t ws = max(w0, std::int64_t(0)), we = min(w0 + d.kernel_w, d.w);
    T best = T(-INFINITY);
    std::int64_t best_i = -1;
    for (std::int64_t h = hs; h < he; ++h)
      for (std::int64_t w = ws; w < we; ++w) {
        const T v = plane[h * d.w + w];
        // The first NaN wins and stays, as in the reference (and PyTorch); ties keep the first.
        if (best_i < 0 || v > best || (v != v && best == best)) best = v, best_i = h * d.w + w;
      }
    y[o] = best;
    if (argmax) argmax[o] = std::int32_t(best_i);
  }
}

// Gather: one thread per input element (n, c, h, w), grid-stride over N*C*H*W; it sums, in (p, q)
// order, dy of every covering window whose argmax names it (at most ceil(kernel/stride)^2 windows).
template <class T>
__global__ void max_pool2d_backward_gather_kernel(T* __restrict__ dx, const T* __restrict__ dy,
                                                  const std::int32_t* __restrict__ argmax,
                                                  Pool2dDesc d, std::int64_t P, std::int64_t Q) {
  const std::int64_t total = d.n * d.c * d.h * d.w;
  for (std::int64_t i = grid_thread_index(); i < total; i += grid_thread_count()) {
    const std::int64_t w = i % d.w, h = (i / d.w) % d.h, nc = i / (d.h * d.w);
    const auto ps = covering_windows(h, d.kernel_h, d.stride_h, d.pad_h, P);
    const auto qs = covering_windows(w, d.kernel_w, d.stride_w, d.pad_w, Q);
    const std::int32_t self = std::int32_t(h * d.w + w);
    const std::int64_t base = nc * P * Q;
    T acc = T(0);
    for (std::int64_t p = ps.first; p <= ps.last; ++p)
      for (std::int64_t q = qs.first; q <= qs.last; ++q)
        if (argmax[base + p * Q + q] == self) acc += dy[base + p * Q + q];
    dx[i] = acc;
  }
}

// One thread per output element, grid-stride over N*C*P*Q; sums its window in the accumulator type.
template <class T>
__global__ void avg_pool2d_forward_direct_kernel(T* __restrict__ y, const T* __restrict__ x,
                                                 Pool2dDesc d, std::int64_t P, std::int64_t Q) {
  using Acc = DeviceAccumulator<T>;
  const std::int64_t total = d.n * d.c * P * Q;
  for (std::int64_t o = grid_thread_index(); o < total; o += grid_thread_count()) {
    const std::int64_t q = o % Q, p = (o / Q) % P, nc = o / (P * Q);
    const T* plane = x + nc * d.h * d.w;
    const std::int64_t h0 = p * d.stride_h - d.pad_h, w0 = q * d.stride_w - d.pad_w;
    const std::int64_t hs = max(h0, std::int64_t(0)), he = min(h0 + d.kernel_h, d.h);
    const std::int64_t ws = max(w0, std::int64_t(0)), we = min(w0 + d.kernel_w, d.w);
    Acc acc = 0;
    for (std::int64_t h = hs; h < he; ++h)
      for (std::int64_t w = ws; w < we; ++w) acc += Acc(plane[h * d.w + w]);
    y[o] = T(acc / Acc(d.window(p, q).divisor));
  }
}

// Gather: one thread per input element, grid-stride over N*C*H*W; it sums dy / divisor of every
// covering window, in (p, q) order and in T, exactly as the reference scatters them.
template <class T>
__global__ void avg_pool2d_backward_gather_kernel(T* __restrict__ dx, const T* __restrict__ dy,
                                                  Pool2dDesc d, std::int64_t P, std::int64_t Q) {
  const std::int64_t total = d.n * d.c * d.h * d.w;
  for (std::int64_t i = grid_thread_index(); i < total; i += grid_thread_count()) {
    const std::int64_t w = i % d.w, h = (i / d.w) % d.h, nc = i / (d.h * d.w);
    const auto ps = covering_windows(h, d.kernel_h, d.stride_h, d.pad_h, P);
    const auto qs = covering_windows(w, d.kernel_w, d.stride_w, d.pad_w, Q);
    const std::int64_t base = nc * P * Q;
    T acc = T(0);
    for (std::int64_t p = ps.first; p <= ps.last; ++p)
      for (std::int64_t q = qs.first; q <= qs.last; ++q)
        acc += dy[base + p * Q + q] / T(d.window(p, q).divisor);
    dx[i] = acc;
  }
}

template <class T>
struct GlobalAvgGradOfPlane {
  const T* dy;
  T plane;
  __device__ T operator()(std::int64_t nc) const { return dy[nc] / plane; }
};

inline bool valid_pool(const Pool2dDesc& d) {
  return d.n >= 0 && d.c >= 0 && d.h >= 0 && d.w >= 0 && d.kernel_h > 0 && d.kernel_w > 0 &&
         d.stride_h > 0 && d.stride_w > 0 && d.pad_h >= 0 && d.pad_w >= 0;
}

}  // namespace detail

// y = max over each window; argmax (may be null) receives the index h*W + w of the winner within
// its (n, c) plane (int32: planes up to 2^31 elements).
template <class T>
cudaError_t max_pool2d_forward(T* y, std::int32_t* argmax, const T* x, const Pool2dDesc& d,
                               cudaStream_t stream) {
  if (!detail::valid_pool(d)) return cudaErrorInvalidValue;
  const std::int64_t P = d.p(), Q = d.q(), total = d.n * d.c * P * Q;
  if (total <= 0) return cudaSuccess;
  detail::
      max_pool2d_forward_direct_kernel<<<grid_stride_blocks(total), kThreadsPerBlock, 0, stream>>>(
          y, argmax, x, d, P, Q);
  return cudaGetLastError();
}

// dx(i) = sum of dy over the windows whose argmax (from max_pool2d_forward) is i. Writes every dx.
template <class T>
cudaError_t max_pool2d_backward(T* dx, const T* dy, const std::int32_t* argmax, const Pool2dDesc& d,
                                cudaStream_t stream) {
  if (!detail::valid_pool(d)) return cudaErrorInvalidValue;
  const std::int64_t P = d.p(), Q = d.q(), total = d.n * d.c * d.h * d.w;
  if (total == 0) return cudaSuccess;
  if (P <= 0 || Q <= 0) return cudaErrorInvalidValue;
  detail::
      max_pool2d_backward_gather_kernel<<<grid_stride_blocks(total), kThreadsPerBlock, 0, stream>>>(
          dx, dy, argmax, d, P, Q);
  return cudaGetLastError();
}

template <class T>
cudaError_t avg_pool2d_forward(T* y, const T* x, const Pool2dDesc& d, cudaStream_t stream) {
  if (!detail::valid_pool(d)) return cudaErrorInvalidValue;
  const std::int64_t P = d.p(), Q = d.q(), total = d.n * d.c * P * Q;
  if (total <= 0) return cudaSuccess;
  detail::
      avg_pool2d_forward_direct_kernel<<<grid_stride_blocks(total), kThreadsPerBlock, 0, stream>>>(
          y, x, d, P, Q);
  return cudaGetLastError();
}

template <class T>
cudaError_t avg_pool2d_backward(T* dx, const T* dy, const Pool2dDesc& d, cudaStream_t stream) {
  if (!detail::valid_pool(d)) return cudaErrorInvalidValue;
  const std::int64_t P = d.p(), Q = d.q(), total = d.n * d.c * d.h * d.w;
  if (total == 0) return cudaSuccess;
  if (P <= 0 || Q <= 0) return cudaErrorInvalidValue;
  detail::
      avg_pool2d_backward_gather_kernel<<<grid_stride_blocks(total), kThreadsPerBlock, 0, stream>>>(
          dx, dy, d, P, Q);
  return cudaGetLastError();
}

// y(i) = mean of plane i of x; planes = N*C, plane = H*W. One block per plane (deterministic).
template <class T>
cudaError_t global_avg_pool2d_forward(T* y, const T* x, std::int64_t planes, std::int64_t plane,
                                      cudaStream_t stream) {
  if (plane <= 0 && planes > 0) return cudaErrorInvalidValue;
  return detail::launch_plane_sum(y, x, planes, 1, plane, detail::DeviceAccumulator<T>(plane),
                                  stream);
}

// dx(i, j) = dy(i) / plane.
template <class T>
cudaError_t global_avg_pool2d_backward(T* dx, const T* dy, std::int64_t planes, std::int64_t plane,
                                       cudaStream_t stream) {
  return detail::launch_plane_broadcast<false>(
      dx, planes, plane, detail::GlobalAvgGradOfPlane<T>{dy, T(plane)}, stream);
}

}  // namespace tinycnn::kernels::cuda
