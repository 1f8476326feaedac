// Winograd's minimal filtering F(4x4, 3x3) (Lavin & Gray, "Fast Algorithms for Convolutional
// Neural Networks", 2016): a 4x4 block of a 3x3 correlation's output from a 6x6 block of its input
// with 36 multiplications instead of 144. With the interpolation points 0, 1, -1, 2, -2 and
// infinity,
//   Y = A^T [ (G g G^T) .* (B^T d B) ] A
// for a 6x6 input block d and a 3x3 filter g; element e = 6*i + j of the transformed blocks pairs
// row i with column j. In a convolution over C channels the products are summed over the channels
// in the transformed domain, which turns the convolution into 36 independent matrix products
// (kernels/cuda/winograd.cuh). These are the three transforms, for host and device; each 2-D
// transform applies the 1-D one to the columns, then to the rows.
#pragma once

#include "tinycnn/core/device.hpp"

namespace tinycnn::kernels::winograd {

inline constexpr int kInput = 6;    // input block side (alpha = m + r - 1)
inline constexpr int kOutput = 4;   // output block side (m)
inline constexpr int kFilter = 3;   // filter side (r)
inline constexpr int kElems = 36;   // transformed elements per block

// v = B^T d, 6 -> 6.
template <class T>
TINYCNN_HOST_DEVICE inline void input_1d(const T* d, T* v) {
  const T a = d[3] - d[1], b = d[4] - d[2];
  v[0] = T(4) * (d[0] - d[2]) + (d[4] - d[2]);
  v[1] = (d[3] + d[4]) - T(4) * (d[1] + d[2]);
  v[2] = (d[4] - d[3]) + T(4) * (d[1] - d[2]);
  v[3] = b + T(2) * a;
  v[4] = b - T(2) * a;
  v[5] = T(4) * (d[1] - d[3]) + (d[5] - d[3]);
}

// u = G g, 3 -> 6.
template <class T>
TINYCNN_HOST_DEVICE inline void filter_1d(const T* g, T* u) {
  const T even = g[0] + g[2];
  u[0] = g[0] / T(4);
  u[1] = -(even + g[1]) / T(6);
  u[2] = -(even - g[1]) / T(6);
  u[3] = (g[0] / T(4) + g[1] / T(2) + g[2]) / T(6);
  u[4] = (g[0] / T(4) - g[1] / T(2) + g[2]) / T(6);
  u[5] = g[2];
}

// y = A^T m, 6 -> 4.
template <class T>
TINYCNN_HOST_DEVICE inline void output_1d(const T* m, T* y) {
  const T s12 = m[1] + m[2], d12 = m[1] - m[2], s34 = m[3] + m[4], d34 = m[3] - m[4];
  y[0] = m[0] + s12 + s34;
  y[1] = d12 + T(2) * d34;
  y[2] = s12 + T(4) * s34;
  y[3] = d12 + T(8) * d34 + m[5];
}

// V = B^T d B: d row-major 6x6, v[6*i + j].
template <class T>
TINYCNN_HOST_DEVICE inline void input_2d(const T (&d)[36], T (&v)[36]) {
  T t[36];
#pragma unroll
  for (int j = 0; j < 6; ++j) {
    T col[6], out[6];
#pragma unroll
    for (int i = 0; i < 6; ++i) col[i] = d[6 * i + j];
    input_1d(col, out);
#pragma unroll
    for (int i = 0; i < 6; ++i) t[6 * i + j] = out[i];
  }
#pragma unroll
  for (int i = 0; i < 6; ++i) input_1d(t + 6 * i, v + 6 * i);
}

// U = G g G^T: g row-major 3x3, u[6*i + j].
template <class T>
TINYCNN_HOST_DEVICE inline void filter_2d(const T (&g)[9], T (&u)[36]) {
  T t[18];  // G g: 6 x 3
#pragma unroll
  for (int j = 0; j < 3; ++j) {
    const T col[3] = {g[j], g[3 + j], g[6 + j]};
    T out[6];
    filter_1d(col, out);
#pragma unroll
    for (int i = 0; i < 6; ++i) t[3 * i + j] = out[i];
  }
#pragma unroll
  for (int i = 0; i < 6; ++i) filter_1d(t + 3 * i, u + 6 * i);
}

// Y = A^T m A: m[6*i + j], y row-major 4x4.
template <class T>
TINYCNN_HOST_DEVICE inline void output_2d(const T (&m)[36], T (&y)[16]) {
  T t[24];  // A^T m: 4 x 6
#pragma unroll
  for (int j = 0; j < 6; ++j) {
    T col[6], out[4];
#pragma unroll
    for (int i = 0; i < 6; ++i) col[i] = m[6 * i + j];
    output_1d(col, out);
#pragma unroll
    for (int i = 0; i < 4; ++i) t[6 * i + j] = out[i];
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) output_1d(t + 6 * i, y + 4 * i);
}

}  // namespace tinycnn::kernels::winograd
