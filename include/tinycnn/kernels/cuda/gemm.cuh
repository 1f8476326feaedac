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

#include "tinycnn/kernels/cuda/gemm_async.cuh"
#include "tinycnn/kernels/cuda/gemm_tile.cuh"
#include "tinycnn/kernels/cuda/launch.cuh"
#include "tinycnn/kernels/env.hpp"
#include "tinycnn/kernels/problem.hpp"

namespace tinycnn::kernels::cuda {

namespace detail {

// One thread block per (BLK_M, BLK_N) tile of one batch entry: blockIdx.x walks N tiles, blockIdx.y
// M tiles and blockIdx.z the batch entry; each thread
// computes THR_M x THR_N outputs; K in steps of BLK_K through double-buffered shared memory.
// TransA/TransB pick the loaders; VecA/VecB allow 16-byte loads (decided at launch). ep: a bias
// per row (may be null: the 1x1 convolution path uses it) and a fused ReLU (Epilogue).
template <class Cfg, bool TransA, bool TransB, bool VecA, bool VecB>
__global__ void __launch_bounds__(Cfg::kThreads, Cfg::kMinBlocksPerSm)
    gemm_tiled_kernel(float* __restrict__ c, const float* __restrict__ a,
                      const float* __restrict__ b, const GemmDesc d, float alpha, float beta,
                      Epilogue ep) {
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
                  d.m, d.n, d.ldc, IdentityColumns{}, alpha, beta, ep);
}

template <class Cfg, bool TransA, bool TransB, bool VecA, bool VecB>
cudaError_t launch_gemm_tiled(float* c, const float* a, const float* b, const GemmDesc& d,
                              float alpha, float beta, Epilogue ep, cudaStream_t stream) {
  const std::int64_t n_tiles = (d.n + Cfg::kBlockN - 1) / Cfg::kBlockN;
  const std::int64_t m_tiles = (d.m + Cfg::kBlockM - 1) / Cfg::kBlockM;
  if (n_tiles > 0x7fffffff || m_tiles > 65535 || d.batch > 65535) return cudaErrorInvalidValue;
  const dim3 grid(unsigned(n_tiles), unsigned(m_tiles), unsigned(d.batch));
  gemm_tiled_kernel<Cfg, TransA, TransB, VecA, VecB>
      <<<grid, Cfg::kThreads, 0, stream>>>(c, a, b, d, alpha, beta, ep);
  return cudaGetLastError();
}

template <class Cfg, bool TransA, bool TransB>
cudaError_t dispatch_gemm_vec(float* c, const float* a, const float* b, const GemmDesc& d,
                              float alpha, float beta, Epilogue ep, bool vec_a, bool vec_b,
                              cudaStream_t stream) {
  if (vec_a && vec_b)
    return launch_gemm_tiled<Cfg, TransA, TransB, true, true>(c, a, b, d, alpha, beta, ep, stream);
  if (vec_a)
    return launch_gemm_tiled<Cfg, TransA, TransB, true, false>(c, a, b, d, alpha, beta, ep, stream);
  if (vec_b)
    return launch_gemm_tiled<Cfg, TransA, TransB, false, true>(c, a, b, d, alpha, beta, ep, stream);
  return launch_gemm_tiled<Cfg, TransA, TransB, false, false>(c, a, b, d, alpha, beta, ep, stream);
}

template <class Cfg>
cudaError_t dispatch_gemm_trans(float* c, const float* a, const float* b, const GemmDesc& d,
                                float alpha, float beta, Epilogue ep, bool vec_a, bool vec_b,
                                cudaStream_t stream) {
  if (d.trans_a && d.trans_b)
    return dispatch_gemm_vec<Cfg, true, true>(c, a, b, d, alpha, beta, ep, vec_a, vec_b, stream);
  if (d.trans_a)
    return dispatch_gemm_vec<Cfg, true, false>(c, a, b, d, alpha, beta, ep, vec_a, vec_b, stream);
  if (d.trans_b)
    return dispatch_gemm_vec<Cfg, false, true>(c, a, b, d, alpha, beta, ep, vec_a, vec_b, stream);
  return dispatch_gemm_vec<Cfg, false, false>(c, a, b, d, alpha, beta, ep, vec_a, vec_b, stream);
}

// TINYCNN_GEMM_NARROW_TILES: "0" puts products of at most 64 rows on the large tile like the
// others (where enough of them fill the GPU); unset or "1": on the 64-row tile (see below).
inline bool narrow_products_on_small_tiles() {
  static const bool on = env_switch("TINYCNN_GEMM_NARROW_TILES", 1) != 0;
  return on;
}

// TINYCNN_GEMM_ASYNC: "0" runs the TF32 products on the register-staged tiles only; unset or "1":
// on the cp.async pipeline (gemm_async.cuh) where they fit and have enough 128x128 tiles to fill
// the GPU, or (operands of TF32 values: Winograd's) at most 64 rows; "2": also Winograd's products
// with fewer tiles (on its 64x64 tile).
// (Until the eleventh session "2" was read as "1": the tenth session's 1/2 comparison measured one
// rule twice.)
inline int tf32_products_async() {
  static const int mode = env_switch("TINYCNN_GEMM_ASYNC", 1, 2);
  return mode;
}

// TINYCNN_GEMM_ASYNC_ROUNDING: "0" keeps the products of operands not rounded to TF32 yet (the 1x1
// layers') on the register-staged tiles; unset or "1": on the pipeline, which rounds them in
// shared memory, where they have enough 128x128 tiles to fill the GPU.
inline bool tf32_rounding_products_async() {
  static const bool on = env_switch("TINYCNN_GEMM_ASYNC_ROUNDING", 1) != 0;
  return on;
}

// The launcher behind gemm_tiled and the convolutions' products (1x1 layers, Winograd): checks the
// descriptor, picks the tile (the large one unless it would leave SMs idle, or the product has at
// most 64 rows: VGG's 64-channel layers in Winograd and the style gradients of relu1_x, where half
// of a 128-row tile would multiply zeros; ncu, VGG-16 at 2048 px: 27 TFLOP/s TF32, 32 % SM, 33 %
// DRAM there) and whether 16-byte loads are legal. tf32: products with B untransposed (all the
// convolutions use) run on TF32 tensor cores where the GPU has them (sm_80 on); others, and older
// GPUs, stay on fp32 FMAs. rounded (with tf32, A untransposed): A and B hold TF32 values already
// (round_tf32 of each), so the tiles skip rounding them. Where the operands' rows are 16-byte
// aligned the product runs on the cp.async pipeline (gemm_tf32_async), which rounds unrounded
// operands in shared memory; the result is the same, bit for bit. ep: bias per row (may be null)
// and a fused ReLU.
inline cudaError_t gemm_tiled_with_bias(float* c, const float* a, const float* b, const GemmDesc& d,
                                        float alpha, float beta, Epilogue ep, cudaStream_t stream,
                                        bool tf32 = false, bool rounded = false) {
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
                    TileLargeTf32::kBlockN == TileLarge::kBlockN &&
                    TileSmallTf32::kBlockM == TileSmall::kBlockM,
                "one tile-count rule for both");
  const bool narrow = d.m <= TileSmall::kBlockM && narrow_products_on_small_tiles();
  const bool large = !narrow && large_tiles >= multiprocessor_count();
  if (tf32 && !d.trans_b && has_tf32_mma()) {
    const int async = tf32_products_async();
    const bool fits = async != 0 && gemm_tf32_async_fits(a, b, d);
    if (rounded && !d.trans_a && fits && (large || narrow || async == 2))
      return large    ? gemm_tf32_async<AsyncTileLarge>(c, a, b, d, alpha, beta, ep, stream)
             : narrow ? gemm_tf32_async<AsyncTileNarrow>(c, a, b, d, alpha, beta, ep, stream)
                      : gemm_tf32_async<AsyncTileSmall>(c, a, b, d, alpha, beta, ep, stream);
    if (!rounded && large && fits && tf32_rounding_products_async())
      return d.trans_a
                 ? gemm_tf32_async<AsyncTileLarge, true, true>(c, a, b, d, alpha, beta, ep, stream)
                 : gemm_tf32_async<AsyncTileLarge, false, true>(c, a, b, d, alpha, beta, ep,
                                                                stream);
    if (rounded && !d.trans_a)
      return large ? dispatch_gemm_vec<TileLargeTf32Rounded, false, false>(c, a, b, d, alpha, beta,
                                                                           ep, vec_a, vec_b, stream)
                   : dispatch_gemm_vec<TileSmallTf32Rounded, false, false>(
                         c, a, b, d, alpha, beta, ep, vec_a, vec_b, stream);
    if (d.trans_a)
      return large ? dispatch_gemm_vec<TileLargeTf32, true, false>(c, a, b, d, alpha, beta, ep,
                                                                   vec_a, vec_b, stream)
                   : dispatch_gemm_vec<TileSmallTf32, true, false>(c, a, b, d, alpha, beta, ep,
                                                                   vec_a, vec_b, stream);
    return large ? dispatch_gemm_vec<TileLargeTf32, false, false>(c, a, b, d, alpha, beta, ep,
                                                                  vec_a, vec_b, stream)
                 : dispatch_gemm_vec<TileSmallTf32, false, false>(c, a, b, d, alpha, beta, ep,
                                                                  vec_a, vec_b, stream);
  }
  if (large)
    return dispatch_gemm_trans<TileLarge>(c, a, b, d, alpha, beta, ep, vec_a, vec_b, stream);
  return dispatch_gemm_trans<TileSmall>(c, a, b, d, alpha, beta, ep, vec_a, vec_b, stream);
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
  // Chunks of at least 1024 reductions. Short reductions (K < 2048) split too, in chunks of at
  // least 64, where the tiles are at most 1/16 of the target: the style gradients (C x C times
  // C x H*W) of deep layers at small sizes, one block per tile reducing K = 256-1024 in 8-wide
  // steps (NIN at 64 px, relu3/relu7/relu10: 36/42/89 us, 22 % of the iteration's kernel time;
  // H200, ncu). With 1/4, NIN's relu10 at 1024 px (256 tiles) split too and the iteration lost 2 %.
  constexpr std::int64_t kMinChunk = 1024;
  const std::int64_t min_chunk = d.k < 2 * kMinChunk && tiles * 16 <= target ? 64 : kMinChunk;
  if (tiles >= target || d.k < 2 * min_chunk) return {};
  std::int64_t chunks = std::min((target + tiles - 1) / tiles, d.k / min_chunk);
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

// The products of a reduction split into `chunks` chunks of chunk_k (the last one the rest):
// chunk s covers columns [s*chunk_k, ...) of op(A) and rows [s*chunk_k, ...) of op(B) and writes
// page s of ws (chunks, m, n), packed. The first `full` chunks (all of them, or all but the last)
// run as one batched product, the rest as one more. run(c, a, b, desc) launches one product.
template <class Run>
inline cudaError_t split_k_chunk_products(float* ws, const float* a, const float* b,
                                          const GemmDesc& d, std::int64_t chunks,
                                          std::int64_t chunk_k, std::int64_t full, Run run) {
  GemmDesc part = d;
  part.k = chunk_k;
  part.batch = full;
  part.stride_a = d.trans_a ? chunk_k * d.lda : chunk_k;  // chunk s: column s*chunk_k of op(A)
  part.stride_b = d.trans_b ? chunk_k : chunk_k * d.ldb;  // and row s*chunk_k of op(B)
  part.ldc = d.n;
  part.stride_c = d.m * d.n;
  cudaError_t e = run(ws, a, b, part);
  if (e != cudaSuccess || full == chunks) return e;
  GemmDesc last = part;
  last.k = d.k - full * chunk_k;
  last.batch = 1;
  return run(ws + full * part.stride_c, a + full * part.stride_a, b + full * part.stride_b, last);
}

template <class Cfg = TileSmall>
inline cudaError_t gemm_split_k_run(float* c, const float* a, const float* b, const GemmDesc& d,
                                    float alpha, float beta, const SplitK& split, float* workspace,
                                    cudaStream_t stream) {
  const cudaError_t e = split_k_chunk_products(
      workspace, a, b, d, split.chunks, split.chunk_k, split.chunks - 1,
      [&](float* w, const float* pa, const float* pb, const GemmDesc& part) {
        // Chunk strides are multiples of 16: the batch never makes 16-byte loads illegal.
        return dispatch_gemm_trans<Cfg>(w, pa, pb, part, 1.0f, 0.0f, nullptr,
                                        aligned16(pa) && d.lda % 4 == 0,
                                        aligned16(pb) && d.ldb % 4 == 0, stream);
      });
  if (e != cudaSuccess) return e;
  split_k_reduce_kernel<<<grid_stride_blocks(d.m * d.n), kThreadsPerBlock, 0, stream>>>(
      c, workspace, split.chunks, d.m, d.n, d.ldc, alpha, beta);
  return cudaGetLastError();
}

// ---------------------------------------------------------------------------------------------
// Gram matrices G = F F^T, F (C, M) with row stride ld: one C x C product with a long reduction
// (M = H*W of a feature map). G is symmetric, so only the T(T+1)/2 tiles on and above the diagonal
// of the T x T tile grid are multiplied (for C = 1024 on 128-wide tiles, 36 of 64), each split
// along M into chunks written to a workspace (chunks, C, C); the chunks are then added up (in
// groups of kGramGroup first when there are many) and the upper tiles mirrored into the lower ones.
struct GramPlan {
  bool large = false;  // TileLarge (C > 64) or TileSmall
  std::int64_t chunks = 1, chunk_k = 0;
};

inline constexpr std::int64_t kGramGroup = 32;

// As many chunks as fill the GPU's resident blocks once (pairs x chunks <= SMs x blocks per SM:
// a second, partial wave cost up to 25 % in cuda_gemm_bench gram/*), each at least min_chunk long.
// C in 65..128 takes one 128-wide tile rather than three 64-wide ones (1.3x for C = 96).
// min_chunk 0: 256 where that still fills the GPU, else as short as 32 (small images: NIN relu0 at
// 64 px, C = 96 and M = 196, ran as one block over the whole reduction, 26 us on an H200);
// TINYCNN_GRAM_SHORT_CHUNKS=0 keeps 256.
inline GramPlan gram_plan(std::int64_t c, std::int64_t m, std::int64_t min_chunk = 0) {
  GramPlan p;
  if (c <= 0 || m <= 0) return p;
  if (min_chunk <= 0) {
    static const bool short_chunks = env_switch("TINYCNN_GRAM_SHORT_CHUNKS", 1) != 0;
    min_chunk = short_chunks ? 32 : 256;
  }
  p.large = c > TileSmall::kBlockM;
  const std::int64_t tile = p.large ? TileLarge::kBlockM : TileSmall::kBlockM;
  const std::int64_t resident = p.large ? TileLarge::kMinBlocksPerSm : TileSmall::kMinBlocksPerSm;
  const std::int64_t t = (c + tile - 1) / tile, pairs = t * (t + 1) / 2;
  const std::int64_t slots = resident * std::int64_t(multiprocessor_count());
  p.chunks = std::clamp<std::int64_t>(
      std::min(slots / pairs, m / std::max<std::int64_t>(min_chunk, 16)), 1, 65535);
  p.chunk_k = ((m + p.chunks - 1) / p.chunks + 15) / 16 * 16;  // keeps 16-byte loads legal
  p.chunks = (m + p.chunk_k - 1) / p.chunk_k;
  return p;
}

// blockIdx.x: the pair (ti <= tj) of tile rows, in row order of the upper triangle; blockIdx.y: the
// chunk of the reduction. Writes the pair's (BLK, BLK) tile of chunk blockIdx.y's partial product.
template <class Cfg, bool Vec>
__global__ void __launch_bounds__(Cfg::kThreads, Cfg::kMinBlocksPerSm)
    gram_tiles_kernel(float* __restrict__ w, const float* __restrict__ f, std::int64_t c,
                      std::int64_t m, std::int64_t ld, std::int64_t chunk_k) {
  static_assert(Cfg::kBlockM == Cfg::kBlockN,
                "square tiles: the diagonal pairs a tile with itself");
  using Loader = KContiguousLoader<Cfg, Cfg::kBlockM, Vec>;
  const int t = int((c + Cfg::kBlockM - 1) / Cfg::kBlockM);
  int ti = 0, p = int(blockIdx.x);
  while (p >= t - ti) p -= t - ti++;
  const int tj = ti + p;
  const std::int64_t k0 = std::int64_t(blockIdx.y) * chunk_k;
  __shared__ TileSmem<Cfg> smem;
  Loader la(f + k0, ld, c, std::int64_t(ti) * Cfg::kBlockM);
  Loader lb(f + k0, ld, c, std::int64_t(tj) * Cfg::kBlockN);
  float acc[Cfg::kThreadM][Cfg::kThreadN];
  tile_mainloop<Cfg>(la, lb, int(std::min(chunk_k, m - k0)), smem, acc);
  store_tile<Cfg>(w + std::int64_t(blockIdx.y) * c * c, acc, std::int64_t(ti) * Cfg::kBlockM,
                  std::int64_t(tj) * Cfg::kBlockN, c, c, c, IdentityColumns{}, 1.f, 0.f, nullptr);
}

// First level of the sum when there are many chunks: chunk g * kGramGroup's slot becomes the sum
// of chunks g * kGramGroup ... + kGramGroup - 1 (in place: each element of a group is read and
// written by one thread), for the upper tiles' elements only. One thread per (group, element).
__global__ inline void gram_group_sum_kernel(float* __restrict__ w, std::int64_t chunks,
                                             std::int64_t c, int tile) {
  const std::int64_t cc = c * c, groups = (chunks + kGramGroup - 1) / kGramGroup;
  for (std::int64_t idx = grid_thread_index(); idx < groups * cc; idx += grid_thread_count()) {
    const std::int64_t g = idx / cc, e = idx - g * cc;
    if ((e / c) / tile > (e % c) / tile) continue;  // a lower tile: never computed
    const std::int64_t k0 = g * kGramGroup, k1 = std::min(chunks, k0 + kGramGroup);
    float* slot = w + k0 * cc + e;
    float s = *slot;
    for (std::int64_t k = k0 + 1; k < k1; ++k) s += w[k * cc + e];
    *slot = s;
  }
}

// g(i, j) = alpha * sum_s w(s * step, i', j') + beta * g(i, j) over `count` slots, 32 x 32 blocks
// of g per block; (i', j') = (i, j) where the tile pair was computed, (j, i) in the lower tiles:
// those blocks read their mirror block row by row (coalesced) and write it transposed through
// shared memory. tile: 64 or 128, a multiple of 32, so a block never straddles a tile boundary.
// Blocks of 32 x 8 threads.
__global__ inline void gram_reduce_kernel(float* __restrict__ g, std::int64_t ldg,
                                          const float* __restrict__ w, std::int64_t count,
                                          std::int64_t step, std::int64_t c, int tile, float alpha,
                                          float beta) {
  __shared__ float s[32][33];
  const std::int64_t bi = std::int64_t(blockIdx.y) * 32, bj = std::int64_t(blockIdx.x) * 32;
  const bool mirror = bi / tile > bj / tile;
  const std::int64_t si = mirror ? bj : bi, sj = mirror ? bi : bj, stride = step * c * c;
  const int x = int(threadIdx.x);
  for (int y = int(threadIdx.y); y < 32; y += 8) {
    const std::int64_t i = si + y, j = sj + x;
    float v = 0.f;
    if (i < c && j < c)
      for (std::int64_t k = 0; k < count; ++k) v += w[k * stride + i * c + j];
    s[y][x] = v;
  }
  __syncthreads();
  for (int y = int(threadIdx.y); y < 32; y += 8) {
    const std::int64_t i = bi + y, j = bj + x;
    if (i >= c || j >= c) continue;
    float& out = g[i * ldg + j];
    const float v = alpha * (mirror ? s[x][y] : s[y][x]);
    out = beta == 0.f ? v : v + beta * out;
  }
}

template <class Cfg>
inline cudaError_t gram_run(float* g, std::int64_t ldg, const float* f, std::int64_t c,
                            std::int64_t m, std::int64_t ld, float alpha, float beta,
                            const GramPlan& plan, float* workspace, cudaStream_t stream) {
  const std::int64_t t = (c + Cfg::kBlockM - 1) / Cfg::kBlockM, pairs = t * (t + 1) / 2;
  const std::int64_t blocks32 = (c + 31) / 32;
  if (pairs > 0x7fffffff || plan.chunks > 65535 || blocks32 > 65535 ||
      plan.chunk_k > 0x7fffffff - 64)  // the reduction counts in int
    return cudaErrorInvalidValue;
  const dim3 grid(unsigned(pairs), unsigned(plan.chunks));
  if (aligned16(f) && ld % 4 == 0)
    gram_tiles_kernel<Cfg, true>
        <<<grid, Cfg::kThreads, 0, stream>>>(workspace, f, c, m, ld, plan.chunk_k);
  else
    gram_tiles_kernel<Cfg, false>
        <<<grid, Cfg::kThreads, 0, stream>>>(workspace, f, c, m, ld, plan.chunk_k);
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) return e;
  std::int64_t count = plan.chunks, step = 1;
  if (count > kGramGroup) {
    gram_group_sum_kernel<<<grid_stride_blocks(((count + kGramGroup - 1) / kGramGroup) * c * c),
                            kThreadsPerBlock, 0, stream>>>(workspace, count, c, Cfg::kBlockM);
    e = cudaGetLastError();
    if (e != cudaSuccess) return e;
    count = (count + kGramGroup - 1) / kGramGroup, step = kGramGroup;
  }
  gram_reduce_kernel<<<dim3(unsigned(blocks32), unsigned(blocks32)), dim3(32, 8), 0, stream>>>(
      g, ldg, workspace, count, step, c, Cfg::kBlockM, alpha, beta);
  return cudaGetLastError();
}

}  // namespace detail

// Bytes of workspace gram needs for F (c, m).
inline std::size_t gram_workspace_bytes(std::int64_t c, std::int64_t m) {
  if (c <= 0 || m <= 0) return 0;
  return std::size_t(detail::gram_plan(c, m).chunks * c * c) * sizeof(float);
}

// G = alpha * F F^T + beta * G, F (c, m) with row stride ld >= m, G (c, c) with row stride
// ldg >= c, queued on stream; workspace of gram_workspace_bytes(c, m) bytes. beta == 0 never reads
// G; m == 0 gives beta * G. Returns cudaErrorInvalidValue for negative sizes, short strides, null
// pointers or C beyond 2^21.
inline cudaError_t gram(float* g, std::int64_t ldg, const float* f, std::int64_t c, std::int64_t m,
                        std::int64_t ld, float alpha, float beta, void* workspace,
                        cudaStream_t stream) {
  if (c < 0 || m < 0 || ld < m || ldg < c) return cudaErrorInvalidValue;
  if (c == 0) return cudaSuccess;
  if (!g || (m > 0 && (!f || !workspace))) return cudaErrorInvalidValue;
  if (m == 0) {
    GemmDesc d = packed_gemm(c, c, 0, false, true);
    d.ldc = ldg;
    return detail::gemm_tiled_with_bias(g, f, f, d, alpha, beta, nullptr, stream);
  }
  const auto plan = detail::gram_plan(c, m);
  float* ws = static_cast<float*>(workspace);
  return plan.large ? detail::gram_run<detail::TileLarge>(g, ldg, f, c, m, ld, alpha, beta, plan,
                                                          ws, stream)
                    : detail::gram_run<detail::TileSmall>(g, ldg, f, c, m, ld, alpha, beta, plan,
                                                          ws, stream);
}

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
