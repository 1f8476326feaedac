// Strided convolutions as stride-1 convolutions over stride phases (space-to-depth), so that a
// layer like NIN's 11x11 stride-4 conv1 runs on the fast stride-1 paths (Winograd, TF32 tensor
// cores) instead of a gather that skips taps. The geometry and the switch, shared by the CUDA
// (cuda/conv_phases.cuh) and CPU (cpu/conv.hpp) paths.
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

#include <cstddef>
#include <cstdint>

#include "tinycnn/kernels/env.hpp"
#include "tinycnn/kernels/problem.hpp"

namespace tinycnn::kernels::phases {

// TINYCNN_CONV_PHASES: "0" never, "1" for every strided layer it can run; unset or anything else:
// where the stride-1 layer runs on Winograd that pays (cuda/conv.cuh, cpu/conv.hpp). Read once.
inline int phase_mode() {
  static const int value = env_switch("TINYCNN_CONV_PHASES");
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

}  // namespace tinycnn::kernels::phases
