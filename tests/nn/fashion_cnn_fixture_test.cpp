// End-to-end against PyTorch on the CPU (float and double): the Fashion-MNIST CNN loaded from
// tests/data/fashion_cnn.safetensors (tools/make_model_fixture.py) — logits, loss, every gradient,
// running statistics, and the parameters after one SGD and one AdamW step.
#include <catch2/catch.hpp>

#include "support/fashion_cnn_oracle.hpp"

using namespace tinycnn;
using namespace tinycnn::test;

TEST_CASE("fashion cnn vs PyTorch: the fixture is a checkpoint of the model it describes",
          "[nn][fixture][pytorch]") {
  const FashionCnnOracle o;
  INFO("data: " << o.text("data") << ", width " << o.width());
  auto net = o.model<double, cpu>();
  CHECK(net.size() == 14);
  CHECK(net.output_shape({8, 1, 28, 28}) == Shape{8, 10});
  // A model of another width has other shapes: the loader refuses it rather than mixing.
  auto other = models::fashion_mnist_cnn<double>(1, {.width = o.width() + 1});
  REQUIRE_THROWS_AS(io::load_checkpoint(o.path(), other), Error);
}

TEST_CASE("fashion cnn vs PyTorch (double, CPU): logits, loss, gradients, running statistics",
          "[nn][fixture][pytorch]") {
  const FashionCnnOracle o;
  INFO("data: " << o.text("data") << ", width " << o.width());
  check_forward_backward(o.model<double, cpu>(), o, 1e-10);
}

TEST_CASE("fashion cnn vs PyTorch (double, CPU): one SGD step and one AdamW step",
          "[nn][fixture][pytorch][optim]") {
  const FashionCnnOracle o;
  INFO("data: " << o.text("data") << ", width " << o.width());
  SECTION("SGD, Nesterov momentum, weight decay") { check_sgd_step(o.model<double, cpu>(), o, 1e-10); }
  SECTION("AdamW") { check_adamw_step(o.model<double, cpu>(), o, 1e-10); }
}

TEST_CASE("fashion cnn vs PyTorch (float, CPU): logits, loss, gradients, running statistics",
          "[nn][fixture][pytorch]") {
  const FashionCnnOracle o;
  INFO("data: " << o.text("data") << ", width " << o.width());
  check_forward_backward(o.model<float, cpu>(), o, kFloatTolerance);
}

TEST_CASE("fashion cnn vs PyTorch (float, CPU): one SGD step and one AdamW step",
          "[nn][fixture][pytorch][optim]") {
  const FashionCnnOracle o;
  INFO("data: " << o.text("data") << ", width " << o.width());
  SECTION("SGD, Nesterov momentum, weight decay") { check_sgd_step(o.model<float, cpu>(), o, kFloatTolerance); }
  SECTION("AdamW") { check_adamw_step(o.model<float, cpu>(), o, kFloatTolerance); }
}
