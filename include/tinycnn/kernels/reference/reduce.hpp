// Reductions and the Gram matrix, reference versions.
#pragma once

#include <cstdint>

#include "tinycnn/kernels/reference/accumulate.hpp"

namespace tinycnn::kernels::reference {

template <class T>
T sum_reference(const T* x, std::int64_t n) {
  Accumulator<T> acc = 0;
  for (std::int64_t i = 0; i < n; ++i) acc += x[i];
  return T(acc);
}

template <class T>
T mean_reference(const T* x, std::int64_t n) {
  return n ? T(Accumulator<T>(sum_reference(x, n)) / Accumulator<T>(n)) : T(0);
}

template <class T>
T sum_squares_reference(const T* x, std::int64_t n) {
  Accumulator<T> acc = 0;
  for (std::int64_t i = 0; i < n; ++i) acc += Accumulator<T>(x[i]) * x[i];
  return T(acc);
}

// Maximum of n >= 1 elements.
template <class T>
T max_reference(const T* x, std::int64_t n) {
  T m = x[0];
  for (std::int64_t i = 1; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

// G(C, C) = scale * F * F^T for features F(C, M) (one image's C channels of M = H*W pixels).
template <class T>
void gram_reference(T* g, const T* f, std::int64_t c, std::int64_t m, T scale) {
  for (std::int64_t i = 0; i < c; ++i)
    for (std::int64_t j = 0; j < c; ++j) {
      Accumulator<T> acc = 0;
      for (std::int64_t l = 0; l < m; ++l) acc += Accumulator<T>(f[i * m + l]) * f[j * m + l];
      g[i * c + j] = T(acc * scale);
    }
}

}  // namespace tinycnn::kernels::reference
