// Optimizer updates on CUDA, SGD and Adam / AdamW, elementwise over n parameters in place, with
// torch.optim's semantics and order of operations (see kernels/reference/optim.hpp). Memory-bound:
// a grid-stride loop over 16-byte packets of the parameter, its state and its gradient.
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

#include <cuda_runtime.h>

#include "tinycnn/kernels/cuda/launch.cuh"

namespace tinycnn::kernels::cuda {
namespace detail {

// SGD on one element; the options fixed for a launch are template parameters (no branches).
template <class T, bool kDecay, bool kMomentum, bool kFirst, bool kNesterov>
struct SgdOp {
  static constexpr int kStates = kMomentum ? 1 : 0;
  T lr, momentum, keep, weight_decay;  // keep = 1 - dampening
  __device__ void operator()(T& param, T& buf, T&, T grad) const {
    T g = grad;
    if constexpr (kDecay) g = g + weight_decay * param;
    if constexpr (kMomentum) {
      if constexpr (kFirst)
        buf = g;
      else
        buf = momentum * buf + keep * g;
      if constexpr (kNesterov)
        g = g + momentum * buf;
      else
        g = buf;
    }
    param = param - lr * g;
  }
};

// Adam (kDecay 1: L2 added to the gradient) or AdamW (kDecay 2: param scaled first), or neither.
template <class T, int kDecay>
struct AdamOp {
  static constexpr int kStates = 2;
  T beta1, beta2, keep1, keep2, eps, weight_decay, decay, step_size, bias_correction2_sqrt;
  __device__ void operator()(T& param, T& m, T& v, T grad) const {
    T g = grad;
    if constexpr (kDecay == 1) g = g + weight_decay * param;
    if constexpr (kDecay == 2) param = param * decay;
    m = beta1 * m + keep1 * g;
    v = beta2 * v + keep2 * (g * g);
    const T denom = sqrt(v) / bias_correction2_sqrt + eps;
    param = param - step_size * (m / denom);
  }
};

// op(param(i), state1(i), state2(i), grad(i)) in place for i < n; Op::kStates of the two state
// arrays are read and written. Grid-stride loop: thread t takes 16-byte packets t, t + T, ... of
// every array (all when every pointer is aligned, none otherwise), then single elements of the
// tail the same way.
template <class T, class Op>
__global__ void optimizer_packet_grid_stride_kernel(T* __restrict__ param, T* __restrict__ state1,
                                                    T* __restrict__ state2,
                                                    const T* __restrict__ grad, std::int64_t n,
                                                    std::int64_t packets, Op op) {
  using P = Packet<T>;
  const std::int64_t first = grid_thread_index(), stride = grid_thread_count();
  for (std::int64_t i = first; i < packets; i += stride) {
    P p = reinterpret_cast<const P*>(param)[i], s1, s2;
    const P g = reinterpret_cast<const P*>(grad)[i];
    if constexpr (Op::kStates >= 1) s1 = reinterpret_cast<const P*>(state1)[i];
    if constexpr (Op::kStates >= 2) s2 = reinterpret_cast<const P*>(state2)[i];
#pragma unroll
    for (int k = 0; k < P::kSize; ++k) op(p.v[k], s1.v[k], s2.v[k], g.v[k]);
    reinterpret_cast<P*>(param)[i] = p;
    if constexpr (Op::kStates >= 1) reinterpret_cast<P*>(state1)[i] = s1;
    if constexpr (Op::kStates >= 2) reinterpret_cast<P*>(state2)[i] = s2;
  }
  for (std::int64_t i = packets * P::kSize + first; i < n; i += stride) {
    T p = param[i], s1 = T(0), s2 = T(0);
    if constexpr (Op::kStates >= 1) s1 = state1[i];
    if constexpr (Op::kStates >= 2) s2 = state2[i];
    op(p, s1, s2, grad[i]);
    param[i] = p;
    if constexpr (Op::kStates >= 1) state1[i] = s1;
    if constexpr (Op::kStates >= 2) state2[i] = s2;
  }
}

template <class T, class Op>
cudaError_t launch_optimizer(T* param, T* state1, T* state2, const T* grad, std::int64_t n, Op op,
                             cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  bool vector = is_aligned16(param) && is_aligned16(grad);
  if constexpr (Op::kStates >= 1) vector = vector && is_aligned16(state1);
  if constexpr (Op::kStates >= 2) vector = vector && is_aligned16(state2);
  const std::int64_t packets = vector ? n / Packet<T>::kSize : 0;
  optimizer_packet_grid_stride_kernel<<<grid_stride_blocks(packets > 0 ? packets : n),
                                        kThreadsPerBlock, 0, stream>>>(param, state1, state2, grad,
                                                                       n, packets, op);
  return cudaGetLastError();
}

template <class T, bool kDecay, bool kMomentum, bool kFirst, bool kNesterov>
cudaError_t launch_sgd(T* param, T* buf, const T* grad, std::int64_t n, T lr, T momentum,
                       T dampening, T weight_decay, cudaStream_t stream) {
  const SgdOp<T, kDecay, kMomentum, kFirst, kNesterov> op{lr, momentum, T(1) - dampening,
                                                          weight_decay};
  return launch_optimizer(param, buf, static_cast<T*>(nullptr), grad, n, op, stream);
}

template <class T, bool kDecay>
cudaError_t dispatch_sgd(T* param, T* buf, const T* grad, std::int64_t n, T lr, T momentum,
                         T dampening, T weight_decay, bool nesterov, bool first_step,
                         cudaStream_t stream) {
  if (momentum == T(0))
    return launch_sgd<T, kDecay, false, false, false>(param, buf, grad, n, lr, momentum, dampening,
                                                      weight_decay, stream);
  if (first_step)
    return nesterov ? launch_sgd<T, kDecay, true, true, true>(param, buf, grad, n, lr, momentum,
                                                              dampening, weight_decay, stream)
                    : launch_sgd<T, kDecay, true, true, false>(param, buf, grad, n, lr, momentum,
                                                               dampening, weight_decay, stream);
  return nesterov ? launch_sgd<T, kDecay, true, false, true>(param, buf, grad, n, lr, momentum,
                                                             dampening, weight_decay, stream)
                  : launch_sgd<T, kDecay, true, false, false>(param, buf, grad, n, lr, momentum,
                                                              dampening, weight_decay, stream);
}

}  // namespace detail

// One SGD step in place (reference semantics): g = grad + weight_decay * param; with momentum,
// buf = first_step ? g : momentum * buf + (1 - dampening) * g and g = nesterov ? g + momentum *
// buf : buf; param -= lr * g. momentum_buf may be null when momentum == 0 (cudaErrorInvalidValue
// when it is null otherwise, or n < 0).
template <class T>
cudaError_t sgd_update(T* param, T* momentum_buf, const T* grad, std::int64_t n,
                       std::type_identity_t<T> lr, std::type_identity_t<T> momentum,
                       std::type_identity_t<T> dampening, std::type_identity_t<T> weight_decay,
                       bool nesterov, bool first_step, cudaStream_t stream) {
  if (n < 0 || (momentum != T(0) && !momentum_buf)) return cudaErrorInvalidValue;
  if (weight_decay != T(0))
    return detail::dispatch_sgd<T, true>(param, momentum_buf, grad, n, lr, momentum, dampening,
                                         weight_decay, nesterov, first_step, stream);
  return detail::dispatch_sgd<T, false>(param, momentum_buf, grad, n, lr, momentum, dampening,
                                        weight_decay, nesterov, first_step, stream);
}

// One Adam (decoupled_weight_decay false) or AdamW (true) step in place; step counts from 1
// (cudaErrorInvalidValue for step < 1 or n < 0). Bias corrections 1 - beta^step, lr / bc1 and
// sqrt(bc2) are formed in double on the host, as Python forms them; then per element in T:
// denom = sqrt(v) / sqrt(bc2) + eps, param -= lr / bc1 * (m / denom).
template <class T>
cudaError_t adam_update(T* param, T* exp_avg, T* exp_avg_sq, const T* grad, std::int64_t n,
                        std::type_identity_t<T> lr, std::type_identity_t<T> beta1,
                        std::type_identity_t<T> beta2, std::type_identity_t<T> eps,
                        std::type_identity_t<T> weight_decay, std::int64_t step,
                        bool decoupled_weight_decay, cudaStream_t stream) {
  if (n < 0 || step < 1) return cudaErrorInvalidValue;
  const double bias_correction1 = 1.0 - std::pow(double(beta1), double(step));
  const double bias_correction2 = 1.0 - std::pow(double(beta2), double(step));
  const T step_size = T(double(lr) / bias_correction1);
  const T bc2_sqrt = T(std::sqrt(bias_correction2));
  const T decay = T(1.0 - double(lr) * double(weight_decay));
  const T keep1 = T(1) - beta1, keep2 = T(1) - beta2;
  if (decoupled_weight_decay)
    return detail::launch_optimizer(
        param, exp_avg, exp_avg_sq, grad, n,
        detail::AdamOp<T, 2>{beta1, beta2, keep1, keep2, eps, weight_decay, decay, step_size,
                             bc2_sqrt},
        stream);
  if (weight_decay != T(0))
    return detail::launch_optimizer(
        param, exp_avg, exp_avg_sq, grad, n,
        detail::AdamOp<T, 1>{beta1, beta2, keep1, keep2, eps, weight_decay, decay, step_size,
                             bc2_sqrt},
        stream);
  return detail::launch_optimizer(param, exp_avg, exp_avg_sq, grad, n,
                                  detail::AdamOp<T, 0>{beta1, beta2, keep1, keep2, eps,
                                                       weight_decay, decay, step_size, bc2_sqrt},
                                  stream);
}

}  // namespace tinycnn::kernels::cuda
