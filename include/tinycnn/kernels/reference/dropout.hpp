// Dropout reference without a stored mask: whether element i is kept is a pure function of
// (seed, i) through the counter-based generator of core/random.hpp, so backward recomputes the
// forward's mask, and every device draws the same one.
#pragma once

#include <cstdint>

#include "tinycnn/core/random.hpp"

namespace tinycnn::kernels::reference {

// Element i is kept when uniform01(seed, i) >= p (probability 1 - p), and kept elements are scaled
// by 1 / (1 - p) so the expectation is unchanged. p == 0 keeps all, p == 1 drops all (y = 0).
template <class T>
bool dropout_keep_reference(std::uint64_t seed, std::int64_t i, T p) {
  return T(tinycnn::detail::uniform01(seed, std::uint64_t(i))) >= p;
}

// y = x * mask / (1 - p); y may alias x.
template <class T>
void dropout_forward_reference(T* y, const T* x, std::int64_t n, T p, std::uint64_t seed) {
  const T scale = T(1) / (T(1) - p);
  for (std::int64_t i = 0; i < n; ++i)
    y[i] = dropout_keep_reference(seed, i, p) ? x[i] * scale : T(0);
}

// dx = dy * mask / (1 - p) with the forward's mask (same seed); dx may alias dy.
template <class T>
void dropout_backward_reference(T* dx, const T* dy, std::int64_t n, T p, std::uint64_t seed) {
  dropout_forward_reference(dx, dy, n, p, seed);
}

}  // namespace tinycnn::kernels::reference
