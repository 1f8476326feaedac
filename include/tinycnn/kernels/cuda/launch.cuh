// Launch-shape helpers shared by the CUDA kernels of this folder: ceil-div, grid sizing for
// grid-stride loops, the 16-byte packet that vectorised loads and stores move, and division by a
// run-time constant (FastDivmod), and the plane-by-plane grids of kernels that index within a
// plane in 32 bits.
#pragma once

#include <algorithm>
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

namespace detail {

// Division by a run-time constant as multiply-high and shift (valid for dividends below 2^31).
struct FastDivmod {
  unsigned divisor = 1, multiplier = 0, shift = 0;

  FastDivmod() = default;
  __host__ explicit FastDivmod(unsigned d) : divisor(d) {
    if (d <= 1) return;
    unsigned log2_ceil = 0;
    while ((1ull << log2_ceil) < d) ++log2_ceil;
    const unsigned p = 31 + log2_ceil;
    multiplier = unsigned(((1ull << p) + d - 1) / d);
    shift = p - 32;
  }
  __device__ __forceinline__ unsigned div(unsigned n) const {
    return divisor == 1 ? n : __umulhi(n, multiplier) >> shift;
  }
};

// Kernels over planes (an image channel, a pooling plane): planes along blockIdx.y (a loop past
// 65535 of them), a plane's elements along x with 32-bit indices, so that their divisions can be
// multiply-shifts. Grid for `planes` planes of `per_plane` elements: up to 65535 planes along y,
// and along x enough blocks for the plane, within kMaxGridStrideBlocks in all.
inline dim3 plane_grid(std::int64_t planes, std::int64_t per_plane) {
  const std::int64_t y = std::min<std::int64_t>(std::max<std::int64_t>(planes, 1), 65535);
  const std::int64_t x = std::min(ceil_div(std::max<std::int64_t>(per_plane, 1), kThreadsPerBlock),
                                  std::max<std::int64_t>(kMaxGridStrideBlocks / y, 1));
  return dim3(unsigned(x), unsigned(y));
}

// The loops of plane_grid: body(plane nc, index i within the plane) for every i < per_plane.
template <class Body>
__device__ __forceinline__ void for_each_in_planes(std::int64_t planes, unsigned per_plane,
                                                   const Body& body) {
  for (std::int64_t nc = blockIdx.y; nc < planes; nc += gridDim.y)
    for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < per_plane;
         i += gridDim.x * blockDim.x)
      body(nc, i);
}

}  // namespace detail

}  // namespace tinycnn::kernels::cuda
