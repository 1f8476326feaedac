// MPI for tinycnn: starting and ending MPI (MpiSession) and a Communicator over an MPI
// communicator (MpiCommunicator). Link tinycnn::mpi (CMake: find_package(MPI) is done for you).
//
//   int main(int argc, char** argv) {
//     tinycnn::dist::MpiSession mpi(argc, argv);          // MPI_Init_thread ... MPI_Finalize
//     tinycnn::dist::MpiCommunicator world;              // MPI_COMM_WORLD, duplicated
//     ...                                                // mpirun -np 4 ./train
//
// CPU buffers go to MPI directly. CUDA buffers are staged through host copies (the MPI library need
// not be CUDA-aware); between GPUs use NcclCommunicator instead, which MPI starts.
#pragma once

#include <mpi.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "tinycnn/core/error.hpp"
#include "tinycnn/dist/communicator.hpp"
#if TINYCNN_HAS_CUDA
#include "tinycnn/core/cuda_runtime.hpp"
#endif

namespace tinycnn::dist {
namespace detail {

inline void mpi_check(int code, const char* call) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) length = 0;
  throw Error(tinycnn::detail::concat("MPI error in ", call, ": ",
                                      length ? std::string(text, std::size_t(length))
                                             : std::string("code ") + std::to_string(code)));
}

inline MPI_Datatype mpi_type(DType t) { return t == DType::kFloat32 ? MPI_FLOAT : MPI_DOUBLE; }

// MPI counts are int: larger buffers go in pieces of at most this many elements.
inline constexpr std::size_t kMpiChunk = std::size_t(1) << 30;

// f(pointer, count) for the consecutive pieces of the buffer's data at `data` (its host copy).
template <class F>
void for_each_chunk(void* data, const Buffer& b, F&& f) {
  auto* p = static_cast<unsigned char*>(data);
  for (std::size_t done = 0; done < b.count;) {
    const std::size_t n = std::min(kMpiChunk, b.count - done);
    f(p + done * dtype_size(b.dtype), int(n));
    done += n;
  }
}

// A host copy of a CUDA buffer for MPI (the buffer itself when it is host memory).
class HostStage {
 public:
  HostStage(const Buffer& b, bool load) : b_(b) {
    if (b.memory == Memory::kHost) {
      host_ = b.data;
      return;
    }
#if TINYCNN_HAS_CUDA
    copy_.resize(b.bytes());
    host_ = copy_.data();
    if (load && b.count) {
      TINYCNN_CUDA_CHECK(cudaMemcpyAsync(host_, b.data, b.bytes(), cudaMemcpyDeviceToHost,
                                         cuda_stream()));
      cuda_synchronize();
    }
#else
    (void)load;
    throw Error("MpiCommunicator: a CUDA buffer in a build without CUDA");
#endif
  }
  void* data() const { return host_; }
  // Copy the host data back to the CUDA buffer.
  void store() {
#if TINYCNN_HAS_CUDA
    if (b_.memory == Memory::kCuda && b_.count)
      TINYCNN_CUDA_CHECK(cudaMemcpyAsync(b_.data, host_, b_.bytes(), cudaMemcpyHostToDevice,
                                         cuda_stream()));
#endif
  }

 private:
  Buffer b_;
  void* host_ = nullptr;
  std::vector<unsigned char> copy_;
};

}  // namespace detail

// MPI_Init_thread on construction (unless MPI is already running) and MPI_Finalize on destruction
// (if this session started it). One per process, in main().
class MpiSession {
 public:
  MpiSession(int& argc, char**& argv) { init(&argc, &argv); }
  MpiSession() { init(nullptr, nullptr); }
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
  ~MpiSession() {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (owner_ && !finalized) MPI_Finalize();
  }
  // The thread support MPI granted (MPI_THREAD_FUNNELED is what tinycnn asks for and needs: MPI
  // is called from the thread that runs the model only).
  int thread_level() const { return provided_; }

 private:
  void init(int* argc, char*** argv) {
    int initialized = 0;
    detail::mpi_check(MPI_Initialized(&initialized), "MPI_Initialized");
    if (initialized) {
      detail::mpi_check(MPI_Query_thread(&provided_), "MPI_Query_thread");
      return;
    }
    detail::mpi_check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided_),
                      "MPI_Init_thread");
    owner_ = true;
  }
  bool owner_ = false;
  int provided_ = 0;
};

class MpiCommunicator final : public Communicator {
 public:
  // Over the processes of `comm` (MPI_COMM_WORLD by default), duplicated so that tinycnn's
  // messages never mix with the application's. Errors are returned as tinycnn::Error, not fatal.
  explicit MpiCommunicator(MPI_Comm comm = MPI_COMM_WORLD) {
    int initialized = 0;
    MPI_Initialized(&initialized);
    TINYCNN_CHECK(initialized, "MpiCommunicator: MPI is not initialised (create an MpiSession in "
                               "main() first)");
    detail::mpi_check(MPI_Comm_dup(comm, &comm_), "MPI_Comm_dup");
    detail::mpi_check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    detail::mpi_check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
    detail::mpi_check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
    // The ranks on this machine (sharing memory), for choosing a GPU.
    MPI_Comm node;
    detail::mpi_check(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node),
                      "MPI_Comm_split_type");
    MPI_Comm_rank(node, &local_rank_);
    MPI_Comm_size(node, &local_size_);
    MPI_Comm_free(&node);
  }
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;
  ~MpiCommunicator() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Comm_free(&comm_);
  }

  int rank() const noexcept override { return rank_; }
  int size() const noexcept override { return size_; }
  std::string backend() const override { return "mpi"; }
  // This process's rank among those on the same machine, and their number.
  int local_rank() const noexcept { return local_rank_; }
  int local_size() const noexcept { return local_size_; }
  MPI_Comm handle() const noexcept { return comm_; }

  void all_reduce_sum(Buffer b) override {
    check_buffer("all_reduce_sum", b);
    detail::HostStage host(b, true);
    detail::for_each_chunk(host.data(), b, [&](void* p, int n) {
      detail::mpi_check(MPI_Allreduce(MPI_IN_PLACE, p, n, detail::mpi_type(b.dtype), MPI_SUM, comm_),
                        "MPI_Allreduce");
    });
    host.store();
  }
  using Communicator::all_reduce_sum;
  using Communicator::broadcast;

  std::unique_ptr<Pending> all_reduce_sum_start(Buffer b) override {
    check_buffer("all_reduce_sum_start", b);
    return std::make_unique<Request>(*this, b);
  }

  void broadcast(Buffer b, int root) override {
    check_buffer("broadcast", b);
    check_root("broadcast", root);
    detail::HostStage host(b, rank_ == root);
    detail::for_each_chunk(host.data(), b, [&](void* p, int n) {
      detail::mpi_check(MPI_Bcast(p, n, detail::mpi_type(b.dtype), root, comm_), "MPI_Bcast");
    });
    if (rank_ != root) host.store();
  }

  void exchange(std::span<const Transfer> sends, std::span<const Transfer> recvs) override {
    check_exchange(sends, recvs);
    std::vector<MPI_Request> requests;
    std::vector<std::unique_ptr<detail::HostStage>> stages;
    const auto post = [&](const Transfer& t, bool send) {
      TINYCNN_CHECK(t.buffer.count <= detail::kMpiChunk, "mpi exchange: ", t.buffer.count,
                    " elements in one message (at most ", detail::kMpiChunk, ")");
      stages.push_back(std::make_unique<detail::HostStage>(t.buffer, send));
      requests.emplace_back();
      const int tag = 7;  // one message each way per peer, exchanges in order: one tag will do
      const int n = int(t.buffer.count);
      const MPI_Datatype type = detail::mpi_type(t.buffer.dtype);
      detail::mpi_check(send ? MPI_Isend(stages.back()->data(), n, type, t.peer, tag, comm_,
                                         &requests.back())
                             : MPI_Irecv(stages.back()->data(), n, type, t.peer, tag, comm_,
                                         &requests.back()),
                        send ? "MPI_Isend" : "MPI_Irecv");
    };
    for (const auto& t : recvs) post(t, false);
    for (const auto& t : sends) post(t, true);
    detail::mpi_check(MPI_Waitall(int(requests.size()), requests.data(), MPI_STATUSES_IGNORE),
                      "MPI_Waitall (exchange)");
    for (std::size_t i = 0; i < recvs.size(); ++i) stages[i]->store();
  }

  void barrier() override { detail::mpi_check(MPI_Barrier(comm_), "MPI_Barrier"); }

 private:
  // A non-blocking all-reduce (MPI_Iallreduce) on a host buffer or a host copy of a CUDA one.
  class Request final : public Pending {
   public:
    Request(MpiCommunicator& c, Buffer b) : stage_(b, true) {
      detail::for_each_chunk(stage_.data(), b, [&](void* p, int n) {
        requests_.emplace_back();
        detail::mpi_check(MPI_Iallreduce(MPI_IN_PLACE, p, n, detail::mpi_type(b.dtype), MPI_SUM, c.comm_,
                                         &requests_.back()),
                          "MPI_Iallreduce");
      });
    }
    ~Request() override {
      if (!done_) {
        MPI_Waitall(int(requests_.size()), requests_.data(), MPI_STATUSES_IGNORE);
      }
    }
    bool test() override {
      if (done_) return true;
      int flag = 0;
      detail::mpi_check(MPI_Testall(int(requests_.size()), requests_.data(), &flag,
                                    MPI_STATUSES_IGNORE),
                        "MPI_Testall");
      return flag != 0;  // completed requests are freed by MPI; wait() then returns at once
    }
    void wait() override {
      if (done_) return;
      done_ = true;
      detail::mpi_check(MPI_Waitall(int(requests_.size()), requests_.data(), MPI_STATUSES_IGNORE),
                        "MPI_Waitall");
      stage_.store();
    }

   private:
    detail::HostStage stage_;
    std::vector<MPI_Request> requests_;
    bool done_ = false;
  };

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
};

}  // namespace tinycnn::dist
