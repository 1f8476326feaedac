// Mean squared error on CUDA: loss = mean((x - target)^2) and its gradient in one pass over x and
// target, reduced deterministically (per-block partials in a caller's workspace, merged by one
// block in a fixed order; no atomics). CUB's two-phase workspace convention.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <cuda_runtime.h>

#include <cub/block/block_reduce.cuh>

#include "tinycnn/kernels/cuda/launch.cuh"
#include "tinycnn/kernels/cuda/reduce.cuh"

namespace tinycnn::kernels::cuda {
namespace detail {

inline constexpr int kMseThreads = 256;
// Elements per thread before another block is added, and the most blocks (partials): enough
// blocks to fill an H100 several times over, few enough that the merge is one small block.
inline constexpr std::int64_t kMseElementsPerThread = 32;
inline constexpr std::int64_t kMseMaxBlocks = 1024;

// The number of partials depends on n only (not on pointer alignment), so the workspace size a
// query returns fits the run whatever pointers the run passes.
inline std::int64_t mse_blocks(std::int64_t n) {
  const std::int64_t blocks = ceil_div(n, kMseThreads * kMseElementsPerThread);
  return blocks < 1 ? 1 : blocks > kMseMaxBlocks ? kMseMaxBlocks : blocks;
}

// partial(b) = sum over block b's elements of (x - target)^2, and dx = (x - target) * norm when dx
// is not null. Grid-stride loop over 16-byte packets (when every pointer is aligned), then single
// elements; each thread keeps a compensated float sum (double for double), cub::BlockReduce adds
// the threads' sums in double in a fixed order.
template <int kThreads, class T>
__global__ void __launch_bounds__(kThreads)
    mse_loss_partials_grid_stride_kernel(double* __restrict__ partial, T* __restrict__ dx,
                                         const T* __restrict__ x, const T* __restrict__ target,
                                         std::int64_t n, std::int64_t packets, T norm) {
  using Acc = DeviceAccumulator<T>;
  using P = Packet<T>;
  using BlockReduce = cub::BlockReduce<double, kThreads>;
  __shared__ typename BlockReduce::TempStorage temp;
  const std::int64_t first = grid_thread_index(), stride = grid_thread_count();
  PlaneSumAccumulator<T> acc;
  for (std::int64_t i = first; i < packets; i += stride) {
    const P vx = reinterpret_cast<const P*>(x)[i], vt = reinterpret_cast<const P*>(target)[i];
    P vd;
    Acc part = 0;
#pragma unroll
    for (int k = 0; k < P::kSize; ++k) {
      const T d = vx.v[k] - vt.v[k];
      part += Acc(d) * Acc(d);
      vd.v[k] = d * norm;
    }
    acc.add(part);
    if (dx) reinterpret_cast<P*>(dx)[i] = vd;
  }
  for (std::int64_t i = packets * P::kSize + first; i < n; i += stride) {
    const T d = x[i] - target[i];
    acc.add(Acc(d) * Acc(d));
    if (dx) dx[i] = d * norm;
  }
  const double total = BlockReduce(temp).Sum(double(acc.value()));
  if (threadIdx.x == 0) partial[blockIdx.x] = total;
}

// loss = (sum of the partials) / n, 0 when n == 0. One block: thread t adds partials t, t +
// kThreads, ... and cub::BlockReduce combines the threads in a fixed order.
template <int kThreads, class T>
__global__ void __launch_bounds__(kThreads)
    mse_loss_merge_single_block_kernel(T* __restrict__ loss, const double* __restrict__ partial,
                                       std::int64_t blocks, std::int64_t n) {
  using BlockReduce = cub::BlockReduce<double, kThreads>;
  __shared__ typename BlockReduce::TempStorage temp;
  double mine = 0;
  for (std::int64_t b = threadIdx.x; b < blocks; b += kThreads) mine += partial[b];
  const double total = BlockReduce(temp).Sum(mine);
  if (threadIdx.x == 0) *loss = n > 0 ? T(total / double(n)) : T(0);
}

}  // namespace detail

// *loss (one device element) = mean((x - target)^2), 0 when n == 0; dx, when not null, receives
// (x - target) * (2 / n), 2 / n rounded to T first (the reference's values, bit for bit).
// CUB's two-phase convention: with workspace == nullptr only *workspace_bytes is written (the
// bytes needed, which depend on n only) and nothing runs; otherwise the workspace must hold that
// many bytes, 8-byte aligned (cudaErrorInvalidValue if not).
template <class T>
cudaError_t mse_loss(T* loss, T* dx, const T* x, const T* target, std::int64_t n, void* workspace,
                     std::size_t* workspace_bytes, cudaStream_t stream) {
  if (n < 0 || !workspace_bytes) return cudaErrorInvalidValue;
  const std::int64_t blocks = detail::mse_blocks(n);
  const std::size_t needed = std::size_t(blocks) * sizeof(double);
  if (workspace == nullptr) {
    *workspace_bytes = needed;
    return cudaSuccess;
  }
  if (*workspace_bytes < needed || reinterpret_cast<std::uintptr_t>(workspace) % alignof(double))
    return cudaErrorInvalidValue;
  auto* partial = static_cast<double*>(workspace);
  constexpr int kSize = Packet<T>::kSize;
  const bool vector = is_aligned16(x) && is_aligned16(target) && (!dx || is_aligned16(dx));
  const std::int64_t packets = vector ? n / kSize : 0;
  const T norm = n > 0 ? T(2.0 / double(n)) : T(0);
  detail::mse_loss_partials_grid_stride_kernel<detail::kMseThreads>
      <<<unsigned(blocks), detail::kMseThreads, 0, stream>>>(partial, dx, x, target, n, packets,
                                                             norm);
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) return e;
  detail::mse_loss_merge_single_block_kernel<detail::kMseThreads>
      <<<1, detail::kMseThreads, 0, stream>>>(loss, partial, blocks, n);
  return cudaGetLastError();
}

}  // namespace tinycnn::kernels::cuda
