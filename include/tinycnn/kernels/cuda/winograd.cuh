// 3x3 and 5x5 stride-1 convolution by Winograd's F(4x4, 3x3) and F(2x2, 5x5) on 6x6 blocks
// (transforms in tinycnn/kernels/winograd.hpp), forward and backward data, fp32. Not fused: per
// pass of output tiles
//   1. the filter, transformed once per call: U[e] (Cout x Cin), e = 0..35;
//   2. the input blocks: V[e] (Cin x tiles), one thread per (channel, 6x6 block);
//   3. 36 independent products M[e] = U[e] V[e] on the tiled GEMM (gemm.cuh), one batched launch;
//   4. the output blocks: y = A^T M A (+ bias), one thread per (channel, m x m block).
// Against implicit GEMM, F(4x4, 3x3) does 4x fewer multiply-adds (36 per 16 outputs and channel
// instead of 144) and F(2x2, 5x5) 2.8x (36 per 4 instead of 100), at the price of moving V and M
// through memory: 2 x 36/m^2 floats per input and output pixel and channel, which is what bounds
// the layers with few channels. Backward data of a stride-1 layer is the forward correlation of
// dy with the filter turned by 180 degrees and its channel axes swapped, padded by R - 1 - pad;
// only the filter transform differs.
//
// Tiles are processed in passes of at most `chunk` tiles so that the workspace stays within
// kWinogradMaxWorkspace (an 8K frame has 2 million 4x4 tiles).
// Winograd's fp32 rounding is larger than a direct sum's: about 1e-6 of the result's norm for
// F(4x4, 3x3) over 512 channels and 3e-6 for F(2x2, 5x5) over 96 (direct: ~3e-7).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "tinycnn/kernels/cuda/gemm.cuh"
#include "tinycnn/kernels/cuda/launch.cuh"
#include "tinycnn/kernels/problem.hpp"
#include "tinycnn/kernels/tf32.hpp"
#include "tinycnn/kernels/winograd.hpp"

namespace tinycnn::kernels::cuda {

namespace detail {

inline constexpr std::int64_t kWinogradMaxWorkspace = std::int64_t(256) << 20;

// One RxR stride-1 correlation as the kernels see it: in (n, cin, hin, win) -> out (n, cout, hout,
// wout), output blocks of m x m (m = 7 - R), input block origin at (m*th - pad_h, m*tw - pad_w).
struct WinogradShape {
  int r = 3, m = 4;
  int cin = 0, cout = 0, hin = 0, win = 0, hout = 0, wout = 0, pad_h = 0, pad_w = 0;
  int tiles_h = 0, tiles_w = 0;
  std::int64_t n = 0, tiles = 0;  // tiles = n * tiles_h * tiles_w
  std::int64_t chunk = 0;         // tiles per pass: a multiple of 128 (the GEMM's widest tile)
  std::size_t filter_floats = 0;  // 36 * cin * cout, rounded up to 64 floats (256-byte aligned)
  std::size_t workspace_bytes = 0;
};

// False when the sizes do not fit the kernels' 32-bit indices, or the padding exceeds R - 1
// (backward data pads by R - 1 - pad).
inline bool make_winograd_shape(int r, std::int64_t n, std::int64_t cin, std::int64_t cout,
                                std::int64_t hin, std::int64_t win, std::int64_t hout,
                                std::int64_t wout, std::int64_t pad_h, std::int64_t pad_w,
                                std::size_t max_workspace, WinogradShape& s) {
  if (n < 1 || cin < 1 || cout < 1 || hout < 1 || wout < 1) return false;
  if (r != 3 && r != 5) return false;
  if (cin > 65535 || cout > 65535 || pad_h < 0 || pad_w < 0 || pad_h > r - 1 || pad_w > r - 1)
    return false;
  if (hin * win > 0x7fffffff || hout * wout > 0x7fffffff || hout + 8 > 0x7fffffff ||
      wout + 8 > 0x7fffffff)
    return false;
  s.r = r, s.m = 7 - r;
  s.n = n, s.cin = int(cin), s.cout = int(cout), s.hin = int(hin), s.win = int(win);
  s.hout = int(hout), s.wout = int(wout), s.pad_h = int(pad_h), s.pad_w = int(pad_w);
  s.tiles_h = int((hout + s.m - 1) / s.m), s.tiles_w = int((wout + s.m - 1) / s.m);
  s.tiles = n * s.tiles_h * s.tiles_w;
  const std::int64_t per_tile = std::int64_t(winograd::kElems) * (cin + cout) * 4;
  s.filter_floats = std::size_t((winograd::kElems * cin * cout + 63) / 64 * 64);
  const std::int64_t room = std::int64_t(max_workspace) - std::int64_t(s.filter_floats) * 4;
  std::int64_t chunk = room > 0 ? room / per_tile / 128 * 128 : 0;
  if (chunk < 128) chunk = 128;
  const std::int64_t all = (s.tiles + 127) / 128 * 128;
  s.chunk = chunk < all ? chunk : all;
  // V and M of one pass are indexed in int: 36 * max(cin, cout) * chunk < 2^31.
  if (std::int64_t(winograd::kElems) * (cin > cout ? cin : cout) * s.chunk > 0x7fffffff)
    return false;
  s.workspace_bytes =
      (s.filter_floats + std::size_t(winograd::kElems) * std::size_t(cin + cout) * s.chunk) *
      sizeof(float);
  return true;
}

// U[e][o][i] = (G g G^T)[e] for the RxR filter g that maps input channel i to output channel o.
// Forward: g = w[o][i]. Turned (backward data, o = C, i = K): g = w[i][o] rotated by 180 degrees.
// With `round` (TF32 products), every transformed value is written rounded to TF32, once, so the
// product's tiles need not round it each time they stage it (round_tf32 is idempotent: the
// product is the same). Likewise in winograd_input_kernel.
template <int R, bool Turned>
__global__ void __launch_bounds__(256)
    winograd_filter_kernel(float* __restrict__ u, const float* __restrict__ w, int cout, int cin,
                           bool round) {
  const std::int64_t idx = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const std::int64_t count = std::int64_t(cout) * cin;
  if (idx >= count) return;
  const int o = int(idx / cin), i = int(idx % cin);
  // Forward reads w[o][i]; turned reads w[i][o] (w is K x C x R x R with K = cin, C = cout).
  const float* src = w + (Turned ? std::int64_t(i) * cout + o : idx) * (R * R);
  float g[R * R];
#pragma unroll
  for (int t = 0; t < R * R; ++t) g[t] = __ldg(src + (Turned ? R * R - 1 - t : t));
  float v[winograd::kElems];
  winograd::filter_2d<R>(g, v);
#pragma unroll
  for (int e = 0; e < winograd::kElems; ++e) u[e * count + idx] = round ? round_tf32(v[e]) : v[e];
}

// The tile of pass index j (tile t = t0 + j): image, tile row, tile column.
struct TileCoord {
  std::int64_t n;
  int th, tw;
};
__device__ __forceinline__ TileCoord tile_coord(std::int64_t t, const WinogradShape& s) {
  const std::int64_t per_image = std::int64_t(s.tiles_h) * s.tiles_w;
  const std::int64_t n = t / per_image;
  const int r = int(t - n * per_image);
  return {n, r / s.tiles_w, r % s.tiles_w};
}

// V[e][c][j] = (B^T d B)[e] for the 6x6 input block of channel c (blockIdx.y) and tile t0 + j,
// zeros outside the image. Consecutive threads take consecutive tiles of a row: their blocks
// overlap by 6 - m columns, so a warp's 36 loads fall in 6 rows of 32 m + 6 - m floats. Masked
// (backward data behind a ReLU): d is x where mask (the ReLU's output, x's shape) is positive and
// 0 elsewhere, the ReLU's backward applied as the block is read. (A template, like every kernel
// in a header, so that several translation units may include it.)
template <int R, bool Masked>
__global__ void __launch_bounds__(256)
    winograd_input_kernel(float* __restrict__ v, const float* __restrict__ x,
                          const float* __restrict__ mask, const WinogradShape s, std::int64_t t0,
                          int count, int ld, bool round) {
  const int j = int(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= count) return;
  const int c = int(blockIdx.y);
  const TileCoord tc = tile_coord(t0 + j, s);
  const std::int64_t plane_offset = (tc.n * s.cin + c) * (std::int64_t(s.hin) * s.win);
  const float* img = x + plane_offset;
  const float* keep = Masked ? mask + plane_offset : nullptr;
  constexpr int M = winograd::kOutput<R>;
  const int h0 = tc.th * M - s.pad_h, w0 = tc.tw * M - s.pad_w;
  float d[winograd::kElems];
#pragma unroll
  for (int r = 0; r < 6; ++r) {
    const int h = h0 + r;
    const bool row_ok = h >= 0 && h < s.hin;
#pragma unroll
    for (int q = 0; q < 6; ++q) {
      const int w = w0 + q;
      const bool in = row_ok && w >= 0 && w < s.win;
      if constexpr (Masked)
        d[6 * r + q] = in && __ldg(keep + h * s.win + w) > 0.f ? __ldg(img + h * s.win + w) : 0.f;
      else
        d[6 * r + q] = in ? __ldg(img + h * s.win + w) : 0.f;
    }
  }
  float out[winograd::kElems];
  winograd::input_2d(d, out);
  const std::int64_t plane = std::int64_t(s.cin) * ld;
  float* dst = v + std::int64_t(c) * ld + j;
#pragma unroll
  for (int e = 0; e < winograd::kElems; ++e) dst[e * plane] = round ? round_tf32(out[e]) : out[e];
}

// y block of output channel o (blockIdx.y) and tile t0 + j = ep(A^T M A + bias[o]) (a fused ReLU
// when ep.relu), clipped to the output, and 0 where keep (may be null; y's shape) is not positive
// (the backward of a ReLU in front of the layer whose backward data this is); a block's row goes
// out as one 16-byte (m = 4) or 8-byte (m = 2) store when wout % m == 0 and y and keep are 16-byte
// aligned (Vec).
template <int R, bool Vec>
__global__ void __launch_bounds__(256)
    winograd_output_kernel(float* __restrict__ y, const float* __restrict__ m, const Epilogue ep,
                           const float* __restrict__ keep, const WinogradShape s, std::int64_t t0,
                           int count, int ld) {
  const int j = int(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= count) return;
  const int o = int(blockIdx.y);
  const std::int64_t plane = std::int64_t(s.cout) * ld;
  const float* src = m + std::int64_t(o) * ld + j;
  float mm[winograd::kElems];
#pragma unroll
  for (int e = 0; e < winograd::kElems; ++e) mm[e] = src[e * plane];
  constexpr int M = winograd::kOutput<R>;
  float out[M * M];
  winograd::output_2d<R>(mm, out);
  const float b = ep.bias ? __ldg(ep.bias + o) : 0.f;
  const TileCoord tc = tile_coord(t0 + j, s);
  const std::int64_t plane_offset = (tc.n * s.cout + o) * (std::int64_t(s.hout) * s.wout);
  const int h0 = tc.th * M, w0 = tc.tw * M;
#pragma unroll
  for (int r = 0; r < M; ++r) {
    const int h = h0 + r;
    if (h >= s.hout) break;
    const std::int64_t at = plane_offset + std::int64_t(h) * s.wout + w0;
    float v[M];
#pragma unroll
    for (int q = 0; q < M; ++q) v[q] = ep(out[M * r + q] + b);
    if constexpr (Vec && M == 4) {  // wout % 4 == 0: the whole row of the block is inside
      if (keep) {
        const float4 k = __ldg(reinterpret_cast<const float4*>(keep + at));
        v[0] = k.x > 0.f ? v[0] : 0.f, v[1] = k.y > 0.f ? v[1] : 0.f;
        v[2] = k.z > 0.f ? v[2] : 0.f, v[3] = k.w > 0.f ? v[3] : 0.f;
      }
      *reinterpret_cast<float4*>(y + at) = make_float4(v[0], v[1], v[2], v[3]);
    } else if constexpr (Vec && M == 2) {
      if (keep) {
        const float2 k = __ldg(reinterpret_cast<const float2*>(keep + at));
        v[0] = k.x > 0.f ? v[0] : 0.f, v[1] = k.y > 0.f ? v[1] : 0.f;
      }
      *reinterpret_cast<float2*>(y + at) = make_float2(v[0], v[1]);
    } else {
#pragma unroll
      for (int q = 0; q < M; ++q)
        if (w0 + q < s.wout) y[at + q] = !keep || __ldg(keep + at + q) > 0.f ? v[q] : 0.f;
    }
  }
}

// The three passes over every chunk of tiles; the filter is transformed by the caller (rounded to
// TF32 when `round`, as this then rounds the input's transform and multiplies on TF32 tiles). ep:
// the bias (may be null) and a fused ReLU, applied by the output transform. mask (may be null):
// the input is read as in * (mask > 0) (a ReLU's backward in front of backward data). keep (may
// be null): out is written as out * (keep > 0) (the backward of a ReLU before the layer).
// u: the transformed filter (in the workspace's first s.filter_floats floats, or kept elsewhere);
// V and M go to the workspace after those floats.
inline cudaError_t winograd_run(float* out, const float* in, Epilogue ep, const WinogradShape& s,
                                const float* u, float* workspace, cudaStream_t stream, bool round,
                                const float* mask = nullptr, const float* keep = nullptr) {
  float* v = workspace + s.filter_floats;
  float* m = v + std::size_t(winograd::kElems) * s.cin * s.chunk;
  const int ld = int(s.chunk);
  const bool vec_out = s.wout % s.m == 0 && aligned16(out) && (!keep || aligned16(keep));
  for (std::int64_t t0 = 0; t0 < s.tiles; t0 += s.chunk) {
    const int count = int(s.tiles - t0 < s.chunk ? s.tiles - t0 : s.chunk);
    const unsigned blocks = unsigned((count + 255) / 256);
    const dim3 in_grid(blocks, unsigned(s.cin));
    if (s.r == 3 && mask)
      winograd_input_kernel<3, true>
          <<<in_grid, 256, 0, stream>>>(v, in, mask, s, t0, count, ld, round);
    else if (s.r == 3)
      winograd_input_kernel<3, false>
          <<<in_grid, 256, 0, stream>>>(v, in, mask, s, t0, count, ld, round);
    else if (mask)
      winograd_input_kernel<5, true>
          <<<in_grid, 256, 0, stream>>>(v, in, mask, s, t0, count, ld, round);
    else
      winograd_input_kernel<5, false>
          <<<in_grid, 256, 0, stream>>>(v, in, mask, s, t0, count, ld, round);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return e;
    GemmDesc g;
    g.m = s.cout, g.n = count, g.k = s.cin;
    g.lda = s.cin, g.ldb = ld, g.ldc = ld;
    g.batch = winograd::kElems;
    g.stride_a = std::int64_t(s.cout) * s.cin;
    g.stride_b = std::int64_t(s.cin) * ld;
    g.stride_c = std::int64_t(s.cout) * ld;
    e = gemm_tiled_with_bias(m, u, v, g, 1.f, 0.f, nullptr, stream, round, round);
    if (e != cudaSuccess) return e;
    const dim3 grid(blocks, unsigned(s.cout));
    if (s.r == 3 && vec_out)
      winograd_output_kernel<3, true><<<grid, 256, 0, stream>>>(out, m, ep, keep, s, t0, count, ld);
    else if (s.r == 3)
      winograd_output_kernel<3, false>
          <<<grid, 256, 0, stream>>>(out, m, ep, keep, s, t0, count, ld);
    else if (vec_out)
      winograd_output_kernel<5, true><<<grid, 256, 0, stream>>>(out, m, ep, keep, s, t0, count, ld);
    else
      winograd_output_kernel<5, false>
          <<<grid, 256, 0, stream>>>(out, m, ep, keep, s, t0, count, ld);
    e = cudaGetLastError();
    if (e != cudaSuccess) return e;
  }
  return cudaSuccess;
}

template <bool Turned>
inline cudaError_t winograd_transform_filter(float* u, const float* w, const WinogradShape& s,
                                             cudaStream_t stream, bool round) {
  const std::int64_t count = std::int64_t(s.cout) * s.cin;
  const unsigned blocks = unsigned((count + 255) / 256);
  if (s.r == 3)
    winograd_filter_kernel<3, Turned><<<blocks, 256, 0, stream>>>(u, w, s.cout, s.cin, round);
  else
    winograd_filter_kernel<5, Turned><<<blocks, 256, 0, stream>>>(u, w, s.cout, s.cin, round);
  return cudaGetLastError();
}

// The transformed filter of this call in *u: made in the workspace (no store), made once into
// store->data (store->ready then set), or read from there (ready).
template <bool Turned>
inline cudaError_t winograd_filter(const float*& u, float* workspace, const float* w,
                                   const WinogradShape& s, FilterStore<float>* store,
                                   cudaStream_t stream, bool round) {
  float* dst = store ? store->data : workspace;
  if (!dst) return cudaErrorInvalidValue;
  if (!store || !store->ready) {
    const cudaError_t e = winograd_transform_filter<Turned>(dst, w, s, stream, round);
    if (e != cudaSuccess) return e;
    if (store) store->ready = true;
  }
  u = dst;
  return cudaSuccess;
}

// Whether this call's products run on TF32 tiles (read once per call, so the transforms and the
// product agree even if the switch flips meanwhile).
inline bool winograd_tf32() {
  return tf32_conv() && has_tf32_mma();
}

inline bool is_winograd_layer(const Conv2dDesc& d) {
  return d.r == d.s && (d.r == 3 || d.r == 5) && d.stride_h == 1 && d.stride_w == 1 &&
         d.dilation_h == 1 && d.dilation_w == 1 && d.pad_h < d.r && d.pad_w < d.r;
}

inline bool winograd_forward_shape(const Conv2dDesc& d, WinogradShape& s,
                                   std::size_t max_workspace = kWinogradMaxWorkspace) {
  return is_winograd_layer(d) && make_winograd_shape(int(d.r), d.n, d.c, d.k, d.h, d.w, d.p(),
                                                     d.q(), d.pad_h, d.pad_w, max_workspace, s);
}

inline bool winograd_backward_data_shape(const Conv2dDesc& d, WinogradShape& s,
                                         std::size_t max_workspace = kWinogradMaxWorkspace) {
  return is_winograd_layer(d) && d.p() >= 1 && d.q() >= 1 &&
         make_winograd_shape(int(d.r), d.n, d.k, d.c, d.p(), d.q(), d.h, d.w, d.r - 1 - d.pad_h,
                             d.r - 1 - d.pad_w, max_workspace, s);
}

// TINYCNN_CONV_WINOGRAD: "0" never, "1" for every layer it can run; unset or anything else: the
// layers where it measured faster (winograd_pays).
inline int winograd_mode() {
  return winograd::mode();
}

// Where Winograd beats implicit GEMM (H200, cuda_conv_bench with TINYCNN_CONV_WINOGRAD=0 and =1,
// docs/performance.md): enough channels on both sides for the 36 products to be real matrix
// products (VGG conv1_1, C = 3, runs 0.4x), and at least 64 tiles, i.e. a 32x32 output for 3x3
// (16x16 for 5x5): below that, transforming the filter (36 * C * K floats, written and read per
// call) and GEMM tiles mostly empty along the tiles cost more than the multiplications saved (VGG
// conv5_1 at 14x14: 0.5x; conv4_x at 28x28, 49 tiles: 0.9-1.3x; NIN conv3 at 31x31, 64 tiles:
// 1.8x; NIN conv2, 5x5 at 27x27: 1.2x forward, 1.5x backward data).
inline bool winograd_pays(const WinogradShape& s) {
  return s.cin >= 32 && s.cout >= 32 && s.tiles >= 64;
}

inline bool use_winograd(const WinogradShape& s) {
  const int mode = winograd_mode();
  return mode == 1 || (mode == 2 && winograd_pays(s));
}

}  // namespace detail

// Bytes of workspace conv2d_forward_winograd needs for d; 0 when d is not a 3x3 or 5x5 stride-1
// undilated layer with padding below the filter size (or is empty). max_workspace bounds it (the
// tiles then go in several passes; at least one pass of 128 tiles).
inline std::size_t conv2d_forward_winograd_workspace_bytes(
    const Conv2dDesc& d, std::size_t max_workspace = detail::kWinogradMaxWorkspace) {
  detail::WinogradShape s;
  return detail::winograd_forward_shape(d, s, max_workspace) ? s.workspace_bytes : 0;
}

inline std::size_t conv2d_backward_data_winograd_workspace_bytes(
    const Conv2dDesc& d, std::size_t max_workspace = detail::kWinogradMaxWorkspace) {
  detail::WinogradShape s;
  return detail::winograd_backward_data_shape(d, s, max_workspace) ? s.workspace_bytes : 0;
}

// y = conv(x, w) + bias (bias may be null) by F(4x4, 3x3) or F(2x2, 5x5), for 3x3 and 5x5 stride-1
// undilated layers with padding below the filter size; cudaErrorInvalidValue for any other layer,
// null pointers or a workspace smaller than conv2d_forward_winograd_workspace_bytes(d) (16-byte
// aligned). Deterministic. act: Activation::relu writes max(y, 0) from the output transform.
inline cudaError_t conv2d_forward_winograd(
    float* y, const float* x, const float* w, const float* bias, const Conv2dDesc& d,
    void* workspace, std::size_t workspace_bytes, cudaStream_t stream,
    std::size_t max_workspace = detail::kWinogradMaxWorkspace, Activation act = Activation::none,
    FilterStore<float>* store = nullptr) {
  detail::WinogradShape s;
  if (!detail::winograd_forward_shape(d, s, max_workspace)) return cudaErrorInvalidValue;
  if (!y || !x || !w || !workspace || workspace_bytes < s.workspace_bytes)
    return cudaErrorInvalidValue;
  float* ws = static_cast<float*>(workspace);
  const bool tf32 = detail::winograd_tf32();
  const float* u = nullptr;
  const cudaError_t e = detail::winograd_filter<false>(u, ws, w, s, store, stream, tf32);
  if (e != cudaSuccess) return e;
  return detail::winograd_run(y, x, {bias, act == Activation::relu}, s, u, ws, stream, tf32);
}

// dx from dy for the same layers, by Winograd on the turned filter; overwrites dx. Same contract as
// conv2d_forward_winograd (max_workspace as given to the workspace query). relu_mask (may be
// null; dy's shape): dx from dy * (relu_mask > 0), the backward of a ReLU whose output is
// relu_mask applied as dy is read. dx_mask (may be null; dx's shape): dx written as
// dx * (dx_mask > 0), the backward of a ReLU before the layer (whose output, the layer's input,
// is dx_mask) applied as dx is written.
inline cudaError_t conv2d_backward_data_winograd(
    float* dx, const float* dy, const float* w, const Conv2dDesc& d, void* workspace,
    std::size_t workspace_bytes, cudaStream_t stream,
    std::size_t max_workspace = detail::kWinogradMaxWorkspace, const float* relu_mask = nullptr,
    const float* dx_mask = nullptr, FilterStore<float>* store = nullptr) {
  detail::WinogradShape s;
  if (!detail::winograd_backward_data_shape(d, s, max_workspace)) return cudaErrorInvalidValue;
  if (!dx || !dy || !w || !workspace || workspace_bytes < s.workspace_bytes)
    return cudaErrorInvalidValue;
  float* ws = static_cast<float*>(workspace);
  const bool tf32 = detail::winograd_tf32();
  const float* u = nullptr;
  const cudaError_t e = detail::winograd_filter<true>(u, ws, w, s, store, stream, tf32);
  if (e != cudaSuccess) return e;
  return detail::winograd_run(dx, dy, nullptr, s, u, ws, stream, tf32, relu_mask, dx_mask);
}

}  // namespace tinycnn::kernels::cuda
