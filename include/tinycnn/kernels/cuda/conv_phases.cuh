// CUDA kernels of the phase form of strided convolutions (kernels/phases.hpp: the geometry, the
// switch and the derivation): rearranging the filter, x into phases (forward) and the phase
// channels back into dx (backward data).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "tinycnn/kernels/cuda/launch.cuh"
#include "tinycnn/kernels/phases.hpp"
#include "tinycnn/kernels/problem.hpp"

namespace tinycnn::kernels::cuda::detail {

using phases::make_phase_shape;
using phases::phase_mode;
using phases::PhaseShape;

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
