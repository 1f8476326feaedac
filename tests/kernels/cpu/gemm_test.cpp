// Tests the packed CPU GEMM (kernels/cpu/gemm.hpp) against the reference: every named size, the four
// transposes, alpha/beta, strided leading dimensions, batches, each code path and thread split.
#include <catch2/catch.hpp>

#include <tinycnn/kernels/cpu/gemm.hpp>
#include <tinycnn/kernels/reference/gemm.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "support/compare.hpp"
#include "support/data.hpp"
#include "support/problems.hpp"

using tinycnn::kernels::GemmDesc;
namespace cpu = tinycnn::kernels::cpu;
namespace ref = tinycnn::kernels::reference;
namespace test = tinycnn::test;

namespace {

// Operands for `d` with every buffer sized by its leading dimension and batch stride. C is random
// when beta reads it and NaN otherwise (beta == 0 must not read C).
template <class T>
struct GemmData {
  std::vector<T> a, b, c_in;
  GemmData(const GemmDesc& d, T beta, std::uint64_t salt) {
    const std::int64_t a_rows = d.trans_a ? d.k : d.m, b_rows = d.trans_b ? d.n : d.k;
    const std::int64_t a_size = (d.batch - 1) * d.stride_a + a_rows * d.lda;
    const std::int64_t b_size = (d.batch - 1) * d.stride_b + b_rows * d.ldb;
    const std::int64_t c_size = (d.batch - 1) * d.stride_c + d.m * d.ldc;
    a = test::random_vector<T>(a_size, salt);
    b = test::random_vector<T>(b_size, salt + 1);
    c_in = beta == T(0) ? test::poisoned_vector<T>(c_size) : test::random_vector<T>(c_size, salt + 2);
  }
};

// Runs `run(c, a, b)` and the reference on the same inputs; compares the M x N part of every batch
// entry and checks that elements between rows (ldc > N) or between batches were left untouched.
template <class T, class Run>
void check_gemm(const GemmDesc& d, T alpha, T beta, Run run, std::uint64_t salt) {
  GemmData<T> data(d, beta, salt);
  std::vector<T> want = data.c_in, got = data.c_in;
  ref::gemm_reference(want.data(), data.a.data(), data.b.data(), d, alpha, beta);
  run(got.data(), data.a.data(), data.b.data());
  std::vector<T> got_mn, want_mn;
  std::vector<bool> inside(got.size(), false);
  for (std::int64_t bi = 0; bi < d.batch; ++bi)
    for (std::int64_t i = 0; i < d.m; ++i)
      for (std::int64_t j = 0; j < d.n; ++j) {
        const std::int64_t at = bi * d.stride_c + i * d.ldc + j;
        got_mn.push_back(got[at]), want_mn.push_back(want[at]), inside[at] = true;
      }
  TINYCNN_REQUIRE_CLOSE(got_mn, want_mn, test::default_tolerance<T>());
  std::int64_t touched = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const bool same = (std::isnan(got[i]) && std::isnan(data.c_in[i])) || got[i] == data.c_in[i];
    touched += inside[i] || same ? 0 : 1;
  }
  REQUIRE(touched == 0);
}

struct AlphaBeta {
  double alpha, beta;
};
const AlphaBeta kAlphaBetas[] = {{1.0, 0.0}, {0.5, 2.0}};

}  // namespace

TEMPLATE_TEST_CASE("cpu gemm_packed matches the reference over sizes, transposes, alpha/beta",
                   "[cpu][kernels][gemm]", float, double) {
  using T = TestType;
  TINYCNN_SEED_INFO();
  std::uint64_t salt = 1;
  for (const auto& gc : test::gemm_cases())
    for (int t = 0; t < 4; ++t)
      for (const auto& ab : kAlphaBetas) {
        const bool ta = t & 1, tb = t & 2;
        INFO(gc.name << " trans_a=" << ta << " trans_b=" << tb << " alpha=" << ab.alpha
                     << " beta=" << ab.beta);
        const GemmDesc d = tinycnn::kernels::packed_gemm(gc.m, gc.n, gc.k, ta, tb);
        check_gemm<T>(d, T(ab.alpha), T(ab.beta),
                      [&](T* c, const T* a, const T* b) { cpu::gemm_packed(c, a, b, d, T(ab.alpha), T(ab.beta)); },
                      salt += 3);
      }
}

TEMPLATE_TEST_CASE("cpu gemm: the blocked path and the small path each match the reference",
                   "[cpu][kernels][gemm]", float, double) {
  // gemm_packed sends tiny problems to the direct loops and the rest to the blocked path; both are
  // forced here on every case so neither is covered only by the size threshold. Thread counts 1,
  // 2 and 3 exercise the 2-D thread grid, including splits with fewer tiles than threads.
  using T = TestType;
  namespace detail = cpu::detail;
  TINYCNN_SEED_INFO();
  std::uint64_t salt = 1000;
  for (const auto& gc : test::gemm_cases())
    for (int t = 0; t < 4; ++t) {
      const bool ta = t & 1, tb = t & 2;
      const GemmDesc d = tinycnn::kernels::packed_gemm(gc.m, gc.n, gc.k, ta, tb);
      auto view = [&](T* c, const T* a, const T* b) {
        return detail::GemmView<T>{c, a, b, d.m, d.n, d.k, ta, tb, d.lda, d.ldb, d.ldc};
      };
      for (const auto& ab : kAlphaBetas) {
        const T alpha = T(ab.alpha), beta = T(ab.beta);
        INFO(gc.name << " trans_a=" << ta << " trans_b=" << tb << " beta=" << ab.beta);
        {
          INFO("blocked serial");
          check_gemm<T>(d, alpha, beta, [&](T* c, const T* a, const T* b) {
            detail::gemm_blocked_serial(view(c, a, b), alpha, beta);
          }, salt += 3);
        }
        {
          INFO("small");
          check_gemm<T>(d, alpha, beta, [&](T* c, const T* a, const T* b) {
            detail::gemm_small(view(c, a, b), alpha, beta);
          }, salt += 3);
        }
        {
          // op(A) packed whole ahead of time (as Winograd's filters are) gives the blocks that
          // packing per block gives: the same C, bit for bit.
          INFO("blocked serial, A packed whole");
          check_gemm<T>(
              d, alpha, beta,
              [&](T* c, const T* a, const T* b) {
                std::vector<T> packed =
                    test::poisoned_vector<T>(detail::packed_a_size<T>(d.m, d.k));
                detail::pack_a_whole(packed.data(), a, d.lda, ta, d.m, d.k);
                const std::vector<T> c_in(c, c + d.m * d.ldc);
                auto require_same = [&](const T* got, const std::vector<T>& want, const char* how) {
                  for (std::size_t i = 0; i < want.size(); ++i)
                    if (!(got[i] == want[i] || (std::isnan(got[i]) && std::isnan(want[i]))))
                      FAIL("C[" << i << "] = " << got[i] << " " << how << ", " << want[i]
                                << " packed per block");
                };
                // Threads splitting the rows take their share of the packed rows.
                for (int threads : {2, 3}) {
                  std::vector<T> per_block = c_in, whole = c_in;
                  detail::gemm_one(view(per_block.data(), a, b), alpha, beta, threads);
                  detail::gemm_one(view(whole.data(), a, b), alpha, beta, threads, packed.data());
                  require_same(whole.data(), per_block, "on 2-3 threads with A packed whole");
                }
                std::vector<T> per_block = c_in;
                detail::gemm_blocked_serial(view(per_block.data(), a, b), alpha, beta);
                const detail::MatrixPanels<T> panels{b, d.ldb, tb};
                detail::gemm_blocked_serial(view(c, nullptr, b), alpha, beta, panels,
                                            detail::PackedA<T>{packed.data(), d.m});
                require_same(c, per_block, "with A packed whole");
              },
              salt += 3);
        }
        for (int threads : {2, 3}) {
          INFO("threads " << threads);
          check_gemm<T>(d, alpha, beta, [&](T* c, const T* a, const T* b) {
            detail::gemm_one(view(c, a, b), alpha, beta, threads);
          }, salt += 3);
        }
      }
    }
}

TEMPLATE_TEST_CASE("cpu gemm_packed: strided leading dimensions and batches", "[cpu][kernels][gemm]",
                   float, double) {
  using T = TestType;
  TINYCNN_SEED_INFO();
  struct Case {
    std::int64_t m, n, k, batch;
  };
  // Batch counts both divisible and not by the thread count (across-batch and inside-GEMM threads).
  const Case cases[] = {{7, 9, 5, 3}, {33, 31, 65, 2}, {129, 70, 40, 4}, {50, 260, 300, 3}, {1, 1, 1, 5}};
  std::uint64_t salt = 5000;
  for (const auto& cs : cases)
    for (int t = 0; t < 4; ++t)
      for (const auto& ab : kAlphaBetas) {
        GemmDesc d = tinycnn::kernels::packed_gemm(cs.m, cs.n, cs.k, t & 1, t & 2);
        d.lda += 3, d.ldb += 5, d.ldc += 2;  // padding after every row
        const std::int64_t a_rows = d.trans_a ? d.k : d.m, b_rows = d.trans_b ? d.n : d.k;
        d.batch = cs.batch;
        d.stride_a = a_rows * d.lda + 7, d.stride_b = b_rows * d.ldb + 1, d.stride_c = d.m * d.ldc + 4;
        INFO(cs.m << "x" << cs.n << "x" << cs.k << " batch " << cs.batch << " trans " << t
                  << " beta " << ab.beta);
        check_gemm<T>(d, T(ab.alpha), T(ab.beta), [&](T* c, const T* a, const T* b) {
          cpu::gemm_packed(c, a, b, d, T(ab.alpha), T(ab.beta));
        }, salt += 3);
      }
}

TEST_CASE("cpu gemm_packed: several cache blocks in M, N and K", "[cpu][kernels][gemm]") {
  // N > NC (4080), M > MC and K > KC, so every loop around the microkernel runs more than once.
  TINYCNN_SEED_INFO();
  // Two transpose combinations suffice: packing of each is covered by the smaller cases above.
  for (int t : {0, 3}) {
    const GemmDesc d = tinycnn::kernels::packed_gemm(151, 4100, 260, t & 1, t & 2);
    INFO("trans " << t);
    check_gemm<float>(d, 0.5f, 2.0f, [&](float* c, const float* a, const float* b) {
      cpu::gemm_packed(c, a, b, d, 0.5f, 2.0f);
    }, 9000 + t);
  }
  const GemmDesc d = tinycnn::kernels::packed_gemm(77, 4090, 520, false, false);
  check_gemm<double>(d, 1.0, 0.0, [&](double* c, const double* a, const double* b) {
    cpu::gemm_packed(c, a, b, d, 1.0, 0.0);
  }, 9100);
}

TEST_CASE("cpu gemm_packed: K == 0 scales C, and calls from inside a parallel region",
          "[cpu][kernels][gemm]") {
  TINYCNN_SEED_INFO();
  GemmDesc d = tinycnn::kernels::packed_gemm(3, 4, 0);
  std::vector<float> a(1), b(1);
  auto c = test::random_vector<float>(12, 1);
  auto want = c;
  for (auto& x : want) x *= 2.0f;
  cpu::gemm_packed(c.data(), a.data(), b.data(), d, 1.0f, 2.0f);
  CHECK(c == want);
  auto nan_c = test::poisoned_vector<float>(12);
  cpu::gemm_packed(nan_c.data(), a.data(), b.data(), d, 1.0f, 0.0f);
  for (float x : nan_c) REQUIRE(x == 0.0f);

  // Each thread of an enclosing team runs its own GEMM; the kernel must not start nested teams
  // that race on its thread-local packing buffers.
  const GemmDesc big = tinycnn::kernels::packed_gemm(100, 90, 80);
  GemmData<float> data(big, 0.0f, 77);
  std::vector<float> want_c(std::size_t(big.m * big.n));
  ref::gemm_reference(want_c.data(), data.a.data(), data.b.data(), big, 1.0f, 0.0f);
  std::vector<std::vector<float>> outs(4, test::poisoned_vector<float>(big.m * big.n));
#ifdef _OPENMP
#pragma omp parallel for num_threads(2)
#endif
  for (int i = 0; i < 4; ++i) cpu::gemm_packed(outs[i].data(), data.a.data(), data.b.data(), big, 1.0f, 0.0f);
  for (const auto& o : outs) TINYCNN_REQUIRE_CLOSE(o, want_c, 1e-5);
}

TEST_CASE("cpu gram: the blocks on and above the diagonal, mirrored", "[cpu][kernels][gemm]") {
  TINYCNN_SEED_INFO();
  // The blocked path (c >= 256, m >= 512: two block rows, three with a ragged last one, padded
  // rows ld > m) and the full product (c < 256 or short m); against the reference product, and
  // exactly symmetric. m = 0 gives zeros.
  struct Case {
    std::int64_t c, m, ld;
  };
  for (const Case k : {Case{1, 7, 7}, Case{65, 33, 36}, Case{130, 500, 503}, Case{300, 257, 257},
                       Case{256, 512, 512}, Case{300, 600, 603}, Case{520, 1000, 1000}}) {
    INFO("c " << k.c << " m " << k.m << " ld " << k.ld);
    const auto f = test::random_vector<float>(k.c * k.ld, std::uint64_t(k.c * 131 + k.m));
    GemmDesc d = tinycnn::kernels::packed_gemm(k.c, k.c, k.m, false, true);
    d.lda = d.ldb = k.ld;
    std::vector<float> want(std::size_t(k.c * k.c));
    ref::gemm_reference(want.data(), f.data(), f.data(), d, 0.5f, 0.0f);
    auto got = test::poisoned_vector<float>(k.c * k.c);
    cpu::gram(got.data(), f.data(), k.c, k.m, k.ld, 0.5f);
    TINYCNN_REQUIRE_CLOSE(got, want, 1e-5);
    for (std::int64_t i = 0; i < k.c; ++i)
      for (std::int64_t j = 0; j < i; ++j) REQUIRE(got[i * k.c + j] == got[j * k.c + i]);
  }
  std::vector<float> none(1);
  auto zeros = test::poisoned_vector<float>(300 * 300);
  cpu::gram(zeros.data(), none.data(), 300, 0, 0, 1.0f);
  for (float v : zeros) REQUIRE(v == 0.0f);
}
