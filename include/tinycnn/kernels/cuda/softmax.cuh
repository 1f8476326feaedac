// Softmax, log-softmax, their backward passes and softmax cross-entropy on CUDA, over the rows of a
// (rows, cols) matrix. Numerically stable: the row maximum is subtracted before exponentiating.
// Rows of up to kWarpRowCols columns go one warp each; longer rows one block each.
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

#include <cuda_runtime.h>

#include <cub/block/block_reduce.cuh>

#include "tinycnn/kernels/cuda/launch.cuh"
#include "tinycnn/kernels/cuda/reduce.cuh"

namespace tinycnn::kernels::cuda {
namespace detail {

// Past this a warp would walk the row more than 32 times; a block of 256 then finishes it sooner.
inline constexpr std::int64_t kWarpRowCols = 1024;
inline constexpr int kSoftmaxBlockThreads = 256;

__device__ inline float device_exp(float v) {
  return expf(v);
}
__device__ inline double device_exp(double v) {
  return exp(v);
}
__device__ inline float device_log(float v) {
  return logf(v);
}
__device__ inline double device_log(double v) {
  return log(v);
}
__device__ inline float device_max(float a, float b) {
  return fmaxf(a, b);
}
__device__ inline double device_max(double a, double b) {
  return fmax(a, b);
}

// Sum and max across the 32 lanes of a warp; the xor butterfly leaves the same bits in every lane.
struct WarpRowReducer {
  template <class A>
  __device__ A sum(A v) const {
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
  }
  template <class A>
  __device__ A max(A v) const {
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2)
      v = device_max(v, __shfl_xor_sync(0xffffffffu, v, offset));
    return v;
  }
};

// Sum and max across a block of kThreads, the result broadcast to every thread through shared
// memory (the syncs let the next call reuse the same storage).
template <class A, int kThreads>
struct BlockRowReducer {
  using BlockReduce = cub::BlockReduce<A, kThreads>;
  struct Storage {
    typename BlockReduce::TempStorage temp;
    A result;
  };
  Storage& storage;
  __device__ A broadcast(A v) const {
    if (threadIdx.x == 0) storage.result = v;
    __syncthreads();
    const A r = storage.result;
    __syncthreads();
    return r;
  }
  __device__ A sum(A v) const { return broadcast(BlockReduce(storage.temp).Sum(v)); }
  __device__ A max(A v) const {
    return broadcast(
        BlockReduce(storage.temp).Reduce(v, [](A a, A b) { return device_max(a, b); }));
  }
};

enum class SoftmaxOp { kForward, kLogForward, kBackward, kLogBackward };

// One row, shared by `width` threads of which this is `lane` (a warp or a block). Forward ops read
// a = x; backward ops read a = dy, b = y (the forward output). Each thread reads columns lane,
// lane + width, ...; out may alias a (each element is read before the same thread writes it).
template <SoftmaxOp kOp, class T, class Reducer>
__device__ void softmax_row(T* out, const T* a, const T* b, std::int64_t cols, int lane, int width,
                            const Reducer& reduce) {
  using Acc = DeviceAccumulator<T>;
  if constexpr (kOp == SoftmaxOp::kForward || kOp == SoftmaxOp::kLogForward) {
    Acc mx = Acc(-INFINITY);
    for (std::int64_t j = lane; j < cols; j += width) mx = device_max(mx, Acc(a[j]));
    mx = reduce.max(mx);
    Acc sum = 0;
    for (std::int64_t j = lane; j < cols; j += width) sum += device_exp(Acc(a[j]) - mx);
    sum = reduce.sum(sum);
    if constexpr (kOp == SoftmaxOp::kForward) {
      for (std::int64_t j = lane; j < cols; j += width)
        out[j] = T(device_exp(Acc(a[j]) - mx) / sum);
    } else {
      // (x - max) is exact for logits within a factor 2 of the maximum; subtracting log(sum)
      // from it, rather than x - (max + log(sum)), keeps the rounding error of a large max out.
      const Acc log_sum = device_log(sum);
      for (std::int64_t j = lane; j < cols; j += width) out[j] = T((Acc(a[j]) - mx) - log_sum);
    }
  } else if constexpr (kOp == SoftmaxOp::kBackward) {  // dx = y * (dy - sum_j dy_j y_j)
    Acc dot = 0;
    for (std::int64_t j = lane; j < cols; j += width) dot += Acc(a[j]) * Acc(b[j]);
    dot = reduce.sum(dot);
    for (std::int64_t j = lane; j < cols; j += width) out[j] = T(Acc(b[j]) * (Acc(a[j]) - dot));
  } else {  // dx = dy - exp(y) * sum_j dy_j
    Acc sum = 0;
    for (std::int64_t j = lane; j < cols; j += width) sum += Acc(a[j]);
    sum = reduce.sum(sum);
    for (std::int64_t j = lane; j < cols; j += width)
      out[j] = T(Acc(a[j]) - device_exp(Acc(b[j])) * sum);
  }
}

// One warp per row: block of 256 threads = 8 rows, grid-stride over rows by warps.
template <SoftmaxOp kOp, class T>
__global__ void softmax_warp_per_row_kernel(T* out, const T* a, const T* b, std::int64_t rows,
                                            std::int64_t cols) {
  const int lane = int(threadIdx.x % 32);
  const std::int64_t warps = grid_thread_count() / 32;
  for (std::int64_t r = grid_thread_index() / 32; r < rows; r += warps)
    softmax_row<kOp>(out + r * cols, a + r * cols, b ? b + r * cols : nullptr, cols, lane, 32,
                     WarpRowReducer{});
}

// One block of kSoftmaxBlockThreads per row, grid-stride over rows by blocks.
template <SoftmaxOp kOp, class T>
__global__ void __launch_bounds__(kSoftmaxBlockThreads)
    softmax_block_per_row_kernel(T* out, const T* a, const T* b, std::int64_t rows,
                                 std::int64_t cols) {
  using Reducer = BlockRowReducer<DeviceAccumulator<T>, kSoftmaxBlockThreads>;
  __shared__ typename Reducer::Storage storage;
  for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x)
    softmax_row<kOp>(out + r * cols, a + r * cols, b ? b + r * cols : nullptr, cols,
                     int(threadIdx.x), kSoftmaxBlockThreads, Reducer{storage});
}

template <SoftmaxOp kOp, class T>
cudaError_t launch_softmax(T* out, const T* a, const T* b, std::int64_t rows, std::int64_t cols,
                           cudaStream_t stream) {
  if (rows < 0 || cols < 0) return cudaErrorInvalidValue;
  if (rows == 0 || cols == 0) return cudaSuccess;
  if (cols <= kWarpRowCols) {
    const int grid = grid_stride_blocks(rows * 32);
    softmax_warp_per_row_kernel<kOp><<<grid, kThreadsPerBlock, 0, stream>>>(out, a, b, rows, cols);
  } else {
    const int grid = int(rows < kMaxGridStrideBlocks ? rows : kMaxGridStrideBlocks);
    softmax_block_per_row_kernel<kOp>
        <<<grid, kSoftmaxBlockThreads, 0, stream>>>(out, a, b, rows, cols);
  }
  return cudaGetLastError();
}

inline constexpr int kCrossEntropyThreads = 1024;

// A single block of 1024 threads = 32 warps; warp w takes rows w, w + 32, ... and adds their losses
// in that order, then thread 0 adds the 32 warp totals in warp order. The launcher has no
// workspace for per-block partials, and a single block is what makes the mean deterministic
// without one; a batch of logits (rows = batch size) is small enough for it.
template <class T>
__global__ void __launch_bounds__(kCrossEntropyThreads)
    softmax_cross_entropy_single_block_kernel(T* loss, T* dlogits, const T* logits,
                                              const std::int32_t* labels, std::int64_t rows,
                                              std::int64_t cols, std::int32_t* invalid_labels) {
  using Acc = DeviceAccumulator<T>;
  constexpr int kWarps = kCrossEntropyThreads / 32;
  __shared__ double warp_loss[kWarps];
  __shared__ std::int64_t warp_invalid[kWarps];
  const int lane = int(threadIdx.x % 32), warp = int(threadIdx.x / 32);
  const WarpRowReducer reduce;
  double total = 0;
  std::int64_t invalid = 0;
  for (std::int64_t r = warp; r < rows; r += kWarps) {
    const T* x = logits + r * cols;
    const std::int32_t label = labels[r];
    const bool valid = label >= 0 && label < cols;
    Acc mx = Acc(-INFINITY);
    for (std::int64_t j = lane; j < cols; j += 32) mx = device_max(mx, Acc(x[j]));
    mx = reduce.max(mx);
    Acc sum = 0;
    for (std::int64_t j = lane; j < cols; j += 32) sum += device_exp(Acc(x[j]) - mx);
    // log softmax(x)_j = (x_j - max) - log(sum), as in the log-softmax kernel above.
    const Acc log_sum = device_log(reduce.sum(sum));
    if (valid)
      total += double(log_sum) - (double(x[label]) - double(mx));
    else
      ++invalid;
    if (dlogits) {
      T* g = dlogits + r * cols;
      // A row with an invalid label contributes nothing, to the gradient either.
      for (std::int64_t j = lane; j < cols; j += 32)
        g[j] = valid ? T((device_exp((Acc(x[j]) - mx) - log_sum) - (j == label ? Acc(1) : Acc(0))) /
                         Acc(rows))
                     : T(0);
    }
  }
  if (lane == 0) warp_loss[warp] = total, warp_invalid[warp] = invalid;
  __syncthreads();
  if (threadIdx.x == 0) {
    double sum = 0;
    std::int64_t bad = 0;
    for (int w = 0; w < kWarps; ++w) sum += warp_loss[w], bad += warp_invalid[w];
    *loss = rows > 0 ? T(sum / double(rows)) : T(0);
    if (invalid_labels) *invalid_labels = std::int32_t(bad);
  }
}

}  // namespace detail

template <class T>
cudaError_t softmax_forward(T* y, const T* x, std::int64_t rows, std::int64_t cols,
                            cudaStream_t stream) {
  return detail::launch_softmax<detail::SoftmaxOp::kForward>(y, x, static_cast<const T*>(nullptr),
                                                             rows, cols, stream);
}

template <class T>
cudaError_t log_softmax_forward(T* y, const T* x, std::int64_t rows, std::int64_t cols,
                                cudaStream_t stream) {
  return detail::launch_softmax<detail::SoftmaxOp::kLogForward>(
      y, x, static_cast<const T*>(nullptr), rows, cols, stream);
}

// dx = y * (dy - sum_j dy_j y_j), y the softmax output; dx may alias dy.
template <class T>
cudaError_t softmax_backward(T* dx, const T* dy, const T* y, std::int64_t rows, std::int64_t cols,
                             cudaStream_t stream) {
  return detail::launch_softmax<detail::SoftmaxOp::kBackward>(dx, dy, y, rows, cols, stream);
}

// dx = dy - exp(y) * sum_j dy_j, y the log-softmax output; dx may alias dy.
template <class T>
cudaError_t log_softmax_backward(T* dx, const T* dy, const T* y, std::int64_t rows,
                                 std::int64_t cols, cudaStream_t stream) {
  return detail::launch_softmax<detail::SoftmaxOp::kLogBackward>(dx, dy, y, rows, cols, stream);
}

// *loss = mean over rows of -log softmax(logits)[label]; dlogits (may be null) receives
// (softmax - onehot(label)) / rows. A label outside [0, cols) is counted in *invalid_labels (may
// be null) and its row contributes 0 to the loss and 0 to dlogits; the mean still divides by rows.
// rows == 0 gives a loss of 0.
template <class T>
cudaError_t softmax_cross_entropy(T* loss, T* dlogits, const T* logits, const std::int32_t* labels,
                                  std::int64_t rows, std::int64_t cols,
                                  std::int32_t* invalid_labels, cudaStream_t stream) {
  if (rows < 0 || cols <= 0) return cudaErrorInvalidValue;
  detail::softmax_cross_entropy_single_block_kernel<<<1, detail::kCrossEntropyThreads, 0, stream>>>(
      loss, dlogits, logits, labels, rows, cols, invalid_labels);
  return cudaGetLastError();
}

}  // namespace tinycnn::kernels::cuda
