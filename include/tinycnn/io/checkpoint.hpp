// Checkpoints: a model's state (parameters and buffers) and optionally its optimizer's state in one
// safetensors file, written atomically; loading validates names and shapes against the model and
// changes nothing unless every tensor fits.
//
// Layout: tensors "model.<layer>.<name>" and "optim.<layer>.<name>.<slot>"; metadata
// "format" = "tinycnn.checkpoint.v1", "optimizer", "optimizer.steps", "optimizer.lr", and the
// caller's own keys (epoch, ...).
#pragma once

#include <map>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "tinycnn/io/safetensors.hpp"
#include "tinycnn/nn/sequential.hpp"
#include "tinycnn/optim/optimizer.hpp"

namespace tinycnn::io {

inline constexpr const char* kCheckpointFormat = "tinycnn.checkpoint.v1";

template <class T, Device D>
void save_checkpoint(const std::string& path, nn::Sequential<T, D>& model,
                     std::type_identity_t<optim::Optimizer<T, D>>* optimizer = nullptr,
                     std::map<std::string, std::string> metadata = {}) {
  std::vector<std::pair<std::string, Tensor<T, cpu>>> host;  // GPU tensors are copied out first
  for (auto& [name, t] : model.state()) host.emplace_back("model." + name, t->template to<cpu>());
  metadata["format"] = kCheckpointFormat;
  if (optimizer) {
    for (auto& [name, t] : optimizer->state()) host.emplace_back("optim." + name, t->template to<cpu>());
    metadata["optimizer"] = optimizer->name();
    metadata["optimizer.steps"] = std::to_string(optimizer->steps());
    std::ostringstream lr;
    lr.precision(17);
    lr << optimizer->lr();
    metadata["optimizer.lr"] = lr.str();
  }
  std::vector<std::pair<std::string, TensorRef>> refs;
  for (auto& [name, t] : host) refs.emplace_back(name, TensorRef(t));
  save_safetensors(path, refs, metadata);
}

// Loads into model (and optimizer, when given and the file has its state); returns the metadata.
template <class T, Device D>
std::map<std::string, std::string> load_checkpoint(const std::string& path,
                                                   nn::Sequential<T, D>& model,
                                                   std::type_identity_t<optim::Optimizer<T, D>>* optimizer = nullptr) {
  SafetensorsFile file(path);
  const auto& meta = file.metadata();
  const auto format = meta.find("format");
  TINYCNN_CHECK(format != meta.end() && format->second == kCheckpointFormat, "load_checkpoint: '",
                path, "' is not a tinycnn checkpoint (metadata format is '",
                format == meta.end() ? std::string("missing") : format->second, "', expected '",
                kCheckpointFormat, "')");

  // Everything is read and checked before anything is assigned.
  std::vector<std::pair<Tensor<T, D>*, Tensor<T, D>>> staged;
  auto stage = [&](const std::string& prefix, std::vector<std::pair<std::string, Tensor<T, D>*>> want) {
    std::size_t in_file = 0;
    for (const auto& n : file.names()) in_file += n.rfind(prefix, 0) == 0;
    for (auto& [name, target] : want) {
      const std::string key = prefix + name;
      TINYCNN_CHECK(file.contains(key), "load_checkpoint: '", path, "' has no tensor '", key,
                    "': it was saved from a different model");
      TINYCNN_CHECK(file.shape(key) == target->shape(), "load_checkpoint: '", path, "': tensor '", key,
                    "' has shape ", file.shape(key), ", the model expects ", target->shape(),
                    ": it was saved from a different model");
      staged.emplace_back(target, file.template tensor<T>(key).template to<D>());
    }
    TINYCNN_CHECK(in_file == want.size(), "load_checkpoint: '", path, "' holds ", in_file, " '",
                  prefix, "' tensors, the ", prefix == "model." ? "model" : "optimizer", " has ",
                  want.size(), ": it was saved from a different model");
  };
  stage("model.", model.state());
  std::int64_t steps = 0;
  double lr = 0;
  const bool load_optimizer = optimizer && meta.count("optimizer");
  if (load_optimizer) {
    TINYCNN_CHECK(meta.at("optimizer") == optimizer->name(), "load_checkpoint: '", path,
                  "' holds the state of ", meta.at("optimizer"), ", not ", optimizer->name());
    try {
      steps = std::stoll(meta.at("optimizer.steps"));
      lr = std::stod(meta.at("optimizer.lr"));
    } catch (const std::exception&) {
      throw Error(tinycnn::detail::concat("load_checkpoint: '", path,
                                          "': optimizer.steps / optimizer.lr are not numbers"));
    }
    stage("optim.", optimizer->state());
  }
  for (auto& [target, value] : staged) *target = std::move(value);
  if (load_optimizer) {
    optimizer->set_steps(steps);
    optimizer->set_lr(lr);
  }
  return meta;
}

}  // namespace tinycnn::io
