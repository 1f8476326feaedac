// Implicit-GEMM convolution (forward, backward data, backward filter) against cuDNN (fp32 FMA math,
// its fastest algorithm by cudnnFind*, with the workspace it asks for) on every distinct layer of
// VGG-19 and NIN at 224 and 512 px, batch 1. Each shape is checked against cuDNN before timing.
// Without cudnn.h (TINYCNN_HAVE_CUDNN undefined) only our kernels are timed.
//
// Run: build/benchmarks/cuda_conv_bench --benchmark_min_time=0.05
// Counters: TFLOP/s (from the median iteration) and vs_cudnn = cuDNN time / our time.
#include <benchmark/benchmark.h>

#include <tinycnn/tinycnn.hpp>
#include <tinycnn/kernels/cuda/conv.cuh>

#if defined(TINYCNN_HAVE_CUDNN)
#include <cudnn.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "support/problems.hpp"

namespace {

using tinycnn::cuda;
using tinycnn::Tensor;
using tinycnn::kernels::Conv2dDesc;
namespace kc = tinycnn::kernels::cuda;

enum class Pass { forward, backward_data, backward_filter };
const char* pass_name(Pass p) {
  return p == Pass::forward ? "fwd" : p == Pass::backward_data ? "bwd_data" : "bwd_filter";
}

Tensor<float, cuda> random_device(std::int64_t n, std::uint32_t seed) {
  std::vector<float> h(static_cast<std::size_t>(n));
  std::uint32_t state = seed;
  for (auto& v : h) {
    state = state * 1664525u + 1013904223u;
    v = float(state >> 8) / float(1 << 24) * 2.f - 1.f;
  }
  return Tensor<float, cuda>({n}, h);
}

// Operands of all three passes for one layer.
struct Operands {
  std::int64_t nx, nw, ny;
  Tensor<float, cuda> x, w, y, dx, dw, dy, workspace;
  explicit Operands(const Conv2dDesc& d)
      : nx(d.n * d.c * d.h * d.w), nw(d.k * d.c * d.r * d.s), ny(d.n * d.k * d.p() * d.q()),
        x(random_device(nx, 1)), w(random_device(nw, 2)), y({ny}), dx({nx}), dw({nw}),
        dy(random_device(ny, 3)),
        workspace({std::int64_t(workspace_bytes(d) + 3) / 4}) {}

  // One workspace for all three passes: the largest any of them asks for.
  static std::size_t workspace_bytes(const Conv2dDesc& d) {
    return std::max({kc::conv2d_forward_workspace_bytes(d),
                     kc::conv2d_backward_data_workspace_bytes(d),
                     kc::conv2d_backward_filter_workspace_bytes(d)});
  }

  cudaError_t run_ours(Pass p, const Conv2dDesc& d) {
    const auto s = tinycnn::cuda_stream();
    switch (p) {
      case Pass::forward:
        return kc::conv2d_forward_implicit_gemm(y.data(), x.data(), w.data(), nullptr, d,
                                                workspace.data(), workspace.numel() * 4, s);
      case Pass::backward_data:
        return kc::conv2d_backward_data_implicit_gemm(dx.data(), dy.data(), w.data(), d,
                                                      workspace.data(), workspace.numel() * 4, s);
      case Pass::backward_filter:
        return kc::conv2d_backward_filter_implicit_gemm(dw.data(), dy.data(), x.data(), d,
                                                        workspace.data(), workspace.numel() * 4, s);
    }
    return cudaErrorInvalidValue;
  }
#if defined(TINYCNN_HAVE_CUDNN)
  Tensor<float, cuda>& output(Pass p) {
    return p == Pass::forward ? y : p == Pass::backward_data ? dx : dw;
  }
#endif
};

[[maybe_unused]] double relative_error(const std::vector<float>& out, const std::vector<float>& ref) {
  double d2 = 0, r2 = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double d = double(out[i]) - ref[i];
    d2 += d * d, r2 += double(ref[i]) * ref[i];
  }
  return std::isfinite(d2) && r2 > 0 ? std::sqrt(d2 / r2) : INFINITY;
}

template <class F>
double timed_loop(benchmark::State& state, F f) {
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  std::vector<double> ms;
  for (auto _ : state) {
    cudaEventRecord(start, tinycnn::cuda_stream());
    f();
    cudaEventRecord(stop, tinycnn::cuda_stream());
    cudaEventSynchronize(stop);
    float t = 0;
    cudaEventElapsedTime(&t, start, stop);
    state.SetIterationTime(t * 1e-3);
    ms.push_back(t);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  if (ms.empty()) return 0;
  std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
  return ms[ms.size() / 2];
}

std::map<std::string, double>& peer_median_ms() {
  static std::map<std::string, double> m;
  return m;
}

#if defined(TINYCNN_HAVE_CUDNN)

cudnnHandle_t cudnn() {
  static cudnnHandle_t h = [] {
    cudnnHandle_t handle = nullptr;
    if (cudnnCreate(&handle) != CUDNN_STATUS_SUCCESS) std::abort();
    cudnnSetStream(handle, tinycnn::cuda_stream());
    return handle;
  }();
  return h;
}

// cuDNN's descriptors for one layer, its fastest FMA algorithm for one pass and that workspace.
struct CudnnConv {
  cudnnTensorDescriptor_t xd = nullptr, yd = nullptr;
  cudnnFilterDescriptor_t wd = nullptr;
  cudnnConvolutionDescriptor_t cd = nullptr;
  int algo = -1;
  Tensor<float, cuda> workspace;
  bool ok = false;

  CudnnConv(const Conv2dDesc& d, Pass pass, Operands& op) {
    cudnnCreateTensorDescriptor(&xd);
    cudnnCreateTensorDescriptor(&yd);
    cudnnCreateFilterDescriptor(&wd);
    cudnnCreateConvolutionDescriptor(&cd);
    cudnnSetTensor4dDescriptor(xd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, int(d.n), int(d.c),
                               int(d.h), int(d.w));
    cudnnSetTensor4dDescriptor(yd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, int(d.n), int(d.k),
                               int(d.p()), int(d.q()));
    cudnnSetFilter4dDescriptor(wd, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, int(d.k), int(d.c),
                               int(d.r), int(d.s));
    cudnnSetConvolution2dDescriptor(cd, int(d.pad_h), int(d.pad_w), int(d.stride_h),
                                    int(d.stride_w), int(d.dilation_h), int(d.dilation_w),
                                    CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT);
    cudnnSetConvolutionMathType(cd, CUDNN_FMA_MATH);  // no tensor cores, no TF32
    constexpr int kMax = 16;
    int found = 0;
    std::size_t bytes = 0;
    if (pass == Pass::forward) {
      cudnnConvolutionFwdAlgoPerf_t perf[kMax];
      if (cudnnFindConvolutionForwardAlgorithm(cudnn(), xd, wd, cd, yd, kMax, &found, perf) !=
          CUDNN_STATUS_SUCCESS)
        return;
      for (int i = 0; i < found && algo < 0; ++i)
        if (perf[i].status == CUDNN_STATUS_SUCCESS) algo = perf[i].algo, bytes = perf[i].memory;
    } else if (pass == Pass::backward_data) {
      cudnnConvolutionBwdDataAlgoPerf_t perf[kMax];
      if (cudnnFindConvolutionBackwardDataAlgorithm(cudnn(), wd, yd, cd, xd, kMax, &found, perf) !=
          CUDNN_STATUS_SUCCESS)
        return;
      for (int i = 0; i < found && algo < 0; ++i)
        if (perf[i].status == CUDNN_STATUS_SUCCESS) algo = perf[i].algo, bytes = perf[i].memory;
    } else {
      cudnnConvolutionBwdFilterAlgoPerf_t perf[kMax];
      if (cudnnFindConvolutionBackwardFilterAlgorithm(cudnn(), xd, yd, cd, wd, kMax, &found,
                                                      perf) != CUDNN_STATUS_SUCCESS)
        return;
      for (int i = 0; i < found && algo < 0; ++i)
        if (perf[i].status == CUDNN_STATUS_SUCCESS) algo = perf[i].algo, bytes = perf[i].memory;
    }
    if (algo < 0) return;
    workspace = Tensor<float, cuda>({std::int64_t(bytes + 3) / 4});
    ok = run(pass, op) == CUDNN_STATUS_SUCCESS;
  }
  ~CudnnConv() {
    cudnnDestroyTensorDescriptor(xd);
    cudnnDestroyTensorDescriptor(yd);
    cudnnDestroyFilterDescriptor(wd);
    cudnnDestroyConvolutionDescriptor(cd);
  }

  // Writes into op's outputs (the same buffers ours use; correctness is checked in between).
  cudnnStatus_t run(Pass pass, Operands& op) {
    const float one = 1.f, zero = 0.f;
    void* ws = workspace.data();
    const std::size_t ws_bytes = std::size_t(workspace.numel()) * 4;
    switch (pass) {
      case Pass::forward:
        return cudnnConvolutionForward(cudnn(), &one, xd, op.x.data(), wd, op.w.data(), cd,
                                       cudnnConvolutionFwdAlgo_t(algo), ws, ws_bytes, &zero, yd,
                                       op.y.data());
      case Pass::backward_data:
        return cudnnConvolutionBackwardData(cudnn(), &one, wd, op.w.data(), yd, op.dy.data(), cd,
                                            cudnnConvolutionBwdDataAlgo_t(algo), ws, ws_bytes,
                                            &zero, xd, op.dx.data());
      case Pass::backward_filter:
        return cudnnConvolutionBackwardFilter(cudnn(), &one, xd, op.x.data(), yd, op.dy.data(), cd,
                                              cudnnConvolutionBwdFilterAlgo_t(algo), ws, ws_bytes,
                                              &zero, wd, op.dw.data());
    }
    return CUDNN_STATUS_BAD_PARAM;
  }
};

void bm_cudnn(benchmark::State& state, std::string key, Conv2dDesc d, Pass pass) {
  Operands op(d);
  CudnnConv peer(d, pass, op);
  if (!peer.ok) {
    state.SkipWithError("cuDNN found no working algorithm");
    return;
  }
  const double ms = timed_loop(state, [&] { peer.run(pass, op); });
  peer_median_ms()[key] = ms;
  state.counters["TFLOP/s"] = d.flops() / (ms * 1e-3) / 1e12;
  state.counters["algo"] = peer.algo;
}

#endif  // TINYCNN_HAVE_CUDNN

void bm_ours(benchmark::State& state, std::string key, Conv2dDesc d, Pass pass) {
  Operands op(d);
  if (op.run_ours(pass, d) != cudaSuccess) {
    state.SkipWithError("launch failed");
    return;
  }
#if defined(TINYCNN_HAVE_CUDNN)
  {  // Correctness first: against cuDNN on the same operands.
    const auto ours = op.output(pass).to_vector();
    CudnnConv peer(d, pass, op);
    if (!peer.ok) {
      state.SkipWithError("cuDNN reference failed");
      return;
    }
    const double err = relative_error(ours, op.output(pass).to_vector());
    if (!(err <= 1e-4)) {
      state.SkipWithError(("relative error vs cuDNN " + std::to_string(err)).c_str());
      return;
    }
  }
#endif
  const double ms = timed_loop(state, [&] { op.run_ours(pass, d); });
  state.counters["TFLOP/s"] = d.flops() / (ms * 1e-3) / 1e12;
  const auto peer = peer_median_ms().find(key);
  if (peer != peer_median_ms().end()) state.counters["vs_cudnn"] = peer->second / ms;
}

}  // namespace

int main(int argc, char** argv) {
  setenv("NVIDIA_TF32_OVERRIDE", "0", 1);  // before any CUDA library initialises
  std::vector<tinycnn::test::ConvCase> layers;
  // The first layers at 64 and 128 px too: style transfer's small images (the direct backward-data
  // kernel's split across a block, TINYCNN_CONV_DIRECT_SPLIT=0 for the kernel without it).
  for (std::int64_t size : {64, 128}) {
    layers.push_back(tinycnn::test::vgg19_conv_cases(size).front());
    layers.push_back(tinycnn::test::nin_conv_cases(size).front());
  }
  for (std::int64_t size : {224, 512}) {
    for (const auto& c : tinycnn::test::vgg19_conv_cases(size)) layers.push_back(c);
    for (const auto& c : tinycnn::test::nin_conv_cases(size)) layers.push_back(c);
  }
  for (const auto& layer : layers)
    for (Pass pass : {Pass::forward, Pass::backward_data, Pass::backward_filter}) {
      const std::string key = layer.name + "/" + pass_name(pass);
#if defined(TINYCNN_HAVE_CUDNN)
      // Peer first, so our run finds its time for the ratio.
      benchmark::RegisterBenchmark(("cudnn/" + key).c_str(), bm_cudnn, key, layer.desc, pass)
          ->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(0.05);
#endif
      benchmark::RegisterBenchmark(("implicit_gemm/" + key).c_str(), bm_ours, key, layer.desc, pass)
          ->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(0.05);
    }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
