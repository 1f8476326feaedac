// Example 03: neural style transfer.
//
//   03_style_transfer --content photo.jpg --style painting.jpg --output out.png
//       [--model vgg19|vgg16|nin] [--weights VGG_ILSVRC_19_layers.caffemodel | vgg19.safetensors]
//       [--preset neural-style|gogh-vgg16|gogh-nin] [--size 512 | 640x480] [--iterations 500]
//       [--optimizer adam|lbfgs] [--lr X] [--init content|random] [--save-every N]
//       [--device cpu|cuda] [--seed N] [--graph on|off]
//
// Weights: a Caffe .caffemodel (VGG_ILSVRC_16_layers, VGG_ILSVRC_19_layers, nin_imagenet) is read
// directly and images get Caffe's preprocessing (BGR, 0..255, minus the mean pixel); a .safetensors
// file with torchvision's names (tools/convert_weights.py) gets torchvision's. Without --weights
// the network has random weights: fine for timing, but the result will not look like the style.
// The presets' weights assume Caffe's pixel range; with torchvision preprocessing the Adam step is
// scaled to the same step in 0..255 pixels. --graph on (CUDA): each iteration's evaluation is
// replayed from a recorded CUDA graph (StyleOptions::cuda_graph; fastest at small sizes).
#pragma once

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <tinycnn/io/caffe.hpp>
#include <tinycnn/io/image.hpp>
#include <tinycnn/models/nin.hpp>
#include <tinycnn/models/pretrained.hpp>
#include <tinycnn/models/vgg.hpp>
#include <tinycnn/ops/random.hpp>
#include <tinycnn/style/presets.hpp>
#include <tinycnn/style/style_transfer.hpp>

namespace example {

struct Options {
  std::string content, style, output = "stylized.png", model = "vgg19", weights, preset, size = "512";
  std::string optimizer, init = "content", device = "cpu";
  int iterations = 500, save_every = 0;
  bool graph = false;
  double lr = 0;
  std::uint64_t seed = 0;
};

inline void usage() {
  std::fprintf(stderr,
               "usage: 03_style_transfer --content IMG --style IMG [--output out.png]\n"
               "  [--model vgg19|vgg16|nin] [--weights FILE.caffemodel|FILE.safetensors]\n"
               "  [--preset neural-style|gogh-vgg16|gogh-nin] [--size 512|WxH] [--iterations N]\n"
               "  [--optimizer adam|lbfgs] [--lr X] [--init content|random] [--save-every N]\n"
               "  [--device cpu|cuda] [--seed N] [--graph on|off]\n");
}

inline Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      usage();
      std::exit(0);
    }
    if (i + 1 >= argc) throw tinycnn::Error("option " + a + " needs a value (see --help)");
    const std::string v = argv[++i];
    if (a == "--content") o.content = v;
    else if (a == "--style") o.style = v;
    else if (a == "--output") o.output = v;
    else if (a == "--model") o.model = v;
    else if (a == "--weights") o.weights = v;
    else if (a == "--preset") o.preset = v;
    else if (a == "--size") o.size = v;
    else if (a == "--iterations") o.iterations = std::stoi(v);
    else if (a == "--optimizer") o.optimizer = v;
    else if (a == "--lr") o.lr = std::stod(v);
    else if (a == "--init") o.init = v;
    else if (a == "--save-every") o.save_every = std::stoi(v);
    else if (a == "--device") o.device = v;
    else if (a == "--seed") o.seed = std::stoull(v);
    else if (a == "--graph" && (v == "on" || v == "off"))
      o.graph = v == "on";
    else if (a == "--graph")
      throw tinycnn::Error("--graph must be on or off, got " + v);
    else throw tinycnn::Error("unknown option " + a + " (see --help)");
  }
  if (o.content.empty() || o.style.empty()) {
    usage();
    throw tinycnn::Error("--content and --style are required");
  }
  if (o.model != "vgg19" && o.model != "vgg16" && o.model != "nin")
    throw tinycnn::Error("--model must be vgg19, vgg16 or nin, got " + o.model);
  if (o.iterations < 1) throw tinycnn::Error("--iterations must be at least 1");
  if (o.init != "content" && o.init != "random")
    throw tinycnn::Error("--init must be content or random, got " + o.init);
  return o;
}

template <tinycnn::Device D>
tinycnn::nn::Sequential<float, D> build_model(const Options& o, tinycnn::io::Preprocess& pre) {
  namespace models = tinycnn::models;
  tinycnn::nn::Sequential<float, D> net = [&] {
    if (o.model == "nin") return models::nin_imagenet<float, D>({.classifier = false});
    models::VggOptions v;
    v.classifier = false;
    return models::vgg<float, D>(o.model == "vgg16" ? models::VggDepth::k16 : models::VggDepth::k19, v);
  }();
  pre = tinycnn::io::Preprocess::kCaffe;
  if (o.weights.empty()) {
    std::fprintf(stderr, "warning: no --weights: %s has random weights (the result will not look "
                         "like the style)\n", o.model.c_str());
  } else if (std::filesystem::path(o.weights).extension() == ".caffemodel") {
    tinycnn::io::load_caffemodel(net, o.weights);
  } else {
    pre = tinycnn::io::Preprocess::kTorchvision;
    if (o.model == "nin") {
      models::load_pytorch_nin(net, {.classifier = false}, o.weights);
    } else {
      models::VggOptions v;
      v.classifier = false;
      models::load_torchvision_vgg(net, o.model == "vgg16" ? models::VggDepth::k16 : models::VggDepth::k19,
                                   v, o.weights);
    }
  }
  return net;
}

// One progress line, rewritten in place on a terminal.
inline void progress(int it, int total, const tinycnn::style::Losses& l, double per_min, bool tty) {
  const int width = 24, filled = int(double(it) / total * width);
  const double eta = per_min > 0 ? (total - it) / per_min * 60.0 : 0.0;
  std::fprintf(stderr, "%siter %5d/%d [%-*s] loss %.4e (content %.3e style %.3e tv %.3e) %.1f it/min ETA %.0fs%s",
               tty ? "\r" : "", it, total, width, std::string(filled, '#').c_str(), l.total(), l.content,
               l.style, l.tv, per_min, eta, tty ? "" : "\n");
  std::fflush(stderr);
}

template <tinycnn::Device D>
int run(const Options& o) {
  using namespace tinycnn;
  io::Preprocess pre;
  auto net = build_model<D>(o, pre);
  auto opts = o.preset.empty() ? (o.model == "vgg19" ? style::neural_style_vgg19()
                                  : o.model == "vgg16" ? style::chainer_gogh_vgg16()
                                                       : style::chainer_gogh_nin())
                               : style::preset(o.preset);
  if (o.optimizer == "adam") {
    opts.optimizer = style::Optimizer::kAdam;
    if (o.lr == 0 && opts.learning_rate == 1.0) opts.learning_rate = 10.0;  // neural-style's Adam rate
  } else if (o.optimizer == "lbfgs") {
    opts.optimizer = style::Optimizer::kLbfgs;
    opts.learning_rate = 1.0;
  } else if (!o.optimizer.empty()) {
    throw Error("--optimizer must be adam or lbfgs, got " + o.optimizer);
  }
  if (o.lr > 0) opts.learning_rate = o.lr;
  else if (pre == io::Preprocess::kTorchvision && opts.optimizer == style::Optimizer::kAdam)
    opts.learning_rate /= 255.0 * 0.226;  // the same step in 0..255 pixels

  const auto content_img = io::load_image(o.content, 3);
  const auto [w, h] = io::parse_size(o.size, content_img.width, content_img.height);
  const auto style_img = io::load_image(o.style, 3);
  // The style image is scaled to the content's size (its aspect ratio kept, longer side matched).
  const double s = double(std::max(w, h)) / double(std::max(style_img.width, style_img.height));
  const auto sw = std::max<std::int64_t>(1, std::llround(style_img.width * s));
  const auto sh = std::max<std::int64_t>(1, std::llround(style_img.height * s));
  auto content = io::to_tensor<float>(io::resize(content_img, w, h), pre).template to<D>();
  auto style_t = io::to_tensor<float>(io::resize(style_img, sw, sh), pre).template to<D>();

  opts.cuda_graph = o.graph;
  style::StyleTransfer<float, D> st(net, opts);
  std::fprintf(stderr, "%s, %lldx%lld, %s, %s (lr %g), %d iterations on %s\n", o.model.c_str(),
               (long long)w, (long long)h, o.weights.empty() ? "random weights" : o.weights.c_str(),
               opts.optimizer == style::Optimizer::kAdam ? "Adam" : "L-BFGS", opts.learning_rate,
               o.iterations, o.device.c_str());
  st.set_content(content);
  st.set_style(style_t);
  style_t = Tensor<float, D>();
  Tensor<float, D> image;
  if (o.init == "content") {
    image = content.clone();
  } else {
    image = Tensor<float, D>::uninitialized(content.shape());
    ops::normal_(image, o.seed, 0.0f, pre == io::Preprocess::kCaffe ? 0.256f : 0.001f);
  }

  const bool tty = isatty(fileno(stderr));
  auto save = [&](const std::string& path) { io::save_image(path, io::from_tensor(image.template to<cpu>(), pre)); };
  const auto start = std::chrono::steady_clock::now();
  style::Losses first, last;
  for (int it = 1; it <= o.iterations; ++it) {
    last = st.step(image);
    if (it == 1) first = last;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (tty || it == 1 || it % 50 == 0 || it == o.iterations)
      progress(it, o.iterations, last, it / secs * 60.0, tty);
    if (o.save_every > 0 && it % o.save_every == 0 && it < o.iterations) {
      const auto p = std::filesystem::path(o.output);
      save((p.parent_path() / (p.stem().string() + "_" + std::to_string(it) + p.extension().string())).string());
    }
  }
  if (tty) std::fprintf(stderr, "\n");
  save(o.output);
  std::printf("loss %.4e -> %.4e after %d iterations; wrote %s\n", first.total(), last.total(),
              o.iterations, o.output.c_str());
  return 0;
}

}  // namespace example
