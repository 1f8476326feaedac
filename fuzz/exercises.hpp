// What the fuzz targets do with one input file, shared by fuzz/<loader>_fuzz.cpp and
// tests/io/fuzz_corpus_test.cpp: each function runs as much of one loader's API as is cheap and
// returns normally for a file the loader accepts, throws tinycnn::Error for one it refuses, and
// throws anything else (std::logic_error) only when the loader contradicts itself, which is a bug.
#pragma once

#include <tinycnn/io/caffe.hpp>
#include <tinycnn/io/idx.hpp>
#include <tinycnn/io/image.hpp>
#include <tinycnn/io/safetensors.hpp>
#include <tinycnn/nn/layers.hpp>
#include <tinycnn/nn/sequential.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace tinycnn::fuzz {

// A loader's answer that contradicts another answer of the same loader: a bug, never an input
// error, so it is not a tinycnn::Error.
[[noreturn]] inline void inconsistent(const std::string& what) {
  throw std::logic_error("inconsistent loader results: " + what);
}

// Safetensors: open (validates the header), list names and metadata, read every tensor as float,
// and the integer ones as int64 too.
inline void exercise_safetensors(const std::string& path) {
  const io::SafetensorsFile file(path);
  const auto names = file.names();
  if (names.size() != file.size()) inconsistent("names().size() != size()");
  (void)file.metadata();
  for (const auto& name : names) {
    const auto& entry = file.entry(name);
    const auto t = file.tensor<float>(name);
    if (t.shape() != entry.shape) inconsistent("tensor '" + name + "' has another shape");
    if (!io::dtype_is_floating(entry.dtype)) (void)file.tensor<std::int64_t>(name);
  }
}

// The tiny net of tools/make_caffe_fixtures.py and tests/io/caffe_test.cpp; conv2 has a bias in the
// V1 fixtures and none in the current-format ones.
inline nn::Sequential<float> caffe_fixture_net(bool conv2_bias) {
  nn::Sequential<float> net(1);
  net.add("conv1", nn::Conv2d(3, 4, 3, {.padding = 1}))
      .add("relu1", nn::ReLU{})
      .add("pool1", nn::MaxPool2d(2))
      .add("conv2", nn::Conv2d(4, 6, 1, {.bias = conv2_bias}))
      .add("relu2", nn::ReLU{})
      .add("flatten", nn::Flatten{})
      .add("fc", nn::Linear(24, 3));
  return net;
}

// Caffe: list every layer, read every layer's blobs (the two must agree on every blob's shape and
// count), then load into the fixture net, its conv2 bias as the file's conv2 bias_term declares
// (default true).
inline void exercise_caffemodel(const std::string& path) {
  const auto listed = io::list_caffemodel(path);
  const auto read = io::read_caffemodel(path, [](std::string_view) { return true; });
  if (listed.size() != read.size()) inconsistent("list and read give different layer counts");
  bool conv2_bias = true;
  for (std::size_t i = 0; i < listed.size(); ++i) {
    const auto& l = listed[i];
    const auto& r = read[i];
    if (l.name != r.name || l.type != r.type || l.blobs.size() != r.blobs.size())
      inconsistent("layer " + std::to_string(i) + " differs between list and read");
    for (std::size_t b = 0; b < l.blobs.size(); ++b) {
      const auto& rb = r.blobs[b];
      if (l.blobs[b].shape != rb.shape ||
          std::uint64_t(l.blobs[b].count) != rb.data.size() + rb.double_data.size() ||
          l.blobs[b].is_double != !rb.double_data.empty())
        inconsistent("layer '" + l.name + "' blob " + std::to_string(b) +
                     " differs between list and read");
    }
    if (l.name == "conv2" && l.convolution) conv2_bias = l.convolution->bias_term;
  }
  auto net = caffe_fixture_net(conv2_bias);
  io::load_caffemodel(net, path);
}

// IDX (raw or gzip, by the file's magic): read, convert to double, and read again as images
// (rank 3) or labels (rank 1, integer types) when the shape fits.
inline io::IdxArray exercise_idx(const std::string& path) {
  io::IdxArray a = io::read_idx(path);
  if (a.data.size() != std::size_t(a.numel()) * a.element_size())
    inconsistent("IdxArray data size does not match its shape");
  (void)a.to_tensor<double>();
  if (a.shape.rank() == 3) {
    const auto images = io::read_idx_images(path);
    if (images.numel() != a.numel()) inconsistent("read_idx_images changed the element count");
  }
  if (a.shape.rank() == 1 && !io::idx_type_is_floating(a.type)) (void)io::read_idx_labels(path);
  return a;
}

// Images: load as stored and as RGB (the two must agree on the size), shrink or grow to 7x5, and
// convert to a Caffe-preprocessed tensor.
inline void exercise_image(const std::string& path) {
  const io::Image stored = io::load_image(path, 0);
  const io::Image rgb = io::load_image(path, 3);
  if (stored.width != rgb.width || stored.height != rgb.height || rgb.channels != 3)
    inconsistent("load_image with 0 and 3 channels disagree on the size");
  const io::Image small = io::resize(rgb, 7, 5);
  (void)io::to_tensor<float>(small, io::Preprocess::kCaffe);
}

}  // namespace tinycnn::fuzz
