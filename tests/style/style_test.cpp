// Style transfer on the CPU: the loss kernels against the reference, gradient checks in double of
// the content, style and total-variation losses and of a whole StyleTransfer evaluation through a
// small network (conv, ReLU, max and average pooling, eval-mode batch norm), frozen networks,
// feature taps, Adam and L-BFGS steps, and bad input.
#include <catch2/catch.hpp>

#include <tinycnn/kernels/reference/style.hpp>
#include <tinycnn/nn/sequential.hpp>
#include <tinycnn/ops/style.hpp>
#include <tinycnn/style/style_transfer.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

#include "support/compare.hpp"
#include "support/data.hpp"
#include "support/gradcheck.hpp"
#include "support/style_net.hpp"

using tinycnn::cpu;
using tinycnn::Shape;
using tinycnn::Tensor;
namespace nn = tinycnn::nn;
namespace ops = tinycnn::ops;
namespace ref = tinycnn::kernels::reference;
namespace style = tinycnn::style;

namespace {

template <class T>
Tensor<T> random_tensor(Shape s, std::uint64_t seed, double lo = -1, double hi = 1) {
  Tensor<T> t(s);
  ops::uniform_(t, seed, T(lo), T(hi));
  return t;
}

template <class T>
std::vector<double> as_double(const Tensor<T>& t) {
  return std::vector<double>(t.data(), t.data() + t.numel());
}

template <class T>
nn::Sequential<T> small_net() {
  return tinycnn::test::style_test_net<T>();
}

style::StyleOptions small_options(style::Optimizer opt = style::Optimizer::kAdam) {
  return tinycnn::test::style_test_options(opt);
}

}  // namespace

TEST_CASE("style loss kernels match the reference", "[style][cpu]") {
  for (std::int64_t n : {1, 7, 1000, 70001}) {
    auto f = random_tensor<float>({n}, 1), p = random_tensor<float>({n}, 2);
    auto g = random_tensor<float>({n}, 3);
    auto g_ref = g.clone();
    float part = 0, part_ref = 0;
    tinycnn::kernels::cpu::squared_error(g.data(), f.data(), p.data(), n, 0.3f, 1.0f, &part);
    ref::squared_error_reference(g_ref.data(), f.data(), p.data(), n, 0.3f, 1.0f, &part_ref);
    TINYCNN_REQUIRE_CLOSE(as_double(g), as_double(g_ref), 1e-6);
    REQUIRE(part == Approx(part_ref).epsilon(1e-5));
    REQUIRE(ops::dot(f, p) == Approx(tinycnn::test::dot(as_double(f), as_double(p))).epsilon(1e-5));
    double l1 = 0;
    for (std::int64_t i = 0; i < n; ++i) l1 += std::fabs(f.data()[i]);
    REQUIRE(ops::abs_sum(f) == Approx(l1).epsilon(1e-5));
  }
  for (auto s : {Shape{1, 1, 1, 1}, Shape{1, 3, 5, 1}, Shape{2, 3, 1, 6}, Shape{1, 3, 67, 45}}) {
    auto x = random_tensor<float>(s, 4);
    auto g = random_tensor<float>(s, 5), g_ref = g.clone();
    float part = 0, part_ref = 0;
    tinycnn::kernels::cpu::tv_loss(g.data(), x.data(), s[0] * s[1], s[2], s[3], 0.7f, 1.0f, &part);
    ref::tv_loss_reference(g_ref.data(), x.data(), s[0] * s[1], s[2], s[3], 0.7f, 1.0f, &part_ref);
    TINYCNN_REQUIRE_CLOSE(as_double(g), as_double(g_ref), 1e-6);
    REQUIRE(part == Approx(part_ref).epsilon(1e-5).margin(1e-7));
  }
}

TEST_CASE("losses queued into one LossBuffer equal the losses read one by one", "[style][cpu]") {
  const auto f = random_tensor<double>({1, 4, 5, 6}, 40),
             p = random_tensor<double>({1, 4, 5, 6}, 41);
  const auto target = random_tensor<double>({4, 4}, 42),
             x = random_tensor<double>({1, 3, 6, 5}, 43);
  ops::LossBuffer<double, cpu> values(3);
  Tensor<double> gf, gx;
  ops::content_loss(f, p, 2.0, &gf, values);
  ops::style_loss(f, target, 3.0, &gf, values);
  ops::tv_loss(x, 0.5, &gx, values);
  CHECK_THROWS_AS(values.add(1.0), tinycnn::Error);
  const std::vector<double> v = values.read();
  REQUIRE(v.size() == 3);
  Tensor<double> cf, cx;
  CHECK(v[0] == Approx(ops::content_loss(f, p, 2.0, &cf)).epsilon(1e-12));
  CHECK(v[1] == Approx(ops::style_loss(f, target, 3.0, &cf)).epsilon(1e-12));
  CHECK(v[2] == Approx(ops::tv_loss(x, 0.5, &cx)).epsilon(1e-12));
  TINYCNN_REQUIRE_CLOSE(as_double(gf), as_double(cf), 1e-14);
  TINYCNN_REQUIRE_CLOSE(as_double(gx), as_double(cx), 1e-14);
  CHECK(ops::LossBuffer<double, cpu>(0).read().empty());
}

TEST_CASE("content, style and TV losses pass finite-difference checks in double", "[style][cpu]") {
  const Shape fs{1, 5, 4, 3};
  auto f = random_tensor<double>(fs, 21);
  const auto p = random_tensor<double>(fs, 22);
  const auto a = ops::style_gram(random_tensor<double>(fs, 23, 0, 1));
  std::vector<double> x = as_double(f);
  auto at_x = [&] { return Tensor<double>(fs, x); };

  SECTION("content") {
    Tensor<double> g;
    const double loss = ops::content_loss(f, p, 3.0, &g);
    double expect = 0;
    for (std::int64_t i = 0; i < f.numel(); ++i) expect += std::pow(f.data()[i] - p.data()[i], 2);
    REQUIRE(loss == Approx(3.0 * expect / double(f.numel())).epsilon(1e-12));
    TINYCNN_REQUIRE_GRADIENT(as_double(g), [&] { return ops::content_loss(at_x(), p, 3.0); }, x);
  }
  SECTION("style") {
    Tensor<double> g;
    ops::style_loss(f, a, 40.0, &g);
    TINYCNN_REQUIRE_GRADIENT(as_double(g), [&] { return ops::style_loss(at_x(), a, 40.0); }, x);
  }
  SECTION("total variation") {
    Tensor<double> g;
    ops::tv_loss(f, 0.25, &g);
    TINYCNN_REQUIRE_GRADIENT(as_double(g), [&] { return ops::tv_loss(at_x(), 0.25); }, x);
  }
  SECTION("gradients accumulate into an existing tensor") {
    Tensor<double> g = Tensor<double>::full(fs, 1.5), fresh;
    ops::style_loss(f, a, 40.0, &g);
    ops::style_loss(f, a, 40.0, &fresh);
    for (std::int64_t i = 0; i < g.numel(); ++i) REQUIRE(g.data()[i] == Approx(fresh.data()[i] + 1.5));
  }
}

TEST_CASE("a StyleTransfer evaluation passes a finite-difference check in double", "[style][cpu]") {
  auto net = small_net<double>();
  style::StyleTransfer<double, cpu> st(net, small_options());
  const Shape is{1, 3, 9, 7};
  st.set_content(random_tensor<double>(is, 31));
  st.set_style(random_tensor<double>({1, 3, 12, 10}, 32));  // a different size is fine
  auto image = random_tensor<double>(is, 33);
  Tensor<double> g;
  const auto l = st.evaluate(image, &g);
  REQUIRE(l.content > 0);
  REQUIRE(l.style > 0);
  REQUIRE(l.tv > 0);
  std::vector<double> x = as_double(image);
  TINYCNN_REQUIRE_GRADIENT(as_double(g), [&] { return st.evaluate(Tensor<double>(is, x)).total(); }, x);
  // The network is frozen: no parameter received a gradient.
  for (auto& [name, p] : net.parameters()) REQUIRE(p->grad_is_zero);
}

TEST_CASE("feature taps: outputs equal forward_until, backward_taps sums tap gradients", "[style][cpu]") {
  auto net = small_net<double>();
  net.eval();
  net.freeze();
  const auto x = random_tensor<double>({1, 3, 8, 8}, 41);
  const auto taps = net.tap_indices({"relu1_1", "conv3_1"});
  net.set_grad_enabled(false);
  net.forward_taps(x, taps);
  const auto relu1 = net.tap_output(taps[0]).clone();
  const auto conv3 = net.tap_output(taps[1]).clone();
  REQUIRE_THROWS_WITH(net.tap_output(net.index_of("pool1")), Catch::Contains("was not a tap"));
  TINYCNN_REQUIRE_CLOSE(as_double(relu1), as_double(net.forward_until(x, "relu1_1")), 0);
  TINYCNN_REQUIRE_CLOSE(as_double(conv3), as_double(net.forward_until(x, "conv3_1")), 0);

  // d/dx of <w1, relu1_1(x)> + <w3, conv3_1(x)> through backward_taps against finite differences.
  const auto w1 = random_tensor<double>(relu1.shape(), 42), w3 = random_tensor<double>(conv3.shape(), 43);
  net.set_grad_enabled(true);
  net.forward_taps(x, taps);
  auto dx = net.backward_taps([&](std::size_t i, const Tensor<double>&, Tensor<double>& dy) {
    const auto& w = i == taps[0] ? w1 : w3;
    if (dy.empty()) dy = w.clone();
    else ops::axpy_(dy, 1.0, w);
  });
  std::vector<double> xv = as_double(x);
  net.set_grad_enabled(false);
  auto f = [&] {
    net.forward_taps(Tensor<double>(x.shape(), xv), taps);
    return tinycnn::test::dot(as_double(net.tap_output(taps[0])), as_double(w1)) +
           tinycnn::test::dot(as_double(net.tap_output(taps[1])), as_double(w3));
  };
  TINYCNN_REQUIRE_GRADIENT(as_double(dx), f, xv);
  REQUIRE_THROWS_WITH(net.backward_taps([](std::size_t, const Tensor<double>&, Tensor<double>&) {}),
                      Catch::Contains("forward_taps with gradients"));
}

TEST_CASE("Adam and L-BFGS lower the style-transfer loss", "[style][cpu]") {
  for (auto opt : {style::Optimizer::kAdam, style::Optimizer::kLbfgs}) {
    auto net = small_net<float>();
    auto o = small_options(opt);
    o.lbfgs_history = 5;
    style::StyleTransfer<float, cpu> st(net, o);
    st.set_content(random_tensor<float>({1, 3, 16, 12}, 51));
    st.set_style(random_tensor<float>({1, 3, 16, 16}, 52));
    auto image = random_tensor<float>({1, 3, 16, 12}, 53);
    const double first = st.step(image).total();
    double last = first;
    for (int i = 0; i < 30; ++i) last = st.step(image).total();
    INFO("optimizer " << int(opt) << ": " << first << " -> " << last);
    REQUIRE(last < 0.5 * first);
    REQUIRE(st.iteration() == 31);
  }
}

TEST_CASE("reset_optimizer starts the optimiser afresh; cuda_graph is ignored on the CPU",
          "[style][cpu]") {
  for (auto opt : {style::Optimizer::kAdam, style::Optimizer::kLbfgs}) {
    INFO("optimizer " << int(opt));
    auto net = small_net<float>();
    auto o = small_options(opt);
    o.cuda_graph = true;
    style::StyleTransfer<float, cpu> st(net, o);
    st.set_content(random_tensor<float>({1, 3, 16, 12}, 61));
    st.set_style(random_tensor<float>({1, 3, 16, 16}, 62));
    const auto start = random_tensor<float>({1, 3, 16, 12}, 63);
    // Three steps from `start`, twice, with reset_optimizer() between: the same images.
    std::vector<std::vector<float>> runs;
    for (int run = 0; run < 2; ++run) {
      auto image = start.clone();
      for (int i = 0; i < 3; ++i) {
        st.step(image);
        CHECK_FALSE(st.graph_replayed());
      }
      CHECK(st.iteration() == 3);
      runs.push_back(std::vector<float>(image.data(), image.data() + image.numel()));
      st.reset_optimizer();
      CHECK(st.iteration() == 0);
    }
    REQUIRE(runs[0] == runs[1]);
  }
}

TEST_CASE("style transfer rejects bad input with clear errors", "[style][cpu]") {
  auto net = small_net<float>();
  auto o = small_options();
  SECTION("unknown layer") {
    o.style.push_back({"relu9_9", 1.0});
    REQUIRE_THROWS_WITH((style::StyleTransfer<float, cpu>(net, o)), Catch::Contains("relu9_9"));
  }
  SECTION("no layers") {
    REQUIRE_THROWS_WITH((style::StyleTransfer<float, cpu>(net, style::StyleOptions{})),
                        Catch::Contains("no content or style layers"));
  }
  SECTION("image shapes") {
    style::StyleTransfer<float, cpu> st(net, o);
    REQUIRE_THROWS_WITH(st.set_content(Tensor<float>({1, 1, 8, 8})), Catch::Contains("(1, 3, H, W)"));
    st.set_content(random_tensor<float>({1, 3, 8, 8}, 1));
    auto image = random_tensor<float>({1, 3, 8, 6}, 2);
    REQUIRE_THROWS_WITH(st.evaluate(image), Catch::Contains("set_style"));
    st.set_style(random_tensor<float>({1, 3, 8, 8}, 3));
    REQUIRE_THROWS_WITH(st.evaluate(image), Catch::Contains("content image's shape"));
  }
  SECTION("a NaN loss stops with the iteration and leaves the image alone") {
    style::StyleTransfer<float, cpu> st(net, o);
    st.set_content(random_tensor<float>({1, 3, 8, 8}, 1));
    st.set_style(random_tensor<float>({1, 3, 8, 8}, 3));
    auto image = random_tensor<float>({1, 3, 8, 8}, 2);
    st.step(image);
    image.data()[5] = std::nanf("");
    const auto before = as_double(image);
    REQUIRE_THROWS_WITH(st.step(image), Catch::Contains("not finite at iteration 2"));
    const auto after = as_double(image);
    for (std::size_t i = 0; i < before.size(); ++i)
      REQUIRE((after[i] == before[i] || (std::isnan(after[i]) && std::isnan(before[i]))));
  }
  SECTION("loss ops") {
    REQUIRE_THROWS_WITH(ops::style_loss(Tensor<float>({2, 3, 4, 4}), Tensor<float>({3, 3}), 1.0f),
                        Catch::Contains("(1, C, H, W)"));
    REQUIRE_THROWS_WITH(ops::style_loss(Tensor<float>({1, 3, 4, 4}), Tensor<float>({4, 4}), 1.0f),
                        Catch::Contains("target Gram matrix must be (3, 3)"));
    REQUIRE_THROWS_WITH(ops::content_loss(Tensor<float>({1, 3, 4, 4}), Tensor<float>({1, 3, 4, 5}), 1.0f),
                        Catch::Contains("target must have shape"));
    REQUIRE_THROWS_WITH(ops::tv_loss(Tensor<float>({3, 4, 4}), 1.0f), Catch::Contains("(N, C, H, W)"));
    REQUIRE_THROWS_WITH(ops::dot(Tensor<float>({3}), Tensor<float>({4})), Catch::Contains("dot"));
  }
}
