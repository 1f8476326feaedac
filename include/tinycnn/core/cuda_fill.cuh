// Fill device memory with one value: the only kernel core/ owns, so Tensor::fill works on CUDA.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace tinycnn::detail {

// Grid-stride loop: each thread writes every (gridDim.x * blockDim.x)-th element.
template <class T>
__global__ void fill_grid_stride_kernel(T* __restrict__ out, std::int64_t n, T value) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
       i += std::int64_t(gridDim.x) * blockDim.x)
    out[i] = value;
}

template <class T>
cudaError_t fill_device(T* out, std::int64_t n, T value, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  constexpr int kThreads = 256;
  const std::int64_t blocks = (n + kThreads - 1) / kThreads;
  const int grid = int(blocks < 65536 ? blocks : 65536);
  fill_grid_stride_kernel<<<grid, kThreads, 0, stream>>>(out, n, value);
  return cudaGetLastError();
}

}  // namespace tinycnn::detail
