// The end-to-end PyTorch oracle of the Fashion-MNIST CNN (tests/data/fashion_cnn.safetensors,
// written by tools/make_model_fixture.py) and the checks both the CPU and the CUDA tests run on it.
#pragma once

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <tinycnn/io/checkpoint.hpp>
#include <tinycnn/models/fashion_mnist.hpp>
#include <tinycnn/ops/softmax.hpp>
#include <tinycnn/optim/optimizer.hpp>

#include "support/compare.hpp"
#include "support/fixtures.hpp"

namespace tinycnn::test {

// The fixture file: a tinycnn checkpoint of the initial state plus PyTorch's results.
class FashionCnnOracle {
 public:
  FashionCnnOracle() : path_(test::fixture_path("fashion_cnn.safetensors")), file_(path_) {}

  const std::string& path() const { return path_; }
  std::int64_t width() const { return std::stoll(file_.metadata("width")); }
  double real(const std::string& key) const { return std::stod(file_.metadata(key)); }
  bool flag(const std::string& key) const { return file_.metadata(key) == "1"; }
  std::string text(const std::string& key) const { return file_.metadata(key); }
  // The tensor's values; its shape must be `shape` (the model's, or the batch's).
  std::vector<double> values(const std::string& name, const Shape& shape) const {
    INFO("fixture tensor " << name);
    REQUIRE(file_.contains(name));
    REQUIRE(file_.shape(name) == shape);
    return file_.tensor<double>(name).to_vector();
  }
  template <class T, Device D>
  Tensor<T, D> tensor(const std::string& name) const {
    return file_.tensor<T>(name).template to<D>();
  }

  // A model with other random weights and dropout off, then the fixture's state loaded into it.
  template <class T, Device D>
  nn::Sequential<T, D> model() const {
    auto net = models::fashion_mnist_cnn<T, D>(
        12345, {.width = width(), .dropout1 = 0, .dropout2 = 0});
    io::load_checkpoint(path_, net);
    return net;
  }

 private:
  std::string path_;
  io::SafetensorsFile file_;
};

// One training forward and backward on the fixture's batch; compares logits, loss, d loss / d x.
template <class T, Device D>
void forward_backward(nn::Sequential<T, D>& net, const FashionCnnOracle& o, double tol) {
  const auto x = o.tensor<T, D>("input.x");
  const auto labels = o.tensor<std::int32_t, D>("input.labels");
  const auto logits = net.forward(x);
  {
    INFO("logits");
    TINYCNN_REQUIRE_CLOSE(logits.to_vector(), o.values("output.logits", logits.shape()), tol);
  }
  const auto ce = ops::softmax_cross_entropy(logits, labels);
  {
    INFO("loss");
    const std::vector<double> loss{double(ce.loss)};
    TINYCNN_REQUIRE_CLOSE(loss, o.values("output.loss", Shape{}), tol);
  }
  const auto dx = net.backward(ce.dlogits, /*input_grad=*/true);
  INFO("d loss / d input");
  TINYCNN_REQUIRE_CLOSE(dx.to_vector(), o.values("input.grad", x.shape()), tol);
}

// Every parameter's value against the fixture's tensors "<prefix>.<layer>.<name>".
template <class T, Device D>
void require_parameters(nn::Sequential<T, D>& net, const FashionCnnOracle& o,
                        const std::string& prefix, double tol) {
  for (auto& [name, p] : net.parameters()) {
    INFO(prefix << "." << name);
    TINYCNN_REQUIRE_CLOSE(p->value.to_vector(), o.values(prefix + "." + name, p->value.shape()), tol);
  }
}

// The update p1 - p0 of every parameter against PyTorch's: a stricter view than the parameters
// themselves, whose relative error is diluted by |p0| >> |p1 - p0|. Storing p1 in T rounds it by
// up to half an ulp of |p0|, which the update cannot beat: eps(T) * ||p0|| / ||p1 - p0|| is added
// to the tolerance (6e-5 for float and AdamW's 1e-3 steps on batch-norm weights near 1).
template <class T, Device D>
void require_updates(nn::Sequential<T, D>& net, const FashionCnnOracle& o,
                     const std::string& prefix, double tol) {
  for (auto& [name, p] : net.parameters()) {
    INFO("update of " << name << " by " << prefix);
    const auto p0 = o.values("model." + name, p->value.shape());
    const auto p1 = o.values(prefix + "." + name, p->value.shape());
    const auto got = p->value.to_vector();
    std::vector<double> want(p0.size()), update(p0.size());
    double p0_norm = 0, want_norm = 0;
    for (std::size_t i = 0; i < p0.size(); ++i) {
      want[i] = p1[i] - p0[i];
      // p0 converted to T, as the model holds it, so that only the step's own error remains.
      update[i] = double(got[i]) - double(T(p0[i]));
      p0_norm += p0[i] * p0[i];
      want_norm += want[i] * want[i];
    }
    const double rounding = std::numeric_limits<T>::epsilon() * std::sqrt(p0_norm / want_norm);
    TINYCNN_REQUIRE_CLOSE(update, want, tol + rounding);
  }
}

// The loaded state exactly, then one forward and backward: logits, loss, d loss / d input, every
// parameter gradient and the running statistics.
template <class T, Device D>
void check_forward_backward(nn::Sequential<T, D> net, const FashionCnnOracle& o, double tol) {
  for (auto& [name, t] : net.state()) {
    INFO("loaded state " << name);
    std::vector<double> want = o.values("model." + name, t->shape());
    for (double& v : want) v = double(T(v));  // exactly what loading into T must give
    TINYCNN_REQUIRE_CLOSE(t->to_vector(), want, 0.0);
  }
  forward_backward(net, o, tol);
  for (auto& [name, p] : net.parameters()) {
    INFO("d loss / d " << name);
    TINYCNN_REQUIRE_CLOSE(p->grad.to_vector(), o.values("grad." + name, p->value.shape()), tol);
  }
  std::int64_t buffers = 0;
  for (auto& [name, t] : net.state()) {
    if (name.find(".running_") == std::string::npos) continue;
    INFO("after the forward: " << name);
    TINYCNN_REQUIRE_CLOSE(t->to_vector(), o.values("forward." + name, t->shape()), tol);
    ++buffers;
  }
  CHECK(buffers == 4);  // bn1 and bn2, mean and variance
}

template <class T, Device D>
optim::SGD<T, D> make_sgd(nn::Sequential<T, D>& net, const FashionCnnOracle& o) {
  return optim::SGD<T, D>(net.parameters(), {.lr = o.real("sgd.lr"),
                                             .momentum = o.real("sgd.momentum"),
                                             .weight_decay = o.real("sgd.weight_decay"),
                                             .nesterov = o.flag("sgd.nesterov")});
}

template <class T, Device D>
optim::AdamW<T, D> make_adamw(nn::Sequential<T, D>& net, const FashionCnnOracle& o) {
  return optim::AdamW<T, D>(net.parameters(), {.lr = o.real("adamw.lr"),
                                               .beta1 = o.real("adamw.beta1"),
                                               .beta2 = o.real("adamw.beta2"),
                                               .eps = o.real("adamw.eps"),
                                               .weight_decay = o.real("adamw.weight_decay")});
}

// A fresh model, one forward and backward, one optimizer step, against PyTorch.
template <class T, Device D>
void check_sgd_step(nn::Sequential<T, D> net, const FashionCnnOracle& o, double tol) {
  auto sgd = make_sgd(net, o);
  forward_backward(net, o, tol);
  sgd.step();
  require_parameters(net, o, "sgd", tol);
  require_updates(net, o, "sgd", tol);
}

template <class T, Device D>
void check_adamw_step(nn::Sequential<T, D> net, const FashionCnnOracle& o, double tol) {
  auto adamw = make_adamw(net, o);
  forward_backward(net, o, tol);
  adamw.step();
  require_parameters(net, o, "adamw", tol);
  require_updates(net, o, "adamw", tol);
}

// PyTorch computes in float64. Double must agree to rounding (measured <= 6e-14, 1.3e-12 for
// AdamW's fc1 update). Float: batch norm over a batch of 8 divides by small standard deviations
// and amplifies rounding; the largest error measured on the CPU is 3e-6 (d loss / d conv1.weight).
inline constexpr double kFloatTolerance = 1e-4;

}  // namespace tinycnn::test
