// GEMM and matrix products on tensors: shape checks, then the packed CPU or tiled CUDA kernel.
#pragma once

#include "tinycnn/kernels/cpu/gemm.hpp"
#include "tinycnn/kernels/problem.hpp"
#include "tinycnn/ops/dispatch.hpp"
#if TINYCNN_HAS_CUDA_KERNELS
#include "tinycnn/kernels/cuda/gemm.cuh"
#endif

namespace tinycnn::ops {

namespace detail {
template <class T, Device D>
void gemm_raw(T* c, const T* a, const T* b, const kernels::GemmDesc& d, T alpha, T beta) {
  if (d.m == 0 || d.n == 0 || d.batch == 0) return;
  if constexpr (kIsCpu<D>) {
    kernels::cpu::gemm_packed(c, a, b, d, alpha, beta);
  } else {
    require_cuda_kernels<T>();
#if TINYCNN_HAS_CUDA_KERNELS
    // Under-filled products with a long K (Gram matrices) are split along K through a workspace.
    const std::size_t ws_bytes = kernels::cuda::gemm_workspace_bytes(d);
    auto ws = Tensor<unsigned char, D>::uninitialized({std::int64_t(ws_bytes)});
    TINYCNN_CUDA_CHECK(kernels::cuda::gemm_tiled(c, a, b, d, alpha, beta, cuda_stream(),
                                                 ws_bytes ? ws.data() : nullptr));
#endif
  }
}

// g(c, c) = scale * F F^T for F (c, m) with row stride ld: the Gram matrix. CUDA multiplies only
// the tiles on and above the diagonal (kernels::cuda::gram); the CPU the blocks on and above it
// where that pays, else the full product (kernels::cpu::gram).
template <class T, Device D>
void gram_raw(T* g, const T* f, std::int64_t c, std::int64_t m, std::int64_t ld, T scale) {
  if (c == 0) return;
  if constexpr (kIsCpu<D>) {
    kernels::cpu::gram(g, f, c, m, ld, scale);
  } else {
    require_cuda_kernels<T>();
#if TINYCNN_HAS_CUDA_KERNELS
    const std::size_t ws_bytes = kernels::cuda::gram_workspace_bytes(c, m);
    auto ws = Tensor<unsigned char, D>::uninitialized({std::int64_t(ws_bytes)});
    TINYCNN_CUDA_CHECK(kernels::cuda::gram(g, c, f, c, m, ld, scale, T(0),
                                           ws_bytes ? ws.data() : nullptr, cuda_stream()));
#endif
  }
}

// (rows, cols) of op(t) for the last two dimensions of t.
template <class T, Device D>
std::pair<std::int64_t, std::int64_t> op_dims(const Tensor<T, D>& t, bool trans) {
  const std::int64_t r = t.dim(-2), c = t.dim(-1);
  return trans ? std::pair{c, r} : std::pair{r, c};
}
}  // namespace detail

// c = alpha * op(a) * op(b) + beta * c for 2-D a (M,K), b (K,N), c (M,N) (before transposes);
// rank-3 tensors are a batch of such products. beta == 0 ignores c's contents.
template <class T, Device D>
void gemm(Tensor<T, D>& c, const Tensor<T, D>& a, const Tensor<T, D>& b, T alpha = T(1),
          T beta = T(0), bool trans_a = false, bool trans_b = false) {
  const int rank = a.rank();
  TINYCNN_CHECK((rank == 2 || rank == 3) && b.rank() == rank && c.rank() == rank,
                "gemm: a, b and c must all have rank 2 (M,K)x(K,N) or rank 3 (batch,M,K), got ",
                a.shape(), ", ", b.shape(), ", ", c.shape());
  const auto [m, k] = detail::op_dims(a, trans_a);
  const auto [kb, n] = detail::op_dims(b, trans_b);
  TINYCNN_CHECK(k == kb, "gemm: inner dimensions differ: op(a) is ", m, "x", k, " (a ", a.shape(),
                trans_a ? " transposed" : "", "), op(b) is ", kb, "x", n, " (b ", b.shape(),
                trans_b ? " transposed" : "", ")");
  const std::int64_t batch = rank == 3 ? a.dim(0) : 1;
  TINYCNN_CHECK(rank == 2 || (b.dim(0) == batch && c.dim(0) == batch),
                "gemm: batch sizes differ: a ", a.shape(), ", b ", b.shape(), ", c ", c.shape());
  TINYCNN_CHECK(c.dim(-2) == m && c.dim(-1) == n, "gemm: c must be ", m, "x", n, ", got ",
                c.shape());
  kernels::GemmDesc d = kernels::packed_gemm(m, n, k, trans_a, trans_b);
  d.batch = batch;
  detail::gemm_raw<T, D>(c.data(), a.data(), b.data(), d, alpha, beta);
}

// op(a) * op(b) as a new tensor (rank 2, or rank 3 for a batch).
template <class T, Device D>
Tensor<T, D> matmul(const Tensor<T, D>& a, const Tensor<T, D>& b, bool trans_a = false,
                    bool trans_b = false) {
  TINYCNN_CHECK(a.rank() >= 2 && b.rank() >= 2, "matmul: operands must have rank 2 or 3, got ",
                a.shape(), " and ", b.shape());
  const std::int64_t m = detail::op_dims(a, trans_a).first, n = detail::op_dims(b, trans_b).second;
  Tensor<T, D> c = Tensor<T, D>::uninitialized(a.rank() == 3 ? Shape{a.dim(0), m, n} : Shape{m, n});
  gemm(c, a, b, T(1), T(0), trans_a, trans_b);
  return c;
}

}  // namespace tinycnn::ops
