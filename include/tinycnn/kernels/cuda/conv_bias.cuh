// The bias gradient of 2-D convolution on CUDA: db(k) = sum over n, p, q of dy(n, k, p, q),
// deterministic (one block per output channel, a fixed-order block reduction, no atomics).
//
// Letters: output gradient dy (N, K, P, Q), bias gradient db (K).
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

#include "tinycnn/kernels/cuda/reduce.cuh"
#include "tinycnn/kernels/problem.hpp"

namespace tinycnn::kernels::cuda {

// db(k) = sum_{n,p,q} dy(n,k,p,q): block k strides over the N planes (n, k) of P*Q elements (in
// 16-byte packets when P*Q is a multiple of 4), compensated float sums per thread, then
// cub::BlockReduce. Overwrites db.
template <class T>
cudaError_t conv2d_backward_bias(T* db, const T* dy, const Conv2dDesc& d, cudaStream_t stream) {
  if (d.n < 0 || d.k < 0) return cudaErrorInvalidValue;
  const std::int64_t P = d.p(), Q = d.q();
  if (P < 0 || Q < 0) return cudaErrorInvalidValue;
  return detail::launch_plane_sum(db, dy, d.k, d.n, P * Q, detail::DeviceAccumulator<T>(1), stream);
}

}  // namespace tinycnn::kernels::cuda
