// Pooling on CUDA: max and average 2-D pooling forward and backward (PyTorch's ceil_mode and
// divisor rules, as in kernels/reference/pool.hpp), and global average pooling. Backward passes are
// gathers: each input element sums the contributions of the windows that cover it, in the
// reference's (p, q) order, so results are deterministic and need neither atomics nor a zero fill.
//
// Letters: input x (N, C, H, W), window (kernel_h, kernel_w), output y (N, C, P, Q).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include <cuda_runtime.h>

#include "tinycnn/kernels/cuda/elementwise.cuh"
#include "tinycnn/kernels/cuda/launch.cuh"
#include "tinycnn/kernels/cuda/reduce.cuh"
#include "tinycnn/kernels/problem.hpp"

namespace tinycnn::kernels::cuda {
namespace detail {

// The per-plane view of a pooling problem that the kernels index with: planes (n, c) go along
// blockIdx.y (a loop past 65535 planes), a plane's elements along x in a grid-stride loop, so a
// thread's indices are 32-bit and its divisions multiply-shifts (FastDivmod). With flat 64-bit
// indices, the divisions made the kernels compute-bound at a fraction of memory bandwidth. Needs
// input and output planes below 2^31 elements (checked at launch; the argmax is int32 anyway).
struct PoolPlanes {
  std::int64_t planes = 0;
  int h = 0, w = 0, p = 0, q = 0;
  int kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  FastDivmod div_w, div_q, div_stride_h, div_stride_w;
};

inline bool make_pool_planes(const Pool2dDesc& d, std::int64_t P, std::int64_t Q, PoolPlanes& s) {
  constexpr std::int64_t kMax = 0x7fffffff;
  const std::int64_t dims[] = {d.h,        d.w,        P,          Q,       d.kernel_h,
                               d.kernel_w, d.stride_h, d.stride_w, d.pad_h, d.pad_w};
  for (const std::int64_t v : dims)
    if (v < 0 || v > (1 << 30)) return false;
  // Window origins p * stride - pad and ends stay within [-pad, h + pad]: int when h + 2 pad is.
  if (d.h * d.w > kMax || P * Q > kMax || d.h + 2 * d.pad_h > kMax || d.w + 2 * d.pad_w > kMax)
    return false;
  s.planes = d.n * d.c;
  s.h = int(d.h), s.w = int(d.w), s.p = int(P), s.q = int(Q);
  s.kernel_h = int(d.kernel_h), s.kernel_w = int(d.kernel_w);
  s.stride_h = int(d.stride_h), s.stride_w = int(d.stride_w);
  s.pad_h = int(d.pad_h), s.pad_w = int(d.pad_w);
  s.div_w = FastDivmod(unsigned(s.w > 0 ? s.w : 1)),
  s.div_q = FastDivmod(unsigned(s.q > 0 ? s.q : 1));
  s.div_stride_h = FastDivmod(unsigned(s.stride_h)),
  s.div_stride_w = FastDivmod(unsigned(s.stride_w));
  return true;
}

// Output rows p (or columns q) whose window covers input row h: p * stride - pad <= h and
// h < p * stride - pad + kernel, clipped to [0, P). Empty when first > last.
struct CoverRange {
  int first, last;  // inclusive
};
__device__ __forceinline__ CoverRange covering_windows(int h, int kernel, const FastDivmod& stride,
                                                       int pad, int out) {
  const int hp = h + pad;
  const int first = hp < kernel ? 0 : int(stride.div(unsigned(hp - kernel))) + 1;
  const int last = min(int(stride.div(unsigned(hp))), out - 1);
  return {first, last};
}

// Output element o = p*Q + q of a plane and its window clipped to the input: rows [hs, he),
// columns [ws, we).
struct ClippedWindow {
  int p, q, hs, he, ws, we;
};
__device__ __forceinline__ ClippedWindow clipped_window(const PoolPlanes& s, unsigned o) {
  const int p = int(s.div_q.div(o)), q = int(o) - p * s.q;
  const int h0 = p * s.stride_h - s.pad_h, w0 = q * s.stride_w - s.pad_w;
  return {p, q, max(h0, 0), min(h0 + s.kernel_h, s.h), max(w0, 0), min(w0 + s.kernel_w, s.w)};
}

// One thread per output element (n, c, p, q); consecutive threads take consecutive q, so a warp
// reads its window rows as contiguous runs.
template <class T>
__global__ void max_pool2d_forward_direct_kernel(T* __restrict__ y,
                                                 std::int32_t* __restrict__ argmax,
                                                 const T* __restrict__ x, const PoolPlanes s,
                                                 bool positive_only) {
  for_each_in_planes(s.planes, unsigned(s.p) * unsigned(s.q), [&](std::int64_t nc, unsigned o) {
    const ClippedWindow win = clipped_window(s, o);
    const T* plane = x + nc * (std::int64_t(s.h) * s.w);
    T best = T(-INFINITY);
    int best_i = -1;
    for (int h = win.hs; h < win.he; ++h)
      for (int w = win.ws; w < win.we; ++w) {
        const T v = plane[h * s.w + w];
        // The first NaN wins and stays, as in the reference (and PyTorch); ties keep the first.
        if (best_i < 0 || v > best || (v != v && best == best)) best = v, best_i = h * s.w + w;
      }
    const std::int64_t out = nc * (std::int64_t(s.p) * s.q) + o;
    y[out] = best;
    if (positive_only && !(best > T(0))) best_i = -1;
    if (argmax) argmax[out] = std::int32_t(best_i);
  });
}

// Gather: one thread per input element (n, c, h, w); it sums, in (p, q) order, dy of every
// covering window whose argmax names it (at most ceil(kernel/stride)^2 windows).
template <class T>
__global__ void max_pool2d_backward_gather_kernel(T* __restrict__ dx, const T* __restrict__ dy,
                                                  const std::int32_t* __restrict__ argmax,
                                                  const PoolPlanes s) {
  for_each_in_planes(s.planes, unsigned(s.h) * unsigned(s.w), [&](std::int64_t nc, unsigned i) {
    const int h = int(s.div_w.div(i)), w = int(i) - h * s.w;
    const auto ps = covering_windows(h, s.kernel_h, s.div_stride_h, s.pad_h, s.p);
    const auto qs = covering_windows(w, s.kernel_w, s.div_stride_w, s.pad_w, s.q);
    const std::int64_t base = nc * (std::int64_t(s.p) * s.q);
    const std::int32_t* am = argmax + base;
    const T* g = dy + base;
    T acc = T(0);
    for (int p = ps.first; p <= ps.last; ++p)
      for (int q = qs.first; q <= qs.last; ++q)
        if (am[p * s.q + q] == std::int32_t(i)) acc += g[p * s.q + q];
    dx[nc * (std::int64_t(s.h) * s.w) + i] = acc;
  });
}

// The same gather on a 2-D grid: blockIdx.x/threadIdx.x walk columns (32 per block), blockIdx.y/
// threadIdx.y rows (8 per block), blockIdx.z planes (a loop past gridDim.z). A thread finds its
// covering windows once and reuses them for every plane it takes, and indexes within a plane in
// 32 bits: no division per element. The flat kernel above spent ~190 instructions per element and
// was issue-bound (ncu: 81 % SM throughput, 11 % of DRAM's, NIN pool0 at 2048 px; docs/notes/
// cuda-small-kernels.md). Same sums in the same (p, q) order, so the same bits.
template <class T>
__global__ void __launch_bounds__(256)
    max_pool2d_backward_gather_2d_kernel(T* __restrict__ dx, const T* __restrict__ dy,
                                         const std::int32_t* __restrict__ argmax,
                                         const PoolPlanes s) {
  const int w = int(blockIdx.x) * 32 + int(threadIdx.x);
  const int h = int(blockIdx.y) * 8 + int(threadIdx.y);
  if (h >= s.h || w >= s.w) return;
  const auto ps = covering_windows(h, s.kernel_h, s.div_stride_h, s.pad_h, s.p);
  const auto qs = covering_windows(w, s.kernel_w, s.div_stride_w, s.pad_w, s.q);
  const std::int32_t i = h * s.w + w;
  const std::int64_t in_plane = std::int64_t(s.h) * s.w, out_plane = std::int64_t(s.p) * s.q;
  for (std::int64_t nc = blockIdx.z; nc < s.planes; nc += gridDim.z) {
    const std::int32_t* am = argmax + nc * out_plane;
    const T* g = dy + nc * out_plane;
    T acc = T(0);
    for (int p = ps.first; p <= ps.last; ++p)
      for (int q = qs.first; q <= qs.last; ++q) {
        const int o = p * s.q + q;
        if (__ldg(am + o) == i) acc += g[o];
      }
    dx[nc * in_plane + i] = acc;
  }
}

// One thread per output element; sums its window in the accumulator type.
template <class T>
__global__ void avg_pool2d_forward_direct_kernel(T* __restrict__ y, const T* __restrict__ x,
                                                 const Pool2dDesc d, const PoolPlanes s) {
  using Acc = DeviceAccumulator<T>;
  for_each_in_planes(s.planes, unsigned(s.p) * unsigned(s.q), [&](std::int64_t nc, unsigned o) {
    const ClippedWindow win = clipped_window(s, o);
    const T* plane = x + nc * (std::int64_t(s.h) * s.w);
    Acc acc = 0;
    for (int h = win.hs; h < win.he; ++h)
      for (int w = win.ws; w < win.we; ++w) acc += Acc(plane[h * s.w + w]);
    y[nc * (std::int64_t(s.p) * s.q) + o] = T(acc / Acc(d.window(win.p, win.q).divisor));
  });
}

// Gather: one thread per input element; it sums dy / divisor of every covering window, in (p, q)
// order and in T, exactly as the reference scatters them.
template <class T>
__global__ void avg_pool2d_backward_gather_kernel(T* __restrict__ dx, const T* __restrict__ dy,
                                                  const Pool2dDesc d, const PoolPlanes s) {
  for_each_in_planes(s.planes, unsigned(s.h) * unsigned(s.w), [&](std::int64_t nc, unsigned i) {
    const int h = int(s.div_w.div(i)), w = int(i) - h * s.w;
    const auto ps = covering_windows(h, s.kernel_h, s.div_stride_h, s.pad_h, s.p);
    const auto qs = covering_windows(w, s.kernel_w, s.div_stride_w, s.pad_w, s.q);
    const T* g = dy + nc * (std::int64_t(s.p) * s.q);
    T acc = T(0);
    for (int p = ps.first; p <= ps.last; ++p)
      for (int q = qs.first; q <= qs.last; ++q) acc += g[p * s.q + q] / T(d.window(p, q).divisor);
    dx[nc * (std::int64_t(s.h) * s.w) + i] = acc;
  });
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
// its (n, c) plane (int32: planes up to 2^31 elements). positive_only: -1 for windows whose maximum
// is not positive, as in the reference (a ReLU's backward folded into the pooling's).
template <class T>
cudaError_t max_pool2d_forward(T* y, std::int32_t* argmax, const T* x, const Pool2dDesc& d,
                               bool positive_only, cudaStream_t stream) {
  if (!detail::valid_pool(d)) return cudaErrorInvalidValue;
  const std::int64_t P = d.p(), Q = d.q(), total = d.n * d.c * P * Q;
  if (total <= 0) return cudaSuccess;
  detail::PoolPlanes s;
  if (!detail::make_pool_planes(d, P, Q, s)) return cudaErrorInvalidValue;
  detail::max_pool2d_forward_direct_kernel<<<detail::plane_grid(s.planes, P * Q), kThreadsPerBlock,
                                             0, stream>>>(y, argmax, x, s, positive_only);
  return cudaGetLastError();
}

template <class T>
cudaError_t max_pool2d_forward(T* y, std::int32_t* argmax, const T* x, const Pool2dDesc& d,
                               cudaStream_t stream) {
  return max_pool2d_forward(y, argmax, x, d, false, stream);
}

// dx(i) = sum of dy over the windows whose argmax (from max_pool2d_forward) is i. Writes every dx.
template <class T>
cudaError_t max_pool2d_backward(T* dx, const T* dy, const std::int32_t* argmax, const Pool2dDesc& d,
                                cudaStream_t stream) {
  if (!detail::valid_pool(d)) return cudaErrorInvalidValue;
  const std::int64_t P = d.p(), Q = d.q(), total = d.n * d.c * d.h * d.w;
  if (total == 0) return cudaSuccess;
  if (P <= 0 || Q <= 0) return cudaErrorInvalidValue;
  detail::PoolPlanes s;
  if (!detail::make_pool_planes(d, P, Q, s)) return cudaErrorInvalidValue;
  const std::int64_t col_blocks = (d.w + 31) / 32, row_blocks = (d.h + 7) / 8;
  if (row_blocks <= 65535) {  // every plane the pooling layers of VGG and NIN have
    // Up to 4 planes per thread (the covering windows found once serve them all), while keeping
    // at least 2048 blocks in flight.
    const std::int64_t xy = col_blocks * row_blocks;
    const std::int64_t z =
        std::min<std::int64_t>(s.planes, std::max(ceil_div(s.planes, 4), ceil_div(2048, xy)));
    detail::max_pool2d_backward_gather_2d_kernel<<<dim3(unsigned(col_blocks), unsigned(row_blocks),
                                                        unsigned(std::min<std::int64_t>(z, 65535))),
                                                   dim3(32, 8), 0, stream>>>(dx, dy, argmax, s);
  } else {  // planes of more than 524280 rows: the flat walk
    detail::max_pool2d_backward_gather_kernel<<<detail::plane_grid(s.planes, d.h * d.w),
                                                kThreadsPerBlock, 0, stream>>>(dx, dy, argmax, s);
  }
  return cudaGetLastError();
}

template <class T>
cudaError_t avg_pool2d_forward(T* y, const T* x, const Pool2dDesc& d, cudaStream_t stream) {
  if (!detail::valid_pool(d)) return cudaErrorInvalidValue;
  const std::int64_t P = d.p(), Q = d.q(), total = d.n * d.c * P * Q;
  if (total <= 0) return cudaSuccess;
  detail::PoolPlanes s;
  if (!detail::make_pool_planes(d, P, Q, s)) return cudaErrorInvalidValue;
  detail::avg_pool2d_forward_direct_kernel<<<detail::plane_grid(s.planes, P * Q), kThreadsPerBlock,
                                             0, stream>>>(y, x, d, s);
  return cudaGetLastError();
}

template <class T>
cudaError_t avg_pool2d_backward(T* dx, const T* dy, const Pool2dDesc& d, cudaStream_t stream) {
  if (!detail::valid_pool(d)) return cudaErrorInvalidValue;
  const std::int64_t P = d.p(), Q = d.q(), total = d.n * d.c * d.h * d.w;
  if (total == 0) return cudaSuccess;
  if (P <= 0 || Q <= 0) return cudaErrorInvalidValue;
  detail::PoolPlanes s;
  if (!detail::make_pool_planes(d, P, Q, s)) return cudaErrorInvalidValue;
  detail::avg_pool2d_backward_gather_kernel<<<detail::plane_grid(s.planes, d.h * d.w),
                                              kThreadsPerBlock, 0, stream>>>(dx, dy, d, s);
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
