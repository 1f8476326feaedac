// CPU 3x3 and 5x5 stride-1 convolution by Winograd's F(4x4, 3x3) and F(2x2, 5x5), both on 6x6
// input blocks (transforms in kernels/winograd.hpp, the same as the CUDA path's): per image, the
// tiles go in chunks small enough for V and M to stay in the last-level cache; per chunk the input
// blocks are transformed (threads over channels), the 36 products M[e] = U[e] V[e] run on the
// packed GEMM (threads over e, one GEMM per thread), and the output blocks are transformed back
// (threads over output channels). 36 multiply-adds per block and channel pair instead of 144
// (3x3) or 100 (5x5). Backward data of a stride-1 layer is the same computation on dy with the
// turned filter (conv2d_backward_data_desc in conv.hpp).
#pragma once

#include <algorithm>
#include <cstdint>

#include "tinycnn/kernels/cpu/gemm.hpp"
#include "tinycnn/kernels/problem.hpp"
#include "tinycnn/kernels/winograd.hpp"

namespace tinycnn::kernels::cpu::detail {

// A 3x3 or 5x5 stride-1 undilated layer with padding at most R - 1 (its backward data pads by
// R - 1 - pad).
inline bool cpu_winograd_layer(const Conv2dDesc& d) {
  return (d.r == 3 || d.r == 5) && d.s == d.r && d.stride_h == 1 && d.stride_w == 1 &&
         d.dilation_h == 1 && d.dilation_w == 1 && d.pad_h <= d.r - 1 && d.pad_w <= d.r - 1 &&
         d.p() >= 1 && d.q() >= 1 && d.c >= 1 && d.k >= 1;
}

// Where it beats the packed direct GEMM on this machine (docs/notes/cpu-kernels.md): enough
// channels for the 36 products to be real GEMMs, and enough output blocks per image: for 3x3
// filters 64 4x4 blocks to repay transforming the filter on every call, 16 where the transformed
// filter is kept between calls (`kept`; ops::ConvFilterCache). The products' N is the blocks
// rounded up to the GEMM's 16-column panels, so 16 blocks do a quarter of the direct form's
// multiply-adds and 4 blocks as many. Measured in whole style iterations (2 threads;
// docs/performance.md, thirteenth session): 16 against 64 blocks with kept filters, VGG-19 +26 %
// at 64 px and +34-48 % at 128 px; 4 blocks no better than 16. 5x5 filters (F(2x2, 5x5), 2.8x
// fewer multiply-adds) only where the filter is kept, from 16 2x2 blocks: made on every call, the
// transform of NIN conv2's filter cost about what backward data saved (224 px: 4.7 ms direct,
// 4.9-5.4 ms by Winograd; kept, 3.5-3.7 ms).
inline bool cpu_winograd_pays(const Conv2dDesc& d, bool kept = false) {
  const std::int64_t m = d.r == 5 ? 2 : 4;  // output block side
  const std::int64_t tiles = ((d.p() + m - 1) / m) * ((d.q() + m - 1) / m);
  if (d.c < 32 || d.k < 32) return false;
  if (d.r == 5) return kept && tiles >= 16;
  return tiles >= (kept ? 16 : 64);
}

// L values of one transform element, one per 4x4 block (or filter), for the transforms of
// kernels/winograd.hpp to run on L blocks at once: the loops over lanes have constant trip counts
// and vectorise. (Host and device only because those transforms are; it is used on the host.)
template <class T, int L>
struct Lanes {
  T v[L];
  Lanes() = default;
  TINYCNN_HOST_DEVICE explicit Lanes(T s) {
    for (int l = 0; l < L; ++l) v[l] = s;
  }
  TINYCNN_HOST_DEVICE friend Lanes operator+(const Lanes& a, const Lanes& b) {
    Lanes r;
    for (int l = 0; l < L; ++l) r.v[l] = a.v[l] + b.v[l];
    return r;
  }
  TINYCNN_HOST_DEVICE friend Lanes operator-(const Lanes& a, const Lanes& b) {
    Lanes r;
    for (int l = 0; l < L; ++l) r.v[l] = a.v[l] - b.v[l];
    return r;
  }
  TINYCNN_HOST_DEVICE friend Lanes operator*(const Lanes& a, const Lanes& b) {
    Lanes r;
    for (int l = 0; l < L; ++l) r.v[l] = a.v[l] * b.v[l];
    return r;
  }
  TINYCNN_HOST_DEVICE friend Lanes operator/(const Lanes& a, const Lanes& b) {
    Lanes r;
    for (int l = 0; l < L; ++l) r.v[l] = a.v[l] / b.v[l];
    return r;
  }
  TINYCNN_HOST_DEVICE friend Lanes operator-(const Lanes& a) {
    Lanes r;
    for (int l = 0; l < L; ++l) r.v[l] = -a.v[l];
    return r;
  }
};

// Blocks (filters) per transform call: one 256-bit register of floats, two of doubles.
inline constexpr int kWinogradLanes = 8;

// Values in a transformed filter for cout x cin filters: the 36 matrices U[e] (cout x cin), each
// packed whole as the GEMM's A operand (gemm.hpp, pack_a_whole), so the 36 products of every
// chunk of tiles read them as they are instead of packing U[e] again.
template <class T>
constexpr std::int64_t winograd_filter_size(std::int64_t cout, std::int64_t cin) {
  return winograd::kElems * packed_a_size<T>(cout, cin);
}

// U[e](o, i) = (G g G^T)[e] for the RxR filter g from input channel i to output channel o of the
// convolution being run: w[o][i] (w is cout x cin x R x R), or, turned (backward data, w is
// cin x cout x R x R), w[i][o] rotated by 180 degrees. Filters idx .. idx + L - 1 (idx = o * cin
// + i) at once.
template <int R, int L, class T>
void winograd_filter_group(T* u, const T* w, std::int64_t idx, std::int64_t cout, std::int64_t cin,
                           bool turned) {
  constexpr int RR = R * R;
  const std::int64_t matrix = packed_a_size<T>(cout, cin);
  Lanes<T, L> g[RR], v[winograd::kElems];
  std::int64_t at[L];
  for (int l = 0; l < L; ++l) {
    const std::int64_t o = (idx + l) / cin, i = (idx + l) % cin;
    at[l] = packed_a_index<T>(cout, cin, o, i);
    const T* src = w + (turned ? i * cout + o : idx + l) * RR;
    for (int t = 0; t < RR; ++t) g[t].v[l] = src[turned ? RR - 1 - t : t];
  }
  winograd::filter_2d<R>(g, v);
  for (int e = 0; e < winograd::kElems; ++e)
    for (int l = 0; l < L; ++l) u[e * matrix + at[l]] = v[e].v[l];
}

// u (winograd_filter_size(cout, cin) values) from w, including the zero rows that pad each U[e]
// to whole panels.
template <int R, class T>
void winograd_filter_transform(T* u, const T* w, std::int64_t cout, std::int64_t cin, bool turned,
                               int threads) {
  constexpr int L = kWinogradLanes;
  const std::int64_t count = cout * cin;
  // Filters idx .. idx + L - 1 at once (the divisions of G vectorise); a ragged end one at a time.
  const std::int64_t whole = count / L * L;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads) if (count > 256)
#endif
  for (std::int64_t idx = 0; idx < whole; idx += L)
    winograd_filter_group<R, L>(u, w, idx, cout, cin, turned);
  for (std::int64_t idx = whole; idx < count; ++idx)
    winograd_filter_group<R, 1>(u, w, idx, cout, cin, turned);
  const std::int64_t matrix = packed_a_size<T>(cout, cin);
  for (int e = 0; e < winograd::kElems; ++e)
    for (std::int64_t o = cout; o < packed_a_rows<T>(cout); ++o)
      for (std::int64_t i = 0; i < cin; ++i)
        u[e * matrix + packed_a_index<T>(cout, cin, o, i)] = T(0);
}

// Bytes of V and M per chunk of tiles: half the last-level cache. With 4 MiB the GEMMs' N was so
// small for 256+ channels that packing U[e] again per chunk cost as much as the products (VGG-19
// conv3_2 at 224 px: 17-18 ms with 4 MiB, 12 ms with 16 MiB, 12-13 ms with 64 MiB).
inline constexpr std::int64_t kWinogradChunkBytes = std::int64_t(16) << 20;

// y (cout, P, Q) = conv(x (cin, H, W)) + bias for one image, u from winograd_filter_transform<R>:
// F(4x4, 3x3) for R = 3, F(2x2, 5x5) for R = 5, both on 6x6 input blocks.
template <int R, class T>
void winograd_image(T* y, const T* x, const T* u, const T* bias, std::int64_t cin,
                    std::int64_t cout, const Conv2dDesc& d, int threads,
                    std::int64_t chunk_bytes = kWinogradChunkBytes) {
  constexpr int E = winograd::kElems, L = kWinogradLanes, M = winograd::kOutput<R>;
  using V = Lanes<T, L>;
  const std::int64_t H = d.h, W = d.w, P = d.p(), Q = d.q();
  const std::int64_t tiles_w = (Q + M - 1) / M, tiles = ((P + M - 1) / M) * tiles_w;
  // Tiles per chunk: V and M together about chunk_bytes, a multiple of the GEMM's panel width and
  // so of L. Lanes past the chunk's last tile are transformed too (from zeros or the next chunk's
  // pixels into V, from stale scratch out of M) and dropped: the GEMMs' N is `count`, and the
  // output transform stores only lanes below it.
  constexpr std::int64_t nr = GemmBlocking<T>::kNR;
  static_assert(nr % L == 0, "chunks are whole lane groups");
  std::int64_t chunk = chunk_bytes / (E * (cin + cout) * std::int64_t(sizeof(T)));
  chunk = std::max<std::int64_t>(nr, chunk / nr * nr);
  chunk = std::min(chunk, (tiles + nr - 1) / nr * nr);
  T* v = thread_scratch<T, 4>(std::size_t(E * cin * chunk));
  T* m = thread_scratch<T, 5>(std::size_t(E * cout * chunk));
  for (std::int64_t t0 = 0; t0 < tiles; t0 += chunk) {
    const std::int64_t count = std::min(chunk, tiles - t0);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads)
#endif
    for (std::int64_t c = 0; c < cin; ++c) {
      const T* img = x + c * H * W;
      for (std::int64_t j = 0; j < count; j += L) {
        V blk[E], out[E];
        const std::int64_t t = t0 + j, h0 = t / tiles_w * M - d.pad_h,
                           w0 = t % tiles_w * M - d.pad_w;
        if (t % tiles_w + L <= tiles_w && h0 >= 0 && h0 + 6 <= H && w0 >= 0 &&
            w0 + M * L + 6 - M <= W) {
          // L blocks side by side inside the image: each row is one strip of ML + 6 - M pixels.
          for (int r = 0; r < 6; ++r) {
            const T* row = img + (h0 + r) * W + w0;
            for (int q = 0; q < 6; ++q)
              for (int l = 0; l < L; ++l) blk[6 * r + q].v[l] = row[M * l + q];
          }
        } else {
          for (int l = 0; l < L; ++l) {
            const std::int64_t tl = t + l, hl = tl / tiles_w * M - d.pad_h,
                               wl = tl % tiles_w * M - d.pad_w;
            for (int r = 0; r < 6; ++r)
              for (int q = 0; q < 6; ++q) {
                const std::int64_t h = hl + r, w = wl + q;
                blk[6 * r + q].v[l] =
                    tl < tiles && h >= 0 && h < H && w >= 0 && w < W ? img[h * W + w] : T(0);
              }
          }
        }
        winograd::input_2d(blk, out);
        for (int e = 0; e < E; ++e) {
          T* dst = v + (e * cin + c) * chunk + j;
          for (int l = 0; l < L; ++l) dst[l] = out[e].v[l];
        }
      }
    }
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads)
#endif
    for (int e = 0; e < E; ++e) {
      const T* b = v + e * cin * chunk;
      gemm_blocked_serial(GemmView<T>{m + e * cout * chunk, nullptr, b, cout, count, cin, false,
                                      false, 0, chunk, chunk},
                          T(1), T(0), MatrixPanels<T>{b, chunk, false},
                          PackedA<T>{u + e * packed_a_size<T>(cout, cin), cout});
    }
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads)
#endif
    for (std::int64_t o = 0; o < cout; ++o) {
      T* plane = y + o * P * Q;
      const T b = bias ? bias[o] : T(0);
      for (std::int64_t j = 0; j < count; j += L) {
        V mm[E], out[M * M];
        for (int e = 0; e < E; ++e) {
          const T* src = m + (e * cout + o) * chunk + j;
          for (int l = 0; l < L; ++l) mm[e].v[l] = src[l];
        }
        winograd::output_2d<R>(mm, out);
        const std::int64_t t = t0 + j, h0 = t / tiles_w * M, w0 = t % tiles_w * M;
        if (t % tiles_w + L <= tiles_w && h0 + M <= P && w0 + M * L <= Q) {
          for (int r = 0; r < M; ++r) {
            T* row = plane + (h0 + r) * Q + w0;
            for (int l = 0; l < L; ++l)
              for (int q = 0; q < M; ++q) row[M * l + q] = out[M * r + q].v[l] + b;
          }
        } else {
          for (int l = 0; l < L && j + l < count; ++l) {
            const std::int64_t tl = t + l, hl = tl / tiles_w * M, wl = tl % tiles_w * M;
            for (int r = 0; r < M && hl + r < P; ++r)
              for (int q = 0; q < M && wl + q < Q; ++q)
                plane[(hl + r) * Q + wl + q] = out[M * r + q].v[l] + b;
          }
        }
      }
    }
  }
}

}  // namespace tinycnn::kernels::cpu::detail
