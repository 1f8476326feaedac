// Style-transfer losses on the CPU: squared error against a target, total variation, dot product
// and L1 norm, OpenMP threads with double accumulation. Conventions as in
// kernels/reference/style.hpp (loss in partial[0]; grad = beta * grad + scale * gradient).
#pragma once

#include <cstdint>

namespace tinycnn::kernels::cpu {

namespace detail {
inline constexpr std::int64_t kStyleParallel = std::int64_t(1) << 15;
}  // namespace detail

template <class T>
void squared_error(T* grad, const T* f, const T* p, std::int64_t n, T scale, T beta, T* partial) {
  double acc = 0;
  const T s2 = scale * T(2);
  if (!grad) {
#ifdef _OPENMP
#pragma omp parallel for simd reduction(+ : acc) schedule(static) if (n > detail::kStyleParallel)
#endif
    for (std::int64_t i = 0; i < n; ++i) {
      const T d = f[i] - p[i];
      acc += double(d) * d;
    }
  } else if (beta == T(0)) {
#ifdef _OPENMP
#pragma omp parallel for simd reduction(+ : acc) schedule(static) if (n > detail::kStyleParallel)
#endif
    for (std::int64_t i = 0; i < n; ++i) {
      const T d = f[i] - p[i];
      acc += double(d) * d;
      grad[i] = s2 * d;
    }
  } else {
#ifdef _OPENMP
#pragma omp parallel for simd reduction(+ : acc) schedule(static) if (n > detail::kStyleParallel)
#endif
    for (std::int64_t i = 0; i < n; ++i) {
      const T d = f[i] - p[i];
      acc += double(d) * d;
      grad[i] = beta * grad[i] + s2 * d;
    }
  }
  partial[0] = T(acc);
}

// Rows of every plane in parallel; each pixel's gradient gathers its four neighbour differences.
template <class T>
void tv_loss(T* grad, const T* x, std::int64_t planes, std::int64_t h, std::int64_t w, T scale,
             T beta, T* partial) {
  double acc = 0;
  const std::int64_t rows = planes * h;
#ifdef _OPENMP
#pragma omp parallel for reduction(+ : acc) schedule(static) if (rows * w > detail::kStyleParallel)
#endif
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int64_t i = r % h;
    const T* row = x + r * w;
    const T* below = i + 1 < h ? row + w : nullptr;
    const T* above = i > 0 ? row - w : nullptr;
    T* g = grad ? grad + r * w : nullptr;
    double racc = 0;
    for (std::int64_t j = 0; j < w; ++j) {
      const T v = row[j];
      T gv = 0;
      if (below) {
        const T d = below[j] - v;
        racc += double(d) * d;
        gv -= T(2) * d;
      }
      if (j + 1 < w) {
        const T d = row[j + 1] - v;
        racc += double(d) * d;
        gv -= T(2) * d;
      }
      if (above) gv += T(2) * (v - above[j]);
      if (j > 0) gv += T(2) * (v - row[j - 1]);
      if (g) g[j] = (beta == T(0) ? T(0) : beta * g[j]) + scale * gv;
    }
    acc += racc;
  }
  partial[0] = T(acc);
}

template <class T>
void dot(T* partial, const T* a, const T* b, std::int64_t n) {
  double acc = 0;
#ifdef _OPENMP
#pragma omp parallel for simd reduction(+ : acc) schedule(static) if (n > detail::kStyleParallel)
#endif
  for (std::int64_t i = 0; i < n; ++i) acc += double(a[i]) * b[i];
  partial[0] = T(acc);
}

template <class T>
void abs_sum(T* partial, const T* a, std::int64_t n) {
  double acc = 0;
#ifdef _OPENMP
#pragma omp parallel for simd reduction(+ : acc) schedule(static) if (n > detail::kStyleParallel)
#endif
  for (std::int64_t i = 0; i < n; ++i) acc += a[i] < T(0) ? -double(a[i]) : double(a[i]);
  partial[0] = T(acc);
}

}  // namespace tinycnn::kernels::cpu
