// Fast CPU elementwise kernels over n contiguous elements: ReLU forward/backward, per-channel bias,
// add, scale, axpy. Loops the compiler vectorises; OpenMP threads once n is large enough.
#pragma once

#include <cstdint>

namespace tinycnn::kernels::cpu {

namespace detail {
// Below this many elements a thread team costs more than the memory traffic it would share.
inline constexpr std::int64_t kElementwiseParallel = std::int64_t(1) << 16;
}  // namespace detail

// y = max(x, 0); y may alias x.
template <class T>
void relu_forward(T* y, const T* x, std::int64_t n) {
#ifdef _OPENMP
#pragma omp parallel for simd schedule(static) if (n > detail::kElementwiseParallel)
#endif
  for (std::int64_t i = 0; i < n; ++i) y[i] = x[i] > T(0) ? x[i] : T(0);
}

// dx = dy where the forward output y was positive, else 0; dx may alias dy.
template <class T>
void relu_backward(T* dx, const T* dy, const T* y, std::int64_t n) {
#ifdef _OPENMP
#pragma omp parallel for simd schedule(static) if (n > detail::kElementwiseParallel)
#endif
  for (std::int64_t i = 0; i < n; ++i) dx[i] = y[i] > T(0) ? dy[i] : T(0);
}

// y(n, c, i) += bias(c) for an (N, C, plane) tensor; threads over (n, c) planes.
template <class T>
void bias_add(T* y, const T* bias, std::int64_t n, std::int64_t c, std::int64_t plane) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n * c * plane > detail::kElementwiseParallel)
#endif
  for (std::int64_t nc = 0; nc < n * c; ++nc) {
    const T b = bias[nc % c];
    T* row = y + nc * plane;
#ifdef _OPENMP
#pragma omp simd
#endif
    for (std::int64_t i = 0; i < plane; ++i) row[i] += b;
  }
}

// y = a + b; y may alias a or b.
template <class T>
void add(T* y, const T* a, const T* b, std::int64_t n) {
#ifdef _OPENMP
#pragma omp parallel for simd schedule(static) if (n > detail::kElementwiseParallel)
#endif
  for (std::int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

// y = alpha * x; y may alias x.
template <class T>
void scale(T* y, const T* x, T alpha, std::int64_t n) {
#ifdef _OPENMP
#pragma omp parallel for simd schedule(static) if (n > detail::kElementwiseParallel)
#endif
  for (std::int64_t i = 0; i < n; ++i) y[i] = alpha * x[i];
}

// y += alpha * x.
template <class T>
void axpy(T* y, T alpha, const T* x, std::int64_t n) {
#ifdef _OPENMP
#pragma omp parallel for simd schedule(static) if (n > detail::kElementwiseParallel)
#endif
  for (std::int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

}  // namespace tinycnn::kernels::cpu
