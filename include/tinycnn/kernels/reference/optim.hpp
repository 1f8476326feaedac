// Optimizer update references: SGD (momentum, dampening, Nesterov, weight decay) and Adam / AdamW,
// elementwise over n parameters with torch.optim's semantics and order of operations (torch 1.13
// _single_tensor_sgd / _single_tensor_adam / _single_tensor_adamw). Computed in double.
#pragma once

#include <cmath>
#include <cstdint>

#include "tinycnn/kernels/reference/accumulate.hpp"

namespace tinycnn::kernels::reference {

// One SGD step, in place on param (and momentum_buf):
//   g = grad + weight_decay * param
//   momentum != 0: buf = first_step ? g : momentum * buf + (1 - dampening) * g
//                  g = nesterov ? g + momentum * buf : buf
//   param -= lr * g
// momentum_buf may be null when momentum == 0 (it is neither read nor written then); with
// first_step its old contents are not read (PyTorch creates the buffer as a copy of g).
template <class T>
void sgd_update_reference(T* param, T* momentum_buf, const T* grad, std::int64_t n, T lr,
                          T momentum, T dampening, T weight_decay, bool nesterov,
                          bool first_step) {
  using Acc = Accumulator<T>;
  for (std::int64_t i = 0; i < n; ++i) {
    Acc g = grad[i];
    if (weight_decay != T(0)) g += Acc(weight_decay) * Acc(param[i]);
    if (momentum != T(0)) {
      const Acc buf = first_step ? g
                                 : Acc(momentum) * Acc(momentum_buf[i]) +
                                       (Acc(1) - Acc(dampening)) * g;
      momentum_buf[i] = T(buf);
      g = nesterov ? g + Acc(momentum) * buf : buf;
    }
    param[i] = T(Acc(param[i]) - Acc(lr) * g);
  }
}

// One Adam step (decoupled_weight_decay false) or AdamW step (true), in place on param, exp_avg
// and exp_avg_sq; step counts from 1 (the first call has step 1; step < 1 is invalid).
//   Adam:  g = grad + weight_decay * param        AdamW: param *= 1 - lr * weight_decay; g = grad
//   m = beta1 * m + (1 - beta1) * g,  v = beta2 * v + (1 - beta2) * g^2
//   param -= lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)
// which is lr * m_hat / (sqrt(v_hat) + eps), with PyTorch's placement of eps.
template <class T>
void adam_update_reference(T* param, T* exp_avg, T* exp_avg_sq, const T* grad, std::int64_t n,
                           T lr, T beta1, T beta2, T eps, T weight_decay, std::int64_t step,
                           bool decoupled_weight_decay) {
  using Acc = Accumulator<T>;
  const Acc bias_correction1 = Acc(1) - std::pow(Acc(beta1), Acc(step));
  const Acc bias_correction2 = Acc(1) - std::pow(Acc(beta2), Acc(step));
  const Acc step_size = Acc(lr) / bias_correction1;
  const Acc bias_correction2_sqrt = std::sqrt(bias_correction2);
  const Acc decay = Acc(1) - Acc(lr) * Acc(weight_decay);
  for (std::int64_t i = 0; i < n; ++i) {
    Acc p = param[i], g = grad[i];
    if (decoupled_weight_decay)
      p *= decay;
    else if (weight_decay != T(0))
      g += Acc(weight_decay) * p;
    const Acc m = Acc(beta1) * Acc(exp_avg[i]) + (Acc(1) - Acc(beta1)) * g;
    const Acc v = Acc(beta2) * Acc(exp_avg_sq[i]) + (Acc(1) - Acc(beta2)) * g * g;
    const Acc denom = std::sqrt(v) / bias_correction2_sqrt + Acc(eps);
    exp_avg[i] = T(m);
    exp_avg_sq[i] = T(v);
    param[i] = T(p - step_size * (m / denom));
  }
}

}  // namespace tinycnn::kernels::reference
