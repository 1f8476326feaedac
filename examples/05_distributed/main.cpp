// Example 05: several processes with MPI (CPU ranks; on GPUs the same code takes an
// NcclCommunicator, see docs/distributed.md).
//
//   mpirun -np 2 build/examples/05_distributed train [--data DIR] [--steps N]
//       data-parallel training of LeNet-5 on Fashion-MNIST: each rank takes its shard of every
//       global batch of 128; the gradients are all-reduced in buckets during backward.
//   mpirun -np 2 build/examples/05_distributed style [--model nin|vgg19] [--size HxW] [--iters N]
//       style transfer (random weights and images) with the image split by rows across the ranks;
//       rank 0 prints the losses, which match a single process running the same iteration, and
//       the iterations per minute.
// 05_distributed_cuda: the same on GPUs, one rank per GPU, NCCL between them.
#include <cstdio>
#include <string>

#include "distributed.hpp"

int main(int argc, char** argv) {
  tinycnn::dist::MpiSession mpi(argc, argv);
  try {
    tinycnn::dist::MpiCommunicator world;
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "train") return example::train<tinycnn::cpu>(world, argc, argv);
    if (mode == "style") return example::run_style<tinycnn::cpu>(world, argc, argv);
    if (world.rank() == 0) std::fprintf(stderr, "usage: mpirun -np N %s train|style [options]\n", argv[0]);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    MPI_Abort(MPI_COMM_WORLD, 1);  // the other ranks may be waiting in a collective
    return 1;
  }
}
