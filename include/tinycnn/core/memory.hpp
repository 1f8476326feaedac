// Raw memory per device: allocation, release, fills and copies between devices, one overload per
// device pair. Tensor is the only user; kernels never allocate.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#include "tinycnn/core/device.hpp"
#include "tinycnn/core/error.hpp"

#if TINYCNN_HAS_CUDA
#include "tinycnn/core/cuda_runtime.hpp"
#endif

namespace tinycnn::detail {

// 64 bytes: one cache line, and a full AVX-512 vector.
inline constexpr std::size_t kHostAlignment = 64;

template <Device D>
struct Memory;

template <>
struct Memory<cpu> {
  static void* allocate(std::size_t bytes) {
    if (bytes == 0) return nullptr;
    const std::size_t rounded = (bytes + kHostAlignment - 1) / kHostAlignment * kHostAlignment;
    TINYCNN_CHECK(rounded >= bytes, "allocate(cpu): ", bytes, " bytes cannot be represented");
    void* p = std::aligned_alloc(kHostAlignment, rounded);
    if (!p)
      throw OutOfMemory(concat("allocate(cpu): out of host memory allocating ", bytes, " bytes"),
                        bytes, 0);
    return p;
  }
  static void deallocate(void* p, std::size_t) noexcept { std::free(p); }
  static void zero(void* p, std::size_t bytes) {
    if (bytes) std::memset(p, 0, bytes);
  }
};

inline void copy_bytes(cpu, void* dst, cpu, const void* src, std::size_t bytes) {
  if (bytes) std::memcpy(dst, src, bytes);
}

#if TINYCNN_HAS_CUDA
template <>
struct Memory<cuda> {
  static void* allocate(std::size_t bytes) { return cuda_allocate(bytes); }
  static void deallocate(void* p, std::size_t bytes) noexcept { cuda_deallocate(p, bytes); }
  static void zero(void* p, std::size_t bytes) {
    if (bytes) TINYCNN_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, cuda_stream()));
  }
};

// Host to device: the source is pageable, so the call returns once the bytes are staged.
inline void copy_bytes(cuda, void* dst, cpu, const void* src, std::size_t bytes) {
  if (bytes)
    TINYCNN_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, cuda_stream()));
}
// Device to host: the host reads the result, so this is where it waits.
inline void copy_bytes(cpu, void* dst, cuda, const void* src, std::size_t bytes) {
  if (!bytes) return;
  TINYCNN_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, cuda_stream()));
  TINYCNN_CUDA_CHECK(cudaStreamSynchronize(cuda_stream()));
}
inline void copy_bytes(cuda, void* dst, cuda, const void* src, std::size_t bytes) {
  if (bytes)
    TINYCNN_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cuda_stream()));
}
#else
template <>
struct Memory<cuda> {
  template <class... A>
  static void* allocate(A...) {
    static_assert(kAlwaysFalse<A...>,
                  "tinycnn: Tensor<T, tinycnn::cuda> needs the CUDA backend: link the target "
                  "tinycnn::cuda (it defines TINYCNN_WITH_CUDA) or compile this file with nvcc");
    return nullptr;
  }
  static void deallocate(void*, std::size_t) noexcept {}
  template <class... A>
  static void zero(A...) {
    static_assert(kAlwaysFalse<A...>, "tinycnn: Tensor<T, tinycnn::cuda> needs tinycnn::cuda");
  }
};
#endif

}  // namespace tinycnn::detail
