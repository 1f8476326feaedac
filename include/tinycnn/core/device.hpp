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
