// 2-D convolution reference (cross-correlation, NCHW input, KCRS filter, NKPQ output): forward,
// backward to the input, backward to the filter and the bias. Direct loops, nothing clever.
#pragma once

#include <cstdint>

#include "tinycnn/kernels/problem.hpp"
#include "tinycnn/kernels/reference/accumulate.hpp"

namespace tinycnn::kernels::reference {

// y(n,k,p,q) = bias(k) + sum_{c,r,s} x(n, c, p*sh - ph + r*dh, q*sw - pw + s*dw) * w(k,c,r,s).
// bias may be null.
template <class T>
void conv2d_forward_reference(T* y, const T* x, const T* w, const T* bias, const Conv2dDesc& d) {
  using Acc = Accumulator<T>;
  const std::int64_t P = d.p(), Q = d.q();
  for (std::int64_t n = 0; n < d.n; ++n)
    for (std::int64_t k = 0; k < d.k; ++k)
      for (std::int64_t p = 0; p < P; ++p)
        for (std::int64_t q = 0; q < Q; ++q) {
          Acc acc = bias ? Acc(bias[k]) : Acc(0);
          for (std::int64_t c = 0; c < d.c; ++c)
            for (std::int64_t r = 0; r < d.r; ++r) {
              const std::int64_t h = p * d.stride_h - d.pad_h + r * d.dilation_h;
              if (h < 0 || h >= d.h) continue;
              for (std::int64_t s = 0; s < d.s; ++s) {
                const std::int64_t wi = q * d.stride_w - d.pad_w + s * d.dilation_w;
                if (wi < 0 || wi >= d.w) continue;
                acc += Acc(x[((n * d.c + c) * d.h + h) * d.w + wi]) *
                       Acc(w[((k * d.c + c) * d.r + r) * d.s + s]);
              }
            }
          y[((n * d.k + k) * P + p) * Q + q] = T(acc);
        }
}

// dx(n,c,h,w) = sum over every (k,p,q,r,s) whose window puts filter tap (r,s) on (h,w).
template <class T>
void conv2d_backward_data_reference(T* dx, const T* dy, const T* w, const Conv2dDesc& d) {
  using Acc = Accumulator<T>;
  const std::int64_t P = d.p(), Q = d.q();
  for (std::int64_t n = 0; n < d.n; ++n)
    for (std::int64_t c = 0; c < d.c; ++c)
      for (std::int64_t h = 0; h < d.h; ++h)
        for (std::int64_t wi = 0; wi < d.w; ++wi) {
          Acc acc = 0;
          for (std::int64_t r = 0; r < d.r; ++r) {
            const std::int64_t ph = h + d.pad_h - r * d.dilation_h;  // = p * stride_h
            if (ph < 0 || ph % d.stride_h) continue;
            const std::int64_t p = ph / d.stride_h;
            if (p >= P) continue;
            for (std::int64_t s = 0; s < d.s; ++s) {
              const std::int64_t qw = wi + d.pad_w - s * d.dilation_w;
              if (qw < 0 || qw % d.stride_w) continue;
              const std::int64_t q = qw / d.stride_w;
              if (q >= Q) continue;
              for (std::int64_t k = 0; k < d.k; ++k)
                acc += Acc(dy[((n * d.k + k) * P + p) * Q + q]) *
                       Acc(w[((k * d.c + c) * d.r + r) * d.s + s]);
            }
          }
          dx[((n * d.c + c) * d.h + h) * d.w + wi] = T(acc);
        }
}

// dw(k,c,r,s) = sum_{n,p,q} dy(n,k,p,q) * x(n, c, p*sh - ph + r*dh, q*sw - pw + s*dw).
template <class T>
void conv2d_backward_filter_reference(T* dw, const T* dy, const T* x, const Conv2dDesc& d) {
  using Acc = Accumulator<T>;
  const std::int64_t P = d.p(), Q = d.q();
  for (std::int64_t k = 0; k < d.k; ++k)
    for (std::int64_t c = 0; c < d.c; ++c)
      for (std::int64_t r = 0; r < d.r; ++r)
        for (std::int64_t s = 0; s < d.s; ++s) {
          Acc acc = 0;
          for (std::int64_t n = 0; n < d.n; ++n)
            for (std::int64_t p = 0; p < P; ++p) {
              const std::int64_t h = p * d.stride_h - d.pad_h + r * d.dilation_h;
              if (h < 0 || h >= d.h) continue;
              for (std::int64_t q = 0; q < Q; ++q) {
                const std::int64_t wi = q * d.stride_w - d.pad_w + s * d.dilation_w;
                if (wi < 0 || wi >= d.w) continue;
                acc += Acc(dy[((n * d.k + k) * P + p) * Q + q]) *
                       Acc(x[((n * d.c + c) * d.h + h) * d.w + wi]);
              }
            }
          dw[((k * d.c + c) * d.r + r) * d.s + s] = T(acc);
        }
}

// db(k) = sum_{n,p,q} dy(n,k,p,q).
template <class T>
void conv2d_backward_bias_reference(T* db, const T* dy, const Conv2dDesc& d) {
  using Acc = Accumulator<T>;
  const std::int64_t PQ = d.p() * d.q();
  for (std::int64_t k = 0; k < d.k; ++k) {
    Acc acc = 0;
    for (std::int64_t n = 0; n < d.n; ++n)
      for (std::int64_t i = 0; i < PQ; ++i) acc += Acc(dy[(n * d.k + k) * PQ + i]);
    db[k] = T(acc);
  }
}

}  // namespace tinycnn::kernels::reference
