// CUDA graphs: the launches a piece of host code queues on tinycnn's stream, recorded once and
// replayed by one call, without the host cost of each launch and allocation. For work that is the
// same every time it runs, such as one style-transfer evaluation (style::StyleOptions::cuda_graph):
//
//   tinycnn::CudaGraph g;
//   std::string why;
//   if (g.capture([&] { step_work(); }, &why))   // records; nothing runs yet
//     for (int i = 0; i < n; ++i) g.launch();   // runs the recorded work on tinycnn's stream
//   else
//     std::fprintf(stderr, "not recorded: %s\n", why.c_str());
//
// A replay reads and writes the same device addresses the recording saw: the tensors it uses must
// stay where they were (same objects, not reallocated) for as long as the graph is launched. All
// threads share tinycnn's stream, so no other thread may queue tinycnn work while one records.
#pragma once

#include "tinycnn/core/device.hpp"

#if TINYCNN_HAS_CUDA

#include <cuda_runtime.h>

#include <string>
#include <utility>

#include "tinycnn/core/cuda_runtime.hpp"
#include "tinycnn/core/error.hpp"

namespace tinycnn {

class CudaGraph {
 public:
  CudaGraph() = default;
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;
  CudaGraph(CudaGraph&& o) noexcept : exec_(std::exchange(o.exec_, nullptr)) {}
  CudaGraph& operator=(CudaGraph&& o) noexcept {
    if (this != &o) {
      reset();
      exec_ = std::exchange(o.exec_, nullptr);
    }
    return *this;
  }
  ~CudaGraph() { reset(); }

  // Records what f() queues on tinycnn's stream (none of it runs) and prepares it for launch().
  // Every tensor f allocates must be released by its end, and f must release none it did not
  // allocate (the graph allocates and frees its tensors itself on each launch). Returns false,
  // keeping no graph, when f did what a graph cannot hold: a synchronous allocation, copy or wait
  // (tinycnn::Error from f's CUDA call, caught here), tensors that outlive f, tensors from before
  // released in it (their memory is then not given back), or tinycnn's direct allocation mode
  // (TINYCNN_CUDA_DIRECT_ALLOC=1); *why (when given) then says which. Other exceptions from f
  // propagate once the recording is closed.
  template <class F>
  bool capture(F&& f, std::string* why = nullptr) {
    reset();
    detail::CudaContext& ctx = detail::cuda_context();
    auto fail = [&](std::string reason) {
      if (why) *why = std::move(reason);
      return false;
    };
    if (ctx.direct_alloc)
      return fail(
          "TINYCNN_CUDA_DIRECT_ALLOC=1 allocates with cudaMalloc, which a graph cannot hold");
    // The graph gets its own memory for the tensors it allocates: first hand back what the pool
    // keeps from earlier work, so the two do not hold a copy each.
    TINYCNN_CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
    TINYCNN_CUDA_CHECK(cudaMemPoolTrimTo(ctx.pool, 0));
    TINYCNN_CUDA_CHECK(cudaStreamBeginCapture(ctx.stream, cudaStreamCaptureModeThreadLocal));
    detail::CaptureLedger ledger;
    detail::capture_ledger = &ledger;
    cudaGraph_t graph = nullptr;
    std::string error;
    try {
      f();
    } catch (const Error& e) {
      error = e.what();
    } catch (...) {
      detail::capture_ledger = nullptr;
      (void)cudaStreamEndCapture(ctx.stream, &graph);
      if (graph) (void)cudaGraphDestroy(graph);
      (void)cudaGetLastError();
      throw;
    }
    detail::capture_ledger = nullptr;
    const cudaError_t end = cudaStreamEndCapture(ctx.stream, &graph);
    (void)cudaGetLastError();
    if (!error.empty() || end != cudaSuccess || !graph) {
      if (graph) (void)cudaGraphDestroy(graph);
      return fail(!error.empty()
                      ? error
                      : detail::concat("cudaStreamEndCapture: ", cudaGetErrorString(end)));
    }
    if (!ledger.live.empty() || ledger.foreign_releases) {
      (void)cudaGraphDestroy(graph);
      return fail(detail::concat(ledger.live.size(),
                                 " tensors allocated while recording outlive it, ",
                                 ledger.foreign_releases, " allocated before were released in it"));
    }
    const cudaError_t made = cudaGraphInstantiate(&exec_, graph, 0);
    (void)cudaGraphDestroy(graph);
    if (made != cudaSuccess) {
      exec_ = nullptr;
      (void)cudaGetLastError();
      return fail(detail::concat("cudaGraphInstantiate: ", cudaGetErrorString(made)));
    }
    return true;
  }

  // Queues the recorded work on tinycnn's stream. The first launch also makes the memory of the
  // tensors the recording allocates (tinycnn::Error when there is not enough).
  void launch() const {
    TINYCNN_CHECK(exec_, "CudaGraph::launch: nothing recorded (capture() first)");
    TINYCNN_CUDA_CHECK(cudaGraphLaunch(exec_, cuda_stream()));
  }

  bool empty() const noexcept { return exec_ == nullptr; }

  // Forgets the recording. Work already launched still runs.
  void reset() noexcept {
    if (exec_) (void)cudaGraphExecDestroy(exec_);
    exec_ = nullptr;
  }

 private:
  cudaGraphExec_t exec_ = nullptr;
};

}  // namespace tinycnn

#endif  // TINYCNN_HAS_CUDA
