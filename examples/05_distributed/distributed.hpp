// Example 05's two programs (data-parallel training, style transfer split by rows), written once
// for CPU ranks over MPI (main.cpp) and GPU ranks over NCCL (main_cuda.cu).
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tinycnn/dist/data_parallel.hpp"
#include "tinycnn/dist/mpi.hpp"
#include "tinycnn/models/vgg.hpp"
#include "tinycnn/dist/spatial_style.hpp"
#include "tinycnn/io/dataset.hpp"
#include "tinycnn/models/fashion_mnist.hpp"
#include "tinycnn/models/nin.hpp"
#include "tinycnn/ops/random.hpp"
#include "tinycnn/ops/softmax.hpp"
#include "tinycnn/optim/optimizer.hpp"
#include "tinycnn/style/presets.hpp"
#include "tinycnn/style/style_transfer.hpp"

namespace example {

using namespace tinycnn;

inline std::string arg(int argc, char** argv, const std::string& name, const std::string& fallback) {
  for (int i = 2; i + 1 < argc; ++i)
    if (argv[i] == name) return argv[i + 1];
  return fallback;
}

template <Device D>
int train(dist::Communicator& world, int argc, char** argv) {
  const std::string dir = arg(argc, argv, "--data", "/usr/share/datasets/fashion-mnist");
  const int steps = std::stoi(arg(argc, argv, "--steps", "100"));
  const io::Dataset data = io::load_mnist(dir, true);
  io::DataLoader loader(data, {.batch_size = 128, .seed = 1, .mean = {0.2860f}, .stddev = {0.3530f},
                               .shard_rank = world.rank(), .shard_count = world.size()});
  auto net = models::lenet5<float, D>(7);
  dist::DataParallel<float, D> dp(net, world);  // rank 0's initial weights on every rank
  optim::SGD<float, D> opt(net.parameters(), {.lr = 0.05, .momentum = 0.9});
  loader.begin_epoch(0);
  io::Batch batch;
  const auto start = std::chrono::steady_clock::now();
  for (int step = 1; step <= steps && loader.next(batch); ++step) {
    opt.zero_grad();
    dp.begin_step(batch.images.dim(0), batch.global_size);
    double loss = 0;
    if (batch.images.dim(0) > 0) {
      auto ce = ops::softmax_cross_entropy(net.forward(batch.images.template to<D>()),
                                           batch.labels.template to<D>());
      net.backward(ce.dlogits);
      loss = double(ce.loss) * double(batch.images.dim(0));
    }
    dp.finish_step();
    opt.step();
    const double mean_loss = world.all_reduce_sum(loss) / double(batch.global_size);
    if (world.rank() == 0 && (step % 10 == 0 || step == 1)) {
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::printf("step %4d  loss %.4f  %6.0f img/s over %d ranks (%zu buckets, %zu overlapped)\n",
                  step, mean_loss, double(step) * 128 / s, world.size(), dp.buckets(),
                  dp.buckets_started_in_backward());
    }
  }
  return 0;
}

template <Device D>
int run_style(dist::Communicator& world, int argc, char** argv) {
  const std::string size = arg(argc, argv, "--size", "256x256");
  const auto x = size.find('x');
  const std::int64_t h = std::stoll(size.substr(0, x)), w = std::stoll(size.substr(x + 1));
  const int iters = std::stoi(arg(argc, argv, "--iters", "10"));
  const std::string model = arg(argc, argv, "--model", "nin");
  auto net = model == "vgg19" ? models::vgg19<float, D>({.classifier = false, .seed = 1})
                              : models::nin_imagenet<float, D>({.classifier = false, .seed = 1});
  // The benchmark's iteration (docs/performance.md): the preset's taps, one Adam step (lr 4).
  style::StyleOptions options = model == "vgg19" ? style::neural_style_vgg19() : style::chainer_gogh_nin();
  options.optimizer = style::Optimizer::kAdam;
  options.learning_rate = 4.0;
  dist::SpatialStyleTransfer<float, D> st(net, world, options);
  const Shape shape{1, 3, h, w};
  const auto rows = st.rows(h);
  // Every rank draws the same images and keeps its rows.
  auto block = [&](std::uint64_t seed) {
    Tensor<float, D> whole = Tensor<float, D>::uninitialized(shape);
    ops::uniform_(whole, seed, -100.0f, 100.0f);
    return dist::take_rows(whole, rows);
  };
  st.set_content(block(1), shape);
  st.set_style(block(2), shape);
  auto image = block(1);
  std::printf("rank %d of %d: rows [%lld, %lld) of %lldx%lld, %s\n", world.rank(), world.size(),
              (long long)rows.begin, (long long)rows.end, (long long)h, (long long)w, model.c_str());
  std::chrono::steady_clock::time_point start;
  for (int i = 0; i <= iters; ++i) {  // iteration 0 warms up and is not timed
    if (i == 1) {
      world.barrier();
      start = std::chrono::steady_clock::now();
    }
    const auto l = st.step(image, shape);
    if (world.rank() == 0 && (i % 5 == 0 || i == iters))
      std::printf("iteration %3d  loss %.6e (content %.4e, style %.4e)\n", i, l.total(), l.content, l.style);
  }
  world.barrier();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto whole = dist::gather_rows(world, image, shape);
  if (world.rank() == 0)
    std::printf("%s %lldx%lld on %d ranks: %.2f iterations per minute; gathered image %s on rank 0\n",
                model.c_str(), (long long)h, (long long)w, world.size(), iters * 60.0 / s,
                whole.shape().to_string().c_str());
  return 0;
}

}  // namespace example
