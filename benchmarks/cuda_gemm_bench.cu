// gemm_tiled against cuBLAS SGEMM (fp32 FMA, no TF32) on square sizes and VGG-19's convolution
// GEMM shapes at 224 px. Each shape is checked against cuBLAS before it is timed.
// With --tf32: our TF32 tensor-core tiles (the convolutions' products under set_cuda_conv_tf32)
// against cuBLAS in CUBLAS_TF32_TENSOR_OP_MATH, checked against each other within 1e-2; and
// Winograd's batched products of TF32 values (wino/: the register-staged tiles, the cp.async
// pipeline as the library launches it, and other tile shapes of the pipeline) against cuBLAS's
// strided batched product in TF32; and NIN's 1x1 layers' products (pw/: operands not rounded,
// forward and backward data) on the staged tiles and the pipeline against cuBLAS TF32.
//
// Run: build/benchmarks/cuda_gemm_bench [--tf32] --benchmark_min_time=0.05
// Counters: TFLOP/s (from the median iteration) and vs_cublas = cuBLAS time / our time.
#include <benchmark/benchmark.h>
#include <cublas_v2.h>

#include <tinycnn/tinycnn.hpp>
#include <tinycnn/kernels/cuda/gemm.cuh>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "support/problems.hpp"

namespace {

using tinycnn::cuda;
using tinycnn::Tensor;
using tinycnn::kernels::GemmDesc;

struct Shape {
  std::string name;
  std::int64_t m, n, k;
};

std::vector<Shape> shapes() {
  std::vector<Shape> s;
  for (std::int64_t n : {256, 512, 1024, 2048, 4096, 8192})
    s.push_back({"square " + std::to_string(n), n, n, n});
  // Forward GEMM of each VGG-19 layer at 224 px: y(K, P*Q) = w(K, C*R*S) * col(C*R*S, P*Q).
  for (const auto& c : tinycnn::test::vgg19_conv_cases(224))
    s.push_back({c.name, c.desc.k, c.desc.p() * c.desc.q(), c.desc.c * c.desc.r * c.desc.s});
  return s;
}

bool g_tf32 = false;  // --tf32

cublasHandle_t cublas() {
  static cublasHandle_t h = [] {
    cublasHandle_t handle = nullptr;
    if (cublasCreate(&handle) != CUBLAS_STATUS_SUCCESS) std::abort();
    // fp32: plain FMA, no TF32 tensor cores (NVIDIA_TF32_OVERRIDE=0 is also set in main).
    cublasSetMathMode(handle, g_tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH);
    cublasSetStream(handle, tinycnn::cuda_stream());
    return handle;
  }();
  return h;
}

// Row-major C = A * B is column-major C^T = B^T * A^T.
cublasStatus_t cublas_sgemm(float* c, const float* a, const float* b, const Shape& s) {
  const float alpha = 1.f, beta = 0.f;
  return cublasSgemm(cublas(), CUBLAS_OP_N, CUBLAS_OP_N, int(s.n), int(s.m), int(s.k), &alpha, b,
                     int(s.n), a, int(s.k), &beta, c, int(s.n));
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

struct Operands {
  Tensor<float, cuda> a, b, c;
  explicit Operands(const Shape& s)
      : a(random_device(s.m * s.k, 1)), b(random_device(s.k * s.n, 2)), c({s.m * s.n}) {}
};

double relative_error(const std::vector<float>& out, const std::vector<float>& ref) {
  double d2 = 0, r2 = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double d = double(out[i]) - ref[i];
    d2 += d * d, r2 += double(ref[i]) * ref[i];
  }
  return std::isfinite(d2) && r2 > 0 ? std::sqrt(d2 / r2) : INFINITY;
}

std::map<std::string, double>& peer_median_ms() {
  static std::map<std::string, double> m;
  return m;
}

// Milliseconds of one call of f on tinycnn's stream, by CUDA events.
template <class F>
double time_once(F& f) {
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  cudaEventRecord(start, tinycnn::cuda_stream());
  f();
  cudaEventRecord(stop, tinycnn::cuda_stream());
  cudaEventSynchronize(stop);
  float t = 0;
  cudaEventElapsedTime(&t, start, stop);
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return t;
}

double median(std::vector<double> ms) {
  if (ms.empty()) return 0;
  std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
  return ms[ms.size() / 2];
}

// Times f once per benchmark iteration; returns the median in milliseconds.
template <class F>
double timed_loop(benchmark::State& state, F f) {
  std::vector<double> ms;
  for (auto _ : state) {
    ms.push_back(time_once(f));
    state.SetIterationTime(ms.back() * 1e-3);
  }
  return median(ms);
}

// The median of reps timed calls of f (after one untimed), outside a benchmark loop.
template <class F>
double median_ms(int reps, F f) {
  f();
  std::vector<double> ms;
  for (int i = 0; i < reps; ++i) ms.push_back(time_once(f));
  return median(ms);
}

void bm_cublas(benchmark::State& state, Shape s) {
  Operands op(s);
  if (cublas_sgemm(op.c.data(), op.a.data(), op.b.data(), s) != CUBLAS_STATUS_SUCCESS) {
    state.SkipWithError("cublasSgemm failed");
    return;
  }
  const double ms = timed_loop(state, [&] { cublas_sgemm(op.c.data(), op.a.data(), op.b.data(), s); });
  peer_median_ms()[s.name] = ms;
  state.counters["TFLOP/s"] = 2.0 * s.m * s.n * s.k / (ms * 1e-3) / 1e12;
}

void bm_gemm_tiled(benchmark::State& state, Shape s) {
  Operands op(s);
  const GemmDesc d = tinycnn::kernels::packed_gemm(s.m, s.n, s.k);
  auto run = [&] {
    if (g_tf32)
      return tinycnn::kernels::cuda::detail::gemm_tiled_with_bias(
          op.c.data(), op.a.data(), op.b.data(), d, 1.f, 0.f, nullptr, tinycnn::cuda_stream(), true);
    return tinycnn::kernels::cuda::gemm_tiled(op.c.data(), op.a.data(), op.b.data(), d, 1.f, 0.f,
                                              tinycnn::cuda_stream());
  };
  // Correctness first: against cuBLAS on the same operands.
  {
    Tensor<float, cuda> ref = Tensor<float, cuda>::full({s.m * s.n}, 0.f);
    if (cublas_sgemm(ref.data(), op.a.data(), op.b.data(), s) != CUBLAS_STATUS_SUCCESS ||
        run() != cudaSuccess) {
      state.SkipWithError("launch failed");
      return;
    }
    const double err = relative_error(op.c.to_vector(), ref.to_vector());
    state.counters["rel_error_vs_cublas"] = err;
    if (!(err <= (g_tf32 ? 1e-2 : 1e-4))) {
      state.SkipWithError(("relative error vs cuBLAS " + std::to_string(err)).c_str());
      return;
    }
  }
  const double ms = timed_loop(state, [&] { run(); });
  state.counters["TFLOP/s"] = 2.0 * s.m * s.n * s.k / (ms * 1e-3) / 1e12;
  const auto peer = peer_median_ms().find(s.name);
  if (peer != peer_median_ms().end()) state.counters["vs_cublas"] = peer->second / ms;
}

// Gram matrices G = F F^T of style transfer's feature maps F (C, H*W): one product with few tiles
// and a very long K, which gemm_tiled splits along K. Variants of the split (tile shape, blocks
// per SM) against cuBLAS on the same operands.
struct GramShape {
  std::string name;
  std::int64_t c, hw;
};

std::vector<GramShape> gram_shapes() {
  // VGG-19's style layers (relu1_1 .. relu5_1) at 2048 px, relu1_1 at 4096 px, and NIN's style
  // layers (relu0, relu3, relu7, relu10) at 2048 px (their rows padded to a multiple of 4).
  return {{"relu1_1 @2048", 64, 2048 * 2048},  {"relu2_1 @2048", 128, 1024 * 1024},
          {"relu3_1 @2048", 256, 512 * 512},   {"relu4_1 @2048", 512, 256 * 256},
          {"relu5_1 @2048", 512, 128 * 128},   {"relu1_1 @4096", 64, 4096 * 4096},
          {"nin relu0 @2048", 96, 510 * 510},  {"nin relu3 @2048", 256, 255 * 256},
          {"nin relu7 @2048", 384, 127 * 128}, {"nin relu10 @2048", 1024, 63 * 64}};
}

// The general split product on either tile (4 or 8 blocks per SM), and the symmetric Gram kernel
// (upper tiles only) with chunks of at least 256, 512 or 1024.
enum class GramSplit { kSmall4, kSmall8, kLarge2, kLarge4, kSym256, kSym512, kSym1024 };

void bm_gram(benchmark::State& state, GramShape g, int variant) {
  const Shape s{g.name, g.c, g.c, g.hw};
  auto f = random_device(g.c * g.hw, 3);
  Tensor<float, cuda> out({g.c * g.c}), ref({g.c * g.c});
  const GemmDesc d = tinycnn::kernels::packed_gemm(g.c, g.c, g.hw, false, true);
  namespace kd = tinycnn::kernels::cuda::detail;
  const auto v = GramSplit(variant);
  const bool sym = v == GramSplit::kSym256 || v == GramSplit::kSym512 || v == GramSplit::kSym1024;
  const kd::GramPlan plan = kd::gram_plan(g.c, g.hw,
                                          v == GramSplit::kSym256   ? 256
                                          : v == GramSplit::kSym512 ? 512
                                                                    : 1024);
  const kd::SplitK split = v == GramSplit::kSmall4   ? kd::gemm_split_k<kd::TileSmall>(d, 4)
                           : v == GramSplit::kSmall8 ? kd::gemm_split_k<kd::TileSmall>(d, 8)
                           : v == GramSplit::kLarge2 ? kd::gemm_split_k<kd::TileLarge>(d, 2)
                                                     : kd::gemm_split_k<kd::TileLarge>(d, 4);
  if (!sym && split.chunks < 2) {
    state.SkipWithError("not split");
    return;
  }
  Tensor<float, cuda> ws({(sym ? plan.chunks : split.chunks) * g.c * g.c});
  auto run = [&] {
    if (sym)
      return plan.large
                 ? kd::gram_run<kd::TileLarge>(out.data(), g.c, f.data(), g.c, g.hw, g.hw, 1.f, 0.f,
                                               plan, ws.data(), tinycnn::cuda_stream())
                 : kd::gram_run<kd::TileSmall>(out.data(), g.c, f.data(), g.c, g.hw, g.hw, 1.f, 0.f,
                                               plan, ws.data(), tinycnn::cuda_stream());
    const bool small = v == GramSplit::kSmall4 || v == GramSplit::kSmall8;
    return small ? kd::gemm_split_k_run<kd::TileSmall>(out.data(), f.data(), f.data(), d, 1.f, 0.f,
                                                       split, ws.data(), tinycnn::cuda_stream())
                 : kd::gemm_split_k_run<kd::TileLarge>(out.data(), f.data(), f.data(), d, 1.f, 0.f,
                                                       split, ws.data(), tinycnn::cuda_stream());
  };
  const float one = 1.f, zero = 0.f;
  // Row-major G = F F^T is, column-major, X^T X for X = F viewed as (H*W, C).
  auto peer = [&](float* c) {
    return cublasSgemm(cublas(), CUBLAS_OP_T, CUBLAS_OP_N, int(g.c), int(g.c), int(g.hw), &one,
                       f.data(), int(g.hw), f.data(), int(g.hw), &zero, c, int(g.c));
  };
  if (peer(ref.data()) != CUBLAS_STATUS_SUCCESS || run() != cudaSuccess) {
    state.SkipWithError("launch failed");
    return;
  }
  const double err = relative_error(out.to_vector(), ref.to_vector());
  state.counters["rel_error_vs_cublas"] = err;
  if (!(err <= 1e-4)) {
    state.SkipWithError(("relative error vs cuBLAS " + std::to_string(err)).c_str());
    return;
  }
  const double peer_ms = median_ms(20, [&] { peer(ref.data()); });
  const double ms = timed_loop(state, [&] { run(); });
  state.counters["chunks"] = double(sym ? plan.chunks : split.chunks);
  state.counters["TFLOP/s"] = 2.0 * s.m * s.n * s.k / (ms * 1e-3) / 1e12;
  state.counters["cublas_TFLOP/s"] = 2.0 * s.m * s.n * s.k / (peer_ms * 1e-3) / 1e12;
  state.counters["vs_cublas"] = peer_ms / ms;
}

// Winograd's batched products (36 per pass: transformed filter (K, C) times transformed input
// (C, tiles)), whose operands hold TF32 values, on the cp.async pipeline and on the register-staged
// tiles, against cuBLAS's strided batched SGEMM in TF32 on the same operands (--tf32 only).
// Shapes of VGG-16's layers at 2048 px (one pass of at most the workspace's tiles).
struct WinoShape {
  std::string name;
  std::int64_t m, n, k;  // output channels, tiles, input channels
};

std::vector<WinoShape> wino_shapes() {
  return {{"conv1_2 64x64 N=14464", 64, 14464, 64},
          {"conv2_2 128x128 N=32768", 128, 32768, 128},
          {"conv3_2 256x256 N=16384", 256, 16384, 256},
          {"conv4_2 512x512 N=4096", 512, 4096, 512},
          {"conv5_2 512x512 N=1024", 512, 1024, 512},
          {"conv3_1 bwd 128x256 N=16384", 128, 16384, 256},
          {"conv4_1 bwd 256x512 N=4096", 256, 4096, 512}};
}

namespace kd = tinycnn::kernels::cuda::detail;

// The pipeline's tile shapes beside the two the library uses (AsyncTileLarge, AsyncTileNarrow).
enum class WinoVariant {
  kStaged,
  kLibrary,
  kLarge4Stages,
  kLargeK16,
  kWide,
  kTall,
  kLarge4Warps,
  kNarrowK16,
  kNarrowWide,
  kNarrow4Blocks
};

struct WinoVariantInfo {
  WinoVariant v;
  const char* label;
  int rows;  // 64: for products of at most 64 rows; 128: for the others; 0: both
};

std::vector<WinoVariantInfo> wino_variants() {
  return {{WinoVariant::kStaged, "staged", 0},
          {WinoVariant::kLibrary, "async", 0},
          {WinoVariant::kLarge4Stages, "async 128x128x32 4 stages", 128},
          {WinoVariant::kLargeK16, "async 128x128x16 4 stages", 128},
          {WinoVariant::kWide, "async 128x256x32 warps 64x64", 128},
          {WinoVariant::kTall, "async 256x128x32 warps 64x64", 128},
          {WinoVariant::kLarge4Warps, "async 128x128x32 4 warps of 64x64", 128},
          {WinoVariant::kNarrowK16, "async 64x128x16 4 stages", 64},
          {WinoVariant::kNarrowWide, "async 64x256x16 warps 32x64", 64},
          {WinoVariant::kNarrow4Blocks, "async 64x128x32 registers for 4 blocks", 64}};
}

void bm_wino(benchmark::State& state, WinoShape w, WinoVariant variant) {
  constexpr std::int64_t kBatch = 36;
  auto rounded = [](Tensor<float, cuda> t) {
    auto h = t.to_vector();
    for (auto& v : h) {
      std::uint32_t u;
      std::memcpy(&u, &v, 4);
      u = (u + 0x1000u) & 0xffffe000u;  // cvt.rna.tf32 for finite values
      std::memcpy(&v, &u, 4);
    }
    return Tensor<float, cuda>({std::int64_t(h.size())}, h);
  };
  const auto a = rounded(random_device(kBatch * w.m * w.k, 5));
  const auto b = rounded(random_device(kBatch * w.k * w.n, 6));
  Tensor<float, cuda> out({kBatch * w.m * w.n}), ref({kBatch * w.m * w.n});
  GemmDesc d = tinycnn::kernels::packed_gemm(w.m, w.n, w.k);
  d.batch = kBatch, d.stride_a = w.m * w.k, d.stride_b = w.k * w.n, d.stride_c = w.m * w.n;
  const bool narrow = w.m <= kd::TileSmall::kBlockM;
  const auto stream = tinycnn::cuda_stream();
  auto async = [&](auto cfg) {
    using Cfg = decltype(cfg);
    return kd::gemm_tf32_async<Cfg>(out.data(), a.data(), b.data(), d, 1.f, 0.f, nullptr, stream);
  };
  auto run = [&] {
    switch (variant) {
      case WinoVariant::kStaged:
        return narrow
                   ? kd::dispatch_gemm_vec<kd::TileSmallTf32Rounded, false, false>(
                         out.data(), a.data(), b.data(), d, 1.f, 0.f, nullptr, true, true, stream)
                   : kd::dispatch_gemm_vec<kd::TileLargeTf32Rounded, false, false>(
                         out.data(), a.data(), b.data(), d, 1.f, 0.f, nullptr, true, true, stream);
      case WinoVariant::kLibrary:  // the launcher the convolutions call
        return kd::gemm_tiled_with_bias(out.data(), a.data(), b.data(), d, 1.f, 0.f, nullptr,
                                        stream, true, true);
      case WinoVariant::kLarge4Stages:
        return async(kd::AsyncTileConfig<128, 128, 32, 2, 4, 4, 1>{});
      case WinoVariant::kLargeK16:
        return async(kd::AsyncTileConfig<128, 128, 16, 2, 4, 4, 2>{});
      case WinoVariant::kWide:
        return async(kd::AsyncTileConfig<128, 256, 32, 2, 4, 3, 1>{});
      case WinoVariant::kTall:
        return async(kd::AsyncTileConfig<256, 128, 32, 4, 2, 3, 1>{});
      case WinoVariant::kLarge4Warps:
        return async(kd::AsyncTileConfig<128, 128, 32, 2, 2, 3, 2>{});
      case WinoVariant::kNarrowK16:
        return async(kd::AsyncTileConfig<64, 128, 16, 2, 4, 4, 4>{});
      case WinoVariant::kNarrowWide:
        return async(kd::AsyncTileConfig<64, 256, 16, 2, 4, 4, 2>{});
      case WinoVariant::kNarrow4Blocks:  // the tenth session's AsyncTileNarrow (64 registers)
        return async(kd::AsyncTileConfig<64, 128, 32, 2, 4, 3, 4>{});
    }
    return cudaErrorInvalidValue;
  };
  const float one = 1.f, zero = 0.f;
  auto peer = [&] {
    return cublasSgemmStridedBatched(cublas(), CUBLAS_OP_N, CUBLAS_OP_N, int(w.n), int(w.m),
                                     int(w.k), &one, b.data(), int(w.n), w.k * w.n, a.data(),
                                     int(w.k), w.m * w.k, &zero, ref.data(), int(w.n), w.m * w.n,
                                     int(kBatch));
  };
  if (peer() != CUBLAS_STATUS_SUCCESS || run() != cudaSuccess) {
    state.SkipWithError("launch failed");
    return;
  }
  const double err = relative_error(out.to_vector(), ref.to_vector());
  state.counters["rel_error_vs_cublas"] = err;
  if (!(err <= 1e-4)) {  // both multiply the same TF32 values exactly; only the sums' order differs
    state.SkipWithError(("relative error vs cuBLAS " + std::to_string(err)).c_str());
    return;
  }
  const double peer_ms = median_ms(20, peer);
  const double ms = timed_loop(state, [&] { run(); });
  const double flop = 2.0 * kBatch * w.m * w.n * w.k;
  const double bytes = 4.0 * kBatch * (w.m * w.k + w.k * w.n + w.m * w.n);
  state.counters["TFLOP/s"] = flop / (ms * 1e-3) / 1e12;
  state.counters["GB/s"] = bytes / (ms * 1e-3) / 1e9;
  state.counters["cublas_TFLOP/s"] = flop / (peer_ms * 1e-3) / 1e12;
  state.counters["vs_cublas"] = peer_ms / ms;
}

// NIN's 1x1 layers (cccp1, 3, 5, 7) at 2048 px, forward (A: weights (Cout, Cin)) and backward data
// (A transposed), operands not rounded to TF32: the register-staged TF32 tiles against the
// launcher the convolutions call (the cp.async pipeline, rounding in shared memory, where H*W is
// a multiple of 4; the staged tiles elsewhere), against cuBLAS TF32 (--tf32 only).
struct PointwiseShape {
  std::string name;
  std::int64_t m, n, k;  // output rows (channels out, or in for backward data), H*W, reduction
  bool trans_a;
};

std::vector<PointwiseShape> pointwise_shapes() {
  std::vector<PointwiseShape> s;
  for (const auto& [layer, c, hw] :
       {std::tuple{"cccp1", 96, 510 * 510}, std::tuple{"cccp3", 256, 255 * 255},
        std::tuple{"cccp5", 384, 127 * 127}, std::tuple{"cccp7", 1024, 63 * 63}})
    for (const bool backward : {false, true})
      s.push_back({std::string(layer) + (backward ? " bwd " : " fwd ") + std::to_string(c) + "x" +
                       std::to_string(c) + " N=" + std::to_string(hw),
                   c, hw, c, backward});
  return s;
}

void bm_pointwise(benchmark::State& state, PointwiseShape w, bool staged) {
  const auto a = random_device(w.m * w.k, 7);
  const auto b = random_device(w.k * w.n, 8);
  Tensor<float, cuda> out({w.m * w.n}), ref({w.m * w.n});
  const GemmDesc d = tinycnn::kernels::packed_gemm(w.m, w.n, w.k, w.trans_a);
  const auto stream = tinycnn::cuda_stream();
  const bool vec_b = w.n % 4 == 0;
  auto run = [&] {
    if (!staged)  // the launcher the 1x1 convolutions call
      return kd::gemm_tiled_with_bias(out.data(), a.data(), b.data(), d, 1.f, 0.f, nullptr, stream,
                                      true);
    return w.trans_a
               ? kd::dispatch_gemm_vec<kd::TileLargeTf32, true, false>(
                     out.data(), a.data(), b.data(), d, 1.f, 0.f, nullptr, true, vec_b, stream)
               : kd::dispatch_gemm_vec<kd::TileLargeTf32, false, false>(
                     out.data(), a.data(), b.data(), d, 1.f, 0.f, nullptr, true, vec_b, stream);
  };
  const float one = 1.f, zero = 0.f;
  auto peer = [&] {  // row-major C = op(A) B as column-major C^T = B^T op(A)^T
    return cublasSgemm(cublas(), CUBLAS_OP_N, w.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, int(w.n),
                       int(w.m), int(w.k), &one, b.data(), int(w.n), a.data(),
                       int(w.trans_a ? w.m : w.k), &zero, ref.data(), int(w.n));
  };
  if (peer() != CUBLAS_STATUS_SUCCESS || run() != cudaSuccess) {
    state.SkipWithError("launch failed");
    return;
  }
  const double err = relative_error(out.to_vector(), ref.to_vector());
  state.counters["rel_error_vs_cublas"] = err;
  if (!(err <= 1e-2)) {  // each rounds (or truncates) the fp32 operands to TF32 its own way
    state.SkipWithError(("relative error vs cuBLAS " + std::to_string(err)).c_str());
    return;
  }
  const double peer_ms = median_ms(20, peer);
  const double ms = timed_loop(state, [&] { run(); });
  const double flop = 2.0 * w.m * w.n * w.k;
  state.counters["TFLOP/s"] = flop / (ms * 1e-3) / 1e12;
  state.counters["cublas_TFLOP/s"] = flop / (peer_ms * 1e-3) / 1e12;
  state.counters["vs_cublas"] = peer_ms / ms;
}

}  // namespace

int main(int argc, char** argv) {
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--tf32")
      g_tf32 = true;
    else
      argv[kept++] = argv[i];
  }
  argc = kept;
  // Before any CUDA library initialises: the fp32 run keeps cuBLAS off TF32 whatever its default.
  if (!g_tf32) setenv("NVIDIA_TF32_OVERRIDE", "0", 1);
  const std::string peer = g_tf32 ? "cublas_tf32/" : "cublas_sgemm/";
  const std::string ours = g_tf32 ? "gemm_tf32/" : "gemm_tiled/";
  for (const auto& s : shapes()) {
    // Peer first, so our run finds its time for the ratio.
    benchmark::RegisterBenchmark((peer + s.name).c_str(), bm_cublas, s)
        ->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(0.05);
    benchmark::RegisterBenchmark((ours + s.name).c_str(), bm_gemm_tiled, s)
        ->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(0.05);
  }
  if (g_tf32)
    for (const auto& w : wino_shapes())
      for (const auto& v : wino_variants())
        if (v.rows == 0 || (v.rows == 64) == (w.m <= 64))
          benchmark::RegisterBenchmark(("wino/" + w.name + "/" + v.label).c_str(), bm_wino, w, v.v)
              ->UseManualTime()
              ->Unit(benchmark::kMillisecond)
              ->MinTime(0.05);
  if (g_tf32)
    for (const auto& w : pointwise_shapes())
      for (const bool staged : {true, false})
        benchmark::RegisterBenchmark(("pw/" + w.name + (staged ? "/staged" : "/async")).c_str(),
                                     bm_pointwise, w, staged)
            ->UseManualTime()
            ->Unit(benchmark::kMillisecond)
            ->MinTime(0.05);
  if (!g_tf32)
    for (const auto& g : gram_shapes())
      for (const auto& [label, variant] :
           {std::pair{"small x4", 0}, std::pair{"small x8", 1}, std::pair{"large x2", 2},
            std::pair{"large x4", 3}, std::pair{"sym 256", 4}, std::pair{"sym 512", 5},
            std::pair{"sym 1024", 6}})
        benchmark::RegisterBenchmark(("gram/" + g.name + "/" + label).c_str(), bm_gram, g, variant)
            ->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(0.05);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
