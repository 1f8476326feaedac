// Small image classifiers for 28x28 single-channel inputs (MNIST, Fashion-MNIST).
#pragma once

#include <cstdint>

#include "tinycnn/nn/sequential.hpp"

namespace tinycnn::models {

// LeNet-5 (LeCun et al. 1998) as commonly adapted to 28x28 inputs: the first convolution padded by
// 2, max pooling and ReLU in place of the original subsampling and tanh.
template <class T = float, Device D = cpu>
nn::Sequential<T, D> lenet5(std::uint64_t seed = 0) {
  using namespace nn;
  Sequential<T, D> net(seed);
  net.add("conv1", Conv2d(1, 6, 5, {.padding = 2})).add("relu1", ReLU()).add("pool1", MaxPool2d(2));
  net.add("conv2", Conv2d(6, 16, 5)).add("relu2", ReLU()).add("pool2", MaxPool2d(2));
  net.add("flatten", Flatten());
  net.add("fc1", Linear(16 * 5 * 5, 120)).add("relu3", ReLU());
  net.add("fc2", Linear(120, 84)).add("relu4", ReLU());
  net.add("fc3", Linear(84, 10));
  return net;
}

struct FashionMnistCnnOptions {
  std::int64_t width = 32;   // channels of the first block (the second has twice as many)
  double dropout1 = 0.25;    // after the convolution blocks
  double dropout2 = 0.5;     // inside the classifier
};

// The Fashion-MNIST CNN: two convolution blocks (3x3 conv without bias, batch norm, ReLU, 2x2 max
// pooling), dropout, and a two-layer classifier.
template <class T = float, Device D = cpu>
nn::Sequential<T, D> fashion_mnist_cnn(std::uint64_t seed = 0, FashionMnistCnnOptions o = {}) {
  using namespace nn;
  const Conv2dOptions conv{.padding = 1, .bias = false, .init = Init::kKaimingNormal};
  const std::int64_t w = o.width;
  Sequential<T, D> net(seed);
  net.add("conv1", Conv2d(1, w, 3, conv)).add("bn1", BatchNorm2d(w)).add("relu1", ReLU());
  net.add("pool1", MaxPool2d(2));
  net.add("conv2", Conv2d(w, 2 * w, 3, conv)).add("bn2", BatchNorm2d(2 * w));
  net.add("relu2", ReLU()).add("pool2", MaxPool2d(2)).add("drop1", Dropout{o.dropout1});
  net.add("flatten", Flatten());
  net.add("fc1", Linear(2 * w * 7 * 7, 128, {.init = Init::kKaimingNormal})).add("relu3", ReLU());
  net.add("drop2", Dropout{o.dropout2});
  net.add("fc2", Linear(128, 10));
  return net;
}

}  // namespace tinycnn::models
