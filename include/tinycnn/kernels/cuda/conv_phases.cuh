// Strided convolutions as stride-1 convolutions over stride phases (space-to-depth), so that a
// layer like NIN's 11x11 stride-4 conv1 runs on the fast stride-1 paths (Winograd, TF32 tensor
// cores) instead of a gather that skips taps.
//
// With stride (sh, sw), filter (R, S) and phases (a, b) in [0, sh) x [0, sw), tap r = a + sh*t,
// s = b + sw*u (t < Th = ceil(R/sh), u < Tw = ceil(S/sw); taps past R or S are zero):
//   forward        y = conv1(xs, wf): xs(N, F*C, P+Th-1, Q+Tw-1) holds x's padded rows and columns
//                  by phase, xs[n][(a*sw+b)*C + c][i][j] = x[n][c][i*sh + a - pad_h][j*sw + b -
//                  pad_w]; wf(K, F*C, Th, Tw) = w[k][c][a + sh*t][b + sw*u]; unpadded
//   backward data  z = conv1(dy, wb), padded by (Th-1, Tw-1): z(N, F*C, P+Th-1, Q+Tw-1),
//                  wb[(a*sw+b)*C + c][k][t][u] = w[k][c][a + sh*(Th-1-t)][b + sw*(Tw-1-u)]; then
//                  dx[n][c][h][w] = z[n][(a*sw+b)*C + c][J][L] with h + pad_h = J*sh + a,
//                  w + pad_w = L*sw + b (0 past z: pixels no window covers)
// where F = sh*sw and conv1 is a stride-1 convolution. The multiply-adds grow by
// (sh*Th*sw*Tw) / (R*S) (1.19x for 11x11 stride 4) and the buffers xs and z cost about one input
// tensor each, but the stride-1 layer runs on Winograd (4x fewer multiplies for 3x3 and 5x5) and
// backward data no longer visits the (sh*sw - 1) of every sh*sw taps that land between outputs.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "tinycnn/kernels/cuda/launch.cuh"
#include "tinycnn/kernels/problem.hpp"

namespace tinycnn::kernels::cuda::detail {

// TINYCNN_CONV_PHASES: "0" never, "1" for every strided layer it can run; unset or anything else:
// where the stride-1 layer runs on Winograd that pays (conv.cuh). Read once.
inline int phase_mode() {
  static const int value = [] {
    const char* v = std::getenv("TINYCNN_CONV_PHASES");
    if (v && std::strcmp(v, "0") == 0) return 0;
    if (v && std::strcmp(v, "1") == 0) return 1;
    return 2;
  }();
  return value;
}

// The geometry of the phase decomposition of d (forward or backward data): the stride-1 layer and
// the sizes the rearranging kernels index in 32 bits.
struct PhaseShape {
  Conv2dDesc inner;  // the stride-1 convolution
  int sh = 1, sw = 1, th = 1, tw = 1;
  int c = 0, k = 0, h = 0, w = 0, pad_h = 0, pad_w = 0;
  int hs = 0, ws = 0;  // rows and columns of xs (forward) or z (backward data)
  std::int64_t n = 0;
  std::size_t filter_floats = 0;  // wf or wb, rounded up to 64 floats (256-byte aligned)
  std::size_t buffer_floats = 0;  // xs or z, rounded up likewise
};

// False unless d is strided (sh or sw > 1), undilated, non-empty and small enough for the
// kernels' 32-bit plane indices.
inline bool make_phase_shape(const Conv2dDesc& d, bool backward, PhaseShape& s) {
  if (d.stride_h < 1 || d.stride_w < 1 || (d.stride_h == 1 && d.stride_w == 1)) return false;
  if (d.dilation_h != 1 || d.dilation_w != 1) return false;
  if (d.n < 1 || d.c < 1 || d.k < 1 || d.r < 1 || d.s < 1 || d.pad_h < 0 || d.pad_w < 0)
    return false;
  // The filter fits the padded input (Conv2dDesc::p() assumes it, as the ops check).
  if (d.h + 2 * d.pad_h < d.r || d.w + 2 * d.pad_w < d.s) return false;
  const std::int64_t P = d.p(), Q = d.q();
  if (P < 1 || Q < 1) return false;
  constexpr std::int64_t kMax = 0x3fffffff;
  const std::int64_t sh = d.stride_h, sw = d.stride_w;
  const std::int64_t th = (d.r + sh - 1) / sh, tw = (d.s + sw - 1) / sw;
  const std::int64_t hs = P + th - 1, ws = Q + tw - 1, phases = sh * sw;
  if (sh > kMax || sw > kMax || d.h + 2 * d.pad_h > kMax || d.w + 2 * d.pad_w > kMax ||
      hs * sh > kMax || ws * sw > kMax || d.c > kMax || d.k > kMax)
    return false;
  // 32-bit indices within a plane: xs's rows by phase (forward), dx and z (backward data).
  if (hs * sh * ws * sw > 0x7fffffff || d.h * d.w > 0x7fffffff || phases * d.c > kMax) return false;
  s.sh = int(sh), s.sw = int(sw), s.th = int(th), s.tw = int(tw);
  s.c = int(d.c), s.k = int(d.k), s.h = int(d.h), s.w = int(d.w);
  s.pad_h = int(d.pad_h), s.pad_w = int(d.pad_w), s.hs = int(hs), s.ws = int(ws), s.n = d.n;
  Conv2dDesc in;
  in.n = d.n, in.r = th, in.s = tw;
  if (backward) {
    in.c = d.k, in.h = P, in.w = Q, in.k = phases * d.c, in.pad_h = th - 1, in.pad_w = tw - 1;
  } else {
    in.c = phases * d.c, in.h = hs, in.w = ws, in.k = d.k;
  }
  s.inner = in;
  auto up64 = [](std::int64_t v) { return std::size_t((v + 63) / 64 * 64); };
  s.filter_floats = up64(d.k * phases * d.c * th * tw);
  s.buffer_floats = up64(d.n * phases * d.c * hs * ws);
  return true;
}

// wf (forward, Turned = false) or wb (backward data, Turned = true) from w; one thread per element.
template <bool Turned, class T>
__global__ void conv_phase_filter_kernel(T* __restrict__ out, const T* __restrict__ w,
                                         std::int64_t count, int c_total, int k_total, int r_total,
                                         int s_total, int sh, int sw, int th, int tw) {
  const int cf = sh * sw * c_total;  // channels of the stride-1 layer's phase side
  for (std::int64_t i = grid_thread_index(); i < count; i += grid_thread_count()) {
    std::int64_t rest = i;
    const int u = int(rest % tw);
    rest /= tw;
    const int t = int(rest % th);
    rest /= th;
    int k, f;  // output channel of the layer, phase channel (a*sw + b)*C + c
    if (Turned) {
      k = int(rest % k_total), f = int(rest / k_total);
    } else {
      f = int(rest % cf), k = int(rest / cf);
    }
    const int c = f % c_total, ab = f / c_total, a = ab / sw, b = ab % sw;
    const int r = a + sh * (Turned ? th - 1 - t : t), s = b + sw * (Turned ? tw - 1 - u : u);
    out[i] = r < r_total && s < s_total
                 ? w[((std::int64_t(k) * c_total + c) * r_total + r) * s_total + s]
                 : T(0);
  }
}

// What the two rearranging kernels index with: planes (n, c) of x or dx, x's (or dx's) sizes and
// padding, the strides and the phase planes' rows and columns (hs, ws). div_row divides a plane's
// element index into its row: by ws*sw (xs from x) or by w (dx from z).
struct PhasePlanes {
  std::int64_t planes = 0;
  int c = 0, h = 0, w = 0, pad_h = 0, pad_w = 0, sh = 1, sw = 1, hs = 0, ws = 0;
  FastDivmod div_row, div_sh, div_sw;
};

// Plane (n, a, b, c) of the phase channels, whose pixels are rows and columns of phase (a, b).
__device__ __forceinline__ std::int64_t phase_plane_index(const PhasePlanes& s, std::int64_t nc,
                                                          int a, int b) {
  const std::int64_t n = nc / s.c, c = nc - n * s.c;
  return (n * (s.sh * s.sw) + a * s.sw + b) * s.c + c;
}

// xs from x: a thread per element (hh, ww) of the phase-ordered plane of hs*sh rows and ws*sw
// columns (x's row hh - pad_h, column ww - pad_w, zero outside), so a warp reads consecutive
// columns of x and writes sw runs of consecutive xs columns.
template <class T>
__global__ void conv_space_to_phases_kernel(T* __restrict__ xs, const T* __restrict__ x,
                                            const PhasePlanes s) {
  const unsigned per_plane = unsigned(s.hs * s.sh) * unsigned(s.ws * s.sw);
  const std::int64_t phase_plane = std::int64_t(s.hs) * s.ws;
  for_each_in_planes(s.planes, per_plane, [&](std::int64_t nc, unsigned e) {
    const int hh = int(s.div_row.div(e)), ww = int(e) - hh * (s.ws * s.sw);
    const int i = int(s.div_sh.div(unsigned(hh))), a = hh - i * s.sh;
    const int j = int(s.div_sw.div(unsigned(ww))), b = ww - j * s.sw;
    const int h = hh - s.pad_h, w = ww - s.pad_w;
    const T v = unsigned(h) < unsigned(s.h) && unsigned(w) < unsigned(s.w)
                    ? x[nc * (std::int64_t(s.h) * s.w) + h * s.w + w]
                    : T(0);
    xs[phase_plane_index(s, nc, a, b) * phase_plane + i * s.ws + j] = v;
  });
}

// dx from z: a thread per pixel of dx.
template <class T>
__global__ void conv_phases_to_space_kernel(T* __restrict__ dx, const T* __restrict__ z,
                                            const PhasePlanes s) {
  const unsigned per_plane = unsigned(s.h) * unsigned(s.w);
  const std::int64_t phase_plane = std::int64_t(s.hs) * s.ws;
  for_each_in_planes(s.planes, per_plane, [&](std::int64_t nc, unsigned e) {
    const int h = int(s.div_row.div(e)), w = int(e) - h * s.w;
    const int hh = h + s.pad_h, ww = w + s.pad_w;
    const int J = int(s.div_sh.div(unsigned(hh))), a = hh - J * s.sh;
    const int L = int(s.div_sw.div(unsigned(ww))), b = ww - L * s.sw;
    dx[nc * per_plane + e] = J < s.hs && L < s.ws
                                 ? z[phase_plane_index(s, nc, a, b) * phase_plane + J * s.ws + L]
                                 : T(0);
  });
}

inline PhasePlanes make_phase_planes(const PhaseShape& s, int row_divisor) {
  PhasePlanes k;
  k.planes = s.n * s.c, k.c = s.c, k.h = s.h, k.w = s.w, k.pad_h = s.pad_h, k.pad_w = s.pad_w;
  k.sh = s.sh, k.sw = s.sw, k.hs = s.hs, k.ws = s.ws;
  k.div_row = FastDivmod(unsigned(row_divisor));
  k.div_sh = FastDivmod(unsigned(s.sh)), k.div_sw = FastDivmod(unsigned(s.sw));
  return k;
}

template <bool Turned>
inline cudaError_t launch_conv_phase_filter(float* out, const float* w, const PhaseShape& s,
                                            std::int64_t r, std::int64_t sk, cudaStream_t stream) {
  const std::int64_t count = std::int64_t(s.k) * s.sh * s.sw * s.c * s.th * s.tw;
  conv_phase_filter_kernel<Turned, float>
      <<<grid_stride_blocks(count), kThreadsPerBlock, 0, stream>>>(out, w, count, s.c, s.k, int(r),
                                                                   int(sk), s.sh, s.sw, s.th, s.tw);
  return cudaGetLastError();
}

inline cudaError_t launch_conv_space_to_phases(float* xs, const float* x, const PhaseShape& s,
                                               cudaStream_t stream) {
  const PhasePlanes k = make_phase_planes(s, s.ws * s.sw);
  const dim3 grid = plane_grid(k.planes, std::int64_t(s.hs) * s.sh * s.ws * s.sw);
  conv_space_to_phases_kernel<float><<<grid, kThreadsPerBlock, 0, stream>>>(xs, x, k);
  return cudaGetLastError();
}

inline cudaError_t launch_conv_phases_to_space(float* dx, const float* z, const PhaseShape& s,
                                               cudaStream_t stream) {
  const PhasePlanes k = make_phase_planes(s, s.w);
  const dim3 grid = plane_grid(k.planes, std::int64_t(s.h) * s.w);
  conv_phases_to_space_kernel<float><<<grid, kThreadsPerBlock, 0, stream>>>(dx, z, k);
  return cudaGetLastError();
}

}  // namespace tinycnn::kernels::cuda::detail
