// CUDA 2-D convolution as implicit GEMM on the tiles of gemm_tile.cuh: forward, backward to the
// input (data) and backward to the filter. im2col is never materialised: loaders gather its tiles
// from the NCHW tensors straight into shared memory; out-of-bounds taps read as zeros.
//
// Dimension letters: input x (N,C,H,W), filter w (K,C,R,S), output y (N,K,P,Q); see problem.hpp.
// The three GEMMs (rows x columns, reduction):
//   forward        y(K, N*P*Q)   = w(K, C*R*S)      * col(C*R*S, N*P*Q)
//   backward data  dx(C, N*H*W)  = w^T(C, K*R*S)    * dycol(K*R*S, N*H*W)   (tap (r,s) of pixel
//                  (h,w) reads dy at p = (h + pad_h - r*dil_h) / stride_h when that divides
//                  exactly)
//   backward filt. dw(K, C*R*S)  = dy(K, N*P*Q)     * col^T(N*P*Q, C*R*S), N*P*Q split over blocks
//                  into a workspace and summed in a fixed order (deterministic, no atomics)
// Forward and backward data split their reduction the same way when the output has too few tiles
// to fill the GPU (split-K), and multiply on TF32 tensor cores when TF32 is on (tf32.hpp);
// backward data with few input channels (C <= 8) runs on a direct kernel instead of a GEMM tile
// over channels. Strided layers whose stride-1 form runs on Winograd go through the phases of
// conv_phases.cuh instead.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "tinycnn/kernels/cuda/conv_phases.cuh"
#include "tinycnn/kernels/cuda/elementwise.cuh"
#include "tinycnn/kernels/cuda/gemm.cuh"
#include "tinycnn/kernels/cuda/gemm_tile.cuh"
#include "tinycnn/kernels/cuda/winograd.cuh"
#include "tinycnn/kernels/env.hpp"
#include "tinycnn/kernels/problem.hpp"
#include "tinycnn/kernels/tf32.hpp"

namespace tinycnn::kernels::cuda {

namespace detail {

// Grid-invariant convolution sizes for the kernels, built on the host (int where checked to fit).
struct ConvParams {
  int c, h, w, k, r, s, p, q;
  int pad_h, pad_w, stride_h, stride_w, dil_h, dil_w;
  int rs, crs, krs;
  std::int64_t n, hw, pq, chw, kpq, npq, nhw;
  FastDivmod div_rs, div_s, div_q, div_pq, div_stride_h, div_stride_w;
};

inline bool fits_int(std::int64_t v) {
  return v >= 0 && v <= 0x3fffffff;
}

// Checks what the kernels assume and fills ConvParams; false for an impossible descriptor.
inline bool make_conv_params(const Conv2dDesc& d, ConvParams& p) {
  if (d.n < 0 || d.c < 0 || d.h < 0 || d.w < 0 || d.k < 0 || d.r < 1 || d.s < 1) return false;
  if (d.pad_h < 0 || d.pad_w < 0 || d.stride_h < 1 || d.stride_w < 1 || d.dilation_h < 1 ||
      d.dilation_w < 1)
    return false;
  const std::int64_t P = d.p(), Q = d.q();
  if (!fits_int(d.c) || !fits_int(d.k) || !fits_int(d.h + 2 * d.pad_h) ||
      !fits_int(d.w + 2 * d.pad_w) || !fits_int(d.dilation_h * d.r) ||
      !fits_int(d.dilation_w * d.s) || !fits_int(d.stride_h) || !fits_int(d.stride_w))
    return false;
  const std::int64_t rs = d.r * d.s;
  if (!fits_int(rs) || !fits_int(d.c * rs) || !fits_int(d.k * rs)) return false;
  p.c = int(d.c), p.h = int(d.h), p.w = int(d.w), p.k = int(d.k), p.r = int(d.r), p.s = int(d.s);
  p.p = int(P > 0 ? P : 0), p.q = int(Q > 0 ? Q : 0);
  p.pad_h = int(d.pad_h), p.pad_w = int(d.pad_w);
  p.stride_h = int(d.stride_h), p.stride_w = int(d.stride_w);
  p.dil_h = int(d.dilation_h), p.dil_w = int(d.dilation_w);
  p.rs = int(rs), p.crs = int(d.c * rs), p.krs = int(d.k * rs);
  p.n = d.n, p.hw = d.h * d.w, p.pq = std::int64_t(p.p) * p.q, p.chw = d.c * p.hw;
  p.kpq = d.k * p.pq, p.npq = d.n * p.pq, p.nhw = d.n * p.hw;
  p.div_rs = FastDivmod(unsigned(p.rs)), p.div_s = FastDivmod(unsigned(p.s));
  p.div_q = FastDivmod(unsigned(p.q > 0 ? p.q : 1));
  p.div_pq = FastDivmod(unsigned(p.pq > 0 && p.pq <= 0x7fffffff ? p.pq : 1));
  p.div_stride_h = FastDivmod(unsigned(p.stride_h)),
  p.div_stride_w = FastDivmod(unsigned(p.stride_w));
  return true;
}

// 32-bit offsets when every tensor has fewer than 2^31 elements; otherwise 64-bit.
inline bool needs_int64(const ConvParams& p) {
  const std::int64_t limit = 0x7fffffff;
  return p.n * p.chw >= limit || p.n * p.kpq >= limit || std::int64_t(p.k) * p.crs >= limit;
}

// Output columns that are pixels of a batch of images: column j is pixel j % per_image of image
// j / per_image, whose channel planes start image_stride apart.
struct ImageColumns {
  std::int64_t per_image, image_stride;
  __device__ __forceinline__ std::int64_t operator()(std::int64_t j) const {
    const std::int64_t n = j / per_image;
    return n * image_stride + (j - n * per_image);
  }
};

// Forward's B operand: the im2col tile (C*R*S, BLK_N) gathered from x. Each thread owns one output
// pixel (column) for the whole reduction, so its image, top-left input corner and bounds are
// computed once; per element it splits c*R*S + r*S + s with fast division.
template <class Cfg, class Index>
struct Im2colLoader {
  static constexpr int kCols = Cfg::kBlockN;
  static constexpr int kRowStep = Cfg::kThreads / kCols;
  static constexpr int kPerThread = Cfg::kBlockK / kRowStep;
  static_assert(Cfg::kThreads % kCols == 0 && Cfg::kBlockK % kRowStep == 0, "loader mapping");

  const ConvParams& p;
  const float* img;  // x at this pixel's image
  int h0, w0;        // input row and column of tap (0,0)
  int crs;           // reduction index of this thread's first row in the current slice
  bool ok;
  float v[kPerThread];

  __device__ __forceinline__ Im2colLoader(const ConvParams& p_, const float* x, std::int64_t col0,
                                          int k_begin)
      : p(p_) {
    const std::int64_t j = col0 + int(threadIdx.x % kCols);
    ok = j < p.npq;
    std::int64_t n = 0, pp = 0, qq = 0;
    if (ok) {
      n = j / p.pq;
      const std::int64_t pq = j - n * p.pq;
      pp = pq / p.q;
      qq = pq - pp * p.q;
    }
    img = x + n * p.chw;
    h0 = int(pp) * p.stride_h - p.pad_h;
    w0 = int(qq) * p.stride_w - p.pad_w;
    crs = k_begin + int(threadIdx.x / kCols);
  }

  __device__ __forceinline__ void load(int valid) {
    const int kr = int(threadIdx.x / kCols);
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) {
      const int idx = crs + i * kRowStep;
      const int c = int(p.div_rs.div(unsigned(idx)));
      const int rs = idx - c * p.rs;
      const int r = int(p.div_s.div(unsigned(rs)));
      const int s = rs - r * p.s;
      const int h = h0 + r * p.dil_h, w = w0 + s * p.dil_w;
      const bool in = ok && kr + i * kRowStep < valid && unsigned(h) < unsigned(p.h) &&
                      unsigned(w) < unsigned(p.w);
      v[i] = in ? img[Index(c) * Index(p.hw) + Index(h) * p.w + w] : 0.f;
    }
    crs += Cfg::kBlockK;
  }

  __device__ __forceinline__ void store(float* sm, int lds) const {
    const int col = int(threadIdx.x % kCols), kr = int(threadIdx.x / kCols);
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) sm[(kr + i * kRowStep) * lds + col] = v[i];
  }
};

// Backward data's A operand: w^T (C, K*R*S), element (c, k*R*S + rs) = w[(k*C + c)*R*S + rs].
// Each thread owns one input channel c for the whole reduction.
template <class Cfg, class Index>
struct TransposedFilterLoader {
  static constexpr int kRows = Cfg::kBlockM;
  static constexpr int kRowStep = Cfg::kThreads / kRows;
  static constexpr int kPerThread = Cfg::kBlockK / kRowStep;
  static_assert(Cfg::kThreads % kRows == 0 && Cfg::kBlockK % kRowStep == 0, "loader mapping");

  const ConvParams& p;
  const float* wc;  // w + c*R*S
  int krs;
  bool ok;
  float v[kPerThread];

  __device__ __forceinline__ TransposedFilterLoader(const ConvParams& p_, const float* w,
                                                    std::int64_t row0, int k_begin)
      : p(p_) {
    const std::int64_t c = row0 + int(threadIdx.x % kRows);
    ok = c < p.c;
    wc = w + (ok ? c * p.rs : 0);
    krs = k_begin + int(threadIdx.x / kRows);
  }

  __device__ __forceinline__ void load(int valid) {
    const int kr = int(threadIdx.x / kRows);
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) {
      const int idx = krs + i * kRowStep;
      const int k = int(p.div_rs.div(unsigned(idx)));
      const int rs = idx - k * p.rs;
      v[i] = ok && kr + i * kRowStep < valid ? wc[Index(k) * p.crs + rs] : 0.f;
    }
    krs += Cfg::kBlockK;
  }

  __device__ __forceinline__ void store(float* sm, int lds) const {
    const int row = int(threadIdx.x % kRows), kr = int(threadIdx.x / kRows);
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) sm[(kr + i * kRowStep) * lds + row] = v[i];
  }
};

// Backward data's B operand: (K*R*S, BLK_N) gathered from dy. Each thread owns one input pixel
// (n, h, w); tap (r, s) of channel k reads dy(n, k, p, q) where p*stride_h = h + pad_h - r*dil_h
// exactly (likewise q), and 0 where no output pixel put that tap on (h, w).
template <class Cfg, class Index>
struct DyGatherLoader {
  static constexpr int kCols = Cfg::kBlockN;
  static constexpr int kRowStep = Cfg::kThreads / kCols;
  static constexpr int kPerThread = Cfg::kBlockK / kRowStep;
  static_assert(Cfg::kThreads % kCols == 0 && Cfg::kBlockK % kRowStep == 0, "loader mapping");

  const ConvParams& p;
  const float* img;  // dy at this pixel's image
  int hp, wp;        // h + pad_h, w + pad_w
  int krs;
  bool ok;
  float v[kPerThread];

  __device__ __forceinline__ DyGatherLoader(const ConvParams& p_, const float* dy,
                                            std::int64_t col0, int k_begin)
      : p(p_) {
    const std::int64_t j = col0 + int(threadIdx.x % kCols);
    ok = j < p.nhw;
    std::int64_t n = 0, h = 0, w = 0;
    if (ok) {
      n = j / p.hw;
      const std::int64_t hw = j - n * p.hw;
      h = hw / p.w;
      w = hw - h * p.w;
    }
    img = dy + n * p.kpq;
    hp = int(h) + p.pad_h;
    wp = int(w) + p.pad_w;
    krs = k_begin + int(threadIdx.x / kCols);
  }

  __device__ __forceinline__ void load(int valid) {
    const int kr = int(threadIdx.x / kCols);
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) {
      const int idx = krs + i * kRowStep;
      const int k = int(p.div_rs.div(unsigned(idx)));
      const int rs = idx - k * p.rs;
      const int r = int(p.div_s.div(unsigned(rs)));
      const int s = rs - r * p.s;
      const int ph = hp - r * p.dil_h, qw = wp - s * p.dil_w;
      const int oh = int(p.div_stride_h.div(unsigned(ph < 0 ? 0 : ph)));
      const int ow = int(p.div_stride_w.div(unsigned(qw < 0 ? 0 : qw)));
      const bool in = ok && kr + i * kRowStep < valid && ph >= 0 && qw >= 0 &&
                      oh * p.stride_h == ph && ow * p.stride_w == qw && oh < p.p && ow < p.q;
      v[i] = in ? img[Index(k) * Index(p.pq) + Index(oh) * p.q + ow] : 0.f;
    }
    krs += Cfg::kBlockK;
  }

  __device__ __forceinline__ void store(float* sm, int lds) const {
    const int col = int(threadIdx.x % kCols), kr = int(threadIdx.x / kCols);
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) sm[(kr + i * kRowStep) * lds + col] = v[i];
  }
};

// Backward filter's operands, both with the reduction (n, p, q) as the fast index. Each thread
// moves 4 consecutive reduction elements of one row (an output channel k of dy, or a filter tap (c,
// r, s) of im2col^T): it splits the first with fast division and steps through the other three.
template <class Cfg, int Rows>
struct ReductionRowsMapping {
  static constexpr int kThreadsPerRow = Cfg::kBlockK / 4;
  static constexpr int kRowsPerPass = Cfg::kThreads / kThreadsPerRow;
  static constexpr int kPasses = Rows / kRowsPerPass;
  static_assert(Cfg::kThreads % kThreadsPerRow == 0 && Rows % kRowsPerPass == 0 && kPasses >= 1,
                "loader mapping must tile the (Rows, BLK_K) slice");
  __device__ __forceinline__ static int k_off() { return int(threadIdx.x % kThreadsPerRow) * 4; }
  __device__ __forceinline__ static int row(int i) {
    return int(threadIdx.x / kThreadsPerRow) + i * kRowsPerPass;
  }
  __device__ __forceinline__ static void store(float* sm, int lds, const float4 (&v)[kPasses]) {
#pragma unroll
    for (int i = 0; i < kPasses; ++i) {
      float* d = sm + k_off() * lds + row(i);
      d[0 * lds] = v[i].x;
      d[1 * lds] = v[i].y;
      d[2 * lds] = v[i].z;
      d[3 * lds] = v[i].w;
    }
  }
};

// dy as a (K, N*P*Q) matrix: element (k, n*P*Q + pq) = dy[(n*K + k)*P*Q + pq].
template <class Cfg, class Index>
struct DyRowsLoader {
  using Map = ReductionRowsMapping<Cfg, Cfg::kBlockM>;
  const ConvParams& p;
  const float* dy;
  Index row_off[Map::kPasses];
  bool row_ok[Map::kPasses];
  int npq;  // reduction index of this thread's first element in the current slice
  float4 v[Map::kPasses];

  __device__ __forceinline__ DyRowsLoader(const ConvParams& p_, const float* dy_, std::int64_t row0,
                                          int k_begin)
      : p(p_), dy(dy_) {
#pragma unroll
    for (int i = 0; i < Map::kPasses; ++i) {
      const std::int64_t k = row0 + Map::row(i);
      row_ok[i] = k < p.k;
      row_off[i] = row_ok[i] ? Index(k) * Index(p.pq) : Index(0);
    }
    npq = k_begin + Map::k_off();
  }

  __device__ __forceinline__ void load(int valid) {
    int n = int(p.div_pq.div(unsigned(npq)));
    int pq = npq - n * int(p.pq);
    const int left = valid - Map::k_off();
    float t[4][Map::kPasses];
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const Index base = Index(n) * Index(p.kpq) + pq;
#pragma unroll
      for (int i = 0; i < Map::kPasses; ++i)
        t[e][i] = row_ok[i] && e < left ? dy[base + row_off[i]] : 0.f;
      if (++pq == int(p.pq)) pq = 0, ++n;
    }
#pragma unroll
    for (int i = 0; i < Map::kPasses; ++i) v[i] = make_float4(t[0][i], t[1][i], t[2][i], t[3][i]);
    npq += Cfg::kBlockK;
  }

  __device__ __forceinline__ void store(float* sm, int lds) const {
    Map::store(sm, lds, v);
  }
};

// im2col^T as a (C*R*S, N*P*Q) matrix: element (c*R*S + r*S + s, n*P*Q + p*Q + q) =
// x(n, c, p*stride_h - pad_h + r*dil_h, q*stride_w - pad_w + s*dil_w), zero outside the image.
template <class Cfg, class Index>
struct ColRowsLoader {
  using Map = ReductionRowsMapping<Cfg, Cfg::kBlockN>;
  const ConvParams& p;
  const float* x;
  Index c_off[Map::kPasses];
  int h_off[Map::kPasses], w_off[Map::kPasses];
  bool row_ok[Map::kPasses];
  int npq;
  float4 v[Map::kPasses];

  __device__ __forceinline__ ColRowsLoader(const ConvParams& p_, const float* x_, std::int64_t row0,
                                           int k_begin)
      : p(p_), x(x_) {
#pragma unroll
    for (int i = 0; i < Map::kPasses; ++i) {
      const std::int64_t crs = row0 + Map::row(i);
      row_ok[i] = crs < p.crs;
      const int idx = row_ok[i] ? int(crs) : 0;
      const int c = idx / p.rs, rs = idx - c * p.rs, r = rs / p.s, s = rs - r * p.s;
      c_off[i] = Index(c) * Index(p.hw);
      h_off[i] = r * p.dil_h - p.pad_h;
      w_off[i] = s * p.dil_w - p.pad_w;
    }
    npq = k_begin + Map::k_off();
  }

  __device__ __forceinline__ void load(int valid) {
    int n = int(p.div_pq.div(unsigned(npq)));
    const int pq = npq - n * int(p.pq);
    int oh = int(p.div_q.div(unsigned(pq)));
    int ow = pq - oh * p.q;
    const int left = valid - Map::k_off();
    float t[4][Map::kPasses];
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const Index image = Index(n) * Index(p.chw);
      const int hb = oh * p.stride_h, wb = ow * p.stride_w;
#pragma unroll
      for (int i = 0; i < Map::kPasses; ++i) {
        const int h = hb + h_off[i], w = wb + w_off[i];
        const bool in =
            row_ok[i] && e < left && unsigned(h) < unsigned(p.h) && unsigned(w) < unsigned(p.w);
        t[e][i] = in ? x[image + c_off[i] + Index(h) * p.w + w] : 0.f;
      }
      if (++ow == p.q) {
        ow = 0;
        if (++oh == p.p) oh = 0, ++n;
      }
    }
#pragma unroll
    for (int i = 0; i < Map::kPasses; ++i) v[i] = make_float4(t[0][i], t[1][i], t[2][i], t[3][i]);
    npq += Cfg::kBlockK;
  }

  __device__ __forceinline__ void store(float* sm, int lds) const {
    Map::store(sm, lds, v);
  }
};

// ---------------------------------------------------------------------------------------------
// Kernels. Each: one thread block per (BLK_M, BLK_N) output tile, blockIdx.x over columns
// (pixels, or filter taps for backward filter) and blockIdx.y over rows (channels); each thread
// computes THR_M x THR_N outputs; the reduction runs in steps of BLK_K through shared memory.
// Forward and backward data may split their reduction (split-K) over blockIdx.z: slice z covers
// [z*chunk, min((z+1)*chunk, length)) and writes its partial output to page z of `out`, at
// z*page floats (a page is one whole output tensor; page fits an int because the workspace is at
// most 32 MiB); conv2d_split_k_reduce_kernel then adds the pages in order. With one slice, `out`
// is the output itself and chunk >= length. Only the 32-bit-offset kernels split (the plan never
// splits problems that need 64-bit offsets): the 64-bit ones keep the unsplit code, which fits in
// 128 registers without spilling, where the split bookkeeping did not.

// blockIdx.z read where it is used: volatile asm is not hoisted above the main loop (whose steps
// end in volatile asm), so the page offset holds no register during the loop (at the 128-register
// cap, hoisting it, or a 64-bit page offset, made ptxas spill).
__device__ __forceinline__ unsigned block_z_late() {
  unsigned z;
  asm volatile("mov.u32 %0, %%ctaid.z;" : "=r"(z));
  return z;
}

// y(K, N*P*Q) = w(K, C*R*S) * im2col(x) + bias (bias null when split: the reduction adds it).
template <class Cfg, class Index, bool VecW>
__global__ void __launch_bounds__(Cfg::kThreads, Cfg::kMinBlocksPerSm)
    conv2d_forward_implicit_gemm_kernel(float* __restrict__ out, const float* __restrict__ x,
                                        const float* __restrict__ w, const Epilogue ep, int chunk,
                                        int page, const __grid_constant__ ConvParams p) {
  __shared__ TileSmem<Cfg> smem;
  const std::int64_t m0 = std::int64_t(blockIdx.y) * Cfg::kBlockM;
  const std::int64_t n0 = std::int64_t(blockIdx.x) * Cfg::kBlockN;
  constexpr bool kSplit = sizeof(Index) == 4;
  const int k_begin = kSplit ? int(blockIdx.z) * chunk : 0;
  const int length = !kSplit ? p.crs : p.crs - k_begin < chunk ? p.crs - k_begin : chunk;
  KContiguousLoader<Cfg, Cfg::kBlockM, VecW> la(w + k_begin, p.crs, p.k, m0);  // (BLK_M, BLK_K)
  Im2colLoader<Cfg, Index> lb(p, x, n0, k_begin);  // (BLK_K, BLK_N) of im2col
  float acc[Cfg::kThreadM][Cfg::kThreadN];         // (THR_M, THR_N)
  tile_mainloop<Cfg>(la, lb, length, smem, acc);
  store_tile<Cfg>(kSplit ? out + int(block_z_late()) * page : out, acc, m0, n0, p.k, p.npq, p.pq,
                  ImageColumns{p.pq, p.kpq}, 1.f, 0.f, ep);
}

// dx(C, N*H*W) = w^T(C, K*R*S) * dycol(K*R*S, N*H*W).
template <class Cfg, class Index>
__global__ void __launch_bounds__(Cfg::kThreads, Cfg::kMinBlocksPerSm)
    conv2d_backward_data_implicit_gemm_kernel(float* __restrict__ out,
                                              const float* __restrict__ dy,
                                              const float* __restrict__ w, int chunk, int page,
                                              const __grid_constant__ ConvParams p) {
  __shared__ TileSmem<Cfg> smem;
  const std::int64_t m0 = std::int64_t(blockIdx.y) * Cfg::kBlockM;
  const std::int64_t n0 = std::int64_t(blockIdx.x) * Cfg::kBlockN;
  constexpr bool kSplit = sizeof(Index) == 4;
  const int k_begin = kSplit ? int(blockIdx.z) * chunk : 0;
  const int length = !kSplit ? p.krs : p.krs - k_begin < chunk ? p.krs - k_begin : chunk;
  TransposedFilterLoader<Cfg, Index> la(p, w, m0, k_begin);  // (BLK_M, BLK_K) of w^T
  DyGatherLoader<Cfg, Index> lb(p, dy, n0, k_begin);         // (BLK_K, BLK_N) of dycol
  float acc[Cfg::kThreadM][Cfg::kThreadN];                   // (THR_M, THR_N)
  tile_mainloop<Cfg>(la, lb, length, smem, acc);
  store_tile<Cfg>(kSplit ? out + int(block_z_late()) * page : out, acc, m0, n0, p.c, p.nhw, p.hw,
                  ImageColumns{p.hw, p.chw}, 1.f, 0.f, nullptr);
}

// Stages the weights of output channels [k0, k0 + kn) and input channels [c0, c0 + CT) as
// sw[kk][r*S + s][CT] (zeros past C): one (kk, tap) pair per thread and step, its CT channels
// read as CT coalesced loads (consecutive threads take consecutive taps) and stored as CT/4
// 16-byte stores; one division per pair.
template <int CT>
__device__ __forceinline__ void stage_direct_filter(float* sw, const float* __restrict__ w, int k0,
                                                    int kn, int c0, const ConvParams& p) {
  for (int i = int(threadIdx.x); i < kn * p.rs; i += int(blockDim.x)) {
    const int kk = i / p.rs, rs = i - kk * p.rs;
    const float* src = w + (std::int64_t(k0 + kk) * p.c + c0) * p.rs + rs;
    float v[CT];
#pragma unroll
    for (int c = 0; c < CT; ++c) v[c] = c0 + c < p.c ? __ldg(src + std::int64_t(c) * p.rs) : 0.f;
#pragma unroll
    for (int c = 0; c < CT; c += 4)
      *reinterpret_cast<float4*>(sw + std::int64_t(i) * CT + c) =
          make_float4(v[c], v[c + 1], v[c + 2], v[c + 3]);
  }
}

// Backward data for few input channels (C <= 8), where a GEMM tile over channels would be mostly
// padding. One thread per input pixel (n, h, w) and group of CT channels (blockIdx.y); pixels of a
// row are numbered phase-major (w = j*stride_w + w mod stride_w), so a warp shares its stride
// phase and walks only the taps that land on an output pixel: no zero taps, no divergence. The
// filter is staged in shared memory for chunks of output channels as [k][r][s][CT], so the CT
// weights of one tap are one broadcast read. Images too small to fill the GPU split the output
// channels over blockIdx.z: slice z sums channels [z*k_split, (z+1)*k_split) into page z of dx
// (at z*page floats; the pages are then added in order by conv2d_split_k_reduce_kernel); one
// slice: k_split >= K and dx the output itself.
template <int CT>
__global__ void __launch_bounds__(256, 4)
    conv2d_backward_data_direct_kernel(float* __restrict__ dx, const float* __restrict__ dy,
                                       const float* __restrict__ w, int k_chunk, int k_split,
                                       std::int64_t page, const __grid_constant__ ConvParams p) {
  extern __shared__ float4 smem_w4[];  // k_chunk * R * S * CT floats
  float* sw = reinterpret_cast<float*>(smem_w4);
  const int c0 = int(blockIdx.y) * CT;
  const int row_len = int(p.div_stride_w.div(unsigned(p.w + p.stride_w - 1))) * p.stride_w;
  // N*H*row_len < 2^31 (checked at launch): 32-bit index arithmetic.
  const unsigned idx = blockIdx.x * blockDim.x + threadIdx.x;
  const unsigned rows = unsigned(p.n) * unsigned(p.h);  // (n, h) pairs
  const unsigned row = idx / unsigned(row_len);
  const int u = int(idx - row * unsigned(row_len));
  const int per_phase = row_len / p.stride_w;
  const int phase = u / per_phase, j = u - phase * per_phase;
  const int wcol = j * p.stride_w + phase;
  const bool ok = row < rows && wcol < p.w;
  const int n = ok ? int(row / unsigned(p.h)) : 0;
  const int h = ok ? int(row) - n * p.h : 0;
  const float* dyn = dy + std::int64_t(n) * p.kpq;
  const int hp = h + p.pad_h, wp = wcol + p.pad_w;
  const int taps = p.rs * CT;
  float acc[CT];
#pragma unroll
  for (int c = 0; c < CT; ++c) acc[c] = 0.f;
  const int k_begin = int(blockIdx.z) * k_split;
  const int k_end = p.k - k_begin < k_split ? p.k : k_begin + k_split;
  for (int k0 = k_begin; k0 < k_end; k0 += k_chunk) {
    const int kn = k_end - k0 < k_chunk ? k_end - k0 : k_chunk;
    __syncthreads();  // the previous chunk's weights are no longer read
    stage_direct_filter<CT>(sw, w, k0, kn, c0, p);
    __syncthreads();
    if (!ok) continue;
    for (int r = 0; r < p.r; ++r) {
      const int ph = hp - r * p.dil_h;
      if (ph < 0) break;  // decreases with r
      const int oh = int(p.div_stride_h.div(unsigned(ph)));
      if (oh * p.stride_h != ph || oh >= p.p) continue;
      for (int s = 0; s < p.s; ++s) {
        const int qw = wp - s * p.dil_w;
        if (qw < 0) break;
        const int ow = int(p.div_stride_w.div(unsigned(qw)));
        if (ow * p.stride_w != qw || ow >= p.q) continue;
        const float* src = dyn + std::int64_t(k0) * p.pq + std::int64_t(oh) * p.q + ow;
        const float* tap = sw + (r * p.s + s) * CT;
#pragma unroll 4
        for (int kk = 0; kk < kn; ++kk) {
          const float v = __ldg(src);
          src += p.pq;
          const float* wt = tap + kk * taps;
#pragma unroll
          for (int c = 0; c < CT; c += 4) {
            const float4 q4 = *reinterpret_cast<const float4*>(wt + c);
            acc[c] = fmaf(q4.x, v, acc[c]);
            acc[c + 1] = fmaf(q4.y, v, acc[c + 1]);
            acc[c + 2] = fmaf(q4.z, v, acc[c + 2]);
            acc[c + 3] = fmaf(q4.w, v, acc[c + 3]);
          }
        }
      }
    }
  }
  if (!ok) return;
  float* out = dx + blockIdx.z * page + std::int64_t(n) * p.chw + std::int64_t(h) * p.w + wcol;
#pragma unroll
  for (int c = 0; c < CT; ++c)
    if (c0 + c < p.c) out[std::int64_t(c0 + c) * p.hw] = acc[c];
}

// The direct kernel blocked over J pixels of one stride phase in a row (undilated layers whose
// filter has at most kBlockedTaps taps per phase along a row, e.g. 11x11 stride 4 or 3x3 stride
// 1). Pixel t of a thread is column (j0 + t) * stride_w + phase; for the row's taps
// s = s0 + i * stride_w it reads dy column base - i + t, so the J pixels and the <= NS taps share
// one window of NS + J - 1 dy values per (filter row, output channel): NS + J - 1 loads for
// NS * J * CT multiply-adds instead of NS * J loads. Threads of a row are numbered phase-major
// (groups of J pixels within a phase), so a warp shares its phase and its taps.
template <int CT, int J, int NS>
__global__ void __launch_bounds__(256, CT * J > 16 ? 2 : 3)  // 8 x 4 accumulators: 2 blocks
    conv2d_backward_data_direct_blocked_kernel(float* __restrict__ dx, const float* __restrict__ dy,
                                               const float* __restrict__ w, int k_chunk,
                                               int groups, const __grid_constant__ ConvParams p) {
  extern __shared__ float4 smem_wb4[];  // k_chunk * R * S * CT floats
  float* sw = reinterpret_cast<float*>(smem_wb4);
  const int c0 = int(blockIdx.y) * CT;
  // N*H*stride_w*groups < 2^31 (checked at launch): 32-bit index arithmetic.
  const unsigned idx = blockIdx.x * blockDim.x + threadIdx.x;
  const unsigned per_row = unsigned(groups) * unsigned(p.stride_w);
  const unsigned rows = unsigned(p.n) * unsigned(p.h);
  const unsigned row = idx / per_row;
  const int u = int(idx - row * per_row);
  const int phase = u / groups, j0 = (u - phase * groups) * J;
  const int w0 = j0 * p.stride_w + phase;
  const bool ok = row < rows && w0 < p.w;
  const int n = ok ? int(row / unsigned(p.h)) : 0;
  const int h = ok ? int(row) - n * p.h : 0;
  const float* dyn = dy + std::int64_t(n) * p.kpq;
  const int hp = h + p.pad_h, wp = w0 + p.pad_w;
  const int s0 = wp - int(p.div_stride_w.div(unsigned(wp))) * p.stride_w;
  const int ns = s0 < p.s ? (p.s - s0 + p.stride_w - 1) / p.stride_w : 0;  // <= NS
  const int base = (wp - s0) / p.stride_w;  // dy column of tap s0 for pixel 0
  const int first = base - (NS - 1);        // dy column of window entry 0
  unsigned inside = 0;                      // window entries inside [0, Q)
#pragma unroll
  for (int v = 0; v < NS + J - 1; ++v)
    if (first + v >= 0 && first + v < p.q) inside |= 1u << v;
  const int r0 = hp - int(p.div_stride_h.div(unsigned(hp))) * p.stride_h;
  const int taps = p.rs * CT;
  float acc[J][CT];
#pragma unroll
  for (int t = 0; t < J; ++t)
#pragma unroll
    for (int c = 0; c < CT; ++c) acc[t][c] = 0.f;
  for (int k0 = 0; k0 < p.k; k0 += k_chunk) {
    const int kn = p.k - k0 < k_chunk ? p.k - k0 : k_chunk;
    __syncthreads();  // the previous chunk's weights are no longer read
    stage_direct_filter<CT>(sw, w, k0, kn, c0, p);
    __syncthreads();
    if (!ok || ns == 0) continue;
    for (int r = r0; r < p.r; r += p.stride_h) {
      const int oh = (hp - r) / p.stride_h;  // exact: r = hp mod stride_h
      if (oh < 0) break;                     // decreases with r
      if (oh >= p.p) continue;
      const float* src = dyn + std::int64_t(k0) * p.pq + std::int64_t(oh) * p.q + first;
      const float* tap = sw + (r * p.s + s0) * CT;
#pragma unroll 2
      for (int kk = 0; kk < kn; ++kk) {
        float win[NS + J - 1];
#pragma unroll
        for (int v = 0; v < NS + J - 1; ++v) win[v] = (inside >> v) & 1u ? __ldg(src + v) : 0.f;
        src += p.pq;
        const float* wt = tap + kk * taps;
#pragma unroll
        for (int i = 0; i < NS; ++i) {
          if (i >= ns) break;
#pragma unroll
          for (int c = 0; c < CT; c += 4) {
            const float4 q4 = *reinterpret_cast<const float4*>(wt + i * p.stride_w * CT + c);
#pragma unroll
            for (int t = 0; t < J; ++t) {
              const float v = win[NS - 1 - i + t];
              acc[t][c] = fmaf(q4.x, v, acc[t][c]);
              acc[t][c + 1] = fmaf(q4.y, v, acc[t][c + 1]);
              acc[t][c + 2] = fmaf(q4.z, v, acc[t][c + 2]);
              acc[t][c + 3] = fmaf(q4.w, v, acc[t][c + 3]);
            }
          }
        }
      }
    }
  }
  if (!ok) return;
  float* out = dx + std::int64_t(n) * p.chw + std::int64_t(h) * p.w;
#pragma unroll
  for (int t = 0; t < J; ++t) {
    const int wc = w0 + t * p.stride_w;
    if (wc >= p.w) break;
#pragma unroll
    for (int c = 0; c < CT; ++c)
      if (c0 + c < p.c) out[std::int64_t(c0 + c) * p.hw + wc] = acc[t][c];
  }
}

// out(K, C*R*S) = dy(K, N*P*Q) * im2col^T over the reduction slice [z*chunk, min((z+1)*chunk, NPQ))
// of blockIdx.z; out is dw itself with one slice, else the slice's page of the workspace.
template <class Cfg, class Index>
__global__ void __launch_bounds__(Cfg::kThreads, Cfg::kMinBlocksPerSm)
    conv2d_backward_filter_implicit_gemm_kernel(float* __restrict__ out,
                                                const float* __restrict__ dy,
                                                const float* __restrict__ x, int chunk,
                                                const __grid_constant__ ConvParams p) {
  __shared__ TileSmem<Cfg> smem;
  const std::int64_t m0 = std::int64_t(blockIdx.y) * Cfg::kBlockM;
  const std::int64_t n0 = std::int64_t(blockIdx.x) * Cfg::kBlockN;
  const int k_begin = int(blockIdx.z) * chunk;
  const int length = int(p.npq - k_begin < chunk ? p.npq - k_begin : chunk);
  DyRowsLoader<Cfg, Index> la(p, dy, m0, k_begin);  // (BLK_M, BLK_K) of dy
  ColRowsLoader<Cfg, Index> lb(p, x, n0, k_begin);  // (BLK_K, BLK_N) of im2col^T
  float acc[Cfg::kThreadM][Cfg::kThreadN];          // (THR_M, THR_N)
  tile_mainloop<Cfg>(la, lb, length, smem, acc);
  store_tile<Cfg>(out + std::int64_t(blockIdx.z) * p.k * p.crs, acc, m0, n0, p.k, p.crs, p.crs,
                  IdentityColumns{}, 1.f, 0.f, nullptr);
}

// out[i] = sum over slices z (in order) of partial[z][i], + bias[(i / plane) % channels] when bias
// is given (forward: i runs over (n, k, p*q)), then max(., 0) with relu: one thread per element,
// grid-stride. Fixed order, so deterministic. (A template, like every kernel in a header, so that
// it may be defined in several translation units.)
template <class T>
__global__ void conv2d_split_k_reduce_kernel(T* __restrict__ out, const T* __restrict__ partial,
                                             std::int64_t count, int splits,
                                             const T* __restrict__ bias, std::int64_t plane,
                                             std::int64_t channels, bool relu) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < count;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    T sum = T(0);
    for (int z = 0; z < splits; ++z) sum += partial[z * count + i];
    if (bias) sum += bias[(i / plane) % channels];
    out[i] = relu && !(sum > T(0)) ? T(0) : sum;
  }
}

template <class T>
inline cudaError_t launch_split_k_reduce(T* out, const T* partial, std::int64_t count, int splits,
                                         const T* bias, std::int64_t plane, std::int64_t channels,
                                         cudaStream_t stream, bool relu = false) {
  const std::int64_t blocks = (count + 255) / 256;
  conv2d_split_k_reduce_kernel<<<unsigned(blocks < 65536 ? blocks : 65536), 256, 0, stream>>>(
      out, partial, count, splits, bias, plane, channels, relu);
  return cudaGetLastError();
}

// ---------------------------------------------------------------------------------------------
// Launch helpers.

template <class Cfg>
inline bool make_grid(std::int64_t rows, std::int64_t cols, std::int64_t slices, dim3& grid) {
  const std::int64_t gx = (cols + Cfg::kBlockN - 1) / Cfg::kBlockN;
  const std::int64_t gy = (rows + Cfg::kBlockM - 1) / Cfg::kBlockM;
  if (gx > 0x7fffffff || gy > 65535 || slices > 65535) return false;
  grid = dim3(unsigned(gx), unsigned(gy), unsigned(slices));
  return true;
}

// How forward or backward data runs: tile shape and reduction slices (split-K). A function of the
// descriptor alone (no device query), so the workspace size never disagrees with the launch.
struct SplitKPlan {
  bool large = true;
  int splits = 1;
  int chunk = 0;  // reduction elements per slice: a multiple of BLK_K when split, else the length
  std::size_t workspace_bytes = 0;
};

// rows x cols outputs (one page = page_elems floats) reduced over `length`. Tile: 128x128 unless
// its padding covers over 1/8 more area than 64x64 tiles would (K or C = 64, 7x7 images). Split
// only when the tiles leave SMs idle (large: fewer tiles than the 132 SMs of an H100; small:
// fewer than half of the 8-per-SM slots): then enough slices to fill every resident slot once
// (2 large or 8 small blocks per SM), each slice at least 256 (large) or 128 (small) reduction
// elements, so that a block's prologue and page write stay below ~15% of its time; the workspace
// at most 32 MiB.
inline SplitKPlan plan_split_k(std::int64_t rows, std::int64_t cols, std::int64_t length,
                               std::int64_t page_elems, bool may_split) {
  constexpr std::int64_t kSms = 132;
  constexpr std::int64_t kMaxWorkspace = std::int64_t(32) << 20;
  auto up = [](std::int64_t v, std::int64_t b) { return (v + b - 1) / b; };
  // Slices for one tile shape (1 = no split).
  auto slices = [&](bool large) -> std::int64_t {
    const std::int64_t tiles =
        large ? up(rows, 128) * up(cols, 128) : up(rows, 64) * up(cols, 64);
    const std::int64_t slots = large ? 2 * kSms : 8 * kSms;
    const std::int64_t busy = large ? kSms : slots / 2;
    if (!may_split || tiles == 0 || tiles >= busy) return 1;
    std::int64_t splits = slots / tiles;
    const std::int64_t min_chunk = large ? 256 : 128;
    if (splits > length / min_chunk) splits = length / min_chunk;
    const std::int64_t page = page_elems * std::int64_t(sizeof(float));
    if (page > 0 && splits * page > kMaxWorkspace) splits = kMaxWorkspace / page;
    if (splits > 65535) splits = 65535;
    return splits < 1 ? 1 : splits;
  };
  SplitKPlan plan;
  const std::int64_t area_large = up(rows, 128) * 128 * up(cols, 128) * 128;
  const std::int64_t area_small = up(rows, 64) * 64 * up(cols, 64) * 64;
  plan.large = area_large * 8 <= area_small * 9;
  std::int64_t splits = slices(plan.large);
  // Large tiles that can neither fill the SMs nor split (a short reduction): 64x64 tiles give 4x
  // the blocks, as before split-K existed.
  if (plan.large && splits == 1 && up(rows, 128) * up(cols, 128) < kSms) {
    plan.large = false;
    splits = slices(false);
  }
  plan.chunk = int(length);
  if (splits < 2) return plan;
  const std::int64_t bk = TileLarge::kBlockK;
  const std::int64_t chunk = up(up(length, splits), bk) * bk;
  splits = up(length, chunk);
  if (splits < 2) return plan;
  plan.chunk = int(chunk);
  plan.splits = int(splits);
  plan.workspace_bytes = std::size_t(splits) * std::size_t(page_elems) * sizeof(float);
  return plan;
}

template <class Cfg, class Index>
cudaError_t launch_conv2d_forward(float* y, const float* x, const float* w, Epilogue ep,
                                  const ConvParams& p, bool vec_w, const SplitKPlan& plan,
                                  float* workspace, cudaStream_t stream) {
  dim3 grid;
  if (!make_grid<Cfg>(p.k, p.npq, plan.splits, grid)) return cudaErrorInvalidValue;
  float* out = plan.splits > 1 ? workspace : y;
  const Epilogue tile_ep = plan.splits > 1 ? Epilogue{} : ep;  // split: the reduction adds them
  const int page = plan.splits > 1 ? int(p.n * p.kpq) : 0;
  if (vec_w)
    conv2d_forward_implicit_gemm_kernel<Cfg, Index, true>
        <<<grid, Cfg::kThreads, 0, stream>>>(out, x, w, tile_ep, plan.chunk, page, p);
  else
    conv2d_forward_implicit_gemm_kernel<Cfg, Index, false>
        <<<grid, Cfg::kThreads, 0, stream>>>(out, x, w, tile_ep, plan.chunk, page, p);
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess || plan.splits == 1) return e;
  return launch_split_k_reduce(y, static_cast<const float*>(workspace), p.n * p.kpq, plan.splits,
                               ep.bias, p.pq, std::int64_t(p.k), stream, ep.relu);
}

template <class Cfg, class Index>
cudaError_t launch_conv2d_backward_data(float* dx, const float* dy, const float* w,
                                        const ConvParams& p, const SplitKPlan& plan,
                                        float* workspace, cudaStream_t stream) {
  dim3 grid;
  if (!make_grid<Cfg>(p.c, p.nhw, plan.splits, grid)) return cudaErrorInvalidValue;
  float* out = plan.splits > 1 ? workspace : dx;
  const int page = plan.splits > 1 ? int(p.n * p.chw) : 0;
  conv2d_backward_data_implicit_gemm_kernel<Cfg, Index>
      <<<grid, Cfg::kThreads, 0, stream>>>(out, dy, w, plan.chunk, page, p);
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess || plan.splits == 1) return e;
  return launch_split_k_reduce(dx, static_cast<const float*>(workspace), p.n * p.chw, plan.splits,
                               static_cast<const float*>(nullptr), std::int64_t(1),
                               std::int64_t(1), stream);
}

// The direct backward-data kernel: channel groups of 4 (C <= 4) or 8 (C <= 8), filter chunks of
// at most 32 KiB of shared memory.
constexpr int kDirectMaxC = 8;
constexpr int kDirectSmemFloats = 8192;

inline int direct_group(const ConvParams& p) {
  return p.c <= 4 ? 4 : 8;
}

inline bool use_direct_backward_data(const ConvParams& p) {
  const std::int64_t row_len = (std::int64_t(p.w) + p.stride_w - 1) / p.stride_w * p.stride_w;
  return p.c <= kDirectMaxC && std::int64_t(p.rs) * direct_group(p) <= kDirectSmemFloats &&
         p.n * p.h * row_len <= 0x7fffffff - 255;
}

// The blocked direct kernel: J = 4 (or 2) pixels per thread when that still leaves a block of 256
// threads per SM of a 132-SM GPU; 0 = the plain kernel.
constexpr int kBlockedTaps = 3;

// TINYCNN_CONV_DIRECT_PIXELS = 0, 2 or 4 fixes the choice where the blocked kernel can run (for
// measuring); unset: by the thread count.
inline int direct_pixels_override() {
  static const int v = [] {
    const char* e = std::getenv("TINYCNN_CONV_DIRECT_PIXELS");
    if (!e) return -1;
    const int n = std::atoi(e);
    return n == 0 || n == 2 || n == 4 ? n : -1;
  }();
  return v;
}

inline int direct_blocked_pixels(const ConvParams& p) {
  if (p.dil_h != 1 || p.dil_w != 1 || (p.s + p.stride_w - 1) / p.stride_w > kBlockedTaps) return 0;
  const std::int64_t per_phase = (std::int64_t(p.w) + p.stride_w - 1) / p.stride_w;
  auto threads = [&](int j) { return p.n * p.h * p.stride_w * ((per_phase + j - 1) / j); };
  if (threads(2) > 0x7fffffff - 255) return 0;
  if (direct_pixels_override() >= 0) return direct_pixels_override();
  constexpr std::int64_t kEnough = 132 * 256;  // a block of 256 per SM
  if (threads(4) >= kEnough) return 4;
  if (threads(2) >= kEnough) return 2;
  return 0;
}

// How the plain direct kernel splits the output channels over blockIdx.z: where the image has
// too few pixels for two blocks of 256 per SM of a 132-SM GPU (style transfer's first layer at
// 64-256 px: VGG conv1_1, NIN conv1), into 2-16 slices of at least 4 channels, each block staging
// only its slice's weights; pages of partial results in a workspace of at most 32 MiB. The
// blocked kernel (enough pixels) never splits. TINYCNN_CONV_DIRECT_SPLIT=0: one slice (for
// measuring). A function of the parameters alone, so the workspace size never disagrees with the
// launch.
struct DirectSplitPlan {
  int splits = 1;
  int k_split = 0;  // output channels per slice
  std::size_t workspace_bytes = 0;
};

inline DirectSplitPlan plan_direct_backward_data(const ConvParams& p) {
  static const bool on = env_switch("TINYCNN_CONV_DIRECT_SPLIT", 1) != 0;
  DirectSplitPlan plan;
  plan.k_split = p.k;
  if (!on || direct_blocked_pixels(p) != 0) return plan;
  constexpr std::int64_t kTargetBlocks = 2 * 132, kMaxWorkspace = std::int64_t(32) << 20;
  const std::int64_t row_len = (std::int64_t(p.w) + p.stride_w - 1) / p.stride_w * p.stride_w;
  const std::int64_t blocks = (p.n * p.h * row_len + 255) / 256;  // C <= 8: one channel group
  const std::int64_t page_bytes = p.n * p.chw * std::int64_t(sizeof(float));
  int n = 1;
  while (n < 16 && blocks * n < kTargetBlocks && p.k >= 4 * (2 * n) &&
         2 * n * page_bytes <= kMaxWorkspace)
    n *= 2;
  if (n == 1) return plan;
  plan.k_split = (p.k + n - 1) / n;
  plan.splits = (p.k + plan.k_split - 1) / plan.k_split;
  plan.workspace_bytes = std::size_t(plan.splits * page_bytes);
  return plan;
}

template <int CT, int J>
inline void launch_direct_blocked(float* dx, const float* dy, const float* w, int k_chunk,
                                  const ConvParams& p, std::size_t smem, cudaStream_t stream) {
  const std::int64_t per_phase = (std::int64_t(p.w) + p.stride_w - 1) / p.stride_w;
  const int groups = int((per_phase + J - 1) / J);
  const std::int64_t threads = p.n * p.h * p.stride_w * groups;
  const dim3 grid(unsigned((threads + 255) / 256), unsigned((p.c + CT - 1) / CT));
  conv2d_backward_data_direct_blocked_kernel<CT, J, kBlockedTaps>
      <<<grid, 256, smem, stream>>>(dx, dy, w, k_chunk, groups, p);
}

inline cudaError_t launch_conv2d_backward_data_direct(float* dx, const float* dy, const float* w,
                                                      const ConvParams& p, void* workspace,
                                                      std::size_t workspace_bytes,
                                                      cudaStream_t stream) {
  const int ct = direct_group(p);
  const int k_chunk = std::min(p.k, kDirectSmemFloats / (p.rs * ct));
  const std::size_t smem_blocked = std::size_t(k_chunk) * p.rs * ct * sizeof(float);
  switch (direct_blocked_pixels(p) * 10 + ct) {
    case 44:
      launch_direct_blocked<4, 4>(dx, dy, w, k_chunk, p, smem_blocked, stream);
      return cudaGetLastError();
    case 48:
      launch_direct_blocked<8, 4>(dx, dy, w, k_chunk, p, smem_blocked, stream);
      return cudaGetLastError();
    case 24:
      launch_direct_blocked<4, 2>(dx, dy, w, k_chunk, p, smem_blocked, stream);
      return cudaGetLastError();
    case 28:
      launch_direct_blocked<8, 2>(dx, dy, w, k_chunk, p, smem_blocked, stream);
      return cudaGetLastError();
    default:
      break;
  }
  const DirectSplitPlan plan = plan_direct_backward_data(p);
  if (workspace_bytes < plan.workspace_bytes || (plan.workspace_bytes > 0 && !workspace))
    return cudaErrorInvalidValue;
  const std::int64_t page = p.n * p.chw;
  float* out = plan.splits > 1 ? static_cast<float*>(workspace) : dx;
  const int slice_chunk = std::min(plan.k_split, k_chunk);
  const std::int64_t row_len = (std::int64_t(p.w) + p.stride_w - 1) / p.stride_w * p.stride_w;
  const std::int64_t blocks = (p.n * p.h * row_len + 255) / 256;
  const dim3 grid(unsigned(blocks), unsigned((p.c + ct - 1) / ct), unsigned(plan.splits));
  const std::size_t smem = std::size_t(slice_chunk) * p.rs * ct * sizeof(float);
  if (ct == 4)
    conv2d_backward_data_direct_kernel<4>
        <<<grid, 256, smem, stream>>>(out, dy, w, slice_chunk, plan.k_split, page, p);
  else
    conv2d_backward_data_direct_kernel<8>
        <<<grid, 256, smem, stream>>>(out, dy, w, slice_chunk, plan.k_split, page, p);
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess || plan.splits == 1) return e;
  return launch_split_k_reduce(dx, out, page, plan.splits, static_cast<const float*>(nullptr), 1, 1,
                               stream);
}

// How backward filter splits its reduction: tile shape, slices and slice length. A function of
// the descriptor alone (no device query), so the workspace size never disagrees with the launch.
struct BackwardFilterPlan {
  bool large = true;
  int splits = 1;
  int chunk = 0;  // reduction elements per slice, a multiple of BLK_K
  std::size_t workspace_bytes = 0;
};

inline BackwardFilterPlan plan_backward_filter(const ConvParams& p) {
  // Enough blocks for a few waves on a 132-SM H100; each slice at least 64 reduction steps; the
  // workspace at most 32 MiB (partials cost a read and a write each in the reduction pass).
  constexpr std::int64_t kTargetBlocksLarge = 528, kTargetBlocksSmall = 1056;
  constexpr std::int64_t kMinChunk = 512;
  constexpr std::int64_t kMaxWorkspace = std::int64_t(32) << 20;
  BackwardFilterPlan plan;
  plan.large = p.k >= TileLarge::kBlockM && p.crs >= TileLarge::kBlockN;
  const std::int64_t bm = plan.large ? TileLarge::kBlockM : TileSmall::kBlockM;
  const std::int64_t bn = plan.large ? TileLarge::kBlockN : TileSmall::kBlockN;
  const std::int64_t bk = TileLarge::kBlockK;
  const std::int64_t tiles = ((p.k + bm - 1) / bm) * ((p.crs + bn - 1) / bn);
  const std::int64_t target = plan.large ? kTargetBlocksLarge : kTargetBlocksSmall;
  const std::int64_t page = std::int64_t(p.k) * p.crs * std::int64_t(sizeof(float));
  std::int64_t splits = (target + tiles - 1) / tiles;
  splits =
      splits < (p.npq + kMinChunk - 1) / kMinChunk ? splits : (p.npq + kMinChunk - 1) / kMinChunk;
  if (page > 0 && splits * page > kMaxWorkspace) splits = kMaxWorkspace / page;
  if (splits > 65535) splits = 65535;
  if (splits < 1) splits = 1;
  std::int64_t chunk = (p.npq + splits - 1) / splits;
  chunk = (chunk + bk - 1) / bk * bk;
  if (chunk < 1) chunk = bk;
  splits = (p.npq + chunk - 1) / chunk;
  if (splits < 1) splits = 1;
  plan.splits = int(splits);
  plan.chunk = int(chunk);
  plan.workspace_bytes = splits > 1 ? std::size_t(splits) * std::size_t(page) : 0;
  return plan;
}

template <class Cfg, class Index>
cudaError_t launch_conv2d_backward_filter(float* dw, const float* dy, const float* x,
                                          const ConvParams& p, const BackwardFilterPlan& plan,
                                          float* workspace, cudaStream_t stream) {
  dim3 grid;
  if (!make_grid<Cfg>(p.k, p.crs, plan.splits, grid)) return cudaErrorInvalidValue;
  float* out = plan.splits > 1 ? workspace : dw;
  conv2d_backward_filter_implicit_gemm_kernel<Cfg, Index>
      <<<grid, Cfg::kThreads, 0, stream>>>(out, dy, x, plan.chunk, p);
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess || plan.splits == 1) return e;
  return launch_split_k_reduce(dw, static_cast<const float*>(workspace),
                               std::int64_t(p.k) * p.crs, plan.splits, static_cast<const float*>(nullptr),
                               std::int64_t(1), std::int64_t(1), stream);
}

inline bool is_pointwise(const Conv2dDesc& d) {
  return d.r == 1 && d.s == 1 && d.stride_h == 1 && d.stride_w == 1 && d.pad_h == 0 &&
         d.pad_w == 0 && d.n <= 65535;
}

// Calls fn(Cfg{}, Index{}) with the implicit-GEMM tile configuration of a problem: 128x128 or
// 64x64 tiles, 32- or 64-bit offsets, TF32 tensor-core MMAs (when TF32 is on and the GPU has
// them) or fp32 FMAs.
template <class Fn>
cudaError_t with_conv_tiles(bool large, bool wide, Fn&& fn) {
  if (tf32_conv() && has_tf32_mma()) {
    if (wide)
      return large ? fn(TileLargeTf32{}, std::int64_t{}) : fn(TileSmallTf32{}, std::int64_t{});
    return large ? fn(TileLargeTf32{}, int{}) : fn(TileSmallTf32{}, int{});
  }
  if (wide) return large ? fn(TileLarge{}, std::int64_t{}) : fn(TileSmall{}, std::int64_t{});
  return large ? fn(TileLarge{}, int{}) : fn(TileSmall{}, int{});
}

}  // namespace detail

namespace detail {

// Problems that need 64-bit offsets never split (see the kernels); the workspace cap would stop
// nearly all of them anyway.
inline SplitKPlan plan_forward(const ConvParams& p) {
  return plan_split_k(p.k, p.npq, p.crs, p.n * p.kpq, !needs_int64(p));
}

inline SplitKPlan plan_backward_data(const ConvParams& p) {
  return plan_split_k(p.c, p.nhw, p.krs, p.n * p.chw, !needs_int64(p));
}

}  // namespace detail

// Declared ahead for the phase path, which runs its stride-1 layer through them.
inline std::size_t conv2d_forward_workspace_bytes(const Conv2dDesc& d);
inline cudaError_t conv2d_forward_implicit_gemm(float* y, const float* x, const float* w,
                                                const float* bias, const Conv2dDesc& d,
                                                void* workspace, std::size_t workspace_bytes,
                                                Activation act, FilterStore<float>* store,
                                                cudaStream_t stream);

namespace detail {

// A strided layer as a stride-1 one over phases (conv_phases.cuh), and its workspace: the
// rearranged filter, xs (forward) or z (backward data), then the stride-1 layer's own workspace.
struct PhasePlan {
  PhaseShape shape;
  std::size_t inner_bytes = 0, workspace_bytes = 0;
};

inline bool make_phase_plan(const Conv2dDesc& d, bool backward, PhasePlan& plan) {
  ConvParams p{};
  if (!make_phase_shape(d, backward, plan.shape) || !make_conv_params(plan.shape.inner, p))
    return false;
  plan.inner_bytes = (conv2d_forward_workspace_bytes(plan.shape.inner) + 255) / 256 * 256;
  plan.workspace_bytes =
      (plan.shape.filter_floats + plan.shape.buffer_floats) * sizeof(float) + plan.inner_bytes;
  return true;
}

// Whether the automatic entry points take the phase path (TINYCNN_CONV_PHASES, phase_mode): by
// default where the stride-1 layer runs on Winograd because it pays there, over at least 1024
// blocks. Measured on an H200 (docs/performance.md), NIN conv1 (48 and 96 channels, 3x3 inside):
// forward and backward data 0.136 -> 0.085 ms at 224 px, 0.207 -> 0.131 ms at 512 px; the style
// iteration 11-15 % faster from 1024 px, 2-4.5 % at 512 px (1024 blocks), 1-3.5 % slower at
// 256 px (256 blocks: four more launches per pass cost more than the multiplies saved).
inline bool use_phases(const Conv2dDesc& d, bool backward, PhasePlan& plan) {
  const int mode = phase_mode();
  if (mode == 0 || !make_phase_plan(d, backward, plan)) return false;
  if (mode == 1) return true;
  WinogradShape s;
  return winograd_forward_shape(plan.shape.inner, s) && use_winograd(s) && s.tiles >= 1024;
}

// store (may be null): the stride-1 layer's kept filter (conv2d_forward_filter_plan of
// s.inner); when it is ready the phase filter is not made either.
inline cudaError_t run_forward_phases(float* y, const float* x, const float* w, const float* bias,
                                      const Conv2dDesc& d, const PhasePlan& plan, void* workspace,
                                      Activation act, FilterStore<float>* store,
                                      cudaStream_t stream) {
  const PhaseShape& s = plan.shape;
  float* wf = static_cast<float*>(workspace);
  float* xs = wf + s.filter_floats;
  void* inner_ws = plan.inner_bytes > 0 ? static_cast<void*>(xs + s.buffer_floats) : nullptr;
  cudaError_t e = store && store->ready
                      ? cudaSuccess
                      : launch_conv_phase_filter<false>(wf, w, s, d.r, d.s, stream);
  if (e == cudaSuccess) e = launch_conv_space_to_phases(xs, x, s, stream);
  if (e != cudaSuccess) return e;
  return conv2d_forward_implicit_gemm(y, xs, wf, bias, s.inner, inner_ws, plan.inner_bytes, act,
                                      store, stream);
}

inline cudaError_t run_backward_data_phases(float* dx, const float* dy, const float* w,
                                            const Conv2dDesc& d, const PhasePlan& plan,
                                            void* workspace, FilterStore<float>* store,
                                            cudaStream_t stream) {
  const PhaseShape& s = plan.shape;
  float* wb = static_cast<float*>(workspace);
  float* z = wb + s.filter_floats;
  void* inner_ws = plan.inner_bytes > 0 ? static_cast<void*>(z + s.buffer_floats) : nullptr;
  cudaError_t e = store && store->ready
                      ? cudaSuccess
                      : launch_conv_phase_filter<true>(wb, w, s, d.r, d.s, stream);
  if (e == cudaSuccess)
    e = conv2d_forward_implicit_gemm(z, dy, wb, nullptr, s.inner, inner_ws, plan.inner_bytes,
                                     Activation::none, store, stream);
  if (e != cudaSuccess) return e;
  return launch_conv_phases_to_space(dx, z, s, stream);
}

}  // namespace detail

// Bytes of workspace conv2d_forward_phases / conv2d_backward_data_phases need for d; 0 when d is
// not a strided undilated layer they can run (or is empty).
inline std::size_t conv2d_forward_phases_workspace_bytes(const Conv2dDesc& d) {
  detail::PhasePlan plan;
  return detail::make_phase_plan(d, false, plan) ? plan.workspace_bytes : 0;
}
inline std::size_t conv2d_backward_data_phases_workspace_bytes(const Conv2dDesc& d) {
  detail::PhasePlan plan;
  return detail::make_phase_plan(d, true, plan) ? plan.workspace_bytes : 0;
}

// y = conv(x, w) + bias (bias may be null) for a strided undilated layer, as a stride-1 layer over
// its stride phases (conv_phases.cuh), which runs wherever conv2d_forward_implicit_gemm sends a
// stride-1 layer (Winograd, implicit GEMM, TF32 or not). cudaErrorInvalidValue for any other
// layer, null pointers or a workspace smaller than conv2d_forward_phases_workspace_bytes(d)
// (16-byte aligned). Deterministic.
inline cudaError_t conv2d_forward_phases(float* y, const float* x, const float* w,
                                         const float* bias, const Conv2dDesc& d, void* workspace,
                                         std::size_t workspace_bytes, cudaStream_t stream) {
  detail::PhasePlan plan;
  if (!detail::make_phase_plan(d, false, plan)) return cudaErrorInvalidValue;
  if (!y || !x || !w || !workspace || workspace_bytes < plan.workspace_bytes)
    return cudaErrorInvalidValue;
  return detail::run_forward_phases(y, x, w, bias, d, plan, workspace, Activation::none, nullptr,
                                    stream);
}

// dx from dy for the same layers (overwrites dx); same contract as conv2d_forward_phases.
inline cudaError_t conv2d_backward_data_phases(float* dx, const float* dy, const float* w,
                                               const Conv2dDesc& d, void* workspace,
                                               std::size_t workspace_bytes, cudaStream_t stream) {
  detail::PhasePlan plan;
  if (!detail::make_phase_plan(d, true, plan)) return cudaErrorInvalidValue;
  if (!dx || !dy || !w || !workspace || workspace_bytes < plan.workspace_bytes)
    return cudaErrorInvalidValue;
  return detail::run_backward_data_phases(dx, dy, w, d, plan, workspace, nullptr, stream);
}

namespace detail {

// A 1x1 layer's products, one per image: forward y(K, H*W) = w(K, C) x(C, H*W); backward data
// dx(C, H*W) = w^T dy(K, H*W).
inline GemmDesc pointwise_forward_gemm(const Conv2dDesc& d, const ConvParams& p) {
  GemmDesc g;
  g.m = d.k, g.n = p.hw, g.k = d.c, g.lda = d.c, g.ldb = p.hw, g.ldc = p.hw;
  g.batch = d.n, g.stride_a = 0, g.stride_b = p.chw, g.stride_c = p.kpq;
  return g;
}

inline GemmDesc pointwise_backward_data_gemm(const Conv2dDesc& d, const ConvParams& p) {
  GemmDesc g;
  g.m = d.c, g.n = p.hw, g.k = d.k, g.trans_a = true, g.lda = d.c, g.ldb = p.hw, g.ldc = p.hw;
  g.batch = d.n, g.stride_a = 0, g.stride_b = p.kpq, g.stride_c = p.chw;
  return g;
}

// Split-K for a 1x1 layer's product of one image with very few 64x64 tiles (small images: NIN's
// cccp layers at 64-128 px, 4-8 blocks each reducing K = 96-384 in 16-wide steps, 10-26 us on an
// H200): chunk s of the reduction (a multiple of 16, at least 32) is entry s of a batched product
// into the workspace, and one pass adds the chunks in order with the bias and ReLU. Split where
// the tiles are at most 1/8 of two blocks per SM of a 132-SM GPU, into as many chunks as reach
// it; workspace at most 32 MiB. TINYCNN_CONV_POINTWISE_SPLIT=0: never (for measuring).
struct PointwiseSplit {
  std::int64_t chunks = 1, chunk_k = 0;
  std::size_t workspace_bytes = 0;
};

inline PointwiseSplit plan_pointwise_split(const GemmDesc& g) {
  static const bool on = env_switch("TINYCNN_CONV_POINTWISE_SPLIT", 1) != 0;
  PointwiseSplit s;
  if (!on || g.batch != 1 || g.m <= 0 || g.n <= 0) return s;
  constexpr std::int64_t kTarget = 2 * 132, kMinChunk = 32, kMaxWorkspace = std::int64_t(32) << 20;
  const std::int64_t tiles = ((g.m + 63) / 64) * ((g.n + 63) / 64);
  if (tiles * 8 > kTarget) return s;
  const std::int64_t chunks = std::min((kTarget + tiles - 1) / tiles, g.k / kMinChunk);
  if (chunks < 2) return s;
  const std::int64_t chunk_k = ((g.k + chunks - 1) / chunks + 15) / 16 * 16;
  const std::int64_t n = (g.k + chunk_k - 1) / chunk_k;
  const std::int64_t bytes = n * g.m * g.n * std::int64_t(sizeof(float));
  if (n < 2 || bytes > kMaxWorkspace) return s;
  return {n, chunk_k, std::size_t(bytes)};
}

// c = op(a) b + bias, then ReLU (relu), as split: B untransposed, c packed (ldc = n).
inline cudaError_t pointwise_split_run(float* c, const float* a, const float* b, const GemmDesc& g,
                                       const PointwiseSplit& s, const float* bias, bool relu,
                                       void* workspace, std::size_t workspace_bytes,
                                       cudaStream_t stream) {
  if (workspace_bytes < s.workspace_bytes || !workspace) return cudaErrorInvalidValue;
  float* ws = static_cast<float*>(workspace);
  const cudaError_t e = split_k_chunk_products(
      ws, a, b, g, s.chunks, s.chunk_k, g.k / s.chunk_k,
      [&](float* w, const float* pa, const float* pb, const GemmDesc& part) {
        return gemm_tiled_with_bias(w, pa, pb, part, 1.f, 0.f, nullptr, stream, tf32_conv());
      });
  if (e != cudaSuccess) return e;
  return launch_split_k_reduce(c, ws, g.m * g.n, int(s.chunks), bias, g.n, g.m, stream, relu);
}

}  // namespace detail

// Bytes of workspace conv2d_forward_implicit_gemm needs for d (0 when it needs none, or when d is
// impossible or empty).
inline std::size_t conv2d_forward_workspace_bytes(const Conv2dDesc& d) {
  detail::ConvParams p{};
  if (!detail::make_conv_params(d, p) || p.npq == 0 || p.k == 0 || p.crs == 0) return 0;
  if (detail::is_pointwise(d))
    return detail::plan_pointwise_split(detail::pointwise_forward_gemm(d, p)).workspace_bytes;
  detail::WinogradShape s;
  if (detail::winograd_forward_shape(d, s) && detail::use_winograd(s)) return s.workspace_bytes;
  detail::PhasePlan phases;
  if (detail::use_phases(d, false, phases)) return phases.workspace_bytes;
  return detail::plan_forward(p).workspace_bytes;
}

// y = conv(x, w) + bias (bias may be null): x (N,C,H,W), w (K,C,R,S), y (N,K,P,Q), contiguous.
// 1x1 stride-1 unpadded filters run as one GEMM per image; 3x3 and 5x5 stride-1 layers with
// enough channels and pixels by Winograd F(4x4, 3x3) / F(2x2, 5x5) (winograd.cuh;
// TINYCNN_CONV_WINOGRAD=0 turns it off, =1 uses it wherever it can run); strided layers whose
// stride-1 form over phases takes Winograd, through that form (conv2d_forward_phases;
// TINYCNN_CONV_PHASES likewise); everything else as implicit GEMM, with the reduction C*R*S split
// over slices when the output has too few tiles to fill the GPU.
// workspace must hold conv2d_forward_workspace_bytes(d) bytes (16-byte aligned; may be null when
// that is 0). Deterministic: partial sums are added in a fixed order. act: Activation::relu
// writes max(y, 0) from the same pass that writes y (the Winograd output transform, the product's
// epilogue or the split-K reduction): the values of a ReLU run afterwards, without its pass over y.
// store (may be null): where the filter prepared for d is kept between calls
// (conv2d_forward_filter_plan names what; the workspace stays the same size).
// Returns cudaErrorInvalidValue for an impossible descriptor, null pointers or too small a
// workspace; cudaSuccess without launching when y is empty.
inline cudaError_t conv2d_forward_implicit_gemm(float* y, const float* x, const float* w,
                                                const float* bias, const Conv2dDesc& d,
                                                void* workspace, std::size_t workspace_bytes,
                                                Activation act, FilterStore<float>* store,
                                                cudaStream_t stream) {
  detail::ConvParams p{};
  if (!detail::make_conv_params(d, p)) return cudaErrorInvalidValue;
  if (p.npq == 0 || p.k == 0) return cudaSuccess;
  if (!y || (p.crs > 0 && (!x || !w))) return cudaErrorInvalidValue;
  const bool relu = act == Activation::relu;
  if (detail::is_pointwise(d)) {
    const GemmDesc g = detail::pointwise_forward_gemm(d, p);
    const detail::PointwiseSplit split = detail::plan_pointwise_split(g);
    if (split.chunks > 1)
      return detail::pointwise_split_run(y, w, x, g, split, bias, relu, workspace, workspace_bytes,
                                         stream);
    return detail::gemm_tiled_with_bias(y, w, x, g, 1.f, 0.f, {bias, relu}, stream, tf32_conv());
  }
  detail::WinogradShape s;
  if (detail::winograd_forward_shape(d, s) && detail::use_winograd(s))
    return conv2d_forward_winograd(y, x, w, bias, d, workspace, workspace_bytes, stream,
                                   detail::kWinogradMaxWorkspace, act, store);
  detail::PhasePlan phases;
  if (detail::use_phases(d, false, phases)) {
    if (workspace_bytes < phases.workspace_bytes || !workspace) return cudaErrorInvalidValue;
    return detail::run_forward_phases(y, x, w, bias, d, phases, workspace, act, store, stream);
  }
  const detail::SplitKPlan plan = detail::plan_forward(p);
  if (workspace_bytes < plan.workspace_bytes || (plan.workspace_bytes > 0 && !workspace))
    return cudaErrorInvalidValue;
  float* ws = static_cast<float*>(workspace);
  const bool vec_w = detail::aligned16(w) && p.crs % 4 == 0;
  return detail::with_conv_tiles(plan.large, detail::needs_int64(p), [&](auto cfg, auto index) {
    return detail::launch_conv2d_forward<decltype(cfg), decltype(index)>(y, x, w, {bias, relu}, p,
                                                                         vec_w, plan, ws, stream);
  });
}
// The same without a kept filter.
inline cudaError_t conv2d_forward_implicit_gemm(float* y, const float* x, const float* w,
                                                const float* bias, const Conv2dDesc& d,
                                                void* workspace, std::size_t workspace_bytes,
                                                Activation act, cudaStream_t stream) {
  return conv2d_forward_implicit_gemm(y, x, w, bias, d, workspace, workspace_bytes, act, nullptr,
                                      stream);
}
// The same without an activation.
inline cudaError_t conv2d_forward_implicit_gemm(float* y, const float* x, const float* w,
                                                const float* bias, const Conv2dDesc& d,
                                                void* workspace, std::size_t workspace_bytes,
                                                cudaStream_t stream) {
  return conv2d_forward_implicit_gemm(y, x, w, bias, d, workspace, workspace_bytes,
                                      Activation::none, stream);
}

// Bytes of workspace conv2d_backward_data_implicit_gemm needs for d (0 when it needs none, or
// when d is impossible or empty).
inline std::size_t conv2d_backward_data_workspace_bytes(const Conv2dDesc& d) {
  detail::ConvParams p{};
  if (!detail::make_conv_params(d, p) || p.nhw == 0 || p.c == 0 || p.k == 0 || p.pq == 0) return 0;
  if (detail::is_pointwise(d))
    return detail::plan_pointwise_split(detail::pointwise_backward_data_gemm(d, p)).workspace_bytes;
  detail::PhasePlan phases;
  if (detail::use_phases(d, true, phases)) return phases.workspace_bytes;
  if (detail::use_direct_backward_data(p))
    return detail::plan_direct_backward_data(p).workspace_bytes;
  detail::WinogradShape s;
  if (detail::winograd_backward_data_shape(d, s) && detail::use_winograd(s))
    return s.workspace_bytes;
  return detail::plan_backward_data(p).workspace_bytes;
}

namespace detail {
// Whether backward data runs d (its parameters p made already) by Winograd.
inline bool backward_data_by_winograd(const Conv2dDesc& d, const ConvParams& p) {
  if (is_pointwise(d)) return false;
  PhasePlan phases;
  if (use_phases(d, true, phases) || use_direct_backward_data(p)) return false;
  WinogradShape s;
  return winograd_backward_data_shape(d, s) && use_winograd(s);
}
}  // namespace detail

namespace detail {
inline FilterPlan winograd_filter_plan(const WinogradShape& s) {
  return {winograd_tf32() ? KeptFilter::winograd_tf32 : KeptFilter::winograd,
          std::int64_t(s.filter_floats)};
}
}  // namespace detail

// What conv2d_forward_implicit_gemm (conv2d_backward_data_implicit_gemm) keeps for d in a
// FilterStore given to it: the filter's Winograd transform (36 x C x K floats; KeptFilter::
// winograd_tf32 where it is rounded for TF32 products), for a strided layer over phases that of
// its stride-1 form's filter (the phase filter is then not made either), or nothing: the other
// paths read the filter as it is. A frozen layer's filter is then transformed once instead of
// twice per style iteration.
inline FilterPlan conv2d_forward_filter_plan(const Conv2dDesc& d) {
  detail::ConvParams p{};
  if (!detail::make_conv_params(d, p) || p.npq == 0 || p.k == 0 || p.crs == 0) return {};
  if (detail::is_pointwise(d)) return {};
  detail::WinogradShape s;
  if (detail::winograd_forward_shape(d, s) && detail::use_winograd(s))
    return detail::winograd_filter_plan(s);
  detail::PhasePlan phases;
  if (detail::use_phases(d, false, phases)) return conv2d_forward_filter_plan(phases.shape.inner);
  return {};
}
inline FilterPlan conv2d_backward_data_filter_plan(const Conv2dDesc& d) {
  detail::ConvParams p{};
  if (!detail::make_conv_params(d, p) || p.nhw == 0 || p.c == 0 || p.k == 0 || p.pq == 0) return {};
  if (detail::is_pointwise(d)) return {};
  detail::PhasePlan phases;
  if (detail::use_phases(d, true, phases)) return conv2d_forward_filter_plan(phases.shape.inner);
  if (detail::use_direct_backward_data(p)) return {};
  detail::WinogradShape s;
  if (detail::winograd_backward_data_shape(d, s) && detail::use_winograd(s))
    return detail::winograd_filter_plan(s);
  return {};
}

// Whether conv2d_backward_data_implicit_gemm takes a relu_mask for d: where it runs by Winograd
// (the input transform applies the mask as it reads dy).
inline bool conv2d_backward_data_takes_relu_mask(const Conv2dDesc& d) {
  detail::ConvParams p{};
  return detail::make_conv_params(d, p) && detail::backward_data_by_winograd(d, p);
}

namespace detail {

// Backward data on every path but Winograd's (1x1, phases, direct, implicit GEMM), in the order
// the automatic entry point picks them.
inline cudaError_t backward_data_other_paths(float* dx, const float* dy, const float* w,
                                             const Conv2dDesc& d, const ConvParams& p,
                                             void* workspace, std::size_t workspace_bytes,
                                             FilterStore<float>* store, cudaStream_t stream) {
  if (is_pointwise(d)) {
    const GemmDesc g = pointwise_backward_data_gemm(d, p);
    const PointwiseSplit split = plan_pointwise_split(g);
    if (split.chunks > 1)
      return pointwise_split_run(dx, w, dy, g, split, nullptr, false, workspace, workspace_bytes,
                                 stream);
    return gemm_tiled_with_bias(dx, w, dy, g, 1.f, 0.f, nullptr, stream, tf32_conv());
  }
  PhasePlan phases;
  if (use_phases(d, true, phases)) {
    if (workspace_bytes < phases.workspace_bytes || !workspace) return cudaErrorInvalidValue;
    return run_backward_data_phases(dx, dy, w, d, phases, workspace, store, stream);
  }
  if (use_direct_backward_data(p))
    return launch_conv2d_backward_data_direct(dx, dy, w, p, workspace, workspace_bytes, stream);
  const SplitKPlan plan = plan_backward_data(p);
  if (workspace_bytes < plan.workspace_bytes || (plan.workspace_bytes > 0 && !workspace))
    return cudaErrorInvalidValue;
  float* ws = static_cast<float*>(workspace);
  return with_conv_tiles(plan.large, needs_int64(p), [&](auto cfg, auto index) {
    return launch_conv2d_backward_data<decltype(cfg), decltype(index)>(dx, dy, w, p, plan, ws,
                                                                       stream);
  });
}

}  // namespace detail

// dx = gradient of the forward's output with respect to x, given dy (N,K,P,Q); overwrites dx.
// Strided layers go over phases where forward would (conv2d_backward_data_phases); few input
// channels (C <= 8) run on a direct kernel that skips the taps a stride leaves empty; 3x3 and 5x5
// stride-1 layers as in forward by Winograd on the turned filter; otherwise implicit GEMM, split
// over K*R*S like forward. workspace must hold conv2d_backward_data_workspace_bytes(d)
// bytes (16-byte aligned; may be null when that is 0); deterministic.
// The ReLUs on either side, each optional (null): dy_mask (dy's shape; the output of a ReLU after
// this layer; only where conv2d_backward_data_takes_relu_mask(d), else cudaErrorInvalidValue):
// dx from dy * (dy_mask > 0), applied as dy is read. dx_mask (dx's shape; the output of a ReLU
// before this layer, i.e. this layer's input): dx written as dx * (dx_mask > 0), by the Winograd
// output transform, or by a pass over dx on the other paths. Either way the values are those of
// relu_backward around the plain call, bit for bit. store (may be null): where the filter prepared
// for d is kept between calls (conv2d_backward_data_filter_plan names what).
inline cudaError_t conv2d_backward_data_implicit_gemm(float* dx, const float* dy, const float* w,
                                                      const Conv2dDesc& d, void* workspace,
                                                      std::size_t workspace_bytes,
                                                      const float* dy_mask, const float* dx_mask,
                                                      FilterStore<float>* store,
                                                      cudaStream_t stream) {
  detail::ConvParams p{};
  if (!detail::make_conv_params(d, p)) return cudaErrorInvalidValue;
  const bool winograd = detail::backward_data_by_winograd(d, p);
  if (dy_mask && !winograd) return cudaErrorInvalidValue;
  if (p.nhw == 0 || p.c == 0) return cudaSuccess;
  if (!dx) return cudaErrorInvalidValue;
  if (p.k == 0 || p.pq == 0)  // no output pixel touches the input: its gradient is zero
    return cudaMemsetAsync(dx, 0, std::size_t(p.n * p.chw) * sizeof(float), stream);
  if (!dy || !w) return cudaErrorInvalidValue;
  if (winograd)
    return conv2d_backward_data_winograd(dx, dy, w, d, workspace, workspace_bytes, stream,
                                         detail::kWinogradMaxWorkspace, dy_mask, dx_mask, store);
  const cudaError_t e =
      detail::backward_data_other_paths(dx, dy, w, d, p, workspace, workspace_bytes, store, stream);
  if (e != cudaSuccess || !dx_mask) return e;
  return relu_backward(dx, dx, dx_mask, p.n * p.chw, stream);
}
// The same without a kept filter.
inline cudaError_t conv2d_backward_data_implicit_gemm(float* dx, const float* dy, const float* w,
                                                      const Conv2dDesc& d, void* workspace,
                                                      std::size_t workspace_bytes,
                                                      const float* dy_mask, const float* dx_mask,
                                                      cudaStream_t stream) {
  return conv2d_backward_data_implicit_gemm(dx, dy, w, d, workspace, workspace_bytes, dy_mask,
                                            dx_mask, nullptr, stream);
}
// The same without ReLUs around.
inline cudaError_t conv2d_backward_data_implicit_gemm(float* dx, const float* dy, const float* w,
                                                      const Conv2dDesc& d, void* workspace,
                                                      std::size_t workspace_bytes,
                                                      cudaStream_t stream) {
  return conv2d_backward_data_implicit_gemm(dx, dy, w, d, workspace, workspace_bytes, nullptr,
                                            nullptr, stream);
}

// Bytes of workspace conv2d_backward_filter_implicit_gemm needs for d (0 when it needs none, or
// when d is impossible).
inline std::size_t conv2d_backward_filter_workspace_bytes(const Conv2dDesc& d) {
  detail::ConvParams p{};
  if (!detail::make_conv_params(d, p) || p.k == 0 || p.crs == 0 || p.npq == 0 || p.npq > 0x7fffffff)
    return 0;
  return detail::plan_backward_filter(p).workspace_bytes;
}

// dw = gradient of the forward's output with respect to w, given dy and x; overwrites dw. workspace
// must hold conv2d_backward_filter_workspace_bytes(d) bytes (16-byte aligned; may be null when that
// is 0). Requires N*P*Q < 2^31. Deterministic: partial sums over slices of N*P*Q are added in a
// fixed order.
inline cudaError_t conv2d_backward_filter_implicit_gemm(float* dw, const float* dy, const float* x,
                                                        const Conv2dDesc& d, void* workspace,
                                                        std::size_t workspace_bytes,
                                                        cudaStream_t stream) {
  detail::ConvParams p{};
  if (!detail::make_conv_params(d, p)) return cudaErrorInvalidValue;
  if (p.k == 0 || p.crs == 0) return cudaSuccess;
  if (!dw) return cudaErrorInvalidValue;
  if (p.npq == 0)  // no output pixel: the gradient is zero
    return cudaMemsetAsync(dw, 0, std::size_t(p.k) * p.crs * sizeof(float), stream);
  if (!dy || !x || p.npq > 0x7fffffff) return cudaErrorInvalidValue;
  const detail::BackwardFilterPlan plan = detail::plan_backward_filter(p);
  if (workspace_bytes < plan.workspace_bytes || (plan.workspace_bytes > 0 && !workspace))
    return cudaErrorInvalidValue;
  float* ws = static_cast<float*>(workspace);
  if (detail::needs_int64(p))
    return plan.large ? detail::launch_conv2d_backward_filter<detail::TileLarge, std::int64_t>(
                            dw, dy, x, p, plan, ws, stream)
                      : detail::launch_conv2d_backward_filter<detail::TileSmall, std::int64_t>(
                            dw, dy, x, p, plan, ws, stream);
  return plan.large ? detail::launch_conv2d_backward_filter<detail::TileLarge, int>(
                          dw, dy, x, p, plan, ws, stream)
                    : detail::launch_conv2d_backward_filter<detail::TileSmall, int>(
                          dw, dy, x, p, plan, ws, stream);
}

}  // namespace tinycnn::kernels::cuda
