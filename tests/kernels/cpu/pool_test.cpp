// Tests the CPU pooling kernels (kernels/cpu/pool.hpp) against the reference over pool_cases():
// max (values and argmax, forward and backward), average (both divisor rules), global average.
#include <catch2/catch.hpp>

#include <tinycnn/kernels/cpu/pool.hpp>
#include <tinycnn/kernels/reference/pool.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "support/compare.hpp"
#include "support/data.hpp"
#include "support/problems.hpp"

namespace cpu = tinycnn::kernels::cpu;
namespace ref = tinycnn::kernels::reference;
namespace test = tinycnn::test;
using tinycnn::kernels::Pool2dDesc;

namespace {

// pool_cases() plus one large enough (planes x window work) that the kernels start threads.
std::vector<test::PoolCase> cases() {
  auto all = test::pool_cases();
  all.push_back({"VGG 2x2 s2, threaded", test::pool(2, 64, 32, 32, 2, 2, 2, 2)});
  all.push_back({"NIN 3x3 s2 ceil, threaded", test::pool(1, 96, 55, 55, 3, 3, 2, 2, 0, 0, true)});
  return all;
}

}  // namespace

TEMPLATE_TEST_CASE("cpu max pooling matches the reference, argmax included", "[cpu][kernels][pool]", float,
                   double) {
  using T = TestType;
  TINYCNN_SEED_INFO();
  std::uint64_t salt = 1;
  for (const auto& c : cases()) {
    INFO(c.name);
    const Pool2dDesc& d = c.desc;
    const std::int64_t in = d.n * d.c * d.h * d.w, out = d.n * d.c * d.p() * d.q();
    auto x = test::random_vector<T>(in, salt += 3);
    // Ties: a quarter of the inputs are equal, so the first-in-row-order rule is exercised.
    for (std::int64_t i = 0; i < in; i += 4) x[i] = T(0.5);
    auto y = test::poisoned_vector<T>(out), y_ref = y;
    std::vector<std::int32_t> am(out, -7), am_ref(out, -7);
    ref::max_pool2d_forward_reference(y_ref.data(), am_ref.data(), x.data(), d);
    cpu::max_pool2d_forward(y.data(), am.data(), x.data(), d);
    TINYCNN_REQUIRE_CLOSE(y, y_ref, 0.0);
    REQUIRE(am == am_ref);
    auto y2 = test::poisoned_vector<T>(out);
    cpu::max_pool2d_forward(y2.data(), nullptr, x.data(), d);  // argmax is optional
    TINYCNN_REQUIRE_CLOSE(y2, y_ref, 0.0);

    const auto dy = test::random_vector<T>(out, salt += 3);
    auto dx = test::poisoned_vector<T>(in), dx_ref = dx;
    ref::max_pool2d_backward_reference(dx_ref.data(), dy.data(), am_ref.data(), d);
    cpu::max_pool2d_backward(dx.data(), dy.data(), am.data(), d);
    TINYCNN_REQUIRE_CLOSE(dx, dx_ref, test::default_tolerance<T>());
  }
}

TEMPLATE_TEST_CASE("cpu max pooling with positive_only: the ReLU's backward in front folded in",
                   "[cpu][kernels][pool]", float, double) {
  using T = TestType;
  TINYCNN_SEED_INFO();
  std::uint64_t salt = 50;
  for (const auto& c : cases()) {
    INFO(c.name);
    const Pool2dDesc& d = c.desc;
    const std::int64_t in = d.n * d.c * d.h * d.w, out = d.n * d.c * d.p() * d.q();
    // A ReLU's output with three quarters zeros (whole windows of zeros are common), one NaN.
    auto x = test::random_vector<T>(in, salt += 3);
    for (auto& v : x) v = std::max(v - T(0.5), T(0));
    x[in / 2] = std::numeric_limits<T>::quiet_NaN();
    std::vector<T> y_plain(out), y_ref(out), y(out);
    std::vector<std::int32_t> am_plain(out), am_ref(out, -7), am(out, -7);
    ref::max_pool2d_forward_reference(y_plain.data(), am_plain.data(), x.data(), d);
    ref::max_pool2d_forward_reference(y_ref.data(), am_ref.data(), x.data(), d, true);
    cpu::max_pool2d_forward(y.data(), am.data(), x.data(), d, true);
    REQUIRE(am == am_ref);
    std::int64_t dropped = 0;
    for (std::int64_t i = 0; i < out; ++i) {
      // The same maxima; winners only where the maximum is positive.
      REQUIRE((y_ref[i] == y_plain[i] || (std::isnan(y_ref[i]) && std::isnan(y_plain[i]))));
      REQUIRE((y[i] == y_ref[i] || (std::isnan(y[i]) && std::isnan(y_ref[i]))));
      REQUIRE(am_ref[i] == (y_plain[i] > T(0) ? am_plain[i] : -1));
      dropped += am_ref[i] < 0;
    }
    CHECK(dropped > 0);
    // Backward: the plain pooling's input gradient masked as a ReLU's backward masks it (x > 0).
    const auto dy = test::random_vector<T>(out, salt += 3);
    std::vector<T> dx_plain(in), dx(in);
    ref::max_pool2d_backward_reference(dx_plain.data(), dy.data(), am_plain.data(), d);
    cpu::max_pool2d_backward(dx.data(), dy.data(), am.data(), d);
    for (std::int64_t i = 0; i < in; ++i) REQUIRE(dx[i] == (x[i] > T(0) ? dx_plain[i] : T(0)));
  }
}

TEMPLATE_TEST_CASE("cpu max pooling: a NaN wins as in the reference", "[cpu][kernels][pool]", float, double) {
  using T = TestType;
  const Pool2dDesc d = test::pool(1, 1, 4, 4, 2, 2, 2, 2);
  std::vector<T> x(16, T(1));
  x[5] = std::numeric_limits<T>::quiet_NaN();
  x[4] = T(3);
  std::vector<T> y(4), y_ref(4);
  std::vector<std::int32_t> am(4), am_ref(4);
  ref::max_pool2d_forward_reference(y_ref.data(), am_ref.data(), x.data(), d);
  cpu::max_pool2d_forward(y.data(), am.data(), x.data(), d);
  CHECK(am == am_ref);
  CHECK(std::isnan(y[0]));
  CHECK(y[1] == y_ref[1]);
}

TEMPLATE_TEST_CASE("cpu average pooling matches the reference", "[cpu][kernels][pool]", float, double) {
  using T = TestType;
  TINYCNN_SEED_INFO();
  std::uint64_t salt = 100;
  for (const auto& c : cases())
    for (bool include_pad : {true, false}) {
      Pool2dDesc d = c.desc;
      d.count_include_pad = include_pad;
      INFO(c.name << " count_include_pad=" << include_pad);
      const std::int64_t in = d.n * d.c * d.h * d.w, out = d.n * d.c * d.p() * d.q();
      const auto x = test::random_vector<T>(in, salt += 3);
      auto y = test::poisoned_vector<T>(out), y_ref = y;
      ref::avg_pool2d_forward_reference(y_ref.data(), x.data(), d);
      cpu::avg_pool2d_forward(y.data(), x.data(), d);
      TINYCNN_REQUIRE_CLOSE(y, y_ref, test::default_tolerance<T>());

      const auto dy = test::random_vector<T>(out, salt += 3);
      auto dx = test::poisoned_vector<T>(in), dx_ref = dx;
      ref::avg_pool2d_backward_reference(dx_ref.data(), dy.data(), d);
      cpu::avg_pool2d_backward(dx.data(), dy.data(), d);
      TINYCNN_REQUIRE_CLOSE(dx, dx_ref, test::default_tolerance<T>());
    }
}

TEMPLATE_TEST_CASE("cpu global average pooling matches the reference", "[cpu][kernels][pool]", float, double) {
  using T = TestType;
  TINYCNN_SEED_INFO();
  struct Case {
    std::int64_t planes, plane;
  };
  std::uint64_t salt = 200;
  for (const Case c : {Case{1, 1}, Case{3, 7}, Case{64, 169}, Case{1000, 36}, Case{2, 50176}}) {
    INFO(c.planes << " planes of " << c.plane);
    const auto x = test::random_vector<T>(c.planes * c.plane, salt += 3);
    auto y = test::poisoned_vector<T>(c.planes), y_ref = y;
    ref::global_avg_pool2d_forward_reference(y_ref.data(), x.data(), c.planes, c.plane);
    cpu::global_avg_pool2d_forward(y.data(), x.data(), c.planes, c.plane);
    TINYCNN_REQUIRE_CLOSE(y, y_ref, test::default_tolerance<T>());

    const auto dy = test::random_vector<T>(c.planes, salt += 3);
    auto dx = test::poisoned_vector<T>(c.planes * c.plane), dx_ref = dx;
    ref::global_avg_pool2d_backward_reference(dx_ref.data(), dy.data(), c.planes, c.plane);
    cpu::global_avg_pool2d_backward(dx.data(), dy.data(), c.planes, c.plane);
    TINYCNN_REQUIRE_CLOSE(dx, dx_ref, test::default_tolerance<T>());
  }
}
