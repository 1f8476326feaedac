// The small feature network and style options of the style-transfer tests, shared by the CPU and
// CUDA tests and by tools/make_style_fixture.py (which builds the same network in PyTorch): conv,
// ReLU, ceil-mode max pooling, eval-mode batch norm, average pooling and a 1x1 conv.
#pragma once

#include <string>

#include "tinycnn/io/safetensors.hpp"
#include "tinycnn/nn/sequential.hpp"
#include "tinycnn/ops/random.hpp"
#include "tinycnn/style/style_transfer.hpp"

#ifndef TINYCNN_TEST_DATA_DIR
#error "TINYCNN_TEST_DATA_DIR must name tests/data (tests/CMakeLists.txt defines it)"
#endif

namespace tinycnn::test {

template <class T, Device D = cpu>
nn::Sequential<T, D> style_test_net() {
  nn::Sequential<T, D> net(7);
  net.add("conv1_1", nn::Conv2d(3, 4, 3, {.padding = 1}))
      .add("relu1_1", nn::ReLU())
      .add("pool1", nn::MaxPool2d(2, {.ceil_mode = true}))
      .add("conv2_1", nn::Conv2d(4, 6, 3, {.padding = 1}))
      .add("bn2_1", nn::BatchNorm2d(6))
      .add("relu2_1", nn::ReLU())
      .add("pool2", nn::AvgPool2d(2))
      .add("conv3_1", nn::Conv2d(6, 5, 1))
      .add("relu3_1", nn::ReLU());
  // Non-trivial running statistics for the eval-mode batch norm.
  for (auto& [name, t] : net.state()) {
    if (name == "bn2_1.running_var") ops::uniform_(*t, 11, T(0.5), T(2));
    if (name == "bn2_1.running_mean") ops::uniform_(*t, 12, T(-0.2), T(0.2));
    if (name == "bn2_1.weight") ops::uniform_(*t, 13, T(0.5), T(1.5));
  }
  return net;
}

// The taps and weights make_style_fixture.py uses.
inline style::StyleOptions style_test_options(style::Optimizer opt = style::Optimizer::kAdam) {
  style::StyleOptions o;
  o.content = {{"relu2_1", 2.0}, {"conv3_1", 0.5}};
  o.style = {{"relu1_1", 30.0}, {"relu2_1", 20.0}, {"relu3_1", 10.0}};
  o.tv_weight = 0.05;
  o.optimizer = opt;
  o.learning_rate = opt == style::Optimizer::kAdam ? 0.05 : 1.0;
  o.lbfgs_history = 5;
  return o;
}

inline const io::SafetensorsFile& style_fixture() {
  static const io::SafetensorsFile file(std::string(TINYCNN_TEST_DATA_DIR) + "/style_iteration.safetensors");
  return file;
}

// The fixture network's weights and statistics, copied into net.
template <class T, Device D>
void load_style_fixture_weights(nn::Sequential<T, D>& net) {
  for (auto& [name, t] : net.state()) *t = style_fixture().tensor<T>(name).template to<D>();
}

}  // namespace tinycnn::test
