// Max pooling on CUDA, ours against cuDNN in the same process: forward and backward, fp32, batch
// 1, for the pooling layers of VGG-19 (2x2 stride 2) and NIN (3x3 stride 2, ceil mode) at 224 and
// 512 px. Every layer's output is checked (against the reference, and against cuDNN) before timing.
//
// Counters: GB/s (bytes the kernel must move / time, L2 flushed before each run) and, on our
// rows, vs_cudnn = cuDNN time / our time (above 1: faster than cuDNN).
#include <benchmark/benchmark.h>

#include <tinycnn/kernels/cuda/pool.cuh>
#include <tinycnn/kernels/reference/pool.hpp>
#include <tinycnn/tinycnn.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "support/data.hpp"
#include "support/problems.hpp"

#ifdef TINYCNN_HAVE_CUDNN
#include <cudnn.h>
#endif

namespace {

namespace kc = tinycnn::kernels::cuda;
namespace ref = tinycnn::kernels::reference;
using tinycnn::kernels::Pool2dDesc;
using DeviceFloats = tinycnn::Tensor<float, tinycnn::cuda>;
using DeviceInts = tinycnn::Tensor<std::int32_t, tinycnn::cuda>;

struct Layer {
  std::string name;
  Pool2dDesc d;
};

std::vector<Layer> layers() {
  std::vector<Layer> list;
  for (const std::int64_t size : {224, 512}) {
    const std::string at = "@" + std::to_string(size);
    const std::int64_t vgg_c[] = {64, 128, 256, 512, 512};
    for (int i = 0; i < 5; ++i) {
      const std::int64_t hw = size >> i;
      list.push_back({"vgg19_pool" + std::to_string(i + 1) + at,
                      tinycnn::test::pool(1, vgg_c[i], hw, hw, 2, 2, 2, 2)});
    }
    // NIN-ImageNet: conv1 (11x11 stride 4) then 3x3/2 ceil-mode pools of 96, 256, 384 channels.
    std::int64_t hw = (size - 11) / 4 + 1;
    const std::int64_t nin_c[] = {96, 256, 384};
    for (int i = 0; i < 3; ++i) {
      list.push_back({"nin_pool" + std::to_string(i) + at,
                      tinycnn::test::pool(1, nin_c[i], hw, hw, 3, 3, 2, 2, 0, 0, true)});
      hw = Pool2dDesc::out_size(hw, 3, 2, 0, true);
    }
  }
  return list;
}

void check_cuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw tinycnn::Error(std::string(what) + ": " + cudaGetErrorString(e));
}

#ifdef TINYCNN_HAVE_CUDNN
std::string compare_close(const std::vector<float>& got, const std::vector<float>& want,
                          const char* what) {
  double diff2 = 0, ref2 = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    const double dlt = double(got[i]) - double(want[i]);
    diff2 += dlt * dlt, ref2 += double(want[i]) * want[i];
  }
  const double rel = std::sqrt(diff2 / ref2);
  if (!(rel <= 1e-6)) return std::string(what) + ": relative error " + std::to_string(rel);
  return {};
}

void check_cudnn(cudnnStatus_t st, const char* what) {
  if (st != CUDNN_STATUS_SUCCESS)
    throw tinycnn::Error(std::string(what) + ": " + cudnnGetErrorString(st));
}
cudnnHandle_t cudnn_handle() {
  static cudnnHandle_t handle = [] {
    cudnnHandle_t h = nullptr;
    check_cudnn(cudnnCreate(&h), "cudnnCreate");
    check_cudnn(cudnnSetStream(h, tinycnn::cuda_stream()), "cudnnSetStream");
    return h;
  }();
  return handle;
}
#endif

// Everything one layer needs on the GPU, built and checked once.
struct Problem {
  Pool2dDesc d;
  std::int64_t P, Q, in, out;
  DeviceFloats x, y, dy, dx;
  DeviceInts argmax;
#ifdef TINYCNN_HAVE_CUDNN
  // cuDNN has no ceil mode and pads symmetrically: it gets a copy of x grown by the rows and
  // columns ceil mode reaches past the input, filled with -inf (never a window's maximum).
  std::int64_t Hc, Wc;
  DeviceFloats xc, yc, dxc;
  cudnnTensorDescriptor_t x_desc = nullptr, y_desc = nullptr;
  cudnnPoolingDescriptor_t pool_desc = nullptr;
#endif
  std::string error;  // non-empty when a check failed: the benchmark reports it and skips
};

// A buffer twice the size of any current L2, written before each timed run.
DeviceFloats& l2_flush_buffer() {
  static DeviceFloats buffer = DeviceFloats::uninitialized({64 << 20});  // 256 MiB
  return buffer;
}
void flush_l2() {
  auto& b = l2_flush_buffer();
  check_cuda(cudaMemsetAsync(b.data(), 0, b.bytes(), tinycnn::cuda_stream()), "flush L2");
}

std::string compare_exact(const std::vector<float>& got, const std::vector<float>& want,
                          const char* what) {
  for (std::size_t i = 0; i < want.size(); ++i)
    if (got[i] != want[i])
      return std::string(what) + ": mismatch at " + std::to_string(i) + " (" +
             std::to_string(got[i]) + " vs " + std::to_string(want[i]) + ")";
  return {};
}
Problem& problem(const Layer& layer) {
  static std::map<std::string, std::unique_ptr<Problem>> cache;
  auto& slot = cache[layer.name];
  if (slot) return *slot;
  // Kept only once fully built and checked: a throw on the way leaves the slot empty.
  auto built = std::make_unique<Problem>();
  Problem& pb = *built;
  const cudaStream_t s = tinycnn::cuda_stream();
  pb.d = layer.d;
  pb.P = pb.d.p(), pb.Q = pb.d.q();
  pb.in = pb.d.n * pb.d.c * pb.d.h * pb.d.w;
  pb.out = pb.d.n * pb.d.c * pb.P * pb.Q;
  const auto x = tinycnn::test::random_vector<float>(pb.in, 1);
  const auto dy = tinycnn::test::random_vector<float>(pb.out, 2);
  pb.x = DeviceFloats({pb.in}, x);
  pb.dy = DeviceFloats({pb.out}, dy);
  pb.y = DeviceFloats::full({pb.out}, NAN);
  pb.dx = DeviceFloats::full({pb.in}, NAN);
  pb.argmax = DeviceInts::full({pb.out}, -1);

  // Ours against the reference.
  check_cuda(kc::max_pool2d_forward(pb.y.data(), pb.argmax.data(), pb.x.data(), pb.d, s),
             "forward");
  check_cuda(kc::max_pool2d_backward(pb.dx.data(), pb.dy.data(), pb.argmax.data(), pb.d, s),
             "backward");
  std::vector<float> want_y(pb.out), want_dx(pb.in);
  std::vector<std::int32_t> want_arg(pb.out);
  ref::max_pool2d_forward_reference(want_y.data(), want_arg.data(), x.data(), pb.d);
  ref::max_pool2d_backward_reference(want_dx.data(), dy.data(), want_arg.data(), pb.d);
  const auto our_y = pb.y.to_vector(), our_dx = pb.dx.to_vector();
  pb.error = compare_exact(our_y, want_y, "forward vs reference");
  if (pb.error.empty()) pb.error = compare_exact(our_dx, want_dx, "backward vs reference");
  if (pb.error.empty() && pb.argmax.to_vector() != want_arg) pb.error = "argmax vs reference";

#ifdef TINYCNN_HAVE_CUDNN
  const auto& d = pb.d;
  pb.Hc = (pb.P - 1) * d.stride_h + d.kernel_h - 2 * d.pad_h;
  pb.Wc = (pb.Q - 1) * d.stride_w + d.kernel_w - 2 * d.pad_w;
  pb.Hc = std::max(pb.Hc, d.h), pb.Wc = std::max(pb.Wc, d.w);
  pb.xc = DeviceFloats::full({d.n * d.c * pb.Hc * pb.Wc}, -INFINITY);
  for (std::int64_t nc = 0; nc < d.n * d.c; ++nc)
    check_cuda(cudaMemcpy2DAsync(pb.xc.data() + nc * pb.Hc * pb.Wc, pb.Wc * sizeof(float),
                                 pb.x.data() + nc * d.h * d.w, d.w * sizeof(float),
                                 d.w * sizeof(float), d.h, cudaMemcpyDeviceToDevice, s),
               "copy x for cuDNN");
  pb.yc = DeviceFloats::full({pb.out}, NAN);
  pb.dxc = DeviceFloats::full({d.n * d.c * pb.Hc * pb.Wc}, NAN);
  check_cudnn(cudnnCreateTensorDescriptor(&pb.x_desc), "x descriptor");
  check_cudnn(cudnnCreateTensorDescriptor(&pb.y_desc), "y descriptor");
  check_cudnn(cudnnCreatePoolingDescriptor(&pb.pool_desc), "pooling descriptor");
  check_cudnn(cudnnSetTensor4dDescriptor(pb.x_desc, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, int(d.n),
                                         int(d.c), int(pb.Hc), int(pb.Wc)),
              "x descriptor");
  check_cudnn(cudnnSetTensor4dDescriptor(pb.y_desc, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, int(d.n),
                                         int(d.c), int(pb.P), int(pb.Q)),
              "y descriptor");
  check_cudnn(cudnnSetPooling2dDescriptor(pb.pool_desc, CUDNN_POOLING_MAX, CUDNN_PROPAGATE_NAN,
                                          int(d.kernel_h), int(d.kernel_w), int(d.pad_h),
                                          int(d.pad_w), int(d.stride_h), int(d.stride_w)),
              "pooling descriptor");
  int n = 0, c = 0, h = 0, w = 0;
  check_cudnn(cudnnGetPooling2dForwardOutputDim(pb.pool_desc, pb.x_desc, &n, &c, &h, &w),
              "output dim");
  if (pb.error.empty() && (h != pb.P || w != pb.Q))
    pb.error = "cuDNN output " + std::to_string(h) + "x" + std::to_string(w) + " differs from ours";
  const float one = 1, zero = 0;
  check_cudnn(cudnnPoolingForward(cudnn_handle(), pb.pool_desc, &one, pb.x_desc, pb.xc.data(),
                                  &zero, pb.y_desc, pb.yc.data()),
              "cudnnPoolingForward");
  check_cudnn(
      cudnnPoolingBackward(cudnn_handle(), pb.pool_desc, &one, pb.y_desc, pb.yc.data(), pb.y_desc,
                           pb.dy.data(), pb.x_desc, pb.xc.data(), &zero, pb.x_desc, pb.dxc.data()),
      "cudnnPoolingBackward");
  if (pb.error.empty()) pb.error = compare_exact(our_y, pb.yc.to_vector(), "forward vs cuDNN");
  if (pb.error.empty()) {
    // cuDNN's dx has the grown planes: compare the H x W part of each.
    const auto dxc = pb.dxc.to_vector();
    std::vector<float> inner(pb.in);
    for (std::int64_t nc = 0; nc < d.n * d.c; ++nc)
      for (std::int64_t hh = 0; hh < d.h; ++hh)
        std::memcpy(&inner[(nc * d.h + hh) * d.w], &dxc[(nc * pb.Hc + hh) * pb.Wc],
                    d.w * sizeof(float));
    pb.error = compare_close(our_dx, inner, "backward vs cuDNN");
  }
#endif
  slot = std::move(built);
  return *slot;
}

// Times `launch` with CUDA events around it alone, L2 flushed before each run. Returns the mean.
template <class Launch>
double run_timed(benchmark::State& state, double bytes, Launch launch) {
  const cudaStream_t s = tinycnn::cuda_stream();
  cudaEvent_t start, stop;
  check_cuda(cudaEventCreate(&start), "event");
  check_cuda(cudaEventCreate(&stop), "event");
  double total = 0;
  for (auto _ : state) {
    flush_l2();
    check_cuda(cudaEventRecord(start, s), "event record");
    launch();
    check_cuda(cudaEventRecord(stop, s), "event record");
    check_cuda(cudaEventSynchronize(stop), "event sync");
    float ms = 0;
    check_cuda(cudaEventElapsedTime(&ms, start, stop), "elapsed");
    state.SetIterationTime(ms * 1e-3);
    total += ms * 1e-3;
  }
  check_cuda(cudaEventDestroy(start), "event");
  check_cuda(cudaEventDestroy(stop), "event");
  const double mean = total / double(state.iterations());
  // Counter::kIsRate divides by CPU time, not the manual time: form the rate here.
  state.counters["GB/s"] = bytes / mean * 1e-9;
  return mean;
}

std::map<std::string, double>& cudnn_times() {
  static std::map<std::string, double> times;
  return times;
}

void set_ratio(benchmark::State& state, const std::string& key, double ours) {
  const auto it = cudnn_times().find(key);
  if (it != cudnn_times().end()) state.counters["vs_cudnn"] = it->second / ours;
}

void bm_ours_forward(benchmark::State& state, const Layer& layer) {
  Problem& pb = problem(layer);
  if (!pb.error.empty()) return state.SkipWithError(pb.error.c_str());
  const double bytes = 4.0 * double(pb.in + 2 * pb.out);  // x, y, argmax
  const double t = run_timed(state, bytes, [&] {
    check_cuda(kc::max_pool2d_forward(pb.y.data(), pb.argmax.data(), pb.x.data(), pb.d,
                                      tinycnn::cuda_stream()),
               "forward");
  });
  set_ratio(state, "fwd " + layer.name, t);
}

void bm_ours_backward(benchmark::State& state, const Layer& layer) {
  Problem& pb = problem(layer);
  if (!pb.error.empty()) return state.SkipWithError(pb.error.c_str());
  const double bytes = 4.0 * double(2 * pb.out + pb.in);  // dy, argmax, dx
  const double t = run_timed(state, bytes, [&] {
    check_cuda(kc::max_pool2d_backward(pb.dx.data(), pb.dy.data(), pb.argmax.data(), pb.d,
                                       tinycnn::cuda_stream()),
               "backward");
  });
  set_ratio(state, "bwd " + layer.name, t);
}

#ifdef TINYCNN_HAVE_CUDNN
void bm_cudnn_forward(benchmark::State& state, const Layer& layer) {
  Problem& pb = problem(layer);
  if (!pb.error.empty()) return state.SkipWithError(pb.error.c_str());
  const double in = double(pb.d.n * pb.d.c * pb.Hc * pb.Wc);
  const float one = 1, zero = 0;
  cudnn_times()["fwd " + layer.name] = run_timed(state, 4.0 * (in + double(pb.out)), [&] {
    check_cudnn(cudnnPoolingForward(cudnn_handle(), pb.pool_desc, &one, pb.x_desc, pb.xc.data(),
                                    &zero, pb.y_desc, pb.yc.data()),
                "cudnnPoolingForward");
  });
}

void bm_cudnn_backward(benchmark::State& state, const Layer& layer) {
  Problem& pb = problem(layer);
  if (!pb.error.empty()) return state.SkipWithError(pb.error.c_str());
  const double in = double(pb.d.n * pb.d.c * pb.Hc * pb.Wc);
  const float one = 1, zero = 0;
  // y, dy, x read; dx written: cuDNN finds each window's maximum again from x and y.
  cudnn_times()["bwd " + layer.name] = run_timed(state, 4.0 * (2 * in + 2 * double(pb.out)), [&] {
    check_cudnn(cudnnPoolingBackward(cudnn_handle(), pb.pool_desc, &one, pb.y_desc, pb.yc.data(),
                                     pb.y_desc, pb.dy.data(), pb.x_desc, pb.xc.data(), &zero,
                                     pb.x_desc, pb.dxc.data()),
                "cudnnPoolingBackward");
  });
}
#endif

// A CUDA or cuDNN failure (no GPU, say) becomes the benchmark's error instead of an abort.
template <void (*kBody)(benchmark::State&, const Layer&)>
void guarded(benchmark::State& state, const Layer& layer) {
  try {
    kBody(state, layer);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

// cuDNN's row of each layer is registered first, so that ours can report the ratio.
const bool kRegistered = [] {
  for (const auto& layer : layers()) {
#ifdef TINYCNN_HAVE_CUDNN
    benchmark::RegisterBenchmark(("max_pool_forward/cudnn/" + layer.name).c_str(),
                                 guarded<bm_cudnn_forward>, layer)
        ->UseManualTime()
        ->MinTime(0.02)  // microsecond kernels: 0.02 s of GPU time is thousands of samples
        ->Unit(benchmark::kMicrosecond);
#endif
    benchmark::RegisterBenchmark(("max_pool_forward/ours/" + layer.name).c_str(),
                                 guarded<bm_ours_forward>, layer)
        ->UseManualTime()
        ->MinTime(0.02)  // microsecond kernels: 0.02 s of GPU time is thousands of samples
        ->Unit(benchmark::kMicrosecond);
#ifdef TINYCNN_HAVE_CUDNN
    benchmark::RegisterBenchmark(("max_pool_backward/cudnn/" + layer.name).c_str(),
                                 guarded<bm_cudnn_backward>, layer)
        ->UseManualTime()
        ->MinTime(0.02)  // microsecond kernels: 0.02 s of GPU time is thousands of samples
        ->Unit(benchmark::kMicrosecond);
#endif
    benchmark::RegisterBenchmark(("max_pool_backward/ours/" + layer.name).c_str(),
                                 guarded<bm_ours_backward>, layer)
        ->UseManualTime()
        ->MinTime(0.02)  // microsecond kernels: 0.02 s of GPU time is thousands of samples
        ->Unit(benchmark::kMicrosecond);
  }
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
