// nn on CUDA: a whole model (conv, batch norm, ReLU, pooling, dropout, linear) gives the same
// forward, gradients and optimizer steps on the GPU as on the CPU; models move between devices
// and checkpoint from the GPU.
#include <catch2/catch.hpp>

#include <tinycnn/io/checkpoint.hpp>
#include <tinycnn/models/fashion_mnist.hpp>
#include <tinycnn/optim/optimizer.hpp>

#include <filesystem>

#include "support/compare.hpp"
#include "support/cuda.hpp"
#include "support/data.hpp"
#include "support/relu_fold.hpp"

using namespace tinycnn;
using gpu = tinycnn::cuda;

TEST_CASE("cuda nn: the Fashion-MNIST CNN trains identically on GPU and CPU", "[cuda][nn]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  auto cpu_net = models::fashion_mnist_cnn<float, cpu>(5, {.width = 8});
  auto gpu_net = cpu_net.to<gpu>();  // same weights, same dropout seeds
  optim::AdamW<float, cpu> cpu_opt(cpu_net.parameters(), {.lr = 1e-3, .weight_decay = 0.01});
  optim::AdamW<float, gpu> gpu_opt(gpu_net.parameters(), {.lr = 1e-3, .weight_decay = 0.01});
  for (int step = 0; step < 3; ++step) {
    INFO("step " << step);
    Tensor<float, cpu> x({16, 1, 28, 28}, test::random_vector<float>(16 * 784, 100 + step));
    std::vector<std::int32_t> l(16);
    for (int i = 0; i < 16; ++i) l[i] = (i * 7 + step) % 10;
    Tensor<std::int32_t, cpu> labels({16}, l);

    const auto logits = cpu_net.forward(x);
    const auto glogits = gpu_net.forward(x.to<gpu>());
    TINYCNN_REQUIRE_CLOSE(glogits.to_vector(), logits.to_vector(), 1e-4);
    auto ce = ops::softmax_cross_entropy(logits, labels);
    auto gce = ops::softmax_cross_entropy(glogits, labels.to<gpu>());
    CHECK(gce.loss == Approx(ce.loss).epsilon(1e-4));
    cpu_opt.zero_grad();
    gpu_opt.zero_grad();
    const auto dx = cpu_net.backward(ce.dlogits, true);
    const auto gdx = gpu_net.backward(gce.dlogits, true);
    TINYCNN_REQUIRE_CLOSE(gdx.to_vector(), dx.to_vector(), 1e-3);
    auto cp = cpu_net.parameters();
    auto gp = gpu_net.parameters();
    for (std::size_t i = 0; i < cp.size(); ++i) {
      INFO("gradient of " << cp[i].first);
      TINYCNN_REQUIRE_CLOSE(gp[i].second->grad.to_vector(), cp[i].second->grad.to_vector(), 1e-3);
    }
    cpu_opt.step();
    gpu_opt.step();
    for (std::size_t i = 0; i < cp.size(); ++i) {
      INFO("parameter " << cp[i].first);
      TINYCNN_REQUIRE_CLOSE(gp[i].second->value.to_vector(), cp[i].second->value.to_vector(), 1e-4);
    }
  }
  // Eval mode uses the running statistics, which both devices updated the same way.
  cpu_net.eval();
  gpu_net.eval();
  Tensor<float, cpu> x({4, 1, 28, 28}, test::random_vector<float>(4 * 784, 200));
  TINYCNN_REQUIRE_CLOSE(gpu_net.forward(x.to<gpu>()).to_vector(), cpu_net.forward(x).to_vector(), 1e-4);
}

TEST_CASE("cuda nn: a GPU model checkpoints and reloads on the CPU", "[cuda][nn][checkpoint]") {
  TINYCNN_REQUIRE_CUDA();
  const auto path = (std::filesystem::temp_directory_path() / "tinycnn_gpu_ckpt.safetensors").string();
  auto gpu_net = models::lenet5<float, gpu>(3);
  optim::SGD<float, gpu> sgd(gpu_net.parameters(), {.lr = 0.1, .momentum = 0.9});
  Tensor<float, cpu> x({2, 1, 28, 28}, test::random_vector<float>(2 * 784, 300));
  gpu_net.forward(x.to<gpu>());
  gpu_net.backward(Tensor<float, gpu>::full({2, 10}, 0.5f));
  sgd.step();
  io::save_checkpoint(path, gpu_net, &sgd);
  auto cpu_net = models::lenet5<float, cpu>(99);
  io::load_checkpoint(path, cpu_net);
  cpu_net.eval();
  gpu_net.eval();
  TINYCNN_REQUIRE_CLOSE(gpu_net.forward(x.to<gpu>()).to_vector(), cpu_net.forward(x).to_vector(), 1e-5);
  std::filesystem::remove(path);
}

TEST_CASE(
    "cuda nn: folding a ReLU's backward into max pooling and its forward into the "
    "convolution changes no output and no gradient",
    "[cuda][nn]") {
  TINYCNN_REQUIRE_CUDA();
  for (const bool taps : {false, true}) {
    INFO((taps ? "forward_taps/backward_taps at relu1, conv2 and relu3" : "forward/backward"));
    const auto plain = test::run_relu_fold_net<gpu>(false, taps, false);
    const auto cpu_run = test::run_relu_fold_net<cpu>(true, taps, true);
    for (const bool fold : {false, true})
      for (const int fusion : {0, 1, 2}) {
        const bool fuse = fusion > 0, fuse_backward = fusion == 2;
        INFO("folding " << fold << ", fusion " << fuse << ", backward too " << fuse_backward);
        const auto r = test::run_relu_fold_net<gpu>(fold, taps, fuse, fuse_backward);
        if (fold && fusion == 2) {
          CHECK(r.folded == cpu_run.folded);
          CHECK(r.fused == cpu_run.fused);
          CHECK(r.fused_backward == cpu_run.fused_backward);
        }
        CHECK(r.fused_backward[4] == (fuse_backward && !fold && !taps));
        CHECK(r.folded[4] == fold);
        CHECK(r.folded[1] == (fold && !taps));
        CHECK(r.fused[1] == fuse);
        CHECK(r.fused[4] == (fuse && !taps));
        // The same kernels in the same order apart from the ReLU's: the same bits.
        REQUIRE(r.out == plain.out);
        REQUIRE(r.dx == plain.dx);
        REQUIRE(r.grads == plain.grads);
      }
    TINYCNN_REQUIRE_CLOSE(plain.out, cpu_run.out, 1e-4);
    TINYCNN_REQUIRE_CLOSE(plain.dx, cpu_run.dx, 1e-4);
  }
}

TEST_CASE(
    "cuda nn: frozen convolutions taking the backward of the ReLUs around them (Winograd "
    "masking dy or dx) give the same input gradient",
    "[cuda][nn]") {
  TINYCNN_REQUIRE_CUDA();
  namespace kc = kernels::cuda;
  // conv2's and conv3's backward data run by Winograd and take the masks; conv1's (C = 3) runs on
  // the direct kernel, so a ReLU's backward fused into it masks dy in place first.
  kernels::Conv2dDesc conv2;
  conv2.n = 1, conv2.c = 32, conv2.h = 40, conv2.w = 40, conv2.k = 32, conv2.r = 3, conv2.s = 3;
  conv2.pad_h = conv2.pad_w = 1;
  kernels::Conv2dDesc conv1 = conv2;
  conv1.c = 3;
  if (kc::detail::winograd_mode() == 2) CHECK(kc::conv2d_backward_data_takes_relu_mask(conv2));
  CHECK_FALSE(kc::conv2d_backward_data_takes_relu_mask(conv1));
  const auto plain = test::run_frozen_relu_net<gpu>(false, false, false);
  const auto cpu_run = test::run_frozen_relu_net<cpu>(true, true, true);
  for (const bool fold : {false, true})
    for (const int fusion : {0, 1, 2}) {
      const bool fuse = fusion > 0, fuse_backward = fusion == 2;
      INFO("folding " << fold << ", fusion " << fuse << ", backward too " << fuse_backward);
      const auto r = test::run_frozen_relu_net<gpu>(fold, fuse, fuse_backward);
      for (const std::size_t i : {1, 3, 5}) {
        CHECK(r.folded[i] == fold);
        CHECK(r.fused_backward[i] == (fuse_backward && !fold));
      }
      if (fold && fusion == 2) CHECK(r.fused_backward == cpu_run.fused_backward);
      REQUIRE(r.out == plain.out);
      REQUIRE(r.dx == plain.dx);  // the same values reach the same kernels
    }
  TINYCNN_REQUIRE_CLOSE(plain.dx, cpu_run.dx, 1e-4);
}
