// Optimizers over named parameters (Sequential::parameters()): SGD (momentum, Nesterov, weight
// decay), Adam and AdamW with PyTorch's update rules; learning-rate schedules; gradient clipping.
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>
#include <string>
#include <utility>
#include <vector>

#include "tinycnn/nn/module.hpp"
#include "tinycnn/ops/elementwise.hpp"
#include "tinycnn/ops/reduce.hpp"
#include "tinycnn/ops/training.hpp"

namespace tinycnn::optim {

template <class T, Device D>
using NamedParameters = std::vector<std::pair<std::string, nn::Parameter<T, D>*>>;

// The state an optimizer keeps per parameter, named for checkpoints ("<param>.<slot>").
template <class T, Device D>
class Optimizer {
 public:
  explicit Optimizer(NamedParameters<T, D> params, double lr) : params_(std::move(params)), lr_(lr) {
    TINYCNN_CHECK(lr_ >= 0, "optimizer: learning rate must be >= 0, got ", lr_);
  }
  virtual ~Optimizer() = default;
  virtual std::string name() const = 0;
  // One update of every parameter from its accumulated gradient.
  virtual void step() = 0;
  // Named state tensors (momentum buffers, moments) for checkpoints, plus the step count.
  virtual std::vector<std::pair<std::string, Tensor<T, D>*>> state() = 0;

  void zero_grad() {
    for (auto& p : params_) p.second->zero_grad();
  }
  double lr() const noexcept { return lr_; }
  void set_lr(double lr) {
    TINYCNN_CHECK(lr >= 0, "optimizer: learning rate must be >= 0, got ", lr);
    lr_ = lr;
  }
  std::int64_t steps() const noexcept { return steps_; }
  void set_steps(std::int64_t s) { steps_ = s; }
  const NamedParameters<T, D>& parameters() const noexcept { return params_; }

 protected:
  NamedParameters<T, D> params_;
  double lr_;
  std::int64_t steps_ = 0;
};

struct SgdOptions {
  double lr = 0.01, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false;
};

template <class T, Device D>
class SGD final : public Optimizer<T, D> {
 public:
  SGD(NamedParameters<T, D> params, SgdOptions o)
      : Optimizer<T, D>(std::move(params), o.lr), o_(o) {
    TINYCNN_CHECK(o.momentum >= 0 && o.weight_decay >= 0, "SGD: momentum and weight decay must be ",
                  ">= 0, got ", o.momentum, " and ", o.weight_decay);
    TINYCNN_CHECK(!o.nesterov || (o.momentum > 0 && o.dampening == 0),
                  "SGD: Nesterov momentum needs momentum > 0 and dampening 0");
    for (auto& p : this->params_)
      momentum_.push_back(o.momentum > 0 ? Tensor<T, D>(p.second->value.shape()) : Tensor<T, D>());
  }
  std::string name() const override { return "SGD"; }
  void step() override {
    ops::SgdHyper h{this->lr_, o_.momentum, o_.dampening, o_.weight_decay, o_.nesterov};
    for (std::size_t i = 0; i < this->params_.size(); ++i) {
      auto* p = this->params_[i].second;
      if (p->grad_is_zero) continue;  // no gradient since zero_grad: PyTorch skips such parameters
      ops::sgd_update_(p->value, momentum_[i], p->grad, h, this->steps_ == 0);
    }
    ++this->steps_;
  }
  std::vector<std::pair<std::string, Tensor<T, D>*>> state() override {
    std::vector<std::pair<std::string, Tensor<T, D>*>> out;
    if (o_.momentum > 0)
      for (std::size_t i = 0; i < this->params_.size(); ++i)
        out.push_back({this->params_[i].first + ".momentum_buffer", &momentum_[i]});
    return out;
  }

 private:
  SgdOptions o_;
  std::vector<Tensor<T, D>> momentum_;
};

struct AdamOptions {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
};

// Adam (L2 weight decay added to the gradient) or, with decoupled = true, AdamW (weight decay
// applied to the parameter directly; PyTorch's default weight_decay there is 0.01).
template <class T, Device D>
class Adam : public Optimizer<T, D> {
 public:
  Adam(NamedParameters<T, D> params, AdamOptions o, bool decoupled = false)
      : Optimizer<T, D>(std::move(params), o.lr), o_(o), decoupled_(decoupled) {
    TINYCNN_CHECK(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1, name(),
                  ": betas must be in [0, 1), got (", o.beta1, ", ", o.beta2, ")");
    TINYCNN_CHECK(o.eps >= 0 && o.weight_decay >= 0, name(), ": eps and weight decay must be >= 0");
    for (auto& p : this->params_) {
      m_.emplace_back(p.second->value.shape());
      v_.emplace_back(p.second->value.shape());
    }
  }
  std::string name() const override { return decoupled_ ? "AdamW" : "Adam"; }
  void step() override {
    ++this->steps_;
    ops::AdamHyper h{this->lr_, o_.beta1, o_.beta2, o_.eps, o_.weight_decay, decoupled_};
    for (std::size_t i = 0; i < this->params_.size(); ++i) {
      auto* p = this->params_[i].second;
      if (p->grad_is_zero) continue;
      ops::adam_update_(p->value, m_[i], v_[i], p->grad, h, this->steps_);
    }
  }
  std::vector<std::pair<std::string, Tensor<T, D>*>> state() override {
    std::vector<std::pair<std::string, Tensor<T, D>*>> out;
    for (std::size_t i = 0; i < this->params_.size(); ++i) {
      out.push_back({this->params_[i].first + ".exp_avg", &m_[i]});
      out.push_back({this->params_[i].first + ".exp_avg_sq", &v_[i]});
    }
    return out;
  }

 private:
  AdamOptions o_;
  bool decoupled_;
  std::vector<Tensor<T, D>> m_, v_;
};

template <class T, Device D>
class AdamW final : public Adam<T, D> {
 public:
  AdamW(NamedParameters<T, D> params, AdamOptions o = {.weight_decay = 0.01})
      : Adam<T, D>(std::move(params), o, /*decoupled=*/true) {}
};

// Learning rate after `epoch` completed epochs: multiplied by gamma every step_size epochs.
struct StepLR {
  double base_lr;
  std::int64_t step_size;
  double gamma = 0.1;
  double operator()(std::int64_t epoch) const {
    TINYCNN_CHECK(step_size > 0, "StepLR: step_size must be positive, got ", step_size);
    return base_lr * std::pow(gamma, double(epoch / step_size));
  }
};

// Cosine annealing from base_lr to min_lr over t_max epochs (PyTorch's CosineAnnealingLR).
struct CosineLR {
  double base_lr;
  std::int64_t t_max;
  double min_lr = 0;
  double operator()(std::int64_t epoch) const {
    TINYCNN_CHECK(t_max > 0, "CosineLR: t_max must be positive, got ", t_max);
    const double t = double(std::min(epoch, t_max));
    return min_lr + (base_lr - min_lr) * (1 + std::cos(std::numbers::pi * t / double(t_max))) / 2;
  }
};

// Scale all gradients so that their joint L2 norm is at most max_norm; returns the norm before.
template <class T, Device D>
double clip_grad_norm(const NamedParameters<T, D>& params, double max_norm) {
  TINYCNN_CHECK(max_norm > 0, "clip_grad_norm: max_norm must be positive, got ", max_norm);
  double sq = 0;
  for (auto& p : params)
    if (!p.second->grad_is_zero) sq += double(ops::sum_squares(p.second->grad));
  const double norm = std::sqrt(sq);
  if (norm > max_norm) {
    const T scale = T(max_norm / (norm + 1e-6));
    for (auto& p : params)
      if (!p.second->grad_is_zero) ops::scale_(p.second->grad, scale);
  }
  return norm;
}

}  // namespace tinycnn::optim
