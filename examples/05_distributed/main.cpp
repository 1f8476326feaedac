// Example 05: several processes with MPI (CPU ranks; on GPUs the same code takes an
// NcclCommunicator, see docs/distributed.md).
//
//   mpirun -np 2 build/examples/05_distributed train [--data DIR] [--steps N]
//       data-parallel training of LeNet-5 on Fashion-MNIST: each rank takes its shard of every
//       global batch of 128; the gradients are all-reduced in buckets during backward.
//   mpirun -np 2 build/examples/05_distributed style [--size HxW] [--iters N]
//       style transfer (NIN, random weights, random images) with the image split by rows across
//       the ranks; rank 0 prints the losses, which match a single process running the same
//       iteration.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tinycnn/dist/data_parallel.hpp"
#include "tinycnn/dist/mpi.hpp"
#include "tinycnn/dist/spatial_style.hpp"
#include "tinycnn/io/dataset.hpp"
#include "tinycnn/models/fashion_mnist.hpp"
#include "tinycnn/models/nin.hpp"
#include "tinycnn/ops/random.hpp"
#include "tinycnn/ops/softmax.hpp"
#include "tinycnn/optim/optimizer.hpp"
#include "tinycnn/style/presets.hpp"

using namespace tinycnn;

namespace {

std::string arg(int argc, char** argv, const std::string& name, const std::string& fallback) {
  for (int i = 2; i + 1 < argc; ++i)
    if (argv[i] == name) return argv[i + 1];
  return fallback;
}

int train(dist::MpiCommunicator& world, int argc, char** argv) {
  const std::string dir = arg(argc, argv, "--data", "/usr/share/datasets/fashion-mnist");
  const int steps = std::stoi(arg(argc, argv, "--steps", "100"));
  const io::Dataset data = io::load_mnist(dir, true);
  io::DataLoader loader(data, {.batch_size = 128, .seed = 1, .mean = {0.2860f}, .stddev = {0.3530f},
                               .shard_rank = world.rank(), .shard_count = world.size()});
  auto net = models::lenet5<float, cpu>(7);
  dist::DataParallel<float, cpu> dp(net, world);  // rank 0's initial weights on every rank
  optim::SGD<float, cpu> opt(net.parameters(), {.lr = 0.05, .momentum = 0.9});
  loader.begin_epoch(0);
  io::Batch batch;
  const auto start = std::chrono::steady_clock::now();
  for (int step = 1; step <= steps && loader.next(batch); ++step) {
    opt.zero_grad();
    dp.begin_step(batch.images.dim(0), batch.global_size);
    double loss = 0;
    if (batch.images.dim(0) > 0) {
      auto ce = ops::softmax_cross_entropy(net.forward(batch.images), batch.labels);
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

int run_style(dist::MpiCommunicator& world, int argc, char** argv) {
  const std::string size = arg(argc, argv, "--size", "256x256");
  const auto x = size.find('x');
  const std::int64_t h = std::stoll(size.substr(0, x)), w = std::stoll(size.substr(x + 1));
  const int iters = std::stoi(arg(argc, argv, "--iters", "10"));
  auto net = models::nin_imagenet<float, cpu>({.classifier = false, .seed = 1});
  dist::SpatialStyleTransfer<float, cpu> st(net, world, style::chainer_gogh_nin());
  const Shape shape{1, 3, h, w};
  Tensor<float> content = Tensor<float>::uninitialized(shape), style_image = Tensor<float>::uninitialized(shape);
  ops::uniform_(content, 1, -100.0f, 100.0f);  // every rank makes the same images
  ops::uniform_(style_image, 2, -100.0f, 100.0f);
  const auto rows = st.rows(h);
  st.set_content(dist::take_rows(content, rows), shape);
  st.set_style(dist::take_rows(style_image, rows), shape);
  auto image = dist::take_rows(content, rows);
  std::printf("rank %d of %d: rows [%lld, %lld) of %lldx%lld\n", world.rank(), world.size(),
              (long long)rows.begin, (long long)rows.end, (long long)h, (long long)w);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 1; i <= iters; ++i) {
    const auto l = st.step(image, shape);
    if (world.rank() == 0)
      std::printf("iteration %3d  loss %.6e (content %.4e, style %.4e)\n", i, l.total(), l.content, l.style);
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto whole = dist::gather_rows(world, image, shape);
  if (world.rank() == 0)
    std::printf("%.1f iterations per minute; gathered image %s on rank 0\n", iters * 60.0 / s,
                whole.shape().to_string().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  dist::MpiSession mpi(argc, argv);
  try {
    dist::MpiCommunicator world;
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "train") return train(world, argc, argv);
    if (mode == "style") return run_style(world, argc, argv);
    if (world.rank() == 0) std::fprintf(stderr, "usage: mpirun -np N %s train|style [options]\n", argv[0]);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    MPI_Abort(MPI_COMM_WORLD, 1);  // the other ranks may be waiting in a collective
    return 1;
  }
}
