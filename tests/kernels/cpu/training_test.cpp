// The fast CPU training kernels (kernels/cpu/{batchnorm,dropout,loss,optim}.hpp) against the
// reference on fresh random inputs with poisoned outputs, and against the PyTorch fixtures of
// tests/data/training.safetensors (BatchNorm2d, MSE loss, SGD / Adam / AdamW steps).
#include <catch2/catch.hpp>

#include <tinycnn/kernels/cpu/batchnorm.hpp>
#include <tinycnn/kernels/cpu/dropout.hpp>
#include <tinycnn/kernels/cpu/loss.hpp>
#include <tinycnn/kernels/cpu/optim.hpp>
#include <tinycnn/kernels/reference/batchnorm.hpp>
#include <tinycnn/kernels/reference/dropout.hpp>
#include <tinycnn/kernels/reference/loss.hpp>
#include <tinycnn/kernels/reference/optim.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "support/compare.hpp"
#include "support/data.hpp"
#include "support/training_fixtures.hpp"

namespace cpu = tinycnn::kernels::cpu;
namespace ref = tinycnn::kernels::reference;
namespace test = tinycnn::test;
using test::convert;
using test::default_tolerance;
using test::poisoned_vector;
using test::random_vector;

namespace {

struct BnCase {
  std::string name;
  std::int64_t n, c, plane;
  double offset;  // added to x: the channel means sit away from 0
};

// One value per channel (n = 1, plane 1) included: the running variance's count / (count - 1)
// is undefined there and the kernels use the biased variance.
const BnCase kBnCases[] = {
    {"n=1 c=1 plane 1 (one value per channel)", 1, 1, 1, 0.0},
    {"n=4 c=3 plane 1 (after global pooling)", 4, 3, 1, 0.5},
    {"n=1 c=5 7x7", 1, 5, 49, 0.0},
    {"n=2 c=7 plane 33", 2, 7, 33, -2.0},
    {"n=3 c=1 plane 1000", 3, 1, 1000, 3.0},
    {"n=8 c=64 14x14", 8, 64, 196, 0.25},
    {"n=1 c=3 plane 2^20 + 3 (large plane)", 1, 3, (1 << 20) + 3, 4.0},
};

// The tolerance of a comparison for T; exact arithmetic (tolerance 0) where both sides do the same
// operations in the same order.
template <class T>
double tol() {
  return default_tolerance<T>();
}

// REQUIRE that every element is exactly 0 (the comparison rule rejects an all-zero reference).
template <class V>
void require_all_zero(const V& v) {
  for (const auto x : v) REQUIRE(x == 0);
}

}  // namespace

TEMPLATE_TEST_CASE("cpu batchnorm2d matches the reference: training forward, backward, inference",
                   "[cpu][kernels][batchnorm]", float, double) {
  using T = TestType;
  TINYCNN_SEED_INFO();
  std::uint64_t salt = 10;
  for (const BnCase& cs : kBnCases) {
    INFO("case " << cs.name);
    const std::int64_t total = cs.n * cs.c * cs.plane, count = cs.n * cs.plane;
    const auto x = random_vector<T>(total, ++salt, cs.offset - 1.0, cs.offset + 1.0);
    const auto gamma = random_vector<T>(cs.c, ++salt, 0.5, 1.5);
    const auto beta = random_vector<T>(cs.c, ++salt);
    const auto rm0 = random_vector<T>(cs.c, ++salt), rv0 = random_vector<T>(cs.c, ++salt, 0.5, 1.5);
    const auto dy = random_vector<T>(total, ++salt);
    const T momentum = T(0.1), eps = T(1e-5);

    auto want_y = poisoned_vector<T>(total), want_mean = poisoned_vector<T>(cs.c);
    auto want_invstd = poisoned_vector<T>(cs.c);
    auto want_rm = rm0, want_rv = rv0;
    ref::batchnorm2d_forward_training_reference(want_y.data(), want_mean.data(),
                                                want_invstd.data(), want_rm.data(), want_rv.data(),
                                                x.data(), gamma.data(), beta.data(), cs.n, cs.c,
                                                cs.plane, momentum, eps);
    {
      INFO("training forward");
      auto y = poisoned_vector<T>(total), mean = poisoned_vector<T>(cs.c);
      auto invstd = poisoned_vector<T>(cs.c);
      auto rm = rm0, rv = rv0;
      cpu::batchnorm2d_forward_training(y.data(), mean.data(), invstd.data(), rm.data(), rv.data(),
                                        x.data(), gamma.data(), beta.data(), cs.n, cs.c, cs.plane,
                                        momentum, eps);
      TINYCNN_REQUIRE_CLOSE(y, want_y, tol<T>());
      TINYCNN_REQUIRE_CLOSE(mean, want_mean, tol<T>());
      TINYCNN_REQUIRE_CLOSE(invstd, want_invstd, tol<T>());
      TINYCNN_REQUIRE_CLOSE(rm, want_rm, tol<T>());
      TINYCNN_REQUIRE_CLOSE(rv, want_rv, tol<T>());
    }
    {
      INFO("training forward without running statistics");
      auto y = poisoned_vector<T>(total), mean = poisoned_vector<T>(cs.c);
      auto invstd = poisoned_vector<T>(cs.c);
      cpu::batchnorm2d_forward_training<T>(y.data(), mean.data(), invstd.data(), nullptr, nullptr,
                                           x.data(), gamma.data(), beta.data(), cs.n, cs.c,
                                           cs.plane, momentum, eps);
      TINYCNN_REQUIRE_CLOSE(y, want_y, tol<T>());
      TINYCNN_REQUIRE_CLOSE(invstd, want_invstd, tol<T>());
    }
    {
      INFO("backward");
      auto want_dx = poisoned_vector<T>(total), want_dg = poisoned_vector<T>(cs.c);
      auto want_db = poisoned_vector<T>(cs.c);
      ref::batchnorm2d_backward_reference(want_dx.data(), want_dg.data(), want_db.data(),
                                          dy.data(), x.data(), gamma.data(), want_mean.data(),
                                          want_invstd.data(), cs.n, cs.c, cs.plane);
      auto dx = poisoned_vector<T>(total), dg = poisoned_vector<T>(cs.c);
      auto db = poisoned_vector<T>(cs.c);
      cpu::batchnorm2d_backward(dx.data(), dg.data(), db.data(), dy.data(), x.data(), gamma.data(),
                                want_mean.data(), want_invstd.data(), cs.n, cs.c, cs.plane);
      TINYCNN_REQUIRE_CLOSE(db, want_db, tol<T>());
      if (count == 1) {
        // One value per channel: xhat = 0 and dx = dy - mean(dy) = 0, exactly.
        require_all_zero(want_dx), require_all_zero(want_dg);
        require_all_zero(dx), require_all_zero(dg);
      } else {
        TINYCNN_REQUIRE_CLOSE(dx, want_dx, tol<T>());
        TINYCNN_REQUIRE_CLOSE(dg, want_dg, tol<T>());
      }
    }
    {
      INFO("inference forward");
      auto want = poisoned_vector<T>(total), y = poisoned_vector<T>(total);
      ref::batchnorm2d_forward_inference_reference(want.data(), x.data(), gamma.data(),
                                                   beta.data(), rm0.data(), rv0.data(), cs.n, cs.c,
                                                   cs.plane, eps);
      cpu::batchnorm2d_forward_inference(y.data(), x.data(), gamma.data(), beta.data(), rm0.data(),
                                         rv0.data(), cs.n, cs.c, cs.plane, eps);
      TINYCNN_REQUIRE_CLOSE(y, want, tol<T>());
    }
  }
}

TEST_CASE("cpu batchnorm2d keeps float statistics precise when |mean| >> standard deviation",
          "[cpu][kernels][batchnorm]") {
  TINYCNN_SEED_INFO();
  // Mean 64, standard deviation 0.58: E[x^2] - E[x]^2 in float would cancel ~12 of 24 bits.
  const std::int64_t n = 2, c = 2, plane = 300007, total = n * c * plane;
  const auto x = random_vector<float>(total, 77, 63.0, 65.0);
  const auto gamma = random_vector<float>(c, 78, 0.5, 1.5), beta = random_vector<float>(c, 79);
  const auto xd = convert<double>(x), gd = convert<double>(gamma), bd = convert<double>(beta);
  std::vector<double> want_y(total), want_mean(c), want_invstd(c);
  ref::batchnorm2d_forward_training_reference<double>(want_y.data(), want_mean.data(),
                                                      want_invstd.data(), nullptr, nullptr,
                                                      xd.data(), gd.data(), bd.data(), n, c, plane,
                                                      0.1, 1e-5);
  auto y = poisoned_vector<float>(total), mean = poisoned_vector<float>(c);
  auto invstd = poisoned_vector<float>(c);
  cpu::batchnorm2d_forward_training<float>(y.data(), mean.data(), invstd.data(), nullptr, nullptr,
                                           x.data(), gamma.data(), beta.data(), n, c, plane, 0.1f,
                                           1e-5f);
  // The statistics to float rounding; y to the rounding of the saved mean (ulp(64) / 2 over a
  // standard deviation of 0.58 is 6.6e-6 of xhat).
  TINYCNN_REQUIRE_CLOSE(mean, want_mean, 1e-7);
  TINYCNN_REQUIRE_CLOSE(invstd, want_invstd, 1e-7);
  TINYCNN_REQUIRE_CLOSE(y, want_y, 1e-5);
}

TEMPLATE_TEST_CASE("cpu dropout equals the reference bit for bit, in place too",
                   "[cpu][kernels][dropout]", float, double) {
  using T = TestType;
  TINYCNN_SEED_INFO();
  for (const std::int64_t n : {std::int64_t(1), std::int64_t(7), std::int64_t(1000),
                               std::int64_t(200003)})
    for (const double p : {0.0, 0.5, 0.9, 1.0}) {
      INFO("n=" << n << " p=" << p);
      const std::uint64_t seed = test::test_seed() + std::uint64_t(n);
      const auto x = random_vector<T>(n, 200 + n), dy = random_vector<T>(n, 300 + n);
      auto want = poisoned_vector<T>(n), y = poisoned_vector<T>(n);
      ref::dropout_forward_reference(want.data(), x.data(), n, T(p), seed);
      cpu::dropout_forward(y.data(), x.data(), n, T(p), seed);
      // Exact equality (NaN never equals): the same multiply per kept element, and a short input
      // may drop everything, which the relative comparison would reject as vacuous.
      REQUIRE(y == want);
      auto inplace = x;
      cpu::dropout_forward(inplace.data(), inplace.data(), n, T(p), seed);
      REQUIRE(inplace == want);

      auto want_dx = poisoned_vector<T>(n), dx = poisoned_vector<T>(n);
      ref::dropout_backward_reference(want_dx.data(), dy.data(), n, T(p), seed);
      cpu::dropout_backward(dx.data(), dy.data(), n, T(p), seed);
      REQUIRE(dx == want_dx);
      std::int64_t other_mask = 0;
      for (std::int64_t i = 0; i < n; ++i) other_mask += (dx[i] == 0) != (y[i] == 0);
      REQUIRE(other_mask == 0);
    }
}

TEMPLATE_TEST_CASE("cpu mse_loss matches the reference", "[cpu][kernels][loss]", float, double) {
  using T = TestType;
  TINYCNN_SEED_INFO();
  for (const std::int64_t n : {std::int64_t(1), std::int64_t(7), std::int64_t(1000),
                               std::int64_t(200003)}) {
    INFO("n=" << n);
    const auto x = random_vector<T>(n, 400 + n), t = random_vector<T>(n, 500 + n);
    auto want_dx = poisoned_vector<T>(n), dx = poisoned_vector<T>(n);
    const T want = ref::mse_loss_reference(want_dx.data(), x.data(), t.data(), n);
    const T loss = cpu::mse_loss(dx.data(), x.data(), t.data(), n);
    TINYCNN_REQUIRE_CLOSE(std::vector<T>{loss}, std::vector<T>{want}, tol<T>());
    TINYCNN_REQUIRE_CLOSE(dx, want_dx, 0.0);  // the same subtract and multiply per element
    const T loss_only = cpu::mse_loss<T>(nullptr, x.data(), t.data(), n);
    TINYCNN_REQUIRE_CLOSE(std::vector<T>{loss_only}, std::vector<T>{want}, tol<T>());
  }
  CHECK(cpu::mse_loss<T>(nullptr, nullptr, nullptr, 0) == T(0));
}

namespace {

struct SgdCase {
  std::string name;
  double momentum, dampening, weight_decay;
  bool nesterov;
};
const SgdCase kSgdCases[] = {
    {"plain", 0.0, 0.0, 0.0, false},
    {"weight decay", 0.0, 0.0, 1e-4, false},
    {"momentum 0.9 wd 1e-4", 0.9, 0.0, 1e-4, false},
    {"nesterov momentum 0.9 wd 1e-4", 0.9, 0.0, 1e-4, true},
    {"momentum 0.9 dampening 0.1", 0.9, 0.1, 0.0, false},
    {"nesterov dampening 0.3 wd 1e-2", 0.5, 0.3, 1e-2, true},
};

struct AdamCase {
  std::string name;
  double weight_decay;
  bool decoupled;
};
const AdamCase kAdamCases[] = {
    {"adam", 0.0, false},
    {"adam wd 0.01", 0.01, false},
    {"adamw wd 0.01", 0.01, true},
    {"adamw no wd", 0.0, true},
};

const std::int64_t kOptimSizes[] = {1, 7, 1000, 200003};

}  // namespace

TEMPLATE_TEST_CASE("cpu sgd_update matches the reference", "[cpu][kernels][optim]", float,
                   double) {
  using T = TestType;
  TINYCNN_SEED_INFO();
  std::uint64_t salt = 600;
  for (const SgdCase& cs : kSgdCases)
    for (const std::int64_t n : kOptimSizes)
      for (const bool first : {true, false}) {
        INFO(cs.name << " n=" << n << (first ? " first step" : " later step"));
        const auto param0 = random_vector<T>(n, ++salt), grad = random_vector<T>(n, ++salt);
        // The first step must not read the buffer: it is NaN then.
        const auto buf0 = first ? poisoned_vector<T>(n) : random_vector<T>(n, ++salt);
        auto want_p = param0, want_b = buf0, p = param0, b = buf0;
        T* want_buf = cs.momentum != 0 ? want_b.data() : nullptr;
        T* buf = cs.momentum != 0 ? b.data() : nullptr;
        ref::sgd_update_reference(want_p.data(), want_buf, grad.data(), n, T(0.05), T(cs.momentum),
                                  T(cs.dampening), T(cs.weight_decay), cs.nesterov, first);
        cpu::sgd_update(p.data(), buf, grad.data(), n, T(0.05), T(cs.momentum), T(cs.dampening),
                        T(cs.weight_decay), cs.nesterov, first);
        TINYCNN_REQUIRE_CLOSE(p, want_p, tol<T>());
        if (cs.momentum != 0) TINYCNN_REQUIRE_CLOSE(b, want_b, tol<T>());
      }
}

TEMPLATE_TEST_CASE("cpu adam_update matches the reference", "[cpu][kernels][optim]", float,
                   double) {
  using T = TestType;
  TINYCNN_SEED_INFO();
  std::uint64_t salt = 700;
  for (const AdamCase& cs : kAdamCases)
    for (const std::int64_t n : kOptimSizes)
      for (const std::int64_t step : {std::int64_t(1), std::int64_t(5)}) {
        INFO(cs.name << " n=" << n << " step=" << step);
        const auto param0 = random_vector<T>(n, ++salt), grad = random_vector<T>(n, ++salt);
        const auto m0 = step == 1 ? std::vector<T>(n, T(0)) : random_vector<T>(n, ++salt, -0.1, 0.1);
        const auto v0 = step == 1 ? std::vector<T>(n, T(0)) : random_vector<T>(n, ++salt, 0.0, 0.01);
        auto want_p = param0, want_m = m0, want_v = v0, p = param0, m = m0, v = v0;
        ref::adam_update_reference(want_p.data(), want_m.data(), want_v.data(), grad.data(), n,
                                   T(1e-3), T(0.9), T(0.999), T(1e-8), T(cs.weight_decay), step,
                                   cs.decoupled);
        cpu::adam_update(p.data(), m.data(), v.data(), grad.data(), n, T(1e-3), T(0.9), T(0.999),
                         T(1e-8), T(cs.weight_decay), step, cs.decoupled);
        TINYCNN_REQUIRE_CLOSE(p, want_p, tol<T>());
        TINYCNN_REQUIRE_CLOSE(m, want_m, tol<T>());
        TINYCNN_REQUIRE_CLOSE(v, want_v, tol<T>());
      }
}

// ---- PyTorch fixtures ----

namespace {
// Float kernels on inputs rounded to float; double kernels to the last bits.
template <class T>
constexpr double fixture_tolerance() {
  return std::is_same_v<T, double> ? 1e-12 : 1e-5;
}
// The optimizers' stated contract for the parameters: 1e-6 relative in float, 1e-12 in double.
template <class T>
constexpr double optim_fixture_tolerance() {
  return std::is_same_v<T, double> ? 1e-12 : 1e-6;
}
// The optimizer state in float carries the float rounding of the hyperparameters: 1 - float(0.999)
// is 0.001 * (1 - 1.3e-5), so exp_avg_sq is off by up to 1.3e-5 relative from PyTorch's (whose
// hyperparameters are Python doubles). The parameters hardly see it: v's scale cancels against the
// bias correction 1 - beta2^step, formed from the same float beta2.
template <class T>
constexpr double optim_state_tolerance() {
  return std::is_same_v<T, double> ? 1e-12 : 3e-5;
}
// The step itself, param_after - param_before, is ~1e-2 of the parameters: a 1e-6 comparison of
// the parameters alone would miss an update wrong by 1e-4. Float: the rounding of the parameters
// (6e-8 of |param|, ~6e-6 of the update) and of the hyperparameters (above) give ~1e-5.
template <class T>
constexpr double optim_update_tolerance() {
  return std::is_same_v<T, double> ? 1e-9 : 1e-4;
}

// a - b, element by element, in double.
template <class A, class B>
std::vector<double> difference(const std::vector<A>& a, const std::vector<B>& b) {
  std::vector<double> d(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) d[i] = double(a[i]) - double(b[i]);
  return d;
}
}  // namespace

TEMPLATE_TEST_CASE("cpu batchnorm2d matches PyTorch BatchNorm2d",
                   "[cpu][kernels][batchnorm][fixtures]", float, double) {
  using T = TestType;
  const double tol = fixture_tolerance<T>();
  const auto fixtures = test::batchnorm_fixtures();
  REQUIRE(fixtures.size() == 6);
  for (const auto& f : fixtures) {
    INFO("case " << f.name);
    const auto x = convert<T>(f.x), gamma = convert<T>(f.gamma), beta = convert<T>(f.beta);
    const auto dy = convert<T>(f.dy);
    auto rm = convert<T>(f.running_mean_in), rv = convert<T>(f.running_var_in);
    auto y = poisoned_vector<T>(f.numel()), mean = poisoned_vector<T>(f.c);
    auto invstd = poisoned_vector<T>(f.c);
    cpu::batchnorm2d_forward_training(y.data(), mean.data(), invstd.data(), rm.data(), rv.data(),
                                      x.data(), gamma.data(), beta.data(), f.n, f.c, f.plane(),
                                      T(f.momentum), T(f.eps));
    TINYCNN_REQUIRE_CLOSE(y, f.y, tol);
    TINYCNN_REQUIRE_CLOSE(mean, f.save_mean, tol);
    TINYCNN_REQUIRE_CLOSE(invstd, f.save_invstd, tol);
    TINYCNN_REQUIRE_CLOSE(rm, f.running_mean_out, tol);
    TINYCNN_REQUIRE_CLOSE(rv, f.running_var_out, tol);

    auto dx = poisoned_vector<T>(f.numel()), dg = poisoned_vector<T>(f.c);
    auto db = poisoned_vector<T>(f.c);
    cpu::batchnorm2d_backward(dx.data(), dg.data(), db.data(), dy.data(), x.data(), gamma.data(),
                              mean.data(), invstd.data(), f.n, f.c, f.plane());
    TINYCNN_REQUIRE_CLOSE(dx, f.dx, tol);
    TINYCNN_REQUIRE_CLOSE(dg, f.dgamma, tol);
    TINYCNN_REQUIRE_CLOSE(db, f.dbeta, tol);

    const auto rm0 = convert<T>(f.running_mean_in), rv0 = convert<T>(f.running_var_in);
    auto y_eval = poisoned_vector<T>(f.numel());
    cpu::batchnorm2d_forward_inference(y_eval.data(), x.data(), gamma.data(), beta.data(),
                                       rm0.data(), rv0.data(), f.n, f.c, f.plane(), T(f.eps));
    TINYCNN_REQUIRE_CLOSE(y_eval, f.y_eval, tol);
  }
}

TEMPLATE_TEST_CASE("cpu mse_loss matches PyTorch", "[cpu][kernels][loss][fixtures]", float,
                   double) {
  using T = TestType;
  const auto fixtures = test::mse_fixtures();
  REQUIRE(fixtures.size() == 3);
  for (const auto& f : fixtures) {
    INFO("case " << f.name);
    const auto x = convert<T>(f.x), t = convert<T>(f.target);
    auto dx = poisoned_vector<T>(f.n);
    const T loss = cpu::mse_loss(dx.data(), x.data(), t.data(), f.n);
    TINYCNN_REQUIRE_CLOSE(std::vector<T>{loss}, std::vector<double>{f.loss},
                          fixture_tolerance<T>());
    TINYCNN_REQUIRE_CLOSE(dx, f.dx, fixture_tolerance<T>());
  }
}

TEMPLATE_TEST_CASE("cpu sgd_update and adam_update reproduce torch.optim step by step",
                   "[cpu][kernels][optim][fixtures]", float, double) {
  using T = TestType;
  const double tol = optim_fixture_tolerance<T>();
  const auto fixtures = test::optim_fixtures();
  REQUIRE(fixtures.size() == 7);
  for (const auto& f : fixtures) {
    auto p = convert<T>(f.param0);
    auto s1 = poisoned_vector<T>(f.n);  // SGD's first step must not read its buffer
    std::vector<T> s2(std::size_t(f.n), T(0));
    if (f.optimizer != "sgd") s1.assign(std::size_t(f.n), T(0));
    for (std::int64_t s = 0; s < f.steps; ++s) {
      INFO("case " << f.name << ", after step " << s + 1);
      const auto row = [&](const std::vector<double>& v) {
        return std::vector<double>(v.begin() + s * f.n, v.begin() + (s + 1) * f.n);
      };
      const auto g = convert<T>(row(f.grads));
      const auto p_before = p;
      const auto want_before = s == 0 ? f.param0 : std::vector<double>(f.params.begin() + (s - 1) * f.n,
                                                                         f.params.begin() + s * f.n);
      if (f.optimizer == "sgd")
        cpu::sgd_update(p.data(), f.momentum != 0 ? s1.data() : nullptr, g.data(), f.n, T(f.lr),
                        T(f.momentum), T(f.dampening), T(f.weight_decay), f.nesterov, s == 0);
      else
        cpu::adam_update(p.data(), s1.data(), s2.data(), g.data(), f.n, T(f.lr), T(f.beta1),
                         T(f.beta2), T(f.eps), T(f.weight_decay), s + 1, f.optimizer == "adamw");
      TINYCNN_REQUIRE_CLOSE(p, row(f.params), tol);
      TINYCNN_REQUIRE_CLOSE(difference(p, p_before), difference(row(f.params), want_before),
                            optim_update_tolerance<T>());
      if (!f.state1.empty()) TINYCNN_REQUIRE_CLOSE(s1, row(f.state1), optim_state_tolerance<T>());
      if (!f.state2.empty()) TINYCNN_REQUIRE_CLOSE(s2, row(f.state2), optim_state_tolerance<T>());
    }
  }
}
