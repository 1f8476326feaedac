// Fast CPU reductions (sum, mean, sum of squares, max) and the Gram matrix. Float inputs are summed
// in double, in per-thread blocks, so long sums stay accurate to float rounding of the result.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "tinycnn/kernels/cpu/gemm.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace tinycnn::kernels::cpu {

namespace detail {

inline constexpr std::int64_t kReduceParallel = std::int64_t(1) << 16;

// The sum accumulator: double for any floating T (as the reference's), T otherwise.
template <class T>
using ReduceAcc = std::conditional_t<std::is_floating_point_v<T>, double, T>;

// sum_i f(x(i)) in ReduceAcc: each thread sums its contiguous block with SIMD lanes (a blocked,
// partly pairwise order whose rounding error grows far slower than a sequential sum's).
template <class T, class F>
ReduceAcc<T> reduce_sum(const T* x, std::int64_t n, F f) {
  ReduceAcc<T> acc = 0;
#ifdef _OPENMP
#pragma omp parallel for simd schedule(static) reduction(+ : acc) if (n > kReduceParallel)
#endif
  for (std::int64_t i = 0; i < n; ++i) acc += f(ReduceAcc<T>(x[i]));
  return acc;
}

}  // namespace detail

template <class T>
T sum(const T* x, std::int64_t n) {
  return T(detail::reduce_sum(x, n, [](auto v) { return v; }));
}

// The reference's rounding: the sum is rounded to T before the division.
template <class T>
T mean(const T* x, std::int64_t n) {
  using Acc = detail::ReduceAcc<T>;
  return n ? T(Acc(sum(x, n)) / Acc(n)) : T(0);
}

template <class T>
T sum_squares(const T* x, std::int64_t n) {
  return T(detail::reduce_sum(x, n, [](auto v) { return v * v; }));
}

// Maximum of n >= 1 elements with the reference's rule (m = x > m ? x : m from m = x(0)): a NaN
// in x(0) is the answer; any later NaN is never chosen; among equal values the first wins. Threads
// take contiguous blocks and their results are combined in block order, which keeps that rule.
template <class T>
T max(const T* x, std::int64_t n) {
  if (!(x[0] == x[0])) return x[0];
  constexpr int kMaxTeam = 256;
  [[maybe_unused]] const int team = n > detail::kReduceParallel ? std::min(detail::available_threads(), kMaxTeam) : 1;
  T best[kMaxTeam];
  bool found[kMaxTeam] = {};
  auto block_max = [&](int id, int parts) {
    std::int64_t lo, hi;
    detail::split_range(n, 1, parts, id, lo, hi);
    T m = x[0];
    bool any = false;
    for (std::int64_t i = lo; i < hi; ++i) {
      const T v = x[i];
      if (v == v && (!any || v > m)) m = v, any = true;
    }
    best[id] = m, found[id] = any;
  };
  int parts = 1;
#ifdef _OPENMP
  if (team > 1) {
#pragma omp parallel num_threads(team)
    {
#pragma omp single
      parts = omp_get_num_threads();
      block_max(omp_get_thread_num(), parts);
    }
  } else {
    block_max(0, 1);
  }
#else
  block_max(0, 1);
#endif
  T m = x[0];
  for (int i = 0; i < parts; ++i)
    if (found[i] && best[i] > m) m = best[i];
  return m;
}

// G(C, C) = scale * F F^T for features F(C, M), as one packed GEMM (F times F transposed).
template <class T>
void gram(T* g, const T* f, std::int64_t c, std::int64_t m, T scale) {
  GemmDesc d;
  d.m = c, d.n = c, d.k = m, d.trans_a = false, d.trans_b = true, d.lda = m, d.ldb = m, d.ldc = c;
  gemm_packed(g, f, f, d, scale, T(0));
}

}  // namespace tinycnn::kernels::cpu
