// Neural style transfer with the image split across ranks by rows (one rank per GPU): each rank
// holds a block of rows of the image and of every feature map (dist::SpatialSequential), so an
// image too large for one GPU's memory runs on several. The iteration is the single-process one
// (style::StyleTransfer), block by block:
//   content  each rank's share of sum((F - P)^2), normalised by the whole map's element count
//   style    G = sum over ranks of F_r F_r^T / (C H W) (one all-reduce of a C x C matrix per
//            tap); every rank then holds the whole G, the loss, and dL/dF_r = 2/(C H W) dL/dG F_r
//   TV       each rank's pairs of rows plus the pair across its lower edge (one halo row), whose
//            gradient goes back to the row's owner
//   optimiser Adam on each block; L-BFGS with its dot products summed over the ranks
//
//   dist::SpatialStyleTransfer<float, cuda> st(net, nccl, style::neural_style_vgg19());
//   const auto rows = st.rows(content.dim(2));               // this rank's rows of the image
//   st.set_content(dist::take_rows(content, rows), content.shape());
//   st.set_style(dist::take_rows(style, st.rows(style.dim(2))), style.shape());
//   auto image = dist::take_rows(content, rows);
//   for (...) st.step(image, content.shape());
//   auto whole = dist::gather_rows(nccl, image, content.shape());   // on rank 0
#pragma once

#include <cmath>
#include <utility>
#include <vector>

#include "tinycnn/dist/communicator.hpp"
#include "tinycnn/dist/spatial.hpp"
#include "tinycnn/ops/style.hpp"
#include "tinycnn/style/style_transfer.hpp"

namespace tinycnn::dist {

template <class T, Device D>
class SpatialStyleTransfer {
 public:
  // net: the feature network, borrowed; put in eval mode and frozen, as by style::StyleTransfer.
  SpatialStyleTransfer(nn::Sequential<T, D>& net, Communicator& comm, style::StyleOptions options)
      : net_(net), comm_(comm), split_(net, comm), opt_(std::move(options)),
        taps_(net_, opt_, "SpatialStyleTransfer"),
        optimizer_(opt_, [this](double v) { return comm_.all_reduce_sum(v); }) {
    net_.eval();
    net_.freeze();
  }

  const style::StyleOptions& options() const noexcept { return opt_; }
  // This rank's rows of an image of `height` rows.
  Range rows(std::int64_t height) const { return split_.rows(height); }

  // Content targets from this rank's rows of the content image of shape `shape` (1, 3, H, W).
  void set_content(const Tensor<T, D>& rows, const Shape& shape) {
    check_image("set_content", shape);
    content_shape_ = shape;
    split_.forward_taps(rows, shape, taps_.indices, false);
    for (auto& [i, tap] : taps_.by_layer)
      if (tap.content_weight != 0) tap.content_target = split_.tap_output(i).clone();
    split_.release();
  }
  // Style targets: the Gram matrices of the style image (shape (1, 3, H', W'), any size), from
  // this rank's rows of it.
  void set_style(const Tensor<T, D>& rows, const Shape& shape) {
    check_image("set_style", shape);
    split_.forward_taps(rows, shape, taps_.indices, false);
    for (auto& [i, tap] : taps_.by_layer)
      if (tap.style_weight != 0) tap.style_target = gram(i);
    split_.release();
    has_style_ = true;
  }

  // The losses at the image (every rank gets the totals) and, given grad, d total / d (this
  // rank's rows) in *grad.
  style::Losses evaluate(const Tensor<T, D>& rows, const Shape& shape, Tensor<T, D>* grad = nullptr) {
    check_image("evaluate", shape);
    TINYCNN_CHECK(has_style_ || opt_.style.empty(), "SpatialStyleTransfer: set_style() first");
    TINYCNN_CHECK(opt_.content.empty() || shape == content_shape_, "SpatialStyleTransfer: the image ",
                  shape, " must have the content image's shape ", content_shape_,
                  (content_shape_.rank() ? "" : " (set_content() first)"));
    double content = 0, style = 0;
    split_.forward_taps(rows, shape, taps_.indices, true);
    Tensor<T, D> g = split_.backward_taps([&](std::size_t i, const Tensor<T, D>& f, Tensor<T, D>& dy) {
      const auto& tap = taps_.by_layer.at(i);
      const std::int64_t numel = split_.tap_shape(i).numel();
      if (tap.content_weight != 0) {
        const T scale = T(tap.content_weight) / T(numel);
        content += double(scale * ops::squared_error(f, tap.content_target, &dy, scale));
      }
      if (tap.style_weight != 0)
        style += double(ops::style_loss_from_gram(f, gram(i), tap.style_target, T(tap.style_weight),
                                                  numel, &dy));
    });
    double tv = opt_.tv_weight != 0 ? tv_loss(rows, shape, g) : 0.0;
    // Content and TV are sums of each rank's part; the style loss is already the whole (every
    // rank holds the summed Gram matrices).
    style::Losses l;
    l.content = comm_.all_reduce_sum(content);
    l.tv = comm_.all_reduce_sum(tv);
    l.style = style;
    if (grad) *grad = std::move(g);
    return l;
  }

  // One optimiser iteration on this rank's rows, in place; the losses before it. Throws naming
  // the iteration (on every rank alike) when the loss is not finite, leaving the image as it was.
  style::Losses step(Tensor<T, D>& rows, const Shape& shape) {
    Tensor<T, D> g;
    const style::Losses l = evaluate(rows, shape, &g);
    TINYCNN_CHECK(std::isfinite(l.total()), "SpatialStyleTransfer: the loss is not finite at iteration ",
                  optimizer_.iteration() + 1, " (content ", l.content, ", style ", l.style, ", tv ", l.tv,
                  "); the image was not updated");
    optimizer_.step(rows, std::move(g));
    return l;
  }

  std::int64_t iteration() const noexcept { return optimizer_.iteration(); }
  void reset_optimizer() { optimizer_.reset(); }

 private:
  static void check_image(const char* what, const Shape& s) {
    TINYCNN_CHECK(s.rank() == 4 && s[0] == 1 && s[1] == 3, "SpatialStyleTransfer::", what,
                  ": expects one RGB image (1, 3, H, W), got shape ", s);
  }

  // The Gram matrix of tap i's whole map: each rank's F_r F_r^T / numel, summed over the ranks.
  Tensor<T, D> gram(std::size_t i) {
    const auto& f = split_.tap_output(i);
    const std::int64_t c = f.dim(1);
    Tensor<T, D> g = f.dim(2) > 0 ? ops::gram(f, T(1.0 / double(split_.tap_shape(i).numel())))
                                  : Tensor<T, D>({c, c});
    comm_.all_reduce_sum(g);
    return g;
  }

  // This rank's part of weight * TV: the pairs within its rows [a, b) and the vertical pair
  // (b - 1, b) across its lower edge, for which it borrows row b from the next rank and returns
  // that row's gradient to it. Adds the gradient into g.
  double tv_loss(const Tensor<T, D>& rows, const Shape& shape, Tensor<T, D>& g) {
    const std::int64_t h = shape[2], w = shape[3], planes = shape[0] * shape[1];
    const Range own = split_.rows(h);
    const int n = comm_.size();
    // Row `own.end` comes from its owner: the first rank after this one with rows.
    const bool below = own.size() > 0 && own.end < h;
    Tensor<T, D> tile(Shape{shape[0], shape[1], own.size() + (below ? 1 : 0), w});
    detail::copy_rows<T, D>(tile.data(), tile.dim(2), 0, rows.data(), own.size(), 0, own.size(), planes, w);
    // Who needs my first row: the nearest rank above with rows.
    auto owner_of = [&](std::int64_t row) {
      for (int q = 0; q < n; ++q)
        if (block_range(h, q, n).begin <= row && row < block_range(h, q, n).end) return q;
      return -1;
    };
    const int down = below ? owner_of(own.end) : -1;
    const int up = own.size() > 0 && own.begin > 0 ? owner_of(own.begin - 1) : -1;
    Tensor<T, D> first, last_grad;
    {
      std::vector<Transfer> sends, recvs;
      Tensor<T, D> halo;
      if (up >= 0) {
        first = take_rows(rows, {0, 1});
        sends.push_back({up, buffer(first)});
      }
      if (down >= 0) {
        halo = Tensor<T, D>::uninitialized({shape[0], shape[1], 1, w});
        recvs.push_back({down, buffer(halo)});
      }
      if (n > 1) comm_.exchange(sends, recvs);
      if (down >= 0) detail::copy_rows<T, D>(tile.data(), tile.dim(2), own.size(), halo.data(), 1, 0, 1, planes, w);
    }
    if (own.size() == 0) return 0.0;
    const T weight = T(opt_.tv_weight);
    Tensor<T, D> dtile;
    double loss = double(ops::tv_loss(tile, weight, &dtile));
    if (below) {  // the borrowed row's own horizontal pairs belong to its owner
      Tensor<T, D> row = take_rows(tile, {own.size(), own.size() + 1}), drow;
      loss -= double(ops::tv_loss(row, weight, &drow));
      Tensor<T, D> dlast = take_rows(dtile, {own.size(), own.size() + 1});
      ops::axpy_(dlast, T(-1), drow);
      last_grad = std::move(dlast);
    }
    // Add this rank's rows of the tile gradient into g, then exchange the edge rows' gradients.
    Tensor<T, D> mine = take_rows(dtile, {0, own.size()});
    if (g.empty()) g = Tensor<T, D>(mine.shape());
    ops::axpy_(g, T(1), mine);
    {
      std::vector<Transfer> sends, recvs;
      Tensor<T, D> from_above;
      if (down >= 0) sends.push_back({down, buffer(last_grad)});
      if (up >= 0) {
        from_above = Tensor<T, D>::uninitialized({shape[0], shape[1], 1, w});
        recvs.push_back({up, buffer(from_above)});
      }
      if (n > 1) comm_.exchange(sends, recvs);
      if (up >= 0) {
        Tensor<T, D> top = take_rows(g, {0, 1});
        ops::axpy_(top, T(1), from_above);
        detail::copy_rows<T, D>(g.data(), own.size(), 0, top.data(), 1, 0, 1, planes, w);
      }
    }
    return loss;
  }

  nn::Sequential<T, D>& net_;
  Communicator& comm_;
  SpatialSequential<T, D> split_;
  style::StyleOptions opt_;
  style::Taps<T, D> taps_;
  Shape content_shape_;
  bool has_style_ = false;
  style::ImageOptimizer<T, D> optimizer_;
};

}  // namespace tinycnn::dist
