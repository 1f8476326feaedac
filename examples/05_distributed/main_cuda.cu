// Example 05 on GPUs: one rank per GPU (use_local_gpu), NCCL between them, MPI to start them.
//   NCCL_NVLS_ENABLE=0 mpirun -np 4 build/examples/05_distributed_cuda style --model vgg19 --size 4096x4096
#include <cstdio>
#include <string>

#include "distributed.hpp"
#include "tinycnn/dist/nccl.hpp"

int main(int argc, char** argv) {
  tinycnn::dist::MpiSession mpi(argc, argv);
  try {
    tinycnn::dist::MpiCommunicator world;
    tinycnn::dist::use_local_gpu(world);
    tinycnn::dist::NcclCommunicator nccl(world);
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "train") return example::train<tinycnn::cuda>(nccl, argc, argv);
    if (mode == "style") return example::run_style<tinycnn::cuda>(nccl, argc, argv);
    if (world.rank() == 0) std::fprintf(stderr, "usage: mpirun -np N %s train|style [options]\n", argv[0]);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    MPI_Abort(MPI_COMM_WORLD, 1);
    return 1;
  }
}
