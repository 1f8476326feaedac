// End-to-end against PyTorch on CUDA (float): the Fashion-MNIST CNN loaded from
// tests/data/fashion_cnn.safetensors (tools/make_model_fixture.py) — logits, loss, every gradient,
// running statistics, and the parameters after one SGD and one AdamW step, all computed on the GPU.
#include <catch2/catch.hpp>

#include "support/cuda.hpp"
#include "support/fashion_cnn_oracle.hpp"

using namespace tinycnn;
using namespace tinycnn::test;
using gpu = tinycnn::cuda;

TEST_CASE("cuda fashion cnn vs PyTorch: logits, loss, gradients, running statistics",
          "[cuda][nn][fixture][pytorch]") {
  TINYCNN_REQUIRE_CUDA();
  const FashionCnnOracle o;
  INFO("data: " << o.text("data") << ", width " << o.width());
  SECTION("model built on the GPU, checkpoint loaded into it") {
    check_forward_backward(o.model<float, gpu>(), o, kFloatTolerance);
  }
  SECTION("model loaded on the CPU, then moved with to<cuda>()") {
    check_forward_backward(o.model<float, cpu>().template to<gpu>(), o, kFloatTolerance);
  }
}

TEST_CASE("cuda fashion cnn vs PyTorch: one SGD step and one AdamW step",
          "[cuda][nn][fixture][pytorch][optim]") {
  TINYCNN_REQUIRE_CUDA();
  const FashionCnnOracle o;
  INFO("data: " << o.text("data") << ", width " << o.width());
  SECTION("SGD, Nesterov momentum, weight decay") {
    check_sgd_step(o.model<float, gpu>(), o, kFloatTolerance);
  }
  SECTION("AdamW") { check_adamw_step(o.model<float, gpu>(), o, kFloatTolerance); }
  SECTION("SGD on a model moved with to<cuda>()") {
    check_sgd_step(o.model<float, cpu>().template to<gpu>(), o, kFloatTolerance);
  }
}
