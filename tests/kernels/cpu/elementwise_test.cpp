// Tests the CPU elementwise kernels (kernels/cpu/elementwise.hpp) against the reference, at sizes
// below and above the threading threshold, with the documented aliasing (in-place) cases.
#include <catch2/catch.hpp>

#include <tinycnn/kernels/cpu/elementwise.hpp>
#include <tinycnn/kernels/reference/elementwise.hpp>

#include <cstdint>
#include <vector>

#include "support/compare.hpp"
#include "support/data.hpp"

namespace cpu = tinycnn::kernels::cpu;
namespace ref = tinycnn::kernels::reference;
namespace test = tinycnn::test;

namespace {
const std::int64_t kSizes[] = {1, 7, 33, 1000, 200003};
}

TEMPLATE_TEST_CASE("cpu elementwise kernels match the reference", "[cpu][kernels][elementwise]", float, double) {
  using T = TestType;
  TINYCNN_SEED_INFO();
  // The kernels do the same one rounding per element as the reference: results must be equal.
  const double tol = 0.0;
  std::uint64_t salt = 1;
  for (const std::int64_t n : kSizes) {
    INFO("n = " << n);
    const auto x = test::random_vector<T>(n, salt += 5), b = test::random_vector<T>(n, salt + 1);
    const auto dy = test::random_vector<T>(n, salt + 2);
    {
      INFO("relu forward, then in place");
      auto y = test::poisoned_vector<T>(n), want = y;
      ref::relu_forward_reference(want.data(), x.data(), n);
      cpu::relu_forward(y.data(), x.data(), n);
      // Exact equality (NaN never equals): ReLU of a short input can be all zeros, which the
      // relative comparison rejects as vacuous.
      REQUIRE(y == want);
      auto inplace = x;
      cpu::relu_forward(inplace.data(), inplace.data(), n);
      REQUIRE(inplace == want);
    }
    {
      INFO("relu backward, then in place");
      auto fwd = x;
      ref::relu_forward_reference(fwd.data(), x.data(), n);
      auto dx = test::poisoned_vector<T>(n), want = dx;
      ref::relu_backward_reference(want.data(), dy.data(), fwd.data(), n);
      cpu::relu_backward(dx.data(), dy.data(), fwd.data(), n);
      REQUIRE(dx == want);
      auto inplace = dy;
      cpu::relu_backward(inplace.data(), inplace.data(), fwd.data(), n);
      REQUIRE(inplace == want);
    }
    {
      INFO("add, scale, axpy");
      auto y = test::poisoned_vector<T>(n), want = y;
      ref::add_reference(want.data(), x.data(), b.data(), n);
      cpu::add(y.data(), x.data(), b.data(), n);
      TINYCNN_REQUIRE_CLOSE(y, want, tol);
      auto s = test::poisoned_vector<T>(n), s_want = s;
      ref::scale_reference(s_want.data(), x.data(), T(-1.75), n);
      cpu::scale(s.data(), x.data(), T(-1.75), n);
      TINYCNN_REQUIRE_CLOSE(s, s_want, tol);
      auto a = b, a_want = b;
      ref::axpy_reference(a_want.data(), T(0.3), x.data(), n);
      cpu::axpy(a.data(), T(0.3), x.data(), n);
      TINYCNN_REQUIRE_CLOSE(a, a_want, tol);
    }
  }
}

TEMPLATE_TEST_CASE("cpu bias_add matches the reference", "[cpu][kernels][elementwise]", float, double) {
  using T = TestType;
  TINYCNN_SEED_INFO();
  struct Case {
    std::int64_t n, c, plane;
  };
  std::uint64_t salt = 100;
  for (const Case cs : {Case{1, 1, 1}, Case{2, 3, 7}, Case{3, 64, 1024}, Case{1, 1000, 1}}) {
    INFO(cs.n << "x" << cs.c << "x" << cs.plane);
    const auto bias = test::random_vector<T>(cs.c, salt += 3);
    auto y = test::random_vector<T>(cs.n * cs.c * cs.plane, salt + 1), want = y;
    ref::bias_add_reference(want.data(), bias.data(), cs.n, cs.c, cs.plane);
    cpu::bias_add(y.data(), bias.data(), cs.n, cs.c, cs.plane);
    TINYCNN_REQUIRE_CLOSE(y, want, 0.0);
  }
}
