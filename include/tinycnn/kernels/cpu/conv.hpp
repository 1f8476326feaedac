// Fast CPU 2-D convolution (NCHW input x, KCRS filter w, NKPQ output y) on the packed GEMM.
// 3x3 and 5x5 stride-1 layers with enough channels and pixels run by Winograd F(4x4, 3x3) and
// F(2x2, 5x5) (winograd.hpp), forward and backward data. Otherwise forward packs the column
// matrix's panels straight from the image where they are whole output rows (implicit im2col: no
// column buffer), else builds im2col tiles; backward data of such a stride-1 convolution is the
// forward convolution of dy with the filter turned and transposed, otherwise W^T dy then col2im;
// backward filter dy col^T over im2col tiles. The forward of strided layers whose stride-1 form
// over stride phases runs by Winograd (NIN conv1) takes that form (kernels/phases.hpp).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "tinycnn/kernels/cpu/gemm.hpp"
#include "tinycnn/kernels/cpu/winograd.hpp"
#include "tinycnn/kernels/phases.hpp"
#include "tinycnn/kernels/problem.hpp"

namespace tinycnn::kernels::cpu {

namespace detail {

// A 1x1 filter at stride 1 without padding reads x(n) as it stands: x(n) is already the (C, HW)
// column matrix, so no im2col buffer is built.
inline bool conv_is_pointwise(const Conv2dDesc& d) {
  return d.r == 1 && d.s == 1 && d.stride_h == 1 && d.stride_w == 1 && d.pad_h == 0 && d.pad_w == 0;
}

// Column tiles: the column matrix (CRS, PQ) of a large image is built kConvColumnBudget elements at
// a time (whole columns, at least kConvMinColumns of them so the GEMM's N stays efficient). This
// bounds the scratch for any resolution (VGG conv1_2 at 8K would need 76 GB whole) and keeps the
// tile in L3 between im2col and the GEMM.
inline constexpr std::int64_t kConvColumnBudget = std::int64_t(1) << 21;
inline constexpr std::int64_t kConvMinColumns = 256;

inline std::int64_t conv_column_tile(const Conv2dDesc& d) {
  const std::int64_t crs = d.c * d.r * d.s, pq = d.p() * d.q();
  const std::int64_t tile = std::max(kConvMinColumns, kConvColumnBudget / std::max<std::int64_t>(crs, 1));
  return std::min(pq, (tile + 15) / 16 * 16);
}

// col(row = (c, r, s), j - j0) = x(c, p*sh - ph + r*dh, q*sw - pw + s*dw) for output pixels
// j = p*Q + q in [j0, j1), zero outside the image. col has j1 - j0 columns. Rows are split over
// threads (each row is written by one thread).
template <class T>
void im2col(T* col, const T* x, const Conv2dDesc& d, std::int64_t j0, std::int64_t j1, int threads) {
  const std::int64_t Q = d.q(), cols = j1 - j0, rows = d.c * d.r * d.s;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && rows * cols > 32768)
#endif
  for (std::int64_t row = 0; row < rows; ++row) {
    const std::int64_t c = row / (d.r * d.s), r = row / d.s % d.r, s = row % d.s;
    const T* plane = x + c * d.h * d.w;
    T* out = col + row * cols;
    for (std::int64_t j = j0; j < j1;) {
      const std::int64_t p = j / Q, q0 = j % Q, q1 = std::min(Q, q0 + (j1 - j));
      const std::int64_t h = p * d.stride_h - d.pad_h + r * d.dilation_h;
      T* o = out + (j - j0);
      if (h < 0 || h >= d.h) {
        std::fill(o, o + (q1 - q0), T(0));
      } else {
        const T* src = plane + h * d.w;
        const std::int64_t w_of_q0 = q0 * d.stride_w - d.pad_w + s * d.dilation_w;
        if (d.stride_w == 1) {  // one contiguous run, zero on either side
          const std::int64_t lo = std::clamp<std::int64_t>(-w_of_q0, 0, q1 - q0);
          const std::int64_t hi = std::clamp<std::int64_t>(d.w - w_of_q0, lo, q1 - q0);
          std::fill(o, o + lo, T(0));
          std::memcpy(o + lo, src + w_of_q0 + lo, std::size_t(hi - lo) * sizeof(T));
          std::fill(o + hi, o + (q1 - q0), T(0));
        } else {
          for (std::int64_t q = q0; q < q1; ++q) {
            const std::int64_t wi = w_of_q0 + (q - q0) * d.stride_w;
            o[q - q0] = wi >= 0 && wi < d.w ? src[wi] : T(0);
          }
        }
      }
      j += q1 - q0;
    }
  }
}

// dx(c, ...) += col scattered back (the adjoint of im2col). Threads split channels: the rows
// (c, r, s) of one channel all land in the same plane of dx, different channels never collide.
template <class T>
void col2im_add(T* dx, const T* col, const Conv2dDesc& d, std::int64_t j0, std::int64_t j1, int threads) {
  const std::int64_t Q = d.q(), cols = j1 - j0;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && d.c * d.r * d.s * cols > 32768)
#endif
  for (std::int64_t c = 0; c < d.c; ++c) {
    T* plane = dx + c * d.h * d.w;
    for (std::int64_t r = 0; r < d.r; ++r)
      for (std::int64_t s = 0; s < d.s; ++s) {
        const T* in = col + ((c * d.r + r) * d.s + s) * cols;
        for (std::int64_t j = j0; j < j1;) {
          const std::int64_t p = j / Q, q0 = j % Q, q1 = std::min(Q, q0 + (j1 - j));
          const std::int64_t h = p * d.stride_h - d.pad_h + r * d.dilation_h;
          if (h >= 0 && h < d.h) {
            T* dst = plane + h * d.w;
            const T* src = in + (j - j0);
            const std::int64_t w_of_q0 = q0 * d.stride_w - d.pad_w + s * d.dilation_w;
            for (std::int64_t q = q0; q < q1; ++q) {
              const std::int64_t wi = w_of_q0 + (q - q0) * d.stride_w;
              if (wi >= 0 && wi < d.w) dst[wi] += src[q - q0];
            }
          }
          j += q1 - q0;
        }
      }
  }
}

// GEMM descriptor of one untransposed or transposed row-major product with explicit leading
// dimensions (no batch).
inline GemmDesc gemm_desc(std::int64_t m, std::int64_t n, std::int64_t k, bool ta, bool tb, std::int64_t lda,
                          std::int64_t ldb, std::int64_t ldc) {
  GemmDesc g;
  g.m = m, g.n = n, g.k = k, g.trans_a = ta, g.trans_b = tb, g.lda = lda, g.ldb = ldb, g.ldc = ldc;
  return g;
}

// Whether images go to separate threads (each running im2col and a one-thread GEMM) rather than
// threads inside each image's GEMM: worth it when there are images for every thread and one
// image's GEMM is too small to split well (measured in docs/notes/cpu-kernels.md).
inline bool conv_threads_across_images(const Conv2dDesc& d, int threads) {
  const double per_image = double(d.k) * double(d.p() * d.q()) * double(d.c * d.r * d.s);
  return threads > 1 && d.n >= threads && per_image < double(1 << 24);
}

// op(B) of the forward GEMM y(K, PQ) = W(K, CRS) B(CRS, PQ) without building B: B(l, j) is
// x(c, p*sh - ph + r*dh, q*sw - pw + s*dw) for the filter tap l = (c, r, s) and the output pixel
// j = p*Q + q (column col0 + j of the image), zero outside the image. Horizontal stride 1 only
// (conv_packs_from_image). Each panel's NR pixels are cut into runs inside one output row, and a
// run is one contiguous piece of an input row with zeros either side, so the packing reads each
// input row a few times from cache instead of writing and re-reading a 9x larger column matrix.
template <class T>
struct ImagePanels {
  const T* x;  // one image (C, H, W)
  const Conv2dDesc* d;
  std::int64_t col0 = 0;

  ImagePanels from(std::int64_t j) const { return {x, d, col0 + j}; }

  void pack(T* dst, std::int64_t l0, std::int64_t j0, std::int64_t kc, std::int64_t nc) const {
    constexpr std::int64_t NR = GemmBlocking<T>::kNR;
    const Conv2dDesc& g = *d;
    const std::int64_t Q = g.q(), plane_size = g.h * g.w;
    for (std::int64_t jp = 0; jp < nc; jp += NR, dst += NR * kc) {
      const std::int64_t nr = std::min(NR, nc - jp);
      Run runs[NR];
      int count = 0;
      for (std::int64_t j = col0 + j0 + jp, at = 0; at < nr; ++count) {
        const std::int64_t p = j / Q, q = j % Q, len = std::min(nr - at, Q - q);
        runs[count] = {p * g.stride_h - g.pad_h, q * g.stride_w - g.pad_w, len, at};
        j += len, at += len;
      }
      const bool whole = count == 1 && nr == NR;
      std::int64_t c = l0 / (g.r * g.s), r = l0 / g.s % g.r, s = l0 % g.s;
      for (std::int64_t l = 0; l < kc; ++l) {
        T* o = dst + l * NR;
        const T* plane = x + c * plane_size;
        const std::int64_t dh = r * g.dilation_h, dw = s * g.dilation_w;
        const std::int64_t h_whole = runs[0].h0 + dh, w_whole = runs[0].w0 + dw;
        if (whole && h_whole >= 0 && h_whole < g.h && w_whole >= 0 && w_whole + NR <= g.w) {
          // the common case: NR pixels of one output row, all inside the image
          std::memcpy(o, plane + h_whole * g.w + w_whole, NR * sizeof(T));
        } else {
          pack_runs(o, plane, runs, count, nr, dh, dw);
        }
        if (++s == g.s) {
          s = 0;
          if (++r == g.r) r = 0, ++c;
        }
      }
    }
  }

 private:
  struct Run {
    std::int64_t h0, w0, len, at;  // input row and column of tap (0, 0), length, place in panel
  };

  // One tap's row of a panel, run by run, zeros outside the image and past nr (panels that
  // straddle output rows, start mid-row in a tile, or end the image).
  void pack_runs(T* o, const T* plane, const Run* runs, int count, std::int64_t nr, std::int64_t dh,
                 std::int64_t dw) const {
    constexpr std::int64_t NR = GemmBlocking<T>::kNR;
    const Conv2dDesc& g = *d;
    for (int i = 0; i < count; ++i) {
      const Run& run = runs[i];
      T* out = o + run.at;
      const std::int64_t h = run.h0 + dh, w0 = run.w0 + dw;
      if (h < 0 || h >= g.h) {
        std::fill(out, out + run.len, T(0));
        continue;
      }
      // One contiguous piece of the input row, zeros either side.
      const T* src = plane + h * g.w;
      const std::int64_t lo = std::clamp<std::int64_t>(-w0, 0, run.len);
      const std::int64_t hi = std::clamp<std::int64_t>(g.w - w0, lo, run.len);
      std::fill(out, out + lo, T(0));
      if (hi > lo) std::copy(src + w0 + lo, src + w0 + hi, out + lo);
      std::fill(out + hi, out + run.len, T(0));
    }
    std::fill(o + nr, o + NR, T(0));
  }
};

// Whether forward packs B from the image (ImagePanels) rather than building im2col tiles: when
// every panel is NR pixels of one output row (stride 1, Q a multiple of NR), so packing is one
// 64-byte copy per tap. Otherwise panels straddle rows and the run-by-run packing costs more than
// im2col's long row copies (measured on VGG-19 at 224 px, Q = 56, 28, 14: docs/notes/cpu-kernels.md).
template <class T>
bool conv_packs_from_image(const Conv2dDesc& d) {
  return d.stride_w == 1 && d.q() % GemmBlocking<T>::kNR == 0;
}

// Forward of image n: y(n) (K, PQ) = W (K, CRS) x B (CRS, PQ) + bias, with B packed from x(n) or
// built by im2col, `tile` columns at a time (the tile bounds the column buffer and keeps each
// thread's packed panels in cache). packed_w: W packed whole for the GEMM (pack_a_whole), or null.
template <class T>
void conv2d_forward_image(T* y, const T* x, const T* w, const T* bias, const Conv2dDesc& d,
                          int threads, std::int64_t tile, const T* packed_w = nullptr) {
  const std::int64_t PQ = d.p() * d.q(), CRS = d.c * d.r * d.s;
  if (bias) {
    for (std::int64_t k = 0; k < d.k; ++k) std::fill(y + k * PQ, y + (k + 1) * PQ, bias[k]);
  }
  const T beta = bias ? T(1) : T(0);
  if (conv_is_pointwise(d)) {
    gemm_one(GemmView<T>{y, w, x, d.k, PQ, CRS, false, false, CRS, PQ, PQ}, T(1), beta, threads,
             packed_w);
    return;
  }
  const bool implicit = conv_packs_from_image<T>(d);
  T* col = implicit ? nullptr : thread_scratch<T, 2>(std::size_t(CRS * tile));
  for (std::int64_t j0 = 0; j0 < PQ; j0 += tile) {
    const std::int64_t j1 = std::min(PQ, j0 + tile);
    if (implicit) {
      gemm_one_panels(GemmView<T>{y + j0, w, nullptr, d.k, j1 - j0, CRS, false, false, CRS, 0, PQ},
                      T(1), beta, threads, ImagePanels<T>{x, &d, j0}, packed_w);
    } else {
      im2col(col, x, d, j0, j1, threads);
      gemm_one(GemmView<T>{y + j0, w, col, d.k, j1 - j0, CRS, false, false, CRS, j1 - j0, PQ}, T(1),
               beta, threads, packed_w);
    }
  }
}

// Backward data of a stride-1 convolution as a forward one: dx(c, h, w) = sum over k, r, s of
// dy(k, h + ph - r*dh, w + pw - s*dw) w(k, c, r, s), which is the convolution of dy (K channels,
// P x Q) with w'(c, k, r', s') = w(k, c, R-1-r', S-1-s') padded by dh*(R-1) - ph (likewise w), and
// its output is H x W again. Needs that padding to be non-negative.
inline bool conv_backward_data_as_forward(const Conv2dDesc& d) {
  return d.stride_h == 1 && d.stride_w == 1 && d.pad_h <= d.dilation_h * (d.r - 1) &&
         d.pad_w <= d.dilation_w * (d.s - 1);
}

inline Conv2dDesc conv_backward_data_desc(const Conv2dDesc& d) {
  Conv2dDesc f = d;
  f.c = d.k, f.k = d.c, f.h = d.p(), f.w = d.q();
  f.pad_h = d.dilation_h * (d.r - 1) - d.pad_h;
  f.pad_w = d.dilation_w * (d.s - 1) - d.pad_w;
  return f;
}

// wf(c, k, R-1-r, S-1-s) = w(k, c, r, s), written in order (c outer) so the stores stream.
template <class T>
void flip_filter(T* wf, const T* w, const Conv2dDesc& d) {
  const std::int64_t RS = d.r * d.s;
  for (std::int64_t c = 0; c < d.c; ++c)
    for (std::int64_t k = 0; k < d.k; ++k) {
      const T* src = w + (k * d.c + c) * RS;
      T* dst = wf + (c * d.k + k) * RS;
      for (std::int64_t i = 0; i < RS; ++i) dst[RS - 1 - i] = src[i];  // (r, s) -> (R-1-r, S-1-s)
    }
}

// Backward data of image n at any stride: col (CRS, PQ) = W^T dy(n), then dx(n) = col2im(col),
// `tile` columns at a time. packed_wt: W^T packed whole for the GEMM (pack_a_whole), or null.
template <class T>
void conv2d_backward_data_image(T* dx, const T* dy, const T* w, const Conv2dDesc& d, int threads,
                                std::int64_t tile, const T* packed_wt = nullptr) {
  const std::int64_t PQ = d.p() * d.q(), CRS = d.c * d.r * d.s;
  if (conv_is_pointwise(d)) {
    gemm_one(GemmView<T>{dx, w, dy, CRS, PQ, d.k, true, false, CRS, PQ, PQ}, T(1), T(0), threads,
             packed_wt);
    return;
  }
  std::fill(dx, dx + d.c * d.h * d.w, T(0));
  T* col = thread_scratch<T, 2>(std::size_t(CRS * tile));
  for (std::int64_t j0 = 0; j0 < PQ; j0 += tile) {
    const std::int64_t j1 = std::min(PQ, j0 + tile);
    gemm_one(GemmView<T>{col, w, dy + j0, CRS, j1 - j0, d.k, true, false, CRS, PQ, j1 - j0}, T(1),
             T(0), threads, packed_wt);
    col2im_add(dx, col, d, j0, j1, threads);
  }
}

// Runs per_image(n, threads) for every image n: across images, one thread each, when `across`,
// else one image after another with all threads inside it.
template <class F>
void for_each_image(std::int64_t images, bool across, int threads, const F& per_image) {
  if (across) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads)
#endif
    for (std::int64_t n = 0; n < images; ++n) per_image(n, 1);
    return;
  }
  for (std::int64_t n = 0; n < images; ++n) per_image(n, threads);
}

// Whether forward (or backward data as the forward convolution f) runs by Winograd.
inline bool use_cpu_winograd(const Conv2dDesc& f, bool kept = false) {
  const int mode = winograd::mode();
  return cpu_winograd_layer(f) && (mode == 1 || (mode == 2 && cpu_winograd_pays(f, kept)));
}

// The forward convolution f (out = conv(in) + bias) by Winograd over f.n images; w is f's filter
// (k x c x 3 x 3), or turned: the filter of the layer whose backward data f is (c x k x 3 x 3).
// The prepared filter from `store` (made by make(data) first unless it is ready), or null without
// a store.
template <class T, class Make>
const T* kept_operand(FilterStore<T>* store, const Make& make) {
  if (!store || !store->data) return nullptr;
  if (!store->ready) make(store->data), store->ready = true;
  return store->data;
}

// The transformed filter goes to per-thread scratch, or is kept in `store` when one is given (and
// used as it is, not made again, when the store says it is ready).
template <int R, class T>
void conv2d_winograd_r(T* out, const T* in, const T* w, const T* bias, const Conv2dDesc& f,
                       bool turned, bool across, int threads, FilterStore<T>* store) {
  const std::int64_t in_image = f.c * f.h * f.w, out_image = f.k * f.p() * f.q();
  auto make = [&](T* u) { winograd_filter_transform<R>(u, w, f.k, f.c, turned, threads); };
  const T* u = kept_operand(store, make);
  if (!u) {
    T* scratch = thread_scratch<T, 6>(std::size_t(winograd_filter_size<T>(f.k, f.c)));
    make(scratch);
    u = scratch;
  }
  for_each_image(f.n, across, threads, [&](std::int64_t n, int t) {
    winograd_image<R>(out + n * out_image, in + n * in_image, u, bias, f.c, f.k, f, t);
  });
}
template <class T>
void conv2d_winograd(T* out, const T* in, const T* w, const T* bias, const Conv2dDesc& f,
                     bool turned, bool across, int threads, FilterStore<T>* store) {
  if (f.r == 5) return conv2d_winograd_r<5>(out, in, w, bias, f, turned, across, threads, store);
  conv2d_winograd_r<3>(out, in, w, bias, f, turned, across, threads, store);
}

// The phase form (kernels/phases.hpp) on the CPU: wf (forward) or wb (backward data, Turned) from
// w, in the layouts the stride-1 layer reads.
template <bool Turned, class T>
void phase_filter(T* out, const T* w, const phases::PhaseShape& s, std::int64_t r_total,
                  std::int64_t s_total) {
  const std::int64_t cf = std::int64_t(s.sh) * s.sw * s.c;
  for (std::int64_t o = 0; o < (Turned ? cf : s.k); ++o)
    for (std::int64_t i = 0; i < (Turned ? s.k : cf); ++i) {
      const std::int64_t k = Turned ? i : o, f = Turned ? o : i;
      const std::int64_t c = f % s.c, ab = f / s.c, a = ab / s.sw, b = ab % s.sw;
      for (int t = 0; t < s.th; ++t)
        for (int u = 0; u < s.tw; ++u) {
          const std::int64_t r = a + s.sh * (Turned ? s.th - 1 - t : t);
          const std::int64_t q = b + s.sw * (Turned ? s.tw - 1 - u : u);
          *out++ =
              r < r_total && q < s_total ? w[((k * s.c + c) * r_total + r) * s_total + q] : T(0);
        }
    }
}

// Plane (n, a, b, c) of the phase channels: their pixels are the rows and columns of phase (a, b).
inline std::int64_t phase_plane(const phases::PhaseShape& s, std::int64_t n, std::int64_t c, int a,
                                int b) {
  return ((n * s.sh + a) * s.sw + b) * s.c + c;
}

// body(nc) for every plane nc = (n, c) of a layer's input, split over threads.
template <class Body>
void for_each_plane(const phases::PhaseShape& s, int threads, const Body& body) {
  const std::int64_t planes = s.n * s.c;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads)
#endif
  for (std::int64_t nc = 0; nc < planes; ++nc) body(nc);
  (void)threads;
}

// xs from x, one plane (n, c) of x per iteration.
template <class T>
void space_to_phases(T* xs, const T* x, const phases::PhaseShape& s, int threads) {
  const std::int64_t plane = std::int64_t(s.hs) * s.ws;
  for_each_plane(s, threads, [&](std::int64_t nc) {
    const T* src = x + nc * std::int64_t(s.h) * s.w;
    for (int a = 0; a < s.sh; ++a)
      for (int b = 0; b < s.sw; ++b) {
        T* dst = xs + phase_plane(s, nc / s.c, nc % s.c, a, b) * plane;
        for (int i = 0; i < s.hs; ++i) {
          const int h = i * s.sh + a - s.pad_h;
          for (int j = 0; j < s.ws; ++j) {
            const int w = j * s.sw + b - s.pad_w;
            dst[std::int64_t(i) * s.ws + j] =
                h >= 0 && h < s.h && w >= 0 && w < s.w ? src[std::int64_t(h) * s.w + w] : T(0);
          }
        }
      }
  });
}

// dx from z, one plane (n, c) of dx per iteration; no division per pixel: a row's phase and
// phase row are computed once, a column's step through the phases.
template <class T>
void phases_to_space(T* dx, const T* z, const phases::PhaseShape& s, int threads) {
  const std::int64_t plane = std::int64_t(s.hs) * s.ws;
  for_each_plane(s, threads, [&](std::int64_t nc) {
    T* dst = dx + nc * std::int64_t(s.h) * s.w;
    const std::int64_t n = nc / s.c, c = nc % s.c;
    for (int h = 0; h < s.h; ++h, dst += s.w) {
      const int J = (h + s.pad_h) / s.sh, a = (h + s.pad_h) % s.sh;
      if (J >= s.hs) {
        std::fill(dst, dst + s.w, T(0));
        continue;
      }
      // Phase (a, b) of row J starts at z_row + b * c_stride (planes of consecutive b are C apart).
      const T* z_row = z + phase_plane(s, n, c, a, 0) * plane + std::int64_t(J) * s.ws;
      const std::int64_t c_stride = std::int64_t(s.c) * plane;
      int L = s.pad_w / s.sw, b = s.pad_w % s.sw;
      for (int w = 0; w < s.w; ++w) {
        dst[w] = L < s.ws ? z_row[b * c_stride + L] : T(0);
        if (++b == s.sw) b = 0, ++L;
      }
    }
  });
}

// Whether the automatic entry points take the phase form: TINYCNN_CONV_PHASES; by default forward
// only, where the stride-1 layer runs by Winograd (where it pays: NIN conv1 from about 128 px).
// Measured on 2 threads (docs/performance.md, sixth session), NIN conv1 at 224 px: forward 2.46 ->
// 1.33-1.45 ms; backward data 1.66-1.69 -> 1.57-1.81 ms, no better than W^T dy + col2im, which
// the CPU runs as one GEMM with M = C*R*S = 363 rows.
inline bool use_cpu_phases(const Conv2dDesc& d, bool backward, phases::PhaseShape& s) {
  const int mode = phases::phase_mode();
  if (mode == 0 || !phases::make_phase_shape(d, backward, s)) return false;
  return mode == 1 || (!backward && use_cpu_winograd(s.inner));
}

}  // namespace detail

template <class T>
void conv2d_forward_im2col(T* y, const T* x, const T* w, const T* bias, const Conv2dDesc& d,
                           FilterStore<T>* store = nullptr);

namespace detail {

// The phase form of layer d, whose shape s is made: forward (x and the filter rearranged, then
// the stride-1 layer by conv2d_forward_im2col) and backward data (dy into the phase channels by
// the stride-1 layer, then placed back).
template <class T>
void run_forward_phases(T* y, const T* x, const T* w, const T* bias, const Conv2dDesc& d,
                        const phases::PhaseShape& s) {
  T* wf = thread_scratch<T, 7>(s.filter_floats);
  T* xs = thread_scratch<T, 8>(s.buffer_floats);
  phase_filter<false>(wf, w, s, d.r, d.s);
  space_to_phases(xs, x, s, available_threads());
  conv2d_forward_im2col(y, xs, wf, bias, s.inner);
}

template <class T>
void run_backward_data_phases(T* dx, const T* dy, const T* w, const Conv2dDesc& d,
                              const phases::PhaseShape& s) {
  T* wb = thread_scratch<T, 7>(s.filter_floats);
  T* z = thread_scratch<T, 8>(s.buffer_floats);
  phase_filter<true>(wb, w, s, d.r, d.s);
  const T* no_bias = nullptr;
  conv2d_forward_im2col(z, dy, wb, no_bias, s.inner);
  phases_to_space(dx, z, s, available_threads());
}

}  // namespace detail

// A strided undilated layer through its phase form (kernels/phases.hpp), forward and backward
// data, whatever the automatic choice. False, writing nothing, for any other layer.
template <class T>
bool conv2d_forward_phases(T* y, const T* x, const T* w, const T* bias, const Conv2dDesc& d) {
  phases::PhaseShape s;
  if (!phases::make_phase_shape(d, false, s)) return false;
  detail::run_forward_phases(y, x, w, bias, d, s);
  return true;
}

template <class T>
bool conv2d_backward_data_phases(T* dx, const T* dy, const T* w, const Conv2dDesc& d) {
  phases::PhaseShape s;
  if (!phases::make_phase_shape(d, true, s)) return false;
  detail::run_backward_data_phases(dx, dy, w, d, s);
  return true;
}

namespace detail {

// Whether backward data of d runs by Winograd (as the forward convolution of dy with the turned
// filter).
inline bool backward_data_by_winograd(const Conv2dDesc& d, bool kept = false) {
  phases::PhaseShape ps;
  return !use_cpu_phases(d, true, ps) && !conv_is_pointwise(d) &&
         conv_backward_data_as_forward(d) && use_cpu_winograd(conv_backward_data_desc(d), kept);
}

}  // namespace detail

namespace detail {

// Backward data that is the forward convolution of dy with the turned filter on the direct path.
// It pays where that forward packs from dy (measured: with im2col tiles instead, VGG-19's 28 x 28
// and 14 x 14 layers ran 1.3-1.5x slower than W^T dy + col2im) and where C, its GEMM's M, fills
// the 6-row microkernel (VGG conv1_1's C = 3 ran about 5x slower that way).
template <class T>
bool backward_data_turned(const Conv2dDesc& d) {
  return !conv_is_pointwise(d) && conv_backward_data_as_forward(d) && d.c >= 16 &&
         conv_packs_from_image<T>(conv_backward_data_desc(d));
}

template <class T>
FilterPlan forward_filter_plan(const Conv2dDesc& d, bool kept) {
  phases::PhaseShape ps;
  if (use_cpu_winograd(d, kept)) return {KeptFilter::winograd, winograd_filter_size<T>(d.k, d.c)};
  if (use_cpu_phases(d, false, ps)) return {};
  return {KeptFilter::packed, packed_a_size<T>(d.k, d.c * d.r * d.s)};
}
template <class T>
FilterPlan backward_data_filter_plan(const Conv2dDesc& d, bool kept) {
  phases::PhaseShape ps;
  if (backward_data_by_winograd(d, kept))
    return {KeptFilter::winograd, winograd_filter_size<T>(d.c, d.k)};
  if (use_cpu_phases(d, true, ps)) return {};
  if (backward_data_turned<T>(d))
    return {KeptFilter::packed, packed_a_size<T>(d.c, d.k * d.r * d.s)};
  return {KeptFilter::packed, packed_a_size<T>(d.c * d.r * d.s, d.k)};
}

}  // namespace detail

// What conv2d_forward_im2col (conv2d_backward_data_im2col) for d keeps in a FilterStore given to
// it: the filter transformed for Winograd, or the direct path's GEMM operand packed whole (W,
// W^T, or the turned filter of backward data as a forward convolution: pack_a_whole), or nothing
// (the phase form); `size` values. With a store, layers with fewer blocks take Winograd than
// without (cpu_winograd_pays), and the direct path packs its operand once instead of once per
// call, thread and column tile.
template <class T>
FilterPlan conv2d_forward_filter_plan(const Conv2dDesc& d) {
  return detail::forward_filter_plan<T>(d, true);
}
template <class T>
FilterPlan conv2d_backward_data_filter_plan(const Conv2dDesc& d) {
  return detail::backward_data_filter_plan<T>(d, true);
}

// y(n,k,p,q) = bias(k) + sum_{c,r,s} x(n, c, p*sh - ph + r*dh, q*sw - pw + s*dw) w(k,c,r,s);
// bias may be null. `store`: where the filter is kept between calls (FilterStore,
// conv2d_forward_filter_plan).
template <class T>
void conv2d_forward_im2col(T* y, const T* x, const T* w, const T* bias, const Conv2dDesc& d,
                           FilterStore<T>* store) {
  const std::int64_t in_image = d.c * d.h * d.w, out_image = d.k * d.p() * d.q();
  const int threads = detail::available_threads();
  const bool across = detail::conv_threads_across_images(d, threads);
  const FilterPlan plan = detail::forward_filter_plan<T>(d, store != nullptr);
  if (plan.kind == KeptFilter::winograd)
    return detail::conv2d_winograd(y, x, w, bias, d, false, across, threads, store);
  phases::PhaseShape ps;
  if (detail::use_cpu_phases(d, false, ps)) return detail::run_forward_phases(y, x, w, bias, d, ps);
  const std::int64_t CRS = d.c * d.r * d.s;
  const T* packed = detail::kept_operand(
      store, [&](T* dst) { detail::pack_a_whole(dst, w, CRS, false, d.k, CRS); });
  const std::int64_t tile = detail::conv_column_tile(d);
  detail::for_each_image(d.n, across, threads, [&](std::int64_t n, int t) {
    detail::conv2d_forward_image(y + n * out_image, x + n * in_image, w, bias, d, t, tile, packed);
  });
}

// dx = the gradient of the forward with respect to x, given dy. `store` as for the forward
// (conv2d_backward_data_filter_plan).
template <class T>
void conv2d_backward_data_im2col(T* dx, const T* dy, const T* w, const Conv2dDesc& d,
                                 FilterStore<T>* store = nullptr) {
  const std::int64_t in_image = d.c * d.h * d.w, out_image = d.k * d.p() * d.q();
  const int threads = detail::available_threads();
  const bool across = detail::conv_threads_across_images(d, threads);
  if (detail::backward_data_filter_plan<T>(d, store != nullptr).kind == KeptFilter::winograd) {
    const T* no_bias = nullptr;
    return detail::conv2d_winograd(dx, dy, w, no_bias, detail::conv_backward_data_desc(d), true,
                                   across, threads, store);
  }
  phases::PhaseShape ps;
  if (detail::use_cpu_phases(d, true, ps))
    return detail::run_backward_data_phases(dx, dy, w, d, ps);
  const std::int64_t CRS = d.c * d.r * d.s, KRS = d.k * d.r * d.s;
  if (detail::backward_data_turned<T>(d)) {
    const Conv2dDesc f = detail::conv_backward_data_desc(d);
    const std::int64_t ftile = detail::conv_column_tile(f);
    // The turned filter is read only to pack it: not made again where the packed one is kept.
    T* wf = detail::thread_scratch<T, 3>(std::size_t(d.k * CRS));
    const T* packed = detail::kept_operand(store, [&](T* dst) {
      detail::flip_filter(wf, w, d);
      detail::pack_a_whole<T>(dst, wf, KRS, false, d.c, KRS);
    });
    if (!packed) detail::flip_filter(wf, w, d);
    const T* no_bias = nullptr;
    detail::for_each_image(d.n, across, threads, [&](std::int64_t n, int t) {
      detail::conv2d_forward_image<T>(dx + n * in_image, dy + n * out_image, wf, no_bias, f, t,
                                      ftile, packed);
    });
    return;
  }
  const T* packed = detail::kept_operand(
      store, [&](T* dst) { detail::pack_a_whole(dst, w, CRS, true, CRS, d.k); });
  const std::int64_t tile = detail::conv_column_tile(d);
  detail::for_each_image(d.n, across, threads, [&](std::int64_t n, int t) {
    detail::conv2d_backward_data_image(dx + n * in_image, dy + n * out_image, w, d, t, tile,
                                       packed);
  });
}

namespace detail {

// dw (K, CRS) = sum over images and column tiles of dy(n) (K, tile) x col(n)^T (tile, CRS).
template <class T>
void conv2d_backward_filter_tiled(T* dw, const T* dy, const T* x, const Conv2dDesc& d, int threads,
                                  std::int64_t tile) {
  const std::int64_t PQ = d.p() * d.q(), CRS = d.c * d.r * d.s;
  const std::int64_t in_image = d.c * d.h * d.w, out_image = d.k * PQ;
  if (d.n == 0 || PQ == 0) {
    std::fill(dw, dw + d.k * CRS, T(0));
    return;
  }
  const bool pointwise = conv_is_pointwise(d);
  if (pointwise) tile = PQ;
  T* col = pointwise ? nullptr : thread_scratch<T, 2>(std::size_t(CRS * tile));
  bool first = true;
  for (std::int64_t n = 0; n < d.n; ++n)
    for (std::int64_t j0 = 0; j0 < PQ; j0 += tile) {
      const std::int64_t j1 = std::min(PQ, j0 + tile);
      // B = col^T: stored (CRS, tile) with leading dimension ldcol; pointwise reads x(n) in place.
      const T* cols = x + n * in_image + j0;
      std::int64_t ldcol = PQ;
      if (!pointwise) {
        im2col(col, x + n * in_image, d, j0, j1, threads);
        cols = col, ldcol = j1 - j0;
      }
      gemm_one(GemmView<T>{dw, dy + n * out_image + j0, cols, d.k, CRS, j1 - j0, false, true, PQ, ldcol, CRS},
               T(1), first ? T(0) : T(1), threads);
      first = false;
    }
}

}  // namespace detail

// dw(k,c,r,s) = sum_{n,p,q} dy(n,k,p,q) x(n, c, p*sh - ph + r*dh, q*sw - pw + s*dw):
// dw (K, CRS) += dy(n) (K, PQ) x col(n)^T, over images and column tiles. The sum over images is one
// accumulator (dw), so threads work inside each GEMM and im2col.
template <class T>
void conv2d_backward_filter_im2col(T* dw, const T* dy, const T* x, const Conv2dDesc& d) {
  detail::conv2d_backward_filter_tiled(dw, dy, x, d, detail::available_threads(), detail::conv_column_tile(d));
}

// db(k) = sum_{n,p,q} dy(n,k,p,q), accumulated in double for float so long planes stay accurate.
template <class T>
void conv2d_backward_bias(T* db, const T* dy, const Conv2dDesc& d) {
  const std::int64_t PQ = d.p() * d.q();
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (d.k * d.n * PQ > 65536)
#endif
  for (std::int64_t k = 0; k < d.k; ++k) {
    double acc = 0;
    for (std::int64_t n = 0; n < d.n; ++n) {
      const T* plane = dy + (n * d.k + k) * PQ;
      double part = 0;
#ifdef _OPENMP
#pragma omp simd reduction(+ : part)
#endif
      for (std::int64_t i = 0; i < PQ; ++i) part += double(plane[i]);
      acc += part;
    }
    db[k] = T(acc);
  }
}

}  // namespace tinycnn::kernels::cpu
