// How ops reach a backend: `if constexpr` on the device tag, and for CUDA a compile-time check that
// this translation unit can launch kernels (nvcc) and that the kernels exist for T (float).
#pragma once

#include <type_traits>

#include "tinycnn/core/device.hpp"
#include "tinycnn/core/error.hpp"
#include "tinycnn/core/tensor.hpp"

#if TINYCNN_HAS_CUDA
#include "tinycnn/core/cuda_runtime.hpp"
#endif

namespace tinycnn::ops::detail {

template <class D>
inline constexpr bool kIsCpu = std::is_same_v<D, cpu>;

// Instantiated only in the CUDA branch of an op: fails the build with a message instead of a
// wall of template errors when the op cannot run on the GPU from here.
template <class T>
constexpr void require_cuda_kernels() {
  static_assert(TINYCNN_HAS_CUDA_KERNELS || tinycnn::detail::kAlwaysFalse<T>,
                "tinycnn: this op on tinycnn::cuda launches kernels; compile this translation unit "
                "with nvcc and link tinycnn::cuda");
  static_assert(std::is_same_v<T, float> || tinycnn::detail::kAlwaysFalse<T>,
                "tinycnn: the CUDA kernels are implemented for float (double runs on the CPU)");
}

inline std::string shape_str(const Shape& s) { return s.to_string(); }

template <class T, Device D>
void check_rank(const char* op, const char* what, const Tensor<T, D>& t, int rank,
                const char* layout) {
  TINYCNN_CHECK(t.rank() == rank, op, ": ", what, " must have rank ", rank, " ", layout,
                ", got shape ", t.shape());
}

template <class T, Device D>
void check_shape(const char* op, const char* what, const Tensor<T, D>& t, const Shape& expected) {
  TINYCNN_CHECK(t.shape() == expected, op, ": ", what, " must have shape ", expected, ", got ",
                t.shape());
}

}  // namespace tinycnn::ops::detail

#if TINYCNN_HAS_CUDA_KERNELS
// Launch through a kernels::cuda launcher on the library stream; throw tinycnn::Error on failure.
#define TINYCNN_CUDA_LAUNCH(launcher, ...) \
  TINYCNN_CUDA_CHECK(launcher(__VA_ARGS__, ::tinycnn::cuda_stream()))
#define TINYCNN_DETAIL_CUDA_BRANCH(T, launcher, ...)      \
  ::tinycnn::ops::detail::require_cuda_kernels<T>();      \
  TINYCNN_CUDA_LAUNCH(launcher, __VA_ARGS__)
#else
#define TINYCNN_DETAIL_CUDA_BRANCH(T, launcher, ...) ::tinycnn::ops::detail::require_cuda_kernels<T>()
#endif

// Run cpu_kernel(args...) on tinycnn::cpu, or cuda_launcher(args..., stream) on tinycnn::cuda.
// The CPU and CUDA kernels of an op share their argument list; only the stream is added.
#define TINYCNN_DISPATCH(T, D, cpu_kernel, cuda_launcher, ...)         \
  do {                                                                \
    if constexpr (::tinycnn::ops::detail::kIsCpu<D>) {                \
      cpu_kernel(__VA_ARGS__);                                        \
    } else {                                                          \
      TINYCNN_DETAIL_CUDA_BRANCH(T, cuda_launcher, __VA_ARGS__);      \
    }                                                                 \
  } while (0)
