// Settings of two well-known style-transfer programs, as StyleOptions for tinycnn's layer names
// (read from their sources: chainer-gogh.py and models.py of chainer-gogh, neural_style.lua of
// neural-style; docs/user-guide.md "Style transfer" lists each number and where it comes from).
// Both compare Caffe-preprocessed images (BGR, 0..255, mean subtracted); the weights assume that.
#pragma once

#include <string>

#include "tinycnn/core/error.hpp"
#include "tinycnn/style/style_transfer.hpp"

namespace tinycnn::style {

// chainer-gogh with VGG-16 (its `-m vgg_chainer` model, which the README recommends: taps after the
// ReLUs of conv1_2, conv2_2, conv3_3 and conv4_3, max pooling). Content: lam 0.005 times alpha
// (0, 0, 1, 1); style: beta 1 divided by the number of taps. Adam with alpha 4, no TV term.
inline StyleOptions chainer_gogh_vgg16() {
  StyleOptions o;
  o.content = {{"relu3_3", 0.005}, {"relu4_3", 0.005}};
  o.style = {{"relu1_2", 0.25}, {"relu2_2", 0.25}, {"relu3_3", 0.25}, {"relu4_3", 0.25}};
  o.optimizer = Optimizer::kAdam;
  o.learning_rate = 4.0;
  return o;
}

// chainer-gogh with NIN-ImageNet (its default model): taps after the ReLUs of conv1, conv2, conv3
// and conv4-1024 (Caffe's relu0, relu3, relu7, relu10); weights as for VGG-16. chainer-gogh
// replaces NIN's max pooling by 3x3/2 average pooling; tinycnn keeps the network as trained.
inline StyleOptions chainer_gogh_nin() {
  StyleOptions o;
  o.content = {{"relu7", 0.005}, {"relu10", 0.005}};
  o.style = {{"relu0", 0.25}, {"relu3", 0.25}, {"relu7", 0.25}, {"relu10", 0.25}};
  o.optimizer = Optimizer::kAdam;
  o.learning_rate = 4.0;
  return o;
}

// neural-style with VGG-19 and its defaults: content_weight 5 on relu4_2, style_weight 100 on each
// of relu1_1..relu5_1, L-BFGS (step 1, history 100, no line search). Its TV module applies the
// gradient of (tv_weight / 2) * sum of squared differences, so tv_weight 1e-3 there is 5e-4 here.
inline StyleOptions neural_style_vgg19() {
  StyleOptions o;
  o.content = {{"relu4_2", 5.0}};
  o.style = {{"relu1_1", 100.0}, {"relu2_1", 100.0}, {"relu3_1", 100.0}, {"relu4_1", 100.0},
             {"relu5_1", 100.0}};
  o.tv_weight = 5e-4;
  o.optimizer = Optimizer::kLbfgs;
  o.learning_rate = 1.0;
  o.lbfgs_history = 100;
  return o;
}

// By name: "gogh-vgg16", "gogh-nin", "neural-style".
inline StyleOptions preset(const std::string& name) {
  if (name == "gogh-vgg16") return chainer_gogh_vgg16();
  if (name == "gogh-nin") return chainer_gogh_nin();
  if (name == "neural-style") return neural_style_vgg19();
  throw Error("style::preset: unknown preset '" + name + "' (gogh-vgg16, gogh-nin, neural-style)");
}

}  // namespace tinycnn::style
