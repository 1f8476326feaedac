// nn layers through Sequential on the CPU: finite-difference gradient checks in double for every
// layer and loss (input and parameter gradients), modes, naming, summaries and bad input.
#include <catch2/catch.hpp>

#include <tinycnn/nn/sequential.hpp>
#include <tinycnn/ops/training.hpp>

#include "support/compare.hpp"
#include "support/data.hpp"
#include "support/gradcheck.hpp"
#include "support/relu_fold.hpp"

using namespace tinycnn;
using namespace tinycnn::nn;

namespace {

// Checks d<dy, net(x)>/dx and /dparam for every parameter against central differences.
void check_gradients(Sequential<double>& net, const Shape& input, std::uint64_t salt) {
  std::vector<double> x = test::random_vector<double>(input.numel(), salt);
  const Shape out_shape = net.output_shape(input);
  const std::vector<double> dy = test::random_vector<double>(out_shape.numel(), salt + 1);
  auto loss = [&] { return test::dot(dy, net.forward(Tensor<double>(input, x)).to_vector()); };

  net.zero_grad();
  net.forward(Tensor<double>(input, x));
  const auto dx = net.backward(Tensor<double>(out_shape, dy), /*input_grad=*/true).to_vector();
  {
    INFO("d loss / d input");
    TINYCNN_REQUIRE_GRADIENT(dx, loss, x);
  }
  for (auto& [name, p] : net.parameters()) {
    INFO("d loss / d " << name);
    std::vector<double> values = p->value.to_vector();
    const auto analytic = p->grad.to_vector();
    auto loss_p = [&, p = p] {
      p->value = Tensor<double>(p->value.shape(), values);
      return loss();
    };
    TINYCNN_REQUIRE_GRADIENT(analytic, loss_p, values);
    p->value = Tensor<double>(p->value.shape(), values);
  }
}

}  // namespace

TEST_CASE("nn gradients: Conv2d (with and without bias, strided, padded)", "[nn][gradcheck]") {
  TINYCNN_SEED_INFO();
  Sequential<double> a(1);
  a << Conv2d(3, 4, 3, {.stride = 2, .padding = 1});
  check_gradients(a, {2, 3, 7, 6}, 1);
  Sequential<double> b(2);
  b << Conv2d(2, 3, 1, {.bias = false});
  check_gradients(b, {1, 2, 3, 4}, 2);
}

TEST_CASE("nn gradients: Linear, ReLU, Flatten", "[nn][gradcheck]") {
  TINYCNN_SEED_INFO();
  Sequential<double> net(3);
  net << Flatten() << Linear(12, 5) << ReLU() << Linear(5, 3, {.bias = false});
  check_gradients(net, {4, 3, 2, 2}, 3);
}

TEST_CASE("nn gradients: pooling layers", "[nn][gradcheck]") {
  TINYCNN_SEED_INFO();
  Sequential<double> mp(4);
  mp << MaxPool2d(3, {.stride = 2, .ceil_mode = true});
  check_gradients(mp, {2, 2, 7, 7}, 4);
  Sequential<double> ap(5);
  ap << AvgPool2d(3, {.stride = 2, .padding = 1, .count_include_pad = false});
  check_gradients(ap, {1, 3, 6, 5}, 5);
  Sequential<double> gp(6);
  gp << GlobalAvgPool2d();
  check_gradients(gp, {2, 3, 4, 5}, 6);
}

TEST_CASE("nn gradients: BatchNorm2d in training mode", "[nn][gradcheck]") {
  TINYCNN_SEED_INFO();
  Sequential<double> net(7);
  // No conv bias: batch norm removes the mean, so that bias has an exactly zero gradient.
  net << Conv2d(2, 3, 3, {.padding = 1, .bias = false}) << BatchNorm2d(3) << ReLU();
  check_gradients(net, {3, 2, 4, 4}, 7);
}

TEST_CASE("nn gradients: Softmax and LogSoftmax", "[nn][gradcheck]") {
  TINYCNN_SEED_INFO();
  Sequential<double> sm(8);
  sm << Linear(6, 4) << Softmax();
  check_gradients(sm, {3, 6}, 8);
  Sequential<double> lsm(9);
  lsm << Linear(6, 4) << LogSoftmax();
  check_gradients(lsm, {3, 6}, 9);
}

TEST_CASE("nn gradients: cross-entropy and MSE losses", "[nn][gradcheck]") {
  TINYCNN_SEED_INFO();
  std::vector<double> logits = test::random_vector<double>(4 * 5, 10, -3, 3);
  const Tensor<std::int32_t> labels({4}, {1, 0, 4, 2});
  const auto ce = ops::softmax_cross_entropy(Tensor<double>({4, 5}, logits), labels);
  auto ce_loss = [&] { return ops::softmax_cross_entropy(Tensor<double>({4, 5}, logits), labels).loss; };
  TINYCNN_REQUIRE_GRADIENT(ce.dlogits.to_vector(), ce_loss, logits);

  std::vector<double> x = test::random_vector<double>(7 * 3, 11);
  const Tensor<double> target({7, 3}, test::random_vector<double>(21, 12));
  const auto mse = ops::mse_loss(Tensor<double>({7, 3}, x), target);
  auto mse_loss = [&] { return ops::mse_loss(Tensor<double>({7, 3}, x), target).loss; };
  TINYCNN_REQUIRE_GRADIENT(mse.grad.to_vector(), mse_loss, x);
}

TEST_CASE("nn gradients: ReLU in front of max pooling (its backward folded into the pooling's)",
          "[nn][gradcheck]") {
  TINYCNN_SEED_INFO();
  Sequential<double> net(16);
  net << Conv2d(2, 3, 3, {.padding = 1}) << ReLU() << MaxPool2d(2) << ReLU()
      << MaxPool2d(3, {.stride = 2, .ceil_mode = true});
  check_gradients(net, {2, 2, 8, 9}, 16);
  // The first ReLU's backward was left to the pooling; the second too (a ReLU after a pooling).
  net.forward(Tensor<double>({1, 2, 8, 9}));
  CHECK(net.relu_backward_folded(1));
  CHECK(net.relu_backward_folded(3));
  CHECK_FALSE(net.relu_backward_folded(0));
  // The first ReLU's forward was left to the convolution; the second follows a pooling: not.
  CHECK(net.relu_forward_fused(1));
  CHECK_FALSE(net.relu_forward_fused(3));
  net.eval();  // no gradients: nothing to fold, but the forward still fuses
  net.forward(Tensor<double>({1, 2, 8, 9}));
  CHECK_FALSE(net.relu_backward_folded(1));
  CHECK(net.relu_forward_fused(1));
  net.set_relu_fusion(false);
  net.forward(Tensor<double>({1, 2, 8, 9}));
  CHECK_FALSE(net.relu_forward_fused(1));
}

TEST_CASE(
    "nn: folding a ReLU's backward into max pooling and its forward into the convolution "
    "changes no output and no gradient",
    "[nn]") {
  for (const bool taps : {false, true}) {
    INFO((taps ? "forward_taps/backward_taps at relu1, conv2 and relu3" : "forward/backward"));
    const auto plain = test::run_relu_fold_net<cpu>(false, taps, false);
    for (const bool fold : {false, true})
      for (const int fusion : {0, 1, 2}) {
        const bool fuse = fusion > 0, fuse_backward = fusion == 2;
        INFO("folding " << fold << ", fusion " << fuse << ", backward too " << fuse_backward);
        const auto r = test::run_relu_fold_net<cpu>(fold, taps, fuse, fuse_backward);
        REQUIRE(r.out == plain.out);
        REQUIRE(r.dx == plain.dx);
        REQUIRE(r.grads == plain.grads);
        // relu1 is a tap when taps are on (its gradient is not the pooling's alone): not folded.
        CHECK(r.folded[1] == (fold && !taps));
        CHECK(r.folded[4] == fold);
        CHECK(r.folded[7] == (fold && !taps));
        // conv2's output is a tap when taps are on: relu2 reads it, conv2 writes it unchanged.
        CHECK(r.fused[1] == fuse);
        CHECK(r.fused[4] == (fuse && !taps));
        CHECK(r.fused[7] == fuse);
        // A folded ReLU has no backward left to fuse; relu1 and relu3 are folded unless taps.
        CHECK(r.fused_backward[1] == (fuse_backward && (!fold || taps)));
        CHECK(r.fused_backward[4] == (fuse_backward && !fold && !taps));
        CHECK(r.fused_backward[7] == (fuse_backward && (!fold || taps)));
        for (const std::size_t i : {0, 2, 3, 5, 6, 8})
          CHECK_FALSE((r.folded[i] || r.fused[i] || r.fused_backward[i]));
      }
    std::size_t zeros = 0;
    for (const float v : plain.dx) zeros += v == 0.0f;
    CHECK(zeros < plain.dx.size());
  }
}

TEST_CASE(
    "nn: frozen convolutions taking the backward of the ReLUs around them give the same "
    "input gradient",
    "[nn]") {
  const auto plain = test::run_frozen_relu_net<cpu>(false, false, false);
  for (const bool fold : {false, true})
    for (const int fusion : {0, 1, 2}) {
      const bool fuse = fusion > 0, fuse_backward = fusion == 2;
      INFO("folding " << fold << ", fusion " << fuse << ", backward too " << fuse_backward);
      const auto r = test::run_frozen_relu_net<cpu>(fold, fuse, fuse_backward);
      REQUIRE(r.out == plain.out);
      REQUIRE(r.dx == plain.dx);
      for (const std::size_t i : {1, 3, 5}) {
        CHECK(r.folded[i] == fold);  // into conv2, conv3, the pooling
        CHECK(r.fused[i] == fuse);
        CHECK(r.fused_backward[i] == (fuse_backward && !fold));
      }
    }
}

TEST_CASE(
    "nn gradients: ReLU in front of a convolution (its backward folded into the "
    "convolution's)",
    "[nn][gradcheck]") {
  TINYCNN_SEED_INFO();
  Sequential<double> net(17);
  net << Conv2d(2, 3, 3, {.padding = 1}) << ReLU() << Conv2d(3, 4, 3, {.padding = 1}) << ReLU()
      << Conv2d(4, 2, 1);
  check_gradients(net, {2, 2, 7, 6}, 17);
  net.forward(Tensor<double>({1, 2, 7, 6}));
  CHECK(net.relu_backward_folded(1));
  CHECK(net.relu_backward_folded(3));
  CHECK_FALSE(net.relu_backward_fused(1));
}

TEST_CASE("nn: Dropout masks in training, is the identity in eval, backward uses the same mask",
          "[nn][dropout]") {
  Sequential<float> net(11);
  net << Dropout{0.5};
  Tensor<float> x = Tensor<float>::full({1000}, 1.0f);
  x.reshape({10, 100});
  const auto y = net.forward(x).to_vector();
  std::int64_t kept = 0;
  for (float v : y) {
    REQUIRE((v == 0.0f || v == 2.0f));
    kept += v != 0.0f;
  }
  CHECK(kept > 400);
  CHECK(kept < 600);
  const auto dx = net.backward(Tensor<float>::full({10, 100}, 3.0f), true).to_vector();
  for (std::size_t i = 0; i < y.size(); ++i) REQUIRE(dx[i] == (y[i] != 0.0f ? 6.0f : 0.0f));
  net.eval();
  CHECK(net.forward(x).to_vector() == x.to_vector());
}

TEST_CASE("nn: BatchNorm2d tracks running statistics and uses them in eval", "[nn][batchnorm]") {
  Sequential<double> net(12);
  net << BatchNorm2d(2, 1e-5, 0.5);
  Tensor<double> x({2, 2, 1, 2}, {1, 3, 10, 10, 5, 7, 20, 40});
  net.forward(x);  // channel 0: 1, 3, 5, 7 (mean 4, unbiased var 20/3); channel 1: 10, 10, 20, 40
  auto state = net.state();
  REQUIRE(state.size() == 4);
  CHECK(state[2].first == "0.running_mean");
  CHECK(state[2].second->to_vector()[0] == Approx(2.0));             // 0.5 * 0 + 0.5 * 4
  CHECK(state[3].second->to_vector()[0] == Approx(0.5 + 0.5 * 20.0 / 3));
  net.eval();
  const auto y = net.forward(x).to_vector();
  CHECK(y[0] == Approx((1 - 2.0) / std::sqrt(0.5 + 0.5 * 20.0 / 3 + 1e-5)));
}

TEST_CASE("nn: Sequential names, parameters, summary and state", "[nn]") {
  Sequential<float> net(13);
  net.add("conv1", Conv2d(1, 4, 3, {.padding = 1})).add("relu1", ReLU());
  net << MaxPool2d(2) << Flatten() << Linear(4 * 4 * 4, 10);
  CHECK(net.size() == 5);
  CHECK(net.index_of("relu1") == 1);
  CHECK(net.name(2) == "2");
  std::vector<std::string> names;
  for (auto& p : net.parameters()) names.push_back(p.first);
  CHECK(names == std::vector<std::string>{"conv1.weight", "conv1.bias", "4.weight", "4.bias"});
  CHECK(net.parameter_count() == 4 * 9 + 4 + 64 * 10 + 10);
  const std::string s = net.summary({8, 1, 8, 8});
  CHECK_THAT(s, Catch::Contains("conv1") && Catch::Contains("[8, 4, 8, 8]") &&
                    Catch::Contains("[8, 10]") && Catch::Contains("total parameters: 690"));
  // forward_until stops after the named layer.
  Tensor<float> x({2, 1, 8, 8});
  ops::uniform_(x, 5);
  CHECK(net.forward_until(x, "relu1").shape() == Shape{2, 4, 8, 8});
  // The same seed gives the same initial weights.
  Sequential<float> again(13);
  again.add("conv1", Conv2d(1, 4, 3, {.padding = 1}));
  CHECK(again.parameters()[0].second->value.to_vector() == net.parameters()[0].second->value.to_vector());
}

TEST_CASE("nn: gradients accumulate until zero_grad", "[nn]") {
  Sequential<double> net(14);
  net << Linear(3, 2);
  Tensor<double> x({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor<double> dy({2, 2}, {1, 0, 0, 1});
  net.forward(x);
  net.backward(dy);
  const auto once = net.parameters()[0].second->grad.to_vector();
  net.forward(x);
  net.backward(dy);
  const auto twice = net.parameters()[0].second->grad.to_vector();
  for (std::size_t i = 0; i < once.size(); ++i) REQUIRE(twice[i] == Approx(2 * once[i]));
  net.zero_grad();
  net.forward(x);
  net.backward(dy);
  CHECK(net.parameters()[0].second->grad.to_vector() == once);
}

TEST_CASE("nn: bad input and misuse give tinycnn::Error naming the layer", "[nn][errors]") {
  using Catch::Contains;
  Sequential<float> net(15);
  net << Conv2d(1, 4, 3) << Flatten() << Linear(4 * 6 * 6, 10);
  REQUIRE_THROWS_WITH(net.forward(Tensor<float>({2, 3, 8, 8})),
                      Contains("layer '0'") && Contains("expects 1 input channels"));
  REQUIRE_THROWS_WITH(net.forward(Tensor<float>({2, 1, 9, 9})),
                      Contains("layer '2'") && Contains("expects input (N, 144)"));
  REQUIRE_THROWS_WITH(net.forward(Tensor<float>({1, 8, 8})), Contains("(N, C, H, W)"));
  REQUIRE_THROWS_WITH(net.backward(Tensor<float>({2, 10})), Contains("needs a forward pass"));
  net.forward(Tensor<float>({2, 1, 8, 8}));
  REQUIRE_THROWS_WITH(net.backward(Tensor<float>({2, 9})), Contains("shape of the last output [2, 10]"));
  REQUIRE_THROWS_WITH(net.add("0", ReLU()), Contains("already exists"));
  REQUIRE_THROWS_WITH(net.add("a.b", ReLU()), Contains("no '.'"));
  REQUIRE_THROWS_WITH(net.index_of("nope"), Contains("no layer named 'nope'"));
  REQUIRE_THROWS_WITH((Sequential<float>() << Dropout{1.5}), Contains("p must be in [0, 1)"));
  REQUIRE_THROWS_WITH((Sequential<float>() << Conv2d(0, 4, 3)), Contains("must be positive"));
  net.eval();
  net.forward(Tensor<float>({2, 1, 8, 8}));
  REQUIRE_THROWS_WITH(net.backward(Tensor<float>({2, 10})), Contains("training mode"));
}
