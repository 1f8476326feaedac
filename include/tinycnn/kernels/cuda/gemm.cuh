// CUDA SGEMM: C = alpha * op(A) * op(B) + beta * C, row-major, any transposes, leading dimensions
// and batch (GemmDesc), fp32 FMA on shared-memory and register tiles (gemm_tile.cuh).
//
// Dimension letters: C (M,N), op(A) (M,K), op(B) (K,N); see tinycnn/kernels/problem.hpp.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "tinycnn/kernels/cuda/gemm_tile.cuh"
#include "tinycnn/kernels/cuda/launch.cuh"
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

// The launcher behind gemm_tiled and the convolutions' products (1x1 layers, Winograd): checks the
// descriptor, picks the tile (the large one unless it would leave SMs idle) and whether 16-byte
// loads are legal. tf32: products with B untransposed (all the convolutions use) run on TF32
// tensor cores where the GPU has them (sm_80 on); others, and older GPUs, stay on fp32 FMAs.
inline cudaError_t gemm_tiled_with_bias(float* c, const float* a, const float* b, const GemmDesc& d,
                                        float alpha, float beta, const float* bias,
                                        cudaStream_t stream, bool tf32 = false) {
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
  static_assert(TileLargeTf32::kBlockM == TileLarge::kBlockM &&
                TileLargeTf32::kBlockN == TileLarge::kBlockN, "one tile-count rule for both");
  if (tf32 && !d.trans_b && has_tf32_mma()) {
    const bool large = large_tiles >= multiprocessor_count();
    if (d.trans_a)
      return large ? dispatch_gemm_vec<TileLargeTf32, true, false>(c, a, b, d, alpha, beta, bias,
                                                                   vec_a, vec_b, stream)
                   : dispatch_gemm_vec<TileSmallTf32, true, false>(c, a, b, d, alpha, beta, bias,
                                                                   vec_a, vec_b, stream);
    return large ? dispatch_gemm_vec<TileLargeTf32, false, false>(c, a, b, d, alpha, beta, bias,
                                                                  vec_a, vec_b, stream)
                 : dispatch_gemm_vec<TileSmallTf32, false, false>(c, a, b, d, alpha, beta, bias,
                                                                  vec_a, vec_b, stream);
  }
  if (large_tiles >= multiprocessor_count())
    return dispatch_gemm_trans<TileLarge>(c, a, b, d, alpha, beta, bias, vec_a, vec_b, stream);
  return dispatch_gemm_trans<TileSmall>(c, a, b, d, alpha, beta, bias, vec_a, vec_b, stream);
}

// Split-K for a single product with too few tiles for the GPU and a long reduction (the Gram
// matrix of a 64-channel feature map at 8K is 64 x 64 with K = 33M): chunk s of K is entry s of a
// batched product into the workspace, then one pass adds the chunks up. Chunks run on Cfg's tiles,
// enough of them for blocks_per_sm blocks on every SM.
struct SplitK {
  std::int64_t chunks = 1, chunk_k = 0;
};

template <class Cfg = TileSmall>
inline SplitK gemm_split_k(const GemmDesc& d, std::int64_t blocks_per_sm = 4) {
  if (d.batch != 1 || d.m <= 0 || d.n <= 0) return {};
  const std::int64_t tiles =
      ((d.m + Cfg::kBlockM - 1) / Cfg::kBlockM) * ((d.n + Cfg::kBlockN - 1) / Cfg::kBlockN);
  const std::int64_t target = blocks_per_sm * std::int64_t(multiprocessor_count());
  constexpr std::int64_t kMinChunk = 1024;
  if (tiles >= target || d.k < 2 * kMinChunk) return {};
  std::int64_t chunks = std::min((target + tiles - 1) / tiles, d.k / kMinChunk);
  chunks = std::min<std::int64_t>(chunks, 65535);
  if (chunks < 2) return {};
  const std::int64_t chunk_k = ((d.k + chunks - 1) / chunks + 15) / 16 * 16;  // keeps 16-byte loads legal
  return {(d.k + chunk_k - 1) / chunk_k, chunk_k};
}

// The split gemm_tiled uses, from an A/B of the variants over VGG-19's Gram matrices on an H200
// (cuda_gemm_bench gram/*): 128x128 tiles, 4 blocks per SM, when both sides are >= 128 (1.5-2x
// the 64x64 tiles there); 64x64 tiles, 8 per SM, for narrower products (C = 64: the large tiles
// were 0.3x).
struct SplitChoice {
  SplitK split;
  bool large = false;
};

inline SplitChoice gemm_split_choice(const GemmDesc& d) {
  if (d.m >= TileLarge::kBlockM && d.n >= TileLarge::kBlockN)
    return {gemm_split_k<TileLarge>(d, 4), true};
  return {gemm_split_k<TileSmall>(d, 8), false};
}

// c(i, j) = alpha * sum_s w(s, i, j) + beta * c(i, j), w packed (chunks, m, n).
__global__ inline void split_k_reduce_kernel(float* __restrict__ c, const float* __restrict__ w,
                                             std::int64_t chunks, std::int64_t m, std::int64_t n,
                                             std::int64_t ldc, float alpha, float beta) {
  const std::int64_t mn = m * n;
  for (std::int64_t idx = grid_thread_index(); idx < mn; idx += grid_thread_count()) {
    float s = 0.0f;
    for (std::int64_t k = 0; k < chunks; ++k) s += w[k * mn + idx];
    float* out = c + (idx / n) * ldc + idx % n;
    *out = alpha * s + (beta == 0.0f ? 0.0f : beta * *out);
  }
}

template <class Cfg = TileSmall>
inline cudaError_t gemm_split_k_run(float* c, const float* a, const float* b, const GemmDesc& d,
                                    float alpha, float beta, const SplitK& split, float* workspace,
                                    cudaStream_t stream) {
  const std::int64_t kc = split.chunk_k, full = split.chunks - 1;
  GemmDesc part = d;
  part.k = kc;
  part.batch = full;
  part.stride_a = d.trans_a ? kc * d.lda : kc;  // chunk s starts at column s*kc of op(A)
  part.stride_b = d.trans_b ? kc : kc * d.ldb;  // and at row s*kc of op(B)
  part.ldc = d.n;
  part.stride_c = d.m * d.n;
  const bool vec_a = aligned16(a) && d.lda % 4 == 0 && part.stride_a % 4 == 0;
  const bool vec_b = aligned16(b) && d.ldb % 4 == 0 && part.stride_b % 4 == 0;
  cudaError_t e =
      dispatch_gemm_trans<Cfg>(workspace, a, b, part, 1.0f, 0.0f, nullptr, vec_a, vec_b, stream);
  if (e != cudaSuccess) return e;
  GemmDesc last = part;
  last.k = d.k - full * kc;
  last.batch = 1;
  const float* a_last = a + full * part.stride_a;
  const float* b_last = b + full * part.stride_b;
  e = dispatch_gemm_trans<Cfg>(workspace + full * part.stride_c, a_last, b_last, last, 1.0f,
                                     0.0f, nullptr, aligned16(a_last) && d.lda % 4 == 0,
                                     aligned16(b_last) && d.ldb % 4 == 0, stream);
  if (e != cudaSuccess) return e;
  split_k_reduce_kernel<<<grid_stride_blocks(d.m * d.n), kThreadsPerBlock, 0, stream>>>(
      c, workspace, split.chunks, d.m, d.n, d.ldc, alpha, beta);
  return cudaGetLastError();
}

}  // namespace detail

// Bytes of workspace gemm_tiled can use for d: non-zero when d is one product with too few tiles
// to fill the GPU and a long K, which it then splits along K.
inline std::size_t gemm_workspace_bytes(const GemmDesc& d) {
  const auto split = detail::gemm_split_choice(d).split;
  return split.chunks > 1 ? std::size_t(split.chunks * d.m * d.n) * sizeof(float) : 0;
}

// C = alpha * op(A) * op(B) + beta * C for every batch entry of d, queued on stream. beta == 0
// never reads C. Returns cudaErrorInvalidValue for negative sizes, leading dimensions below the
// packed ones, null pointers, K >= 2^31, M beyond 65535 * 128 or batch beyond 65535; cudaSuccess
// without launching when M, N or batch is 0. With a workspace of gemm_workspace_bytes(d) bytes,
// under-filled products are split along K.
inline cudaError_t gemm_tiled(float* c, const float* a, const float* b, const GemmDesc& d,
                              float alpha, float beta, cudaStream_t stream,
                              void* workspace = nullptr) {
  if (workspace && d.k > 0 && d.m > 0 && d.n > 0 && a && b && c && d.ldc >= d.n) {
    const auto choice = detail::gemm_split_choice(d);
    float* ws = static_cast<float*>(workspace);
    if (choice.split.chunks > 1)
      return choice.large ? detail::gemm_split_k_run<detail::TileLarge>(c, a, b, d, alpha, beta,
                                                                        choice.split, ws, stream)
                          : detail::gemm_split_k_run<detail::TileSmall>(c, a, b, d, alpha, beta,
                                                                        choice.split, ws, stream);
  }
  return detail::gemm_tiled_with_bias(c, a, b, d, alpha, beta, nullptr, stream);
}

}  // namespace tinycnn::kernels::cuda
