// The image split by rows across ranks (1, 2 and 3 under mpirun): every rank's block of every
// tapped feature map, the losses, the image gradient and whole optimiser runs equal the
// single-process computation (double, to 1e-12), for VGG-style (3x3 convolutions, 2x2 pooling)
// and NIN-style (11x11 stride-4 convolution, 3x3/2 ceil-mode pooling) networks, with heights that
// leave the ranks uneven blocks and some ranks no rows at all in the deep layers.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "support/mpi_world.hpp"
#include "tinycnn/dist/spatial_style.hpp"
#include "tinycnn/models/nin.hpp"
#include "tinycnn/models/vgg.hpp"
#include "tinycnn/ops/random.hpp"
#include "tinycnn/style/presets.hpp"
#include "tinycnn/style/style_transfer.hpp"

using namespace tinycnn;

namespace {

Tensor<double> random_image(const Shape& s, std::uint64_t seed) {
  Tensor<double> x = Tensor<double>::uninitialized(s);
  ops::uniform_(x, seed, -1.0, 1.0);
  return x;
}

// max |a - b| / (1 + max |b|)
double rel_diff(const Tensor<double>& a, const Tensor<double>& b) {
  REQUIRE(a.shape() == b.shape());
  const auto va = a.to_vector(), vb = b.to_vector();
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < va.size(); ++i) {
    diff = std::max(diff, std::abs(va[i] - vb[i]));
    scale = std::max(scale, std::abs(vb[i]));
  }
  return diff / (1 + scale);
}

struct Case {
  std::string name;
  nn::Sequential<double> net;
  style::StyleOptions options;
  Shape image, style_image;
};

Case vgg_case() {
  style::StyleOptions o;
  o.content = {{"relu3_2", 0.5}};
  o.style = {{"relu1_1", 10.0}, {"relu2_1", 10.0}, {"relu3_1", 10.0}, {"relu4_1", 10.0}};
  o.tv_weight = 0.01;
  return {"VGG-11", models::vgg11<double>({.classifier = false, .seed = 3, .width_divisor = 16}),
          o, {1, 3, 37, 29}, {1, 3, 26, 33}};
}

Case nin_case() {
  style::StyleOptions o = style::chainer_gogh_nin();
  o.tv_weight = 0.02;
  o.content[0].layer = "cccp6";  // a tap on a convolution's output, before its ReLU
  return {"NIN", models::nin_imagenet<double>({.classifier = false, .seed = 4, .width_divisor = 16}),
          o, {1, 3, 71, 61}, {1, 3, 59, 64}};
}

}  // namespace

TEST_CASE("take_rows and gather_rows split and reassemble a tensor", "[dist]") {
  auto& comm = test::world();
  const Shape s{2, 3, 11, 5};
  const auto x = random_image(s, 1);
  const auto mine = dist::take_rows(x, dist::block_range(11, comm.rank(), comm.size()));
  for (int root = 0; root < comm.size(); ++root) {
    const auto whole = dist::gather_rows(comm, mine, s, root);
    if (comm.rank() == root)
      CHECK(whole.to_vector() == x.to_vector());
    else
      CHECK(whole.empty());
  }
  CHECK_THROWS_WITH(dist::gather_rows(comm, random_image({2, 3, mine.dim(2) + 1, 5}, 2), s),
                    Catch::Contains("must pass them as"));
}

TEST_CASE("the spatially split forward and image gradient equal the unsplit ones", "[dist]") {
  auto& comm = test::world();
  for (int which = 0; which < 2; ++which) {
    Case c = which == 0 ? vgg_case() : nin_case();
    INFO(c.name << ", rank " << comm.rank() << " of " << comm.size());
    const auto content = random_image(c.image, 11), style_image = random_image(c.style_image, 12);
    const auto image = random_image(c.image, 13);
    const dist::Range own = dist::block_range(c.image[2], comm.rank(), comm.size());

    // Forward taps: every rank's block of every tap.
    auto reference = c.net.to<cpu>();
    reference.eval();
    std::vector<std::size_t> taps;
    for (const auto& l : c.options.style) taps.push_back(reference.index_of(l.layer));
    for (const auto& l : c.options.content) taps.push_back(reference.index_of(l.layer));
    reference.set_grad_enabled(false);
    reference.forward_taps(image, taps);
    dist::SpatialSequential<double, cpu> split(c.net, comm);
    c.net.eval();
    split.forward_taps(dist::take_rows(image, own), c.image, taps, false);
    for (std::size_t t : taps) {
      const auto& whole = reference.tap_output(t);
      const auto rows = dist::block_range(whole.dim(2), comm.rank(), comm.size());
      INFO("tap " << reference.name(t) << " " << whole.shape() << ", rows [" << rows.begin << ", "
                  << rows.end << ")");
      CHECK(rel_diff(split.tap_output(t), dist::take_rows(whole, rows)) < 1e-13);
    }
    split.release();

    // Losses and the image gradient.
    style::StyleTransfer<double, cpu> one(reference, c.options);
    one.set_content(content);
    one.set_style(style_image);
    Tensor<double> g_one;
    const auto l_one = one.evaluate(image, &g_one);

    dist::SpatialStyleTransfer<double, cpu> st(c.net, comm, c.options);
    st.set_content(dist::take_rows(content, own), c.image);
    st.set_style(dist::take_rows(style_image, st.rows(c.style_image[2])), c.style_image);
    Tensor<double> g;
    const auto l = st.evaluate(dist::take_rows(image, own), c.image, &g);
    CHECK(l.content == Approx(l_one.content).epsilon(1e-12));
    CHECK(l.style == Approx(l_one.style).epsilon(1e-12));
    CHECK(l.tv == Approx(l_one.tv).epsilon(1e-12));
    REQUIRE(l_one.content > 0);
    REQUIRE(l_one.style > 0);
    REQUIRE(l_one.tv > 0);
    CHECK(rel_diff(g, dist::take_rows(g_one, own)) < 1e-12);
    // Several ranks: the whole gradient, gathered, is the single-process one.
    const auto whole = dist::gather_rows(comm, g, c.image);
    if (comm.rank() == 0) CHECK(rel_diff(whole, g_one) < 1e-12);
  }
}

TEST_CASE("split style transfer runs Adam and L-BFGS step for step with one process", "[dist]") {
  auto& comm = test::world();
  for (auto kind : {style::Optimizer::kAdam, style::Optimizer::kLbfgs}) {
    Case c = vgg_case();
    c.options.optimizer = kind;
    c.options.learning_rate = kind == style::Optimizer::kAdam ? 0.05 : 1.0;
    INFO((kind == style::Optimizer::kAdam ? "Adam" : "L-BFGS") << ", rank " << comm.rank());
    const auto content = random_image(c.image, 21), style_image = random_image(c.style_image, 22);
    auto reference = c.net.to<cpu>();
    style::StyleTransfer<double, cpu> one(reference, c.options);
    one.set_content(content);
    one.set_style(style_image);
    dist::SpatialStyleTransfer<double, cpu> st(c.net, comm, c.options);
    const auto own = st.rows(c.image[2]);
    st.set_content(dist::take_rows(content, own), c.image);
    st.set_style(dist::take_rows(style_image, st.rows(c.style_image[2])), c.style_image);
    auto image = content.clone();
    auto rows = dist::take_rows(image, own);
    double first = 0, last = 0;
    for (int i = 0; i < 6; ++i) {
      const auto l_one = one.step(image);
      const auto l = st.step(rows, c.image);
      CHECK(l.total() == Approx(l_one.total()).epsilon(1e-11));
      (i == 0 ? first : last) = l.total();
    }
    CHECK(last < first);
    CHECK(st.iteration() == 6);
    CHECK(rel_diff(rows, dist::take_rows(image, own)) < 1e-10);
  }
}

TEST_CASE("a spatial split names layers and inputs it cannot take", "[dist]") {
  auto& comm = test::world();
  nn::Sequential<double> net;
  net << nn::Conv2d(3, 4, 3) << nn::Flatten() << nn::Linear(4 * 6 * 6, 2);
  net.eval();
  dist::SpatialSequential<double, cpu> split(net, comm);
  const Shape s{1, 3, 8, 8};
  const auto rows = dist::take_rows(random_image(s, 1), split.rows(8));
  CHECK_THROWS_WITH(split.forward_taps(rows, s, {2}, false),
                    Catch::Contains("layer '1'") && Catch::Contains("cannot be split by rows"));
  CHECK_THROWS_WITH(split.forward_taps(random_image({1, 3, 9, 8}, 2), s, {0}, false),
                    Catch::Contains("must pass them as"));
  nn::Sequential<double> padded_pool;
  padded_pool << nn::MaxPool2d(3, {.stride = 2, .padding = 1});
  padded_pool.eval();
  dist::SpatialSequential<double, cpu> split2(padded_pool, comm);
  CHECK_THROWS_WITH(split2.forward_taps(rows, s, {0}, false), Catch::Contains("vertical padding"));
}
