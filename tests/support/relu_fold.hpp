// Shared by the CPU and CUDA nn tests: a network of convolutions, each followed by a ReLU and a max
// pooling (some of them feature taps), run with Sequential's ReLU folding (backward into the
// pooling) and fusion (forward into the convolution) on and off from the same weights, so the
// tests can require the same outputs and gradients and that the right ReLUs were folded/fused.
#pragma once

#include <tinycnn/nn/sequential.hpp>
#include <tinycnn/ops/elementwise.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "support/data.hpp"

namespace tinycnn::test {

struct FoldRun {
  std::vector<float> out;                 // the output, or the taps' outputs one after the other
  std::vector<float> dx;                  // d loss / d input
  std::vector<std::vector<float>> grads;  // every parameter's gradient, in order
  std::vector<bool> folded;               // relu_backward_folded(i) after the forward
  std::vector<bool> fused;                // relu_forward_fused(i) after the forward
  std::vector<bool> fused_backward;       // relu_backward_fused(i) after the forward
};

// conv1 relu1 pool1 conv2 relu2 pool2 conv3 relu3 pool3 (3x3 stride 2 ceil mode, as NIN's). With
// taps: forward_taps at relu1, conv2 and relu3, the loss sum(tap * r_tap); without: forward and
// backward from a random dy. conv1's bias of -0.2 makes many of pool1's windows all zeros.
template <Device D>
void record_plan(const nn::Sequential<float, D>& net, FoldRun& r) {
  for (std::size_t i = 0; i < net.size(); ++i) {
    r.folded.push_back(net.relu_backward_folded(i));
    r.fused.push_back(net.relu_forward_fused(i));
    r.fused_backward.push_back(net.relu_backward_fused(i));
  }
}

template <Device D>
FoldRun run_relu_fold_net(bool fold, bool taps, bool fuse, bool fuse_backward = true) {
  nn::Sequential<float, D> net(21);
  net.add("conv1", nn::Conv2d(3, 6, 3, {.padding = 1})).add("relu1", nn::ReLU());
  net.add("pool1", nn::MaxPool2d(2));
  net.add("conv2", nn::Conv2d(6, 8, 3, {.padding = 1})).add("relu2", nn::ReLU());
  net.add("pool2", nn::MaxPool2d(2));
  net.add("conv3", nn::Conv2d(8, 8, 1)).add("relu3", nn::ReLU());
  net.add("pool3", nn::MaxPool2d(3, {.stride = 2, .ceil_mode = true}));
  for (auto& [name, p] : net.parameters())
    if (name.find("bias") != std::string::npos)
      p->value = Tensor<float, D>::full(p->value.shape(), name == "conv1.bias" ? -0.2f : 0.05f);
  net.set_relu_folding(fold);
  net.set_relu_fusion(fuse, fuse_backward);
  const Shape in{2, 3, 20, 18};
  const Tensor<float, D> x =
      Tensor<float, cpu>(in, random_vector<float>(in.numel(), 31)).template to<D>();
  FoldRun r;
  Tensor<float, D> dx;
  if (taps) {
    const std::vector<std::size_t> at = net.tap_indices({"relu1", "conv2", "relu3"});
    net.forward_taps(x, at);
    for (const std::size_t i : at) {
      const auto t = net.tap_output(i).template to<cpu>().to_vector();
      r.out.insert(r.out.end(), t.begin(), t.end());
    }
    record_plan(net, r);
    dx = net.backward_taps([&](std::size_t i, const Tensor<float, D>& out, Tensor<float, D>& grad) {
      const auto g = Tensor<float, cpu>(out.shape(), random_vector<float>(out.numel(), 40 + i))
                         .template to<D>();
      if (grad.empty())
        grad = g.clone();
      else
        ops::axpy_(grad, 1.0f, g);
    });
  } else {
    const auto y = net.forward(x);
    r.out = y.template to<cpu>().to_vector();
    record_plan(net, r);
    const auto dy =
        Tensor<float, cpu>(y.shape(), random_vector<float>(y.numel(), 32)).template to<D>();
    dx = net.backward(dy, /*input_grad=*/true);
  }
  r.dx = dx.template to<cpu>().to_vector();
  for (auto& [name, p] : net.parameters())
    r.grads.push_back(p->grad.template to<cpu>().to_vector());
  return r;
}

// Style transfer's case: frozen convolutions, the input gradient alone. conv1 (3 -> 32) relu1
// conv2 (32 -> 32, 40x40: backward data by Winograd on CUDA) relu2 conv3 relu3 pool. With folding,
// relu1 and relu2 go into the backward data of conv2 and conv3 (dx masked by their inputs) and
// relu3 into the pooling; without, but with backward fusion, each ReLU's backward goes into the
// convolution before it (conv2 masks dy in its Winograd input transform; conv1, on the direct
// kernel, masks dy in place first).
template <Device D>
FoldRun run_frozen_relu_net(bool fold, bool fuse, bool fuse_backward) {
  nn::Sequential<float, D> net(22);
  net.add("conv1", nn::Conv2d(3, 32, 3, {.padding = 1})).add("relu1", nn::ReLU());
  net.add("conv2", nn::Conv2d(32, 32, 3, {.padding = 1})).add("relu2", nn::ReLU());
  net.add("conv3", nn::Conv2d(32, 16, 3, {.padding = 1})).add("relu3", nn::ReLU());
  net.add("pool", nn::MaxPool2d(2));
  net.eval();
  net.set_grad_enabled(true);
  net.freeze();
  net.set_relu_folding(fold);
  net.set_relu_fusion(fuse, fuse_backward);
  const Shape in{1, 3, 40, 40};
  const Tensor<float, D> x =
      Tensor<float, cpu>(in, random_vector<float>(in.numel(), 33)).template to<D>();
  FoldRun r;
  const auto y = net.forward(x);
  r.out = y.template to<cpu>().to_vector();
  record_plan(net, r);
  const auto dy =
      Tensor<float, cpu>(y.shape(), random_vector<float>(y.numel(), 34)).template to<D>();
  r.dx = net.backward(dy, /*input_grad=*/true).template to<cpu>().to_vector();
  return r;
}

}  // namespace tinycnn::test
