// TF32 tensor-core GEMM with a multistage cp.async pipeline, for C = op(A) * B with both operands'
// rows 16-byte aligned: Winograd's batched products (operands TF32 values already: the transforms
// round what they write), and the 1x1 layers' products (forward: A untransposed; backward data: A
// transposed; operands rounded to TF32 in shared memory as each slice lands).
//
// Against the register-staged tiles of gemm_tile.cuh (TensorTileConfig), which load a slice into
// registers, round it and store it transposed into shared memory, and read every fragment value
// with its own 32-bit shared load:
//   - operands go from global to shared memory by cp.async (16 bytes, no registers), `Stages - 1`
//     slices in flight ahead of the one being multiplied, zero-filled past the matrix edges;
//   - A keeps its row-major layout in shared memory (rows of BLK_K + 4 floats), so one
//     ldmatrix.x4 delivers a whole 16x8 A fragment (its four 8x4 quarters: rows g / g + 8,
//     reductions t / t + 4, as the mma.m16n8k8 layout wants);
//   - B keeps its (reduction, column) layout, and the warp's columns are permuted in groups of
//     four MMA tiles: tile q's column c lives at group column c * 4 + q, so a lane's B values of
//     a group are adjacent (one 16-byte load per reduction row instead of four 4-byte loads), and
//     its outputs are runs of four adjacent columns (16-byte stores in the epilogue).
//   - a transposed A keeps its (reduction, row) layout, and a lane reads its four A values of a
//     fragment one by one (conflict-free, as in the staged tiles).
// The reduction runs in the same order (slices of 8, in order) as the register-staged tiles, and
// values are rounded as they round them (cvt.rna), so the products are bit-identical to theirs.
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>
#include <type_traits>

#include "tinycnn/kernels/cuda/gemm_tile.cuh"
#include "tinycnn/kernels/problem.hpp"

namespace tinycnn::kernels::cuda::detail {

// BLK_M x BLK_N outputs per block of WarpsM x WarpsN warps (each a (BLK_M/WarpsM, BLK_N/WarpsN)
// grid of 16x8 MMA tiles), BLK_K reductions per stage, `Stages` stages in shared memory
// (dynamic; over 48 KB, so the launcher raises the kernel's limit). The warp's MMA tiles form
// groups of kGroupN = min(kMmaN, 4) side by side; within a group, tile q's column c lives at group
// column c * kGroupN + q. Accumulator acc[i][j]: i = 2 mi + h is row mi*16 + 8h + g of the warp's
// tile (as in TensorTileConfig); j = grp * 2 kGroupN + e * kGroupN + q is tile
// ni = grp * kGroupN + q's column 2t + e, at warp column grp * 8 kGroupN + 2t * kGroupN + j % (2
// kGroupN).
template <int BlockM, int BlockN, int BlockK, int WarpsM, int WarpsN, int Stages,
          int MinBlocksPerSm>
struct AsyncTileConfig {
  static constexpr int kBlockM = BlockM, kBlockN = BlockN, kBlockK = BlockK, kStages = Stages;
  static constexpr int kWarpM = BlockM / WarpsM, kWarpN = BlockN / WarpsN;
  static constexpr int kMmaM = kWarpM / 16, kMmaN = kWarpN / 8;
  static constexpr int kThreadM = 2 * kMmaM, kThreadN = 2 * kMmaN;
  static constexpr int kWarpsN = WarpsN;
  static constexpr int kThreads = 32 * WarpsM * WarpsN;
  static constexpr int kMinBlocksPerSm = MinBlocksPerSm;
  // A rows padded by 4 floats: the 8 rows of an ldmatrix quarter fall into 8 different 16-byte
  // bank groups. B rows padded by 8: the 16-byte loads of (reduction t, lane group g) are
  // conflict-free within each quarter warp.
  static constexpr int kLdsA = BlockK + 4, kLdsB = BlockN + 8;
  static constexpr int kStageA = BlockM * kLdsA, kStageB = BlockK * kLdsB;  // floats per stage
  static constexpr int kChunksA = BlockM * BlockK / 4, kChunksB = BlockK * BlockN / 4;
  static constexpr int kGroupN = kMmaN < 4 ? kMmaN : 4;
  static constexpr int kColRun = kGroupN;
  static_assert(kWarpM % 16 == 0 && kWarpN % 8 == 0, "warp tiles are made of 16x8 MMA tiles");
  static_assert(kGroupN == 2 || (kGroupN == 4 && kMmaN % 4 == 0),
                "a lane's B values of a group are one 8- or 16-byte load");
  static_assert(BlockK % 8 == 0 && Stages >= 2, "the MMA reduces 8 elements at a time");
  static_assert(kChunksA % kThreads == 0 && kChunksB % kThreads == 0,
                "every thread copies the same number of 16-byte chunks");
  __device__ __forceinline__ static int acc_row(int i) {
    const int warp_m = int(threadIdx.x / 32) / WarpsN, g = int(threadIdx.x % 32) / 4;
    return warp_m * kWarpM + (i / 2) * 16 + (i % 2) * 8 + g;
  }
  __device__ __forceinline__ static int acc_col(int j) {
    const int warp_n = int(threadIdx.x / 32) % WarpsN, t = int(threadIdx.x % 4);
    return warp_n * kWarpN + (j / (2 * kGroupN)) * 8 * kGroupN + 2 * t * kGroupN +
           j % (2 * kGroupN);
  }
  // acc column of MMA tile ni's column 2t + e.
  __host__ __device__ static constexpr int acc_index(int ni, int e) {
    return (ni / kGroupN) * 2 * kGroupN + e * kGroupN + ni % kGroupN;
  }
};

// 128x128 outputs, 8 warps of 64x32, 32 reductions per stage, 3 stages (105 KB: two blocks per SM
// on sm_90 and sm_80).
using AsyncTileLarge = AsyncTileConfig<128, 128, 32, 2, 4, 3, 2>;
// 64x128 outputs, 8 warps of 32x32, 32 reductions per stage, 3 stages (78 KB, two blocks per SM):
// products of at most 64 rows (VGG's 64-channel layers: short, memory-bound reductions). On an
// H200 (cuda_gemm_bench --tf32, wino/conv1_2) 9 % faster than 16 reductions in 4 stages and than
// 64x256 tiles of 32x64 warps; the 128-row alternatives (4 stages, 16 reductions, 128x256,
// 256x128, 4 warps of 64x64) were at best level with AsyncTileLarge. Registers for the two blocks
// its shared memory allows (asking for four capped them at 64 and spilled 20 bytes; conv1_2's
// product 0.100 ms either way within noise: 0.099-0.105 ms with four, two calls, H200).
using AsyncTileNarrow = AsyncTileConfig<64, 128, 32, 2, 4, 3, 2>;
// 64x64 outputs, 4 warps of 32x32, 16 reductions per stage, 4 stages (37 KB): products with too few
// large tiles to fill the GPU, under TINYCNN_GEMM_ASYNC=2 (by default those stay on the staged
// tiles: no faster here in the style iteration, H200).
using AsyncTileSmall = AsyncTileConfig<64, 64, 16, 2, 2, 4, 4>;

// 16 bytes global -> shared, asynchronously; only the first `bytes` (0-16) are read, the rest of
// the 16 are zero-filled. src must be a valid address even when bytes == 0.
__device__ __forceinline__ void cp_async_16(float* dst, const float* src, int bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(src), "r"(bytes)
               : "memory");
#else
  __trap();
#endif
}

__device__ __forceinline__ void cp_async_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}

// Waits until at most N of this thread's committed groups are still in flight.
template <int N>
__device__ __forceinline__ void cp_async_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
#endif
}

// Four 8x4 blocks of 32-bit values (8x8 of 16-bit, as ldmatrix counts): lane l gives the address
// of row l % 8 of block l / 8 and receives (row l / 4, word l % 4) of each block.
__device__ __forceinline__ void ldmatrix_x4(unsigned (&r)[4], const float* p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s));
#else
  __trap();
#endif
}

// One thread's share of the 16-byte chunks of one operand's stage, a (Rows, Cols)-float slice
// whose rows are Cols / 4 chunks long: chunk c = tid + p * Threads is row c / (Cols / 4), so pass
// p is the thread's first row + p * kRowsPerPass, at the same columns. Slice row r is global row
// row0 + r; columns start at col0; `step` floats separate consecutive slices in global memory.
template <int Chunks, int Threads, int Cols, int Lds>
struct AsyncCopier {
  static constexpr int kPasses = Chunks / Threads, kChunksPerRow = Cols / 4;
  static constexpr int kRowsPerPass = Threads / kChunksPerRow;
  static_assert(Threads % kChunksPerRow == 0, "a pass covers whole rows");
  const float* src;        // this thread's first chunk in slice 0
  std::int64_t pass_step;  // kRowsPerPass rows of global memory
  int row, col, smem_off;  // first slice-relative row, global column of the chunk, shared offset

  __device__ __forceinline__ AsyncCopier(const float* base, std::int64_t ld, std::int64_t row0,
                                         int col0) {
    row = int(threadIdx.x) / kChunksPerRow;
    const int cc = int(threadIdx.x % kChunksPerRow) * 4;
    col = col0 + cc;
    src = base + (row0 + row) * ld + col;
    pass_step = std::int64_t(kRowsPerPass) * ld;
    smem_off = row * Lds + cc;
  }

  // Copies slice s into `stage`: a chunk is read while its row is below rows_left and as far as
  // its floats are below cols_total (zeros after); fallback stands in for skipped sources.
  __device__ __forceinline__ void copy(float* stage, const float* fallback, std::int64_t step,
                                       int s, std::int64_t rows_left,
                                       std::int64_t cols_total) const {
    const std::int64_t cols = cols_total - col;
    const int col_bytes = cols >= 4 ? 16 : cols > 0 ? int(cols) * 4 : 0;
#pragma unroll
    for (int p = 0; p < kPasses; ++p) {
      const int bytes = row + p * kRowsPerPass < rows_left ? col_bytes : 0;
      cp_async_16(stage + smem_off + p * kRowsPerPass * Lds,
                  bytes > 0 ? src + p * pass_step + s * step : fallback, bytes);
    }
  }

  // Rounds this thread's chunks of `stage` to TF32 in place, once its copies into it have landed
  // (the block's barrier after this makes them visible to the other threads).
  __device__ __forceinline__ void round_to_tf32(float* stage) const {
#pragma unroll
    for (int p = 0; p < kPasses; ++p) {
      float4* q = reinterpret_cast<float4*>(stage + smem_off + p * kRowsPerPass * Lds);
      float4 v = *q;
      round_tf32_inplace(v);
      *q = v;
    }
  }
};

// How the pipeline holds A (row-major, or transposed: (reduction, row)) in shared memory.
template <class Cfg, bool TransA>
struct AsyncLayout {
  // A transposed: rows of BLK_M + 8 floats, so the fragment reads (reduction t, row g) of a warp
  // fall into 32 different banks.
  static constexpr int kLdsA = TransA ? Cfg::kBlockM + 8 : Cfg::kLdsA;
  static constexpr int kStageA = TransA ? Cfg::kBlockK * kLdsA : Cfg::kStageA;
  static constexpr int kSmemBytes = Cfg::kStages * (kStageA + Cfg::kStageB) * int(sizeof(float));
};

// One (BLK_M, BLK_N) tile of batch entry blockIdx.z per block (grid as gemm_tiled_kernel).
// TransA: A is (K, M) in memory. Round: the operands are rounded to TF32 in shared memory (they
// are TF32 values already otherwise).
template <class Cfg, bool TransA, bool Round>
__global__ void __launch_bounds__(Cfg::kThreads, Cfg::kMinBlocksPerSm)
    gemm_tf32_async_kernel(float* __restrict__ c, const float* __restrict__ a,
                           const float* __restrict__ b, const GemmDesc d, float alpha, float beta,
                           Epilogue ep) {
  using Layout = AsyncLayout<Cfg, TransA>;
  extern __shared__ float4 smem_raw[];
  float* smem_a = reinterpret_cast<float*>(smem_raw);
  float* smem_b = smem_a + Cfg::kStages * Layout::kStageA;
  const std::int64_t z = blockIdx.z;
  const std::int64_t m0 = std::int64_t(blockIdx.y) * Cfg::kBlockM;
  const std::int64_t n0 = std::int64_t(blockIdx.x) * Cfg::kBlockN;
  const float* A = a + z * d.stride_a;
  const float* B = b + z * d.stride_b;
  // A's slice s: rows m0.. (M edge), reductions s*BLK_K.. (K edge as the column limit); A
  // transposed: reductions s*BLK_K.. (K edge as the row limit), rows m0.. (M edge as columns).
  // B's slice s: reductions s*BLK_K.. (K edge as the row limit), columns n0.. (N edge).
  using CopierA =
      std::conditional_t<TransA,
                         AsyncCopier<Cfg::kChunksA, Cfg::kThreads, Cfg::kBlockM, Layout::kLdsA>,
                         AsyncCopier<Cfg::kChunksA, Cfg::kThreads, Cfg::kBlockK, Layout::kLdsA>>;
  const CopierA ca = TransA ? CopierA(A, d.lda, 0, int(m0)) : CopierA(A, d.lda, m0, 0);
  const AsyncCopier<Cfg::kChunksB, Cfg::kThreads, Cfg::kBlockN, Cfg::kLdsB> cb(B, d.ldb, 0,
                                                                               int(n0));
  const int k_tiles = int((d.k + Cfg::kBlockK - 1) / Cfg::kBlockK);
  auto issue = [&](int s) {
    const std::int64_t k0 = std::int64_t(s) * Cfg::kBlockK;
    const int stage = s % Cfg::kStages;
    if constexpr (TransA)
      ca.copy(smem_a + stage * Layout::kStageA, A, std::int64_t(Cfg::kBlockK) * d.lda, s, d.k - k0,
              d.m);
    else
      ca.copy(smem_a + stage * Layout::kStageA, A, Cfg::kBlockK, s, d.m - m0, d.k - k0);
    cb.copy(smem_b + stage * Cfg::kStageB, B, std::int64_t(Cfg::kBlockK) * d.ldb, s, d.k - k0, d.n);
  };
#pragma unroll
  for (int s = 0; s < Cfg::kStages - 1; ++s) {
    if (s < k_tiles) issue(s);
    cp_async_commit();
  }

  float acc[Cfg::kThreadM][Cfg::kThreadN];
#pragma unroll
  for (int i = 0; i < Cfg::kThreadM; ++i)
#pragma unroll
    for (int j = 0; j < Cfg::kThreadN; ++j) acc[i][j] = 0.f;

  const int warp = int(threadIdx.x / 32), lane = int(threadIdx.x % 32);
  const int g = lane / 4, t = lane % 4;
  // ldmatrix addresses: lane l reads row l % 8 (+ 8 for blocks 1 and 3) at reductions
  // + 4 * (block / 2) of each 16x8 A fragment. A transposed: lane (g, t) reads (reduction t, row
  // g).
  const int warp_row = (warp / Cfg::kWarpsN) * Cfg::kWarpM;
  const int a_off =
      TransA ? t * Layout::kLdsA + warp_row + g
             : (warp_row + lane % 8 + ((lane / 8) & 1) * 8) * Layout::kLdsA + (lane / 16) * 4;
  const int b_off = t * Cfg::kLdsB + (warp % Cfg::kWarpsN) * Cfg::kWarpN + g * Cfg::kGroupN;

  for (int kt = 0; kt < k_tiles; ++kt) {
    const int stage = kt % Cfg::kStages;
    cp_async_wait<Cfg::kStages - 2>();  // slice kt has landed (this thread's copies)
    if constexpr (Round) {
      ca.round_to_tf32(smem_a + stage * Layout::kStageA);
      cb.round_to_tf32(smem_b + stage * Cfg::kStageB);
    }
    __syncthreads();  // ... everyone's; and slice kt - 1 is no longer read
    if (kt + Cfg::kStages - 1 < k_tiles) issue(kt + Cfg::kStages - 1);
    cp_async_commit();
    const float* sa = smem_a + stage * Layout::kStageA + a_off;
    const float* sb = smem_b + stage * Cfg::kStageB + b_off;
#pragma unroll
    for (int kk = 0; kk < Cfg::kBlockK; kk += 8) {
      unsigned fa[Cfg::kMmaM][4];
#pragma unroll
      for (int mi = 0; mi < Cfg::kMmaM; ++mi) {
        if constexpr (TransA) {
          const float* q = sa + kk * Layout::kLdsA + mi * 16;
          fa[mi][0] = __float_as_uint(q[0]), fa[mi][1] = __float_as_uint(q[8]);
          fa[mi][2] = __float_as_uint(q[4 * Layout::kLdsA]);
          fa[mi][3] = __float_as_uint(q[4 * Layout::kLdsA + 8]);
        } else {
          ldmatrix_x4(fa[mi], sa + mi * 16 * Layout::kLdsA + kk);
        }
      }
      float fb[2][Cfg::kMmaN];  // (reduction t, then t + 4) x the kMmaN tiles' column g
#pragma unroll
      for (int grp = 0; grp < Cfg::kMmaN / Cfg::kGroupN; ++grp) {
        const float* q = sb + grp * 8 * Cfg::kGroupN;
        load_fragment<Cfg::kGroupN>(fb[0] + grp * Cfg::kGroupN, q + kk * Cfg::kLdsB);
        load_fragment<Cfg::kGroupN>(fb[1] + grp * Cfg::kGroupN, q + (kk + 4) * Cfg::kLdsB);
      }
#pragma unroll
      for (int mi = 0; mi < Cfg::kMmaM; ++mi)
#pragma unroll
        for (int ni = 0; ni < Cfg::kMmaN; ++ni) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
          asm volatile(
              "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
              "{%8,%9}, {%0,%1,%2,%3};"
              : "+f"(acc[2 * mi][Cfg::acc_index(ni, 0)]), "+f"(acc[2 * mi][Cfg::acc_index(ni, 1)]),
                "+f"(acc[2 * mi + 1][Cfg::acc_index(ni, 0)]),
                "+f"(acc[2 * mi + 1][Cfg::acc_index(ni, 1)])
              : "r"(fa[mi][0]), "r"(fa[mi][1]), "r"(fa[mi][2]), "r"(fa[mi][3]),
                "r"(__float_as_uint(fb[0][ni])), "r"(__float_as_uint(fb[1][ni])));
#endif
        }
    }
  }
  cp_async_wait<0>();
  store_tile<Cfg>(c + z * d.stride_c, acc, m0, n0, d.m, d.n, d.ldc, IdentityColumns{}, alpha, beta,
                  ep);
}

// Whether gemm_tf32_async can run d: B untransposed, both operands' rows (and batch strides)
// 16-byte aligned, M, N and K counted in int. The caller checks that the device has cp.async,
// ldmatrix and TF32 MMAs (has_tf32_mma: sm_80 on).
//
// (B's rows copied float by float where they are not aligned, as NIN's 1x1 layers have them
// wherever H*W is odd, measured 0-15 % slower than the register-staged tiles (cuda_gemm_bench
// pw/, H200, 2026-12-04): the pipeline takes aligned rows only.)
inline bool gemm_tf32_async_fits(const float* a, const float* b, const GemmDesc& d) {
  const bool batched = d.batch > 1;
  return !d.trans_b && d.m <= 0x7fffffff - 256 && d.n <= 0x7fffffff - 256 &&
         d.k <= 0x7fffffff - 64 && aligned16(a) && aligned16(b) && d.lda % 4 == 0 &&
         d.ldb % 4 == 0 && (!batched || (d.stride_a % 4 == 0 && d.stride_b % 4 == 0));
}

// Launches Cfg's kernel over d (checked by the caller: gemm_tf32_async_fits, positive sizes;
// TransA must match d.trans_a). Round: the operands are rounded to TF32 in the kernel (else they
// must hold TF32 values). The first launch on each device raises the kernel's dynamic
// shared-memory limit.
template <class Cfg, bool TransA = false, bool Round = false>
cudaError_t gemm_tf32_async(float* c, const float* a, const float* b, const GemmDesc& d,
                            float alpha, float beta, Epilogue ep, cudaStream_t stream) {
  using Layout = AsyncLayout<Cfg, TransA>;
  if (d.trans_a != TransA || d.trans_b) return cudaErrorInvalidValue;
  const std::int64_t n_tiles = (d.n + Cfg::kBlockN - 1) / Cfg::kBlockN;
  const std::int64_t m_tiles = (d.m + Cfg::kBlockM - 1) / Cfg::kBlockM;
  if (n_tiles > 0x7fffffff || m_tiles > 65535 || d.batch > 65535) return cudaErrorInvalidValue;
  static std::atomic<std::uint64_t> raised{0};  // one bit per device (devices 0-63)
  int device = 0;
  cudaError_t e = cudaGetDevice(&device);
  if (e != cudaSuccess) return e;
  const std::uint64_t bit = device < 64 ? std::uint64_t(1) << device : 0;
  if (!bit || !(raised.load(std::memory_order_relaxed) & bit)) {
    e = cudaFuncSetAttribute(gemm_tf32_async_kernel<Cfg, TransA, Round>,
                             cudaFuncAttributeMaxDynamicSharedMemorySize, Layout::kSmemBytes);
    if (e != cudaSuccess) return e;
    raised.fetch_or(bit, std::memory_order_relaxed);
  }
  const dim3 grid(unsigned(n_tiles), unsigned(m_tiles), unsigned(d.batch));
  gemm_tf32_async_kernel<Cfg, TransA, Round>
      <<<grid, Cfg::kThreads, Layout::kSmemBytes, stream>>>(c, a, b, d, alpha, beta, ep);
  return cudaGetLastError();
}

}  // namespace tinycnn::kernels::cuda::detail
