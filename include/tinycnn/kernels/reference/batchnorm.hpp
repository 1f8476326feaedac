// Batch normalisation references over NCHW: statistics per channel over (N, H, W), PyTorch's
// BatchNorm2d semantics in training (batch statistics, running averages) and inference.
//
// Dimension letters: x, y, dy, dx (N, C, H, W) with plane = H * W; gamma, beta, running_mean,
// running_var, save_mean, save_invstd, dgamma, dbeta (C). count = N * plane values per channel.
#pragma once

#include <cmath>
#include <cstdint>

#include "tinycnn/kernels/reference/accumulate.hpp"

namespace tinycnn::kernels::reference {

// y = (x - mean) / sqrt(var + eps) * gamma + beta with the channel's batch mean and biased
// variance; save_mean = mean, save_invstd = 1 / sqrt(var + eps) (what backward needs). When
// running_mean and running_var are not null they become (1 - momentum) * running + momentum *
// batch statistic, the variance unbiased (var * count / (count - 1)); with count == 1 that is
// undefined (PyTorch refuses to train on one value per channel) and the biased variance 0 is
// used. Requires count >= 1; y must not alias x.
template <class T>
void batchnorm2d_forward_training_reference(T* y, T* save_mean, T* save_invstd, T* running_mean,
                                            T* running_var, const T* x, const T* gamma,
                                            const T* beta, std::int64_t n, std::int64_t c,
                                            std::int64_t plane, T momentum, T eps) {
  using Acc = Accumulator<T>;
  const std::int64_t count = n * plane;
  for (std::int64_t j = 0; j < c; ++j) {
    // Two passes (mean, then squared deviations from it): no cancellation in the variance.
    Acc sum = 0;
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t k = 0; k < plane; ++k) sum += x[(i * c + j) * plane + k];
    const Acc mean = sum / Acc(count);
    Acc sq = 0;
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t k = 0; k < plane; ++k) {
        const Acc d = Acc(x[(i * c + j) * plane + k]) - mean;
        sq += d * d;
      }
    const Acc var = sq / Acc(count);
    const Acc invstd = Acc(1) / std::sqrt(var + Acc(eps));
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t k = 0; k < plane; ++k) {
        const std::int64_t e = (i * c + j) * plane + k;
        y[e] = T((Acc(x[e]) - mean) * invstd * Acc(gamma[j]) + Acc(beta[j]));
      }
    save_mean[j] = T(mean);
    save_invstd[j] = T(invstd);
    if (running_mean && running_var) {
      const Acc unbiased = count > 1 ? var * Acc(count) / Acc(count - 1) : var;
      running_mean[j] = T((Acc(1) - Acc(momentum)) * Acc(running_mean[j]) + Acc(momentum) * mean);
      running_var[j] =
          T((Acc(1) - Acc(momentum)) * Acc(running_var[j]) + Acc(momentum) * unbiased);
    }
  }
}

// y = (x - running_mean) / sqrt(running_var + eps) * gamma + beta (evaluation mode).
template <class T>
void batchnorm2d_forward_inference_reference(T* y, const T* x, const T* gamma, const T* beta,
                                             const T* running_mean, const T* running_var,
                                             std::int64_t n, std::int64_t c, std::int64_t plane,
                                             T eps) {
  using Acc = Accumulator<T>;
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < c; ++j) {
      const Acc invstd = Acc(1) / std::sqrt(Acc(running_var[j]) + Acc(eps));
      for (std::int64_t k = 0; k < plane; ++k) {
        const std::int64_t e = (i * c + j) * plane + k;
        y[e] = T((Acc(x[e]) - Acc(running_mean[j])) * invstd * Acc(gamma[j]) + Acc(beta[j]));
      }
    }
}

// Training-mode backward, through the batch statistics, from what the forward pass saved. With
// xhat = (x - mean) * invstd:
//   dbeta = sum dy,  dgamma = sum dy * xhat  (over N, H, W; overwritten, not accumulated)
//   dx = gamma * invstd * (dy - dbeta / count - xhat * dgamma / count)
// dx must not alias dy or x.
template <class T>
void batchnorm2d_backward_reference(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x,
                                    const T* gamma, const T* save_mean, const T* save_invstd,
                                    std::int64_t n, std::int64_t c, std::int64_t plane) {
  using Acc = Accumulator<T>;
  const Acc count = Acc(n * plane);
  for (std::int64_t j = 0; j < c; ++j) {
    const Acc mean = save_mean[j], invstd = save_invstd[j];
    Acc sum_dy = 0, sum_dy_xhat = 0;
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t k = 0; k < plane; ++k) {
        const std::int64_t e = (i * c + j) * plane + k;
        sum_dy += Acc(dy[e]);
        sum_dy_xhat += Acc(dy[e]) * (Acc(x[e]) - mean) * invstd;
      }
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t k = 0; k < plane; ++k) {
        const std::int64_t e = (i * c + j) * plane + k;
        const Acc xhat = (Acc(x[e]) - mean) * invstd;
        dx[e] = T(Acc(gamma[j]) * invstd *
                  (Acc(dy[e]) - sum_dy / count - xhat * sum_dy_xhat / count));
      }
    dgamma[j] = T(sum_dy_xhat);
    dbeta[j] = T(sum_dy);
  }
}

}  // namespace tinycnn::kernels::reference
