// The fast CPU kernels against the PyTorch fixtures of tests/data (the peer as oracle), in float
// and double.
#include <catch2/catch.hpp>

#include <tinycnn/kernels/cpu/conv.hpp>
#include <tinycnn/kernels/cpu/gemm.hpp>
#include <tinycnn/kernels/cpu/pool.hpp>
#include <tinycnn/kernels/cpu/softmax.hpp>

#include "support/compare.hpp"
#include "support/data.hpp"
#include "support/fixtures.hpp"

using namespace tinycnn;
namespace cpuk = tinycnn::kernels::cpu;

namespace {
template <class T>
constexpr double fixture_tolerance() {
  return std::is_same_v<T, double> ? 1e-10 : 1e-5;
}
}  // namespace

TEMPLATE_TEST_CASE("cpu kernels match PyTorch: conv2d", "[cpu][kernels][conv][fixtures]", float,
                   double) {
  const double tol = fixture_tolerance<TestType>();
  for (const auto& f : test::conv_fixtures()) {
    INFO(f.name);
    const auto x = test::convert<TestType>(f.x), w = test::convert<TestType>(f.w),
               b = test::convert<TestType>(f.b), dy = test::convert<TestType>(f.dy);
    auto y = test::poisoned_vector<TestType>(std::int64_t(f.y.size()));
    cpuk::conv2d_forward_im2col(y.data(), x.data(), w.data(), b.data(), f.desc);
    TINYCNN_REQUIRE_CLOSE(y, f.y, tol);
    auto dx = test::poisoned_vector<TestType>(std::int64_t(f.dx.size()));
    cpuk::conv2d_backward_data_im2col(dx.data(), dy.data(), w.data(), f.desc);
    TINYCNN_REQUIRE_CLOSE(dx, f.dx, tol);
    auto dw = test::poisoned_vector<TestType>(std::int64_t(f.dw.size()));
    cpuk::conv2d_backward_filter_im2col(dw.data(), dy.data(), x.data(), f.desc);
    TINYCNN_REQUIRE_CLOSE(dw, f.dw, tol);
    auto db = test::poisoned_vector<TestType>(std::int64_t(f.db.size()));
    cpuk::conv2d_backward_bias(db.data(), dy.data(), f.desc);
    TINYCNN_REQUIRE_CLOSE(db, f.db, tol);
  }
}

TEMPLATE_TEST_CASE("cpu kernels match PyTorch: pooling", "[cpu][kernels][pool][fixtures]", float,
                   double) {
  const double tol = fixture_tolerance<TestType>();
  for (const auto& f : test::pool_fixtures()) {
    INFO(f.name);
    const auto x = test::convert<TestType>(f.x), dy = test::convert<TestType>(f.dy);
    auto y = test::poisoned_vector<TestType>(std::int64_t(f.y.size()));
    auto dx = test::poisoned_vector<TestType>(std::int64_t(f.dx.size()));
    if (f.is_max) {
      std::vector<std::int32_t> argmax(f.y.size(), -7);
      cpuk::max_pool2d_forward(y.data(), argmax.data(), x.data(), f.desc);
      cpuk::max_pool2d_backward(dx.data(), dy.data(), argmax.data(), f.desc);
    } else {
      cpuk::avg_pool2d_forward(y.data(), x.data(), f.desc);
      cpuk::avg_pool2d_backward(dx.data(), dy.data(), f.desc);
    }
    TINYCNN_REQUIRE_CLOSE(y, f.y, tol);
    TINYCNN_REQUIRE_CLOSE(dx, f.dx, tol);
  }
}

TEMPLATE_TEST_CASE("cpu kernels match PyTorch: gemm", "[cpu][kernels][gemm][fixtures]", float,
                   double) {
  for (const auto& f : test::gemm_fixtures()) {
    INFO(f.name);
    const auto a = test::convert<TestType>(f.a), b = test::convert<TestType>(f.b);
    auto c = test::convert<TestType>(f.c_in);  // NaN when beta == 0: must not be read
    cpuk::gemm_packed(c.data(), a.data(), b.data(), f.desc, TestType(f.alpha), TestType(f.beta));
    TINYCNN_REQUIRE_CLOSE(c, f.c_out, fixture_tolerance<TestType>());
  }
}

TEMPLATE_TEST_CASE("cpu kernels match PyTorch: softmax and cross-entropy",
                   "[cpu][kernels][softmax][fixtures]", float, double) {
  for (const auto& f : test::softmax_fixtures()) {
    INFO(f.name);
    // Logits near 1000 lose their low digits when rounded to float; that is the input, not the
    // kernel (see tests/kernels/reference/fixtures_test.cpp).
    const double big = *std::max_element(f.logits.begin(), f.logits.end());
    const double tol = std::is_same_v<TestType, float> && big > 100 ? 1e-2 : fixture_tolerance<TestType>();
    const auto x = test::convert<TestType>(f.logits), dy = test::convert<TestType>(f.dy);
    const std::int64_t n = f.rows * f.cols;
    auto y = test::poisoned_vector<TestType>(n), dx = test::poisoned_vector<TestType>(n);
    cpuk::softmax_forward(y.data(), x.data(), f.rows, f.cols);
    TINYCNN_REQUIRE_CLOSE(y, f.softmax, tol);
    cpuk::softmax_backward(dx.data(), dy.data(), test::convert<TestType>(f.softmax).data(), f.rows, f.cols);
    TINYCNN_REQUIRE_CLOSE(dx, f.dx_softmax, tol);
    cpuk::log_softmax_forward(y.data(), x.data(), f.rows, f.cols);
    TINYCNN_REQUIRE_CLOSE(y, f.log_softmax, tol);
    cpuk::log_softmax_backward(dx.data(), dy.data(), test::convert<TestType>(f.log_softmax).data(),
                               f.rows, f.cols);
    TINYCNN_REQUIRE_CLOSE(dx, f.dx_log_softmax, tol);
    const TestType loss =
        cpuk::softmax_cross_entropy(dx.data(), x.data(), f.labels.data(), f.rows, f.cols);
    CHECK(double(loss) == Approx(f.loss).epsilon(tol));
    TINYCNN_REQUIRE_CLOSE(dx, f.dlogits, tol);
  }
}
