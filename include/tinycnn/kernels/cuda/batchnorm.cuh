// Batch normalisation on CUDA over NCHW (statistics per channel over N, H, W): training forward,
// inference forward and training backward, with kernels/reference/batchnorm.hpp's semantics.
// Per-channel sums are deterministic (fixed-order block reductions, no atomics) and numerically
// sound on channels of 3e7+ values (an 8K image): compensated float sums of shifted values, block
// and cross-block merges in double.
//
// Dimension letters: x, y, dy, dx (N, C, H, W) with plane = H * W; gamma, beta, running_mean,
// running_var, save_mean, save_invstd, dgamma, dbeta (C). count = N * plane values per channel.
//
// No workspace: when a channel needs more than one block, the per-block partial sums (two per
// block) are parked in the output buffer (y, or dx), which the final pass then overwrites. Hence
// y must not alias x, and dx must alias neither dy nor x.
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

inline constexpr int kBatchnormThreads = 256;
// Units (16-byte packets, or elements) per thread before a channel is split over another block:
// 2048 units per block keeps a VGG layer at 224 px (C = 64, N = 1) on ~450 blocks.
inline constexpr std::int64_t kBatchnormUnitsPerThread = 8;
// At most this many blocks per channel: 64 channels of an 8K image give 65536 blocks, each thread
// then summing ~32 packets.
inline constexpr std::int64_t kBatchnormMaxSplits = 1024;

// The two per-channel sums: s1 = sum w, s2 = sum w * d (see batchnorm_channel_sums_split_kernel).
struct BatchnormSums {
  double s1, s2;
};
struct BatchnormSumsPlus {
  __device__ BatchnormSums operator()(const BatchnormSums& a, const BatchnormSums& b) const {
    return {a.s1 + b.s1, a.s2 + b.s2};
  }
};

// Per-channel sums over the count = N * plane values of channel j, with d = x - center(j) and
// w = d (statistics: sum d, sum d^2; center = the channel's first value) or w = dy (backward:
// sum dy, sum dy * (x - mean); center = save_mean), as Finish::kWeightsFromDy says.
//
// Grid (C, S): block (j, s) takes units u = s * kThreads + t, u + S * kThreads, ... of channel j,
// a unit being a 16-byte packet (kVector: x and dy aligned, plane a multiple of the packet) or one
// element. Consecutive threads take consecutive units of a plane (coalesced); a unit's (sample,
// offset) is carried from step to step, so the loop has no division. Each thread keeps compensated
// float sums (plain double for double); cub::BlockReduce adds the threads' sums in double in a
// fixed order. kFinal (S == 1): thread 0 finishes the channel with `finish`; otherwise it writes
// the block's sums to partial[(j * S + s) * 2 + {0, 1}] for the merge kernel.
template <int kThreads, bool kVector, bool kFinal, class T, class Finish>
__global__ void __launch_bounds__(kThreads)
    batchnorm_channel_sums_split_kernel(DeviceAccumulator<T>* __restrict__ partial,
                                        const T* __restrict__ x, const T* __restrict__ dy,
                                        const T* __restrict__ center, std::int64_t center_stride,
                                        std::int64_t n, std::int64_t c, std::int64_t plane,
                                        Finish finish) {
  using Acc = DeviceAccumulator<T>;
  using P = Packet<T>;
  constexpr int kUnit = kVector ? P::kSize : 1;
  using BlockReduce = cub::BlockReduce<BatchnormSums, kThreads>;
  __shared__ typename BlockReduce::TempStorage temp;

  const std::int64_t j = blockIdx.x, splits = gridDim.y;
  const std::int64_t plane_units = plane / kUnit;
  const Acc shift = Acc(center[j * center_stride]);
  const std::int64_t first = std::int64_t(blockIdx.y) * kThreads + threadIdx.x;
  const std::int64_t step = splits * kThreads;
  const std::int64_t step_i = step / plane_units, step_p = step - step_i * plane_units;
  std::int64_t i = first / plane_units, p = first - (first / plane_units) * plane_units;

  PlaneSumAccumulator<T> acc1, acc2;
  while (i < n) {
    const std::int64_t unit = (i * c + j) * plane_units + p;
    Acc part1 = 0, part2 = 0;
    if constexpr (kVector) {
      const P vx = reinterpret_cast<const P*>(x)[unit];
      P vg;
      if constexpr (Finish::kWeightsFromDy) vg = reinterpret_cast<const P*>(dy)[unit];
#pragma unroll
      for (int k = 0; k < P::kSize; ++k) {
        const Acc d = Acc(vx.v[k]) - shift;
        Acc w = d;
        if constexpr (Finish::kWeightsFromDy) w = Acc(vg.v[k]);
        part1 += w;
        part2 += w * d;
      }
    } else {
      const Acc d = Acc(x[unit]) - shift;
      Acc w = d;
      if constexpr (Finish::kWeightsFromDy) w = Acc(dy[unit]);
      part1 = w;
      part2 = w * d;
    }
    acc1.add(part1);
    acc2.add(part2);
    p += step_p, i += step_i;
    if (p >= plane_units) p -= plane_units, ++i;
  }
  const BatchnormSums sums = BlockReduce(temp).Reduce(
      BatchnormSums{double(acc1.value()), double(acc2.value())}, BatchnormSumsPlus{});
  if (threadIdx.x != 0) return;
  if constexpr (kFinal) {
    finish(j, sums.s1, sums.s2, double(shift));
  } else {
    DeviceAccumulator<T>* out = partial + (j * splits + blockIdx.y) * 2;
    out[0] = Acc(sums.s1);
    out[1] = Acc(sums.s2);
  }
}

// Merges the S partial sums of each channel: one block per channel, thread t adds partials t,
// t + kThreads, ... in double, cub::BlockReduce combines the threads in a fixed order, and thread
// 0 finishes the channel.
template <int kThreads, class T, class Finish>
__global__ void __launch_bounds__(kThreads)
    batchnorm_merge_partials_block_per_channel_kernel(
        const DeviceAccumulator<T>* __restrict__ partial, std::int64_t splits,
        const T* __restrict__ center, std::int64_t center_stride, Finish finish) {
  using BlockReduce = cub::BlockReduce<BatchnormSums, kThreads>;
  __shared__ typename BlockReduce::TempStorage temp;
  const std::int64_t j = blockIdx.x;
  BatchnormSums mine{0.0, 0.0};
  for (std::int64_t s = threadIdx.x; s < splits; s += kThreads) {
    mine.s1 += double(partial[(j * splits + s) * 2]);
    mine.s2 += double(partial[(j * splits + s) * 2 + 1]);
  }
  const BatchnormSums sums = BlockReduce(temp).Reduce(mine, BatchnormSumsPlus{});
  if (threadIdx.x == 0) finish(j, sums.s1, sums.s2, double(center[j * center_stride]));
}

// Forward statistics from s1 = sum d, s2 = sum d^2 (d = x - shift): mean = shift + s1 / count,
// var = s2 / count - (s1 / count)^2 (the shift keeps that difference from cancelling), and the
// running averages (reference semantics, unbiased variance when count > 1).
template <class T>
struct BatchnormStatsFinish {
  static constexpr bool kWeightsFromDy = false;
  T* save_mean;
  T* save_invstd;
  T* running_mean;
  T* running_var;
  std::int64_t count;
  double momentum, eps;
  __device__ void operator()(std::int64_t j, double s1, double s2, double shift) const {
    const double mean_d = s1 / double(count);
    const double var_raw = s2 / double(count) - mean_d * mean_d;
    const double var = var_raw > 0 ? var_raw : 0.0;
    const double mean = shift + mean_d;
    save_mean[j] = T(mean);
    save_invstd[j] = T(1.0 / sqrt(var + eps));
    if (running_mean && running_var) {
      const double unbiased = count > 1 ? var * double(count) / double(count - 1) : var;
      running_mean[j] = T((1.0 - momentum) * double(running_mean[j]) + momentum * mean);
      running_var[j] = T((1.0 - momentum) * double(running_var[j]) + momentum * unbiased);
    }
  }
};

// Backward sums s1 = sum dy, s2 = sum dy * (x - mean): dbeta = s1, dgamma = s2 * invstd.
template <class T>
struct BatchnormGradFinish {
  static constexpr bool kWeightsFromDy = true;
  T* dgamma;
  T* dbeta;
  const T* save_invstd;
  __device__ void operator()(std::int64_t j, double s1, double s2, double) const {
    dbeta[j] = T(s1);
    dgamma[j] = T(s2 * double(save_invstd[j]));
  }
};

// Runs the per-channel sums and their finish: one kernel when a channel fits one block, else the
// split kernel writing partials to `scratch` (capacity in accumulator elements) and the merge.
template <class T, class Finish>
cudaError_t launch_batchnorm_channel_sums(DeviceAccumulator<T>* scratch,
                                          std::int64_t scratch_capacity, const T* x, const T* dy,
                                          const T* center, std::int64_t center_stride,
                                          std::int64_t n, std::int64_t c, std::int64_t plane,
                                          Finish finish, cudaStream_t stream) {
  constexpr int kThreads = kBatchnormThreads;
  constexpr int kSize = Packet<T>::kSize;
  const bool vector =
      is_aligned16(x) && (!Finish::kWeightsFromDy || is_aligned16(dy)) && plane % kSize == 0;
  const std::int64_t units = n * (vector ? plane / kSize : plane);
  std::int64_t splits = ceil_div(units, kThreads * kBatchnormUnitsPerThread);
  if (splits > kBatchnormMaxSplits) splits = kBatchnormMaxSplits;
  // Never more partials than the output holds (it holds count >= 2 * splits values per channel).
  if (splits > scratch_capacity / (2 * c)) splits = scratch_capacity / (2 * c);
  if (splits < 1) splits = 1;
  const dim3 grid(static_cast<unsigned>(c), static_cast<unsigned>(splits));
  if (splits == 1) {
    if (vector)
      batchnorm_channel_sums_split_kernel<kThreads, true, true><<<grid, kThreads, 0, stream>>>(
          scratch, x, dy, center, center_stride, n, c, plane, finish);
    else
      batchnorm_channel_sums_split_kernel<kThreads, false, true><<<grid, kThreads, 0, stream>>>(
          scratch, x, dy, center, center_stride, n, c, plane, finish);
    return cudaGetLastError();
  }
  if (vector)
    batchnorm_channel_sums_split_kernel<kThreads, true, false><<<grid, kThreads, 0, stream>>>(
        scratch, x, dy, center, center_stride, n, c, plane, finish);
  else
    batchnorm_channel_sums_split_kernel<kThreads, false, false><<<grid, kThreads, 0, stream>>>(
        scratch, x, dy, center, center_stride, n, c, plane, finish);
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) return e;
  batchnorm_merge_partials_block_per_channel_kernel<kThreads, T>
      <<<unsigned(c), kThreads, 0, stream>>>(scratch, splits, center, center_stride, finish);
  return cudaGetLastError();
}

// y = (x - mean) * scale + shift with the channel's (mean, scale, shift).
template <class T>
struct BatchnormAffine {
  T mean, scale, shift;
};
template <class T>
__device__ inline T batchnorm_affine(const BatchnormAffine<T>& q, T x) {
  return (x - q.mean) * q.scale + q.shift;
}

// Training: the saved batch statistics.
template <class T>
struct BatchnormSavedStatsOp {
  const T *mean, *invstd, *gamma, *beta;
  __device__ BatchnormAffine<T> params(std::int64_t j) const {
    return {mean[j], T(double(gamma[j]) * double(invstd[j])), beta[j]};
  }
  __device__ T operator()(const BatchnormAffine<T>& q, T x, T) const {
    return batchnorm_affine(q, x);
  }
};

// Inference: the running statistics.
template <class T>
struct BatchnormRunningStatsOp {
  const T *mean, *var, *gamma, *beta;
  double eps;
  __device__ BatchnormAffine<T> params(std::int64_t j) const {
    return {mean[j], T(double(gamma[j]) / sqrt(double(var[j]) + eps)), beta[j]};
  }
  __device__ T operator()(const BatchnormAffine<T>& q, T x, T) const {
    return batchnorm_affine(q, x);
  }
};

// Backward: dx = a * ((dy - mean_dy) - (x - mean) * b), a = gamma * invstd, mean_dy = dbeta /
// count, b = invstd * dgamma / count; the channel's constants formed in double, rounded once.
template <class T>
struct BatchnormBackwardOp {
  const T *gamma, *mean, *invstd, *dgamma, *dbeta;
  double inv_count;
  struct Params {
    T a, mean_dy, b, mean;
  };
  __device__ Params params(std::int64_t j) const {
    const double s = double(invstd[j]);
    return {T(double(gamma[j]) * s), T(double(dbeta[j]) * inv_count),
            T(s * double(dgamma[j]) * inv_count), mean[j]};
  }
  __device__ T operator()(const Params& q, T dy, T x) const {
    return q.a * ((dy - q.mean_dy) - (x - q.mean) * q.b);
  }
};

// out(e) = op(params of channel (e / plane) % C, a(e), b(e)) over (N, C, plane). Grid-stride loop
// over 16-byte packets when every pointer is aligned; the channel's parameters are formed once per
// packet and again only where the packet crosses into the next plane (planes need not be a
// multiple of the packet). Scalar loop for the tail and for misaligned pointers. out may alias a
// (inference in place): each element is read before it is written, by the same thread.
template <int kInputs, class T, class Op>
__global__ void batchnorm_apply_grid_stride_kernel(T* out, const T* a, const T* b, std::int64_t total,
                                                   std::int64_t plane, std::int64_t c,
                                                   std::int64_t packets, Op op) {
  using P = Packet<T>;
  const std::int64_t first = grid_thread_index(), stride = grid_thread_count();
  for (std::int64_t i = first; i < packets; i += stride) {
    const std::int64_t e = i * P::kSize;
    std::int64_t nc = e / plane, offset = e - nc * plane;
    auto q = op.params(nc % c);
    const P pa = reinterpret_cast<const P*>(a)[i];
    P pb, py;
    if constexpr (kInputs == 2) pb = reinterpret_cast<const P*>(b)[i];
#pragma unroll
    for (int k = 0; k < P::kSize; ++k) {
      if (offset == plane) offset = 0, q = op.params(++nc % c);
      if constexpr (kInputs == 2)
        py.v[k] = op(q, pa.v[k], pb.v[k]);
      else
        py.v[k] = op(q, pa.v[k], T(0));
      ++offset;
    }
    reinterpret_cast<P*>(out)[i] = py;
  }
  for (std::int64_t e = packets * P::kSize + first; e < total; e += stride) {
    const auto q = op.params((e / plane) % c);
    if constexpr (kInputs == 2)
      out[e] = op(q, a[e], b[e]);
    else
      out[e] = op(q, a[e], T(0));
  }
}

template <int kInputs, class T, class Op>
cudaError_t launch_batchnorm_apply(T* out, const T* a, const T* b, std::int64_t n, std::int64_t c,
                                   std::int64_t plane, Op op, cudaStream_t stream) {
  const std::int64_t total = n * c * plane;
  if (total == 0) return cudaSuccess;
  constexpr int kSize = Packet<T>::kSize;
  const bool vector = is_aligned16(out) && is_aligned16(a) && (kInputs < 2 || is_aligned16(b));
  const std::int64_t packets = vector ? total / kSize : 0;
  batchnorm_apply_grid_stride_kernel<kInputs>
      <<<grid_stride_blocks(packets > 0 ? packets : total), kThreadsPerBlock, 0, stream>>>(
          out, a, b, total, plane, c, packets, op);
  return cudaGetLastError();
}

// Sizes the kernels accept: none negative, the channel count within a grid dimension.
inline cudaError_t batchnorm_check_sizes(std::int64_t n, std::int64_t c, std::int64_t plane) {
  if (n < 0 || c < 0 || plane < 0) return cudaErrorInvalidValue;
  if (c > 0x7fffffff) return cudaErrorInvalidConfiguration;
  return cudaSuccess;
}

}  // namespace detail

// Training forward (reference semantics): y normalised with the channel's batch mean and biased
// variance, save_mean / save_invstd for backward, running averages updated when running_mean and
// running_var are not null (momentum, unbiased variance). Needs n * plane >= 1 when c > 0
// (cudaErrorInvalidValue otherwise); y must not alias x (it holds partial sums meanwhile).
template <class T>
cudaError_t batchnorm2d_forward_training(T* y, T* save_mean, T* save_invstd, T* running_mean,
                                         T* running_var, const T* x, const T* gamma, const T* beta,
                                         std::int64_t n, std::int64_t c, std::int64_t plane,
                                         std::type_identity_t<T> momentum,
                                         std::type_identity_t<T> eps, cudaStream_t stream) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "batchnorm2d_forward_training: T must be float or double");
  if (const cudaError_t e = detail::batchnorm_check_sizes(n, c, plane); e != cudaSuccess) return e;
  if (c == 0) return cudaSuccess;
  const std::int64_t count = n * plane;
  if (count == 0) return cudaErrorInvalidValue;
  const detail::BatchnormStatsFinish<T> finish{save_mean, save_invstd, running_mean,
                                               running_var, count,       double(momentum),
                                               double(eps)};
  const cudaError_t e = detail::launch_batchnorm_channel_sums(
      reinterpret_cast<detail::DeviceAccumulator<T>*>(y), count * c, x, static_cast<const T*>(nullptr),
      x, plane, n, c, plane, finish, stream);
  if (e != cudaSuccess) return e;
  return detail::launch_batchnorm_apply<1>(
      y, x, static_cast<const T*>(nullptr), n, c, plane,
      detail::BatchnormSavedStatsOp<T>{save_mean, save_invstd, gamma, beta}, stream);
}

// Inference forward: y = (x - running_mean) / sqrt(running_var + eps) * gamma + beta. y may alias
// x (each element is read before it is written, by the same thread).
template <class T>
cudaError_t batchnorm2d_forward_inference(T* y, const T* x, const T* gamma, const T* beta,
                                          const T* running_mean, const T* running_var,
                                          std::int64_t n, std::int64_t c, std::int64_t plane,
                                          std::type_identity_t<T> eps, cudaStream_t stream) {
  if (const cudaError_t e = detail::batchnorm_check_sizes(n, c, plane); e != cudaSuccess) return e;
  return detail::launch_batchnorm_apply<1>(
      y, x, static_cast<const T*>(nullptr), n, c, plane,
      detail::BatchnormRunningStatsOp<T>{running_mean, running_var, gamma, beta, double(eps)},
      stream);
}

// Training-mode backward through the batch statistics (reference semantics): dbeta = sum dy,
// dgamma = sum dy * xhat (overwritten), dx = gamma * invstd * (dy - dbeta / count - xhat * dgamma
// / count). Needs n * plane >= 1 when c > 0; dx must alias neither dy nor x.
template <class T>
cudaError_t batchnorm2d_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x,
                                 const T* gamma, const T* save_mean, const T* save_invstd,
                                 std::int64_t n, std::int64_t c, std::int64_t plane,
                                 cudaStream_t stream) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "batchnorm2d_backward: T must be float or double");
  if (const cudaError_t e = detail::batchnorm_check_sizes(n, c, plane); e != cudaSuccess) return e;
  if (c == 0) return cudaSuccess;
  const std::int64_t count = n * plane;
  if (count == 0) return cudaErrorInvalidValue;
  const cudaError_t e = detail::launch_batchnorm_channel_sums(
      reinterpret_cast<detail::DeviceAccumulator<T>*>(dx), count * c, x, dy, save_mean,
      std::int64_t(1), n, c, plane, detail::BatchnormGradFinish<T>{dgamma, dbeta, save_invstd},
      stream);
  if (e != cudaSuccess) return e;
  return detail::launch_batchnorm_apply<2>(
      dx, dy, x, n, c, plane,
      detail::BatchnormBackwardOp<T>{gamma, save_mean, save_invstd, dgamma, dbeta,
                                     1.0 / double(count)},
      stream);
}

}  // namespace tinycnn::kernels::cuda
