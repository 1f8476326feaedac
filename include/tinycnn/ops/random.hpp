// Seeded random fills: element i depends only on (seed, i), so CPU and CUDA fills agree.
#pragma once

#include <cstdint>

#include "tinycnn/kernels/cpu/random.hpp"
#include "tinycnn/ops/dispatch.hpp"
#if TINYCNN_HAS_CUDA_KERNELS
#include "tinycnn/kernels/cuda/random.cuh"
#endif

namespace tinycnn::ops {

// x(i) uniform in [lo, hi).
template <class T, Device D>
Tensor<T, D>& uniform_(Tensor<T, D>& x, std::uint64_t seed, T lo = T(0), T hi = T(1)) {
  TINYCNN_CHECK(lo <= hi, "uniform_: lo (", lo, ") must not exceed hi (", hi, ")");
  if (!x.empty())
    TINYCNN_DISPATCH(T, D, kernels::cpu::uniform_fill, kernels::cuda::uniform_fill, x.data(),
                     x.numel(), seed, lo, hi);
  return x;
}

// x(i) normal with the given mean and standard deviation.
template <class T, Device D>
Tensor<T, D>& normal_(Tensor<T, D>& x, std::uint64_t seed, T mean = T(0), T stddev = T(1)) {
  TINYCNN_CHECK(stddev >= T(0), "normal_: stddev must be >= 0, got ", stddev);
  if (!x.empty())
    TINYCNN_DISPATCH(T, D, kernels::cpu::normal_fill, kernels::cuda::normal_fill, x.data(),
                     x.numel(), seed, mean, stddev);
  return x;
}

}  // namespace tinycnn::ops
