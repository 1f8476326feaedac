// Fast CPU pooling: max and average 2-D pooling (PyTorch's window, ceil_mode and divisor rules, as
// in the reference) and global average pooling; OpenMP threads over (n, c) planes.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>

#include "tinycnn/kernels/problem.hpp"
#include "tinycnn/kernels/reference/accumulate.hpp"

namespace tinycnn::kernels::cpu {

// Planes are independent in every pooling pass, forward and backward (argmax indexes within its
// own plane), so threads split planes and never write the same element.
namespace detail {
inline constexpr std::int64_t kPoolParallelWork = 32768;
}

// y = max over the window; argmax (may be null) gets h*W + w of the winner within its plane, the
// first in row order on ties; a NaN wins and stays. positive_only: -1 for windows whose maximum is
// not positive (as in the reference: a ReLU's backward folded into the pooling's).
template <class T>
void max_pool2d_forward(T* y, std::int32_t* argmax, const T* x, const Pool2dDesc& d,
                        bool positive_only = false) {
  const std::int64_t P = d.p(), Q = d.q(), planes = d.n * d.c;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (planes * P * Q * d.kernel_h * d.kernel_w > detail::kPoolParallelWork)
#endif
  for (std::int64_t nc = 0; nc < planes; ++nc) {
    const T* plane = x + nc * d.h * d.w;
    for (std::int64_t p = 0; p < P; ++p) {
      const std::int64_t h0 = p * d.stride_h - d.pad_h;
      const std::int64_t hb = std::max<std::int64_t>(h0, 0), he = std::min(h0 + d.kernel_h, d.h);
      for (std::int64_t q = 0; q < Q; ++q) {
        const std::int64_t w0 = q * d.stride_w - d.pad_w;
        const std::int64_t wb = std::max<std::int64_t>(w0, 0), we = std::min(w0 + d.kernel_w, d.w);
        T best = -std::numeric_limits<T>::infinity();
        std::int64_t best_i = -1;
        for (std::int64_t h = hb; h < he; ++h)
          for (std::int64_t w = wb; w < we; ++w) {
            const T v = plane[h * d.w + w];
            if (best_i < 0 || v > best || (v != v && best == best)) best = v, best_i = h * d.w + w;
          }
        y[(nc * P + p) * Q + q] = best;
        if (positive_only && !(best > T(0))) best_i = -1;
        if (argmax) argmax[(nc * P + p) * Q + q] = std::int32_t(best_i);
      }
    }
  }
}

// dx = 0, then each dy is added to the input its window's argmax names.
template <class T>
void max_pool2d_backward(T* dx, const T* dy, const std::int32_t* argmax, const Pool2dDesc& d) {
  const std::int64_t PQ = d.p() * d.q(), HW = d.h * d.w, planes = d.n * d.c;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (planes * (HW + PQ) > detail::kPoolParallelWork)
#endif
  for (std::int64_t nc = 0; nc < planes; ++nc) {
    T* dplane = dx + nc * HW;
    std::fill(dplane, dplane + HW, T(0));
    const std::int32_t* am = argmax + nc * PQ;
    const T* g = dy + nc * PQ;
    for (std::int64_t i = 0; i < PQ; ++i)
      if (am[i] >= 0) dplane[am[i]] += g[i];
  }
}

// y = window sum / divisor, summed in the reference's accumulator type (double for float).
template <class T>
void avg_pool2d_forward(T* y, const T* x, const Pool2dDesc& d) {
  using Acc = reference::Accumulator<T>;
  const std::int64_t P = d.p(), Q = d.q(), planes = d.n * d.c;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (planes * P * Q * d.kernel_h * d.kernel_w > detail::kPoolParallelWork)
#endif
  for (std::int64_t nc = 0; nc < planes; ++nc) {
    const T* plane = x + nc * d.h * d.w;
    for (std::int64_t p = 0; p < P; ++p)
      for (std::int64_t q = 0; q < Q; ++q) {
        const auto win = d.window(p, q);
        Acc acc = 0;
        for (std::int64_t h = win.h0; h < win.h1; ++h)
          for (std::int64_t w = win.w0; w < win.w1; ++w) acc += Acc(plane[h * d.w + w]);
        y[(nc * P + p) * Q + q] = T(acc / Acc(win.divisor));
      }
  }
}

// dx = 0, then each dy / divisor is spread over its window.
template <class T>
void avg_pool2d_backward(T* dx, const T* dy, const Pool2dDesc& d) {
  const std::int64_t P = d.p(), Q = d.q(), HW = d.h * d.w, planes = d.n * d.c;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (planes * (HW + P * Q * d.kernel_h * d.kernel_w) > detail::kPoolParallelWork)
#endif
  for (std::int64_t nc = 0; nc < planes; ++nc) {
    T* dplane = dx + nc * HW;
    std::fill(dplane, dplane + HW, T(0));
    for (std::int64_t p = 0; p < P; ++p)
      for (std::int64_t q = 0; q < Q; ++q) {
        const auto win = d.window(p, q);
        const T g = dy[(nc * P + p) * Q + q] / T(win.divisor);
        for (std::int64_t h = win.h0; h < win.h1; ++h)
          for (std::int64_t w = win.w0; w < win.w1; ++w) dplane[h * d.w + w] += g;
      }
  }
}

// y(i) = mean of plane i; planes = N*C, plane = H*W. Summed in double for float.
template <class T>
void global_avg_pool2d_forward(T* y, const T* x, std::int64_t planes, std::int64_t plane) {
  using Acc = reference::Accumulator<T>;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (planes * plane > detail::kPoolParallelWork)
#endif
  for (std::int64_t i = 0; i < planes; ++i) {
    const T* src = x + i * plane;
    Acc acc = 0;
#ifdef _OPENMP
#pragma omp simd reduction(+ : acc)
#endif
    for (std::int64_t j = 0; j < plane; ++j) acc += Acc(src[j]);
    y[i] = T(acc / Acc(plane));
  }
}

template <class T>
void global_avg_pool2d_backward(T* dx, const T* dy, std::int64_t planes, std::int64_t plane) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (planes * plane > detail::kPoolParallelWork)
#endif
  for (std::int64_t i = 0; i < planes; ++i) {
    const T g = dy[i] / T(plane);
    std::fill(dx + i * plane, dx + (i + 1) * plane, g);
  }
}

}  // namespace tinycnn::kernels::cpu
