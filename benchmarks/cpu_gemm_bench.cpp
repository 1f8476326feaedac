// CPU GEMM throughput: tinycnn's packed AVX2/FMA sgemm/dgemm against OpenBLAS (same shapes, same
// thread count, same process). Run: OMP_NUM_THREADS=2 ./cpu_gemm_bench
#include <benchmark/benchmark.h>

#include <tinycnn/kernels/cpu/gemm.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef TINYCNN_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace {

using tinycnn::kernels::GemmDesc;

template <class T>
std::vector<T> random_values(std::int64_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  std::vector<T> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = T(dist(rng));
  return v;
}

int bench_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

#ifdef TINYCNN_HAVE_OPENBLAS
void blas_gemm(float* c, const float* a, const float* b, const GemmDesc& d) {
  cblas_sgemm(CblasRowMajor, d.trans_a ? CblasTrans : CblasNoTrans, d.trans_b ? CblasTrans : CblasNoTrans,
              int(d.m), int(d.n), int(d.k), 1.0f, a, int(d.lda), b, int(d.ldb), 0.0f, c, int(d.ldc));
}
void blas_gemm(double* c, const double* a, const double* b, const GemmDesc& d) {
  cblas_dgemm(CblasRowMajor, d.trans_a ? CblasTrans : CblasNoTrans, d.trans_b ? CblasTrans : CblasNoTrans,
              int(d.m), int(d.n), int(d.k), 1.0, a, int(d.lda), b, int(d.ldb), 0.0, c, int(d.ldc));
}

// OpenBLAS gets the same number of threads as tinycnn's OpenMP team.
void match_threads() {
  openblas_set_num_threads(bench_threads());
}

// Best of a few OpenBLAS runs on the shape, in seconds (the peer's time beside ours).
template <class T>
double blas_seconds(T* c, const T* a, const T* b, const GemmDesc& d, std::int64_t reps) {
  double best = 1e30;
  blas_gemm(c, a, b, d);  // warm-up
  for (std::int64_t rep = 0; rep < reps; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    blas_gemm(c, a, b, d);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}
#endif

template <class T>
struct Operands {
  std::vector<T> a, b, c;
  explicit Operands(const GemmDesc& d)
      : a(random_values<T>(d.m * d.k, 1)), b(random_values<T>(d.k * d.n, 2)),
        c(static_cast<std::size_t>(d.m * d.n)) {}
};

GemmDesc shape(const benchmark::State& state) {
  return tinycnn::kernels::packed_gemm(state.range(0), state.range(1), state.range(2), state.range(3) != 0,
                                       state.range(4) != 0);
}

void set_counters(benchmark::State& state, const GemmDesc& d) {
  state.counters["GFLOP/s"] =
      benchmark::Counter(2e-9 * double(d.m) * double(d.n) * double(d.k), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["threads"] = bench_threads();
}

template <class T>
void BM_gemm_packed(benchmark::State& state) {
  const GemmDesc d = shape(state);
  Operands<T> x(d);
#ifdef TINYCNN_HAVE_OPENBLAS
  // Check against the peer before timing: relative L2 error of ours versus OpenBLAS.
  match_threads();
  std::vector<T> peer(x.c.size());
  blas_gemm(peer.data(), x.a.data(), x.b.data(), d);
  tinycnn::kernels::cpu::gemm_packed(x.c.data(), x.a.data(), x.b.data(), d, T(1), T(0));
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < peer.size(); ++i)
    diff += double(x.c[i] - peer[i]) * double(x.c[i] - peer[i]), norm += double(peer[i]) * double(peer[i]);
  if (!(std::sqrt(diff / norm) <= 1e-5)) {
    state.SkipWithError(("output differs from OpenBLAS: rel " + std::to_string(std::sqrt(diff / norm))).c_str());
    return;
  }
#endif
  double ours_s = 1e30;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    tinycnn::kernels::cpu::gemm_packed(x.c.data(), x.a.data(), x.b.data(), d, T(1), T(0));
    benchmark::ClobberMemory();
    ours_s = std::min(ours_s, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  set_counters(state, d);
#ifdef TINYCNN_HAVE_OPENBLAS
  // Best of as many runs on both sides, right after ours, so noise from a shared machine favours
  // neither. Above 1: faster than OpenBLAS.
  const double peer_s =
      blas_seconds(peer.data(), x.a.data(), x.b.data(), d, std::clamp<std::int64_t>(state.iterations(), 3, 30));
  state.counters["vs_openblas"] = peer_s / ours_s;
#endif
}

#ifdef TINYCNN_HAVE_OPENBLAS
template <class T>
void BM_openblas(benchmark::State& state) {
  const GemmDesc d = shape(state);
  Operands<T> x(d);
  match_threads();
  for (auto _ : state) {
    blas_gemm(x.c.data(), x.a.data(), x.b.data(), d);
    benchmark::ClobberMemory();
  }
  set_counters(state, d);
}
#endif

// Square sizes, then the GEMMs of VGG-19 convolutions at 224 px, batch 1: forward
// (K, CRS) x (CRS, PQ); backward data (CRS, K)^T x (K, PQ); backward filter (K, PQ) x (CRS, PQ)^T.
void shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"M", "N", "K", "tA", "tB"});
  for (std::int64_t s : {128, 256, 512, 1024, 2048}) b->Args({s, s, s, 0, 0});
  b->Args({64, 50176, 576, 0, 0});     // conv1_2 forward
  b->Args({128, 12544, 1152, 0, 0});   // conv2_2 forward
  b->Args({256, 3136, 2304, 0, 0});    // conv3_2 forward
  b->Args({512, 784, 4608, 0, 0});     // conv4_2 forward
  b->Args({512, 196, 4608, 0, 0});     // conv5_1 forward
  b->Args({2304, 3136, 256, 1, 0});    // conv3_2 backward data
  b->Args({256, 2304, 3136, 0, 1});    // conv3_2 backward filter
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

// Gram matrices G = F F^T of style layers, F (C, M = H*W): the full product (gemm_packed, as the
// CPU ran them before the twelfth session) against kernels::cpu::gram (the blocks on and above
// the diagonal, mirrored), and OpenBLAS ssyrk (one triangle) as the peer. GFLOP/s count the full
// 2 C^2 M for every variant.
enum class GramVariant { kFull, kSymmetric, kOpenblasSyrk };

void BM_gram(benchmark::State& state, GramVariant v) {
  const std::int64_t c = state.range(0), m = state.range(1);
  const auto f = random_values<float>(c * m, 3);
  std::vector<float> g(static_cast<std::size_t>(c * c));
  GemmDesc d = tinycnn::kernels::packed_gemm(c, c, m, false, true);
  auto run = [&] {
    if (v == GramVariant::kFull)
      tinycnn::kernels::cpu::gemm_packed(g.data(), f.data(), f.data(), d, 1.f, 0.f);
    else if (v == GramVariant::kSymmetric)
      tinycnn::kernels::cpu::gram(g.data(), f.data(), c, m, m, 1.f);
#ifdef TINYCNN_HAVE_OPENBLAS
    else
      cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, int(c), int(m), 1.f, f.data(), int(m),
                  0.f, g.data(), int(c));
#endif
  };
#ifdef TINYCNN_HAVE_OPENBLAS
  match_threads();
#else
  if (v == GramVariant::kOpenblasSyrk) {
    state.SkipWithError("built without OpenBLAS");
    return;
  }
#endif
  for (auto _ : state) {
    run();
    benchmark::ClobberMemory();
  }
  set_counters(state, d);
}

// VGG-19's style layers (relu1_1 .. relu5_1) and NIN's (relu0, relu3, relu7, relu10) at 256 px.
void gram_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"C", "M"});
  const std::pair<std::int64_t, std::int64_t> layers[] = {
      {64, 65536}, {128, 16384}, {256, 4096}, {512, 1024}, {512, 256},
      {96, 3844},  {256, 961},   {384, 225},  {1024, 49}};
  for (const auto& [c, m] : layers) b->Args({c, m});
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

}  // namespace

BENCHMARK_CAPTURE(BM_gram, full, GramVariant::kFull)->Apply(gram_shapes);
BENCHMARK_CAPTURE(BM_gram, symmetric, GramVariant::kSymmetric)->Apply(gram_shapes);
#ifdef TINYCNN_HAVE_OPENBLAS
BENCHMARK_CAPTURE(BM_gram, openblas_syrk, GramVariant::kOpenblasSyrk)->Apply(gram_shapes);
#endif
BENCHMARK_TEMPLATE(BM_gemm_packed, float)->Apply(shapes);
#ifdef TINYCNN_HAVE_OPENBLAS
BENCHMARK_TEMPLATE(BM_openblas, float)->Apply(shapes);
#endif
BENCHMARK_TEMPLATE(BM_gemm_packed, double)->Args({1024, 1024, 1024, 0, 0})->ArgNames({"M", "N", "K", "tA", "tB"})
    ->Unit(benchmark::kMillisecond)->UseRealTime();
#ifdef TINYCNN_HAVE_OPENBLAS
BENCHMARK_TEMPLATE(BM_openblas, double)->Args({1024, 1024, 1024, 0, 0})->ArgNames({"M", "N", "K", "tA", "tB"})
    ->Unit(benchmark::kMillisecond)->UseRealTime();
#endif

BENCHMARK_MAIN();
