// Launch-shape helpers shared by the CUDA kernels of this folder: ceil-div, grid sizing for
// grid-stride loops, and the 16-byte packet that vectorised loads and stores move.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

#include "tinycnn/core/device.hpp"

namespace tinycnn::kernels::cuda {

inline constexpr int kThreadsPerBlock = 256;

// Enough blocks of 256 to keep every SM of any current GPU busy several times over; past this a
// grid-stride loop gives each thread more elements instead of launching more blocks.
inline constexpr std::int64_t kMaxGridStrideBlocks = 65536;

TINYCNN_HOST_DEVICE constexpr std::int64_t ceil_div(std::int64_t a, std::int64_t b) {
  return (a + b - 1) / b;
}

// Blocks for a grid-stride loop over `items` with `threads` per block (at least 1, so a launch
// over zero items is still a valid configuration).
inline int grid_stride_blocks(std::int64_t items, int threads = kThreadsPerBlock) {
  const std::int64_t blocks = ceil_div(items, threads);
  return int(blocks < 1 ? 1 : blocks > kMaxGridStrideBlocks ? kMaxGridStrideBlocks : blocks);
}

// Flat index of this thread and the stride of a grid-stride loop, both 64-bit: tensors of 2^31+
// elements occur at 8K resolution.
__device__ inline std::int64_t grid_thread_index() {
  return std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ inline std::int64_t grid_thread_count() {
  return std::int64_t(gridDim.x) * blockDim.x;
}

// 16 bytes of T: one vectorised load or store (LDG.128 / STG.128).
template <class T>
struct alignas(16) Packet {
  static_assert(16 % sizeof(T) == 0, "Packet<T>: sizeof(T) must divide 16");
  static constexpr int kSize = int(16 / sizeof(T));
  T v[kSize];
};

inline bool is_aligned16(const void* p) {
  return (reinterpret_cast<std::uintptr_t>(p) & 15u) == 0;
}

}  // namespace tinycnn::kernels::cuda
