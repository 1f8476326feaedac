// Data-parallel training: one process (rank) per GPU or per CPU group, each holding a full copy
// of the model and a shard of every batch; after each backward pass every rank holds the gradient
// of the whole batch, so the optimizer steps stay identical on all ranks.
//
//   dist::MpiSession mpi(argc, argv);
//   dist::MpiCommunicator world;                       // CPU ranks; GPUs: NcclCommunicator
//   io::DataLoader loader(train, {.batch_size = 256, .seed = 1,       // the global batch
//                                 .shard_rank = world.rank(), .shard_count = world.size()});
//   dist::DataParallel<float, cpu> dp(net, world);     // rank 0's parameters everywhere
//   while (loader.next(batch)) {
//     opt.zero_grad();
//     dp.begin_step(batch.images.dim(0), batch.global_size);
//     if (batch.images.dim(0) > 0) { ...forward, loss (mean over the shard)...; net.backward(dl); }
//     dp.finish_step();                               // gradients: the mean over the global batch
//     opt.step();
//   }
//
// Gradients are reduced in buckets of about bucket_bytes, deepest layers first, as PyTorch's
// DistributedDataParallel does: a bucket is started (all_reduce_sum_start) from the backward hook
// as soon as the backward pass has passed its shallowest layer, so the reduction of the deep
// layers overlaps with the backward pass of the shallow ones. Each rank's gradient (a mean over
// its n_r samples) enters its bucket scaled by n_r / N, so the sum over ranks is the mean over the
// N samples of the global batch: the same gradient one process computes for the whole batch.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "tinycnn/core/error.hpp"
#include "tinycnn/core/tensor.hpp"
#include "tinycnn/dist/communicator.hpp"
#include "tinycnn/nn/sequential.hpp"
#include "tinycnn/ops/dispatch.hpp"
#include "tinycnn/ops/elementwise.hpp"

namespace tinycnn::dist {

struct DataParallelOptions {
  // Bytes of gradient per bucket (PyTorch DDP's bucket_cap_mb is 25 MiB). A parameter larger than
  // this gets a bucket of its own.
  std::size_t bucket_bytes = std::size_t(25) << 20;
  // Copy rank 0's parameters and buffers to every rank on construction.
  bool broadcast_initial_state = true;
};

template <class T, Device D>
class DataParallel {
 public:
  DataParallel(nn::Sequential<T, D>& net, Communicator& comm, DataParallelOptions options = {})
      : net_(net), comm_(comm), opt_(options) {
    TINYCNN_CHECK(opt_.bucket_bytes > 0, "DataParallel: bucket_bytes must be > 0");
    make_buckets();
    if (opt_.broadcast_initial_state) broadcast_state();
    net_.set_backward_hook([this](std::size_t layer) { on_layer_done(layer); });
  }
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;
  ~DataParallel() {
    net_.set_backward_hook({});
    for (auto& b : buckets_)
      if (b.pending) b.pending.reset();  // waits for it
  }

  Communicator& communicator() noexcept { return comm_; }
  std::size_t buckets() const noexcept { return buckets_.size(); }
  // Buckets whose reduction the last step started from inside the backward pass (the overlapped
  // ones); the rest were started by finish_step.
  std::size_t buckets_started_in_backward() const noexcept { return started_in_backward_; }
  // The layers (indices into the Sequential) whose parameters bucket b holds, deepest first.
  std::vector<std::size_t> bucket_layers(std::size_t b) const {
    std::vector<std::size_t> out;
    for (const auto& s : buckets_.at(b).slots)
      if (out.empty() || out.back() != s.layer) out.push_back(s.layer);
    return out;
  }

  // Every parameter value and buffer (running statistics) := rank 0's.
  void broadcast_state() {
    for (auto& [name, t] : net_.state()) comm_.broadcast(*t, 0);
  }
  // Buffers only: batch-norm running statistics drift apart between ranks (each sees its own
  // shard); call this before evaluating or saving to use rank 0's on every rank.
  void broadcast_buffers() {
    for (std::size_t i = 0; i < net_.size(); ++i)
      for (auto& b : net_.module(i).buffers()) comm_.broadcast(*b.buffer, 0);
  }

  // Starts a step in which this rank computes the gradient of `local` of the step's `global`
  // samples (its loss a mean over its own samples). Call before backward; with local == 0 skip the
  // forward and backward passes and call finish_step only.
  void begin_step(std::int64_t local, std::int64_t global) {
    TINYCNN_CHECK(!in_step_, "DataParallel::begin_step: the previous step was not finished ",
                  "(call finish_step after backward)");
    TINYCNN_CHECK(global > 0 && local >= 0 && local <= global, "DataParallel::begin_step: ",
                  "this rank's ", local, " of ", global, " samples is not a share of a batch");
    weight_ = T(double(local) / double(global));
    in_step_ = true;
    next_ = 0;
    started_in_backward_ = 0;
  }

  // Completes the reductions: afterwards every parameter's gradient is the mean over the global
  // batch, identical on every rank.
  void finish_step() {
    TINYCNN_CHECK(in_step_, "DataParallel::finish_step: no step begun (call begin_step before ",
                  "backward)");
    const std::size_t in_backward = next_;
    start_until(0, /*any_layer=*/true);
    started_in_backward_ = in_backward;
    for (auto& b : buckets_) {
      if (b.pending) {
        b.pending->wait();
        b.pending.reset();
      }
      for (const auto& s : b.slots) {
        tinycnn::detail::copy_bytes(D{}, s.parameter->grad.data(), D{}, b.flat.data() + s.offset,
                                    std::size_t(s.count) * sizeof(T));
        s.parameter->grad_is_zero = false;  // the global gradient, even for an empty shard
      }
    }
    in_step_ = false;
  }

 private:
  struct Slot {
    nn::Parameter<T, D>* parameter;
    std::size_t layer;
    std::int64_t offset, count;
  };
  struct Bucket {
    std::vector<Slot> slots;
    std::size_t lowest_layer = 0;  // the bucket is complete once backward has passed this layer
    Tensor<T, D> flat;
    std::unique_ptr<Pending> pending;
  };

  void make_buckets() {
    for (std::size_t i = net_.size(); i-- > 0;) {
      auto& m = net_.module(i);
      if (m.frozen()) continue;
      auto params = m.parameters();
      for (auto it = params.rbegin(); it != params.rend(); ++it) {
        const std::int64_t n = it->parameter->value.numel();
        if (buckets_.empty() || bucket_count_ * sizeof(T) >= opt_.bucket_bytes ||
            (bucket_count_ > 0 && (bucket_count_ + n) * sizeof(T) > opt_.bucket_bytes)) {
          close_bucket();
          buckets_.emplace_back();
        }
        buckets_.back().slots.push_back({it->parameter, i, bucket_count_, n});
        buckets_.back().lowest_layer = i;
        bucket_count_ += n;
      }
    }
    close_bucket();
  }
  void close_bucket() {
    if (buckets_.empty()) return;
    auto& b = buckets_.back();
    if (b.flat.empty() && bucket_count_ > 0) b.flat = Tensor<T, D>({bucket_count_});
    bucket_count_ = 0;
  }

  // Starts, in order, every bucket whose lowest layer is `layer` or deeper (all when any_layer).
  void start_until(std::size_t layer, bool any_layer) {
    while (next_ < buckets_.size() && (any_layer || buckets_[next_].lowest_layer >= layer)) {
      auto& b = buckets_[next_++];
      for (const auto& s : b.slots) {
        const auto& g = s.parameter->grad;
        TINYCNN_CHECK(g.numel() == s.count, "DataParallel: the gradient of a parameter of layer ",
                      s.layer, " has ", g.numel(), " elements, its value ", s.count);
        if (s.count)
          TINYCNN_DISPATCH(T, D, kernels::cpu::scale, kernels::cuda::scale, b.flat.data() + s.offset,
                           g.data(), weight_, s.count);
      }
      b.pending = comm_.all_reduce_sum_start(buffer(b.flat));
    }
  }

  // The backward hook: layer `layer` is done; start the buckets it completes and let the ones in
  // flight progress (MPI advances non-blocking collectives inside its calls).
  void on_layer_done(std::size_t layer) {
    if (!in_step_) return;
    start_until(layer, false);
    for (std::size_t i = 0; i < next_; ++i)
      if (buckets_[i].pending) buckets_[i].pending->test();
  }

  nn::Sequential<T, D>& net_;
  Communicator& comm_;
  DataParallelOptions opt_;
  std::vector<Bucket> buckets_;
  std::int64_t bucket_count_ = 0;  // while building: elements in the last bucket
  std::size_t next_ = 0;           // buckets started in this step
  std::size_t started_in_backward_ = 0;
  bool in_step_ = false;
  T weight_ = T(1);
};

}  // namespace tinycnn::dist
