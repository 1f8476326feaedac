// Tests the CPU reductions and Gram matrix (kernels/cpu/reduce.hpp) against the reference, from one
// element to lengths where a float accumulator would visibly drift.
#include <catch2/catch.hpp>

#include <tinycnn/kernels/cpu/reduce.hpp>
#include <tinycnn/kernels/reference/reduce.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "support/compare.hpp"
#include "support/data.hpp"

namespace cpu = tinycnn::kernels::cpu;
namespace ref = tinycnn::kernels::reference;
namespace test = tinycnn::test;

TEMPLATE_TEST_CASE("cpu sum, mean, sum_squares and max match the reference", "[cpu][kernels][reduce]", float,
                   double) {
  using T = TestType;
  TINYCNN_SEED_INFO();
  // Both sides accumulate in double; they differ only in summation order (the kernel's blocks vs
  // the reference's left-to-right), an error near 1e-16 * sqrt(n) relative for inputs whose sum
  // does not cancel (a positive mean here), well inside 1e-12. Float results are double sums
  // rounded once, so the default 1e-5 holds even at 4M elements.
  const double tol = test::default_tolerance<T>();
  std::uint64_t salt = 1;
  for (const std::int64_t n : {1, 2, 7, 1000, 65537, 4000037}) {
    INFO("n = " << n);
    const auto x = test::random_vector<T>(n, salt += 3, -0.5, 1.0);
    const T s = cpu::sum(x.data(), n), s_ref = ref::sum_reference(x.data(), n);
    TINYCNN_REQUIRE_CLOSE_N(&s, &s_ref, 1, tol);
    const T m = cpu::mean(x.data(), n), m_ref = ref::mean_reference(x.data(), n);
    TINYCNN_REQUIRE_CLOSE_N(&m, &m_ref, 1, tol);
    const T q = cpu::sum_squares(x.data(), n), q_ref = ref::sum_squares_reference(x.data(), n);
    TINYCNN_REQUIRE_CLOSE_N(&q, &q_ref, 1, tol);
    // The maximum is one of the inputs: exactly equal.
    REQUIRE(cpu::max(x.data(), n) == ref::max_reference(x.data(), n));
    // Negative inputs only, so a maximum taken from a 0 initial value would be caught.
    auto neg = x;
    for (auto& v : neg) v = -std::fabs(v) - T(1);
    REQUIRE(cpu::max(neg.data(), n) == ref::max_reference(neg.data(), n));
  }
  CHECK(cpu::sum(static_cast<const T*>(nullptr), 0) == T(0));
  CHECK(cpu::mean(static_cast<const T*>(nullptr), 0) == T(0));
}

TEMPLATE_TEST_CASE("cpu max follows the reference's NaN rule", "[cpu][kernels][reduce]", float, double) {
  using T = TestType;
  const T nan = std::numeric_limits<T>::quiet_NaN();
  // A NaN first is the answer; later NaNs (also at the start of a thread's block) are never chosen.
  std::vector<T> x(300000, T(-2));
  x[123456] = T(5);
  x[150000] = nan;
  x[0] = T(-3);
  CHECK(cpu::max(x.data(), std::int64_t(x.size())) == ref::max_reference(x.data(), std::int64_t(x.size())));
  x[0] = nan;
  CHECK(std::isnan(cpu::max(x.data(), std::int64_t(x.size()))));
  CHECK(std::isnan(ref::max_reference(x.data(), std::int64_t(x.size()))));
}

TEMPLATE_TEST_CASE("cpu gram matches the reference", "[cpu][kernels][reduce]", float, double) {
  using T = TestType;
  TINYCNN_SEED_INFO();
  struct Case {
    std::int64_t c, m;
  };
  std::uint64_t salt = 100;
  // Style-transfer shapes (features after ReLU, so non-negative) from tiny to VGG conv1_1 at 64 px.
  for (const Case cs : {Case{1, 1}, Case{3, 5}, Case{64, 4096}, Case{129, 257}, Case{256, 1024}}) {
    INFO("C = " << cs.c << ", M = " << cs.m);
    const auto f = test::random_vector<T>(cs.c * cs.m, salt += 3, 0.0, 1.0);
    const T scale = T(1.0 / double(cs.c * cs.m));
    auto g = test::poisoned_vector<T>(cs.c * cs.c), g_ref = g;
    ref::gram_reference(g_ref.data(), f.data(), cs.c, cs.m, scale);
    cpu::gram(g.data(), f.data(), cs.c, cs.m, scale);
    TINYCNN_REQUIRE_CLOSE(g, g_ref, test::default_tolerance<T>());
  }
}
