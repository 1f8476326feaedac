// Optimizer classes over Sequential parameters: SGD/Adam/AdamW steps equal the reference update
// kernels (themselves checked against torch.optim), schedules, clipping, bad options.
#include <catch2/catch.hpp>

#include <tinycnn/kernels/reference/optim.hpp>
#include <tinycnn/nn/sequential.hpp>
#include <tinycnn/optim/optimizer.hpp>

#include "support/compare.hpp"
#include "support/data.hpp"

using namespace tinycnn;

namespace {
// A one-layer model whose gradient after backward is a known function of the input.
struct Fixture {
  nn::Sequential<double> net{3};
  Tensor<double> x{{4, 3}, test::random_vector<double>(12, 1)};
  Tensor<double> dy{{4, 2}, test::random_vector<double>(8, 2)};
  Fixture() { net << nn::Linear(3, 2); }
  void backward() {
    net.zero_grad();
    net.forward(x);
    net.backward(dy);
  }
};
}  // namespace

TEST_CASE("optim: SGD with Nesterov momentum and weight decay matches the reference update",
          "[optim]") {
  Fixture f;
  auto params = f.net.parameters();
  optim::SGD<double, cpu> sgd(params, {.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-2, .nesterov = true});
  auto w = params[0].second->value.to_vector();
  std::vector<double> buf(w.size());
  for (int step = 0; step < 3; ++step) {
    f.backward();
    const auto g = params[0].second->grad.to_vector();
    kernels::reference::sgd_update_reference(w.data(), buf.data(), g.data(), std::int64_t(w.size()), 0.1,
                                             0.9, 0.0, 1e-2, true, step == 0);
    sgd.step();
    TINYCNN_REQUIRE_CLOSE(params[0].second->value.to_vector(), w, 1e-12);
  }
  CHECK(sgd.steps() == 3);
  CHECK(sgd.state().size() == 2);
  CHECK(sgd.state()[0].first == "0.weight.momentum_buffer");
}

TEST_CASE("optim: Adam and AdamW match the reference update", "[optim]") {
  for (bool decoupled : {false, true}) {
    INFO((decoupled ? "AdamW" : "Adam"));
    Fixture f;
    auto params = f.net.parameters();
    std::unique_ptr<optim::Optimizer<double, cpu>> opt;
    if (decoupled) opt = std::make_unique<optim::AdamW<double, cpu>>(params, optim::AdamOptions{.lr = 0.01, .weight_decay = 0.1});
    else opt = std::make_unique<optim::Adam<double, cpu>>(params, optim::AdamOptions{.lr = 0.01, .weight_decay = 0.1});
    auto w = params[0].second->value.to_vector();
    std::vector<double> m(w.size()), v(w.size());
    for (int step = 1; step <= 3; ++step) {
      f.backward();
      const auto g = params[0].second->grad.to_vector();
      kernels::reference::adam_update_reference(w.data(), m.data(), v.data(), g.data(), std::int64_t(w.size()),
                                                0.01, 0.9, 0.999, 1e-8, 0.1, step, decoupled);
      opt->step();
      TINYCNN_REQUIRE_CLOSE(params[0].second->value.to_vector(), w, 1e-12);
    }
    CHECK(opt->name() == (decoupled ? "AdamW" : "Adam"));
  }
}

TEST_CASE("optim: schedules and gradient clipping", "[optim]") {
  const optim::StepLR step{0.1, 5, 0.5};
  CHECK(step(0) == Approx(0.1));
  CHECK(step(4) == Approx(0.1));
  CHECK(step(5) == Approx(0.05));
  CHECK(step(12) == Approx(0.025));
  const optim::CosineLR cosine{1.0, 10, 0.1};
  CHECK(cosine(0) == Approx(1.0));
  CHECK(cosine(5) == Approx(0.55));
  CHECK(cosine(10) == Approx(0.1));
  CHECK(cosine(20) == Approx(0.1));

  Fixture f;
  f.backward();
  auto params = f.net.parameters();
  double sq = 0;
  for (auto& p : params)
    for (double g : p.second->grad.to_vector()) sq += g * g;
  const double norm = optim::clip_grad_norm(params, 1e-3);
  CHECK(norm == Approx(std::sqrt(sq)));
  double after = 0;
  for (auto& p : params)
    for (double g : p.second->grad.to_vector()) after += g * g;
  CHECK(std::sqrt(after) == Approx(1e-3).epsilon(1e-3));
}

TEST_CASE("optim: bad options are rejected", "[optim][errors]") {
  Fixture f;
  using Catch::Contains;
  REQUIRE_THROWS_WITH((optim::SGD<double, cpu>(f.net.parameters(), {.lr = -1})), Contains("learning rate"));
  REQUIRE_THROWS_WITH((optim::SGD<double, cpu>(f.net.parameters(), {.lr = 0.1, .nesterov = true})),
                      Contains("Nesterov"));
  REQUIRE_THROWS_WITH((optim::Adam<double, cpu>(f.net.parameters(), {.beta1 = 1.0})), Contains("betas"));
  REQUIRE_THROWS_WITH(optim::clip_grad_norm(f.net.parameters(), 0.0), Contains("max_norm"));
  REQUIRE_THROWS_WITH((optim::StepLR{0.1, 0}(1)), Contains("step_size"));
}
