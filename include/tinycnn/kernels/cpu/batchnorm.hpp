// Fast CPU batch normalisation over NCHW (statistics per channel over N, H, W): OpenMP threads over
// channels, each thread reducing its channel in double (float inputs too) and then normalising it
// while the channel is still in cache. Semantics as kernels/reference/batchnorm.hpp.
//
// Dimension letters: x, y, dy, dx (N, C, H, W) with plane = H * W; per-channel vectors (C).
#pragma once

#include <cmath>
#include <cstdint>

#include "tinycnn/kernels/cpu/elementwise.hpp"

namespace tinycnn::kernels::cpu {

namespace detail {

// Sums over one channel of (N, C, plane) data: s1 = sum w, s2 = sum w * d, with d = x - shift and
// w = d (statistics: sum d, sum d^2) or w = dy (backward: sum dy, sum dy * (x - mean)).
// Accumulated in double with SIMD lanes.
template <class T>
void batchnorm_channel_sums(double& s1, double& s2, const T* x, const T* dy, double shift,
                            std::int64_t n, std::int64_t c, std::int64_t j, std::int64_t plane) {
  double a = 0, b = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const T* xr = x + (i * c + j) * plane;
    if (dy) {
      const T* gr = dy + (i * c + j) * plane;
#ifdef _OPENMP
#pragma omp simd reduction(+ : a, b)
#endif
      for (std::int64_t k = 0; k < plane; ++k) {
        const double g = double(gr[k]);
        a += g;
        b += g * (double(xr[k]) - shift);
      }
    } else {
#ifdef _OPENMP
#pragma omp simd reduction(+ : a, b)
#endif
      for (std::int64_t k = 0; k < plane; ++k) {
        const double d = double(xr[k]) - shift;
        a += d;
        b += d * d;
      }
    }
  }
  s1 = a, s2 = b;
}

}  // namespace detail

// Training forward: batch statistics, normalisation, running averages (reference semantics; the
// running statistics are skipped when either pointer is null). Requires n * plane >= 1; y must
// not alias x. Statistics are one pass of sums of (x - shift) and (x - shift)^2 in double, the
// shift being the channel's first value: it removes the mean's magnitude from the sums, so the
// variance E[d^2] - E[d]^2 does not cancel catastrophically when |mean| >> standard deviation.
template <class T>
void batchnorm2d_forward_training(T* y, T* save_mean, T* save_invstd, T* running_mean,
                                  T* running_var, const T* x, const T* gamma, const T* beta,
                                  std::int64_t n, std::int64_t c, std::int64_t plane, T momentum,
                                  T eps) {
  const std::int64_t count = n * plane;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) if (c > 1 && count * c > detail::kElementwiseParallel)
#endif
  for (std::int64_t j = 0; j < c; ++j) {
    const double shift = double(x[j * plane]);
    double s1, s2;
    detail::batchnorm_channel_sums<T>(s1, s2, x, nullptr, shift, n, c, j, plane);
    const double mean_d = s1 / double(count);
    const double var_raw = s2 / double(count) - mean_d * mean_d;
    const double var = var_raw > 0 ? var_raw : 0.0;
    const double mean = shift + mean_d;
    const double invstd = 1.0 / std::sqrt(var + double(eps));
    save_mean[j] = T(mean);
    save_invstd[j] = T(invstd);
    if (running_mean && running_var) {
      const double unbiased = count > 1 ? var * double(count) / double(count - 1) : var;
      const double m = double(momentum);
      running_mean[j] = T((1.0 - m) * double(running_mean[j]) + m * mean);
      running_var[j] = T((1.0 - m) * double(running_var[j]) + m * unbiased);
    }
    const T mean_t = T(mean), scale = T(double(gamma[j]) * invstd), shift_t = beta[j];
    for (std::int64_t i = 0; i < n; ++i) {
      const T* xr = x + (i * c + j) * plane;
      T* yr = y + (i * c + j) * plane;
#ifdef _OPENMP
#pragma omp simd
#endif
      for (std::int64_t k = 0; k < plane; ++k) yr[k] = (xr[k] - mean_t) * scale + shift_t;
    }
  }
}

// Inference forward with the running statistics; threads over the N * C planes.
template <class T>
void batchnorm2d_forward_inference(T* y, const T* x, const T* gamma, const T* beta,
                                   const T* running_mean, const T* running_var, std::int64_t n,
                                   std::int64_t c, std::int64_t plane, T eps) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n * c * plane > detail::kElementwiseParallel)
#endif
  for (std::int64_t nc = 0; nc < n * c; ++nc) {
    const std::int64_t j = nc % c;
    const T mean = running_mean[j], shift = beta[j];
    const T scale = T(double(gamma[j]) / std::sqrt(double(running_var[j]) + double(eps)));
    const T* xr = x + nc * plane;
    T* yr = y + nc * plane;
#ifdef _OPENMP
#pragma omp simd
#endif
    for (std::int64_t k = 0; k < plane; ++k) yr[k] = (xr[k] - mean) * scale + shift;
  }
}

// Training-mode backward (reference semantics): dbeta = sum dy, dgamma = sum dy * xhat,
// dx = gamma * invstd * (dy - dbeta / count - xhat * dgamma / count). dx must not alias dy or x.
template <class T>
void batchnorm2d_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const T* gamma,
                          const T* save_mean, const T* save_invstd, std::int64_t n,
                          std::int64_t c, std::int64_t plane) {
  const double count = double(n * plane);
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) if (c > 1 && n * plane * c > detail::kElementwiseParallel)
#endif
  for (std::int64_t j = 0; j < c; ++j) {
    const double mean = double(save_mean[j]), invstd = double(save_invstd[j]);
    double sum_dy, sum_dy_centered;
    detail::batchnorm_channel_sums(sum_dy, sum_dy_centered, x, dy, mean, n, c, j, plane);
    const double sum_dy_xhat = sum_dy_centered * invstd;
    dgamma[j] = T(sum_dy_xhat);
    dbeta[j] = T(sum_dy);
    // dx = a * ((dy - mean_dy) - (x - mean) * b), the constants rounded to T once per channel.
    const T a = T(double(gamma[j]) * invstd), mean_dy = T(sum_dy / count);
    const T b = T(invstd * sum_dy_xhat / count), mean_t = T(mean);
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t off = (i * c + j) * plane;
      const T *xr = x + off, *gr = dy + off;
      T* dr = dx + off;
#ifdef _OPENMP
#pragma omp simd
#endif
      for (std::int64_t k = 0; k < plane; ++k)
        dr[k] = a * ((gr[k] - mean_dy) - (xr[k] - mean_t) * b);
    }
  }
}

}  // namespace tinycnn::kernels::cpu
