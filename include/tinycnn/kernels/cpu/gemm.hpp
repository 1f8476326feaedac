// Fast CPU GEMM, BLIS/GotoBLAS style: B packed into KC x NR panels, A into MC x KC panels of MR
// rows, an AVX2+FMA register-blocked microkernel (portable C++ loops without AVX2/FMA), OpenMP.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define TINYCNN_CPU_GEMM_AVX2 1
#else
#define TINYCNN_CPU_GEMM_AVX2 0
#endif

#ifdef _OPENMP
#include <omp.h>
#endif

#include "tinycnn/kernels/problem.hpp"

namespace tinycnn::kernels::cpu {

namespace detail {

// Threads a kernel may start from here: one inside an enclosing parallel region (the caller has
// already split the work, and nested teams only oversubscribe the cores).
inline int available_threads() {
#ifdef _OPENMP
  return omp_in_parallel() ? 1 : omp_get_max_threads();
#else
  return 1;
#endif
}

// Per-thread scratch that only grows, 64-byte aligned: kernels never allocate in steady state and
// the op layer passes no workspace to CPU kernels. `Slot` separates buffers that live at once.
template <class T, int Slot>
T* thread_scratch(std::size_t count) {
  thread_local std::vector<unsigned char> buffer;
  const std::size_t bytes = count * sizeof(T) + 64;
  if (buffer.size() < bytes) {
    buffer.clear();
    buffer.shrink_to_fit();
    buffer.resize(bytes);
  }
  const auto address = reinterpret_cast<std::uintptr_t>(buffer.data());
  return reinterpret_cast<T*>((address + 63) & ~std::uintptr_t(63));
}

// Register and cache blocking. MR x NR is the microkernel's C tile (12 of the 16 ymm registers
// hold it); the KC x NR micro-panel of packed B streams through the 32 KiB L1d while MC x KC of
// packed A (144 KiB) stays in the 512 KiB L2 of a Zen 3 core; KC x NC of B lives in L3. MC and KC
// were measured (docs/notes/cpu-kernels.md): float KC = 512 with MC = 72 beat BLIS's 144 x 256.
template <class T>
struct GemmBlocking;
template <>
struct GemmBlocking<float> {
  static constexpr std::int64_t kMR = 6, kNR = 16, kMC = 72, kKC = 512, kNC = 4080;
};
template <>
struct GemmBlocking<double> {
  static constexpr std::int64_t kMR = 6, kNR = 8, kMC = 72, kKC = 256, kNC = 4080;
};

// One sub-problem of C = alpha * op(A) op(B) + beta * C: pointers already offset to its corner.
template <class T>
struct GemmView {
  T* c;
  const T* a;
  const T* b;
  std::int64_t m, n, k;
  bool trans_a, trans_b;
  std::int64_t lda, ldb, ldc;
};

// Packs op(A)(rows, cols) block [mc x kc] into panels of MR rows: panel i holds, for each l, the MR
// values op(A)(i*MR + 0..MR-1, l) next to each other. Rows past mc are zero so the microkernel
// never branches on edges.
template <class T>
void pack_a(T* dst, const T* a, std::int64_t lda, bool trans, std::int64_t mc, std::int64_t kc) {
  constexpr std::int64_t MR = GemmBlocking<T>::kMR;
  for (std::int64_t i0 = 0; i0 < mc; i0 += MR) {
    const std::int64_t mr = std::min(MR, mc - i0);
    if (trans) {  // op(A)(i, l) = a[l * lda + i]: MR contiguous values per l.
      for (std::int64_t l = 0; l < kc; ++l) {
        const T* src = a + l * lda + i0;
        std::int64_t i = 0;
        for (; i < mr; ++i) dst[l * MR + i] = src[i];
        for (; i < MR; ++i) dst[l * MR + i] = T(0);
      }
    } else {  // op(A)(i, l) = a[i * lda + l]: MR row streams.
      if (mr == MR) {
        const T* r0 = a + (i0 + 0) * lda;
        const T* r1 = a + (i0 + 1) * lda;
        const T* r2 = a + (i0 + 2) * lda;
        const T* r3 = a + (i0 + 3) * lda;
        const T* r4 = a + (i0 + 4) * lda;
        const T* r5 = a + (i0 + 5) * lda;
        for (std::int64_t l = 0; l < kc; ++l) {
          T* d = dst + l * MR;
          d[0] = r0[l], d[1] = r1[l], d[2] = r2[l], d[3] = r3[l], d[4] = r4[l], d[5] = r5[l];
        }
      } else {
        for (std::int64_t l = 0; l < kc; ++l) {
          std::int64_t i = 0;
          for (; i < mr; ++i) dst[l * MR + i] = a[(i0 + i) * lda + l];
          for (; i < MR; ++i) dst[l * MR + i] = T(0);
        }
      }
    }
    dst += MR * kc;
  }
}

// Packs op(B) block [kc x nc] into panels of NR columns, zero-padded past nc.
template <class T>
void pack_b(T* dst, const T* b, std::int64_t ldb, bool trans, std::int64_t kc, std::int64_t nc) {
  constexpr std::int64_t NR = GemmBlocking<T>::kNR;
  for (std::int64_t j0 = 0; j0 < nc; j0 += NR) {
    const std::int64_t nr = std::min(NR, nc - j0);
    if (trans) {  // op(B)(l, j) = b[j * ldb + l]: read each column's K run contiguously.
      for (std::int64_t j = 0; j < nr; ++j) {
        const T* src = b + (j0 + j) * ldb;
        for (std::int64_t l = 0; l < kc; ++l) dst[l * NR + j] = src[l];
      }
      for (std::int64_t j = nr; j < NR; ++j)
        for (std::int64_t l = 0; l < kc; ++l) dst[l * NR + j] = T(0);
    } else {  // op(B)(l, j) = b[l * ldb + j]: NR contiguous values per l.
      if (nr == NR) {
        for (std::int64_t l = 0; l < kc; ++l) std::memcpy(dst + l * NR, b + l * ldb + j0, NR * sizeof(T));
      } else {
        for (std::int64_t l = 0; l < kc; ++l) {
          std::int64_t j = 0;
          for (; j < nr; ++j) dst[l * NR + j] = b[l * ldb + j0 + j];
          for (; j < NR; ++j) dst[l * NR + j] = T(0);
        }
      }
    }
    dst += NR * kc;
  }
}

#if TINYCNN_CPU_GEMM_AVX2
inline __m256 vload(const float* p) { return _mm256_loadu_ps(p); }
inline __m256d vload(const double* p) { return _mm256_loadu_pd(p); }
inline void vstore(float* p, __m256 v) { _mm256_storeu_ps(p, v); }
inline void vstore(double* p, __m256d v) { _mm256_storeu_pd(p, v); }
inline __m256 vbroadcast(const float* p) { return _mm256_broadcast_ss(p); }
inline __m256d vbroadcast(const double* p) { return _mm256_broadcast_sd(p); }
inline __m256 vset1(float x) { return _mm256_set1_ps(x); }
inline __m256d vset1(double x) { return _mm256_set1_pd(x); }
inline __m256 vfma(__m256 a, __m256 b, __m256 c) { return _mm256_fmadd_ps(a, b, c); }
inline __m256d vfma(__m256d a, __m256d b, __m256d c) { return _mm256_fmadd_pd(a, b, c); }
inline __m256 vmul(__m256 a, __m256 b) { return _mm256_mul_ps(a, b); }
inline __m256d vmul(__m256d a, __m256d b) { return _mm256_mul_pd(a, b); }

// C(6 x NR) = alpha * Apanel * Bpanel + beta * C over kc steps, NR = two vectors (16 floats or 8
// doubles): 12 accumulators, 2 loads of B and 6 broadcasts of A per step (the 6x16 BLIS shape:
// 12 FMAs for 8 loads keeps both FMA pipes busy). beta == 0 never reads C.
template <class T>
inline void microkernel(std::int64_t kc, const T* a, const T* b, T* c, std::int64_t ldc, T alpha,
                        T beta) {
  using V = decltype(vset1(T(0)));
  constexpr std::int64_t NR = GemmBlocking<T>::kNR, L = NR / 2;
  V c00 = vset1(T(0)), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  V c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  // C's tile is only touched after the K loop; start its cache lines on their way now.
  for (int i = 0; i < 6; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + NR - 1), _MM_HINT_T0);
  }
#if defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)  // nvcc's front end warns
#pragma GCC unroll 4
#endif
  for (std::int64_t l = 0; l < kc; ++l) {
    const V b0 = vload(b), b1 = vload(b + L);
    V ai = vbroadcast(a + 0);
    c00 = vfma(ai, b0, c00), c01 = vfma(ai, b1, c01);
    ai = vbroadcast(a + 1);
    c10 = vfma(ai, b0, c10), c11 = vfma(ai, b1, c11);
    ai = vbroadcast(a + 2);
    c20 = vfma(ai, b0, c20), c21 = vfma(ai, b1, c21);
    ai = vbroadcast(a + 3);
    c30 = vfma(ai, b0, c30), c31 = vfma(ai, b1, c31);
    ai = vbroadcast(a + 4);
    c40 = vfma(ai, b0, c40), c41 = vfma(ai, b1, c41);
    ai = vbroadcast(a + 5);
    c50 = vfma(ai, b0, c50), c51 = vfma(ai, b1, c51);
    a += 6, b += NR;
  }
  const V va = vset1(alpha);
  auto put = [&](T* row, V lo, V hi) {
    if (beta == T(0)) {
      vstore(row, vmul(va, lo)), vstore(row + L, vmul(va, hi));
    } else {
      const V vb = vset1(beta);
      vstore(row, vfma(va, lo, vmul(vb, vload(row))));
      vstore(row + L, vfma(va, hi, vmul(vb, vload(row + L))));
    }
  };
  put(c + 0 * ldc, c00, c01);
  put(c + 1 * ldc, c10, c11);
  put(c + 2 * ldc, c20, c21);
  put(c + 3 * ldc, c30, c31);
  put(c + 4 * ldc, c40, c41);
  put(c + 5 * ldc, c50, c51);
}
#else
// Portable microkernel: fixed-size loops the compiler unrolls and vectorises along NR.
template <class T>
inline void microkernel(std::int64_t kc, const T* a, const T* b, T* c, std::int64_t ldc, T alpha,
                        T beta) {
  constexpr std::int64_t MR = GemmBlocking<T>::kMR, NR = GemmBlocking<T>::kNR;
  T acc[MR][NR] = {};
  for (std::int64_t l = 0; l < kc; ++l)
    for (std::int64_t i = 0; i < MR; ++i)
      for (std::int64_t j = 0; j < NR; ++j) acc[i][j] += a[l * MR + i] * b[l * NR + j];
  for (std::int64_t i = 0; i < MR; ++i)
    for (std::int64_t j = 0; j < NR; ++j)
      c[i * ldc + j] = beta == T(0) ? alpha * acc[i][j] : alpha * acc[i][j] + beta * c[i * ldc + j];
}
#endif

// A partial tile (mr < MR or nr < NR): the microkernel writes a full tile into a local buffer,
// then the valid part is merged with the beta rule.
template <class T>
inline void microkernel_edge(std::int64_t kc, const T* a, const T* b, T* c, std::int64_t ldc,
                             std::int64_t mr, std::int64_t nr, T alpha, T beta) {
  constexpr std::int64_t MR = GemmBlocking<T>::kMR, NR = GemmBlocking<T>::kNR;
  alignas(64) T tile[MR * NR];
  microkernel(kc, a, b, tile, NR, alpha, T(0));
  for (std::int64_t i = 0; i < mr; ++i)
    for (std::int64_t j = 0; j < nr; ++j)
      c[i * ldc + j] = beta == T(0) ? tile[i * NR + j] : tile[i * NR + j] + beta * c[i * ldc + j];
}

// Where packed op(B) panels come from. pack(dst, l0, j0, kc, nc) writes rows [l0, l0 + kc) and
// columns [j0, j0 + nc) of op(B) as KC x NR panels (as pack_b); from(j) is the same source with
// its column j as column 0 (one thread's share of C). MatrixPanels reads a stored matrix; the
// convolutions' implicit im2col (kernels/cpu/conv.hpp, ImagePanels) reads an image.
template <class T>
struct MatrixPanels {
  const T* b;
  std::int64_t ldb;
  bool trans;

  void pack(T* dst, std::int64_t l0, std::int64_t j0, std::int64_t kc, std::int64_t nc) const {
    pack_b(dst, trans ? b + j0 * ldb + l0 : b + l0 * ldb + j0, ldb, trans, kc, nc);
  }
  MatrixPanels from(std::int64_t j) const { return {trans ? b + j * ldb : b + j, ldb, trans}; }
};

// Where packed op(A) blocks come from. block(scratch, i0, l0, mc, kc) gives rows [i0, i0 + mc)
// and columns [l0, l0 + kc) of op(A) as pack_a lays them out. MatrixA packs a stored matrix into
// scratch; PackedA returns a block of a matrix packed whole ahead of time (pack_a_whole), so a
// matrix used by many GEMMs (Winograd's transformed filters, kernels/cpu/winograd.hpp) is packed
// once, not once per GEMM.
template <class T>
struct MatrixA {
  const T* a;
  std::int64_t lda;
  bool trans;

  const T* block(T* scratch, std::int64_t i0, std::int64_t l0, std::int64_t mc,
                 std::int64_t kc) const {
    pack_a(scratch, trans ? a + l0 * lda + i0 : a + i0 * lda + l0, lda, trans, mc, kc);
    return scratch;
  }
};

// op(A) (m x k) packed whole: the KC-column blocks one after another, each as pack_a lays out all
// m rows (panels of MR rows, the last zero-padded), so any block whose first row is a multiple of
// MR is one contiguous piece.
template <class T>
constexpr std::int64_t packed_a_rows(std::int64_t m) {
  constexpr std::int64_t MR = GemmBlocking<T>::kMR;
  return (m + MR - 1) / MR * MR;
}
template <class T>
constexpr std::int64_t packed_a_size(std::int64_t m, std::int64_t k) {
  return packed_a_rows<T>(m) * k;
}
// Where op(A)(i, l) lands in that layout.
template <class T>
constexpr std::int64_t packed_a_index(std::int64_t m, std::int64_t k, std::int64_t i,
                                      std::int64_t l) {
  constexpr std::int64_t MR = GemmBlocking<T>::kMR, KC = GemmBlocking<T>::kKC;
  const std::int64_t l0 = l / KC * KC, kc = std::min(KC, k - l0);
  return packed_a_rows<T>(m) * l0 + i / MR * MR * kc + (l - l0) * MR + i % MR;
}
template <class T>
void pack_a_whole(T* dst, const T* a, std::int64_t lda, bool trans, std::int64_t m,
                  std::int64_t k) {
  constexpr std::int64_t KC = GemmBlocking<T>::kKC;
  for (std::int64_t l0 = 0; l0 < k; l0 += KC)
    pack_a(dst + packed_a_rows<T>(m) * l0, trans ? a + l0 * lda : a + l0, lda, trans, m,
           std::min(KC, k - l0));
}

template <class T>
struct PackedA {
  const T* packed;        // from pack_a_whole (or written in its layout)
  std::int64_t m;         // op(A)'s rows
  std::int64_t row0 = 0;  // the first row of the sub-problem (a multiple of MR)

  const T* block(T*, std::int64_t i0, std::int64_t l0, std::int64_t, std::int64_t kc) const {
    return packed + packed_a_rows<T>(m) * l0 + (row0 + i0) * kc;
  }
};

// One thread's blocked GEMM over its sub-problem: the five loops around the microkernel. op(B)
// comes from `panels` (v.b and v.ldb are not read), op(A) from `a_blocks` (v.a and v.lda are not
// read); i0 in a_blocks.block is a row of the sub-problem (a PackedA's row0 says where that
// starts).
template <class T, class Panels, class ABlocks>
void gemm_blocked_serial(const GemmView<T>& v, T alpha, T beta, const Panels& panels,
                         const ABlocks& a_blocks) {
  using B = GemmBlocking<T>;
  constexpr std::int64_t MR = B::kMR, NR = B::kNR, MC = B::kMC, KC = B::kKC, NC = B::kNC;
  const std::int64_t nc_max = std::min(NC, (v.n + NR - 1) / NR * NR);
  const std::int64_t kc_max = std::min(KC, v.k);
  T* packed_a = thread_scratch<T, 0>(std::size_t(MC * kc_max));
  T* packed_b = thread_scratch<T, 1>(std::size_t(nc_max * kc_max));
  for (std::int64_t jc = 0; jc < v.n; jc += NC) {
    const std::int64_t nc = std::min(NC, v.n - jc);
    for (std::int64_t pc = 0; pc < v.k; pc += KC) {
      const std::int64_t kc = std::min(KC, v.k - pc);
      const T beta_block = pc == 0 ? beta : T(1);  // later K blocks accumulate onto the first
      panels.pack(packed_b, pc, jc, kc, nc);
      for (std::int64_t ic = 0; ic < v.m; ic += MC) {
        const std::int64_t mc = std::min(MC, v.m - ic);
        const T* pa = a_blocks.block(packed_a, ic, pc, mc, kc);
        for (std::int64_t jr = 0; jr < nc; jr += NR) {
          const std::int64_t nr = std::min(NR, nc - jr);
          const T* pb = packed_b + jr * kc;
          for (std::int64_t ir = 0; ir < mc; ir += MR) {
            const std::int64_t mr = std::min(MR, mc - ir);
            T* c_tile = v.c + (ic + ir) * v.ldc + jc + jr;
            if (mr == MR && nr == NR)
              microkernel(kc, pa + ir * kc, pb, c_tile, v.ldc, alpha, beta_block);
            else
              microkernel_edge(kc, pa + ir * kc, pb, c_tile, v.ldc, mr, nr, alpha, beta_block);
          }
        }
      }
    }
  }
}

template <class T, class Panels>
void gemm_blocked_serial(const GemmView<T>& v, T alpha, T beta, const Panels& panels) {
  gemm_blocked_serial(v, alpha, beta, panels, MatrixA<T>{v.a, v.lda, v.trans_a});
}
template <class T>
void gemm_blocked_serial(const GemmView<T>& v, T alpha, T beta) {
  gemm_blocked_serial(v, alpha, beta, MatrixPanels<T>{v.b, v.ldb, v.trans_b});
}

// C = beta * C (or 0 when beta == 0, never reading C): the whole GEMM when K == 0.
template <class T>
void scale_c(const GemmView<T>& v, T beta) {
  for (std::int64_t i = 0; i < v.m; ++i)
    for (std::int64_t j = 0; j < v.n; ++j) {
      T& out = v.c[i * v.ldc + j];
      out = beta == T(0) ? T(0) : beta * out;
    }
}

// Direct loops for problems too small to repay packing; each C element is one dot product.
template <class T>
void gemm_small(const GemmView<T>& v, T alpha, T beta) {
  for (std::int64_t i = 0; i < v.m; ++i)
    for (std::int64_t j = 0; j < v.n; ++j) {
      T acc = 0;
      for (std::int64_t l = 0; l < v.k; ++l) {
        const T av = v.trans_a ? v.a[l * v.lda + i] : v.a[i * v.lda + l];
        const T bv = v.trans_b ? v.b[j * v.ldb + l] : v.b[l * v.ldb + j];
        acc += av * bv;
      }
      T& out = v.c[i * v.ldc + j];
      out = beta == T(0) ? alpha * acc : alpha * acc + beta * out;
    }
}

// The rows [m0, m1) and columns [n0, n1) of a view (b stays null when the view has no stored B).
template <class T>
GemmView<T> sub_view(const GemmView<T>& v, std::int64_t m0, std::int64_t m1, std::int64_t n0,
                     std::int64_t n1) {
  GemmView<T> s = v;
  s.m = m1 - m0, s.n = n1 - n0;
  s.a = v.trans_a ? v.a + m0 : v.a + m0 * v.lda;
  if (v.b) s.b = v.trans_b ? v.b + n0 * v.ldb : v.b + n0;
  s.c = v.c + m0 * v.ldc + n0;
  return s;
}

// Splits `threads` into a tm x tn grid over C minimising the largest per-thread tile (counted in
// whole MR x NR tiles); ties go to more column splits, which keeps each thread's packed B private
// and only repeats the cheaper packing of A.
inline void thread_grid(std::int64_t m, std::int64_t n, std::int64_t mr, std::int64_t nr, int threads,
                        int& tm, int& tn) {
  const std::int64_t mt = (m + mr - 1) / mr, nt = (n + nr - 1) / nr;
  std::int64_t best = -1;
  tm = 1, tn = threads;
  for (int cols = threads; cols >= 1; --cols) {
    if (threads % cols) continue;
    const int rows = threads / cols;
    const std::int64_t cost = (mt + rows - 1) / rows * ((nt + cols - 1) / cols);
    if (best < 0 || cost < best) best = cost, tm = rows, tn = cols;
  }
}

// Splits [0, tiles*unit) clamped to `total` into `parts` near-equal ranges of whole units.
inline void split_range(std::int64_t total, std::int64_t unit, int parts, int part, std::int64_t& lo,
                        std::int64_t& hi) {
  const std::int64_t tiles = (total + unit - 1) / unit;
  lo = std::min(total, tiles * part / parts * unit);
  hi = std::min(total, tiles * (part + 1) / parts * unit);
}

// One thread's share, rows [m0, m1) and columns [n0, n1), with op(A) packed per block from v.a
// or, given `packed_a` (op(A) packed whole, pack_a_whole), read from it.
template <class T, class Panels>
void gemm_share(const GemmView<T>& v, T alpha, T beta, const Panels& panels, const T* packed_a,
                std::int64_t m0, std::int64_t m1, std::int64_t n0, std::int64_t n1) {
  const GemmView<T> s = sub_view(v, m0, m1, n0, n1);
  if (packed_a)
    gemm_blocked_serial(s, alpha, beta, panels.from(n0), PackedA<T>{packed_a, v.m, m0});
  else
    gemm_blocked_serial(s, alpha, beta, panels.from(n0));
}

// One GEMM (no batch) with op(B) from `panels`, threads over a 2-D grid of C blocks, each thread a
// full serial blocked GEMM on its block with its own packing buffers: no barriers, no shared
// packed panels. `packed_a`: op(A) packed whole ahead of time (a frozen layer's filter), or null.
template <class T, class Panels>
void gemm_one_panels(const GemmView<T>& v, T alpha, T beta, int threads, const Panels& panels,
                     const T* packed_a = nullptr) {
  if (v.m <= 0 || v.n <= 0) return;
  if (v.k <= 0) return scale_c(v, beta);
  // About 2^20 multiply-adds per thread before another thread pays for its start-up.
  const double work = double(v.m) * double(v.n) * double(v.k);
  threads = int(std::max<double>(1.0, std::min<double>(threads, work / double(1 << 20))));
  if (threads <= 1) return gemm_share(v, alpha, beta, panels, packed_a, 0, v.m, 0, v.n);
#ifdef _OPENMP
  using B = GemmBlocking<T>;
#pragma omp parallel num_threads(threads)
  {
    const int team = omp_get_num_threads(), id = omp_get_thread_num();
    int tm = 1, tn = 1;
    thread_grid(v.m, v.n, B::kMR, B::kNR, team, tm, tn);
    std::int64_t m0, m1, n0, n1;
    split_range(v.m, B::kMR, tm, id / tn, m0, m1);
    split_range(v.n, B::kNR, tn, id % tn, n0, n1);
    if (m1 > m0 && n1 > n0) gemm_share(v, alpha, beta, panels, packed_a, m0, m1, n0, n1);
  }
#else
  gemm_share(v, alpha, beta, panels, packed_a, 0, v.m, 0, v.n);
#endif
}

// One GEMM of stored matrices; problems of at most 4096 multiply-adds run as direct loops (from
// v.a, which must be given even with `packed_a`).
template <class T>
void gemm_one(const GemmView<T>& v, T alpha, T beta, int threads, const T* packed_a = nullptr) {
  if (v.m > 0 && v.n > 0 && v.k > 0 && double(v.m) * double(v.n) * double(v.k) <= 4096.0)
    return gemm_small(v, alpha, beta);
  gemm_one_panels(v, alpha, beta, threads, MatrixPanels<T>{v.b, v.ldb, v.trans_b}, packed_a);
}

}  // namespace detail

// C = alpha * op(A) * op(B) + beta * C for d.batch problems (GemmDesc: row-major, transposes,
// leading dimensions, batch strides). beta == 0 never reads C. Threads: across the batch when it
// has enough problems to keep every thread busy, else inside each GEMM.
template <class T>
void gemm_packed(T* c, const T* a, const T* b, const GemmDesc& d, T alpha, T beta) {
  if (d.batch <= 0) return;
  auto view = [&](std::int64_t i) {
    return detail::GemmView<T>{c + i * d.stride_c, a + i * d.stride_a, b + i * d.stride_b,
                               d.m, d.n, d.k, d.trans_a, d.trans_b, d.lda, d.ldb, d.ldc};
  };
  const int threads = detail::available_threads();
  const bool across_batch = threads > 1 && d.batch > 1 && d.batch % threads == 0;
  if (across_batch) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads)
#endif
    for (std::int64_t i = 0; i < d.batch; ++i) detail::gemm_one(view(i), alpha, beta, 1);
    return;
  }
  for (std::int64_t i = 0; i < d.batch; ++i) detail::gemm_one(view(i), alpha, beta, threads);
}

// G = scale * F F^T, F (c, m) with row stride ld, G (c, c) packed: the Gram matrix. G is
// symmetric: where that pays, each block row of kGramBlock rows multiplies only its columns from
// the diagonal block on (62.5 % of the work for c = 512), one threaded GEMM per block row, and the
// entries left of each block row's diagonal block are copied from their mirror; g(i, j) and
// g(j, i) are the same products summed in the same order, so G is exactly symmetric either way.
// It paid for c >= 256 with m >= 512 (cpu_gemm_bench BM_gram, 2 threads, Zen 4: 10-14 % less time
// at c = 256-512, m = 961-4096); for shorter m the block rows' separate GEMMs cost more than they
// save (c = 512, m = 256: +10 %; c = 1024, m = 49: 3.5x the full product's time), and for c <= 128
// there is little to save: those run the full product.
template <class T>
void gram(T* g, const T* f, std::int64_t c, std::int64_t m, std::int64_t ld, T scale) {
  constexpr std::int64_t kGramBlock = 128;
  if (c < 2 * kGramBlock || m < 512) {
    GemmDesc d = packed_gemm(c, c, m, false, true);
    d.lda = d.ldb = ld;
    gemm_packed(g, f, f, d, scale, T(0));
    return;
  }
  for (std::int64_t i0 = 0; i0 < c; i0 += kGramBlock) {
    const std::int64_t rows = std::min(kGramBlock, c - i0);
    GemmDesc d = packed_gemm(rows, c - i0, m, false, true);
    d.lda = d.ldb = ld;
    d.ldc = c;
    gemm_packed(g + i0 * c + i0, f + i0 * ld, f + i0 * ld, d, scale, T(0));
  }
  for (std::int64_t i = kGramBlock; i < c; ++i) {
    const std::int64_t diagonal_block = i / kGramBlock * kGramBlock;
    for (std::int64_t j = 0; j < diagonal_block; ++j) g[i * c + j] = g[j * c + i];
  }
}

}  // namespace tinycnn::kernels::cpu
