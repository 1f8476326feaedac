// Pretrained weights from safetensors files: a model's state read under the file's own tensor names
// (torchvision's "features.0.weight" for our "conv1_1.weight"), shapes checked, dtypes converted,
// all or nothing. tools/convert_weights.py turns PyTorch .pth files into such files.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "tinycnn/io/safetensors.hpp"
#include "tinycnn/models/nin.hpp"
#include "tinycnn/models/vgg.hpp"
#include "tinycnn/nn/sequential.hpp"

namespace tinycnn::models {

// (our state name, the file's tensor name) pairs.
using StateNameMap = std::vector<std::pair<std::string, std::string>>;

namespace detail {

// "<prefix>.<i>.<name>" for every parameter and buffer of the layers, i = index in the layer list
// (torch's nn.Sequential naming), in Sequential::state() order.
inline void add_indexed_names(StateNameMap& out,
                              const std::vector<std::pair<std::string, nn::LayerSpec>>& layers,
                              std::size_t first, std::size_t last, const std::string& prefix,
                              std::size_t index_offset) {
  for (std::size_t i = first; i < last; ++i) {
    const auto& [name, spec] = layers[i];
    std::vector<const char*> tensors;
    if (const auto* c = std::get_if<nn::Conv2d>(&spec))
      tensors = c->options.bias ? std::vector<const char*>{"weight", "bias"}
                                : std::vector<const char*>{"weight"};
    else if (const auto* l = std::get_if<nn::Linear>(&spec))
      tensors = l->options.bias ? std::vector<const char*>{"weight", "bias"}
                                : std::vector<const char*>{"weight"};
    else if (std::holds_alternative<nn::BatchNorm2d>(spec))
      tensors = {"weight", "bias", "running_mean", "running_var"};
    const std::string theirs = prefix + "." + std::to_string(i - index_offset) + ".";
    for (const char* t : tensors) out.emplace_back(name + "." + t, theirs + t);
  }
}

inline bool is_num_batches_tracked(const std::string& name) {
  constexpr std::string_view kSuffix = "num_batches_tracked";
  return name.size() >= kSuffix.size() &&
         name.compare(name.size() - kSuffix.size(), kSuffix.size(), kSuffix) == 0 &&
         (name.size() == kSuffix.size() || name[name.size() - kSuffix.size() - 1] == '.');
}

inline std::string list_names(const std::vector<std::string>& names, std::size_t show = 8) {
  std::string s;
  for (std::size_t i = 0; i < names.size() && i < show; ++i)
    s += (i ? ", '" : "'") + names[i] + "'";
  if (names.size() > show) s += ", ... (" + std::to_string(names.size()) + " in all)";
  return s;
}

}  // namespace detail

// Our state names of vgg(depth, options) -> torchvision's vgg*/vgg*_bn state-dict names, in
// Sequential::state() order: conv1_1.weight -> features.0.weight, bn1_1.running_mean ->
// features.1.running_mean, fc6.weight -> classifier.0.weight, fc7 -> classifier.3, fc8 ->
// classifier.6. torchvision's num_batches_tracked buffers have no counterpart.
inline StateNameMap torchvision_names(VggDepth depth, const VggOptions& options) {
  const auto layers = detail::vgg_layers(depth, options);
  std::size_t features = 0;
  while (features < layers.size() && layers[features].first != "flatten") ++features;
  StateNameMap out;
  detail::add_indexed_names(out, layers, 0, features, "features", 0);
  // Our classifier starts with flatten where torchvision's starts with fc6 (its avgpool and
  // flatten sit outside the classifier Sequential): classifier index = our index - (features + 1).
  if (features < layers.size())
    detail::add_indexed_names(out, layers, features + 1, layers.size(), "classifier", features + 1);
  return out;
}

// Our state names of nin_imagenet(options) -> the PyTorch port's (nin_imagenet.pth of pytorch-nin
// and neural-style-pt, an nn.Sequential "features" in the same order): conv1.weight ->
// features.0.weight, cccp8-1024.bias -> features.26.bias.
inline StateNameMap pytorch_nin_names(const NinOptions& options) {
  const auto layers = detail::nin_layers(options);
  StateNameMap out;
  detail::add_indexed_names(out, layers, 0, layers.size(), "features", 0);
  return out;
}

// Loads every parameter and buffer of `net` from a safetensors file. `mapping` gives the file's
// name for our state names (pairs (ours, file's)); names it does not list are looked up under
// their own name, so the default is the identity. Floating dtypes (F64, F32, F16, BF16) are
// converted to T. Throws tinycnn::Error, with `net` unchanged, when:
//   - a mapping entry names a tensor the net does not have, or two entries share a name;
//   - a net tensor is missing from the file, has another shape, or has a non-floating dtype;
//   - the file has tensors the net does not use, unless allow_unused_file_tensors (tensors named
//     "num_batches_tracked" or "*.num_batches_tracked", PyTorch's batch-norm step counters, are
//     always ignored).
// Everything is read and checked before anything is assigned.
template <class T, Device D>
void load_safetensors_state(nn::Sequential<T, D>& net, const std::filesystem::path& path,
                            const StateNameMap& mapping = {},
                            bool allow_unused_file_tensors = false) {
  const std::string where = "load_safetensors_state: '" + path.string() + "': ";
  auto state = net.state();

  std::vector<std::string> ours;
  for (const auto& s : state) ours.push_back(s.first);
  const std::set<std::string> our_set(ours.begin(), ours.end());
  std::map<std::string, std::string> file_name_of;
  std::set<std::string> mapped_to;
  for (const auto& [our, theirs] : mapping) {
    TINYCNN_CHECK(our_set.count(our), where, "the name mapping lists '", our,
                  "', which is not a tensor of the net (it has ", detail::list_names(ours), ")");
    TINYCNN_CHECK(file_name_of.emplace(our, theirs).second, where, "the name mapping lists '", our,
                  "' twice");
    TINYCNN_CHECK(mapped_to.insert(theirs).second, where, "the name mapping maps two tensors to '",
                  theirs, "'");
  }
  auto file_name = [&](const std::string& our) -> const std::string& {
    const auto it = file_name_of.find(our);
    return it == file_name_of.end() ? our : it->second;
  };

  io::SafetensorsFile file(path.string());
  std::set<std::string> used;
  for (auto& [our, target] : state) {
    const std::string& theirs = file_name(our);
    const std::string label =
        theirs == our ? "'" + our + "'" : "'" + theirs + "' (the net's '" + our + "')";
    TINYCNN_CHECK(file.contains(theirs), where, "no tensor ", label, " of shape ", target->shape(),
                  "; the file has ", file.size(), " tensors: ", detail::list_names(file.names()));
    TINYCNN_CHECK(used.insert(theirs).second, where, "tensor '", theirs,
                  "' would be read for two of the net's tensors (the second is '", our, "')");
    TINYCNN_CHECK(io::dtype_is_floating(file.dtype(theirs)), where, "tensor ", label, " has dtype ",
                  io::dtype_name(file.dtype(theirs)), "; weights must be F64, F32, F16 or BF16");
    TINYCNN_CHECK(file.shape(theirs) == target->shape(), where, "tensor '", theirs, "' has shape ",
                  file.shape(theirs), " but the net's '", our, "' has shape ", target->shape());
  }
  std::vector<std::string> unused;
  for (const auto& name : file.names())
    if (!used.count(name) && !detail::is_num_batches_tracked(name)) unused.push_back(name);
  TINYCNN_CHECK(unused.empty() || allow_unused_file_tensors, where, "the file has ", unused.size(),
                " tensor(s) the net does not use: ", detail::list_names(unused),
                " (allow_unused_file_tensors = true ignores them)");

  std::vector<std::pair<Tensor<T, D>*, Tensor<T, D>>> staged;
  for (auto& [our, target] : state)
    staged.emplace_back(target, file.template tensor<T>(file_name(our)).template to<D>());
  for (auto& [target, value] : staged) *target = std::move(value);
}

// Loads torchvision's weights for vgg(depth, options) (a file from tools/convert_weights.py, e.g.
// `convert_weights.py --torchvision vgg19 vgg19.safetensors`). The net must be vgg(depth, options)
// (same layers; other widths fail on the shapes). A net without classifier reads the features of a
// full file and ignores the tensors it does not use; a net with a classifier needs it in the file.
template <class T, Device D>
void load_torchvision_vgg(nn::Sequential<T, D>& net, VggDepth depth, const VggOptions& options,
                          const std::filesystem::path& safetensors) {
  const auto mapping = torchvision_names(depth, options);
  const auto state = net.state();
  bool same = state.size() == mapping.size();
  for (std::size_t i = 0; same && i < state.size(); ++i) same = state[i].first == mapping[i].first;
  TINYCNN_CHECK(same, "load_torchvision_vgg: '", safetensors.string(), "': the net is not ",
                vgg_arch_name(depth, options.batch_norm),
                options.classifier ? " with classifier" : " without classifier", " (it has ",
                state.size(), " state tensors, that model ", mapping.size(), ")");
  load_safetensors_state(net, safetensors, mapping,
                         /*allow_unused_file_tensors=*/!options.classifier);
}

// Loads the PyTorch port's NIN weights (features.<i>.weight / .bias) into nin_imagenet(options).
template <class T, Device D>
void load_pytorch_nin(nn::Sequential<T, D>& net, const NinOptions& options,
                      const std::filesystem::path& safetensors) {
  load_safetensors_state(net, safetensors, pytorch_nin_names(options));
}

}  // namespace tinycnn::models
