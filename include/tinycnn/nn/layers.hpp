// Layer specs (device-agnostic descriptions a user writes: Conv2d(1, 32, 3, {.padding = 1})) and
// the modules that implement them for a given T and device. Sequential turns specs into modules.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <sstream>
#include <string>
#include <variant>

#include "tinycnn/nn/module.hpp"
#include "tinycnn/ops/conv.hpp"
#include "tinycnn/ops/elementwise.hpp"
#include "tinycnn/ops/gemm.hpp"
#include "tinycnn/ops/pool.hpp"
#include "tinycnn/ops/random.hpp"
#include "tinycnn/ops/softmax.hpp"
#include "tinycnn/ops/training.hpp"

namespace tinycnn::nn {

// Weight initialisation. kDefault is PyTorch's (uniform in ±1/sqrt(fan_in) for weight and bias);
// Kaiming (He) for ReLU networks and Xavier (Glorot) set the bias to zero.
enum class Init { kDefault, kKaimingNormal, kKaimingUniform, kXavierNormal, kXavierUniform };

// ---- specs -----------------------------------------------------------------------------------

struct Conv2dOptions {
  std::int64_t stride = 1, padding = 0, dilation = 1;
  bool bias = true;
  Init init = Init::kDefault;
};
struct Conv2d {
  std::int64_t in_channels, out_channels, kernel_size;
  Conv2dOptions options{};
  Conv2d(std::int64_t in, std::int64_t out, std::int64_t kernel, Conv2dOptions o = {})
      : in_channels(in), out_channels(out), kernel_size(kernel), options(o) {}
};

struct LinearOptions {
  bool bias = true;
  Init init = Init::kDefault;
};
struct Linear {
  std::int64_t in_features, out_features;
  LinearOptions options{};
  Linear(std::int64_t in, std::int64_t out, LinearOptions o = {})
      : in_features(in), out_features(out), options(o) {}
};

struct ReLU {};

struct PoolOptions {
  std::int64_t stride = 0;  // 0: the kernel size
  std::int64_t padding = 0;
  bool ceil_mode = false;
  bool count_include_pad = true;  // average pooling
};
struct MaxPool2d {
  std::int64_t kernel_size;
  PoolOptions options{};
  explicit MaxPool2d(std::int64_t kernel, PoolOptions o = {}) : kernel_size(kernel), options(o) {}
};
struct AvgPool2d {
  std::int64_t kernel_size;
  PoolOptions options{};
  explicit AvgPool2d(std::int64_t kernel, PoolOptions o = {}) : kernel_size(kernel), options(o) {}
};
struct GlobalAvgPool2d {};
struct Flatten {};
struct Dropout {
  double p = 0.5;
};
struct BatchNorm2d {
  std::int64_t num_features;
  double eps = 1e-5, momentum = 0.1;
  explicit BatchNorm2d(std::int64_t n, double eps_ = 1e-5, double momentum_ = 0.1)
      : num_features(n), eps(eps_), momentum(momentum_) {}
};
struct Softmax {};
struct LogSoftmax {};

using LayerSpec = std::variant<Conv2d, Linear, ReLU, MaxPool2d, AvgPool2d, GlobalAvgPool2d, Flatten,
                               Dropout, BatchNorm2d, Softmax, LogSoftmax>;

// ---- modules -----------------------------------------------------------------------------------

namespace detail {

inline ops::Pool2dOptions pool_options(std::int64_t kernel, const PoolOptions& o) {
  const std::int64_t stride = o.stride ? o.stride : kernel;
  return {kernel, kernel, stride, stride, o.padding, o.padding, o.ceil_mode, o.count_include_pad};
}

// Fill weight (fan_in, fan_out as given) and bias per the init scheme, seeded.
template <class T, Device D>
void initialise(Tensor<T, D>& weight, Tensor<T, D>* bias, std::int64_t fan_in, std::int64_t fan_out,
                Init init, std::uint64_t seed) {
  const double in = double(fan_in), out = double(fan_out);
  switch (init) {
    case Init::kDefault: {
      const T bound = T(1.0 / std::sqrt(in));
      ops::uniform_(weight, seed, -bound, bound);
      if (bias) ops::uniform_(*bias, seed ^ 0xb1a5, -bound, bound);
      return;
    }
    case Init::kKaimingNormal: ops::normal_(weight, seed, T(0), T(std::sqrt(2.0 / in))); break;
    case Init::kKaimingUniform: {
      const T bound = T(std::sqrt(6.0 / in));
      ops::uniform_(weight, seed, -bound, bound);
      break;
    }
    case Init::kXavierNormal: ops::normal_(weight, seed, T(0), T(std::sqrt(2.0 / (in + out)))); break;
    case Init::kXavierUniform: {
      const T bound = T(std::sqrt(6.0 / (in + out)));
      ops::uniform_(weight, seed, -bound, bound);
      break;
    }
  }
  if (bias) bias->zero_();
}

template <class T, Device D>
void check_rank4(const std::string& layer, const Shape& s) {
  TINYCNN_CHECK(s.rank() == 4, layer, ": expects input (N, C, H, W), got shape ", s);
}

template <class T, Device D>
class Conv2dModule final : public Module<T, D> {
 public:
  Conv2dModule(const Conv2d& spec, std::uint64_t seed)
      : spec_(spec),
        weight_({spec.out_channels, spec.in_channels, spec.kernel_size, spec.kernel_size}),
        bias_(Shape{spec.options.bias ? spec.out_channels : 0}),
        opts_(ops::Conv2dOptions::square(spec.options.stride, spec.options.padding,
                                         spec.options.dilation)) {
    TINYCNN_CHECK(spec.in_channels > 0 && spec.out_channels > 0 && spec.kernel_size > 0,
                  "Conv2d: channels and kernel size must be positive, got ", describe());
    const std::int64_t rs = spec.kernel_size * spec.kernel_size;
    initialise(weight_.value, spec.options.bias ? &bias_.value : nullptr, spec.in_channels * rs,
               spec.out_channels * rs, spec.options.init, seed);
  }
  std::string describe() const override {
    std::ostringstream os;
    os << "Conv2d(" << spec_.in_channels << ", " << spec_.out_channels << ", kernel="
       << spec_.kernel_size << ", stride=" << spec_.options.stride << ", padding="
       << spec_.options.padding;
    if (spec_.options.dilation != 1) os << ", dilation=" << spec_.options.dilation;
    if (!spec_.options.bias) os << ", bias=false";
    return os.str() + ")";
  }
  Shape output_shape(const Shape& in) const override {
    check_rank4<T, D>(describe(), in);
    TINYCNN_CHECK(in[1] == spec_.in_channels, describe(), ": expects ", spec_.in_channels,
                  " input channels, got input of shape ", in);
    return ops::conv2d_output_shape(ops::conv2d_desc("Conv2d", in, weight_.value.shape(), opts_));
  }
  // The input is kept for the filter gradient, and as the mask of a ReLU folded in from before.
  BackwardNeeds backward_needs() const override { return {.input = !this->frozen_ || fold_relu_}; }
  Tensor<T, D> forward(const Tensor<T, D>& x, bool) override {
    output_shape(x.shape());
    input_shape_ = x.shape();
    auto* cache = filter_cache();
    if (fuse_relu_)
      return spec_.options.bias ? ops::conv2d_relu(x, weight_.value, bias_.value, opts_, cache)
                                : ops::conv2d_relu(x, weight_.value, opts_, cache);
    return spec_.options.bias ? ops::conv2d(x, weight_.value, bias_.value, opts_, cache)
                              : ops::conv2d(x, weight_.value, opts_, cache);
  }
  // A frozen layer keeps its prepared filters between calls (ops::ConvFilterCache: made again
  // whenever the weights' version changes); unfreezing drops them.
  void freeze(bool frozen) override {
    Module<T, D>::freeze(frozen);
    if (!frozen) filters_.clear();
  }
  const ops::ConvFilterCache<T, D>& filters() const noexcept { return filters_; }
  bool fuse_relu_forward(bool on) override {
    fuse_relu_ = on;
    return true;
  }
  // The ReLU after (fuse_relu_backward; y: its output): dy is that ReLU's output gradient. The
  // ReLU before (fold_relu_backward; x: its output): dx is that ReLU's input gradient.
  Tensor<T, D> backward(const Tensor<T, D>& dy, const Tensor<T, D>* x, const Tensor<T, D>* y,
                        bool need_dx) override {
    if (this->frozen_ && !need_dx) return {};
    if (!(fuse_relu_backward_ && y)) return backward_plain(dy, x, need_dx);
    return backward_plain(ops::relu_backward(dy, *y), x, need_dx);
  }
  // Sequential's path when dx is wanted: a frozen layer whose backward data runs by Winograd on
  // CUDA applies both ReLUs' masks inside it; otherwise dy is masked in place first (as the ReLU's
  // own backward would, so no extra tensor is held) and dx after.
  bool backward_in_place(Tensor<T, D>& dy, const Tensor<T, D>* x, const Tensor<T, D>* y) override {
    const bool after = fuse_relu_backward_ && y, before = fold_relu_ && x;
    if (!after && !before) return false;
    if (this->frozen_ && ops::conv2d_backward_data_takes_relu_mask<T, D>(
                             input_shape_, weight_.value.shape(), opts_)) {
      dy = ops::conv2d_backward_data_relu(dy, after ? y : nullptr, weight_.value, input_shape_,
                                          opts_, before ? x : nullptr, filter_cache());
      return true;
    }
    if (after) ops::relu_backward_(dy, *y);
    dy = backward_plain(dy, x, true);
    return true;
  }
  bool fuse_relu_backward(bool on) override {
    fuse_relu_backward_ = on;
    return true;
  }
  bool fold_relu_backward(bool on) override {
    fold_relu_ = on;
    return true;
  }
  std::vector<NamedParameter<T, D>> parameters() override {
    if (!spec_.options.bias) return {{"weight", &weight_}};
    return {{"weight", &weight_}, {"bias", &bias_}};
  }

 private:
  Conv2d spec_;
  Parameter<T, D> weight_, bias_;
  // Filter and bias gradients (unless frozen), and dx (through the ReLU before when folded).
  Tensor<T, D> backward_plain(const Tensor<T, D>& dy, const Tensor<T, D>* x, bool need_dx) {
    if (!this->frozen_) {
      weight_.accumulate(ops::conv2d_backward_filter(dy, *x, weight_.value.shape(), opts_));
      if (spec_.options.bias) bias_.accumulate(ops::conv2d_backward_bias(dy));
    }
    if (!need_dx) return {};
    if (fold_relu_ && x)
      return ops::conv2d_backward_data_relu(dy, nullptr, weight_.value, input_shape_, opts_, x,
                                            filter_cache());
    return ops::conv2d_backward_data(dy, weight_.value, input_shape_, opts_, filter_cache());
  }
  ops::ConvFilterCache<T, D>* filter_cache() {
    return this->frozen_ && ops::detail::filter_cache_enabled() ? &filters_ : nullptr;
  }
  ops::ConvFilterCache<T, D> filters_;

  ops::Conv2dOptions opts_;
  Shape input_shape_;
  bool fuse_relu_ = false;           // forward writes max(y, 0): the ReLU after it is left out
  bool fuse_relu_backward_ = false;  // backward masks dy by the ReLU's output (given as y)
  bool fold_relu_ = false;           // backward masks dx by the input (the ReLU before's output)
};

template <class T, Device D>
class LinearModule final : public Module<T, D> {
 public:
  LinearModule(const Linear& spec, std::uint64_t seed)
      : spec_(spec), weight_({spec.out_features, spec.in_features}),
        bias_(Shape{spec.options.bias ? spec.out_features : 0}) {
    TINYCNN_CHECK(spec.in_features > 0 && spec.out_features > 0,
                  "Linear: features must be positive, got ", describe());
    initialise(weight_.value, spec.options.bias ? &bias_.value : nullptr, spec.in_features,
               spec.out_features, spec.options.init, seed);
  }
  std::string describe() const override {
    return "Linear(" + std::to_string(spec_.in_features) + ", " + std::to_string(spec_.out_features) +
           (spec_.options.bias ? ")" : ", bias=false)");
  }
  Shape output_shape(const Shape& in) const override {
    TINYCNN_CHECK(in.rank() == 2 && in[1] == spec_.in_features, describe(), ": expects input (N, ",
                  spec_.in_features, "), got shape ", in, in.rank() > 2 ? " (add a Flatten)" : "");
    return {in[0], spec_.out_features};
  }
  BackwardNeeds backward_needs() const override { return {.input = !this->frozen_}; }
  Tensor<T, D> forward(const Tensor<T, D>& x, bool) override {
    output_shape(x.shape());
    auto y = ops::matmul(x, weight_.value, false, true);  // (N, in) x (out, in)^T
    if (spec_.options.bias) ops::bias_add_(y, bias_.value);
    return y;
  }
  Tensor<T, D> backward(const Tensor<T, D>& dy, const Tensor<T, D>* x, const Tensor<T, D>*, bool need_dx) override {
    if (!this->frozen_) {
      weight_.accumulate(ops::matmul(dy, *x, true, false));  // (N, out)^T x (N, in)
      if (spec_.options.bias) bias_.accumulate(ops::bias_backward(dy));
    }
    if (!need_dx) return {};
    return ops::matmul(dy, weight_.value);
  }
  std::vector<NamedParameter<T, D>> parameters() override {
    if (!spec_.options.bias) return {{"weight", &weight_}};
    return {{"weight", &weight_}, {"bias", &bias_}};
  }

 private:
  Linear spec_;
  Parameter<T, D> weight_, bias_;
};

template <class T, Device D>
class ReLUModule final : public Module<T, D> {
 public:
  std::string describe() const override { return "ReLU"; }
  Shape output_shape(const Shape& in) const override { return in; }
  BackwardNeeds backward_needs() const override { return {.output = true}; }
  Tensor<T, D> forward(const Tensor<T, D>& x, bool) override { return ops::relu(x); }
  bool forward_in_place(Tensor<T, D>& x, bool) override {
    ops::relu_(x);
    return true;
  }
  Tensor<T, D> backward(const Tensor<T, D>& dy, const Tensor<T, D>*, const Tensor<T, D>* y, bool) override {
    return ops::relu_backward(dy, *y);
  }
  bool backward_in_place(Tensor<T, D>& dy, const Tensor<T, D>*, const Tensor<T, D>* y) override {
    ops::relu_backward_(dy, *y);
    return true;
  }
};

template <class T, Device D>
class MaxPool2dModule final : public Module<T, D> {
 public:
  explicit MaxPool2dModule(const MaxPool2d& spec)
      : spec_(spec), opts_(pool_options(spec.kernel_size, spec.options)) {}
  std::string describe() const override {
    return "MaxPool2d(kernel=" + std::to_string(opts_.kernel_h) + ", stride=" +
           std::to_string(opts_.stride_h) + (opts_.pad_h ? ", padding=" + std::to_string(opts_.pad_h) : "") +
           (opts_.ceil_mode ? ", ceil_mode)" : ")");
  }
  Shape output_shape(const Shape& in) const override {
    check_rank4<T, D>(describe(), in);
    return ops::pool2d_output_shape(ops::pool2d_desc("MaxPool2d", in, opts_));
  }
  Tensor<T, D> forward(const Tensor<T, D>& x, bool) override {
    auto r = ops::max_pool2d(x, opts_, fold_relu_ && this->record_);
    if (this->record_) argmax_ = std::move(r.argmax), input_shape_ = x.shape();
    return std::move(r.y);
  }
  bool fold_relu_backward(bool on) override {
    fold_relu_ = on;
    return true;
  }
  Tensor<T, D> backward(const Tensor<T, D>& dy, const Tensor<T, D>*, const Tensor<T, D>*, bool) override {
    TINYCNN_CHECK(!argmax_.empty() || dy.empty(), describe(), ": backward without a recording forward");
    auto dx = ops::max_pool2d_backward(dy, argmax_, input_shape_, opts_);
    release();
    return dx;
  }
  void release() override { argmax_ = Tensor<std::int32_t, D>(); }

 private:
  MaxPool2d spec_;
  ops::Pool2dOptions opts_;
  Tensor<std::int32_t, D> argmax_;
  Shape input_shape_;
  bool fold_relu_ = false;  // argmax -1 for windows whose maximum is not positive
};

template <class T, Device D>
class AvgPool2dModule final : public Module<T, D> {
 public:
  explicit AvgPool2dModule(const AvgPool2d& spec) : opts_(pool_options(spec.kernel_size, spec.options)) {}
  std::string describe() const override {
    return "AvgPool2d(kernel=" + std::to_string(opts_.kernel_h) + ", stride=" +
           std::to_string(opts_.stride_h) + (opts_.ceil_mode ? ", ceil_mode)" : ")");
  }
  Shape output_shape(const Shape& in) const override {
    check_rank4<T, D>(describe(), in);
    return ops::pool2d_output_shape(ops::pool2d_desc("AvgPool2d", in, opts_));
  }
  Tensor<T, D> forward(const Tensor<T, D>& x, bool) override {
    input_shape_ = x.shape();
    return ops::avg_pool2d(x, opts_);
  }
  Tensor<T, D> backward(const Tensor<T, D>& dy, const Tensor<T, D>*, const Tensor<T, D>*, bool) override {
    return ops::avg_pool2d_backward(dy, input_shape_, opts_);
  }

 private:
  ops::Pool2dOptions opts_;
  Shape input_shape_;
};

template <class T, Device D>
class GlobalAvgPool2dModule final : public Module<T, D> {
 public:
  std::string describe() const override { return "GlobalAvgPool2d"; }
  Shape output_shape(const Shape& in) const override {
    check_rank4<T, D>(describe(), in);
    return {in[0], in[1], 1, 1};
  }
  Tensor<T, D> forward(const Tensor<T, D>& x, bool) override {
    input_shape_ = x.shape();
    return ops::global_avg_pool2d(x);
  }
  Tensor<T, D> backward(const Tensor<T, D>& dy, const Tensor<T, D>*, const Tensor<T, D>*, bool) override {
    return ops::global_avg_pool2d_backward(dy, input_shape_);
  }

 private:
  Shape input_shape_;
};

template <class T, Device D>
class FlattenModule final : public Module<T, D> {
 public:
  std::string describe() const override { return "Flatten"; }
  Shape output_shape(const Shape& in) const override {
    TINYCNN_CHECK(in.rank() >= 1, "Flatten: expects a batch dimension, got shape ", in);
    return {in[0], in[0] ? in.numel() / in[0] : 0};
  }
  Tensor<T, D> forward(const Tensor<T, D>& x, bool) override {
    input_shape_ = x.shape();
    auto y = x.clone();
    y.reshape(output_shape(x.shape()));
    return y;
  }
  bool forward_in_place(Tensor<T, D>& x, bool) override {
    input_shape_ = x.shape();
    x.reshape(output_shape(x.shape()));
    return true;
  }
  Tensor<T, D> backward(const Tensor<T, D>& dy, const Tensor<T, D>*, const Tensor<T, D>*, bool) override {
    auto dx = dy.clone();
    dx.reshape(input_shape_);
    return dx;
  }
  bool backward_in_place(Tensor<T, D>& dy, const Tensor<T, D>*, const Tensor<T, D>*) override {
    dy.reshape(input_shape_);
    return true;
  }

 private:
  Shape input_shape_;
};

template <class T, Device D>
class DropoutModule final : public Module<T, D> {
 public:
  DropoutModule(const Dropout& spec, std::uint64_t seed) : p_(T(spec.p)), seed_(seed) {
    TINYCNN_CHECK(spec.p >= 0 && spec.p < 1, "Dropout: p must be in [0, 1), got ", spec.p);
  }
  std::string describe() const override {
    std::ostringstream os;
    os << "Dropout(p=" << double(p_) << ")";
    return os.str();
  }
  Shape output_shape(const Shape& in) const override { return in; }
  Tensor<T, D> forward(const Tensor<T, D>& x, bool training) override {
    auto y = x.clone();
    forward_in_place(y, training);
    return y;
  }
  bool forward_in_place(Tensor<T, D>& x, bool training) override {
    active_ = training && p_ > T(0);
    if (active_) ops::dropout_(x, p_, seed_ + ++calls_);  // a fresh mask for every batch
    return true;
  }
  Tensor<T, D> backward(const Tensor<T, D>& dy, const Tensor<T, D>*, const Tensor<T, D>*, bool) override {
    auto dx = dy.clone();
    backward_in_place(dx, nullptr, nullptr);
    return dx;
  }
  bool backward_in_place(Tensor<T, D>& dy, const Tensor<T, D>*, const Tensor<T, D>*) override {
    if (active_) ops::dropout_backward_(dy, p_, seed_ + calls_);
    return true;
  }

 private:
  T p_;
  std::uint64_t seed_, calls_ = 0;
  bool active_ = false;
};

template <class T, Device D>
class BatchNorm2dModule final : public Module<T, D> {
 public:
  explicit BatchNorm2dModule(const BatchNorm2d& spec)
      : spec_(spec), weight_({spec.num_features}), bias_({spec.num_features}),
        running_mean_({spec.num_features}), running_var_(Tensor<T, D>::full({spec.num_features}, T(1))) {
    TINYCNN_CHECK(spec.num_features > 0, "BatchNorm2d: num_features must be positive, got ",
                  spec.num_features);
    weight_.value.fill(T(1));
  }
  std::string describe() const override {
    return "BatchNorm2d(" + std::to_string(spec_.num_features) + ")";
  }
  Shape output_shape(const Shape& in) const override {
    TINYCNN_CHECK((in.rank() == 4 || in.rank() == 2) && in[1] == spec_.num_features, describe(),
                  ": expects input (N, ", spec_.num_features, ", H, W), got shape ", in);
    return in;
  }
  BackwardNeeds backward_needs() const override { return {.input = !this->frozen_}; }
  Tensor<T, D> forward(const Tensor<T, D>& x, bool training) override {
    output_shape(x.shape());
    eval_forward_ = !training;
    if (!training)
      return ops::batchnorm2d_inference(x, weight_.value, bias_.value, running_mean_, running_var_,
                                        T(spec_.eps));
    return ops::batchnorm2d_training(x, weight_.value, bias_.value, running_mean_, running_var_,
                                     T(spec_.momentum), T(spec_.eps), saved_);
  }
  Tensor<T, D> backward(const Tensor<T, D>& dy, const Tensor<T, D>* x, const Tensor<T, D>*, bool need_dx) override {
    if (eval_forward_) {
      // Eval mode is a per-channel affine map: dx = dy * gamma / sqrt(running_var + eps), which is
      // the inference formula applied to dy with mean and beta zero.
      TINYCNN_CHECK(this->frozen_, describe(), ": parameter gradients in eval mode (running ",
                    "statistics) are not supported; freeze() the layer or use training mode");
      if (!need_dx) return {};
      auto zeros = Tensor<T, D>({spec_.num_features});
      return ops::batchnorm2d_inference(dy, weight_.value, zeros, zeros, running_var_, T(spec_.eps));
    }
    TINYCNN_CHECK(!saved_.mean.empty(), describe(), ": backward without a training forward");
    (void)need_dx;
    auto g = ops::batchnorm2d_backward(dy, *x, weight_.value, saved_);
    weight_.accumulate(std::move(g.dgamma));
    bias_.accumulate(std::move(g.dbeta));
    release();
    return std::move(g.dx);
  }
  std::vector<NamedParameter<T, D>> parameters() override {
    return {{"weight", &weight_}, {"bias", &bias_}};
  }
  std::vector<NamedBuffer<T, D>> buffers() override {
    return {{"running_mean", &running_mean_}, {"running_var", &running_var_}};
  }
  void release() override { saved_ = {}; }

 private:
  BatchNorm2d spec_;
  Parameter<T, D> weight_, bias_;
  Tensor<T, D> running_mean_, running_var_;
  ops::BatchNormSaved<T, D> saved_;
  bool eval_forward_ = false;
};

template <class T, Device D, bool kLog>
class SoftmaxModule final : public Module<T, D> {
 public:
  std::string describe() const override { return kLog ? "LogSoftmax" : "Softmax"; }
  Shape output_shape(const Shape& in) const override {
    TINYCNN_CHECK(in.rank() == 2, describe(), ": expects input (N, classes), got shape ", in);
    return in;
  }
  BackwardNeeds backward_needs() const override { return {.output = true}; }
  Tensor<T, D> forward(const Tensor<T, D>& x, bool) override {
    return kLog ? ops::log_softmax(x) : ops::softmax(x);
  }
  Tensor<T, D> backward(const Tensor<T, D>& dy, const Tensor<T, D>*, const Tensor<T, D>* y, bool) override {
    return kLog ? ops::log_softmax_backward(dy, *y) : ops::softmax_backward(dy, *y);
  }
};

}  // namespace detail

// The module for a spec; seed drives its initialisation (and dropout masks).
template <class T, Device D>
std::unique_ptr<Module<T, D>> make_module(const LayerSpec& spec, std::uint64_t seed) {
  using namespace detail;
  return std::visit(
      [&](const auto& s) -> std::unique_ptr<Module<T, D>> {
        using S = std::decay_t<decltype(s)>;
        if constexpr (std::is_same_v<S, Conv2d>) return std::make_unique<Conv2dModule<T, D>>(s, seed);
        else if constexpr (std::is_same_v<S, Linear>) return std::make_unique<LinearModule<T, D>>(s, seed);
        else if constexpr (std::is_same_v<S, ReLU>) return std::make_unique<ReLUModule<T, D>>();
        else if constexpr (std::is_same_v<S, MaxPool2d>) return std::make_unique<MaxPool2dModule<T, D>>(s);
        else if constexpr (std::is_same_v<S, AvgPool2d>) return std::make_unique<AvgPool2dModule<T, D>>(s);
        else if constexpr (std::is_same_v<S, GlobalAvgPool2d>) return std::make_unique<GlobalAvgPool2dModule<T, D>>();
        else if constexpr (std::is_same_v<S, Flatten>) return std::make_unique<FlattenModule<T, D>>();
        else if constexpr (std::is_same_v<S, Dropout>) return std::make_unique<DropoutModule<T, D>>(s, seed);
        else if constexpr (std::is_same_v<S, BatchNorm2d>) return std::make_unique<BatchNorm2dModule<T, D>>(s);
        else if constexpr (std::is_same_v<S, Softmax>) return std::make_unique<SoftmaxModule<T, D, false>>();
        else return std::make_unique<SoftmaxModule<T, D, true>>();
      },
      spec);
}

}  // namespace tinycnn::nn
