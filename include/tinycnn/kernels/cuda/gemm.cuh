// CUDA SGEMM: C = alpha * op(A) * op(B) + beta * C, row-major, any transposes, leading dimensions
// and batch (GemmDesc), fp32 FMA on shared-memory and register tiles (gemm_tile.cuh).
//
// Dimension letters: C (M,N), op(A) (M,K), op(B) (K,N); see tinycnn/kernels/problem.hpp.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "tinycnn/kernels/cuda/gemm_tile.cuh"
#include "tinycnn/kernels/problem.hpp"

namespace tinycnn::kernels::cuda {

namespace detail {

// One thread block per (BLK_M, BLK_N) tile of one batch entry: blockIdx.x walks N tiles, blockIdx.y
// M tiles and blockIdx.z the batch entry; each thread
// computes THR_M x THR_N outputs; K in steps of BLK_K through double-buffered shared memory.
// TransA/TransB pick the loaders; VecA/VecB allow 16-byte loads (decided at launch). bias (may be
// null) is added per row: the 1x1 convolution path uses it.
template <class Cfg, bool TransA, bool TransB, bool VecA, bool VecB>
__global__ void __launch_bounds__(Cfg::kThreads, Cfg::kMinBlocksPerSm)
    gemm_tiled_kernel(float* __restrict__ c, const float* __restrict__ a,
                      const float* __restrict__ b, const GemmDesc d, float alpha, float beta,
                      const float* __restrict__ bias) {
  using LoaderA = std::conditional_t<TransA, RowContiguousLoader<Cfg, Cfg::kBlockM, VecA>,
                                     KContiguousLoader<Cfg, Cfg::kBlockM, VecA>>;
  using LoaderB = std::conditional_t<TransB, KContiguousLoader<Cfg, Cfg::kBlockN, VecB>,
                                     RowContiguousLoader<Cfg, Cfg::kBlockN, VecB>>;
  __shared__ TileSmem<Cfg> smem;
  const std::int64_t z = blockIdx.z;
  const std::int64_t m0 = std::int64_t(blockIdx.y) * Cfg::kBlockM;
  const std::int64_t n0 = std::int64_t(blockIdx.x) * Cfg::kBlockN;
  LoaderA la(a + z * d.stride_a, d.lda, d.m, m0);  // (BLK_M, BLK_K) of op(A)
  LoaderB lb(b + z * d.stride_b, d.ldb, d.n, n0);  // (BLK_K, BLK_N) of op(B)
  float acc[Cfg::kThreadM][Cfg::kThreadN];         // (THR_M, THR_N)
  tile_mainloop<Cfg>(la, lb, int(d.k), smem, acc);
  store_tile<Cfg>(c + std::int64_t(blockIdx.z) * d.stride_c, acc,
                  std::int64_t(blockIdx.y) * Cfg::kBlockM, std::int64_t(blockIdx.x) * Cfg::kBlockN,
                  d.m, d.n, d.ldc, IdentityColumns{}, alpha, beta, bias);
}

template <class Cfg, bool TransA, bool TransB, bool VecA, bool VecB>
cudaError_t launch_gemm_tiled(float* c, const float* a, const float* b, const GemmDesc& d,
                              float alpha, float beta, const float* bias, cudaStream_t stream) {
  const std::int64_t n_tiles = (d.n + Cfg::kBlockN - 1) / Cfg::kBlockN;
  const std::int64_t m_tiles = (d.m + Cfg::kBlockM - 1) / Cfg::kBlockM;
  if (n_tiles > 0x7fffffff || m_tiles > 65535 || d.batch > 65535) return cudaErrorInvalidValue;
  const dim3 grid(unsigned(n_tiles), unsigned(m_tiles), unsigned(d.batch));
  gemm_tiled_kernel<Cfg, TransA, TransB, VecA, VecB>
      <<<grid, Cfg::kThreads, 0, stream>>>(c, a, b, d, alpha, beta, bias);
  return cudaGetLastError();
}

template <class Cfg, bool TransA, bool TransB>
cudaError_t dispatch_gemm_vec(float* c, const float* a, const float* b, const GemmDesc& d,
                              float alpha, float beta, const float* bias, bool vec_a, bool vec_b,
                              cudaStream_t stream) {
  if (vec_a && vec_b)
    return launch_gemm_tiled<Cfg, TransA, TransB, true, true>(c, a, b, d, alpha, beta, bias,
                                                              stream);
  if (vec_a)
    return launch_gemm_tiled<Cfg, TransA, TransB, true, false>(c, a, b, d, alpha, beta, bias,
                                                               stream);
  if (vec_b)
    return launch_gemm_tiled<Cfg, TransA, TransB, false, true>(c, a, b, d, alpha, beta, bias,
                                                               stream);
  return launch_gemm_tiled<Cfg, TransA, TransB, false, false>(c, a, b, d, alpha, beta, bias,
                                                              stream);
}

template <class Cfg>
cudaError_t dispatch_gemm_trans(float* c, const float* a, const float* b, const GemmDesc& d,
                                float alpha, float beta, const float* bias, bool vec_a, bool vec_b,
                                cudaStream_t stream) {
  if (d.trans_a && d.trans_b)
    return dispatch_gemm_vec<Cfg, true, true>(c, a, b, d, alpha, beta, bias, vec_a, vec_b, stream);
  if (d.trans_a)
    return dispatch_gemm_vec<Cfg, true, false>(c, a, b, d, alpha, beta, bias, vec_a, vec_b, stream);
  if (d.trans_b)
    return dispatch_gemm_vec<Cfg, false, true>(c, a, b, d, alpha, beta, bias, vec_a, vec_b, stream);
  return dispatch_gemm_vec<Cfg, false, false>(c, a, b, d, alpha, beta, bias, vec_a, vec_b, stream);
}

// The launcher behind gemm_tiled and the 1x1 convolution paths: checks the descriptor, picks the
// tile (the large one unless it would leave SMs idle) and whether 16-byte loads are legal.
inline cudaError_t gemm_tiled_with_bias(float* c, const float* a, const float* b, const GemmDesc& d,
                                        float alpha, float beta, const float* bias,
                                        cudaStream_t stream) {
  if (d.m < 0 || d.n < 0 || d.k < 0 || d.batch < 0) return cudaErrorInvalidValue;
  if (d.m == 0 || d.n == 0 || d.batch == 0) return cudaSuccess;
  const std::int64_t a_cols = d.trans_a ? d.m : d.k, b_cols = d.trans_b ? d.k : d.n;
  if (d.lda < a_cols || d.ldb < b_cols || d.ldc < d.n || !c) return cudaErrorInvalidValue;
  if (d.k > 0 && (!a || !b)) return cudaErrorInvalidValue;
  if (d.k > 0x7fffffff - 64) return cudaErrorInvalidValue;  // the reduction counts in int
  const bool batched = d.batch > 1;
  const bool vec_a = aligned16(a) && d.lda % 4 == 0 && (!batched || d.stride_a % 4 == 0);
  const bool vec_b = aligned16(b) && d.ldb % 4 == 0 && (!batched || d.stride_b % 4 == 0);
  const std::int64_t large_tiles = ((d.m + TileLarge::kBlockM - 1) / TileLarge::kBlockM) *
                                   ((d.n + TileLarge::kBlockN - 1) / TileLarge::kBlockN) * d.batch;
  if (large_tiles >= multiprocessor_count())
    return dispatch_gemm_trans<TileLarge>(c, a, b, d, alpha, beta, bias, vec_a, vec_b, stream);
  return dispatch_gemm_trans<TileSmall>(c, a, b, d, alpha, beta, bias, vec_a, vec_b, stream);
}

}  // namespace detail

// C = alpha * op(A) * op(B) + beta * C for every batch entry of d, queued on stream. beta == 0
// never reads C. Returns cudaErrorInvalidValue for negative sizes, leading dimensions below the
// packed ones, null pointers, K >= 2^31, M beyond 65535 * 128 or batch beyond 65535; cudaSuccess
// without launching when M, N or batch is 0.
inline cudaError_t gemm_tiled(float* c, const float* a, const float* b, const GemmDesc& d,
                              float alpha, float beta, cudaStream_t stream) {
  return detail::gemm_tiled_with_bias(c, a, b, d, alpha, beta, nullptr, stream);
}

}  // namespace tinycnn::kernels::cuda
