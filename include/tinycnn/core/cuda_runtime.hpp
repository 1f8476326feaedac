// The CUDA runtime as tinycnn uses it: error checks, the library's stream, and device memory from
// the stream-ordered allocator. Host code only: compiles with any C++ compiler given cuda_runtime.h.
//
// Environment:
//   TINYCNN_CUDA_MEMORY_LIMIT  cap on the bytes tinycnn may hold on one GPU (e.g. 2G, 512M, 1048576),
//                              so out-of-memory paths can be exercised on any GPU.
//   TINYCNN_CUDA_DIRECT_ALLOC  =1: cudaMalloc/cudaFree for every tensor, bypassing the memory pool,
//                              so compute-sanitizer sees each allocation's bounds.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <unordered_set>

#include "tinycnn/core/error.hpp"

namespace tinycnn {
namespace detail {

inline std::string format_bytes(std::size_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = double(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 4) v /= 1024.0, ++u;
  std::ostringstream os;
  os.precision(u ? 3 : 0);
  os << std::fixed << v << ' ' << units[u];
  return os.str();
}

[[noreturn]] inline void throw_cuda_error(cudaError_t e, const char* call, const char* file,
                                          int line) {
  throw Error(concat("CUDA error ", cudaGetErrorName(e), " (", cudaGetErrorString(e), ") in ", call,
                     " at ", file, ":", line));
}

inline void cuda_check(cudaError_t e, const char* call, const char* file, int line) {
  if (e != cudaSuccess) {
    (void)cudaGetLastError();  // clear a non-sticky error so the process stays usable
    throw_cuda_error(e, call, file, line);
  }
}

}  // namespace detail
}  // namespace tinycnn

// Check a CUDA runtime call; on failure throw tinycnn::Error naming the call and the location.
#define TINYCNN_CUDA_CHECK(call) ::tinycnn::detail::cuda_check((call), #call, __FILE__, __LINE__)
// Check the launch just made (configuration errors show at once; faults show at the next sync).
#define TINYCNN_CUDA_CHECK_LAUNCH(name) \
  ::tinycnn::detail::cuda_check(cudaGetLastError(), name " (kernel launch)", __FILE__, __LINE__)

namespace tinycnn {

struct CudaMemoryStats {
  std::size_t bytes_in_use = 0;  // held by live tensors
  std::size_t peak_bytes = 0;    // highest bytes_in_use since the last reset
  std::size_t limit = 0;         // TINYCNN_CUDA_MEMORY_LIMIT, 0 when unset
};

namespace detail {

inline std::size_t parse_byte_count(const char* s) {
  char* end = nullptr;
  const double v = std::strtod(s, &end);
  TINYCNN_CHECK(end != s && v >= 0, "TINYCNN_CUDA_MEMORY_LIMIT: cannot read '", s,
                "' as a byte count (e.g. 2G, 512M, 1048576)");
  double scale = 1;
  switch (*end) {
    case 'k': case 'K': scale = 1024.0; break;
    case 'm': case 'M': scale = 1024.0 * 1024; break;
    case 'g': case 'G': scale = 1024.0 * 1024 * 1024; break;
    case 't': case 'T': scale = 1024.0 * 1024 * 1024 * 1024; break;
    case '\0': break;
    default: throw_error("TINYCNN_CUDA_MEMORY_LIMIT: unknown unit in '", s, "'");
  }
  return std::size_t(v * scale);
}

// One per device used by the process: the stream all tinycnn work is queued on, and the memory
// pool it allocates from. Never destroyed: CUDA may already be torn down at static destruction.
struct CudaContext {
  int device = 0;
  cudaStream_t stream = nullptr;
  cudaMemPool_t pool = nullptr;
  bool direct_alloc = false;
  std::size_t limit = 0;
  std::atomic<std::size_t> in_use{0};
  std::atomic<std::size_t> peak{0};
};

// While a CudaGraph records on this thread: the tensors allocated since it began (still held) and
// the releases of tensors allocated before it, which a replay would repeat.
struct CaptureLedger {
  std::unordered_set<const void*> live;
  std::size_t foreign_releases = 0;
};
inline thread_local CaptureLedger* capture_ledger = nullptr;

inline CudaContext& cuda_context() {
  constexpr int kMaxDevices = 64;
  static std::unique_ptr<CudaContext> contexts[kMaxDevices];
  static std::mutex mutex;
  int device = 0;
  TINYCNN_CUDA_CHECK(cudaGetDevice(&device));
  TINYCNN_CHECK(device >= 0 && device < kMaxDevices, "cuda: device index ", device,
                " is beyond the ", kMaxDevices, " devices tinycnn supports");
  std::lock_guard<std::mutex> lock(mutex);
  auto& ctx = contexts[device];
  if (!ctx) {
    auto c = std::make_unique<CudaContext>();
    c->device = device;
    TINYCNN_CUDA_CHECK(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
    TINYCNN_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&c->pool, device));
    // Keep freed memory in the pool instead of returning it to the driver at each sync.
    std::uint64_t threshold = UINT64_MAX;
    TINYCNN_CUDA_CHECK(cudaMemPoolSetAttribute(c->pool, cudaMemPoolAttrReleaseThreshold, &threshold));
    if (const char* d = std::getenv("TINYCNN_CUDA_DIRECT_ALLOC")) c->direct_alloc = d[0] == '1';
    if (const char* l = std::getenv("TINYCNN_CUDA_MEMORY_LIMIT")) c->limit = parse_byte_count(l);
    ctx = std::move(c);
  }
  return *ctx;
}

[[noreturn]] inline void throw_out_of_memory(const CudaContext& ctx, std::size_t bytes,
                                             const char* why) {
  std::size_t free_bytes = 0, total = 0;
  if (cudaMemGetInfo(&free_bytes, &total) != cudaSuccess) free_bytes = 0;
  (void)cudaGetLastError();
  if (ctx.limit) {
    const std::size_t used = ctx.in_use.load();
    free_bytes = std::min(free_bytes, ctx.limit > used ? ctx.limit - used : 0);
  }
  throw OutOfMemory(concat("cuda: out of memory allocating ", format_bytes(bytes), " (", bytes,
                           " bytes) on device ", ctx.device, "; ", format_bytes(free_bytes),
                           " free", ctx.limit ? concat(" under TINYCNN_CUDA_MEMORY_LIMIT=",
                                                       format_bytes(ctx.limit))
                                              : std::string(),
                           "; ", why),
                    bytes, free_bytes);
}

inline void* cuda_allocate(std::size_t bytes) {
  if (bytes == 0) return nullptr;
  CudaContext& ctx = cuda_context();
  if (ctx.limit && ctx.in_use.load() + bytes > ctx.limit)
    throw_out_of_memory(ctx, bytes, "the limit set by TINYCNN_CUDA_MEMORY_LIMIT would be exceeded");
  void* p = nullptr;
  cudaError_t e = ctx.direct_alloc ? cudaMalloc(&p, bytes) : cudaMallocAsync(&p, bytes, ctx.stream);
  if (e == cudaErrorMemoryAllocation && !ctx.direct_alloc) {
    // Memory freed on other streams may still sit in the pool: return it and try once more.
    (void)cudaGetLastError();
    TINYCNN_CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
    TINYCNN_CUDA_CHECK(cudaMemPoolTrimTo(ctx.pool, 0));
    e = cudaMallocAsync(&p, bytes, ctx.stream);
  }
  if (e == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    throw_out_of_memory(ctx, bytes, "the GPU has no more memory");
  }
  cuda_check(e, ctx.direct_alloc ? "cudaMalloc" : "cudaMallocAsync", __FILE__, __LINE__);
  if (capture_ledger) capture_ledger->live.insert(p);
  const std::size_t now = ctx.in_use.fetch_add(bytes) + bytes;
  std::size_t peak = ctx.peak.load();
  while (now > peak && !ctx.peak.compare_exchange_weak(peak, now)) {
  }
  return p;
}

// Size-tracking needs the size at release; the pool does not expose it, so Tensor passes it.
// Never throws: a tensor that outlives the CUDA runtime (a static, freed at exit after the runtime
// has unloaded) finds no context, and its memory goes back with the process.
inline void cuda_deallocate(void* p, std::size_t bytes) noexcept {
  if (!p) return;
  if (capture_ledger && capture_ledger->live.erase(p) == 0) ++capture_ledger->foreign_releases;
  try {
    CudaContext& ctx = cuda_context();
    if (ctx.direct_alloc) {
      (void)cudaFree(p);
    } else {
      (void)cudaFreeAsync(p, ctx.stream);
    }
    ctx.in_use.fetch_sub(bytes);
  } catch (...) {
    (void)cudaGetLastError();
  }
}

}  // namespace detail

// The stream tinycnn queues all its CUDA work on (one per device).
inline cudaStream_t cuda_stream() { return detail::cuda_context().stream; }

// Wait until all work queued on tinycnn's stream has finished; report any asynchronous fault.
inline void cuda_synchronize() { TINYCNN_CUDA_CHECK(cudaStreamSynchronize(cuda_stream())); }

// True when at least one CUDA device can be used by this process.
inline bool cuda_available() noexcept {
  int n = 0;
  const bool ok = cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
  (void)cudaGetLastError();
  return ok;
}

inline CudaMemoryStats cuda_memory_stats() {
  auto& ctx = detail::cuda_context();
  return {ctx.in_use.load(), ctx.peak.load(), ctx.limit};
}
inline void cuda_reset_peak_memory() {
  auto& ctx = detail::cuda_context();
  ctx.peak.store(ctx.in_use.load());
}

}  // namespace tinycnn
