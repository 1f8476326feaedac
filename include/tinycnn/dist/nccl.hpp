// NCCL for tinycnn: a Communicator between GPUs, one rank per GPU, started through MPI. Link
// tinycnn::nccl (CUDA, NCCL and MPI).
//
//   tinycnn::dist::MpiSession mpi(argc, argv);
//   tinycnn::dist::MpiCommunicator world;
//   tinycnn::dist::use_local_gpu(world);          // rank i of a machine takes GPU i
//   tinycnn::dist::NcclCommunicator nccl(world);  // NCCL over the same ranks
//
// Operations are queued on tinycnn's CUDA stream (tinycnn::cuda_stream()), in order with the
// kernels around them; all_reduce_sum_start() runs on a stream of its own so that a gradient
// bucket's reduction overlaps with the rest of the backward pass, and wait() orders tinycnn's
// stream after it. Keep NVLink SHARP multicast off on machines where it is unreliable:
// NCCL_NVLS_ENABLE=0 (docs/distributed.md).
#pragma once

#include <cuda_runtime.h>
#include <nccl.h>

#include <memory>
#include <span>
#include <string>

#include "tinycnn/core/cuda_runtime.hpp"
#include "tinycnn/core/error.hpp"
#include "tinycnn/dist/communicator.hpp"
#include "tinycnn/dist/mpi.hpp"

namespace tinycnn::dist {
namespace detail {

inline void nccl_check(ncclResult_t r, const char* call, ncclComm_t comm = nullptr) {
  if (r == ncclSuccess) return;
  std::string last;
  if (comm) last = ncclGetLastError(comm);
  throw Error(tinycnn::detail::concat("NCCL error in ", call, ": ", ncclGetErrorString(r),
                                      last.empty() ? "" : " (", last, last.empty() ? "" : ")"));
}

inline ncclDataType_t nccl_type(DType t) { return t == DType::kFloat32 ? ncclFloat32 : ncclFloat64; }

}  // namespace detail

// Make the CUDA device of this process the local_rank-th of its machine (modulo the number of
// GPUs), before any CUDA work. Returns the device index.
inline int use_local_gpu(const MpiCommunicator& world) {
  int count = 0;
  TINYCNN_CUDA_CHECK(cudaGetDeviceCount(&count));
  TINYCNN_CHECK(count > 0, "use_local_gpu: no CUDA device on this machine (rank ", world.rank(), ")");
  const int device = world.local_rank() % count;
  TINYCNN_CUDA_CHECK(cudaSetDevice(device));
  return device;
}

class NcclCommunicator final : public Communicator {
 public:
  // Over the ranks of `bootstrap`: rank 0 makes the NCCL id and MPI broadcasts it. Each rank uses
  // its current CUDA device (see use_local_gpu); two ranks must not share a GPU.
  explicit NcclCommunicator(MpiCommunicator& bootstrap) {
    ncclUniqueId id{};
    if (bootstrap.rank() == 0) detail::nccl_check(ncclGetUniqueId(&id), "ncclGetUniqueId");
    detail::mpi_check(MPI_Bcast(&id, sizeof(id), MPI_BYTE, 0, bootstrap.handle()), "MPI_Bcast");
    init(bootstrap.rank(), bootstrap.size(), id);
  }
  // Rank `rank` of `size`, all ranks given the same id (from ncclGetUniqueId on one of them).
  NcclCommunicator(int rank, int size, const ncclUniqueId& id) { init(rank, size, id); }
  // A communicator of one rank on the current device, without MPI.
  static std::unique_ptr<NcclCommunicator> single() {
    ncclUniqueId id{};
    detail::nccl_check(ncclGetUniqueId(&id), "ncclGetUniqueId");
    return std::make_unique<NcclCommunicator>(0, 1, id);
  }
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;
  ~NcclCommunicator() override {
    if (comm_) (void)ncclCommDestroy(comm_);
    if (side_) (void)cudaStreamDestroy(side_);
    if (scalar_) tinycnn::detail::cuda_deallocate(scalar_, sizeof(double));
  }

  int rank() const noexcept override { return rank_; }
  int size() const noexcept override { return size_; }
  std::string backend() const override { return "nccl"; }
  int device() const noexcept { return device_; }
  ncclComm_t handle() const noexcept { return comm_; }

  void all_reduce_sum(Buffer b) override {
    check_cuda("all_reduce_sum", b);
    detail::nccl_check(ncclAllReduce(b.data, b.data, b.count, detail::nccl_type(b.dtype), ncclSum,
                                     comm_, cuda_stream()),
                       "ncclAllReduce", comm_);
  }
  double all_reduce_sum(double v) override {
    if (!scalar_) scalar_ = tinycnn::detail::cuda_allocate(sizeof(double));
    TINYCNN_CUDA_CHECK(cudaMemcpyAsync(scalar_, &v, sizeof v, cudaMemcpyHostToDevice, cuda_stream()));
    all_reduce_sum(Buffer{scalar_, 1, DType::kFloat64, Memory::kCuda});
    TINYCNN_CUDA_CHECK(cudaMemcpyAsync(&v, scalar_, sizeof v, cudaMemcpyDeviceToHost, cuda_stream()));
    cuda_synchronize();
    return v;
  }
  using Communicator::all_reduce_sum;
  using Communicator::broadcast;

  std::unique_ptr<Pending> all_reduce_sum_start(Buffer b) override {
    check_cuda("all_reduce_sum_start", b);
    if (!side_) TINYCNN_CUDA_CHECK(cudaStreamCreateWithFlags(&side_, cudaStreamNonBlocking));
    auto op = std::make_unique<Request>();
    // The side stream starts after what tinycnn has queued so far (the bucket's gradients).
    TINYCNN_CUDA_CHECK(cudaEventRecord(op->ready, cuda_stream()));
    TINYCNN_CUDA_CHECK(cudaStreamWaitEvent(side_, op->ready, 0));
    detail::nccl_check(ncclAllReduce(b.data, b.data, b.count, detail::nccl_type(b.dtype), ncclSum,
                                     comm_, side_),
                       "ncclAllReduce", comm_);
    TINYCNN_CUDA_CHECK(cudaEventRecord(op->done, side_));
    return op;
  }

  void broadcast(Buffer b, int root) override {
    check_cuda("broadcast", b);
    check_root("broadcast", root);
    detail::nccl_check(ncclBroadcast(b.data, b.data, b.count, detail::nccl_type(b.dtype), root,
                                     comm_, cuda_stream()),
                       "ncclBroadcast", comm_);
  }

  void exchange(std::span<const Transfer> sends, std::span<const Transfer> recvs) override {
    check_exchange(sends, recvs);
    for (const auto& t : sends) check_cuda("exchange (send)", t.buffer);
    for (const auto& t : recvs) check_cuda("exchange (receive)", t.buffer);
    detail::nccl_check(ncclGroupStart(), "ncclGroupStart");
    for (const auto& t : recvs)
      detail::nccl_check(ncclRecv(t.buffer.data, t.buffer.count, detail::nccl_type(t.buffer.dtype),
                                  t.peer, comm_, cuda_stream()),
                         "ncclRecv", comm_);
    for (const auto& t : sends)
      detail::nccl_check(ncclSend(t.buffer.data, t.buffer.count, detail::nccl_type(t.buffer.dtype),
                                  t.peer, comm_, cuda_stream()),
                         "ncclSend", comm_);
    detail::nccl_check(ncclGroupEnd(), "ncclGroupEnd", comm_);
  }

  // All ranks reach this point and their queued NCCL and CUDA work is done.
  void barrier() override {
    double zero = 0;
    (void)all_reduce_sum(zero);
  }

 private:
  struct Request final : Pending {
    cudaEvent_t ready = nullptr, done = nullptr;
    bool waited = false;
    Request() {
      TINYCNN_CUDA_CHECK(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
      TINYCNN_CUDA_CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
    }
    ~Request() override {
      if (!waited) (void)cudaStreamWaitEvent(cuda_stream(), done, 0);
      (void)cudaEventDestroy(ready);
      (void)cudaEventDestroy(done);
    }
    bool test() override {
      const cudaError_t e = cudaEventQuery(done);
      if (e == cudaErrorNotReady) {
        (void)cudaGetLastError();
        return false;
      }
      TINYCNN_CUDA_CHECK(e);
      return true;
    }
    void wait() override {
      waited = true;
      TINYCNN_CUDA_CHECK(cudaStreamWaitEvent(cuda_stream(), done, 0));
    }
  };

  void init(int rank, int size, const ncclUniqueId& id) {
    TINYCNN_CHECK(size > 0 && rank >= 0 && rank < size, "NcclCommunicator: rank ", rank, " of ", size);
    TINYCNN_CUDA_CHECK(cudaGetDevice(&device_));
    rank_ = rank;
    size_ = size;
    detail::nccl_check(ncclCommInitRank(&comm_, size, id, rank), "ncclCommInitRank");
  }

  void check_cuda(const char* op, const Buffer& b) const {
    check_buffer(op, b);
    TINYCNN_CHECK(b.memory == Memory::kCuda, "nccl ", op, ": NCCL moves CUDA memory, got a ",
                  memory_name(b.memory), " buffer (use MpiCommunicator for CPU tensors)");
  }

  ncclComm_t comm_ = nullptr;
  cudaStream_t side_ = nullptr;
  void* scalar_ = nullptr;
  int rank_ = 0, size_ = 1, device_ = 0;
};

}  // namespace tinycnn::dist
