// Style-transfer losses on CUDA: squared error against a target, total variation, dot product and
// L1 norm. Each is one memory-bound grid-stride pass that also reduces its loss: every one of the
// kStylePartials blocks writes its partial sum (cub::BlockReduce) to partial[blockIdx.x], and the
// ops layer adds the partials (deterministic: no atomics). Conventions as in
// kernels/reference/style.hpp: grad may be null; grad = beta * grad + scale * gradient.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

#include <cub/block/block_reduce.cuh>

#include "tinycnn/kernels/cuda/launch.cuh"

namespace tinycnn::kernels::cuda {

// Blocks of every style-loss launch, so the number of partial sums: 4 blocks of 256 per SM on a
// 132-SM H100 is ~ 8 warps per scheduler, enough to saturate HBM for a streaming pass.
inline constexpr int kStylePartials = 1024;

namespace detail {

template <class T>
__device__ void store_block_sum(T* partial, float v) {
  using Reduce = cub::BlockReduce<float, kThreadsPerBlock>;
  __shared__ typename Reduce::TempStorage tmp;
  const float s = Reduce(tmp).Sum(v);
  if (threadIdx.x == 0) partial[blockIdx.x] = T(s);
}

template <class T>
__global__ void __launch_bounds__(kThreadsPerBlock)
    squared_error_kernel(T* __restrict__ grad, const T* __restrict__ f, const T* __restrict__ p,
                         std::int64_t n, T scale, T beta, T* __restrict__ partial) {
  float acc = 0.0f;
  const T s2 = scale * T(2);
  for (std::int64_t i = grid_thread_index(); i < n; i += grid_thread_count()) {
    const T d = f[i] - p[i];
    acc += float(d) * float(d);
    if (grad) grad[i] = (beta == T(0) ? T(0) : beta * grad[i]) + s2 * d;
  }
  store_block_sum(partial, acc);
}

template <class T>
__global__ void __launch_bounds__(kThreadsPerBlock)
    tv_loss_kernel(T* __restrict__ grad, const T* __restrict__ x, std::int64_t planes,
                   std::int64_t h, std::int64_t w, T scale, T beta, T* __restrict__ partial) {
  float acc = 0.0f;
  const std::int64_t n = planes * h * w;
  for (std::int64_t idx = grid_thread_index(); idx < n; idx += grid_thread_count()) {
    const std::int64_t j = idx % w, i = (idx / w) % h;
    const T v = x[idx];
    T g = 0;
    if (i + 1 < h) {
      const T d = x[idx + w] - v;
      acc += float(d) * float(d);
      g -= T(2) * d;
    }
    if (j + 1 < w) {
      const T d = x[idx + 1] - v;
      acc += float(d) * float(d);
      g -= T(2) * d;
    }
    if (i > 0) g += T(2) * (v - x[idx - w]);
    if (j > 0) g += T(2) * (v - x[idx - 1]);
    if (grad) grad[idx] = (beta == T(0) ? T(0) : beta * grad[idx]) + scale * g;
  }
  store_block_sum(partial, acc);
}

template <class T>
__global__ void __launch_bounds__(kThreadsPerBlock)
    dot_kernel(T* __restrict__ partial, const T* __restrict__ a, const T* __restrict__ b,
               std::int64_t n) {
  float acc = 0.0f;
  for (std::int64_t i = grid_thread_index(); i < n; i += grid_thread_count())
    acc += float(a[i]) * float(b[i]);
  store_block_sum(partial, acc);
}

template <class T>
__global__ void __launch_bounds__(kThreadsPerBlock)
    abs_sum_kernel(T* __restrict__ partial, const T* __restrict__ a, std::int64_t n) {
  float acc = 0.0f;
  for (std::int64_t i = grid_thread_index(); i < n; i += grid_thread_count()) acc += fabsf(float(a[i]));
  store_block_sum(partial, acc);
}

}  // namespace detail

// partial must hold kStylePartials elements.
template <class T>
cudaError_t squared_error(T* grad, const T* f, const T* p, std::int64_t n, T scale, T beta,
                          T* partial, cudaStream_t stream) {
  detail::squared_error_kernel<<<kStylePartials, kThreadsPerBlock, 0, stream>>>(grad, f, p, n, scale,
                                                                                beta, partial);
  return cudaGetLastError();
}

template <class T>
cudaError_t tv_loss(T* grad, const T* x, std::int64_t planes, std::int64_t h, std::int64_t w,
                    T scale, T beta, T* partial, cudaStream_t stream) {
  detail::tv_loss_kernel<<<kStylePartials, kThreadsPerBlock, 0, stream>>>(grad, x, planes, h, w,
                                                                          scale, beta, partial);
  return cudaGetLastError();
}

template <class T>
cudaError_t dot(T* partial, const T* a, const T* b, std::int64_t n, cudaStream_t stream) {
  detail::dot_kernel<<<kStylePartials, kThreadsPerBlock, 0, stream>>>(partial, a, b, n);
  return cudaGetLastError();
}

template <class T>
cudaError_t abs_sum(T* partial, const T* a, std::int64_t n, cudaStream_t stream) {
  detail::abs_sum_kernel<<<kStylePartials, kThreadsPerBlock, 0, stream>>>(partial, a, n);
  return cudaGetLastError();
}

}  // namespace tinycnn::kernels::cuda
