// CPU convolution (im2col + packed GEMM, Winograd) on the VGG-19 and NIN layers at 64 and 224 px,
// batch 1: forward, backward data, backward filter; and forward and backward data with the
// prepared filter kept between calls (`_kept`: a FilterStore, as a frozen layer's
// ops::ConvFilterCache holds it: transformed for Winograd, which then takes layers with fewer
// blocks, or packed for the direct path's GEMM). Peer:
// benchmarks/torch_cpu_conv.py (PyTorch, same threads). Run: OMP_NUM_THREADS=2 ./cpu_conv_bench
#include <benchmark/benchmark.h>

#include <tinycnn/kernels/cpu/conv.hpp>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "support/problems.hpp"

namespace {

using tinycnn::kernels::Conv2dDesc;
using tinycnn::kernels::FilterStore;
namespace cpu = tinycnn::kernels::cpu;

std::vector<tinycnn::test::ConvCase> layers() {
  std::vector<tinycnn::test::ConvCase> all;
  for (std::int64_t size : {64, 224}) {
    for (auto& c : tinycnn::test::vgg19_conv_cases(size)) all.push_back(c);
    for (auto& c : tinycnn::test::nin_conv_cases(size)) all.push_back(c);
  }
  return all;
}

std::vector<float> random_values(std::int64_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = dist(rng);
  return v;
}

enum Pass {
  kForward = 0,
  kBackwardData = 1,
  kBackwardFilter = 2,
  kForwardKept = 3,
  kBackwardDataKept = 4
};

struct Buffers {
  std::vector<float> x, w, bias, dy, y, dx, dw;
  std::vector<float> kept;  // the transformed filter of the _kept passes
  FilterStore<float> store;
  explicit Buffers(const Conv2dDesc& d)
      : x(random_values(d.n * d.c * d.h * d.w, 1)), w(random_values(d.k * d.c * d.r * d.s, 2)),
        bias(random_values(d.k, 3)), dy(random_values(d.n * d.k * d.p() * d.q(), 4)), y(dy.size()),
        dx(x.size()), dw(w.size()) {}
};

// Sampled check against direct sums in double (a full reference pass at 224 px takes minutes):
// 97 elements spread over the output of the pass, relative error of the sample below 1e-4.
bool sample_matches(const Conv2dDesc& d, const Buffers& b, Pass pass, std::string& why) {
  const std::int64_t P = d.p(), Q = d.q();
  auto X = [&](std::int64_t c, std::int64_t h, std::int64_t w) -> double {
    return h < 0 || h >= d.h || w < 0 || w >= d.w ? 0.0 : b.x[(c * d.h + h) * d.w + w];
  };
  double diff = 0, norm = 0;
  std::mt19937_64 rng(7);
  for (int t = 0; t < 97; ++t) {
    double want = 0, got = 0;
    if (pass == kForward) {
      const std::int64_t k = rng() % d.k, p = rng() % P, q = rng() % Q;
      want = b.bias[k];
      for (std::int64_t c = 0; c < d.c; ++c)
        for (std::int64_t r = 0; r < d.r; ++r)
          for (std::int64_t s = 0; s < d.s; ++s)
            want += X(c, p * d.stride_h - d.pad_h + r * d.dilation_h, q * d.stride_w - d.pad_w + s * d.dilation_w) *
                    b.w[((k * d.c + c) * d.r + r) * d.s + s];
      got = b.y[(k * P + p) * Q + q];
    } else if (pass == kBackwardData) {
      const std::int64_t c = rng() % d.c, h = rng() % d.h, wi = rng() % d.w;
      for (std::int64_t r = 0; r < d.r; ++r)
        for (std::int64_t s = 0; s < d.s; ++s) {
          const std::int64_t ph = h + d.pad_h - r * d.dilation_h, qw = wi + d.pad_w - s * d.dilation_w;
          if (ph < 0 || qw < 0 || ph % d.stride_h || qw % d.stride_w || ph / d.stride_h >= P ||
              qw / d.stride_w >= Q)
            continue;
          for (std::int64_t k = 0; k < d.k; ++k)
            want += double(b.dy[(k * P + ph / d.stride_h) * Q + qw / d.stride_w]) *
                    b.w[((k * d.c + c) * d.r + r) * d.s + s];
        }
      got = b.dx[(c * d.h + h) * d.w + wi];
    } else {
      const std::int64_t k = rng() % d.k, c = rng() % d.c, r = rng() % d.r, s = rng() % d.s;
      for (std::int64_t p = 0; p < P; ++p)
        for (std::int64_t q = 0; q < Q; ++q)
          want += double(b.dy[(k * P + p) * Q + q]) *
                  X(c, p * d.stride_h - d.pad_h + r * d.dilation_h, q * d.stride_w - d.pad_w + s * d.dilation_w);
      got = b.dw[((k * d.c + c) * d.r + r) * d.s + s];
    }
    diff += (got - want) * (got - want), norm += want * want;
  }
  const double rel = std::sqrt(diff / norm);
  why = "sampled relative error " + std::to_string(rel);
  return rel <= 1e-4;
}

// A kept pass with a store where the layer keeps a prepared filter, without where it keeps none.
FilterStore<float>* kept_store(const Conv2dDesc& d, Buffers& b, Pass pass) {
  if (pass != kForwardKept && pass != kBackwardDataKept) return nullptr;
  if (b.kept.empty()) {
    const std::int64_t size = pass == kForwardKept
                                  ? cpu::conv2d_forward_filter_plan<float>(d).size
                                  : cpu::conv2d_backward_data_filter_plan<float>(d).size;
    b.kept.resize(std::size_t(size));
    b.store = {b.kept.data(), false};
  }
  return b.kept.empty() ? nullptr : &b.store;
}

void run_pass(const Conv2dDesc& d, Buffers& b, Pass pass) {
  FilterStore<float>* store = kept_store(d, b, pass);
  if (pass == kForward || pass == kForwardKept)
    cpu::conv2d_forward_im2col(b.y.data(), b.x.data(), b.w.data(), b.bias.data(), d, store);
  if (pass == kBackwardData || pass == kBackwardDataKept)
    cpu::conv2d_backward_data_im2col(b.dx.data(), b.dy.data(), b.w.data(), d, store);
  if (pass == kBackwardFilter) cpu::conv2d_backward_filter_im2col(b.dw.data(), b.dy.data(), b.x.data(), d);
}

void BM_conv(benchmark::State& state, tinycnn::test::ConvCase layer, Pass pass) {
  const Conv2dDesc& d = layer.desc;
  Buffers b(d);
  run_pass(d, b, pass);
  std::string why;
  const Pass checked = pass == kForwardKept        ? kForward
                       : pass == kBackwardDataKept ? kBackwardData
                                                   : pass;
  if (!sample_matches(d, b, checked, why)) {
    state.SkipWithError(why.c_str());
    return;
  }
  for (auto _ : state) {
    run_pass(d, b, pass);
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] = benchmark::Counter(d.flops() * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
#ifdef _OPENMP
  state.counters["threads"] = omp_get_max_threads();
#endif
}

const int kRegistered = [] {
  const char* names[] = {"forward", "backward_data", "backward_filter", "forward_kept",
                         "backward_data_kept"};
  for (const auto& layer : layers())
    for (int pass = 0; pass < 5; ++pass) {
      std::string name = "conv/" + layer.name + "/" + names[pass];
      for (auto& ch : name)
        if (ch == ' ') ch = '_';
      benchmark::RegisterBenchmark(name.c_str(), BM_conv, layer, Pass(pass))
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime()
          ->MinTime(0.2);
    }
  return 0;
}();

}  // namespace

BENCHMARK_MAIN();
