// Dropout on CUDA without a stored mask: element i is kept when uniform01(seed, i) >= p (the
// counter-based generator of core/random.hpp), so backward recomputes the forward's mask from the
// seed and the result is the reference's, bit for bit, on any launch configuration.
#pragma once

#include <cstdint>
#include <type_traits>

#include <cuda_runtime.h>

#include "tinycnn/core/random.hpp"
#include "tinycnn/kernels/cuda/launch.cuh"

namespace tinycnn::kernels::cuda {
namespace detail {

template <class T>
__device__ inline T dropout_value(T x, std::int64_t i, T p, T scale, std::uint64_t seed) {
  return T(tinycnn::detail::uniform01(seed, std::uint64_t(i))) >= p ? x * scale : T(0);
}

// y(i) = x(i) * scale where kept, else 0. Grid-stride loop: thread t takes 16-byte packets t,
// t + T, ... (all of them when x and y are aligned, none otherwise), then single elements of the
// tail the same way. y may alias x: each element is read before it is written, by one thread.
template <class T>
__global__ void dropout_packet_grid_stride_kernel(T* y, const T* x, std::int64_t n,
                                                  std::int64_t packets, T p, T scale,
                                                  std::uint64_t seed) {
  using P = Packet<T>;
  const std::int64_t first = grid_thread_index(), stride = grid_thread_count();
  for (std::int64_t i = first; i < packets; i += stride) {
    P v = reinterpret_cast<const P*>(x)[i];
#pragma unroll
    for (int k = 0; k < P::kSize; ++k) v.v[k] = dropout_value(v.v[k], i * P::kSize + k, p, scale, seed);
    reinterpret_cast<P*>(y)[i] = v;
  }
  for (std::int64_t i = packets * P::kSize + first; i < n; i += stride)
    y[i] = dropout_value(x[i], i, p, scale, seed);
}

template <class T>
cudaError_t launch_dropout(T* y, const T* x, std::int64_t n, T p, std::uint64_t seed,
                           cudaStream_t stream) {
  if (n < 0 || !(p >= T(0) && p <= T(1))) return cudaErrorInvalidValue;
  if (n == 0) return cudaSuccess;
  const T scale = T(1) / (T(1) - p);  // formed on the host, as the reference forms it
  const std::int64_t packets = is_aligned16(y) && is_aligned16(x) ? n / Packet<T>::kSize : 0;
  dropout_packet_grid_stride_kernel<<<grid_stride_blocks(packets > 0 ? packets : n),
                                      kThreadsPerBlock, 0, stream>>>(y, x, n, packets, p, scale,
                                                                     seed);
  return cudaGetLastError();
}

}  // namespace detail

// y = x / (1 - p) where uniform01(seed, i) >= p, else 0 (p == 1 drops everything); y may alias x.
// p outside [0, 1] (or NaN) gives cudaErrorInvalidValue.
template <class T>
cudaError_t dropout_forward(T* y, const T* x, std::int64_t n, std::type_identity_t<T> p,
                            std::uint64_t seed, cudaStream_t stream) {
  return detail::launch_dropout(y, x, n, T(p), seed, stream);
}

// dx = dy / (1 - p) on the forward's mask (same seed), else 0; dx may alias dy.
template <class T>
cudaError_t dropout_backward(T* dx, const T* dy, std::int64_t n, std::type_identity_t<T> p,
                             std::uint64_t seed, cudaStream_t stream) {
  return detail::launch_dropout(dx, dy, n, T(p), seed, stream);
}

}  // namespace tinycnn::kernels::cuda
