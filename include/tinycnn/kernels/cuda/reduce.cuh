// Reductions on CUDA: whole-array sum, sum of squares and maximum through cub::DeviceReduce (CUB's
// two-phase workspace convention), and the deterministic per-plane sum that conv2d_backward_bias
// and global average pooling share.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <cuda_runtime.h>

#include <thrust/iterator/transform_iterator.h>
#include <cub/block/block_reduce.cuh>
#include <cub/device/device_reduce.cuh>

#include "tinycnn/kernels/cuda/launch.cuh"

namespace tinycnn::kernels::cuda {
namespace detail {

// The accumulator of the CUDA kernels: float for float (and narrower types), double for double.
template <class T>
using DeviceAccumulator = std::conditional_t<std::is_same_v<T, double>, double, float>;

template <class T>
struct SquareOp {
  __host__ __device__ DeviceAccumulator<T> operator()(T v) const {
    return DeviceAccumulator<T>(v) * DeviceAccumulator<T>(v);
  }
};
template <class T>
struct PlusOp {
  __host__ __device__ T operator()(T a, T b) const { return a + b; }
};
// fmax drops a NaN operand: with the fix-up below this gives the reference's rule (a NaN in x(0)
// is the result, a NaN anywhere else is ignored).
template <class T>
struct MaxIgnoringNanOp {
  __host__ __device__ T operator()(T a, T b) const {
    if constexpr (std::is_same_v<T, float>)
      return fmaxf(a, b);
    else
      return T(fmax(double(a), double(b)));
  }
};

// Single thread: the reference keeps x(0) when it is NaN (no comparison with NaN succeeds).
template <class T>
__global__ void reduce_max_first_nan_kernel(T* out, const T* x) {
  const T first = x[0];
  if (first != first) *out = first;
}

// Kahan-compensated float sum: one thread may add up tens of thousands of elements (a 4320x7680
// plane over a 1024-thread block), where a plain float sum would lose the low digits.
struct KahanSum {
  float sum = 0.0f, carry = 0.0f;
  __device__ void add(float v) {
    const float y = v - carry;
    const float t = sum + y;
    carry = (t - sum) - y;
    sum = t;
  }
  __device__ float value() const { return sum - carry; }
};
struct PlainSum {
  double sum = 0.0;
  __device__ void add(double v) { sum += v; }
  __device__ double value() const { return sum; }
};
template <class T>
using PlaneSumAccumulator = std::conditional_t<std::is_same_v<T, double>, PlainSum, KahanSum>;

// out(o) = (sum over r < repeats, i < plane of x((r * outputs + o) * plane + i)) / divisor.
// One block per output o; its threads stride over each of the `repeats` planes (16-byte packets
// when `vector`, i.e. x is 16-byte aligned and plane a multiple of the packet), each thread keeps
// a compensated sum, and cub::BlockReduce adds the per-thread sums in a fixed order: the result
// does not depend on timing (no atomics).
template <int kThreads, class T>
__global__ void __launch_bounds__(kThreads)
    plane_sum_block_per_output_kernel(T* __restrict__ out, const T* __restrict__ x,
                                      std::int64_t outputs, std::int64_t repeats,
                                      std::int64_t plane, bool vector,
                                      DeviceAccumulator<T> divisor) {
  using Acc = DeviceAccumulator<T>;
  using P = Packet<T>;
  using BlockReduce = cub::BlockReduce<Acc, kThreads>;
  __shared__ typename BlockReduce::TempStorage temp;
  const std::int64_t o = blockIdx.x;
  PlaneSumAccumulator<T> acc;
  for (std::int64_t r = 0; r < repeats; ++r) {
    const T* base = x + (r * outputs + o) * plane;
    if (vector) {
      const P* packets = reinterpret_cast<const P*>(base);
      for (std::int64_t i = threadIdx.x; i < plane / P::kSize; i += kThreads) {
        const P v = packets[i];
        Acc part = 0;
#pragma unroll
        for (int k = 0; k < P::kSize; ++k) part += Acc(v.v[k]);
        acc.add(part);
      }
    } else {
      for (std::int64_t i = threadIdx.x; i < plane; i += kThreads) acc.add(Acc(base[i]));
    }
  }
  const Acc total = BlockReduce(temp).Sum(Acc(acc.value()));
  if (threadIdx.x == 0) out[o] = T(total / divisor);
}

template <class T>
cudaError_t launch_plane_sum(T* out, const T* x, std::int64_t outputs, std::int64_t repeats,
                             std::int64_t plane, DeviceAccumulator<T> divisor,
                             cudaStream_t stream) {
  if (outputs < 0 || repeats < 0 || plane < 0) return cudaErrorInvalidValue;
  if (outputs == 0) return cudaSuccess;
  if (outputs > 0x7fffffff) return cudaErrorInvalidConfiguration;
  const bool vector = is_aligned16(x) && plane % Packet<T>::kSize == 0;
  // Many threads per output only pay when there is enough to read: a big block keeps more loads
  // in flight per SM when there are fewer outputs (channels) than SMs can hold blocks.
  if (repeats * plane > 65536) {
    plane_sum_block_per_output_kernel<1024>
        <<<unsigned(outputs), 1024, 0, stream>>>(out, x, outputs, repeats, plane, vector, divisor);
  } else {
    plane_sum_block_per_output_kernel<256>
        <<<unsigned(outputs), 256, 0, stream>>>(out, x, outputs, repeats, plane, vector, divisor);
  }
  return cudaGetLastError();
}

}  // namespace detail

// out = sum of x(0..n). CUB's two-phase convention: with workspace == nullptr, *workspace_bytes
// receives the bytes needed and nothing runs. Accumulated in float (see
// docs/notes/cuda-small-kernels.md for the error measured on 2^24+ elements). n == 0 gives 0.
template <class T>
cudaError_t reduce_sum(T* out, const T* x, std::int64_t n, void* workspace,
                       std::size_t* workspace_bytes, cudaStream_t stream) {
  if (n < 0 || !workspace_bytes) return cudaErrorInvalidValue;
  return cub::DeviceReduce::Reduce(workspace, *workspace_bytes, x, out, n, detail::PlusOp<T>{},
                                   T(0), stream);
}

// out = sum of x(i)^2, squares formed on the fly by a transform iterator (no temporary array).
template <class T>
cudaError_t reduce_sum_squares(T* out, const T* x, std::int64_t n, void* workspace,
                               std::size_t* workspace_bytes, cudaStream_t stream) {
  if (n < 0 || !workspace_bytes) return cudaErrorInvalidValue;
  using Acc = detail::DeviceAccumulator<T>;
  const auto squares = thrust::make_transform_iterator(x, detail::SquareOp<T>{});
  return cub::DeviceReduce::Reduce(workspace, *workspace_bytes, squares, out, n,
                                   detail::PlusOp<Acc>{}, Acc(0), stream);
}

// out = max of x(0..n), with the reference's NaN rule: NaN when x(0) is NaN, other NaNs ignored.
// n == 0 gives -infinity.
template <class T>
cudaError_t reduce_max(T* out, const T* x, std::int64_t n, void* workspace,
                       std::size_t* workspace_bytes, cudaStream_t stream) {
  if (n < 0 || !workspace_bytes) return cudaErrorInvalidValue;
  const cudaError_t e = cub::DeviceReduce::Reduce(
      workspace, *workspace_bytes, x, out, n, detail::MaxIgnoringNanOp<T>{}, T(-INFINITY), stream);
  if (e != cudaSuccess || workspace == nullptr || n == 0) return e;
  detail::reduce_max_first_nan_kernel<<<1, 1, 0, stream>>>(out, x);
  return cudaGetLastError();
}

}  // namespace tinycnn::kernels::cuda
