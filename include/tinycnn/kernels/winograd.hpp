// Winograd's minimal filtering on 6x6 input blocks (Lavin & Gray, "Fast Algorithms for
// Convolutional Neural Networks", 2016): F(4x4, 3x3), a 4x4 block of a 3x3 correlation's output
// with 36 multiplications instead of 144, and F(2x2, 5x5), a 2x2 block of a 5x5 correlation's with
// 36 instead of 100. With the interpolation points 0, 1, -1, 2, -2 and infinity,
//   Y = A^T [ (G g G^T) .* (B^T d B) ] A
// for a 6x6 input block d and an RxR filter g; both share the input transform B^T (it depends on
// the points only). Element e = 6*i + j of the transformed blocks pairs row i with column j. In a
// convolution over C channels the products are summed over the channels in the transformed
// domain, which turns the convolution into 36 independent matrix products
// (kernels/cuda/winograd.cuh). These are the transforms, for host and device; each 2-D transform
// applies the 1-D one to the columns, then to the rows.
#pragma once

#include "tinycnn/core/device.hpp"
#include "tinycnn/kernels/env.hpp"

namespace tinycnn::kernels::winograd {

// TINYCNN_CONV_WINOGRAD (CPU and CUDA alike): 0 = never, 1 = for every layer it can run, 2 (unset
// or anything else) = where it measured faster. Read once.
inline int mode() {
  static const int value = env_switch("TINYCNN_CONV_WINOGRAD");
  return value;
}

inline constexpr int kInput = 6;   // input block side (alpha = m + r - 1)
inline constexpr int kElems = 36;  // transformed elements per block

// Output block side m of F(m x m, R x R) on 6x6 blocks: 4 for 3x3 filters, 2 for 5x5.
template <int R>
inline constexpr int kOutput = kInput - R + 1;

// v = B^T d, 6 -> 6.
template <class T>
TINYCNN_HOST_DEVICE TINYCNN_FORCE_INLINE void input_1d(const T* d, T* v) {
  const T a = d[3] - d[1], b = d[4] - d[2];
  v[0] = T(4) * (d[0] - d[2]) + (d[4] - d[2]);
  v[1] = (d[3] + d[4]) - T(4) * (d[1] + d[2]);
  v[2] = (d[4] - d[3]) + T(4) * (d[1] - d[2]);
  v[3] = b + T(2) * a;
  v[4] = b - T(2) * a;
  v[5] = T(4) * (d[1] - d[3]) + (d[5] - d[3]);
}

// u = G g, R -> 6: rows p^k / N_p for the finite points p (N_p = product over the other finite
// points q of p - q: 4, -6, -6, 24, 24) and e_R for infinity.
template <int R, class T>
TINYCNN_HOST_DEVICE TINYCNN_FORCE_INLINE void filter_1d(const T* g, T* u) {
  static_assert(R == 3 || R == 5, "Winograd transforms exist for 3x3 and 5x5 filters");
  if constexpr (R == 3) {
    const T even = g[0] + g[2];
    u[0] = g[0] / T(4);
    u[1] = -(even + g[1]) / T(6);
    u[2] = -(even - g[1]) / T(6);
    u[3] = (g[0] / T(4) + g[1] / T(2) + g[2]) / T(6);
    u[4] = (g[0] / T(4) - g[1] / T(2) + g[2]) / T(6);
    u[5] = g[2];
  } else {
    const T even = g[0] + g[2] + g[4], odd = g[1] + g[3];
    const T even2 = g[0] + T(4) * g[2] + T(16) * g[4], odd2 = T(2) * g[1] + T(8) * g[3];
    u[0] = g[0] / T(4);
    u[1] = -(even + odd) / T(6);
    u[2] = -(even - odd) / T(6);
    u[3] = (even2 + odd2) / T(24);
    u[4] = (even2 - odd2) / T(24);
    u[5] = g[4];
  }
}

// y = A^T m, 6 -> kOutput<R>: rows p^i for the finite points, and 1 for infinity in the last row.
template <int R, class T>
TINYCNN_HOST_DEVICE TINYCNN_FORCE_INLINE void output_1d(const T* m, T* y) {
  const T s12 = m[1] + m[2], d12 = m[1] - m[2], s34 = m[3] + m[4], d34 = m[3] - m[4];
  if constexpr (R == 3) {
    y[0] = m[0] + s12 + s34;
    y[1] = d12 + T(2) * d34;
    y[2] = s12 + T(4) * s34;
    y[3] = d12 + T(8) * d34 + m[5];
  } else {
    y[0] = m[0] + s12 + s34;
    y[1] = d12 + T(2) * d34 + m[5];
  }
}

// V = B^T d B: d row-major 6x6, v[6*i + j].
template <class T>
TINYCNN_HOST_DEVICE TINYCNN_FORCE_INLINE void input_2d(const T (&d)[36], T (&v)[36]) {
  T t[36];
  TINYCNN_UNROLL
  for (int j = 0; j < 6; ++j) {
    T col[6], out[6];
    TINYCNN_UNROLL
    for (int i = 0; i < 6; ++i) col[i] = d[6 * i + j];
    input_1d(col, out);
    TINYCNN_UNROLL
    for (int i = 0; i < 6; ++i) t[6 * i + j] = out[i];
  }
  TINYCNN_UNROLL
  for (int i = 0; i < 6; ++i) input_1d(t + 6 * i, v + 6 * i);
}

// U = G g G^T: g row-major RxR, u[6*i + j].
template <int R, class T>
TINYCNN_HOST_DEVICE TINYCNN_FORCE_INLINE void filter_2d(const T (&g)[R * R], T (&u)[36]) {
  T t[6 * R];  // G g: 6 x R
  TINYCNN_UNROLL
  for (int j = 0; j < R; ++j) {
    T col[R], out[6];
    TINYCNN_UNROLL
    for (int i = 0; i < R; ++i) col[i] = g[R * i + j];
    filter_1d<R>(col, out);
    TINYCNN_UNROLL
    for (int i = 0; i < 6; ++i) t[R * i + j] = out[i];
  }
  TINYCNN_UNROLL
  for (int i = 0; i < 6; ++i) filter_1d<R>(t + R * i, u + 6 * i);
}

// Y = A^T m A: m[6*i + j], y row-major m x m (m = kOutput<R>).
template <int R, class T>
TINYCNN_HOST_DEVICE TINYCNN_FORCE_INLINE void output_2d(const T (&m)[36],
                                                        T (&y)[kOutput<R> * kOutput<R>]) {
  constexpr int M = kOutput<R>;
  T t[M * 6];  // A^T m: M x 6
  TINYCNN_UNROLL
  for (int j = 0; j < 6; ++j) {
    T col[6], out[M];
    TINYCNN_UNROLL
    for (int i = 0; i < 6; ++i) col[i] = m[6 * i + j];
    output_1d<R>(col, out);
    TINYCNN_UNROLL
    for (int i = 0; i < M; ++i) t[6 * i + j] = out[i];
  }
  TINYCNN_UNROLL
  for (int i = 0; i < M; ++i) output_1d<R>(t + 6 * i, y + M * i);
}

}  // namespace tinycnn::kernels::winograd
