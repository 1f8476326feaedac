// VGG-11/13/16/19 (Simonyan & Zisserman 2014), with or without batch norm, laid out exactly as
// torchvision's vgg*/vgg*_bn so that its pretrained weights load (models/pretrained.hpp), and with
// the Caffe / neural-style layer names (conv1_1, relu1_1, ..., pool5, fc6, ...) that style-transfer
// code addresses layers by.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tinycnn/nn/sequential.hpp"

namespace tinycnn::models {

enum class VggDepth { k11, k13, k16, k19 };

struct VggOptions {
  bool batch_norm = false;  // BatchNorm2d after every convolution (torchvision's vgg*_bn)
  // fc6, fc7, fc8 after pool5. The classifier takes 7x7x512 = 25088 features, i.e. 224x224 inputs
  // (torchvision's AdaptiveAvgPool2d(7) before it is the identity there and is left out); for any
  // other input size set classifier = false and use the convolutional features alone.
  bool classifier = true;
  std::int64_t num_classes = 1000;
  std::uint64_t seed = 0;
  // Divides every width (64..512 channels, the 4096 hidden units) for tests and small
  // experiments; 1 is the real VGG. Must divide 64.
  std::int64_t width_divisor = 1;
};

// "vgg16", "vgg19_bn", ...: torchvision's name of the architecture.
inline std::string vgg_arch_name(VggDepth depth, bool batch_norm) {
  const char* base = depth == VggDepth::k11   ? "vgg11"
                     : depth == VggDepth::k13 ? "vgg13"
                     : depth == VggDepth::k16 ? "vgg16"
                                              : "vgg19";
  return std::string(base) + (batch_norm ? "_bn" : "");
}

namespace detail {

// Convolutions in each of the five blocks (torchvision's configurations A, B, D, E).
inline std::array<int, 5> vgg_block_convs(VggDepth depth) {
  switch (depth) {
    case VggDepth::k11:
      return {1, 1, 2, 2, 2};
    case VggDepth::k13:
      return {2, 2, 2, 2, 2};
    case VggDepth::k16:
      return {2, 2, 3, 3, 3};
    case VggDepth::k19:
      return {2, 2, 4, 4, 4};
  }
  throw Error("vgg: unknown VggDepth");
}

inline constexpr std::array<std::int64_t, 5> kVggBlockWidths = {64, 128, 256, 512, 512};
inline constexpr std::int64_t kVggHidden = 4096;
inline constexpr std::int64_t kVggClassifierSide = 7;  // pool5 is 7x7 for 224x224 inputs

// The layers of a VGG in order, named; vgg() builds them and torchvision_names() maps them, so the
// two cannot disagree.
inline std::vector<std::pair<std::string, nn::LayerSpec>> vgg_layers(VggDepth depth,
                                                                     const VggOptions& o) {
  using namespace nn;
  const std::int64_t d = o.width_divisor;
  TINYCNN_CHECK(d > 0 && 64 % d == 0, "vgg: width_divisor must divide 64 (1, 2, 4, ..., 64), got ",
                d);
  TINYCNN_CHECK(!o.classifier || o.num_classes > 0, "vgg: num_classes must be positive, got ",
                o.num_classes);
  const auto convs = vgg_block_convs(depth);
  const Conv2dOptions conv{.padding = 1, .init = Init::kKaimingNormal};
  std::vector<std::pair<std::string, LayerSpec>> layers;
  std::int64_t in = 3;
  for (int b = 0; b < 5; ++b) {
    const std::int64_t width = kVggBlockWidths[std::size_t(b)] / d;
    const std::string block = std::to_string(b + 1);
    for (int i = 1; i <= convs[std::size_t(b)]; ++i) {
      const std::string id = block + "_" + std::to_string(i);
      layers.emplace_back("conv" + id, Conv2d(in, width, 3, conv));
      if (o.batch_norm) layers.emplace_back("bn" + id, BatchNorm2d(width));
      layers.emplace_back("relu" + id, ReLU());
      in = width;
    }
    layers.emplace_back("pool" + block, MaxPool2d(2));
  }
  if (o.classifier) {
    const std::int64_t hidden = kVggHidden / d;
    layers.emplace_back("flatten", Flatten());
    layers.emplace_back("fc6", Linear(in * kVggClassifierSide * kVggClassifierSide, hidden));
    layers.emplace_back("relu6", ReLU());
    layers.emplace_back("drop6", Dropout{0.5});
    layers.emplace_back("fc7", Linear(hidden, hidden));
    layers.emplace_back("relu7", ReLU());
    layers.emplace_back("drop7", Dropout{0.5});
    layers.emplace_back("fc8", Linear(hidden, o.num_classes));
  }
  return layers;
}

}  // namespace detail

// A VGG with freshly initialised weights (Kaiming normal convolutions, seeded by options.seed):
//   conv1_1 [bn1_1] relu1_1 ... pool1 ... conv5_N [bn5_N] relu5_N pool5
//   [flatten fc6 relu6 drop6 fc7 relu7 drop7 fc8]
// Layer i of the features is torchvision's features[i]. Convolutions are 3x3, padding 1, with
// bias; pools are 2x2 max pools with stride 2.
template <class T = float, Device D = cpu>
nn::Sequential<T, D> vgg(VggDepth depth, VggOptions options = {}) {
  nn::Sequential<T, D> net(options.seed);
  for (auto& [name, spec] : detail::vgg_layers(depth, options)) net.add(std::move(name), spec);
  return net;
}

template <class T = float, Device D = cpu>
nn::Sequential<T, D> vgg11(VggOptions options = {}) {
  return vgg<T, D>(VggDepth::k11, options);
}
template <class T = float, Device D = cpu>
nn::Sequential<T, D> vgg13(VggOptions options = {}) {
  return vgg<T, D>(VggDepth::k13, options);
}
template <class T = float, Device D = cpu>
nn::Sequential<T, D> vgg16(VggOptions options = {}) {
  return vgg<T, D>(VggDepth::k16, options);
}
template <class T = float, Device D = cpu>
nn::Sequential<T, D> vgg19(VggOptions options = {}) {
  return vgg<T, D>(VggDepth::k19, options);
}

}  // namespace tinycnn::models
