// The PyTorch fixtures of the training kernels (tests/data/training.safetensors, written by
// tools/make_training_fixtures.py, float64): BatchNorm2d training and evaluation, MSE loss, and
// torch.optim SGD / Adam / AdamW over a few steps, loaded into plain structs:
//   for (const auto& f : tinycnn::test::batchnorm_fixtures()) { INFO(f.name); ... f.x, f.y ... }
// Tensors are std::vector<double> in row-major order; shapes are checked on load.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "support/fixtures.hpp"

namespace tinycnn::test {

// BatchNorm2d on x (N, C, H, W); per-channel vectors (C).
struct BatchNormFixture {
  std::string name;
  std::int64_t n = 0, c = 0, h = 0, w = 0;
  double momentum = 0, eps = 0;
  std::vector<double> x, gamma, beta, running_mean_in, running_var_in;
  // Training forward: output, aten::native_batch_norm's saved statistics, running statistics after.
  std::vector<double> y, save_mean, save_invstd, running_mean_out, running_var_out;
  // Training-mode gradients of sum(dy * y).
  std::vector<double> dy, dx, dgamma, dbeta;
  // Evaluation forward with running_mean_in / running_var_in.
  std::vector<double> y_eval;
  std::int64_t plane() const { return h * w; }
  std::int64_t numel() const { return n * c * h * w; }
};

// loss = mean((x - target)^2) and its gradient dx.
struct MseFixture {
  std::string name;
  std::int64_t n = 0;
  std::vector<double> x, target, dx;
  double loss = 0;
};

// torch.optim over `steps` steps from param0; row s of grads is the gradient of step s, row s of
// params / state1 / state2 the values after it. state1: SGD's momentum buffer (empty when
// momentum == 0) or Adam's exp_avg; state2: Adam's exp_avg_sq (empty for SGD).
struct OptimFixture {
  std::string name;
  std::string optimizer;  // "sgd", "adam" or "adamw"
  std::int64_t n = 0, steps = 0;
  double lr = 0, momentum = 0, dampening = 0, weight_decay = 0, beta1 = 0, beta2 = 0, eps = 0;
  bool nesterov = false;
  std::vector<double> param0, grads, params, state1, state2;
};

namespace detail {
inline constexpr const char* kTrainingFixtureFile = "training.safetensors";
}  // namespace detail

inline std::vector<BatchNormFixture> batchnorm_fixtures() {
  const detail::FixtureFile f(detail::kTrainingFixtureFile);
  std::vector<BatchNormFixture> out;
  for (int i = 0; i < f.cases(); ++i) {
    if (f.text(i, "kind") != "batchnorm") continue;
    BatchNormFixture b;
    b.name = f.text(i, "name");
    b.n = f.integer(i, "n"), b.c = f.integer(i, "c"), b.h = f.integer(i, "h"),
    b.w = f.integer(i, "w");
    b.momentum = f.real(i, "momentum"), b.eps = f.real(i, "eps");
    const Shape xs{b.n, b.c, b.h, b.w}, cs{b.c};
    b.x = f.values(i, "x", xs), b.gamma = f.values(i, "gamma", cs), b.beta = f.values(i, "beta", cs);
    b.running_mean_in = f.values(i, "running_mean_in", cs);
    b.running_var_in = f.values(i, "running_var_in", cs);
    b.y = f.values(i, "y", xs), b.save_mean = f.values(i, "save_mean", cs);
    b.save_invstd = f.values(i, "save_invstd", cs);
    b.running_mean_out = f.values(i, "running_mean_out", cs);
    b.running_var_out = f.values(i, "running_var_out", cs);
    b.dy = f.values(i, "dy", xs), b.dx = f.values(i, "dx", xs);
    b.dgamma = f.values(i, "dgamma", cs), b.dbeta = f.values(i, "dbeta", cs);
    b.y_eval = f.values(i, "y_eval", xs);
    out.push_back(std::move(b));
  }
  return out;
}

inline std::vector<MseFixture> mse_fixtures() {
  const detail::FixtureFile f(detail::kTrainingFixtureFile);
  std::vector<MseFixture> out;
  for (int i = 0; i < f.cases(); ++i) {
    if (f.text(i, "kind") != "mse") continue;
    MseFixture m;
    m.name = f.text(i, "name");
    m.n = f.integer(i, "n");
    m.x = f.values(i, "x", Shape{m.n}), m.target = f.values(i, "target", Shape{m.n});
    m.loss = f.values(i, "loss", Shape{}).at(0);
    m.dx = f.values(i, "dx", Shape{m.n});
    out.push_back(std::move(m));
  }
  return out;
}

inline std::vector<OptimFixture> optim_fixtures() {
  const detail::FixtureFile f(detail::kTrainingFixtureFile);
  std::vector<OptimFixture> out;
  for (int i = 0; i < f.cases(); ++i) {
    if (f.text(i, "kind") != "optim") continue;
    OptimFixture o;
    o.name = f.text(i, "name");
    o.optimizer = f.text(i, "optimizer");
    TINYCNN_CHECK(o.optimizer == "sgd" || o.optimizer == "adam" || o.optimizer == "adamw",
                  "fixture training.safetensors: case", i, ".optimizer is '", o.optimizer,
                  "', expected sgd, adam or adamw");
    o.n = f.integer(i, "n"), o.steps = f.integer(i, "steps");
    o.lr = f.real(i, "lr"), o.momentum = f.real(i, "momentum");
    o.dampening = f.real(i, "dampening"), o.weight_decay = f.real(i, "weight_decay");
    o.beta1 = f.real(i, "beta1"), o.beta2 = f.real(i, "beta2"), o.eps = f.real(i, "eps");
    o.nesterov = f.flag(i, "nesterov");
    const Shape per_step{o.steps, o.n};
    o.param0 = f.values(i, "param0", Shape{o.n});
    o.grads = f.values(i, "grads", per_step), o.params = f.values(i, "params", per_step);
    if (o.optimizer != "sgd" || o.momentum != 0) o.state1 = f.values(i, "state1", per_step);
    if (o.optimizer != "sgd") o.state2 = f.values(i, "state2", per_step);
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace tinycnn::test
