// The training references against PyTorch (tests/data/training.safetensors, written by
// tools/make_training_fixtures.py): BatchNorm2d training forward, backward, running statistics and
// evaluation forward; MSE loss; torch.optim SGD, Adam and AdamW step by step. Dropout's mask is
// implementation-specific (PyTorch's generator is not ours), so its statistics are checked
// instead: keep rate, scaling, independence of neighbours and of seeds, backward's mask.
#include <catch2/catch.hpp>

#include <tinycnn/kernels/reference/batchnorm.hpp>
#include <tinycnn/kernels/reference/dropout.hpp>
#include <tinycnn/kernels/reference/loss.hpp>
#include <tinycnn/kernels/reference/optim.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

#include "support/compare.hpp"
#include "support/data.hpp"
#include "support/training_fixtures.hpp"

namespace ref = tinycnn::kernels::reference;
namespace test = tinycnn::test;
using test::convert;
using test::default_tolerance;
using test::poisoned_vector;

namespace {

// Parameter rows s of a (steps, n) fixture tensor; row -1 is `before`.
std::vector<double> row(const std::vector<double>& v, std::int64_t s, std::int64_t n,
                        const std::vector<double>& before = {}) {
  if (s < 0) return before;
  return std::vector<double>(v.begin() + s * n, v.begin() + (s + 1) * n);
}

template <class A, class B>
std::vector<double> difference(const std::vector<A>& a, const std::vector<B>& b) {
  std::vector<double> d(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) d[i] = double(a[i]) - double(b[i]);
  return d;
}

}  // namespace

TEST_CASE("training fixtures: the file loads with the cases the script writes",
          "[reference][fixtures]") {
  // Guards the loops below against passing vacuously on a missing or truncated file.
  const auto bn = test::batchnorm_fixtures();
  const auto mse = test::mse_fixtures();
  const auto optim = test::optim_fixtures();
  CHECK(bn.size() == 6);
  CHECK(mse.size() == 3);
  REQUIRE(optim.size() == 7);
  int sgd = 0, nesterov = 0, adam = 0, adamw = 0, plane1 = 0;
  for (const auto& f : optim) {
    sgd += f.optimizer == "sgd", adam += f.optimizer == "adam", adamw += f.optimizer == "adamw";
    nesterov += f.nesterov;
    CHECK(f.steps == 3);
  }
  for (const auto& f : bn) plane1 += f.plane() == 1;
  CHECK(sgd >= 3);
  CHECK(nesterov >= 1);
  CHECK(adam >= 1);
  CHECK(adamw >= 1);
  CHECK(plane1 >= 1);
}

TEMPLATE_TEST_CASE("reference batchnorm2d matches PyTorch BatchNorm2d",
                   "[reference][fixtures][batchnorm]", double, float) {
  using T = TestType;
  const double tol = default_tolerance<T>();
  for (const auto& f : test::batchnorm_fixtures()) {
    INFO("case " << f.name);
    const auto x = convert<T>(f.x), gamma = convert<T>(f.gamma), beta = convert<T>(f.beta);
    const auto dy = convert<T>(f.dy);
    auto rm = convert<T>(f.running_mean_in), rv = convert<T>(f.running_var_in);
    auto y = poisoned_vector<T>(f.numel()), mean = poisoned_vector<T>(f.c);
    auto invstd = poisoned_vector<T>(f.c);
    ref::batchnorm2d_forward_training_reference(y.data(), mean.data(), invstd.data(), rm.data(),
                                                rv.data(), x.data(), gamma.data(), beta.data(),
                                                f.n, f.c, f.plane(), T(f.momentum), T(f.eps));
    TINYCNN_REQUIRE_CLOSE(y, f.y, tol);
    TINYCNN_REQUIRE_CLOSE(mean, f.save_mean, tol);
    TINYCNN_REQUIRE_CLOSE(invstd, f.save_invstd, tol);
    TINYCNN_REQUIRE_CLOSE(rm, f.running_mean_out, tol);
    TINYCNN_REQUIRE_CLOSE(rv, f.running_var_out, tol);

    auto dx = poisoned_vector<T>(f.numel()), dg = poisoned_vector<T>(f.c);
    auto db = poisoned_vector<T>(f.c);
    ref::batchnorm2d_backward_reference(dx.data(), dg.data(), db.data(), dy.data(), x.data(),
                                        gamma.data(), mean.data(), invstd.data(), f.n, f.c,
                                        f.plane());
    TINYCNN_REQUIRE_CLOSE(dx, f.dx, tol);
    TINYCNN_REQUIRE_CLOSE(dg, f.dgamma, tol);
    TINYCNN_REQUIRE_CLOSE(db, f.dbeta, tol);

    const auto rm0 = convert<T>(f.running_mean_in), rv0 = convert<T>(f.running_var_in);
    auto y_eval = poisoned_vector<T>(f.numel());
    ref::batchnorm2d_forward_inference_reference(y_eval.data(), x.data(), gamma.data(),
                                                 beta.data(), rm0.data(), rv0.data(), f.n, f.c,
                                                 f.plane(), T(f.eps));
    TINYCNN_REQUIRE_CLOSE(y_eval, f.y_eval, tol);
  }
}

TEMPLATE_TEST_CASE("reference mse_loss matches PyTorch", "[reference][fixtures][loss]", double,
                   float) {
  using T = TestType;
  for (const auto& f : test::mse_fixtures()) {
    INFO("case " << f.name);
    const auto x = convert<T>(f.x), t = convert<T>(f.target);
    auto dx = poisoned_vector<T>(f.n);
    const T loss = ref::mse_loss_reference(dx.data(), x.data(), t.data(), f.n);
    TINYCNN_REQUIRE_CLOSE(std::vector<T>{loss}, std::vector<double>{f.loss},
                          default_tolerance<T>());
    TINYCNN_REQUIRE_CLOSE(dx, f.dx, default_tolerance<T>());
  }
}

TEMPLATE_TEST_CASE("reference sgd and adam updates reproduce torch.optim step by step",
                   "[reference][fixtures][optim]", double, float) {
  using T = TestType;
  constexpr bool kDouble = std::is_same_v<T, double>;
  // Parameters: the stated 1e-6 (float) and 1e-12 (double). The step alone (param_after -
  // param_before, ~1e-2 of the parameters) in float: the float rounding of the parameters and of
  // the hyperparameters (1 - float(0.999) is 0.001 * (1 - 1.3e-5)) give ~1e-5. The state in float
  // carries that hyperparameter rounding too.
  const double param_tol = kDouble ? 1e-12 : 1e-6, update_tol = kDouble ? 1e-9 : 1e-4;
  const double state_tol = kDouble ? 1e-12 : 3e-5;
  for (const auto& f : test::optim_fixtures()) {
    auto p = convert<T>(f.param0);
    auto s1 = poisoned_vector<T>(f.n);  // SGD's first step must not read its buffer
    std::vector<T> s2(std::size_t(f.n), T(0));
    if (f.optimizer != "sgd") s1.assign(std::size_t(f.n), T(0));
    for (std::int64_t s = 0; s < f.steps; ++s) {
      INFO("case " << f.name << ", after step " << s + 1);
      const auto g = convert<T>(row(f.grads, s, f.n));
      const auto p_before = p;
      if (f.optimizer == "sgd")
        ref::sgd_update_reference(p.data(), f.momentum != 0 ? s1.data() : nullptr, g.data(), f.n,
                                  T(f.lr), T(f.momentum), T(f.dampening), T(f.weight_decay),
                                  f.nesterov, s == 0);
      else
        ref::adam_update_reference(p.data(), s1.data(), s2.data(), g.data(), f.n, T(f.lr),
                                   T(f.beta1), T(f.beta2), T(f.eps), T(f.weight_decay), s + 1,
                                   f.optimizer == "adamw");
      const auto want = row(f.params, s, f.n);
      TINYCNN_REQUIRE_CLOSE(p, want, param_tol);
      TINYCNN_REQUIRE_CLOSE(difference(p, p_before),
                            difference(want, row(f.params, s - 1, f.n, f.param0)), update_tol);
      if (!f.state1.empty()) TINYCNN_REQUIRE_CLOSE(s1, row(f.state1, s, f.n), state_tol);
      if (!f.state2.empty()) TINYCNN_REQUIRE_CLOSE(s2, row(f.state2, s, f.n), state_tol);
    }
  }
}

TEST_CASE("reference dropout: keep rate, scale, independence and backward's mask",
          "[reference][dropout]") {
  TINYCNN_SEED_INFO();
  const std::int64_t n = 1 << 20;
  const std::vector<float> ones(std::size_t(n), 1.0f);
  for (const float p : {0.1f, 0.5f, 0.9f}) {
    INFO("p=" << p);
    const std::uint64_t seed = test::test_seed() ^ std::uint64_t(p * 1000);
    auto y = poisoned_vector<float>(n), dx = poisoned_vector<float>(n);
    ref::dropout_forward_reference(y.data(), ones.data(), n, p, seed);
    ref::dropout_backward_reference(dx.data(), ones.data(), n, p, seed);
    REQUIRE(dx == y);  // the same mask and scale from the same seed
    const float scale = 1.0f / (1.0f - p);
    std::int64_t kept = 0, pairs = 0, same_as_other_seed = 0, bad = 0;
    auto other = poisoned_vector<float>(n);
    ref::dropout_forward_reference(other.data(), ones.data(), n, p, seed + 1);
    for (std::int64_t i = 0; i < n; ++i) {
      bad += !(y[i] == 0.0f || y[i] == scale);
      const bool k = y[i] != 0.0f;
      kept += k;
      if (i % 2 == 0) pairs += k && y[i + 1] != 0.0f;  // disjoint pairs: independent trials
      same_as_other_seed += k && other[i] != 0.0f;
    }
    REQUIRE(bad == 0);
    // Binomial counts within 6 standard deviations (a false alarm about once in 10^9 runs).
    auto within = [&](std::int64_t count, double prob, std::int64_t trials) {
      const double mean = prob * double(trials), sd = std::sqrt(double(trials) * prob * (1 - prob));
      INFO("count " << count << ", expected " << mean << " +- " << sd);
      CHECK(std::fabs(double(count) - mean) <= 6 * sd);
    };
    const double q = 1.0 - double(p);
    within(kept, q, n);
    within(pairs, q * q, n / 2);          // neighbours kept independently
    within(same_as_other_seed, q * q, n);  // another seed, another mask
  }
}
