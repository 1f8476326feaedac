// Seeded fills on CUDA: element i is a pure function of (seed, i) through the same counter-based
// generator as the CPU (core/random.hpp), so a seeded tensor is the same on every device.
#pragma once

#include <cstdint>
#include <type_traits>

#include <cuda_runtime.h>

#include "tinycnn/core/random.hpp"
#include "tinycnn/kernels/cuda/launch.cuh"

namespace tinycnn::kernels::cuda {
namespace detail {

template <class T>
struct UniformValue {
  std::uint64_t seed;
  T lo, span;  // span = hi - lo, formed on the host like the reference's (hi - lo)
  // One explicit fused multiply-add: nvcc would contract lo + span * u into one anyway, and
  // spelling it out keeps the rounding fixed whatever the compiler flags (see the design note).
  __device__ T operator()(std::int64_t i) const {
    const T u = T(tinycnn::detail::uniform01(seed, std::uint64_t(i)));
    if constexpr (std::is_same_v<T, float>)
      return __fmaf_rn(span, u, lo);
    else if constexpr (std::is_same_v<T, double>)
      return __fma_rn(span, u, lo);
    else
      return T(lo + span * u);
  }
};

template <class T>
struct NormalValue {
  std::uint64_t seed;
  double mean, stddev;
  __device__ T operator()(std::int64_t i) const {
    return T(__fma_rn(stddev, tinycnn::detail::normal01(seed, std::uint64_t(i)), mean));
  }
};

// Grid-stride loop over 16-byte packets of x (single elements when x is misaligned, and for the
// tail); thread t computes every element of the packets it writes.
template <class T, class ValueOf>
__global__ void fill_packet_grid_stride_kernel(T* __restrict__ x, std::int64_t n,
                                               std::int64_t packets, ValueOf value_of) {
  using P = Packet<T>;
  const std::int64_t first = grid_thread_index(), stride = grid_thread_count();
  for (std::int64_t i = first; i < packets; i += stride) {
    P v;
#pragma unroll
    for (int k = 0; k < P::kSize; ++k) v.v[k] = value_of(i * P::kSize + k);
    reinterpret_cast<P*>(x)[i] = v;
  }
  for (std::int64_t i = packets * P::kSize + first; i < n; i += stride) x[i] = value_of(i);
}

template <class T, class ValueOf>
cudaError_t launch_fill(T* x, std::int64_t n, ValueOf value_of, cudaStream_t stream) {
  if (n < 0) return cudaErrorInvalidValue;
  if (n == 0) return cudaSuccess;
  const std::int64_t packets = is_aligned16(x) ? n / Packet<T>::kSize : 0;
  fill_packet_grid_stride_kernel<<<grid_stride_blocks(packets > 0 ? packets : n), kThreadsPerBlock,
                                   0, stream>>>(x, n, packets, value_of);
  return cudaGetLastError();
}

}  // namespace detail

// x(i) uniform in [lo, hi): the reference's values, bit for bit when the reference's
// lo + (hi - lo) * u is evaluated as one fused multiply-add (see docs/notes/cuda-small-kernels.md).
template <class T>
cudaError_t uniform_fill(T* x, std::int64_t n, std::uint64_t seed, std::type_identity_t<T> lo,
                         std::type_identity_t<T> hi, cudaStream_t stream) {
  return detail::launch_fill(x, n, detail::UniformValue<T>{seed, lo, T(hi - lo)}, stream);
}

// x(i) normal with the given mean and standard deviation; within one float ulp of the reference
// (the device's double log and cos may round differently from the host's).
template <class T>
cudaError_t normal_fill(T* x, std::int64_t n, std::uint64_t seed, std::type_identity_t<T> mean,
                        std::type_identity_t<T> stddev, cudaStream_t stream) {
  return detail::launch_fill(x, n, detail::NormalValue<T>{seed, double(mean), double(stddev)},
                             stream);
}

}  // namespace tinycnn::kernels::cuda
