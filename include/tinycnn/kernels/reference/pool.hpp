// Pooling reference: max and average 2-D pooling (PyTorch's window and divisor rules), forward and
// backward, and global average pooling.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>

#include "tinycnn/kernels/problem.hpp"
#include "tinycnn/kernels/reference/accumulate.hpp"

namespace tinycnn::kernels::reference {

// y = max over the window (padding never wins). argmax, when not null, receives for each output
// the index h*W + w of the winning input within its (n, c) plane; ties go to the first in row
// order. positive_only: a window whose maximum is not positive (0 or NaN) gets argmax -1, so
// backward gives its gradient to no input: the input gradient is then zero wherever the input is
// not positive, which is what a ReLU in front would make of it (nn::Sequential folds that ReLU's
// backward into the pooling's this way).
template <class T>
void max_pool2d_forward_reference(T* y, std::int32_t* argmax, const T* x, const Pool2dDesc& d,
                                  bool positive_only = false) {
  const std::int64_t P = d.p(), Q = d.q();
  for (std::int64_t nc = 0; nc < d.n * d.c; ++nc) {
    const T* plane = x + nc * d.h * d.w;
    for (std::int64_t p = 0; p < P; ++p)
      for (std::int64_t q = 0; q < Q; ++q) {
        const std::int64_t h0 = p * d.stride_h - d.pad_h, w0 = q * d.stride_w - d.pad_w;
        T best = -std::numeric_limits<T>::infinity();
        std::int64_t best_i = -1;
        for (std::int64_t h = std::max<std::int64_t>(h0, 0); h < std::min(h0 + d.kernel_h, d.h); ++h)
          for (std::int64_t w = std::max<std::int64_t>(w0, 0); w < std::min(w0 + d.kernel_w, d.w);
               ++w) {
            const T v = plane[h * d.w + w];
            // The first NaN wins and stays, as in PyTorch.
            if (best_i < 0 || v > best || (v != v && best == best)) best = v, best_i = h * d.w + w;
          }
        y[(nc * P + p) * Q + q] = best;
        if (positive_only && !(best > T(0))) best_i = -1;
        if (argmax) argmax[(nc * P + p) * Q + q] = std::int32_t(best_i);
      }
  }
}

// dx = 0, then each dy goes to the input its window's argmax names.
template <class T>
void max_pool2d_backward_reference(T* dx, const T* dy, const std::int32_t* argmax,
                                   const Pool2dDesc& d) {
  const std::int64_t P = d.p(), Q = d.q(), HW = d.h * d.w;
  std::fill(dx, dx + d.n * d.c * HW, T(0));
  for (std::int64_t nc = 0; nc < d.n * d.c; ++nc)
    for (std::int64_t i = 0; i < P * Q; ++i) {
      const std::int32_t a = argmax[nc * P * Q + i];
      if (a >= 0) dx[nc * HW + a] += dy[nc * P * Q + i];
    }
}

template <class T>
void avg_pool2d_forward_reference(T* y, const T* x, const Pool2dDesc& d) {
  using Acc = Accumulator<T>;
  const std::int64_t P = d.p(), Q = d.q();
  for (std::int64_t nc = 0; nc < d.n * d.c; ++nc)
    for (std::int64_t p = 0; p < P; ++p)
      for (std::int64_t q = 0; q < Q; ++q) {
        const auto win = d.window(p, q);
        Acc acc = 0;
        for (std::int64_t h = win.h0; h < win.h1; ++h)
          for (std::int64_t w = win.w0; w < win.w1; ++w) acc += Acc(x[(nc * d.h + h) * d.w + w]);
        y[(nc * P + p) * Q + q] = T(acc / Acc(win.divisor));
      }
}

template <class T>
void avg_pool2d_backward_reference(T* dx, const T* dy, const Pool2dDesc& d) {
  const std::int64_t P = d.p(), Q = d.q();
  std::fill(dx, dx + d.n * d.c * d.h * d.w, T(0));
  for (std::int64_t nc = 0; nc < d.n * d.c; ++nc)
    for (std::int64_t p = 0; p < P; ++p)
      for (std::int64_t q = 0; q < Q; ++q) {
        const auto win = d.window(p, q);
        const T g = dy[(nc * P + p) * Q + q] / T(win.divisor);
        for (std::int64_t h = win.h0; h < win.h1; ++h)
          for (std::int64_t w = win.w0; w < win.w1; ++w) dx[(nc * d.h + h) * d.w + w] += g;
      }
}

// y(n,c) = mean over the (H, W) plane; planes = N*C, plane = H*W.
template <class T>
void global_avg_pool2d_forward_reference(T* y, const T* x, std::int64_t planes,
                                         std::int64_t plane) {
  using Acc = Accumulator<T>;
  for (std::int64_t i = 0; i < planes; ++i) {
    Acc acc = 0;
    for (std::int64_t j = 0; j < plane; ++j) acc += Acc(x[i * plane + j]);
    y[i] = T(acc / Acc(plane));
  }
}

template <class T>
void global_avg_pool2d_backward_reference(T* dx, const T* dy, std::int64_t planes,
                                          std::int64_t plane) {
  for (std::int64_t i = 0; i < planes; ++i)
    for (std::int64_t j = 0; j < plane; ++j) dx[i * plane + j] = dy[i] / T(plane);
}

}  // namespace tinycnn::kernels::reference
