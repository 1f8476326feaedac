// Elementwise CUDA kernels: ReLU forward and backward, per-channel bias, add, scale, axpy. Each is
// memory-bound: a grid-stride loop over 16-byte packets when every pointer is 16-byte aligned, and
// a scalar loop for the tail and for misaligned pointers. Indexing is 64-bit throughout.
#pragma once

#include <cstdint>
#include <type_traits>

#include <cuda_runtime.h>

#include "tinycnn/kernels/cuda/launch.cuh"

namespace tinycnn::kernels::cuda {
namespace detail {

template <class T>
struct ReluForwardOp {
  // NaN > 0 is false, so NaN maps to 0, as in the reference.
  __device__ T operator()(T x) const { return x > T(0) ? x : T(0); }
};
template <class T>
struct ReluBackwardOp {
  __device__ T operator()(T dy, T y) const { return y > T(0) ? dy : T(0); }
};
template <class T>
struct AddOp {
  __device__ T operator()(T a, T b) const { return a + b; }
};
template <class T>
struct ScaleOp {
  T alpha;
  __device__ T operator()(T x) const { return alpha * x; }
};
template <class T>
struct AxpyOp {
  T alpha;
  __device__ T operator()(T y, T x) const { return y + alpha * x; }
};

// y(i) = op(a(i)) or op(a(i), b(i)). Grid-stride loop: thread t handles packets t, t + T, ... of
// 16 bytes (the first `packets` packets; 0 when a pointer is misaligned), then elements from
// packets * kSize on, one each, the same way. y may alias a or b: each element is read before it is
// written, by the same thread.
template <int kInputs, class T, class Op>
__global__ void elementwise_packet_grid_stride_kernel(T* y, const T* a, const T* b, std::int64_t n,
                                                      std::int64_t packets, Op op) {
  using P = Packet<T>;
  const std::int64_t first = grid_thread_index(), stride = grid_thread_count();
  for (std::int64_t i = first; i < packets; i += stride) {
    const P pa = reinterpret_cast<const P*>(a)[i];
    P pb;
    if constexpr (kInputs == 2) pb = reinterpret_cast<const P*>(b)[i];
    P py;
#pragma unroll
    for (int k = 0; k < P::kSize; ++k) {
      if constexpr (kInputs == 2)
        py.v[k] = op(pa.v[k], pb.v[k]);
      else
        py.v[k] = op(pa.v[k]);
    }
    reinterpret_cast<P*>(y)[i] = py;
  }
  for (std::int64_t i = packets * P::kSize + first; i < n; i += stride) {
    if constexpr (kInputs == 2)
      y[i] = op(a[i], b[i]);
    else
      y[i] = op(a[i]);
  }
}

template <int kInputs, class T, class Op>
cudaError_t launch_elementwise(T* y, const T* a, const T* b, std::int64_t n, Op op,
                               cudaStream_t stream) {
  if (n < 0) return cudaErrorInvalidValue;
  if (n == 0) return cudaSuccess;
  constexpr int kSize = Packet<T>::kSize;
  const bool vector = is_aligned16(y) && is_aligned16(a) && (kInputs < 2 || is_aligned16(b));
  const std::int64_t packets = vector ? n / kSize : 0;
  const int grid = grid_stride_blocks(vector ? (packets > 0 ? packets : n) : n);
  elementwise_packet_grid_stride_kernel<kInputs>
      <<<grid, kThreadsPerBlock, 0, stream>>>(y, a, b, n, packets, op);
  return cudaGetLastError();
}

// y(nc, i) = value(nc) (kAccumulate false) or y(nc, i) + value(nc) (true), for `planes` planes of
// `plane` contiguous elements. Grid-stride loop over 16-byte packets of y (or single elements when
// y is misaligned); a packet may straddle planes, so the plane index is carried from element to
// element instead of divided out for each (one 64-bit division per packet).
template <bool kAccumulate, class T, class ValueOf>
__global__ void plane_broadcast_grid_stride_kernel(T* y, std::int64_t total, std::int64_t plane,
                                                   std::int64_t packets, ValueOf value_of) {
  using P = Packet<T>;
  const std::int64_t first = grid_thread_index(), stride = grid_thread_count();
  for (std::int64_t i = first; i < packets; i += stride) {
    const std::int64_t e = i * P::kSize;
    std::int64_t nc = e / plane, offset = e - nc * plane;
    T v = value_of(nc);
    P py;
    if constexpr (kAccumulate) py = reinterpret_cast<const P*>(y)[i];
#pragma unroll
    for (int k = 0; k < P::kSize; ++k) {
      if (offset == plane) offset = 0, v = value_of(++nc);
      if constexpr (kAccumulate)
        py.v[k] += v;
      else
        py.v[k] = v;
      ++offset;
    }
    reinterpret_cast<P*>(y)[i] = py;
  }
  for (std::int64_t e = packets * P::kSize + first; e < total; e += stride) {
    const T v = value_of(e / plane);
    if constexpr (kAccumulate)
      y[e] += v;
    else
      y[e] = v;
  }
}

template <bool kAccumulate, class T, class ValueOf>
cudaError_t launch_plane_broadcast(T* y, std::int64_t planes, std::int64_t plane, ValueOf value_of,
                                   cudaStream_t stream) {
  if (planes < 0 || plane < 0) return cudaErrorInvalidValue;
  const std::int64_t total = planes * plane;
  if (total == 0) return cudaSuccess;
  constexpr int kSize = Packet<T>::kSize;
  const std::int64_t packets = is_aligned16(y) ? total / kSize : 0;
  const int grid = grid_stride_blocks(packets > 0 ? packets : total);
  plane_broadcast_grid_stride_kernel<kAccumulate>
      <<<grid, kThreadsPerBlock, 0, stream>>>(y, total, plane, packets, value_of);
  return cudaGetLastError();
}

template <class T>
struct BiasOfPlane {
  const T* bias;
  std::int64_t c;
  __device__ T operator()(std::int64_t nc) const { return bias[nc % c]; }
};

}  // namespace detail

// y = max(x, 0); y may alias x.
template <class T>
cudaError_t relu_forward(T* y, const T* x, std::int64_t n, cudaStream_t stream) {
  return detail::launch_elementwise<1>(y, x, static_cast<const T*>(nullptr), n,
                                       detail::ReluForwardOp<T>{}, stream);
}

// dx = dy where the forward output y is positive, else 0; dx may alias dy.
template <class T>
cudaError_t relu_backward(T* dx, const T* dy, const T* y, std::int64_t n, cudaStream_t stream) {
  return detail::launch_elementwise<2>(dx, dy, y, n, detail::ReluBackwardOp<T>{}, stream);
}

// y(i, j, k) += bias(j) for y of shape (n, c, plane).
template <class T>
cudaError_t bias_add(T* y, const T* bias, std::int64_t n, std::int64_t c, std::int64_t plane,
                     cudaStream_t stream) {
  if (n < 0 || c < 0) return cudaErrorInvalidValue;
  if (c == 0) return cudaSuccess;
  return detail::launch_plane_broadcast<true>(y, n * c, plane, detail::BiasOfPlane<T>{bias, c},
                                              stream);
}

// y = a + b; y may alias a or b.
template <class T>
cudaError_t add(T* y, const T* a, const T* b, std::int64_t n, cudaStream_t stream) {
  return detail::launch_elementwise<2>(y, a, b, n, detail::AddOp<T>{}, stream);
}

// y = alpha * x; y may alias x.
template <class T>
cudaError_t scale(T* y, const T* x, std::type_identity_t<T> alpha, std::int64_t n,
                  cudaStream_t stream) {
  return detail::launch_elementwise<1>(y, x, static_cast<const T*>(nullptr), n,
                                       detail::ScaleOp<T>{alpha}, stream);
}

// y += alpha * x.
template <class T>
cudaError_t axpy(T* y, std::type_identity_t<T> alpha, const T* x, std::int64_t n,
                 cudaStream_t stream) {
  return detail::launch_elementwise<2>(y, static_cast<const T*>(y), x, n, detail::AxpyOp<T>{alpha},
                                       stream);
}

}  // namespace tinycnn::kernels::cuda
