// Communicators: a group of ranks (processes) that sum and exchange buffers. tinycnn runs across
// processes on existing engines only:
//   MpiCommunicator   (tinycnn/dist/mpi.hpp, link tinycnn::mpi)   Open MPI or any MPI-3 library;
//                     CPU tensors, and CUDA tensors staged through host memory.
//   NcclCommunicator  (tinycnn/dist/nccl.hpp, link tinycnn::nccl) NCCL between GPUs, started
//                     through MPI; CUDA tensors only, queued on tinycnn's CUDA stream.
//   SingleProcess     (here) one rank: every collective is the identity, so code written for a
//                     communicator runs unchanged in one process.
//
// Every rank calls every collective in the same order with the same counts (MPI's and NCCL's
// rule). A Buffer names memory by pointer, element count, type and where it lives.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <type_traits>

#include "tinycnn/core/error.hpp"
#include "tinycnn/core/partition.hpp"
#include "tinycnn/core/tensor.hpp"

namespace tinycnn::dist {

enum class DType { kFloat32, kFloat64 };
enum class Memory { kHost, kCuda };

template <class T>
constexpr DType dtype_of() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "tinycnn::dist: buffers hold float or double");
  return std::is_same_v<T, float> ? DType::kFloat32 : DType::kFloat64;
}
template <Device D>
constexpr Memory memory_of() {
  return std::is_same_v<D, cpu> ? Memory::kHost : Memory::kCuda;
}
inline std::size_t dtype_size(DType t) { return t == DType::kFloat32 ? 4 : 8; }
inline const char* memory_name(Memory m) { return m == Memory::kHost ? "host" : "CUDA"; }

struct Buffer {
  void* data = nullptr;
  std::size_t count = 0;  // elements
  DType dtype = DType::kFloat32;
  Memory memory = Memory::kHost;
  std::size_t bytes() const { return count * dtype_size(dtype); }
};

template <class T, Device D = cpu>
Buffer buffer(T* data, std::size_t count) {
  return {data, count, dtype_of<T>(), memory_of<D>()};
}
template <class T, Device D>
Buffer buffer(Tensor<T, D>& t) {
  return buffer<T, D>(t.data(), std::size_t(t.numel()));
}

// One point-to-point transfer of an exchange: to (send) or from (receive) rank `peer`.
struct Transfer {
  int peer = 0;
  Buffer buffer;
};

// A collective in flight. test() lets the engine make progress and says whether it is done;
// wait() completes it (for NCCL: orders tinycnn's CUDA stream after it). Destroying a pending
// operation that was not waited for waits for it.
class Pending {
 public:
  virtual ~Pending() = default;
  virtual bool test() = 0;
  virtual void wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const noexcept = 0;
  virtual int size() const noexcept = 0;
  // "mpi", "nccl" or "single", for logs and errors.
  virtual std::string backend() const = 0;

  // b = the sum over ranks of b, in place.
  virtual void all_reduce_sum(Buffer b) = 0;
  // The same, started now and completed by the returned handle's wait(), so that it can overlap
  // with computation (gradient buckets during the backward pass).
  virtual std::unique_ptr<Pending> all_reduce_sum_start(Buffer b) = 0;
  // A host scalar summed over ranks (losses, dot products).
  virtual double all_reduce_sum(double v) {
    Buffer b{&v, 1, DType::kFloat64, Memory::kHost};
    all_reduce_sum(b);
    return v;
  }
  // b = root's b on every rank.
  virtual void broadcast(Buffer b, int root) = 0;
  // This rank's sends and receives of one exchange (halo rows), all in flight together; returns
  // when all are complete (NCCL: when queued on tinycnn's stream). At most one send to and one
  // receive from each peer; every send has a matching receive of the same size on its peer.
  virtual void exchange(std::span<const Transfer> sends, std::span<const Transfer> recvs) = 0;
  virtual void barrier() = 0;

  template <class T, Device D>
  void all_reduce_sum(Tensor<T, D>& t) {
    all_reduce_sum(buffer(t));
  }
  template <class T, Device D>
  void broadcast(Tensor<T, D>& t, int root) {
    broadcast(buffer(t), root);
  }

 protected:
  // Collectives share these checks so that every backend names the same mistakes the same way.
  void check_peer(const char* op, int peer) const {
    TINYCNN_CHECK(peer >= 0 && peer < size() && peer != rank(), backend(), " ", op, ": peer ",
                  peer, " is not another rank of this communicator (rank ", rank(), " of ", size(),
                  ")");
  }
  void check_root(const char* op, int root) const {
    TINYCNN_CHECK(root >= 0 && root < size(), backend(), " ", op, ": root ", root,
                  " is not a rank (size ", size(), ")");
  }
  void check_exchange(std::span<const Transfer> sends, std::span<const Transfer> recvs) const {
    for (int pass = 0; pass < 2; ++pass) {
      const auto list = pass ? recvs : sends;
      const char* op = pass ? "exchange (receive)" : "exchange (send)";
      for (std::size_t i = 0; i < list.size(); ++i) {
        check_peer(op, list[i].peer);
        check_buffer(op, list[i].buffer);
        for (std::size_t j = 0; j < i; ++j)
          TINYCNN_CHECK(list[j].peer != list[i].peer, backend(), " ", op, ": two messages for peer ",
                        list[i].peer, " in one exchange (at most one each way)");
      }
    }
  }
  void check_buffer(const char* op, const Buffer& b) const {
    TINYCNN_CHECK(b.data || b.count == 0, backend(), " ", op, ": null buffer of ", b.count,
                  " elements");
  }
};

// A pending operation that has already completed.
class Completed final : public Pending {
 public:
  bool test() override { return true; }
  void wait() override {}
};

// One rank: sums and broadcasts leave the data as it is; there is nobody to exchange with.
class SingleProcess final : public Communicator {
 public:
  int rank() const noexcept override { return 0; }
  int size() const noexcept override { return 1; }
  std::string backend() const override { return "single"; }
  void all_reduce_sum(Buffer b) override { check_buffer("all_reduce_sum", b); }
  using Communicator::all_reduce_sum;
  using Communicator::broadcast;
  std::unique_ptr<Pending> all_reduce_sum_start(Buffer b) override {
    check_buffer("all_reduce_sum_start", b);
    return std::make_unique<Completed>();
  }
  void broadcast(Buffer b, int root) override {
    check_buffer("broadcast", b);
    check_root("broadcast", root);
  }
  void exchange(std::span<const Transfer> sends, std::span<const Transfer> recvs) override {
    check_exchange(sends, recvs);
  }
  void barrier() override {}
};

// The contiguous blocks datasets and image rows are split into (tinycnn/core/partition.hpp).
using tinycnn::block_range;
using tinycnn::Range;

}  // namespace tinycnn::dist
