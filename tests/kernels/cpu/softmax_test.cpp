// Tests the CPU softmax family (kernels/cpu/softmax.hpp) against the reference: forward and
// backward of softmax and log-softmax, and softmax cross-entropy with its gradient.
#include <catch2/catch.hpp>

#include <tinycnn/kernels/cpu/softmax.hpp>
#include <tinycnn/kernels/reference/softmax.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

#include "support/compare.hpp"
#include "support/data.hpp"

namespace cpu = tinycnn::kernels::cpu;
namespace ref = tinycnn::kernels::reference;
namespace test = tinycnn::test;

namespace {
struct Shape {
  std::int64_t rows, cols;
};
// A single element, odd shapes, a classifier head (1000 classes) and enough rows to thread.
const Shape kShapes[] = {{1, 1}, {1, 7}, {5, 3}, {33, 10}, {4, 1000}, {300, 129}};
}  // namespace

TEMPLATE_TEST_CASE("cpu softmax and log-softmax match the reference", "[cpu][kernels][softmax]", float, double) {
  using T = TestType;
  TINYCNN_SEED_INFO();
  const double tol = test::default_tolerance<T>();
  std::uint64_t salt = 1;
  for (const Shape s : kShapes) {
    INFO(s.rows << "x" << s.cols);
    const std::int64_t n = s.rows * s.cols;
    // Logits up to +-30: exp without the max shift would lose float precision at the top end.
    const auto x = test::random_vector<T>(n, salt += 5, -30.0, 30.0);
    const auto dy = test::random_vector<T>(n, salt + 1);
    auto y = test::poisoned_vector<T>(n), y_ref = y;
    ref::softmax_forward_reference(y_ref.data(), x.data(), s.rows, s.cols);
    cpu::softmax_forward(y.data(), x.data(), s.rows, s.cols);
    TINYCNN_REQUIRE_CLOSE(y, y_ref, tol);
    auto dx = test::poisoned_vector<T>(n), dx_ref = dx;
    ref::softmax_backward_reference(dx_ref.data(), dy.data(), y_ref.data(), s.rows, s.cols);
    cpu::softmax_backward(dx.data(), dy.data(), y_ref.data(), s.rows, s.cols);
    if (s.cols > 1) TINYCNN_REQUIRE_CLOSE(dx, dx_ref, tol);  // one column: the gradient is 0

    auto ly = test::poisoned_vector<T>(n), ly_ref = ly;
    ref::log_softmax_forward_reference(ly_ref.data(), x.data(), s.rows, s.cols);
    cpu::log_softmax_forward(ly.data(), x.data(), s.rows, s.cols);
    if (s.cols > 1) TINYCNN_REQUIRE_CLOSE(ly, ly_ref, tol);  // one column: log 1 = 0
    auto ldx = test::poisoned_vector<T>(n), ldx_ref = ldx;
    ref::log_softmax_backward_reference(ldx_ref.data(), dy.data(), ly_ref.data(), s.rows, s.cols);
    cpu::log_softmax_backward(ldx.data(), dy.data(), ly_ref.data(), s.rows, s.cols);
    if (s.cols > 1) TINYCNN_REQUIRE_CLOSE(ldx, ldx_ref, tol);
    if (s.cols == 1) {  // the exact values for a single class
      for (std::int64_t i = 0; i < n; ++i) REQUIRE((ly[i] == T(0) && dx[i] == T(0) && y[i] == T(1)));
    }
  }
}

TEMPLATE_TEST_CASE("cpu softmax cross-entropy matches the reference", "[cpu][kernels][softmax]", float,
                   double) {
  using T = TestType;
  TINYCNN_SEED_INFO();
  const double tol = test::default_tolerance<T>();
  std::uint64_t salt = 100;
  for (const Shape s : kShapes) {
    if (s.cols < 2) continue;
    INFO(s.rows << "x" << s.cols);
    const std::int64_t n = s.rows * s.cols;
    const auto x = test::random_vector<T>(n, salt += 5, -5.0, 5.0);
    const auto u = test::random_vector<double>(s.rows, salt + 1, 0.0, 1.0);
    std::vector<std::int32_t> labels(s.rows);
    for (std::int64_t i = 0; i < s.rows; ++i) labels[i] = std::int32_t(std::min<double>(u[i] * s.cols, s.cols - 1));
    auto g = test::poisoned_vector<T>(n), g_ref = g;
    const T loss_ref = ref::softmax_cross_entropy_reference(g_ref.data(), x.data(), labels.data(), s.rows, s.cols);
    const T loss = cpu::softmax_cross_entropy(g.data(), x.data(), labels.data(), s.rows, s.cols);
    TINYCNN_REQUIRE_CLOSE_N(&loss, &loss_ref, 1, tol);
    TINYCNN_REQUIRE_CLOSE(g, g_ref, tol);
    const T loss_only = cpu::softmax_cross_entropy(static_cast<T*>(nullptr), x.data(), labels.data(), s.rows,
                                                   s.cols);
    TINYCNN_REQUIRE_CLOSE_N(&loss_only, &loss_ref, 1, tol);
  }
}
