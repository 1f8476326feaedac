// Tile machinery shared by the CUDA GEMM and the implicit-GEMM convolutions: tile shapes, the
// double-buffered shared-memory main loop, loaders for plain matrices, the epilogue.
//
// Every kernel built on it computes one (BLK_M, BLK_N) tile of C(M,N) = A(M,K) * B(K,N) per thread
// block. An operand reaches the main loop only through a loader with two calls:
//   load(valid)    global -> registers: the next (rows, BLK_K) slice of the reduction, of which
//                  only the first `valid` reduction elements exist (zeros after them and outside
//                  the matrix); then step to the following slice
//   store(s, lds)  registers -> shared memory, K-major: s[k * lds + row]
// so GEMM operands, im2col gathers and transposed filters all run on the same inner product. The
// tile shape and the inner product live in the configuration and mma_tile: TileConfig multiplies
// with fp32 FMAs on CUDA cores, TensorTileConfig with TF32 tensor-core MMAs (mma.sync m16n8k8,
// sm_80 and later); the loaders and the op layer are the same for both. Products of operands that
// are TF32 values already run on the cp.async pipeline of gemm_async.cuh where they fit.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "tinycnn/kernels/cuda/launch.cuh"

namespace tinycnn::kernels::cuda::detail {

// BLK_M x BLK_N outputs per block, BLK_K reduction elements per shared-memory stage; each thread
// owns THR_M x THR_N outputs as a 2x2 grid of (THR_M/2, THR_N/2) quads spaced half a tile apart,
// so a warp's shared-memory reads are contiguous float4s (no bank conflicts).
template <int BlockM, int BlockN, int BlockK, int ThreadM, int ThreadN, int MinBlocksPerSm>
struct TileConfig {
  static constexpr int kBlockM = BlockM, kBlockN = BlockN, kBlockK = BlockK;
  static constexpr int kThreadM = ThreadM, kThreadN = ThreadN;
  static constexpr int kThreadsM = BlockM / ThreadM, kThreadsN = BlockN / ThreadN;
  static constexpr int kThreads = kThreadsM * kThreadsN;
  static constexpr int kMinBlocksPerSm = MinBlocksPerSm;
  // Padding a shared row by 4 floats keeps transposing stores conflict-free and rows 16-byte
  // aligned.
  static constexpr int kLdsA = BlockM + 4, kLdsB = BlockN + 4;
  static constexpr int kStageA = BlockK * kLdsA, kStageB = BlockK * kLdsB;  // floats per stage
  static_assert(ThreadM % 2 == 0 && ThreadN % 2 == 0, "thread tiles are 2x2 quads");
  static_assert(BlockM % ThreadM == 0 && BlockN % ThreadN == 0,
                "thread tiles must cover the block");
  static_assert(BlockK % 4 == 0, "loaders move 4 reduction elements at a time");
  static constexpr bool kTensorCore = false;
  // Tile row and column of the thread's acc[i][j]; columns come in runs of kColRun consecutive
  // ones (j = run * kColRun + e), which the epilogue stores as one vector.
  static constexpr int kColRun = ThreadN / 2;
  __device__ __forceinline__ static int acc_row(int i) {
    constexpr int HM = ThreadM / 2;
    return (i / HM) * (BlockM / 2) + int(threadIdx.x / kThreadsN) * HM + i % HM;
  }
  __device__ __forceinline__ static int acc_col(int j) {
    constexpr int HN = ThreadN / 2;
    return (j / HN) * (BlockN / 2) + int(threadIdx.x % kThreadsN) * HN + j % HN;
  }
};

// TF32 tensor cores: BLK_M x BLK_N outputs per block of WarpsM x WarpsN warps, each warp a
// (BLK_M/WarpsM, BLK_N/WarpsN) grid of 16x8 MMA tiles. In one 16x8 tile, lane l = 4g + t holds
// outputs (g, 2t), (g, 2t+1), (g+8, 2t), (g+8, 2t+1) (the mma.m16n8 accumulator layout), so
// acc[2mi + h][2ni + e] is row mi*16 + 8h + g, column ni*8 + 2t + e of the warp's tile. Shared
// rows are padded by 8 floats: a warp's fragment reads (row g, reduction t) then hit 32 banks.
// Rounded: the operands are TF32 values already (the Winograd transforms round what they write),
// so staging skips the rounding: an emulated cvt.rna per staged value, ~18 % of the main loop's
// instructions (SASS, docs/notes/cuda-gemm-conv.md round 5).
template <int BlockM, int BlockN, int BlockK, int WarpsM, int WarpsN, int MinBlocksPerSm,
          bool Rounded = false>
struct TensorTileConfig {
  static constexpr bool kOperandsRounded = Rounded;
  static constexpr int kBlockM = BlockM, kBlockN = BlockN, kBlockK = BlockK;
  static constexpr int kWarpM = BlockM / WarpsM, kWarpN = BlockN / WarpsN;
  static constexpr int kMmaM = kWarpM / 16, kMmaN = kWarpN / 8;  // MMA tiles per warp
  static constexpr int kThreadM = 2 * kMmaM, kThreadN = 2 * kMmaN;
  static constexpr int kWarpsN = WarpsN;
  static constexpr int kThreads = 32 * WarpsM * WarpsN;
  static constexpr int kMinBlocksPerSm = MinBlocksPerSm;
  static constexpr int kLdsA = BlockM + 8, kLdsB = BlockN + 8;
  static constexpr int kStageA = BlockK * kLdsA, kStageB = BlockK * kLdsB;
  static constexpr bool kTensorCore = true;
  static constexpr int kColRun = 2;
  static_assert(kWarpM % 16 == 0 && kWarpN % 8 == 0, "warp tiles are made of 16x8 MMA tiles");
  static_assert(BlockK % 8 == 0, "the MMA reduces 8 elements at a time");
  __device__ __forceinline__ static int acc_row(int i) {
    const int warp_m = int(threadIdx.x / 32) / WarpsN, g = int(threadIdx.x % 32) / 4;
    return warp_m * kWarpM + (i / 2) * 16 + (i % 2) * 8 + g;
  }
  __device__ __forceinline__ static int acc_col(int j) {
    const int warp_n = int(threadIdx.x / 32) % WarpsN, t = int(threadIdx.x % 4);
    return warp_n * kWarpN + (j / 2) * 8 + 2 * t + j % 2;
  }
};

// The main configuration: 128x128x8, 256 threads of 8x8; 2 blocks per SM caps registers at 128.
using TileLarge = TileConfig<128, 128, 8, 8, 8, 2>;
// For problems with fewer large tiles than SMs: 64x64x8, 64 threads of 8x8.
using TileSmall = TileConfig<64, 64, 8, 8, 8, 8>;
// Their TF32 counterparts: 128x128x16 with 8 warps of 64x32 (64 accumulators a thread, as above),
// and 64x64x16 with 4 warps of 32x32.
using TileLargeTf32 = TensorTileConfig<128, 128, 16, 2, 4, 2>;
using TileSmallTf32 = TensorTileConfig<64, 64, 16, 2, 2, 4>;
// The same tiles for operands that hold TF32 values already.
using TileLargeTf32Rounded = TensorTileConfig<128, 128, 16, 2, 4, 2, true>;
using TileSmallTf32Rounded = TensorTileConfig<64, 64, 16, 2, 2, 4, true>;

// ---------------------------------------------------------------------------------------------
// Loaders of plain matrices (GEMM operands, filters). "Rows" is the tile's M or N extent.

// Operand stored with the reduction index contiguous: element (row i, reduction k) at p[i*ld + k]
// (A untransposed, B transposed, the filter in convolution forward). Each thread moves 4
// consecutive k of one row: a float4 when Vec (ld % 4 == 0 and p 16-byte aligned, checked at
// launch) and all 4 are valid, else 4 checked scalars.
template <class Cfg, int Rows, bool Vec>
struct KContiguousLoader {
  static constexpr int kThreadsPerRow = Cfg::kBlockK / 4;
  static constexpr int kRowsPerPass = Cfg::kThreads / kThreadsPerRow;
  static constexpr int kPasses = Rows / kRowsPerPass;
  static_assert(Cfg::kThreads % kThreadsPerRow == 0 && Rows % kRowsPerPass == 0 && kPasses >= 1,
                "loader mapping must tile the (Rows, BLK_K) slice");

  const float* ptr[kPasses];  // this thread's row at the current slice, + k_off
  bool row_ok[kPasses];
  int k_off;
  float4 v[kPasses];

  // p points at (row 0, reduction k_begin) of the operand.
  __device__ __forceinline__ KContiguousLoader(const float* p, std::int64_t ld,
                                               std::int64_t rows_total, std::int64_t row0) {
    k_off = int(threadIdx.x % kThreadsPerRow) * 4;
#pragma unroll
    for (int i = 0; i < kPasses; ++i) {
      const std::int64_t row = row0 + int(threadIdx.x / kThreadsPerRow) + i * kRowsPerPass;
      row_ok[i] = row < rows_total;
      ptr[i] = p + (row_ok[i] ? row * ld : 0) + k_off;
    }
  }

  // Loads the slice's first `valid` reduction elements (zeros after), then steps to the next slice.
  __device__ __forceinline__ void load(int valid) {
    const int left = valid - k_off;
#pragma unroll
    for (int i = 0; i < kPasses; ++i) {
      if (Vec && row_ok[i] && left >= 4) {
        v[i] = *reinterpret_cast<const float4*>(ptr[i]);
      } else {
        v[i].x = row_ok[i] && left > 0 ? ptr[i][0] : 0.f;
        v[i].y = row_ok[i] && left > 1 ? ptr[i][1] : 0.f;
        v[i].z = row_ok[i] && left > 2 ? ptr[i][2] : 0.f;
        v[i].w = row_ok[i] && left > 3 ? ptr[i][3] : 0.f;
      }
      ptr[i] += Cfg::kBlockK;
    }
  }

  __device__ __forceinline__ void store(float* s, int lds) const {
    const int row = int(threadIdx.x / kThreadsPerRow);
#pragma unroll
    for (int i = 0; i < kPasses; ++i) {
      float* d = s + k_off * lds + row + i * kRowsPerPass;
      d[0 * lds] = v[i].x;
      d[1 * lds] = v[i].y;
      d[2 * lds] = v[i].z;
      d[3 * lds] = v[i].w;
    }
  }
};

// Operand stored with the tile's rows contiguous: element (row i, reduction k) at p[k*ld + i]
// (A transposed, B untransposed). Each thread moves 4 consecutive rows of one k: a float4 when Vec
// and all 4 rows exist, else 4 checked scalars. Stores are float4 into the K-major stage.
template <class Cfg, int Rows, bool Vec>
struct RowContiguousLoader {
  static constexpr int kThreadsPerK = Rows / 4;
  static constexpr int kKPerPass = Cfg::kThreads / kThreadsPerK;
  static constexpr int kPasses = Cfg::kBlockK / kKPerPass;
  static_assert(Rows % 4 == 0 && Cfg::kThreads % kThreadsPerK == 0 &&
                    Cfg::kBlockK % kKPerPass == 0 && kPasses >= 1,
                "loader mapping must tile the (Rows, BLK_K) slice");

  const float* ptr;  // (this thread's first row, this thread's k) of the current slice
  int ld;            // below 2^31 (checked at launch)
  int rows_left;     // rows of the matrix from this thread's first row on, capped at 4
  float4 v[kPasses];

  // p points at (row 0, reduction k_begin) of the operand.
  __device__ __forceinline__ RowContiguousLoader(const float* p, std::int64_t ld_,
                                                 std::int64_t rows_total, std::int64_t row0) {
    const int row_off = int(threadIdx.x % kThreadsPerK) * 4;
    const std::int64_t left = rows_total - row0 - row_off;
    rows_left = int(left < 0 ? 0 : left > 4 ? 4 : left);
    ld = int(ld_);
    ptr = p + (rows_left > 0 ? row0 + row_off : 0) + int(threadIdx.x / kThreadsPerK) * ld_;
  }

  __device__ __forceinline__ void load(int valid) {
    const int k_row = int(threadIdx.x / kThreadsPerK);
#pragma unroll
    for (int i = 0; i < kPasses; ++i) {
      const bool k_ok = k_row + i * kKPerPass < valid;
      const float* src = ptr + std::int64_t(i * kKPerPass) * ld;
      if (Vec && k_ok && rows_left == 4) {
        v[i] = *reinterpret_cast<const float4*>(src);
      } else {
        v[i].x = k_ok && rows_left > 0 ? src[0] : 0.f;
        v[i].y = k_ok && rows_left > 1 ? src[1] : 0.f;
        v[i].z = k_ok && rows_left > 2 ? src[2] : 0.f;
        v[i].w = k_ok && rows_left > 3 ? src[3] : 0.f;
      }
    }
    ptr += std::int64_t(Cfg::kBlockK) * ld;
  }

  __device__ __forceinline__ void store(float* s, int lds) const {
    const int row_off = int(threadIdx.x % kThreadsPerK) * 4,
              k_row = int(threadIdx.x / kThreadsPerK);
#pragma unroll
    for (int i = 0; i < kPasses; ++i)
      *reinterpret_cast<float4*>(&s[(k_row + i * kKPerPass) * lds + row_off]) = v[i];
  }
};

// ---------------------------------------------------------------------------------------------
// Inner product and main loop.

template <int N>
__device__ __forceinline__ void load_fragment(float* dst, const float* src) {
  if constexpr (N == 4) {
    const float4 t = *reinterpret_cast<const float4*>(src);
    dst[0] = t.x, dst[1] = t.y, dst[2] = t.z, dst[3] = t.w;
  } else if constexpr (N == 2) {
    const float2 t = *reinterpret_cast<const float2*>(src);
    dst[0] = t.x, dst[1] = t.y;
  } else {
#pragma unroll
    for (int i = 0; i < N; ++i) dst[i] = src[i];
  }
}

// acc (THR_M, THR_N) += sA (BLK_K, BLK_M)^T * sB (BLK_K, BLK_N) over this thread's rows and
// columns (Cfg::acc_row, Cfg::acc_col), on CUDA cores: row i of acc is tile row
// (i < THR_M/2 ? 0 : BLK_M/2) + ty*THR_M/2 + i % (THR_M/2), likewise columns.
template <class Cfg>
__device__ __forceinline__ void mma_tile_fma(const float* sA, const float* sB,
                                             float (&acc)[Cfg::kThreadM][Cfg::kThreadN]) {
  constexpr int HM = Cfg::kThreadM / 2, HN = Cfg::kThreadN / 2;
  const int tx = int(threadIdx.x % Cfg::kThreadsN), ty = int(threadIdx.x / Cfg::kThreadsN);
  const float* pa = sA + ty * HM;
  const float* pb = sB + tx * HN;
  // Fragments of step kk+1 are read while step kk multiplies (two register sets), which bounds
  // what the compiler keeps live and so the register count.
  float a[2][Cfg::kThreadM], b[2][Cfg::kThreadN];
  load_fragment<HM>(a[0], pa);
  load_fragment<HM>(a[0] + HM, pa + Cfg::kBlockM / 2);
  load_fragment<HN>(b[0], pb);
  load_fragment<HN>(b[0] + HN, pb + Cfg::kBlockN / 2);
#pragma unroll
  for (int kk = 0; kk < Cfg::kBlockK; ++kk) {
    const int cur = kk & 1;
    if (kk + 1 < Cfg::kBlockK) {
      const float* na = pa + (kk + 1) * Cfg::kLdsA;
      const float* nb = pb + (kk + 1) * Cfg::kLdsB;
      load_fragment<HM>(a[cur ^ 1], na);
      load_fragment<HM>(a[cur ^ 1] + HM, na + Cfg::kBlockM / 2);
      load_fragment<HN>(b[cur ^ 1], nb);
      load_fragment<HN>(b[cur ^ 1] + HN, nb + Cfg::kBlockN / 2);
    }
#pragma unroll
    for (int i = 0; i < Cfg::kThreadM; ++i)
#pragma unroll
      for (int j = 0; j < Cfg::kThreadN; ++j) acc[i][j] = fmaf(a[cur][i], b[cur][j], acc[i][j]);
    // Keeps the compiler from hoisting later fragment reads above this step (register pressure).
    asm volatile("" ::: "memory");
  }
}

// fp32 -> TF32 (10 mantissa bits, round to nearest, ties away from zero), kept in a float whose
// low 13 bits are zero; the MMA reads such values exactly.
__device__ __forceinline__ float round_tf32(float x) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  unsigned r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
  return __uint_as_float(r);
#else
  return x;
#endif
}

// The same product on TF32 tensor cores, each shared value rounded to TF32 when staged (see
// tile_mainloop). Per step of 8 reductions a warp loads its A fragments (4 values per 16 rows) and
// B fragments (2 per 8 columns) and issues kMmaM x kMmaN MMAs.
template <class Cfg>
__device__ __forceinline__ void mma_tile_tf32(const float* sA, const float* sB,
                                              float (&acc)[Cfg::kThreadM][Cfg::kThreadN]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const int warp = int(threadIdx.x / 32), lane = int(threadIdx.x % 32);
  const int g = lane / 4, t = lane % 4;
  const float* pa = sA + t * Cfg::kLdsA + (warp / Cfg::kWarpsN) * Cfg::kWarpM + g;
  const float* pb = sB + t * Cfg::kLdsB + (warp % Cfg::kWarpsN) * Cfg::kWarpN + g;
#pragma unroll
  for (int kk = 0; kk < Cfg::kBlockK; kk += 8) {
    unsigned a[Cfg::kMmaM][4], b[Cfg::kMmaN][2];
#pragma unroll
    for (int mi = 0; mi < Cfg::kMmaM; ++mi) {
      const float* q = pa + kk * Cfg::kLdsA + mi * 16;
      a[mi][0] = __float_as_uint(q[0]);                   // (row g,     k t)
      a[mi][1] = __float_as_uint(q[8]);                   // (row g + 8, k t)
      a[mi][2] = __float_as_uint(q[4 * Cfg::kLdsA]);      // (row g,     k t + 4)
      a[mi][3] = __float_as_uint(q[4 * Cfg::kLdsA + 8]);  // (row g + 8, k t + 4)
    }
#pragma unroll
    for (int ni = 0; ni < Cfg::kMmaN; ++ni) {
      const float* q = pb + kk * Cfg::kLdsB + ni * 8;
      b[ni][0] = __float_as_uint(q[0]);                // (k t,     column g)
      b[ni][1] = __float_as_uint(q[4 * Cfg::kLdsB]);   // (k t + 4, column g)
    }
#pragma unroll
    for (int mi = 0; mi < Cfg::kMmaM; ++mi)
#pragma unroll
      for (int ni = 0; ni < Cfg::kMmaN; ++ni)
        asm volatile(
            "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
            "{%8,%9}, {%0,%1,%2,%3};"
            : "+f"(acc[2 * mi][2 * ni]), "+f"(acc[2 * mi][2 * ni + 1]),
              "+f"(acc[2 * mi + 1][2 * ni]), "+f"(acc[2 * mi + 1][2 * ni + 1])
            : "r"(a[mi][0]), "r"(a[mi][1]), "r"(a[mi][2]), "r"(a[mi][3]), "r"(b[ni][0]),
              "r"(b[ni][1]));
  }
#else
  __trap();  // launchers choose tensor-core tiles on sm_80 and later only
#endif
}

template <class Cfg>
__device__ __forceinline__ void mma_tile(const float* sA, const float* sB,
                                         float (&acc)[Cfg::kThreadM][Cfg::kThreadN]) {
  if constexpr (Cfg::kTensorCore)
    mma_tile_tf32<Cfg>(sA, sB, acc);
  else
    mma_tile_fma<Cfg>(sA, sB, acc);
}

// Rounds a loader's staged registers (its v[], of float4 or float) to TF32 before they go to
// shared memory: once per value and block, not once per fragment read.
__device__ __forceinline__ void round_tf32_inplace(float& f) {
  f = round_tf32(f);
}
__device__ __forceinline__ void round_tf32_inplace(float4& f) {
  f.x = round_tf32(f.x), f.y = round_tf32(f.y);
  f.z = round_tf32(f.z), f.w = round_tf32(f.w);
}
template <class Cfg, class Loader>
__device__ __forceinline__ void round_staged(Loader& l) {
  if constexpr (Cfg::kTensorCore) {
    if constexpr (!Cfg::kOperandsRounded) {
#pragma unroll
      for (auto& f : l.v) round_tf32_inplace(f);
    }
  }
}

// Shared memory of one block: two stages of each operand, K-major.
template <class Cfg>
struct alignas(16) TileSmem {
  float a[2 * Cfg::kStageA];
  float b[2 * Cfg::kStageB];
};

// Runs a reduction of `length` elements (the loaders start at its first) through two shared-memory
// stages: while the block multiplies stage t, each thread holds slice t+1 in registers and writes
// it to the other stage afterwards, so one __syncthreads per slice suffices and global latency
// hides behind BLK_K rank-1 updates. Ends synchronised, so the caller may reuse the shared memory.
template <class Cfg, class LoaderA, class LoaderB>
__device__ __forceinline__ void tile_mainloop(LoaderA& la, LoaderB& lb, int length,
                                              TileSmem<Cfg>& smem,
                                              float (&acc)[Cfg::kThreadM][Cfg::kThreadN]) {
#pragma unroll
  for (int i = 0; i < Cfg::kThreadM; ++i)
#pragma unroll
    for (int j = 0; j < Cfg::kThreadN; ++j) acc[i][j] = 0.f;
  if (length <= 0) return;
  la.load(length);
  lb.load(length);
  round_staged<Cfg>(la);
  round_staged<Cfg>(lb);
  la.store(smem.a, Cfg::kLdsA);
  lb.store(smem.b, Cfg::kLdsB);
  __syncthreads();
  int stage = 0;
  for (int left = length - Cfg::kBlockK;; left -= Cfg::kBlockK) {
    const bool more = left > 0;
    if (more) {
      la.load(left);
      lb.load(left);
    }
    mma_tile<Cfg>(smem.a + stage * Cfg::kStageA, smem.b + stage * Cfg::kStageB, acc);
    if (more) {
      round_staged<Cfg>(la);
      round_staged<Cfg>(lb);
      la.store(smem.a + (stage ^ 1) * Cfg::kStageA, Cfg::kLdsA);
      lb.store(smem.b + (stage ^ 1) * Cfg::kStageB, Cfg::kLdsB);
    }
    __syncthreads();
    if (!more) break;
    stage ^= 1;
  }
}

// ---------------------------------------------------------------------------------------------
// What the epilogue adds to alpha * acc + beta * out: bias[m] per row (bias may be null), then,
// with relu, max(., 0) (a ReLU fused into the product in front of it: the same value, bit for bit,
// as the ReLU applied afterwards; NaN maps to 0 as in ReluForwardOp). Converts from a bias pointer.
struct Epilogue {
  const float* bias = nullptr;
  bool relu = false;
  Epilogue() = default;
  __host__ __device__ Epilogue(const float* b, bool r = false) : bias(b), relu(r) {}
  __device__ __forceinline__ float operator()(float v) const {
    return relu ? (v > 0.f ? v : 0.f) : v;
  }
};

// Epilogue: out[m * row_stride + col_offset(j)] = ep(alpha * acc + beta * out + bias[m]) for the
// thread's outputs inside (M, N). beta == 0 never reads out. col_offset maps a GEMM column to its
// place in memory (identity for GEMM; image and pixel for convolution outputs). A run of
// Cfg::kColRun columns (4 on CUDA-core tiles, 2 on tensor-core ones) goes out as one float4 or
// float2 when their offsets are consecutive and the address is aligned to the vector.
struct IdentityColumns {
  __device__ __forceinline__ std::int64_t operator()(std::int64_t j) const { return j; }
};

template <class Cfg, class ColOffset>
__device__ __forceinline__ void store_tile(float* out,
                                           const float (&acc)[Cfg::kThreadM][Cfg::kThreadN],
                                           std::int64_t m0, std::int64_t n0, std::int64_t m_total,
                                           std::int64_t n_total, std::int64_t row_stride,
                                           const ColOffset& col_offset, float alpha, float beta,
                                           Epilogue ep) {
  constexpr int R = Cfg::kColRun;
  static_assert(Cfg::kThreadN % R == 0, "column runs must cover the thread's columns");
#pragma unroll
  for (int run = 0; run < Cfg::kThreadN / R; ++run) {
    const std::int64_t j0 = n0 + Cfg::acc_col(run * R);
    std::int64_t off[R];
    bool col_ok[R];
    bool contiguous = true;
#pragma unroll
    for (int e = 0; e < R; ++e) {
      col_ok[e] = j0 + e < n_total;
      off[e] = col_ok[e] ? col_offset(j0 + e) : 0;
      contiguous = contiguous && col_ok[e] && off[e] == off[0] + e;
    }
#pragma unroll
    for (int i = 0; i < Cfg::kThreadM; ++i) {
      const std::int64_t m = m0 + Cfg::acc_row(i);
      if (m >= m_total) continue;
      const float add = ep.bias ? ep.bias[m] : 0.f;
      float* row = out + m * row_stride;
      const float* r = &acc[i][run * R];
      const bool aligned = (reinterpret_cast<std::uintptr_t>(row + off[0]) & (4 * R - 1)) == 0;
      if ((R == 4 || R == 2) && contiguous && aligned) {
        float o[R];
        if (beta == 0.f) {
#pragma unroll
          for (int e = 0; e < R; ++e) o[e] = ep(alpha * r[e] + add);
        } else {
          float c[R];
          if constexpr (R == 4) {
            const float4 v = *reinterpret_cast<const float4*>(row + off[0]);
            c[0] = v.x, c[1] = v.y, c[2] = v.z, c[3] = v.w;
          } else if constexpr (R == 2) {
            const float2 v = *reinterpret_cast<const float2*>(row + off[0]);
            c[0] = v.x, c[1] = v.y;
          }
#pragma unroll
          for (int e = 0; e < R; ++e) o[e] = ep(alpha * r[e] + beta * c[e] + add);
        }
        if constexpr (R == 4)
          *reinterpret_cast<float4*>(row + off[0]) = make_float4(o[0], o[1], o[2], o[3]);
        else if constexpr (R == 2)
          *reinterpret_cast<float2*>(row + off[0]) = make_float2(o[0], o[1]);
      } else {
#pragma unroll
        for (int e = 0; e < R; ++e) {
          if (!col_ok[e]) continue;
          float& o = row[off[e]];
          o = ep(beta == 0.f ? alpha * r[e] + add : alpha * r[e] + beta * o + add);
        }
      }
    }
  }
}

// Multiprocessors of the current device (one attribute query; 132 if it fails, an H100 SXM).
inline int multiprocessor_count() {
  int device = 0, sms = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess ||
      sms <= 0) {
    (void)cudaGetLastError();
    return 132;
  }
  return sms;
}

// Whether the current device has TF32 tensor-core MMAs (compute capability 8.0 and later).
inline bool has_tf32_mma() {
  int device = 0, major = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return major >= 8;
}

inline bool aligned16(const void* p) {
  return (reinterpret_cast<std::uintptr_t>(p) & 15) == 0;
}

}  // namespace tinycnn::kernels::cuda::detail
