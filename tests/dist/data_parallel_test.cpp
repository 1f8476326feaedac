// Data-parallel training under mpirun (1, 2 and 3 ranks): the sharded DataLoader deals out each
// global batch exactly once, and DataParallel training (every rank its shard, gradients reduced
// in buckets during backward) follows single-process training on the whole batch step for step.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include "support/mpi_world.hpp"
#include "tinycnn/dist/data_parallel.hpp"
#include "tinycnn/io/dataset.hpp"
#include "tinycnn/nn/sequential.hpp"
#include "tinycnn/ops/softmax.hpp"
#include "tinycnn/optim/optimizer.hpp"

using namespace tinycnn;

namespace {

// n samples of 1 x 8 x 8 with labels in [0, 5), deterministic.
io::Dataset synthetic(std::int64_t n) {
  Tensor<float> images({n, 1, 8, 8});
  Tensor<std::int32_t> labels({n});
  for (std::int64_t i = 0; i < images.numel(); ++i)
    images.data()[i] = float(std::sin(0.37 * double(i)) + 0.25 * std::cos(0.011 * double(i * i)));
  for (std::int64_t i = 0; i < n; ++i) labels.data()[i] = std::int32_t((i * 7 + 3) % 5);
  return {std::move(images), std::move(labels)};
}

nn::Sequential<double> small_cnn(std::uint64_t seed) {
  nn::Sequential<double> net(seed);
  net << nn::Conv2d(1, 4, 3, {.padding = 1}) << nn::ReLU() << nn::MaxPool2d(2)
      << nn::Conv2d(4, 6, 3, {.padding = 1}) << nn::ReLU() << nn::MaxPool2d(2) << nn::Flatten()
      << nn::Linear(6 * 2 * 2, 5);
  return net;
}

Tensor<double> to_double(const Tensor<float>& x) {
  Tensor<double> out(x.shape());
  std::transform(x.data(), x.data() + x.numel(), out.data(), [](float v) { return double(v); });
  return out;
}

double max_param_diff(nn::Sequential<double>& a, nn::Sequential<double>& b) {
  auto pa = a.parameters(), pb = b.parameters();
  double worst = 0;
  for (std::size_t i = 0; i < pa.size(); ++i) {
    const auto va = pa[i].second->value.to_vector(), vb = pb[i].second->value.to_vector();
    for (std::size_t j = 0; j < va.size(); ++j) worst = std::max(worst, std::abs(va[j] - vb[j]));
  }
  return worst;
}

}  // namespace

TEST_CASE("a sharded DataLoader deals each global batch out exactly once, in rank order", "[dist]") {
  const auto data = synthetic(37);
  const io::DataLoaderOptions base{.batch_size = 12, .seed = 5, .crop_padding = 1,
                                   .horizontal_flip = true};
  io::DataLoader whole(data, base);
  for (int shards = 1; shards <= 4; ++shards) {
    std::vector<std::unique_ptr<io::DataLoader>> parts;
    for (int r = 0; r < shards; ++r) {
      auto o = base;
      o.shard_rank = r;
      o.shard_count = shards;
      parts.push_back(std::make_unique<io::DataLoader>(data, o));
      CHECK(parts.back()->batches_per_epoch() == whole.batches_per_epoch());
      parts.back()->begin_epoch(3);
    }
    whole.begin_epoch(3);
    io::Batch full;
    while (whole.next(full)) {
      std::vector<std::int64_t> indices;
      std::vector<float> pixels;
      for (int r = 0; r < shards; ++r) {
        io::Batch part;
        REQUIRE(parts[std::size_t(r)]->next(part));
        CHECK(part.global_size == full.global_size);
        CHECK(part.images.dim(0) == block_range(full.global_size, r, shards).size());
        indices.insert(indices.end(), part.indices.begin(), part.indices.end());
        const auto v = part.images.to_vector();
        pixels.insert(pixels.end(), v.begin(), v.end());
      }
      CHECK(indices == full.indices);            // the same samples, none twice, none missing
      CHECK(pixels == full.images.to_vector());  // the same augmentation, bit for bit
    }
    io::Batch none;
    for (auto& p : parts) CHECK_FALSE(p->next(none));
  }
  CHECK_THROWS_WITH(io::DataLoader(data, {.shard_rank = 2, .shard_count = 2}),
                    Catch::Contains("shard_rank must lie in [0, shard_count)"));
}

TEST_CASE("DataParallel training matches single-process training on the whole batch", "[dist]") {
  auto& comm = test::world();
  const int rank = comm.rank(), ranks = comm.size();
  // 37 samples in global batches of 12: the last batch has one sample, so with several ranks some
  // shards are empty in that step and must still take part in the reduction.
  const auto data = synthetic(37);
  const io::DataLoaderOptions base{.batch_size = 12, .seed = 9};
  auto sharded = base;
  sharded.shard_rank = rank;
  sharded.shard_count = ranks;

  auto reference = small_cnn(1);
  auto net = small_cnn(1 + std::uint64_t(rank));  // differs until DataParallel broadcasts rank 0's
  // Small buckets: several per step, the deep ones started while backward still runs.
  dist::DataParallel<double, cpu> dp(net, comm, {.bucket_bytes = 1024});
  CHECK(dp.buckets() >= 3);
  CHECK(dp.bucket_layers(0).front() == 7);  // the Linear layer, deepest first
  CHECK(max_param_diff(net, reference) == 0.0);

  optim::SGD<double, cpu> ref_opt(reference.parameters(), {.lr = 0.05, .momentum = 0.9});
  optim::SGD<double, cpu> opt(net.parameters(), {.lr = 0.05, .momentum = 0.9});
  io::DataLoader whole(data, base), shard(data, sharded);
  int steps = 0;
  for (std::uint64_t epoch = 0; epoch < 2; ++epoch) {
    whole.begin_epoch(epoch);
    shard.begin_epoch(epoch);
    io::Batch full, mine;
    while (whole.next(full)) {
      REQUIRE(shard.next(mine));
      // One process, the whole batch.
      auto ce = ops::softmax_cross_entropy(reference.forward(to_double(full.images)), full.labels);
      ref_opt.zero_grad();
      reference.backward(ce.dlogits);
      ref_opt.step();
      // This rank, its shard.
      opt.zero_grad();
      dp.begin_step(mine.images.dim(0), mine.global_size);
      if (mine.images.dim(0) > 0) {
        auto local = ops::softmax_cross_entropy(net.forward(to_double(mine.images)), mine.labels);
        net.backward(local.dlogits);
        CHECK(dp.buckets_started_in_backward() == 0);  // counted at finish_step
      }
      dp.finish_step();
      CHECK(dp.buckets_started_in_backward() == (mine.images.dim(0) > 0 ? dp.buckets() : 0));
      opt.step();
      ++steps;
      INFO("step " << steps << ", rank " << rank << " of " << ranks);
      CHECK(max_param_diff(net, reference) < 1e-12);
    }
  }
  CHECK(steps == 8);
  // Every rank holds the same model: the sum of the parameters agrees.
  double sum = 0;
  for (auto& p : net.parameters())
    for (double v : p.second->value.to_vector()) sum += v;
  CHECK(comm.all_reduce_sum(sum) == Approx(sum * ranks).epsilon(1e-14));
}

TEST_CASE("DataParallel names a step used out of order or a bad share", "[dist]") {
  auto net = small_cnn(3);
  dist::SingleProcess one;
  dist::DataParallel<double, cpu> dp(net, one);
  CHECK_THROWS_WITH(dp.finish_step(), Catch::Contains("no step begun"));
  CHECK_THROWS_WITH(dp.begin_step(5, 4), Catch::Contains("5 of 4 samples"));
  dp.begin_step(4, 4);
  CHECK_THROWS_WITH(dp.begin_step(4, 4), Catch::Contains("previous step was not finished"));
  dp.finish_step();
}
