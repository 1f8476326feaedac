// An image split across ranks by rows: each rank holds a contiguous block of the rows of every
// feature map (block_range of the map's height) and computes its block of every layer of a
// convolutional network, exchanging with its neighbours the halo rows a window needs. The result
// is the single-process computation, block by block: a layer's output rows [o0, o1) need input
// rows [o0 s - p, (o1 - 1) s - p + k_eff) (stride s, padding p, dilated kernel k_eff), which this
// rank assembles into a tile (its own rows, the rows received from their owners, zeros for the
// convolution's padding) and runs the layer on without vertical padding. The backward pass runs
// each layer's input gradient on the tile and sends the halo rows' gradients back to their owners,
// which add them to their own.
//
//   dist::SpatialSequential<float, cuda> split(net, comm);          // net frozen, eval mode
//   auto rows = dist::take_rows(image, split.rows(image.dim(2)));    // this rank's block
//   split.forward_taps(rows, image.shape(), taps);                   // split.tap_output(i)
//   auto grad_rows = split.backward_taps(add_grad);                  // d loss / d rows
//
// Supported layers: Conv2d (any kernel, stride, padding, dilation), MaxPool2d without vertical
// padding (ceil_mode included), AvgPool2d without vertical padding whose windows stay inside the
// map, ReLU, and Dropout in eval mode. The network's parameters get no gradients (style transfer
// optimises the image). Every rank calls every method with the same arguments but its own rows.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "tinycnn/core/error.hpp"
#include "tinycnn/core/memory.hpp"
#include "tinycnn/core/tensor.hpp"
#include "tinycnn/dist/communicator.hpp"
#include "tinycnn/nn/layers.hpp"
#include "tinycnn/nn/sequential.hpp"
#include "tinycnn/ops/conv.hpp"
#include "tinycnn/ops/elementwise.hpp"
#include "tinycnn/ops/pool.hpp"
#if TINYCNN_HAS_CUDA
#include "tinycnn/core/cuda_runtime.hpp"
#endif

namespace tinycnn::dist {

namespace detail {

// Copies rows [src_row, src_row + rows) of every plane of src (planes x src_h x width) to rows
// [dst_row, dst_row + rows) of the same planes of dst (planes x dst_h x width). On CUDA one 2D copy
// queued on tinycnn's stream.
template <class T, Device D>
void copy_rows(T* dst, std::int64_t dst_h, std::int64_t dst_row, const T* src, std::int64_t src_h,
               std::int64_t src_row, std::int64_t rows, std::int64_t planes, std::int64_t width) {
  if (rows <= 0 || planes <= 0 || width <= 0) return;
  const std::size_t row_bytes = std::size_t(rows * width) * sizeof(T);
  if constexpr (std::is_same_v<D, cpu>) {
    for (std::int64_t p = 0; p < planes; ++p)
      std::copy_n(src + (p * src_h + src_row) * width, rows * width, dst + (p * dst_h + dst_row) * width);
  } else {
#if TINYCNN_HAS_CUDA
    TINYCNN_CUDA_CHECK(cudaMemcpy2DAsync(dst + dst_row * width, std::size_t(dst_h * width) * sizeof(T),
                                         src + src_row * width, std::size_t(src_h * width) * sizeof(T),
                                         row_bytes, std::size_t(planes), cudaMemcpyDeviceToDevice,
                                         cuda_stream()));
#else
    (void)row_bytes;
    throw Error("dist::copy_rows: CUDA tensors in a build without CUDA");
#endif
  }
}

// Zeros rows [row, row + rows) of every plane of dst (planes x h x width).
template <class T, Device D>
void zero_rows(T* dst, std::int64_t h, std::int64_t row, std::int64_t rows, std::int64_t planes,
               std::int64_t width) {
  if (rows <= 0 || planes <= 0 || width <= 0) return;
  if constexpr (std::is_same_v<D, cpu>) {
    for (std::int64_t p = 0; p < planes; ++p) std::fill_n(dst + (p * h + row) * width, rows * width, T(0));
  } else {
#if TINYCNN_HAS_CUDA
    TINYCNN_CUDA_CHECK(cudaMemset2DAsync(dst + row * width, std::size_t(h * width) * sizeof(T), 0,
                                         std::size_t(rows * width) * sizeof(T), std::size_t(planes),
                                         cuda_stream()));
#else
    throw Error("dist::zero_rows: CUDA tensors in a build without CUDA");
#endif
  }
}

inline Range intersect(Range a, Range b) {
  const Range r{std::max(a.begin, b.begin), std::min(a.end, b.end)};
  return r.end > r.begin ? r : Range{r.begin, r.begin};
}

}  // namespace detail

// Rows r of x (N, C, H, W) as a tensor (N, C, r.size(), W).
template <class T, Device D>
Tensor<T, D> take_rows(const Tensor<T, D>& x, Range r) {
  TINYCNN_CHECK(x.rank() == 4 && r.begin >= 0 && r.end <= x.dim(2) && r.begin <= r.end,
                "take_rows: rows [", r.begin, ", ", r.end, ") of a tensor of shape ", x.shape());
  auto out = Tensor<T, D>::uninitialized({x.dim(0), x.dim(1), r.size(), x.dim(3)});
  detail::copy_rows<T, D>(out.data(), r.size(), 0, x.data(), x.dim(2), r.begin, r.size(),
                          x.dim(0) * x.dim(1), x.dim(3));
  return out;
}

// The whole tensor `shape` (N, C, H, W) on rank `root` from every rank's block of rows (block_range
// of H); an empty tensor on the other ranks.
template <class T, Device D>
Tensor<T, D> gather_rows(Communicator& comm, const Tensor<T, D>& mine, const Shape& shape, int root = 0) {
  TINYCNN_CHECK(shape.rank() == 4, "gather_rows: the whole tensor must be (N, C, H, W), got ", shape);
  const std::int64_t planes = shape[0] * shape[1], h = shape[2], w = shape[3];
  const Range own = block_range(h, comm.rank(), comm.size());
  TINYCNN_CHECK(mine.shape() == Shape({shape[0], shape[1], own.size(), w}), "gather_rows: rank ",
                comm.rank(), " holds rows [", own.begin, ", ", own.end, ") of ", shape,
                " and must pass them as ", Shape({shape[0], shape[1], own.size(), w}), ", got ",
                mine.shape());
  std::vector<Transfer> sends, recvs;
  std::vector<Tensor<T, D>> parts(std::size_t(comm.size()));
  if (comm.rank() != root) {
    if (own.size()) sends.push_back({root, buffer(const_cast<Tensor<T, D>&>(mine))});
  } else {
    for (int q = 0; q < comm.size(); ++q) {
      const Range r = block_range(h, q, comm.size());
      if (q == root || !r.size()) continue;
      parts[std::size_t(q)] = Tensor<T, D>::uninitialized({shape[0], shape[1], r.size(), w});
      recvs.push_back({q, buffer(parts[std::size_t(q)])});
    }
  }
  comm.exchange(sends, recvs);
  if (comm.rank() != root) return {};
  auto out = Tensor<T, D>::uninitialized(shape);
  for (int q = 0; q < comm.size(); ++q) {
    const Range r = block_range(h, q, comm.size());
    const Tensor<T, D>& part = q == root ? mine : parts[std::size_t(q)];
    detail::copy_rows<T, D>(out.data(), h, r.begin, part.data(), r.size(), 0, r.size(), planes, w);
  }
  return out;
}

template <class T, Device D>
class SpatialSequential {
 public:
  // net: borrowed; its layers, in eval mode (dropout off), are run block by block.
  SpatialSequential(nn::Sequential<T, D>& net, Communicator& comm) : net_(net), comm_(comm) {}

  Communicator& communicator() noexcept { return comm_; }
  // This rank's rows of a map of `height` rows.
  Range rows(std::int64_t height) const { return block_range(height, comm_.rank(), comm_.size()); }

  // Forward of this rank's rows x of an input of shape `shape` (1 or more images, all split the
  // same way) through the layers up to the deepest of `taps`, keeping each tap's block of rows
  // (tap_output) and, when backward follows, what the backward pass needs.
  void forward_taps(const Tensor<T, D>& x, const Shape& shape, const std::vector<std::size_t>& taps,
                    bool for_backward = true) {
    TINYCNN_CHECK(!taps.empty(), "SpatialSequential::forward_taps: no tap layers given");
    TINYCNN_CHECK(shape.rank() == 4, "SpatialSequential::forward_taps: the input must be (N, C, H, W), got ",
                  shape);
    const Range own = rows(shape[2]);
    const Shape expect{shape[0], shape[1], own.size(), shape[3]};
    TINYCNN_CHECK(x.shape() == expect, "SpatialSequential::forward_taps: rank ", comm_.rank(), " of ",
                  comm_.size(), " holds rows [", own.begin, ", ", own.end, ") of the input ", shape,
                  " and must pass them as ", expect, ", got ", x.shape());
    release();
    std::size_t end = 0;
    is_tap_.assign(net_.size(), false);
    for (std::size_t t : taps) {
      TINYCNN_CHECK(t < net_.size(), "SpatialSequential::forward_taps: tap layer ", t,
                    " out of range (", net_.size(), " layers)");
      is_tap_[t] = true;
      end = std::max(end, t + 1);
    }
    layers_.clear();
    layers_.resize(end);
    Shape in_shape = shape;
    // The current activation: the caller's x, `cur` (owned, freed once the next layer has its
    // tile) or a ReLU output kept for backward (read in place by the next layer and the tap).
    Tensor<T, D> cur;
    const Tensor<T, D>* in = &x;
    for (std::size_t i = 0; i < end; ++i) {
      Step& s = layers_[i];
      s.in_shape = in_shape;
      s.out_shape = net_.module(i).output_shape(in_shape);
      plan(i, s);
      if (s.kind == Kind::kReLU) {
        Tensor<T, D> y = in == &cur ? std::move(cur) : in->clone();
        ops::relu_(y);
        Tensor<T, D>& home = for_backward ? s.kept : cur;
        home = std::move(y);
        in = &home;
      } else if (s.kind != Kind::kIdentity) {
        Tensor<T, D> y = forward_windowed(i, s, *in, in == &cur ? &cur : nullptr, for_backward);
        cur = std::move(y);
        in = &cur;
      }
      if (is_tap_[i]) {
        s.tap_is_kept = in == &s.kept;
        if (!s.tap_is_kept) s.tap = in->clone();
      }
      in_shape = s.out_shape;
    }
    forward_end_ = for_backward ? end : 0;
  }

  // This rank's rows of tap layer i's output from the last forward_taps, and which rows they are.
  const Tensor<T, D>& tap_output(std::size_t i) const {
    TINYCNN_CHECK(i < layers_.size() && is_tap_[i], "SpatialSequential::tap_output: layer ", i,
                  " was not a tap of the last forward_taps");
    return tap_of(layers_[i]);
  }
  const Shape& tap_shape(std::size_t i) const {
    TINYCNN_CHECK(i < layers_.size() && is_tap_[i], "SpatialSequential::tap_shape: layer ", i,
                  " was not a tap of the last forward_taps");
    return layers_[i].out_shape;
  }

  // Backward from the taps of the last forward_taps, deepest first: add_grad(i, output, grad) adds
  // d loss / d (this rank's rows of layer i's output) into grad (empty when nothing has reached
  // it yet). Returns d loss / d (this rank's rows of the input).
  template <class AddGrad>
  Tensor<T, D> backward_taps(AddGrad&& add_grad) {
    TINYCNN_CHECK(forward_end_ > 0, "SpatialSequential::backward_taps: needs a forward_taps with ",
                  "for_backward first");
    Tensor<T, D> grad;
    // Whether a gradient flows yet: true on every rank from the deepest tap on, also where this
    // rank holds no rows of a map (it still takes part in the exchanges).
    bool flowing = false;
    for (std::size_t i = forward_end_; i-- > 0;) {
      Step& s = layers_[i];
      if (is_tap_[i]) {
        add_grad(i, tap_of(s), grad);
        flowing = true;
        const Shape block = block_shape(s.out_shape, rows(s.out_shape[2]));
        if (grad.shape() != block) {
          TINYCNN_CHECK(grad.empty(), "SpatialSequential::backward_taps: the gradient at layer ", i,
                        " has shape ", grad.shape(), ", its rows ", block);
          grad = Tensor<T, D>(block);  // every weight of the deepest taps zero
        }
      }
      if (flowing) grad = backward_layer(s, std::move(grad));
      s.kept = Tensor<T, D>();  // free what it kept
      s.argmax = Tensor<std::int32_t, D>();
      s.tap = Tensor<T, D>();
    }
    release();
    return grad;
  }

  // Drop every kept tensor.
  void release() {
    layers_.clear();
    forward_end_ = 0;
  }

 private:
  enum class Kind { kConv, kMaxPool, kAvgPool, kReLU, kIdentity };
  struct Step {
    Shape in_shape, out_shape;
    Kind kind = Kind::kIdentity;
    std::int64_t kernel = 1, stride = 1, pad = 0;  // vertical: kernel extent with dilation
    ops::Conv2dOptions conv{};
    ops::Pool2dOptions pool{};
    Range tile{};          // rows of the input this rank's tile holds
    Shape tile_shape{};
    Tensor<T, D> kept;     // ReLU: the output rows; max pool: nothing (argmax below)
    Tensor<std::int32_t, D> argmax;
    Tensor<T, D> tap;
    bool tap_is_kept = false;  // the tap is `kept` (a ReLU's output, kept once for both)
  };
  static const Tensor<T, D>& tap_of(const Step& s) { return s.tap_is_kept ? s.kept : s.tap; }

  static Shape block_shape(const Shape& s, Range r) { return {s[0], s[1], r.size(), s[3]}; }

  // The layer's kind and vertical window.
  void plan(std::size_t i, Step& s) {
    const std::string who = "SpatialSequential: layer '" + net_.name(i) + "'";
    std::visit([&](const auto& spec) {
      using S = std::decay_t<decltype(spec)>;
      if constexpr (std::is_same_v<S, nn::Conv2d>) {
        s.kind = Kind::kConv;
        s.conv = ops::Conv2dOptions::square(spec.options.stride, spec.options.padding, spec.options.dilation);
        s.kernel = (spec.kernel_size - 1) * spec.options.dilation + 1;
        s.stride = spec.options.stride;
        s.pad = spec.options.padding;
        s.conv.pad_h = 0;
      } else if constexpr (std::is_same_v<S, nn::MaxPool2d> || std::is_same_v<S, nn::AvgPool2d>) {
        const bool is_max = std::is_same_v<S, nn::MaxPool2d>;
        s.kind = is_max ? Kind::kMaxPool : Kind::kAvgPool;
        s.pool = nn::detail::pool_options(spec.kernel_size, spec.options);
        TINYCNN_CHECK(s.pool.pad_h == 0, who, ": pooling with vertical padding is not supported in a ",
                      "spatial split");
        s.kernel = s.pool.kernel_h;
        s.stride = s.pool.stride_h;
        if (!is_max)
          TINYCNN_CHECK((s.out_shape[2] - 1) * s.stride + s.kernel <= s.in_shape[2], who,
                        ": average pooling windows that run past the map (ceil_mode) are not ",
                        "supported in a spatial split (input ", s.in_shape, ")");
      } else if constexpr (std::is_same_v<S, nn::ReLU>) {
        s.kind = Kind::kReLU;
      } else if constexpr (std::is_same_v<S, nn::Dropout>) {
        TINYCNN_CHECK(!net_.is_training(), who, ": Dropout in training mode cannot be split (call eval())");
        s.kind = Kind::kIdentity;
      } else {
        throw Error(tinycnn::detail::concat(who, " (", net_.module(i).describe(),
                                            ") cannot be split by rows; only convolutions, pooling, ",
                                            "ReLU and eval-mode Dropout can"));
      }
    }, net_.spec(i));
  }

  // Input rows rank q's output rows need, unclipped (convolution padding lies outside [0, H)).
  Range needed(const Step& s, int q) const {
    const Range o = block_range(s.out_shape[2], q, comm_.size());
    if (o.size() == 0) return {0, 0};
    return {o.begin * s.stride - s.pad, (o.end - 1) * s.stride - s.pad + s.kernel};
  }
  Range needed_inside(const Step& s, int q) const {
    return detail::intersect(needed(s, q), {0, s.in_shape[2]});
  }

  // Sends each peer the rows of `mine` (this rank's rows `own` of a map of shape `shape`, or of a
  // tile) that it asks for (wanted(q)), and receives from each peer q the rows `offered(q)`; calls
  // place(range, packed) for each received block.
  template <class Wanted, class Offered, class Place>
  void exchange_rows(const Tensor<T, D>& mine, Range own, Wanted&& wanted, Offered&& offered,
                     Place&& place) {
    const int n = comm_.size(), r = comm_.rank();
    const std::int64_t planes = mine.dim(0) * mine.dim(1), w = mine.dim(3), h = mine.dim(2);
    std::vector<Transfer> sends, recvs;
    const std::size_t count = static_cast<std::size_t>(n);
    std::vector<Tensor<T, D>> out(count), in(count);
    std::vector<Range> in_rows(count);
    for (int q = 0; q < n; ++q) {
      if (q == r) continue;
      const Range give = detail::intersect(own, wanted(q));
      if (give.size()) {
        auto& t = out[std::size_t(q)];
        t = Tensor<T, D>::uninitialized({mine.dim(0), mine.dim(1), give.size(), w});
        detail::copy_rows<T, D>(t.data(), give.size(), 0, mine.data(), h, give.begin - own.begin,
                                give.size(), planes, w);
        sends.push_back({q, buffer(t)});
      }
      const Range take = offered(q);
      if (take.size()) {
        auto& t = in[std::size_t(q)];
        t = Tensor<T, D>::uninitialized({mine.dim(0), mine.dim(1), take.size(), w});
        in_rows[std::size_t(q)] = take;
        recvs.push_back({q, buffer(t)});
      }
    }
    if (n > 1) comm_.exchange(sends, recvs);
    for (int q = 0; q < n; ++q)
      if (!in[std::size_t(q)].empty()) place(in_rows[std::size_t(q)], in[std::size_t(q)]);
  }

  // A convolution or pooling layer on this rank's rows x of its input; `owner`, when given, holds
  // x and is freed as soon as the tile is assembled.
  Tensor<T, D> forward_windowed(std::size_t i, Step& s, const Tensor<T, D>& x, Tensor<T, D>* owner,
                                bool for_backward) {
    const Range own_in = rows(s.in_shape[2]), own_out = rows(s.out_shape[2]);
    const Shape out_block = block_shape(s.out_shape, own_out);
    // This rank's tile of input rows. Rows outside the map: zeros (a convolution's padding), or
    // -inf where a ceil-mode max-pooling window runs past the bottom (it holds a row of the map
    // too, so the maximum is a real value). The rest is copied from x and the other ranks.
    s.tile = needed(s, comm_.rank());
    s.tile_shape = block_shape(s.in_shape, s.tile);
    const std::int64_t planes = s.in_shape[0] * s.in_shape[1], w = s.in_shape[3], h = s.in_shape[2];
    auto tile = Tensor<T, D>::uninitialized(s.tile_shape);
    if (s.kind == Kind::kMaxPool && s.tile.end > h) {
      tile.fill(-std::numeric_limits<T>::infinity());
    } else {
      const std::int64_t above = std::min(-s.tile.begin, s.tile.size()), below = std::min(s.tile.end - h, s.tile.size());
      if (above > 0) detail::zero_rows<T, D>(tile.data(), s.tile.size(), 0, above, planes, w);
      if (below > 0) detail::zero_rows<T, D>(tile.data(), s.tile.size(), s.tile.size() - below, below, planes, w);
    }
    const Range mine = detail::intersect(own_in, s.tile);
    detail::copy_rows<T, D>(tile.data(), s.tile.size(), mine.begin - s.tile.begin, x.data(), own_in.size(),
                            mine.begin - own_in.begin, mine.size(), planes, w);
    exchange_rows(
        x, own_in, [&](int q) { return needed_inside(s, q); },
        [&](int q) { return detail::intersect(block_range(s.in_shape[2], q, comm_.size()),
                                              needed_inside(s, comm_.rank())); },
        [&](Range got, const Tensor<T, D>& packed) {
          detail::copy_rows<T, D>(tile.data(), s.tile.size(), got.begin - s.tile.begin, packed.data(),
                                  got.size(), 0, got.size(), planes, w);
        });
    if (owner) *owner = Tensor<T, D>();  // x is not read after this
    if (own_out.size() == 0) return Tensor<T, D>(out_block);
    Tensor<T, D> y;
    try {
      if (s.kind == Kind::kConv) {
        auto params = net_.module(i).parameters();
        const auto& weight = params.at(0).parameter->value;
        y = params.size() > 1 ? ops::conv2d(tile, weight, params[1].parameter->value, s.conv)
                              : ops::conv2d(tile, weight, s.conv);
      } else if (s.kind == Kind::kMaxPool) {
        auto r = ops::max_pool2d(tile, s.pool);
        y = std::move(r.y);
        if (for_backward) s.argmax = std::move(r.argmax);
      } else {
        y = ops::avg_pool2d(tile, s.pool);
      }
    } catch (const Error& e) {
      throw Error(tinycnn::detail::concat("SpatialSequential: layer '", net_.name(i), "' on rows [",
                                          s.tile.begin, ", ", s.tile.end, ") of ", s.in_shape, ": ",
                                          e.what()));
    }
    TINYCNN_CHECK(y.shape() == out_block, "SpatialSequential: layer '", net_.name(i), "' gave ", y.shape(),
                  " for rows [", own_out.begin, ", ", own_out.end, ") of ", s.out_shape, " (expected ",
                  out_block, ")");
    return y;
  }

  Tensor<T, D> backward_layer(Step& s, Tensor<T, D> dy) {
    switch (s.kind) {
      case Kind::kIdentity:
        return dy;
      case Kind::kReLU:
        ops::relu_backward_(dy, s.kept);
        return dy;
      default:
        break;
    }
    const Range own_in = rows(s.in_shape[2]), own_out = rows(s.out_shape[2]);
    const std::int64_t planes = s.in_shape[0] * s.in_shape[1], w = s.in_shape[3];
    // The gradient of this rank's tile (zeros when it computed no output rows).
    Tensor<T, D> dtile;
    if (own_out.size() == 0) {
      dtile = Tensor<T, D>(s.tile_shape);
    } else if (s.kind == Kind::kConv) {
      dtile = ops::conv2d_backward_data(dy, net_.module(index_of(s)).parameters().at(0).parameter->value,
                                        s.tile_shape, s.conv);
    } else if (s.kind == Kind::kMaxPool) {
      dtile = ops::max_pool2d_backward(dy, s.argmax, s.tile_shape, s.pool);
    } else {
      dtile = ops::avg_pool2d_backward(dy, s.tile_shape, s.pool);
    }
    dy = Tensor<T, D>();
    // This rank's rows of the input gradient: its part of its own tile, plus what the other ranks'
    // tiles hold for these rows.
    Tensor<T, D> dx(block_shape(s.in_shape, own_in));
    const Range mine = detail::intersect(own_in, s.tile);
    detail::copy_rows<T, D>(dx.data(), own_in.size(), mine.begin - own_in.begin, dtile.data(), s.tile.size(),
                            mine.begin - s.tile.begin, mine.size(), planes, w);
    const Range inside = detail::intersect(s.tile, {0, s.in_shape[2]});
    exchange_rows(
        dtile, s.tile,
        [&](int q) { return detail::intersect(block_range(s.in_shape[2], q, comm_.size()), inside); },
        [&](int q) { return detail::intersect(own_in, needed_inside(s, q)); },
        [&](Range got, const Tensor<T, D>& packed) {
          // dx[got] += packed, through a packed copy of those rows.
          auto sum = Tensor<T, D>::uninitialized(packed.shape());
          detail::copy_rows<T, D>(sum.data(), got.size(), 0, dx.data(), own_in.size(), got.begin - own_in.begin,
                                  got.size(), planes, w);
          ops::axpy_(sum, T(1), packed);
          detail::copy_rows<T, D>(dx.data(), own_in.size(), got.begin - own_in.begin, sum.data(), got.size(), 0,
                                  got.size(), planes, w);
        });
    return dx;
  }

  std::size_t index_of(const Step& s) const { return std::size_t(&s - layers_.data()); }

  nn::Sequential<T, D>& net_;
  Communicator& comm_;
  std::vector<Step> layers_;
  std::vector<bool> is_tap_;
  std::size_t forward_end_ = 0;
};

}  // namespace tinycnn::dist
