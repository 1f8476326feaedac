// Transformed filters kept between calls (ops::ConvFilterCache): made once per version of the
// filter tensor, made again whenever it changes, the same outputs and gradients as transforming
// on every call (bit for bit); kept by frozen nn::Conv2d layers only. And the Tensor versions the
// cache relies on.
#include <catch2/catch.hpp>

#include <tinycnn/nn/sequential.hpp>
#include <tinycnn/ops/conv.hpp>

#include <set>
#include <utility>
#include <vector>

#include "support/compare.hpp"
#include "support/data.hpp"

using namespace tinycnn;

namespace {

Tensor<float> random_tensor(const Shape& s, std::uint64_t salt) {
  return Tensor<float>(s, test::random_vector<float>(s.numel(), salt));
}

// Forward and backward data with the cache and without agree to rounding (for layers that take
// Winograd only with one).
void require_close_with_and_without(ops::ConvFilterCache<float, cpu>& cache, const Tensor<float>& x,
                                    const Tensor<float>& w, const Tensor<float>& dy,
                                    const ops::Conv2dOptions& o) {
  const double tol = test::default_tolerance<float>();
  TINYCNN_REQUIRE_CLOSE(ops::conv2d(x, w, o, &cache).to_vector(), ops::conv2d(x, w, o).to_vector(),
                        tol);
  TINYCNN_REQUIRE_CLOSE(ops::conv2d_backward_data(dy, w, x.shape(), o, &cache).to_vector(),
                        ops::conv2d_backward_data(dy, w, x.shape(), o).to_vector(), tol);
}

}  // namespace

TEST_CASE("Tensor: a new version on every access that can write, never shared", "[core][tensor]") {
  Tensor<float> a({4}), b({4});
  std::set<std::uint64_t> seen{a.version(), b.version()};
  CHECK(seen.size() == 2);
  const auto v = a.version();
  const Tensor<float>& ca = a;
  (void)ca.data(), (void)ca.view(), (void)ca.to_vector(), (void)a.clone();
  CHECK(a.version() == v);  // reading changes nothing
  auto writes = [&](auto&& access) {
    const auto before = a.version();
    access();
    CHECK(a.version() != before);
    CHECK(seen.insert(a.version()).second);
  };
  writes([&] { (void)a.data(); });
  writes([&] { (void)a.view(); });
  writes([&] { a.at(1) = 2.0f; });
  writes([&] { a.fill(3.0f); });
  writes([&] { a.zero_(); });
  writes([&] { a = Tensor<float>({4}); });
  // A move carries the version with the elements; the emptied tensor takes a new one.
  const auto moved = a.version();
  Tensor<float> c = std::move(a);
  CHECK(c.version() == moved);
  CHECK(a.version() != moved);  // NOLINT: moved-from state is specified
  CHECK(a.clone().version() != a.version());
}

TEST_CASE("ops: a ConvFilterCache holds the prepared filter until the filter changes",
          "[ops][conv]") {
  // 3x3, 48 -> 40 channels on 32 x 32 (64 4x4 blocks): forward and backward data run by Winograd
  // (unless TINYCNN_CONV_WINOGRAD=0: then the direct path's packed operands are kept, and the
  // results still agree).
  using kernels::KeptFilter;
  const auto o = ops::Conv2dOptions::square(1, 1);
  const Tensor<float> x = random_tensor({1, 48, 32, 32}, 1), dy = random_tensor({1, 40, 32, 32}, 2);
  Tensor<float> w = random_tensor({40, 48, 3, 3}, 3);
  const bool winograd = kernels::cpu::conv2d_forward_filter_plan<float>(
                            ops::conv2d_desc("test", x.shape(), w.shape(), o))
                            .kind == KeptFilter::winograd;
  ops::ConvFilterCache<float, cpu> cache;
  auto check = [&](std::int64_t transforms) {
    const auto y = ops::conv2d(x, w, o).to_vector();
    const auto dx = ops::conv2d_backward_data(dy, w, x.shape(), o).to_vector();
    for (int i = 0; i < 3; ++i) {
      REQUIRE(ops::conv2d(x, w, o, &cache).to_vector() == y);
      REQUIRE(ops::conv2d_backward_data(dy, w, x.shape(), o, &cache).to_vector() == dx);
    }
    CHECK(cache.transforms() == transforms);
  };
  check(2);  // forward and backward data, once each
  // U is 40 x 48 forward (rows padded to 42, whole panels of 6), 48 x 40 turned; packed for the
  // direct path, W is 40 x 432 (rows padded to 42) and the turned filter 48 x 360.
  CHECK(cache.bytes() ==
        (winograd ? 36 * (42 * 48 + 48 * 40) : 42 * 432 + 48 * 360) * sizeof(float));
  w.data()[7] += 0.5f;  // written through data()
  check(4);
  ops::scale_(w, 0.75f);  // an in-place op
  check(6);
  w = random_tensor({40, 48, 3, 3}, 4);  // a new tensor, perhaps at the same address
  check(8);
  // Another layer's filter of the same shape is not this one's.
  const Tensor<float> other = random_tensor({40, 48, 3, 3}, 5);
  REQUIRE(ops::conv2d(x, other, o, &cache).to_vector() == ops::conv2d(x, other, o).to_vector());
  cache.clear();
  CHECK(cache.bytes() == 0);
  // 16 x 16 (16 blocks): Winograd only where the transformed filter is kept; the direct form
  // otherwise, so the two agree to rounding.
  {
    const Tensor<float> xs = random_tensor({1, 48, 16, 16}, 7),
                        dys = random_tensor({1, 40, 16, 16}, 8);
    const auto d = ops::conv2d_desc("test", xs.shape(), w.shape(), o);
    CHECK(kernels::cpu::conv2d_forward_filter_plan<float>(d).size ==
          (winograd ? 36 * 42 * 48 : 42 * 432));
    ops::ConvFilterCache<float, cpu> small;
    require_close_with_and_without(small, xs, w, dys, o);
    CHECK(small.transforms() == 2);
  }
  // 5x5 (F(2x2, 5x5)) only where the transformed filter is kept: 8 x 8 is 16 2x2 blocks.
  {
    const Tensor<float> x5 = random_tensor({1, 48, 8, 8}, 9),
                        dy5 = random_tensor({1, 40, 8, 8}, 10);
    const Tensor<float> w5 = random_tensor({40, 48, 5, 5}, 11);
    const auto o5 = ops::Conv2dOptions::square(1, 2);
    ops::ConvFilterCache<float, cpu> five;
    for (int i = 0; i < 2; ++i) require_close_with_and_without(five, x5, w5, dy5, o5);
    CHECK(five.transforms() == 2);
    CHECK(kernels::cpu::conv2d_forward_filter_plan<float>(
              ops::conv2d_desc("test", x5.shape(), w5.shape(), o5))
              .size == (winograd ? 36 * 42 * 48 : 42 * 1200));
  }
  // Layers on the direct path keep their GEMM operand packed, the same results bit for bit: 1x1
  // (forward W, backward data W^T), 3x3 on 8 x 8 (4 blocks: W, and backward data W^T with col2im,
  // 8 columns not being whole panels), a strided 3x3 (W^T), each on two threads and one.
  struct Direct {
    Shape x, w;
    ops::Conv2dOptions o;
  };
  for (const Direct& c :
       {Direct{{1, 48, 20, 20}, {40, 48, 1, 1}, {}},
        Direct{{1, 48, 8, 8}, {40, 48, 3, 3}, ops::Conv2dOptions::square(1, 1)},
        Direct{{2, 20, 13, 11}, {30, 20, 3, 3}, ops::Conv2dOptions::square(2, 1)}}) {
    INFO("input " << c.x << " filter " << c.w);
    const Tensor<float> xd = random_tensor(c.x, 12), wd = random_tensor(c.w, 13);
    const auto d = ops::conv2d_desc("test", c.x, c.w, c.o);
    const Tensor<float> dyd = random_tensor(ops::conv2d_output_shape(d), 14);
    CHECK(kernels::cpu::conv2d_forward_filter_plan<float>(d).kind == KeptFilter::packed);
    CHECK(kernels::cpu::conv2d_backward_data_filter_plan<float>(d).kind == KeptFilter::packed);
    ops::ConvFilterCache<float, cpu> direct;
    for (int i = 0; i < 2; ++i) {
      REQUIRE(ops::conv2d(xd, wd, c.o, &direct).to_vector() ==
              ops::conv2d(xd, wd, c.o).to_vector());
      REQUIRE(ops::conv2d_backward_data(dyd, wd, c.x, c.o, &direct).to_vector() ==
              ops::conv2d_backward_data(dyd, wd, c.x, c.o).to_vector());
    }
    CHECK(direct.transforms() == 2);
  }
}

TEST_CASE("nn: frozen convolutions keep their prepared filters, made again when the weights change",
          "[nn]") {
  nn::Sequential<float> net(5);
  net.add("conv1", nn::Conv2d(48, 40, 3, {.padding = 1})).add("relu1", nn::ReLU());
  net.add("conv2", nn::Conv2d(40, 32, 3, {.padding = 1}));
  net.eval();
  net.set_grad_enabled(true);
  const Tensor<float> x = random_tensor({1, 48, 32, 32}, 11),
                      dy = random_tensor({1, 32, 32, 32}, 12);
  auto run = [&] {
    std::pair<std::vector<float>, std::vector<float>> r;
    r.first = net.forward(x).to_vector();
    r.second = net.backward(dy.clone(), /*input_grad=*/true).to_vector();
    return r;
  };
  auto& conv1 = dynamic_cast<nn::detail::Conv2dModule<float, cpu>&>(net.module(0));
  const bool kept = ops::detail::filter_cache_enabled();
  const auto trained = run();  // not frozen: nothing kept
  CHECK(conv1.filters().transforms() == 0);
  net.freeze();
  for (int i = 0; i < 3; ++i) REQUIRE(run() == trained);
  CHECK(conv1.filters().transforms() == (kept ? 2 : 0));
  // Weights changed through parameters(), as loaders and optimizers change them.
  for (auto& [name, p] : net.parameters()) ops::scale_(p->value, 0.5f);
  net.freeze(false);
  CHECK(conv1.filters().bytes() == 0);  // unfreezing drops them
  const auto halved = run();
  REQUIRE(halved != trained);
  net.freeze();
  for (int i = 0; i < 2; ++i) REQUIRE(run() == halved);
  CHECK(conv1.filters().transforms() == (kept ? 4 : 0));
  // A frozen layer whose weights change while frozen.
  for (auto& [name, p] : net.parameters()) ops::scale_(p->value, 2.0f);
  REQUIRE(run() == trained);
  CHECK(conv1.filters().transforms() == (kept ? 6 : 0));
}
