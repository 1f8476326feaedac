// The training references' backward passes against central finite differences in double: batch
// norm (through the batch statistics, for x, gamma and beta), dropout (same seed) and MSE loss.
// Each backward(dy) must equal d<dy, forward(inputs)>/d(input).
#include <catch2/catch.hpp>

#include <tinycnn/kernels/reference/batchnorm.hpp>
#include <tinycnn/kernels/reference/dropout.hpp>
#include <tinycnn/kernels/reference/loss.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "support/compare.hpp"
#include "support/data.hpp"
#include "support/gradcheck.hpp"

namespace ref = tinycnn::kernels::reference;
using tinycnn::test::dot;
using tinycnn::test::poisoned_vector;
using tinycnn::test::random_vector;

TEST_CASE("gradcheck: batchnorm2d training backward for x, gamma and beta",
          "[reference][gradcheck][batchnorm]") {
  TINYCNN_SEED_INFO();
  struct Case {
    std::string name;
    std::int64_t n, c, plane;
  };
  // Small enough for 2 forward passes per element; plane 1 (after global pooling) and n = 1.
  const Case cases[] = {
      {"n=2 c=3 plane 5", 2, 3, 5},
      {"n=1 c=2 plane 6", 1, 2, 6},
      {"n=4 c=2 plane 1", 4, 2, 1},
      {"n=3 c=1 plane 4", 3, 1, 4},
  };
  std::uint64_t salt = 30;
  for (const Case& cs : cases) {
    INFO("case " << cs.name);
    const std::int64_t total = cs.n * cs.c * cs.plane;
    auto x = random_vector<double>(total, ++salt, -1.0, 2.0);
    auto gamma = random_vector<double>(cs.c, ++salt, 0.5, 1.5);
    auto beta = random_vector<double>(cs.c, ++salt);
    const auto dy = random_vector<double>(total, ++salt);
    const double eps = 1e-5;
    std::vector<double> y(total), mean(cs.c), invstd(cs.c);
    auto loss = [&] {
      ref::batchnorm2d_forward_training_reference<double>(y.data(), mean.data(), invstd.data(),
                                                          nullptr, nullptr, x.data(), gamma.data(),
                                                          beta.data(), cs.n, cs.c, cs.plane, 0.1,
                                                          eps);
      return dot(dy, y);
    };
    loss();  // the saved statistics of the unperturbed x, for backward
    const auto save_mean = mean, save_invstd = invstd;
    auto dx = poisoned_vector<double>(total), dgamma = poisoned_vector<double>(cs.c);
    auto dbeta = poisoned_vector<double>(cs.c);
    ref::batchnorm2d_backward_reference(dx.data(), dgamma.data(), dbeta.data(), dy.data(),
                                        x.data(), gamma.data(), save_mean.data(),
                                        save_invstd.data(), cs.n, cs.c, cs.plane);
    TINYCNN_REQUIRE_GRADIENT(dx, loss, x);
    TINYCNN_REQUIRE_GRADIENT(dgamma, loss, gamma);
    TINYCNN_REQUIRE_GRADIENT(dbeta, loss, beta);
  }
}

TEST_CASE("gradcheck: the batch statistics matter: backward differs from the frozen-statistics one",
          "[reference][gradcheck][batchnorm]") {
  TINYCNN_SEED_INFO();
  // Guards the check above against a backward that ignores the statistics' dependence on x: the
  // frozen-statistics gradient gamma * invstd * dy must be far from the true one.
  const std::int64_t n = 2, c = 2, plane = 3, total = n * c * plane;
  const auto x = random_vector<double>(total, 41), gamma = random_vector<double>(c, 42, 0.5, 1.5);
  const auto beta = random_vector<double>(c, 43), dy = random_vector<double>(total, 44);
  std::vector<double> y(total), mean(c), invstd(c), dx(total), dgamma(c), dbeta(c);
  ref::batchnorm2d_forward_training_reference<double>(y.data(), mean.data(), invstd.data(),
                                                      nullptr, nullptr, x.data(), gamma.data(),
                                                      beta.data(), n, c, plane, 0.1, 1e-5);
  ref::batchnorm2d_backward_reference(dx.data(), dgamma.data(), dbeta.data(), dy.data(), x.data(),
                                      gamma.data(), mean.data(), invstd.data(), n, c, plane);
  std::vector<double> frozen(total);
  for (std::int64_t i = 0; i < total; ++i) {
    const std::int64_t j = (i / plane) % c;
    frozen[i] = gamma[j] * invstd[j] * dy[i];
  }
  const auto cmp = tinycnn::test::compare(frozen.data(), dx.data(), total);
  CHECK(cmp.rel_error > 1e-2);
}

TEST_CASE("batchnorm2d inference with the batch statistics equals the training forward",
          "[reference][batchnorm]") {
  TINYCNN_SEED_INFO();
  const std::int64_t n = 3, c = 4, plane = 7, total = n * c * plane, count = n * plane;
  const auto x = random_vector<double>(total, 51, -1.0, 3.0);
  const auto gamma = random_vector<double>(c, 52, 0.5, 1.5), beta = random_vector<double>(c, 53);
  const double momentum = 0.25;
  auto y = poisoned_vector<double>(total), mean = poisoned_vector<double>(c);
  auto invstd = poisoned_vector<double>(c);
  std::vector<double> rm(c, 0.0), rv(c, 1.0);
  ref::batchnorm2d_forward_training_reference(y.data(), mean.data(), invstd.data(), rm.data(),
                                              rv.data(), x.data(), gamma.data(), beta.data(), n, c,
                                              plane, momentum, 1e-5);
  // The biased variance back from invstd, and the running statistics' definition.
  std::vector<double> var(c);
  for (std::int64_t j = 0; j < c; ++j) {
    var[j] = 1.0 / (invstd[j] * invstd[j]) - 1e-5;
    CHECK(rm[j] == Approx(momentum * mean[j]).epsilon(1e-13));
    CHECK(rv[j] == Approx((1 - momentum) + momentum * var[j] * count / (count - 1)).epsilon(1e-12));
  }
  auto y_eval = poisoned_vector<double>(total);
  ref::batchnorm2d_forward_inference_reference(y_eval.data(), x.data(), gamma.data(), beta.data(),
                                               mean.data(), var.data(), n, c, plane, 1e-5);
  TINYCNN_REQUIRE_CLOSE(y_eval, y, 1e-10);
  // Each channel of the output has mean beta and standard deviation gamma (up to eps).
  for (std::int64_t j = 0; j < c; ++j) {
    double s = 0, s2 = 0;
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t k = 0; k < plane; ++k) {
        const double v = y[(i * c + j) * plane + k];
        s += v, s2 += v * v;
      }
    const double m = s / double(count);
    CHECK(m == Approx(beta[j]).margin(1e-12));
    CHECK(std::sqrt(s2 / double(count) - m * m) == Approx(gamma[j]).epsilon(1e-4));
  }
}

TEST_CASE("gradcheck: dropout backward with the forward's seed", "[reference][gradcheck][dropout]") {
  TINYCNN_SEED_INFO();
  const std::int64_t n = 200;
  for (const double p : {0.0, 0.5, 0.9}) {
    INFO("p=" << p);
    // A fixed seed: whether anything is kept does not depend on the run's test seed.
    const std::uint64_t seed = 0x5eed0000u + std::uint64_t(p * 10);
    auto x = random_vector<double>(n, 60 + std::uint64_t(p * 10));
    const auto dy = random_vector<double>(n, 70 + std::uint64_t(p * 10));
    std::vector<double> y(n);
    auto loss = [&] {
      ref::dropout_forward_reference(y.data(), x.data(), n, p, seed);
      return dot(dy, y);
    };
    auto dx = poisoned_vector<double>(n);
    ref::dropout_backward_reference(dx.data(), dy.data(), n, p, seed);
    std::int64_t kept = 0;
    for (std::int64_t i = 0; i < n; ++i) kept += ref::dropout_keep_reference(seed, i, p);
    REQUIRE(kept > 0);
    if (p == 0.0) REQUIRE(kept == n);
    TINYCNN_REQUIRE_GRADIENT(dx, loss, x);
  }
}

TEST_CASE("gradcheck: mse_loss gradient", "[reference][gradcheck][loss]") {
  TINYCNN_SEED_INFO();
  for (const std::int64_t n : {std::int64_t(1), std::int64_t(5), std::int64_t(64)}) {
    INFO("n=" << n);
    auto x = random_vector<double>(n, 80 + n);
    const auto t = random_vector<double>(n, 90 + n);
    auto loss = [&] { return ref::mse_loss_reference<double>(nullptr, x.data(), t.data(), n); };
    auto dx = poisoned_vector<double>(n);
    const double value = ref::mse_loss_reference(dx.data(), x.data(), t.data(), n);
    CHECK(value == loss());
    TINYCNN_REQUIRE_GRADIENT(dx, loss, x);
  }
}
