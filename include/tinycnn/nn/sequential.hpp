// Sequential<T, Device>: layers in order, built fluently (net << Conv2d(1, 32, 3) << ReLU()),
// with named layers, train/eval modes, forward and backward, named parameters and buffers (the
// state dict), a printed summary, and moving a whole model between devices.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <iomanip>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "tinycnn/nn/layers.hpp"
#include "tinycnn/nn/module.hpp"

namespace tinycnn::nn {

template <class T, Device D = cpu>
class Sequential {
 public:
  // seed: initialisation of every layer (layer i uses a seed derived from (seed, i)).
  explicit Sequential(std::uint64_t seed = 0) : seed_(seed) {}

  Sequential(Sequential&&) noexcept = default;
  Sequential& operator=(Sequential&&) noexcept = default;

  // Append a layer named by its index ("0", "1", ...).
  Sequential& operator<<(const LayerSpec& spec) { return add(std::to_string(layers_.size()), spec); }
  // Append a layer with a name of its own ("conv1_1"): names address layers and prefix parameters.
  Sequential& add(std::string name, const LayerSpec& spec) {
    TINYCNN_CHECK(!name.empty() && name.find('.') == std::string::npos,
                  "Sequential::add: layer names must be non-empty and contain no '.', got '", name, "'");
    TINYCNN_CHECK(!find(name), "Sequential::add: a layer named '", name, "' already exists");
    const std::uint64_t layer_seed = tinycnn::detail::mix64(seed_ ^ (0x9e3779b97f4a7c15ULL * (layers_.size() + 1)));
    layers_.push_back({std::move(name), spec, make_module<T, D>(spec, layer_seed)});
    clear_activations();
    return *this;
  }

  std::size_t size() const noexcept { return layers_.size(); }
  const std::string& name(std::size_t i) const { return layers_.at(i).name; }
  const LayerSpec& spec(std::size_t i) const { return layers_.at(i).spec; }
  Module<T, D>& module(std::size_t i) { return *layers_.at(i).module; }
  // Index of the layer with this name; throws when there is none.
  std::size_t index_of(const std::string& name) const {
    for (std::size_t i = 0; i < layers_.size(); ++i)
      if (layers_[i].name == name) return i;
    throw Error(tinycnn::detail::concat("Sequential: no layer named '", name, "' (", size(), " layers)"));
  }

  // Training mode (dropout active, batch statistics) with gradients, or eval mode without them.
  void train(bool on = true) {
    training_ = on;
    grad_enabled_ = on;
    clear_activations();
  }
  void eval() { train(false); }
  bool is_training() const noexcept { return training_; }
  // Whether forward keeps what backward needs. train() and eval() set it; enabling it after eval()
  // gives eval behaviour with gradients (the input gradient of a frozen network: style transfer).
  void set_grad_enabled(bool on) {
    grad_enabled_ = on;
    clear_activations();
  }
  bool grad_enabled() const noexcept { return grad_enabled_; }
  // Frozen layers compute no parameter gradients and keep nothing for them (a convolution then
  // keeps no input): backward yields the input gradient only.
  void freeze(bool on = true) {
    for (auto& l : layers_) l.module->freeze(on);
    clear_activations();
  }
  // Whether the backward of a ReLU followed by a layer that can take it over
  // (Module::fold_relu_backward) is left out. Max pooling takes it by passing no gradient to
  // inputs that are not positive (the ReLU's output is then not kept at all); a convolution by
  // masking its input gradient by its input, the ReLU's output (kept for that instead). Same
  // gradients; one pass over the activation less. On by default; the environment variable
  // TINYCNN_FOLD_RELU=0 turns it off for new models, =pool folds into max pooling only (to
  // compare).
  void set_relu_folding(bool on) {
    fold_relus_ = on;
    clear_activations();
  }
  bool relu_folding() const noexcept { return fold_relus_; }
  // Whether the last forward pass with gradients left layer i's (a ReLU's) backward to the layer
  // after it.
  bool relu_backward_folded(std::size_t i) const { return i < folded_.size() && folded_[i]; }
  // Whether the forward of a ReLU whose input nothing else reads (not a tap, not kept) is left to
  // the layer before it when that layer can apply it as it writes its output (a convolution:
  // Module::fuse_relu_forward), and then, with gradients, the ReLU's backward too where it is not
  // folded into the layer after it (Module::fuse_relu_backward: the convolution masks its output
  // gradient itself). Same values and gradients; one pass over the activation less each way. On
  // by default; TINYCNN_FUSE_RELU=0 turns it off for new models, =forward keeps the ReLU's
  // backward (to compare).
  // backward false fuses forwards only.
  void set_relu_fusion(bool on, bool backward = true) {
    fuse_mode_ = !on ? kFuseNone : backward ? kFuseBoth : kFuseForward;
    clear_activations();
  }
  bool relu_fusion() const noexcept { return fuse_mode_ != kFuseNone; }
  // Whether the last forward pass left layer i's (a ReLU's) forward to the layer before it.
  bool relu_forward_fused(std::size_t i) const { return i < fused_.size() && fused_[i]; }
  // Whether the last forward pass with gradients left layer i's (a ReLU's) backward to the layer
  // before it.
  bool relu_backward_fused(std::size_t i) const {
    return i < fused_backward_.size() && fused_backward_[i];
  }

  // The output shape for an input shape, validating every layer on the way.
  Shape output_shape(Shape shape) const {
    for (const auto& l : layers_) shape = output_shape_of(l, shape);
    return shape;
  }

  // y = layers[0..n)(x), n = size() by default. In training mode the activations backward needs
  // are kept (and only those); in eval mode each is freed as soon as the next layer has run.
  Tensor<T, D> forward(const Tensor<T, D>& x) { return forward_range(x, layers_.size()); }
  // Forward through the layers up to and including the one named `last`.
  Tensor<T, D> forward_until(const Tensor<T, D>& x, const std::string& last) {
    return forward_range(x, index_of(last) + 1);
  }

  // Backward from dy = d loss / d output of the last forward (with gradients enabled).
  // Accumulates the gradient of every parameter not frozen; returns d loss / d input when
  // input_grad, else an empty tensor.
  Tensor<T, D> backward(const Tensor<T, D>& dy, bool input_grad = false) {
    TINYCNN_CHECK(forward_end_ > 0, "Sequential::backward: needs a forward pass with gradients ",
                  "enabled (training mode, or set_grad_enabled(true)) first");
    TINYCNN_CHECK(dy.shape() == output_shape_, "Sequential::backward: dy must have the shape of the ",
                  "last output ", output_shape_, ", got ", dy.shape());
    return backward_from(dy.clone(), [](std::size_t, const Tensor<T, D>&, Tensor<T, D>&) {},
                         input_grad);
  }

  // Forward for feature taps: runs the layers up to the deepest of `taps` (layer indices) and keeps
  // each tap's output, readable with tap_output(i). With gradients enabled, backward_taps() follows.
  void forward_taps(const Tensor<T, D>& x, const std::vector<std::size_t>& taps) {
    TINYCNN_CHECK(!taps.empty(), "Sequential::forward_taps: no tap layers given");
    std::vector<bool> is_tap(layers_.size(), false);
    std::size_t end = 0;
    for (std::size_t t : taps) {
      TINYCNN_CHECK(t < layers_.size(), "Sequential::forward_taps: tap layer ", t, " out of range (",
                    layers_.size(), " layers)");
      is_tap[t] = true;
      end = std::max(end, t + 1);
    }
    forward_range(x, end, std::move(is_tap), /*return_output=*/false);
  }
  std::vector<std::size_t> tap_indices(const std::vector<std::string>& names) const {
    std::vector<std::size_t> out;
    for (const auto& n : names) out.push_back(index_of(n));
    return out;
  }
  // The output of tap layer i from the last forward_taps.
  const Tensor<T, D>& tap_output(std::size_t i) const {
    TINYCNN_CHECK(i < is_tap_.size() && is_tap_[i] && i + 1 < acts_.size() && !acts_[i + 1].empty(),
                  "Sequential::tap_output: layer ", i, " was not a tap of the last forward_taps");
    return acts_[i + 1];
  }
  // Backward from the taps of the last forward_taps (gradients enabled). At each tap, deepest
  // first, add_grad(i, output, grad) adds d loss / d output of layer i into grad (empty when no
  // gradient has reached that point yet: add_grad then creates it). Returns d loss / d input.
  template <class AddGrad>
  Tensor<T, D> backward_taps(AddGrad&& add_grad) {
    TINYCNN_CHECK(forward_end_ > 0 && !is_tap_.empty(), "Sequential::backward_taps: needs a ",
                  "forward_taps with gradients enabled first");
    return backward_from(Tensor<T, D>(), add_grad, true);
  }
  // Called during every backward pass right after layer i's backward, deepest layer first: layer
  // i's parameter gradients are final for this pass (data-parallel training starts reducing them
  // while the layers below still run). An empty function removes the hook.
  void set_backward_hook(std::function<void(std::size_t)> hook) { backward_hook_ = std::move(hook); }

  // Drop every kept activation (after a forward_taps without backward).
  void release() { clear_activations(); }

  // Parameters named "<layer>.<parameter>" (e.g. "0.weight", "conv1_1.bias").
  std::vector<std::pair<std::string, Parameter<T, D>*>> parameters() {
    std::vector<std::pair<std::string, Parameter<T, D>*>> out;
    for (auto& l : layers_)
      for (auto& p : l.module->parameters()) out.push_back({l.name + "." + p.name, p.parameter});
    return out;
  }
  // Every tensor that defines the model: parameter values and buffers (running statistics).
  std::vector<std::pair<std::string, Tensor<T, D>*>> state() {
    std::vector<std::pair<std::string, Tensor<T, D>*>> out;
    for (auto& l : layers_) {
      for (auto& p : l.module->parameters()) out.push_back({l.name + "." + p.name, &p.parameter->value});
      for (auto& b : l.module->buffers()) out.push_back({l.name + "." + b.name, b.buffer});
    }
    return out;
  }
  std::int64_t parameter_count() {
    std::int64_t n = 0;
    for (auto& p : parameters()) n += p.second->value.numel();
    return n;
  }
  void zero_grad() {
    for (auto& p : parameters()) p.second->zero_grad();
  }

  // The same model (layers, names, parameters, buffers, mode) on device D2.
  template <Device D2>
  Sequential<T, D2> to() {
    Sequential<T, D2> out(seed_);
    for (const auto& l : layers_) out.add(l.name, l.spec);
    auto src = state();
    auto dst = out.state();
    for (std::size_t i = 0; i < src.size(); ++i) *dst[i].second = src[i].second->template to<D2>();
    out.train(training_);
    out.set_grad_enabled(grad_enabled_);
    out.set_relu_folding(fold_relus_);
    out.fuse_mode_ = fuse_mode_;
    for (std::size_t i = 0; i < layers_.size(); ++i) out.module(i).freeze(layers_[i].module->frozen());
    return out;
  }

  // A table of layers with output shapes and parameter counts for a given input shape, as Keras'
  // model.summary() and torchinfo print it.
  std::string summary(const Shape& input) {
    std::ostringstream os;
    const auto line = std::string(86, '-') + "\n";
    os << line << std::left << std::setw(12) << "Layer" << std::setw(44) << "Type" << std::setw(20)
       << "Output shape" << std::right << std::setw(10) << "Params" << "\n" << line;
    Shape shape = input;
    std::int64_t total = 0;
    for (auto& l : layers_) {
      shape = output_shape_of(l, shape);
      std::int64_t n = 0;
      for (auto& p : l.module->parameters()) n += p.parameter->value.numel();
      total += n;
      os << std::left << std::setw(12) << l.name << std::setw(44) << l.module->describe()
         << std::setw(20) << shape.to_string() << std::right << std::setw(10) << n << "\n";
    }
    os << line << "Input " << input << ", total parameters: " << total << " ("
       << std::fixed << std::setprecision(2) << double(total) * sizeof(T) / (1024.0 * 1024.0)
       << " MiB)\n";
    return os.str();
  }

 private:
  template <class, Device>
  friend class Sequential;  // to<D2>() copies the settings

  struct Layer {
    std::string name;
    LayerSpec spec;
    std::unique_ptr<Module<T, D>> module;
  };

  Shape output_shape_of(const Layer& l, const Shape& in) const {
    try {
      return l.module->output_shape(in);
    } catch (const Error& e) {
      throw Error(tinycnn::detail::concat("layer '", l.name, "': ", e.what()));
    }
  }

  const Layer* find(const std::string& name) const {
    for (const auto& l : layers_)
      if (l.name == name) return &l;
    return nullptr;
  }

  void clear_activations() {
    acts_.clear();
    is_tap_.clear();
    folded_.clear();
    fused_.clear();
    fused_backward_.clear();
    forward_end_ = 0;
    for (auto& l : layers_) l.module->release();
  }

  // Whether the tensor between layers i-1 and i (the input of layer i) is kept: backward needs it,
  // or it is a tap's output.
  bool keep_activation(std::size_t i, std::size_t end) const {
    if (i > 0 && i - 1 < is_tap_.size() && is_tap_[i - 1]) return true;
    if (!grad_enabled_) return false;
    if (i < end && layers_[i].module->backward_needs().input) return true;
    return i > 0 && layers_[i - 1].module->backward_needs().output && !relu_backward_folded(i - 1);
  }

  // Decides, for the forward pass over layers [0, end), which ReLUs' backward the next layer takes
  // over (folded_), and tells every layer whether it does.
  void plan_relu_folding(std::size_t end) {
    folded_.assign(end, false);
    for (std::size_t j = 1; j < layers_.size(); ++j) {
      const std::size_t i = j - 1;
      const bool want =
          fold_relus_ && grad_enabled_ && j < end &&
          std::holds_alternative<ReLU>(layers_[i].spec) && !(i < is_tap_.size() && is_tap_[i]) &&
          (!fold_into_pooling_only() || std::holds_alternative<MaxPool2d>(layers_[j].spec));
      const bool folded = layers_[j].module->fold_relu_backward(want);
      if (want && folded) folded_[i] = true;
    }
  }

  // Decides, for the forward pass over layers [0, end), which ReLUs' forward the layer before
  // takes over (fused_), and tells every layer whether it does. After plan_relu_folding: a ReLU
  // whose output is no longer kept changes nothing here (its input never is kept for it).
  // With gradients, where the ReLU's forward is fused and its backward not folded, the layer
  // before is asked to take the backward as well (fused_backward_).
  void plan_relu_fusion(std::size_t end) {
    fused_.assign(end, false);
    fused_backward_.assign(end, false);
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      const std::size_t j = i + 1;
      const bool want = fuse_mode_ != kFuseNone && j < end &&
                        std::holds_alternative<ReLU>(layers_[j].spec) && !keep_activation(j, end);
      const bool fused = layers_[i].module->fuse_relu_forward(want) && want;
      if (fused) fused_[j] = true;
      const bool want_backward =
          fused && fuse_mode_ == kFuseBoth && grad_enabled_ && !relu_backward_folded(j);
      if (layers_[i].module->fuse_relu_backward(want_backward) && want_backward)
        fused_backward_[j] = true;
    }
  }

  // The value of an environment switch ("" when unset).
  static std::string env_mode(const char* name) {
    const char* v = std::getenv(name);
    return v ? v : "";
  }
  static bool default_relu_folding() { return env_mode("TINYCNN_FOLD_RELU") != "0"; }
  static bool fold_into_pooling_only() {
    static const bool only = env_mode("TINYCNN_FOLD_RELU") == "pool";
    return only;
  }
  static int default_relu_fusion() {
    const std::string mode = env_mode("TINYCNN_FUSE_RELU");
    return mode == "0" ? kFuseNone : mode == "forward" ? kFuseForward : kFuseBoth;
  }

  // Backward through layers [0, forward_end_) starting from grad (d loss / d last output, or empty
  // for taps), calling add_grad at every tap layer's output on the way.
  template <class AddGrad>
  Tensor<T, D> backward_from(Tensor<T, D> grad, AddGrad&& add_grad, bool input_grad) {
    for (std::size_t i = forward_end_; i-- > 0;) {
      auto& l = layers_[i];
      if (i < is_tap_.size() && is_tap_[i]) add_grad(i, acts_[i + 1], grad);
      if (grad.empty()) {  // above the deepest tap with a gradient: nothing flows yet
        acts_[i + 1] = Tensor<T, D>();
        l.module->release();
        if (backward_hook_) backward_hook_(i);
        continue;
      }
      // The layer above gave the ReLU's input gradient already (folded: the ReLU's output, if
      // the layer above kept it as its input, is done with), or the layer below takes the
      // ReLU's backward with its own, reading the ReLU's output (fused: kept until then).
      if (relu_backward_folded(i) || relu_backward_fused(i)) {
        if (relu_backward_folded(i)) acts_[i + 1] = Tensor<T, D>();
        l.module->release();
        if (backward_hook_) backward_hook_(i);
        continue;
      }
      const auto needs = l.module->backward_needs();
      const bool takes_relu = relu_backward_fused(i + 1);
      const Tensor<T, D>* in = needs.input ? &acts_[i] : nullptr;
      const Tensor<T, D>* out = takes_relu ? &acts_[i + 2] : needs.output ? &acts_[i + 1] : nullptr;
      const bool need_dx = i > 0 || input_grad;
      if (!(need_dx && l.module->backward_in_place(grad, in, out)))
        grad = l.module->backward(grad, in, out, need_dx);
      if (takes_relu) acts_[i + 2] = Tensor<T, D>();
      acts_[i + 1] = Tensor<T, D>();
      if (backward_hook_) backward_hook_(i);
    }
    acts_.clear();
    is_tap_.clear();
    forward_end_ = 0;
    return grad;
  }

  Tensor<T, D> forward_range(const Tensor<T, D>& x, std::size_t end, std::vector<bool> taps = {},
                             bool return_output = true) {
    clear_activations();
    is_tap_ = std::move(taps);
    output_shape_ = x.shape();
    for (std::size_t i = 0; i < end; ++i) output_shape_ = output_shape_of(layers_[i], output_shape_);
    for (auto& l : layers_) l.module->set_record(grad_enabled_);
    plan_relu_folding(end);
    plan_relu_fusion(end);
    if (grad_enabled_ || !is_tap_.empty()) acts_.resize(end + 1);
    if (end == 0) return x.clone();

    Tensor<T, D> cur;          // the current activation, when owned
    const Tensor<T, D>* in = &x;
    if (keep_activation(0, end)) {
      acts_[0] = x.clone();
      in = &acts_[0];
    }
    for (std::size_t i = 0; i < end; ++i) {
      Module<T, D>& m = *layers_[i].module;
      Tensor<T, D> out;
      // In place when the input is ours and nobody needs it afterwards.
      const bool owned = in == &cur;
      if (relu_forward_fused(i)) {  // the layer before wrote max(y, 0) already
        out = owned ? std::move(cur) : in->clone();
      } else if (owned && !keep_activation(i, end) && m.forward_in_place(cur, training_)) {
        out = std::move(cur);
      } else {
        out = m.forward(*in, training_);
      }
      if (keep_activation(i + 1, end)) {
        acts_[i + 1] = std::move(out);
        in = &acts_[i + 1];
      } else {
        cur = std::move(out);
        in = &cur;
      }
    }
    forward_end_ = grad_enabled_ ? end : 0;
    if (!return_output) return {};
    // The caller gets its own copy when backward keeps the output (a final Softmax).
    return in == &cur ? std::move(cur) : in->clone();
  }

  std::vector<Layer> layers_;
  std::uint64_t seed_;
  bool training_ = true;
  bool grad_enabled_ = true;
  bool fold_relus_ = default_relu_folding();
  static constexpr int kFuseNone = 0, kFuseForward = 1, kFuseBoth = 2;
  int fuse_mode_ = default_relu_fusion();
  std::vector<Tensor<T, D>> acts_;  // acts_[i]: input of layer i, kept when backward needs it
  std::vector<bool> is_tap_;        // layers whose outputs the last forward_taps keeps
  std::vector<bool> folded_;        // ReLU layers whose backward the next layer takes over
  std::vector<bool> fused_;         // ReLU layers whose forward the layer before took over
  std::vector<bool> fused_backward_;  // ... and whose backward too
  std::size_t forward_end_ = 0;
  Shape output_shape_;
  std::function<void(std::size_t)> backward_hook_;
};

}  // namespace tinycnn::nn
