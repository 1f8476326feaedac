// Neural style transfer (Gatys, Ecker and Bethge, "A Neural Algorithm of Artistic Style", 2015):
// an image is optimised so that the features of a pretrained CNN at chosen layers match a content
// image's (content loss), the Gram matrices of its features match a style image's (style loss),
// and neighbouring pixels stay close (total variation).
//
//   nn::Sequential<float, cuda> net = models::vgg19<float, cuda>({.classifier = false});
//   io::load_caffemodel(net, "VGG_ILSVRC_19_layers.caffemodel");
//   style::StyleTransfer<float, cuda> st(net, style::neural_style_vgg19());
//   st.set_content(content);  st.set_style(style);     // preprocessed (1, 3, H, W) tensors
//   auto image = content.clone();
//   for (int i = 0; i < 500; ++i) auto losses = st.step(image);
//
// One iteration is a forward pass of the image to the deepest tapped layer, the losses at every
// tap, one backward pass to the image (the network is frozen: no weight gradients, and layers keep
// only what the input gradient needs), and an Adam or L-BFGS step on the image.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "tinycnn/core/cuda_graph.hpp"
#include "tinycnn/core/error.hpp"
#include "tinycnn/core/tensor.hpp"
#include "tinycnn/nn/sequential.hpp"
#include "tinycnn/ops/elementwise.hpp"
#include "tinycnn/ops/style.hpp"
#include "tinycnn/ops/training.hpp"

namespace tinycnn::style {

enum class Optimizer { kAdam, kLbfgs };

// A tapped layer (by name, "relu4_2") and the weight of its loss.
struct LayerWeight {
  std::string layer;
  double weight = 1.0;
};

struct StyleOptions {
  std::vector<LayerWeight> content;  // content loss taps
  std::vector<LayerWeight> style;    // style loss taps
  double tv_weight = 0.0;            // total variation weight
  Optimizer optimizer = Optimizer::kAdam;
  // Adam's step size (alpha) or L-BFGS's step length (1 in neural-style and PyTorch).
  double learning_rate = 4.0;
  double adam_beta1 = 0.9, adam_beta2 = 0.999, adam_eps = 1e-8;
  int lbfgs_history = 100;  // pairs kept: each costs two image-sized tensors
  // CUDA: record one evaluation (forward, losses, backward) as a CUDA graph and replay it in
  // step() and evaluate(image, &grad), one launch instead of one per kernel and allocation (the
  // host's share of an iteration, most of it at small sizes). The first evaluation of an image runs
  // as usual, the second records. A new recording is made when the image tensor, the content or
  // style targets or the network's parameter tensors change or are written (Tensor::version());
  // after other changes to the network (ReLU folding or fusion settings, layers) call
  // StyleTransfer::forget_graph(). Same values as without it, bit for bit. Ignored on the CPU.
  bool cuda_graph = false;
};

struct Losses {
  double content = 0, style = 0, tv = 0;
  double total() const { return content + style + tv; }
};

// The tapped layers of a network for a StyleOptions, by layer index, each with its content and
// style weights (one layer may carry both) and the targets taken from the content and style
// images. Shared by StyleTransfer and dist::SpatialStyleTransfer.
template <class T, Device D>
struct Taps {
  struct Tap {
    double content_weight = 0, style_weight = 0;
    Tensor<T, D> content_target, style_target;
  };
  std::map<std::size_t, Tap> by_layer;
  std::vector<std::size_t> indices;  // the layers, shallowest first

  Taps(const nn::Sequential<T, D>& net, const StyleOptions& o, const char* who) {
    TINYCNN_CHECK(!o.content.empty() || !o.style.empty(), who, ": no content or style layers given");
    for (const auto& c : o.content) by_layer[net.index_of(c.layer)].content_weight += c.weight;
    for (const auto& st : o.style) by_layer[net.index_of(st.layer)].style_weight += st.weight;
    for (const auto& entry : by_layer) indices.push_back(entry.first);
  }
};

// The optimiser of the image: Adam, or L-BFGS with a fixed step. Every scalar it derives from the
// image-sized tensors (dot products, norms) goes through `reduce`, so that when each rank holds a
// block of the image (tinycnn/dist/spatial_style.hpp) reduce sums the blocks' partial values over
// the ranks and every rank takes the same decisions; in one process reduce is the identity.
template <class T, Device D>
class ImageOptimizer {
 public:
  using Reduce = std::function<double(double)>;

  explicit ImageOptimizer(const StyleOptions& options, Reduce reduce = {})
      : opt_(options), reduce_(std::move(reduce)) {
    TINYCNN_CHECK(opt_.learning_rate > 0, "StyleTransfer: learning_rate must be positive, got ",
                  opt_.learning_rate);
    TINYCNN_CHECK(opt_.lbfgs_history >= 1, "StyleTransfer: lbfgs_history must be at least 1, got ",
                  opt_.lbfgs_history);
  }

  // One update of `image` (in place) along the gradient g of the loss.
  void step(Tensor<T, D>& image, Tensor<T, D> g) {
    ++iteration_;
    if (opt_.optimizer == Optimizer::kAdam)
      adam_step(image, g);
    else
      lbfgs_step(image, std::move(g));
  }
  // The same with a gradient the caller keeps (L-BFGS, which keeps it too, takes a copy).
  void step_borrowed(Tensor<T, D>& image, const Tensor<T, D>& g) {
    if (opt_.optimizer == Optimizer::kAdam) {
      ++iteration_;
      adam_step(image, g);
    } else {
      step(image, g.clone());
    }
  }

  std::int64_t iteration() const noexcept { return iteration_; }
  void reset() {
    iteration_ = 0;
    exp_avg_ = Tensor<T, D>();
    exp_avg_sq_ = Tensor<T, D>();
    history_.clear();
    prev_grad_ = Tensor<T, D>();
    prev_dir_ = Tensor<T, D>();
  }

 private:
  struct Pair {
    Tensor<T, D> s, y;
    T rho;
  };

  T reduce(T partial) const { return reduce_ ? T(reduce_(double(partial))) : partial; }
  T dot(const Tensor<T, D>& a, const Tensor<T, D>& b) const { return reduce(ops::dot(a, b)); }

  void adam_step(Tensor<T, D>& image, const Tensor<T, D>& g) {
    if (exp_avg_.shape() != image.shape()) {
      exp_avg_ = Tensor<T, D>(image.shape());
      exp_avg_sq_ = Tensor<T, D>(image.shape());
    }
    ops::AdamHyper h;
    h.lr = opt_.learning_rate;
    h.beta1 = opt_.adam_beta1;
    h.beta2 = opt_.adam_beta2;
    h.eps = opt_.adam_eps;
    ops::adam_update_(image, exp_avg_, exp_avg_sq_, g, h, iteration_);
  }

  // L-BFGS with a fixed step, one function evaluation per iteration, as torch.optim.LBFGS (no line
  // search) and neural-style's optim.lbfgs run it: the first step is scaled by min(1, 1 / |g|_1).
  void lbfgs_step(Tensor<T, D>& image, Tensor<T, D> g) {
    if (prev_grad_.shape() != image.shape()) {
      history_.clear();
      prev_grad_ = Tensor<T, D>();
    }
    Tensor<T, D> d;
    T t = T(opt_.learning_rate);
    if (prev_grad_.empty()) {
      d = ops::scale(g, T(-1));
      const T l1 = reduce(ops::abs_sum(g));
      if (l1 > T(1)) t = T(opt_.learning_rate) / l1;
      h_diag_ = T(1);
    } else {
      // s = t_prev d_prev (the last update), y = g - g_prev.
      Tensor<T, D> y = g.clone();
      ops::axpy_(y, T(-1), prev_grad_);
      Tensor<T, D> s = ops::scale(prev_dir_, prev_step_);
      const T ys = dot(y, s);
      if (ys > T(1e-10)) {
        if (int(history_.size()) == opt_.lbfgs_history) history_.pop_front();
        const T yy = dot(y, y);
        history_.push_back({std::move(s), std::move(y), T(1) / ys});
        h_diag_ = ys / yy;
      }
      // Two-loop recursion: d = -H g.
      d = ops::scale(g, T(-1));
      std::vector<T> alpha(history_.size());
      for (std::size_t k = history_.size(); k-- > 0;) {
        alpha[k] = history_[k].rho * dot(history_[k].s, d);
        ops::axpy_(d, -alpha[k], history_[k].y);
      }
      ops::scale_(d, h_diag_);
      for (std::size_t k = 0; k < history_.size(); ++k) {
        const T beta = history_[k].rho * dot(history_[k].y, d);
        ops::axpy_(d, alpha[k] - beta, history_[k].s);
      }
    }
    // Not a descent direction (curvature pairs gone bad): skip the update, as PyTorch does.
    if (dot(g, d) <= T(-1e-9)) ops::axpy_(image, t, d);
    prev_grad_ = std::move(g);
    prev_dir_ = std::move(d);
    prev_step_ = t;
  }

  StyleOptions opt_;
  Reduce reduce_;
  std::int64_t iteration_ = 0;
  Tensor<T, D> exp_avg_, exp_avg_sq_;  // Adam
  std::deque<Pair> history_;           // L-BFGS
  Tensor<T, D> prev_grad_, prev_dir_;
  T prev_step_ = T(1), h_diag_ = T(1);
};

template <class T, Device D>
class StyleTransfer {
 public:
  // net: the feature network, borrowed (it must outlive this object). It is put in eval mode,
  // frozen, with gradients enabled. Every tapped layer must exist in it.
  StyleTransfer(nn::Sequential<T, D>& net, StyleOptions options)
      : net_(net), opt_(std::move(options)), taps_(net_, opt_, "StyleTransfer"), optimizer_(opt_) {
    net_.eval();
    net_.freeze();
    net_.set_grad_enabled(true);
  }

  const StyleOptions& options() const noexcept { return opt_; }

  // Content targets: the features of `content` (1, 3, H, W) at the content taps. The optimised
  // image must have the same size.
  void set_content(const Tensor<T, D>& content) {
    check_image("set_content", content);
    ++targets_version_;
    content_shape_ = content.shape();
    targets([&](std::size_t i, Tap& tap) {
      if (tap.content_weight != 0) tap.content_target = net_.tap_output(i).clone();
    }, content);
  }
  // Style targets: the Gram matrices of `style` (1, 3, H', W', any size) at the style taps.
  void set_style(const Tensor<T, D>& style) {
    check_image("set_style", style);
    ++targets_version_;
    targets([&](std::size_t i, Tap& tap) {
      if (tap.style_weight != 0) tap.style_target = ops::style_gram(net_.tap_output(i));
    }, style);
    has_style_ = true;
  }

  // The losses at `image` and, when grad is given, d total / d image written to *grad.
  Losses evaluate(const Tensor<T, D>& image, Tensor<T, D>* grad = nullptr) {
    check_evaluation("evaluate", image);
    Losses l;
    replayed_ = false;
    if (grad && replay(image, l)) {
      *grad = recorded_grad().clone();
      return l;
    }
    Tensor<T, D> g;
    l = evaluate_plain(image, g);
    if (grad) *grad = std::move(g);
    return l;
  }

  // One optimiser iteration on `image`, in place. Returns the losses at the image before the
  // update; throws tinycnn::Error naming the iteration if the loss is NaN or infinite (the image
  // is then left as it was).
  Losses step(Tensor<T, D>& image) {
    check_evaluation("step", image);
    Losses l;
    Tensor<T, D> g;
    const bool replayed = replay(image, l);
    if (!replayed) l = evaluate_plain(image, g);
    TINYCNN_CHECK(std::isfinite(l.total()), "StyleTransfer: the loss is not finite at iteration ",
                  optimizer_.iteration() + 1, " (content ", l.content, ", style ", l.style, ", tv ",
                  l.tv, "); the image was not updated");
    if (replayed)
      optimizer_.step_borrowed(image, recorded_grad());
    else
      optimizer_.step(image, std::move(g));
    return l;
  }

  std::int64_t iteration() const noexcept { return optimizer_.iteration(); }
  // Forget the optimiser state (moments, L-BFGS history) and the iteration count.
  void reset_optimizer() { optimizer_.reset(); }

  // Drop the CUDA graph of the evaluation (StyleOptions::cuda_graph): the next evaluations run as
  // usual and record a new one. Needed after changes to the network it cannot see.
  void forget_graph() {
#if TINYCNN_HAS_CUDA
    recording_ = Recording{};
#endif
  }
  // Whether the last step or evaluate(image, &grad) replayed a recorded CUDA graph.
  bool graph_replayed() const noexcept {
    return replayed_;
  }

 private:
  using Tap = typename Taps<T, D>::Tap;

  void check_evaluation(const char* what, const Tensor<T, D>& image) const {
    check_image(what, image);
    TINYCNN_CHECK(has_style_ || opt_.style.empty(), "StyleTransfer: set_style() first");
    TINYCNN_CHECK(opt_.content.empty() || image.shape() == content_shape_,
                  "StyleTransfer: the image ", image.shape(), " must have the content image's shape ",
                  content_shape_, (content_shape_.rank() ? "" : " (set_content() first)"));
  }

  std::int64_t loss_slots() const {
    return std::int64_t(2 * taps_.by_layer.size() + 1);
  }

  // Queues one evaluation at `image`: the forward pass to the deepest tap, every tap's losses into
  // `values` (their kinds appended to `kinds`, in order), the backward pass to the image. Returns
  // d total / d image. Nothing waits for the GPU.
  Tensor<T, D> queue_evaluation(const Tensor<T, D>& image, ops::LossBuffer<T, D>& values,
                                std::vector<double Losses::*>& kinds) {
    net_.forward_taps(image, taps_.indices);
    Tensor<T, D> g = net_.backward_taps([&](std::size_t i, const Tensor<T, D>& f, Tensor<T, D>& dy) {
      const Tap& tap = taps_.by_layer.at(i);
      if (tap.content_weight != 0) {
        ops::content_loss(f, tap.content_target, T(tap.content_weight), &dy, values);
        kinds.push_back(&Losses::content);
      }
      if (tap.style_weight != 0) {
        ops::style_loss(f, tap.style_target, T(tap.style_weight), &dy, values);
        kinds.push_back(&Losses::style);
      }
    });
    if (opt_.tv_weight != 0) {
      ops::tv_loss(image, T(opt_.tv_weight), &g, values);
      kinds.push_back(&Losses::tv);
    }
    if (g.empty()) g = Tensor<T, D>(image.shape());  // every weight zero
    return g;
  }

  // One evaluation without a CUDA graph: the losses (one wait for the GPU), the gradient in g.
  Losses evaluate_plain(const Tensor<T, D>& image, Tensor<T, D>& g) {
    ops::LossBuffer<T, D> values(loss_slots());
    std::vector<double Losses::*> kinds;
    g = queue_evaluation(image, values, kinds);
    return sum_losses(values, kinds);
  }

  // The losses queued into values (one wait for the GPU).
  static Losses sum_losses(const ops::LossBuffer<T, D>& values,
                           const std::vector<double Losses::*>& kinds) {
    Losses l;
    const std::vector<double> v = values.read();
    for (std::size_t k = 0; k < v.size(); ++k) l.*kinds[k] += v[k];
    return l;
  }

#if TINYCNN_HAS_CUDA
  // A recorded evaluation (StyleOptions::cuda_graph) and what it was recorded for: the image
  // tensor, the targets' version, the network's parameter tensors and their versions (a frozen
  // layer's graph reads its kept Winograd filter, made before the recording). Its losses land in
  // `values`, the gradient in `grad`; both live outside the graph, at addresses it writes on every
  // launch.
  struct Recording {
    CudaGraph graph;
    std::vector<std::uintptr_t> key, warmed, failed;  // recorded / evaluated once / not recordable
    std::unique_ptr<ops::LossBuffer<T, D>> values;
    std::vector<double Losses::*> kinds;
    Tensor<T, D> grad;
  };
  Recording recording_;

  std::vector<std::uintptr_t> recording_key(const Tensor<T, D>& image) {
    std::vector<std::uintptr_t> key{reinterpret_cast<std::uintptr_t>(image.data()),
                                    std::uintptr_t(targets_version_)};
    for (const auto d : image.shape().dims()) key.push_back(std::uintptr_t(d));
    // Read through const: a mutable access would give the parameters new versions.
    for (const auto& [name, p] : net_.parameters()) {
      const Tensor<T, D>& value = p->value;
      key.push_back(reinterpret_cast<std::uintptr_t>(value.data()));
      key.push_back(std::uintptr_t(value.version()));
    }
    return key;
  }
#endif

  // Replays the recorded evaluation at `image` (recording it first when this is the image's
  // second evaluation) and puts its losses in l. False when the evaluation is to run as usual: on
  // the CPU, without StyleOptions::cuda_graph, on an image's first evaluation, or when the
  // evaluation cannot be recorded (said once on stderr).
  bool replay(const Tensor<T, D>& image, Losses& l) {
    replayed_ = false;
#if TINYCNN_HAS_CUDA
    if constexpr (std::is_same_v<D, cuda>) {
      if (!opt_.cuda_graph) return false;
      Recording& r = recording_;
      auto key = recording_key(image);
      if (key == r.failed) return false;
      if (r.graph.empty() || key != r.key) {
        r.graph.reset();
        if (key != r.warmed) {  // first evaluation: as usual (one-time set-up happens there)
          r.warmed = std::move(key);
          return false;
        }
        r.values = std::make_unique<ops::LossBuffer<T, D>>(loss_slots());
        r.kinds.clear();
        r.grad = Tensor<T, D>::uninitialized(image.shape());
        std::string why;
        const bool recorded = r.graph.capture(
            [&] {
              Tensor<T, D> g = queue_evaluation(image, *r.values, r.kinds);
              tinycnn::detail::copy_bytes(cuda{}, r.grad.data(), cuda{}, g.data(), g.bytes());
            },
            &why);
        // The first launch also makes the graph's memory: where that fails (out of memory), the
        // evaluations run as usual.
        if (recorded) {
          try {
            r.graph.launch();
          } catch (const Error& e) {
            why = e.what();
            r.graph.reset();
          }
        }
        if (r.graph.empty()) {
          std::fprintf(stderr, "tinycnn: style transfer runs without a CUDA graph: %s\n",
                       why.c_str());
          r = Recording{};
          r.failed = std::move(key);
          return false;
        }
        r.key = std::move(key);
      } else {
        r.graph.launch();
      }
      l = sum_losses(*r.values, r.kinds);
      replayed_ = true;
      return true;
    }
#endif
    (void)image, (void)l;
    return false;
  }

  const Tensor<T, D>& recorded_grad() const {
#if TINYCNN_HAS_CUDA
    return recording_.grad;
#else
    throw Error("StyleTransfer: no CUDA graph without CUDA");
#endif
  }

  static void check_image(const char* what, const Tensor<T, D>& x) {
    TINYCNN_CHECK(x.rank() == 4 && x.dim(0) == 1 && x.dim(1) == 3, "StyleTransfer::", what,
                  ": expects one RGB image (1, 3, H, W), got shape ", x.shape());
  }

  // Run the taps on `image` without gradients and let `take` copy what it needs.
  template <class Take>
  void targets(Take&& take, const Tensor<T, D>& image) {
    net_.set_grad_enabled(false);
    try {
      net_.forward_taps(image, taps_.indices);
      for (auto& [i, tap] : taps_.by_layer) take(i, tap);
    } catch (...) {
      net_.set_grad_enabled(true);
      throw;
    }
    net_.set_grad_enabled(true);  // also releases the tap outputs
  }

  nn::Sequential<T, D>& net_;
  StyleOptions opt_;
  Taps<T, D> taps_;
  Shape content_shape_;
  bool has_style_ = false;
  ImageOptimizer<T, D> optimizer_;
  std::uint64_t targets_version_ = 0;
  bool replayed_ = false;
};

}  // namespace tinycnn::style
