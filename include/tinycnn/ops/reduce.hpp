// Reductions of a whole tensor to a host scalar (sum, mean, sum of squares, max) and the Gram
// matrix of feature maps. On CUDA the reductions run through CUB and the host waits for the result.
#pragma once

#include <cstdint>

#include "tinycnn/kernels/cpu/reduce.hpp"
#include "tinycnn/ops/dispatch.hpp"
#include "tinycnn/ops/gemm.hpp"
#if TINYCNN_HAS_CUDA_KERNELS
#include "tinycnn/kernels/cuda/reduce.cuh"
#endif

namespace tinycnn::ops {

namespace detail {
enum class Reduction { kSum, kSumSquares, kMax };

template <Reduction R, class T, Device D>
T reduce(const Tensor<T, D>& x) {
  const std::int64_t n = x.numel();
  if constexpr (kIsCpu<D>) {
    if constexpr (R == Reduction::kSum) return kernels::cpu::sum(x.data(), n);
    else if constexpr (R == Reduction::kSumSquares) return kernels::cpu::sum_squares(x.data(), n);
    else return kernels::cpu::max(x.data(), n);
  } else {
    require_cuda_kernels<T>();
#if TINYCNN_HAS_CUDA_KERNELS
    auto launcher = R == Reduction::kSum          ? &kernels::cuda::reduce_sum<T>
                    : R == Reduction::kSumSquares ? &kernels::cuda::reduce_sum_squares<T>
                                                  : &kernels::cuda::reduce_max<T>;
    auto out = Tensor<T, D>::uninitialized({1});
    std::size_t ws_bytes = 0;
    TINYCNN_CUDA_CHECK(launcher(out.data(), x.data(), n, nullptr, &ws_bytes, cuda_stream()));
    auto ws = Tensor<unsigned char, D>::uninitialized({std::int64_t(ws_bytes)});
    TINYCNN_CUDA_CHECK(launcher(out.data(), x.data(), n, ws.data(), &ws_bytes, cuda_stream()));
    return out.item();
#else
    return T(0);
#endif
  }
}
}  // namespace detail

template <class T, Device D>
T sum(const Tensor<T, D>& x) {
  return x.empty() ? T(0) : detail::reduce<detail::Reduction::kSum>(x);
}

template <class T, Device D>
T mean(const Tensor<T, D>& x) {
  TINYCNN_CHECK(!x.empty(), "mean: the tensor is empty (shape ", x.shape(), ")");
  return T(double(sum(x)) / double(x.numel()));
}

template <class T, Device D>
T sum_squares(const Tensor<T, D>& x) {
  return x.empty() ? T(0) : detail::reduce<detail::Reduction::kSumSquares>(x);
}

template <class T, Device D>
T max(const Tensor<T, D>& x) {
  TINYCNN_CHECK(!x.empty(), "max: the tensor is empty (shape ", x.shape(), ")");
  return detail::reduce<detail::Reduction::kMax>(x);
}

// G(C, C) = scale * F * F^T, F the (C, H*W) view of one feature map (1, C, H, W) or (C, H, W), or a
// (C, M) matrix.
template <class T, Device D>
Tensor<T, D> gram(const Tensor<T, D>& features, T scale = T(1)) {
  const int r = features.rank();
  TINYCNN_CHECK(r == 2 || r == 3 || (r == 4 && features.dim(0) == 1),
                "gram: features must be (C, M), (C, H, W) or (1, C, H, W), got ", features.shape());
  const std::int64_t c = features.dim(r == 2 ? 0 : r - 3);
  const std::int64_t m = c ? features.numel() / c : 0;
  auto g = Tensor<T, D>::uninitialized({c, c});
  if (g.empty()) return g;
  detail::gram_raw<T, D>(g.data(), features.data(), c, m, m, scale);
  return g;
}

}  // namespace tinycnn::ops
