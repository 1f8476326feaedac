// Fast CPU optimizer updates, SGD and Adam / AdamW, elementwise over n parameters in T with
// torch.optim's semantics and order of operations (see kernels/reference/optim.hpp). The options
// that do not change from element to element are template parameters, so each loop body is
// branch-free and vectorises.
#pragma once

#include <cmath>
#include <cstdint>

#include "tinycnn/kernels/cpu/elementwise.hpp"

namespace tinycnn::kernels::cpu {

namespace detail {

template <bool kDecay, bool kMomentum, bool kFirst, bool kNesterov, class T>
void sgd_loop(T* param, T* buf, const T* grad, std::int64_t n, T lr, T momentum, T dampening,
              T weight_decay) {
  const T keep = T(1) - dampening;
#ifdef _OPENMP
#pragma omp parallel for simd schedule(static) if (n > kElementwiseParallel)
#endif
  for (std::int64_t i = 0; i < n; ++i) {
    T g = grad[i];
    if constexpr (kDecay) g = g + weight_decay * param[i];
    if constexpr (kMomentum) {
      T b;
      if constexpr (kFirst)
        b = g;
      else
        b = momentum * buf[i] + keep * g;
      buf[i] = b;
      if constexpr (kNesterov)
        g = g + momentum * b;
      else
        g = b;
    }
    param[i] = param[i] - lr * g;
  }
}

template <bool kDecay, bool kMomentum, bool kFirst, class T>
void sgd_dispatch(bool nesterov, T* param, T* buf, const T* grad, std::int64_t n, T lr,
                  T momentum, T dampening, T weight_decay) {
  if (nesterov)
    sgd_loop<kDecay, kMomentum, kFirst, true>(param, buf, grad, n, lr, momentum, dampening,
                                              weight_decay);
  else
    sgd_loop<kDecay, kMomentum, kFirst, false>(param, buf, grad, n, lr, momentum, dampening,
                                               weight_decay);
}

template <bool kDecay, class T>
void sgd_dispatch(bool nesterov, bool first_step, T* param, T* buf, const T* grad, std::int64_t n,
                  T lr, T momentum, T dampening, T weight_decay) {
  if (momentum == T(0))
    sgd_loop<kDecay, false, false, false>(param, buf, grad, n, lr, momentum, dampening,
                                          weight_decay);
  else if (first_step)
    sgd_dispatch<kDecay, true, true>(nesterov, param, buf, grad, n, lr, momentum, dampening,
                                     weight_decay);
  else
    sgd_dispatch<kDecay, true, false>(nesterov, param, buf, grad, n, lr, momentum, dampening,
                                      weight_decay);
}

// kDecay: 0 none, 1 L2 (Adam: added to the gradient), 2 decoupled (AdamW: param scaled first).
template <int kDecay, class T>
void adam_loop(T* param, T* exp_avg, T* exp_avg_sq, const T* grad, std::int64_t n, T beta1,
               T beta2, T eps, T weight_decay, T decay, T step_size, T bias_correction2_sqrt) {
  const T keep1 = T(1) - beta1, keep2 = T(1) - beta2;
  // No `simd`: std::sqrt may set errno, and without -fno-math-errno neither GCC 12 nor Clang 14
  // vectorises it (Clang warns when asked to); Adam is memory-bound all the same.
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n > kElementwiseParallel)
#endif
  for (std::int64_t i = 0; i < n; ++i) {
    T p = param[i], g = grad[i];
    if constexpr (kDecay == 1) g = g + weight_decay * p;
    if constexpr (kDecay == 2) p = p * decay;
    const T m = beta1 * exp_avg[i] + keep1 * g;
    const T v = beta2 * exp_avg_sq[i] + keep2 * (g * g);
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    const T denom = std::sqrt(v) / bias_correction2_sqrt + eps;
    param[i] = p - step_size * (m / denom);
  }
}

}  // namespace detail

// One SGD step in place (reference semantics): g = grad + weight_decay * param; with momentum,
// buf = first_step ? g : momentum * buf + (1 - dampening) * g and g = nesterov ? g + momentum *
// buf : buf; param -= lr * g. momentum_buf may be null when momentum == 0.
template <class T>
void sgd_update(T* param, T* momentum_buf, const T* grad, std::int64_t n, T lr, T momentum,
                T dampening, T weight_decay, bool nesterov, bool first_step) {
  if (weight_decay != T(0))
    detail::sgd_dispatch<true>(nesterov, first_step, param, momentum_buf, grad, n, lr, momentum,
                               dampening, weight_decay);
  else
    detail::sgd_dispatch<false>(nesterov, first_step, param, momentum_buf, grad, n, lr, momentum,
                                dampening, weight_decay);
}

// One Adam (decoupled_weight_decay false) or AdamW (true) step in place; step counts from 1.
// The bias corrections are formed in double on the host as Python does (1 - beta^step), then the
// per-element arithmetic runs in T: denom = sqrt(v) / sqrt(bc2) + eps, param -= lr / bc1 * m /
// denom.
template <class T>
void adam_update(T* param, T* exp_avg, T* exp_avg_sq, const T* grad, std::int64_t n, T lr, T beta1,
                 T beta2, T eps, T weight_decay, std::int64_t step, bool decoupled_weight_decay) {
  const double bias_correction1 = 1.0 - std::pow(double(beta1), double(step));
  const double bias_correction2 = 1.0 - std::pow(double(beta2), double(step));
  const T step_size = T(double(lr) / bias_correction1);
  const T bias_correction2_sqrt = T(std::sqrt(bias_correction2));
  const T decay = T(1.0 - double(lr) * double(weight_decay));
  if (decoupled_weight_decay)
    detail::adam_loop<2>(param, exp_avg, exp_avg_sq, grad, n, beta1, beta2, eps, weight_decay,
                         decay, step_size, bias_correction2_sqrt);
  else if (weight_decay != T(0))
    detail::adam_loop<1>(param, exp_avg, exp_avg_sq, grad, n, beta1, beta2, eps, weight_decay,
                         decay, step_size, bias_correction2_sqrt);
  else
    detail::adam_loop<0>(param, exp_avg, exp_avg_sq, grad, n, beta1, beta2, eps, weight_decay,
                         decay, step_size, bias_correction2_sqrt);
}

}  // namespace tinycnn::kernels::cpu
