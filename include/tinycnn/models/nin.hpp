// Network in Network (Lin, Chen & Yan 2013), the ImageNet model of the Caffe model zoo
// (nin_imagenet, gist d802a5849de39225bcc6) with the layer names of its train_val.prototxt, which
// neural-style addresses (relu0, relu3, relu7, relu12).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tinycnn/nn/sequential.hpp"

namespace tinycnn::models {

struct NinOptions {
  // pool4, the global average over cccp8-1024's class maps. Without it the net ends at relu12 and
  // returns (N, num_classes, h, w) score maps; the parameters are the same either way.
  bool classifier = true;
  std::int64_t num_classes = 1000;  // cccp8-1024's outputs
  std::uint64_t seed = 0;
  // Divides every width (96, 256, 384, 1024 channels) for tests and small experiments; 1 is the
  // real network. Must divide 32.
  std::int64_t width_divisor = 1;
};

namespace detail {

inline std::vector<std::pair<std::string, nn::LayerSpec>> nin_layers(const NinOptions& o) {
  using namespace nn;
  const std::int64_t d = o.width_divisor;
  TINYCNN_CHECK(d > 0 && 32 % d == 0,
                "nin_imagenet: width_divisor must divide 32 (1, 2, 4, ..., 32), got ", d);
  TINYCNN_CHECK(o.num_classes > 0, "nin_imagenet: num_classes must be positive, got ",
                o.num_classes);
  const std::int64_t c1 = 96 / d, c2 = 256 / d, c3 = 384 / d, c4 = 1024 / d;
  const Init init = Init::kKaimingNormal;
  // Caffe rounds pooled sizes up; a window never starts past the input.
  const MaxPool2d pool(3, {.stride = 2, .ceil_mode = true});
  std::vector<std::pair<std::string, LayerSpec>> l;
  l.emplace_back("conv1", Conv2d(3, c1, 11, {.stride = 4, .init = init}));
  l.emplace_back("relu0", ReLU());
  l.emplace_back("cccp1", Conv2d(c1, c1, 1, {.init = init}));
  l.emplace_back("relu1", ReLU());
  l.emplace_back("cccp2", Conv2d(c1, c1, 1, {.init = init}));
  l.emplace_back("relu2", ReLU());
  l.emplace_back("pool0", pool);
  l.emplace_back("conv2", Conv2d(c1, c2, 5, {.padding = 2, .init = init}));
  l.emplace_back("relu3", ReLU());
  l.emplace_back("cccp3", Conv2d(c2, c2, 1, {.init = init}));
  l.emplace_back("relu5", ReLU());  // the prototxt has no relu4
  l.emplace_back("cccp4", Conv2d(c2, c2, 1, {.init = init}));
  l.emplace_back("relu6", ReLU());
  l.emplace_back("pool2", pool);  // and no pool1
  l.emplace_back("conv3", Conv2d(c2, c3, 3, {.padding = 1, .init = init}));
  l.emplace_back("relu7", ReLU());
  l.emplace_back("cccp5", Conv2d(c3, c3, 1, {.init = init}));
  l.emplace_back("relu8", ReLU());
  l.emplace_back("cccp6", Conv2d(c3, c3, 1, {.init = init}));
  l.emplace_back("relu9", ReLU());
  l.emplace_back("pool3", pool);
  l.emplace_back("drop", Dropout{0.5});
  l.emplace_back("conv4-1024", Conv2d(c3, c4, 3, {.padding = 1, .init = init}));
  l.emplace_back("relu10", ReLU());
  l.emplace_back("cccp7-1024", Conv2d(c4, c4, 1, {.init = init}));
  l.emplace_back("relu11", ReLU());
  l.emplace_back("cccp8-1024", Conv2d(c4, o.num_classes, 1, {.init = init}));
  l.emplace_back("relu12", ReLU());
  if (o.classifier) l.emplace_back("pool4", GlobalAvgPool2d());
  return l;
}

}  // namespace detail

// NIN with freshly initialised weights (Kaiming normal, seeded by options.seed): four mlpconv
// blocks of a spatial convolution and two 1x1 convolutions ("cccp", cascaded cross-channel
// parametric pooling), each followed by ReLU:
//   conv1 (3->96, 11x11, stride 4) relu0 cccp1 relu1 cccp2 relu2  pool0 (max 3x3/2, ceil)
//   conv2 (96->256, 5x5, pad 2)   relu3 cccp3 relu5 cccp4 relu6  pool2
//   conv3 (256->384, 3x3, pad 1)  relu7 cccp5 relu8 cccp6 relu9  pool3  drop (0.5)
//   conv4-1024 (384->1024, 3x3, pad 1) relu10 cccp7-1024 relu11 cccp8-1024 (->1000) relu12
//   [pool4: global average]
// Layer i is features[i] of the PyTorch port (pytorch-nin's nin_imagenet.pth). The prototxt's
// pool4 is a 6x6 average pool with stride 1, which is the global average for 224x224 inputs
// (conv4's maps are 6x6 there); the global average also serves other sizes.
template <class T = float, Device D = cpu>
nn::Sequential<T, D> nin_imagenet(NinOptions options = {}) {
  nn::Sequential<T, D> net(options.seed);
  for (auto& [name, spec] : detail::nin_layers(options)) net.add(std::move(name), spec);
  return net;
}

}  // namespace tinycnn::models
