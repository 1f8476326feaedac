// Device tags: the backend is a type, chosen at compile time (mshadow's cpu/gpu tags).
#pragma once

#include <concepts>

// TINYCNN_HAS_CUDA: the CUDA runtime is available to this translation unit (linked to
// tinycnn::cuda, or compiled by nvcc). TINYCNN_HAS_CUDA_KERNELS: kernels can be launched (nvcc).
#if defined(TINYCNN_WITH_CUDA) || defined(__CUDACC__)
#define TINYCNN_HAS_CUDA 1
#else
#define TINYCNN_HAS_CUDA 0
#endif
#if defined(__CUDACC__)
#define TINYCNN_HAS_CUDA_KERNELS 1
#define TINYCNN_HOST_DEVICE __host__ __device__
#else
#define TINYCNN_HAS_CUDA_KERNELS 0
#define TINYCNN_HOST_DEVICE
#endif
// Inline always: the Winograd transforms, which the host compiler otherwise leaves as calls when
// they run on lanes of several blocks (kernels/cpu/winograd.hpp).
#if defined(__CUDACC__)
#define TINYCNN_FORCE_INLINE __forceinline__
#elif defined(__GNUC__)
#define TINYCNN_FORCE_INLINE inline __attribute__((always_inline))
#else
#define TINYCNN_FORCE_INLINE inline
#endif
// Unroll the next loop (fixed small trip counts in code shared by host and device).
#if defined(__CUDACC__) || defined(__clang__)
#define TINYCNN_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define TINYCNN_UNROLL _Pragma("GCC unroll 8")
#else
#define TINYCNN_UNROLL
#endif

namespace tinycnn {

struct cpu {
  static constexpr const char* name = "cpu";
};
struct cuda {
  static constexpr const char* name = "cuda";
};

template <class D>
concept Device = std::same_as<D, cpu> || std::same_as<D, cuda>;

namespace detail {
template <class...>
inline constexpr bool kAlwaysFalse = false;
}  // namespace detail

}  // namespace tinycnn
