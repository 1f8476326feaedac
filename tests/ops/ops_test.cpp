// Tensor-level ops on the CPU: results against the reference kernels (float and double) and the
// bad-input table (every op rejects wrong shapes, ranks and parameters with tinycnn::Error).
#include <catch2/catch.hpp>

#include <tinycnn/ops.hpp>
#include <tinycnn/kernels/reference/conv.hpp>
#include <tinycnn/kernels/reference/elementwise.hpp>
#include <tinycnn/kernels/reference/gemm.hpp>
#include <tinycnn/kernels/reference/pool.hpp>
#include <tinycnn/kernels/reference/reduce.hpp>
#include <tinycnn/kernels/reference/softmax.hpp>

#include "support/compare.hpp"
#include "support/data.hpp"

using namespace tinycnn;
namespace ref = tinycnn::kernels::reference;

namespace {
template <class T>
Tensor<T> random_tensor(Shape s, std::uint64_t salt) {
  return Tensor<T>(s, test::random_vector<T>(s.numel(), salt));
}
}  // namespace

TEMPLATE_TEST_CASE("ops: matmul and gemm match the reference", "[ops][gemm]", float, double) {
  TINYCNN_SEED_INFO();
  const double tol = test::default_tolerance<TestType>();
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      INFO("trans_a=" << ta << " trans_b=" << tb);
      const std::int64_t m = 37, n = 29, k = 53;
      auto a = random_tensor<TestType>(ta ? Shape{k, m} : Shape{m, k}, 1);
      auto b = random_tensor<TestType>(tb ? Shape{n, k} : Shape{k, n}, 2);
      auto c = ops::matmul(a, b, ta, tb);
      CHECK(c.shape() == Shape{m, n});
      std::vector<TestType> want(m * n);
      ref::gemm_reference(want.data(), a.data(), b.data(), kernels::packed_gemm(m, n, k, ta, tb),
                          TestType(1), TestType(0));
      TINYCNN_REQUIRE_CLOSE(c.to_vector(), want, tol);
    }
  // Batched, with alpha and beta.
  auto a = random_tensor<TestType>({3, 5, 7}, 3), b = random_tensor<TestType>({3, 7, 4}, 4);
  auto c = random_tensor<TestType>({3, 5, 4}, 5);
  auto want = c.to_vector();
  auto d = kernels::packed_gemm(5, 4, 7);
  d.batch = 3;
  ref::gemm_reference(want.data(), a.data(), b.data(), d, TestType(0.5), TestType(2));
  ops::gemm(c, a, b, TestType(0.5), TestType(2));
  TINYCNN_REQUIRE_CLOSE(c.to_vector(), want, tol);
}

TEMPLATE_TEST_CASE("ops: conv2d forward and backward match the reference", "[ops][conv]", float,
                   double) {
  TINYCNN_SEED_INFO();
  const double tol = test::default_tolerance<TestType>() * 10;
  const auto o = ops::Conv2dOptions{2, 1, 1, 2, 1, 2};
  auto x = random_tensor<TestType>({2, 3, 9, 11}, 10);
  auto w = random_tensor<TestType>({4, 3, 3, 3}, 11);
  auto bias = random_tensor<TestType>({4}, 12);
  const auto d = ops::conv2d_desc("test", x.shape(), w.shape(), o);
  auto y = ops::conv2d(x, w, bias, o);
  REQUIRE(y.shape() == Shape{2, 4, d.p(), d.q()});
  std::vector<TestType> want(y.numel());
  ref::conv2d_forward_reference(want.data(), x.data(), w.data(), bias.data(), d);
  TINYCNN_REQUIRE_CLOSE(y.to_vector(), want, tol);
  // With the ReLU after it: relu(conv2d), bit for bit, with and without bias.
  CHECK(ops::conv2d_relu(x, w, bias, o).to_vector() == ops::relu(y).to_vector());
  CHECK(ops::conv2d_relu(x, w, o).to_vector() == ops::relu(ops::conv2d(x, w, o)).to_vector());

  auto dy = random_tensor<TestType>(y.shape(), 13);
  auto dx = ops::conv2d_backward_data(dy, w, x.shape(), o);
  // Through the ReLU after the convolution: the masked gradient's, bit for bit.
  const auto relu_y = ops::relu(y);
  CHECK(ops::conv2d_backward_data_relu(dy, relu_y, w, x.shape(), o).to_vector() ==
        ops::conv2d_backward_data(ops::relu_backward(dy, relu_y), w, x.shape(), o).to_vector());
  // And through the ReLU before it too (its output: the convolution's input).
  const auto relu_x = ops::relu(x);
  CHECK(ops::conv2d_backward_data_relu(dy, &relu_y, w, x.shape(), o, &relu_x).to_vector() ==
        ops::relu_backward(
            ops::conv2d_backward_data(ops::relu_backward(dy, relu_y), w, x.shape(), o), relu_x)
            .to_vector());
  std::vector<TestType> want_dx(x.numel());
  ref::conv2d_backward_data_reference(want_dx.data(), dy.data(), w.data(), d);
  TINYCNN_REQUIRE_CLOSE(dx.to_vector(), want_dx, tol);

  auto dw = ops::conv2d_backward_filter(dy, x, w.shape(), o);
  std::vector<TestType> want_dw(w.numel());
  ref::conv2d_backward_filter_reference(want_dw.data(), dy.data(), x.data(), d);
  TINYCNN_REQUIRE_CLOSE(dw.to_vector(), want_dw, tol);

  auto db = ops::conv2d_backward_bias(dy);
  std::vector<TestType> want_db(4);
  ref::conv2d_backward_bias_reference(want_db.data(), dy.data(), d);
  TINYCNN_REQUIRE_CLOSE(db.to_vector(), want_db, tol);
}

TEMPLATE_TEST_CASE("ops: pooling matches the reference", "[ops][pool]", float, double) {
  TINYCNN_SEED_INFO();
  const double tol = test::default_tolerance<TestType>();
  auto x = random_tensor<TestType>({2, 3, 13, 13}, 20);
  const auto o = ops::Pool2dOptions::square(3, 2, 0, /*ceil_mode=*/true);
  const auto d = ops::pool2d_desc("test", x.shape(), o);
  auto [y, argmax] = ops::max_pool2d(x, o);
  REQUIRE(y.shape() == Shape{2, 3, 6, 6});
  std::vector<TestType> want(y.numel());
  std::vector<std::int32_t> want_arg(y.numel());
  ref::max_pool2d_forward_reference(want.data(), want_arg.data(), x.data(), d);
  TINYCNN_REQUIRE_CLOSE(y.to_vector(), want, tol);
  CHECK(argmax.to_vector() == want_arg);
  auto dy = random_tensor<TestType>(y.shape(), 21);
  auto dx = ops::max_pool2d_backward(dy, argmax, x.shape(), o);
  std::vector<TestType> want_dx(x.numel());
  ref::max_pool2d_backward_reference(want_dx.data(), dy.data(), want_arg.data(), d);
  TINYCNN_REQUIRE_CLOSE(dx.to_vector(), want_dx, tol);

  auto ya = ops::avg_pool2d(x, o);
  ref::avg_pool2d_forward_reference(want.data(), x.data(), d);
  TINYCNN_REQUIRE_CLOSE(ya.to_vector(), want, tol);
  auto dxa = ops::avg_pool2d_backward(dy, x.shape(), o);
  ref::avg_pool2d_backward_reference(want_dx.data(), dy.data(), d);
  TINYCNN_REQUIRE_CLOSE(dxa.to_vector(), want_dx, tol);

  auto g = ops::global_avg_pool2d(x);
  REQUIRE(g.shape() == Shape{2, 3, 1, 1});
  std::vector<TestType> want_g(6);
  ref::global_avg_pool2d_forward_reference(want_g.data(), x.data(), 6, 169);
  TINYCNN_REQUIRE_CLOSE(g.to_vector(), want_g, tol);
  auto dg = random_tensor<TestType>({2, 3, 1, 1}, 22);
  auto dxg = ops::global_avg_pool2d_backward(dg, x.shape());
  ref::global_avg_pool2d_backward_reference(want_dx.data(), dg.data(), 6, 169);
  TINYCNN_REQUIRE_CLOSE(dxg.to_vector(), want_dx, tol);
}

TEMPLATE_TEST_CASE("ops: elementwise, softmax, reductions, gram match the reference", "[ops]",
                   float, double) {
  TINYCNN_SEED_INFO();
  const double tol = test::default_tolerance<TestType>();
  auto x = random_tensor<TestType>({4, 10}, 30), z = random_tensor<TestType>({4, 10}, 31);
  std::vector<TestType> want(40);

  auto r = ops::relu(x);
  ref::relu_forward_reference(want.data(), x.data(), 40);
  TINYCNN_REQUIRE_CLOSE(r.to_vector(), want, tol);
  auto dr = ops::relu_backward(z, r);
  ref::relu_backward_reference(want.data(), z.data(), r.data(), 40);
  TINYCNN_REQUIRE_CLOSE(dr.to_vector(), want, tol);
  auto xc = x.clone();
  ops::relu_(xc);
  ref::relu_forward_reference(want.data(), x.data(), 40);
  TINYCNN_REQUIRE_CLOSE(xc.to_vector(), want, tol);

  auto s = ops::add(x, z);
  ref::add_reference(want.data(), x.data(), z.data(), 40);
  TINYCNN_REQUIRE_CLOSE(s.to_vector(), want, tol);
  auto sc = ops::scale(x, TestType(-3));
  ref::scale_reference(want.data(), x.data(), TestType(-3), 40);
  TINYCNN_REQUIRE_CLOSE(sc.to_vector(), want, tol);
  auto ax = x.clone();
  ops::axpy_(ax, TestType(0.5), z);
  want = x.to_vector();
  ref::axpy_reference(want.data(), TestType(0.5), z.data(), 40);
  TINYCNN_REQUIRE_CLOSE(ax.to_vector(), want, tol);
  auto bias = random_tensor<TestType>({10}, 32);
  auto bx = x.clone();
  ops::bias_add_(bx, bias);
  want = x.to_vector();
  ref::bias_add_reference(want.data(), bias.data(), 4, 10, 1);
  TINYCNN_REQUIRE_CLOSE(bx.to_vector(), want, tol);

  auto sm = ops::softmax(x);
  ref::softmax_forward_reference(want.data(), x.data(), 4, 10);
  TINYCNN_REQUIRE_CLOSE(sm.to_vector(), want, tol);
  auto dsm = ops::softmax_backward(z, sm);
  ref::softmax_backward_reference(want.data(), z.data(), sm.data(), 4, 10);
  TINYCNN_REQUIRE_CLOSE(dsm.to_vector(), want, tol);
  auto ls = ops::log_softmax(x);
  ref::log_softmax_forward_reference(want.data(), x.data(), 4, 10);
  TINYCNN_REQUIRE_CLOSE(ls.to_vector(), want, tol);
  auto dls = ops::log_softmax_backward(z, ls);
  ref::log_softmax_backward_reference(want.data(), z.data(), ls.data(), 4, 10);
  TINYCNN_REQUIRE_CLOSE(dls.to_vector(), want, tol);

  Tensor<std::int32_t> labels({4}, {3, 0, 9, 5});
  auto ce = ops::softmax_cross_entropy(x, labels);
  const TestType want_loss =
      ref::softmax_cross_entropy_reference(want.data(), x.data(), labels.data(), 4, 10);
  CHECK(ce.loss == Approx(want_loss).epsilon(tol));
  TINYCNN_REQUIRE_CLOSE(ce.dlogits.to_vector(), want, tol);

  CHECK(ops::sum(x) == Approx(ref::sum_reference(x.data(), 40)).epsilon(1e-6));
  CHECK(ops::mean(x) == Approx(ref::mean_reference(x.data(), 40)).epsilon(1e-6));
  CHECK(ops::sum_squares(x) == Approx(ref::sum_squares_reference(x.data(), 40)).epsilon(1e-6));
  CHECK(ops::max(x) == ref::max_reference(x.data(), 40));

  auto f = random_tensor<TestType>({1, 6, 5, 7}, 33);
  auto g = ops::gram(f, TestType(0.25));
  REQUIRE(g.shape() == Shape{6, 6});
  std::vector<TestType> want_g(36);
  ref::gram_reference(want_g.data(), f.data(), 6, 35, TestType(0.25));
  TINYCNN_REQUIRE_CLOSE(g.to_vector(), want_g, tol);
}

TEST_CASE("ops: seeded fills are reproducible and differ across seeds", "[ops][random]") {
  Tensor<float> a({1000}), b({1000}), c({1000});
  ops::uniform_(a, 42, -2.0f, 3.0f);
  ops::uniform_(b, 42, -2.0f, 3.0f);
  ops::uniform_(c, 43, -2.0f, 3.0f);
  CHECK(a.to_vector() == b.to_vector());
  CHECK(a.to_vector() != c.to_vector());
  for (float v : a.to_vector()) REQUIRE((v >= -2.0f && v < 3.0f));
  ops::normal_(a, 7, 1.0f, 2.0f);
  CHECK(ops::mean(a) == Approx(1.0).margin(0.2));
}

// ---- the bad-input table ---------------------------------------------------------------------

TEST_CASE("ops reject bad input with tinycnn::Error naming the problem", "[ops][errors]") {
  using Catch::Contains;
  Tensor<float> x4({2, 3, 8, 8}), w4({4, 3, 3, 3}), m2({3, 4}), m2b({5, 6});

  SECTION("gemm") {
    REQUIRE_THROWS_WITH(ops::matmul(m2, m2b), Contains("inner dimensions differ"));
    REQUIRE_THROWS_WITH(ops::matmul(Tensor<float>({3}), m2), Contains("rank"));
    Tensor<float> c({3, 3});
    REQUIRE_THROWS_WITH(ops::gemm(c, m2, Tensor<float>({4, 5})), Contains("c must be 3x5"));
    REQUIRE_THROWS_WITH(ops::gemm(c, Tensor<float>({2, 3, 4}), Tensor<float>({3, 4, 3}), 1.0f, 0.0f),
                        Contains("rank"));
  }
  SECTION("conv2d") {
    REQUIRE_THROWS_WITH(ops::conv2d(Tensor<float>({3, 8, 8}), w4), Contains("rank 4 (N, C, H, W)"));
    REQUIRE_THROWS_WITH(ops::conv2d(x4, Tensor<float>({4, 3, 3})), Contains("rank 4 (K, C, R, S)"));
    REQUIRE_THROWS_WITH(ops::conv2d(x4, Tensor<float>({4, 2, 3, 3})),
                        Contains("input has 3 channels") && Contains("expects 2"));
    REQUIRE_THROWS_WITH(ops::conv2d(x4, w4, ops::Conv2dOptions{0, 1}), Contains("strides must be positive"));
    REQUIRE_THROWS_WITH(ops::conv2d(x4, w4, ops::Conv2dOptions{1, 1, -1, 0}), Contains("padding"));
    REQUIRE_THROWS_WITH(ops::conv2d(x4, w4, ops::Conv2dOptions{1, 1, 0, 0, 0, 1}),
                        Contains("dilations must be positive"));
    REQUIRE_THROWS_WITH(ops::conv2d(x4, Tensor<float>({4, 3, 9, 9})),
                        Contains("larger than the padded input"));
    REQUIRE_THROWS_WITH(ops::conv2d(x4, w4, Tensor<float>({5})), Contains("bias must have shape [4]"));
    REQUIRE_THROWS_WITH(ops::conv2d_backward_data(Tensor<float>({2, 4, 5, 5}), w4, x4.shape()),
                        Contains("dy must have shape [2, 4, 6, 6]"));
    REQUIRE_THROWS_WITH(ops::conv2d_backward_filter(Tensor<float>({2, 4, 6, 5}), x4, w4.shape()),
                        Contains("dy must have shape [2, 4, 6, 6]"));
    REQUIRE_THROWS_WITH(ops::conv2d_backward_bias(Tensor<float>({2, 4})), Contains("rank 4"));
    REQUIRE_THROWS_WITH(ops::conv2d_backward_data_relu(Tensor<float>({2, 4, 6, 6}),
                                                       Tensor<float>({2, 4, 6, 5}), w4, x4.shape()),
                        Contains("relu_after must have shape [2, 4, 6, 6]"));
  }
  SECTION("pooling") {
    REQUIRE_THROWS_WITH(ops::max_pool2d(Tensor<float>({8, 8}), ops::Pool2dOptions{}), Contains("rank 4"));
    REQUIRE_THROWS_WITH(ops::max_pool2d(x4, ops::Pool2dOptions::square(0, 1)),
                        Contains("kernel must be positive"));
    REQUIRE_THROWS_WITH(ops::avg_pool2d(x4, ops::Pool2dOptions::square(2, 0)),
                        Contains("strides must be positive"));
    REQUIRE_THROWS_WITH(ops::max_pool2d(x4, ops::Pool2dOptions::square(3, 1, 2)),
                        Contains("at most half"));
    REQUIRE_THROWS_WITH(ops::max_pool2d(x4, ops::Pool2dOptions::square(9, 1)),
                        Contains("larger than the padded input"));
    auto r = ops::max_pool2d(x4, ops::Pool2dOptions{});
    REQUIRE_THROWS_WITH(ops::max_pool2d_backward(Tensor<float>({2, 3, 5, 4}), r.argmax, x4.shape(),
                                                 ops::Pool2dOptions{}),
                        Contains("dy must have shape [2, 3, 4, 4]"));
    REQUIRE_THROWS_WITH(ops::global_avg_pool2d(Tensor<float>({2, 3})), Contains("rank 4"));
    REQUIRE_THROWS_WITH(ops::global_avg_pool2d_backward(Tensor<float>({2, 3}), x4.shape()),
                        Contains("dy must have shape [2, 3, 1, 1]"));
  }
  SECTION("elementwise, softmax, loss, reductions, gram, fills") {
    REQUIRE_THROWS_WITH(ops::add(m2, m2b), Contains("b must have shape [3, 4]"));
    Tensor<float> y({3, 4});
    REQUIRE_THROWS_WITH(ops::axpy_(y, 1.0f, m2b), Contains("x must have shape [3, 4]"));
    REQUIRE_THROWS_WITH(ops::relu_backward(m2b, m2), Contains("dy must have shape [3, 4]"));
    REQUIRE_THROWS_WITH(ops::bias_add_(y, Tensor<float>({3})), Contains("bias must have shape [4]"));
    REQUIRE_THROWS_WITH(ops::softmax(Tensor<float>({3, 0})), Contains("non-empty last dimension"));
    REQUIRE_THROWS_WITH(ops::softmax_backward(m2b, m2), Contains("dy must have shape [3, 4]"));
    REQUIRE_THROWS_WITH(ops::softmax_cross_entropy(m2, Tensor<std::int32_t>({2})),
                        Contains("labels must have shape [3]"));
    REQUIRE_THROWS_WITH(ops::softmax_cross_entropy(m2, Tensor<std::int32_t>({3}, {0, 4, 1})),
                        Contains("label 4 at row 1 is outside [0, 4)"));
    REQUIRE_THROWS_WITH(ops::softmax_cross_entropy(m2, Tensor<std::int32_t>({3}, {0, -1, 1})),
                        Contains("label -1"));
    REQUIRE_THROWS_WITH(ops::softmax_cross_entropy(Tensor<float>({3}), Tensor<std::int32_t>({3})),
                        Contains("rank 2"));
    REQUIRE_THROWS_WITH(ops::mean(Tensor<float>({0})), Contains("empty"));
    REQUIRE_THROWS_WITH(ops::max(Tensor<float>({0, 2})), Contains("empty"));
    REQUIRE_THROWS_WITH(ops::gram(Tensor<float>({2, 3, 4, 5})), Contains("(1, C, H, W)"));
    REQUIRE_THROWS_WITH(ops::uniform_(y, 1, 2.0f, 1.0f), Contains("must not exceed"));
    REQUIRE_THROWS_WITH(ops::normal_(y, 1, 0.0f, -1.0f), Contains("stddev"));
  }
}

TEST_CASE("ops: zero-size inputs give empty outputs, not errors", "[ops]") {
  Tensor<float> x({0, 3, 8, 8}), w({4, 3, 3, 3});
  CHECK(ops::conv2d(x, w, ops::Conv2dOptions::square(1, 1)).shape() == Shape{0, 4, 8, 8});
  CHECK(ops::max_pool2d(x, ops::Pool2dOptions{}).y.shape() == Shape{0, 3, 4, 4});
  CHECK(ops::relu(x).numel() == 0);
  CHECK(ops::sum(x) == 0.0f);
  auto dw = ops::conv2d_backward_filter(Tensor<float>({0, 4, 8, 8}), x, w.shape(),
                                        ops::Conv2dOptions::square(1, 1));
  CHECK(dw.to_vector() == std::vector<float>(w.numel(), 0.0f));
}
