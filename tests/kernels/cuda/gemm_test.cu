// CUDA gemm_tiled against the reference GEMM: every named size, transpose and (alpha, beta), padded
// and unaligned leading dimensions, misaligned pointers, batches, both tile shapes, zero sizes.
#include <catch2/catch.hpp>

#include <tinycnn/tinycnn.hpp>
#include <tinycnn/kernels/cuda/gemm.cuh>
#include <tinycnn/kernels/reference/gemm.hpp>

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "support/compare.hpp"
#include "support/cuda.hpp"
#include "support/data.hpp"
#include "support/problems.hpp"

using tinycnn::cuda;
using tinycnn::Tensor;
using tinycnn::kernels::GemmDesc;

namespace {

std::int64_t extent(std::int64_t batch, std::int64_t stride, std::int64_t rows, std::int64_t ld) {
  return rows == 0 ? 0 : (batch - 1) * stride + (rows - 1) * ld + ld;
}

// fp32 -> TF32 as cvt.rna.tf32.f32 does it: 10 mantissa bits, round to nearest, ties away from zero.
float round_tf32(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7f800000u) != 0x7f800000u) u = (u + 0x1000u) & 0xffffe000u;
  std::memcpy(&x, &u, 4);
  return x;
}

// The elements of C (inside (M, N) of each batch entry, C starting offset_c floats into v), in
// order: the outputs.
std::vector<float> c_outputs(const std::vector<float>& v, const GemmDesc& d,
                             std::int64_t offset_c = 0) {
  std::vector<float> out;
  for (std::int64_t z = 0; z < d.batch; ++z)
    for (std::int64_t i = 0; i < d.m; ++i)
      for (std::int64_t j = 0; j < d.n; ++j)
        out.push_back(v[offset_c + z * d.stride_c + i * d.ldc + j]);
  return out;
}

// Elsewhere than C's elements the kernel must leave memory as it was: out equals before there
// (exactly; NaN poison stays NaN).
void require_untouched_outside_c(std::vector<float> out, const std::vector<float>& before,
                                 const GemmDesc& d, std::int64_t offset_c = 0) {
  for (std::int64_t z = 0; z < d.batch; ++z)
    for (std::int64_t i = 0; i < d.m; ++i)
      for (std::int64_t j = 0; j < d.n; ++j) {
        const std::int64_t at = offset_c + z * d.stride_c + i * d.ldc + j;
        out[at] = before[at];
      }
  for (std::size_t i = 0; i < out.size(); ++i) {
    INFO("element outside C written at " << i);
    REQUIRE((out[i] == before[i] || (out[i] != out[i] && before[i] != before[i])));
  }
}

// Runs gemm_tiled on d and compares every C element with the reference. offset_* shift the
// operands by that many floats from an aligned allocation (to force scalar loads). tf32: through
// the TF32 tensor-core launcher instead; on a GPU with TF32 MMAs the reference then multiplies the
// operands rounded to TF32 (so 1e-5 still holds, and an unrounded or truncating kernel fails).
void check_gemm(const GemmDesc& d, float alpha, float beta, std::uint64_t salt, int offset_a = 0,
                int offset_b = 0, int offset_c = 0, bool tf32 = false) {
  const std::int64_t rows_a = d.trans_a ? d.k : d.m, rows_b = d.trans_b ? d.n : d.k;
  const std::int64_t size_a = extent(d.batch, d.stride_a, rows_a, d.lda) + offset_a;
  const std::int64_t size_b = extent(d.batch, d.stride_b, rows_b, d.ldb) + offset_b;
  const std::int64_t size_c = extent(d.batch, d.stride_c, d.m, d.ldc) + offset_c;
  const auto a = tinycnn::test::random_vector<float>(size_a, salt * 3 + 1);
  const auto b = tinycnn::test::random_vector<float>(size_b, salt * 3 + 2);
  // beta == 0 must not read C: NaN there would show. Otherwise C holds values to be scaled.
  auto c = beta == 0.f ? tinycnn::test::poisoned_vector<float>(size_c)
                       : tinycnn::test::random_vector<float>(size_c, salt * 3 + 3);
  std::vector<float> ref = c;
  if (beta == 0.f)  // the reference leaves gaps between rows alone; make them comparable
    for (auto& v : ref) v = 0.f;
  const bool rounded = tf32 && !d.trans_b && tinycnn::kernels::cuda::detail::has_tf32_mma();
  auto a_ref = a, b_ref = b;
  if (rounded) {
    for (auto& v : a_ref) v = round_tf32(v);
    for (auto& v : b_ref) v = round_tf32(v);
  }
  tinycnn::kernels::reference::gemm_reference(ref.data() + offset_c, a_ref.data() + offset_a,
                                              b_ref.data() + offset_b, d, alpha, beta);

  Tensor<float, cuda> da({size_a}, a), db({size_b}, b), dc({size_c}, c);
  if (tf32)
    REQUIRE(tinycnn::kernels::cuda::detail::gemm_tiled_with_bias(
                dc.data() + offset_c, da.data() + offset_a, db.data() + offset_b, d, alpha, beta,
                nullptr, tinycnn::cuda_stream(), true) == cudaSuccess);
  else
    REQUIRE(tinycnn::kernels::cuda::gemm_tiled(dc.data() + offset_c, da.data() + offset_a,
                                               db.data() + offset_b, d, alpha, beta,
                                               tinycnn::cuda_stream()) == cudaSuccess);
  const auto out = dc.to_vector();
  require_untouched_outside_c(out, c, d, offset_c);
  TINYCNN_REQUIRE_CLOSE(c_outputs(out, d, offset_c), c_outputs(ref, d, offset_c), 1e-5);
}

GemmDesc with_lds(GemmDesc d, std::int64_t pad_a, std::int64_t pad_b, std::int64_t pad_c) {
  d.lda += pad_a, d.ldb += pad_b, d.ldc += pad_c;
  const std::int64_t rows_a = d.trans_a ? d.k : d.m, rows_b = d.trans_b ? d.n : d.k;
  d.stride_a = rows_a * d.lda, d.stride_b = rows_b * d.ldb, d.stride_c = d.m * d.ldc;
  return d;
}

}  // namespace

TEST_CASE("cuda gemm_tiled: named sizes x transposes x (alpha, beta)", "[cuda][kernels][gemm]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  std::uint64_t salt = 1;
  for (const auto& gc : tinycnn::test::gemm_cases())
    for (int t = 0; t < 4; ++t)
      for (const auto& [alpha, beta] : {std::pair{1.f, 0.f}, std::pair{0.5f, 2.f}}) {
        const bool ta = t & 1, tb = t & 2;
        INFO(gc.name << " trans_a=" << ta << " trans_b=" << tb << " alpha=" << alpha
                     << " beta=" << beta);
        check_gemm(tinycnn::kernels::packed_gemm(gc.m, gc.n, gc.k, ta, tb), alpha, beta, salt++);
      }
}

TEST_CASE("cuda gemm_tiled: padded leading dimensions, unaligned to 4",
          "[cuda][kernels][gemm]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  std::uint64_t salt = 1000;
  for (const auto& gc : tinycnn::test::gemm_cases())
    for (int t = 0; t < 4; ++t) {
      const bool ta = t & 1, tb = t & 2;
      INFO(gc.name << " trans_a=" << ta << " trans_b=" << tb);
      const auto packed = tinycnn::kernels::packed_gemm(gc.m, gc.n, gc.k, ta, tb);
      check_gemm(with_lds(packed, 3, 5, 1), 1.f, 0.f, salt++);
      check_gemm(with_lds(packed, 1, 7, 2), 0.5f, 2.f, salt++);
      // Leading dimensions that are multiples of 4 (16-byte loads allowed) and padded.
      check_gemm(with_lds(packed, 4 - packed.lda % 4, 8 - packed.ldb % 4, 4), 1.f, 0.f, salt++);
    }
}

TEST_CASE("cuda gemm_tiled: misaligned operands fall back to scalar loads",
          "[cuda][kernels][gemm]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  std::uint64_t salt = 2000;
  for (int t = 0; t < 4; ++t) {
    const bool ta = t & 1, tb = t & 2;
    INFO("trans_a=" << ta << " trans_b=" << tb);
    const auto d = tinycnn::kernels::packed_gemm(132, 260, 68, ta, tb);  // ld multiples of 4
    check_gemm(d, 1.f, 0.f, salt++, 1, 2, 3);
    check_gemm(d, 0.5f, 2.f, salt++, 3, 0, 1);
    check_gemm(d, 1.f, 0.f, salt++, 0, 1, 0);
  }
}

TEST_CASE("cuda gemm_tiled: batched", "[cuda][kernels][gemm]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  std::uint64_t salt = 3000;
  for (int t = 0; t < 4; ++t) {
    const bool ta = t & 1, tb = t & 2;
    INFO("trans_a=" << ta << " trans_b=" << tb);
    auto d = tinycnn::kernels::packed_gemm(37, 53, 29, ta, tb);
    d.batch = 5;
    check_gemm(d, 1.f, 0.f, salt++);
    check_gemm(d, 0.5f, 2.f, salt++);
    // Padded strides and leading dimensions; batch entries apart by more than their size.
    auto p = with_lds(d, 2, 3, 5);
    p.stride_a += 7, p.stride_b += 1, p.stride_c += 9;
    check_gemm(p, 1.f, 0.f, salt++);
    check_gemm(p, 0.5f, 2.f, salt++);
    // A shared by all entries (stride 0), as the 1x1 convolution path uses it.
    auto s = d;
    s.stride_a = 0;
    check_gemm(s, 1.f, 0.f, salt++);
    // Enough large tiles (>= SM count) that the 128x128 configuration runs batched.
    auto big = tinycnn::kernels::packed_gemm(1024, 768, 40, ta, tb);
    big.batch = 3;
    check_gemm(big, 0.5f, 2.f, salt++);
  }
}

TEST_CASE("cuda gemm_tiled: large sizes on both tile shapes", "[cuda][kernels][gemm]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  std::uint64_t salt = 4000;
  for (int t = 0; t < 4; ++t) {
    const bool ta = t & 1, tb = t & 2;
    INFO("trans_a=" << ta << " trans_b=" << tb);
    check_gemm(tinycnn::kernels::packed_gemm(1024, 512, 768, ta, tb), 1.f, 0.f, salt++);
    // 12x12 = 144 large tiles: the 128x128 configuration on any GPU with up to 144 SMs.
    check_gemm(tinycnn::kernels::packed_gemm(1536, 1536, 96, ta, tb), 0.5f, 2.f, salt++);
    check_gemm(tinycnn::kernels::packed_gemm(1537, 1541, 131, ta, tb), 1.f, 0.f, salt++);
  }
}

TEST_CASE("cuda gemm on TF32 tensor cores: both tiles, A transposed or not, ragged and unaligned",
          "[cuda][kernels][gemm]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  INFO("TF32 MMAs on this GPU: " << tinycnn::kernels::cuda::detail::has_tf32_mma());
  std::uint64_t salt = 5000;
  for (const bool ta : {false, true}) {
    INFO("trans_a=" << ta);
    for (const auto& gc : tinycnn::test::gemm_cases()) {
      INFO(gc.name);
      check_gemm(tinycnn::kernels::packed_gemm(gc.m, gc.n, gc.k, ta, false), 1.f, 0.f, salt++, 0,
                 0, 0, true);
    }
    // 128x128 tiles (>= SM count), ragged in M, N and K; alpha and beta; a batch.
    check_gemm(tinycnn::kernels::packed_gemm(1537, 1541, 131, ta, false), 0.5f, 2.f, salt++, 0, 0,
               0, true);
    auto big = tinycnn::kernels::packed_gemm(1024, 768, 40, ta, false);
    big.batch = 3;
    check_gemm(big, 1.f, 0.f, salt++, 0, 0, 0, true);
    // 64x64 tiles, batched with padded strides and a shared A (the 1x1 convolution's layout).
    auto small = with_lds(tinycnn::kernels::packed_gemm(37, 53, 29, ta, false), 2, 3, 5);
    small.batch = 5;
    small.stride_b += 1, small.stride_c += 9;
    check_gemm(small, 0.5f, 2.f, salt++, 0, 0, 0, true);
    small.stride_a = 0;
    check_gemm(small, 1.f, 0.f, salt++, 0, 0, 0, true);
    // Scalar loads and stores: misaligned operands and an odd ldc.
    const auto d = tinycnn::kernels::packed_gemm(132, 260, 68, ta, false);
    check_gemm(d, 1.f, 0.f, salt++, 1, 2, 3, true);
    check_gemm(with_lds(d, 1, 3, 1), 0.5f, 2.f, salt++, 0, 0, 0, true);
  }
  // B transposed is not a convolution layout: it stays on fp32 FMAs (1e-5 against the unrounded
  // reference).
  check_gemm(tinycnn::kernels::packed_gemm(300, 200, 100, false, true), 1.f, 0.f, salt++, 0, 0, 0,
             true);
}

// Products of operands that hold TF32 values already (Winograd's batched products): the cp.async
// pipeline (gemm_async.cuh, its three tiles) and the register-staged tiles that skip rounding
// (both) reduce in the same order, so all five must agree bit for bit, and with the reference on
// the same operands within 1e-5. Edges of M, N and K inside a tile and a slice (K not a multiple
// of 4 on rows that are, so the copies zero-fill part of a chunk), more slices than stages,
// batches with padded strides, alpha/beta, bias and ReLU in the epilogue.
TEST_CASE("cuda gemm in TF32: the cp.async pipeline equals the register-staged tiles",
          "[cuda][kernels][gemm]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  namespace kd = tinycnn::kernels::cuda::detail;
  if (!kd::has_tf32_mma()) {
    WARN("no TF32 MMAs on this GPU: the cp.async pipeline is not used here");
    return;
  }
  struct Case {
    std::int64_t m, n, k, batch, pad_a, pad_b, pad_c;
    float alpha, beta;
    bool bias, relu;
  };
  const Case cases[] = {
      {1, 1, 1, 1, 3, 3, 0, 1.f, 0.f, false, false},
      {64, 128, 64, 36, 0, 0, 0, 1.f, 0.f, false, false},   // a 64-channel Winograd pass
      {128, 384, 256, 4, 0, 0, 0, 1.f, 0.f, false, false},  // whole tiles, 8 slices
      {37, 131, 3, 2, 1, 1, 3, 1.f, 0.f, true, true},       // K = 3 in one chunk
      {65, 1000, 33, 1, 3, 0, 1, 0.5f, 2.f, false, false},  // K = 33: a chunk of 1
      {200, 129, 17, 3, 7, 7, 0, 1.f, 0.f, true, false},
      {513, 260, 100, 1, 0, 4, 2, 1.f, 1.f, false, true},
      {130, 70, 250, 2, 2, 2, 5, 2.f, 0.f, true, true},
      {256, 512, 0, 1, 4, 0, 0, 1.f, 0.5f, true, false},  // K = 0: C = beta C + bias
  };
  // Winograd's products (operands TF32 values already) and the 1x1 layers' (rounded in the
  // kernel; A transposed in backward data). B's rows unaligned (H*W not a multiple of 4): the
  // pipeline does not take them; the dispatcher still gives the staged tiles' values.
  struct Mode {
    const char* name;
    bool rounded, trans_a, unaligned_b;
  };
  const Mode modes[] = {{"TF32 operands", true, false, false},
                        {"rounded in the kernel", false, false, false},
                        {"rounded, A transposed", false, true, false},
                        {"B's rows unaligned", false, false, true},
                        {"A transposed, B's rows unaligned", false, true, true}};
  std::uint64_t salt = 7000;
  for (const auto& mode : modes)
    for (const auto& tc : cases) {
      INFO(mode.name << ": m=" << tc.m << " n=" << tc.n << " k=" << tc.k << " batch=" << tc.batch
                     << " alpha=" << tc.alpha << " beta=" << tc.beta << " bias=" << tc.bias
                     << " relu=" << tc.relu);
      GemmDesc d = tinycnn::kernels::packed_gemm(tc.m, tc.n, tc.k, mode.trans_a);
      const std::int64_t rows_a = mode.trans_a ? tc.k : tc.m;
      d.lda = (mode.trans_a ? tc.m : tc.k) + tc.pad_a;
      d.lda = (d.lda + 3) / 4 * 4;  // A's rows 16-byte aligned, as the pipeline requires
      d.ldb = tc.n + tc.pad_b, d.ldc = tc.n + tc.pad_c;
      if (mode.unaligned_b) d.ldb = (d.ldb + 3) / 4 * 4 + 1;
      REQUIRE((d.ldb % 4 == 0) != mode.unaligned_b);
      d.batch = tc.batch;
      d.stride_a = rows_a * d.lda + 4, d.stride_b = tc.k * d.ldb + 8, d.stride_c = tc.m * d.ldc + 3;
      const std::int64_t size_a = tc.batch * d.stride_a, size_b = tc.batch * d.stride_b;
      const std::int64_t size_c = tc.batch * d.stride_c;
      auto a = tinycnn::test::random_vector<float>(size_a, salt++);
      auto b = tinycnn::test::random_vector<float>(size_b, salt++);
      auto a_tf32 = a, b_tf32 = b;
      for (auto& v : a_tf32) v = round_tf32(v);
      for (auto& v : b_tf32) v = round_tf32(v);
      if (mode.rounded) a = a_tf32, b = b_tf32;
      const auto c = tc.beta == 0.f ? tinycnn::test::poisoned_vector<float>(size_c)
                                    : tinycnn::test::random_vector<float>(size_c, salt++);
      const auto bias = tinycnn::test::random_vector<float>(tc.m, salt++);
      std::vector<float> ref = c;
      if (tc.beta == 0.f)
        for (auto& v : ref) v = 0.f;
      tinycnn::kernels::reference::gemm_reference(ref.data(), a_tf32.data(), b_tf32.data(), d,
                                                  tc.alpha, tc.beta);
      std::vector<float> want = c_outputs(ref, d);
      for (std::size_t i = 0; i < want.size(); ++i) {
        const float v = want[i] + (tc.bias ? bias[i / tc.n % tc.m] : 0.f);
        want[i] = tc.relu && !(v > 0.f) ? 0.f : v;
      }

      Tensor<float, cuda> da({size_a}, a), db({size_b}, b), dbias({tc.m}, bias);
      const kd::Epilogue ep(tc.bias ? dbias.data() : nullptr, tc.relu);
      const auto s = tinycnn::cuda_stream();
      const float* pa = da.data();
      const float* pb = db.data();
      auto staged = [&](auto cfg) {
        using Cfg = decltype(cfg);
        return [&, pa, pb](float* out) {
          return mode.trans_a
                     ? kd::dispatch_gemm_vec<Cfg, true, false>(out, pa, pb, d, tc.alpha, tc.beta,
                                                               ep, true, !mode.unaligned_b, s)
                     : kd::dispatch_gemm_vec<Cfg, false, false>(out, pa, pb, d, tc.alpha, tc.beta,
                                                                ep, true, !mode.unaligned_b, s);
        };
      };
      auto async = [&](auto cfg) {
        using Cfg = decltype(cfg);
        return [&, pa, pb](float* out) {
          if (mode.rounded)
            return kd::gemm_tf32_async<Cfg>(out, pa, pb, d, tc.alpha, tc.beta, ep, s);
          return mode.trans_a ? kd::gemm_tf32_async<Cfg, true, true>(out, pa, pb, d, tc.alpha,
                                                                     tc.beta, ep, s)
                              : kd::gemm_tf32_async<Cfg, false, true>(out, pa, pb, d, tc.alpha,
                                                                      tc.beta, ep, s);
        };
      };
      std::vector<std::pair<std::string, std::function<cudaError_t(float*)>>> variants;
      if (!mode.unaligned_b) {
        variants.emplace_back("async 128x128", async(kd::AsyncTileLarge{}));
        variants.emplace_back("async 64x128", async(kd::AsyncTileNarrow{}));
      }
      if (mode.rounded) {
        variants.emplace_back("async 64x64", async(kd::AsyncTileSmall{}));
        variants.emplace_back("staged 128x128", staged(kd::TileLargeTf32Rounded{}));
        variants.emplace_back("staged 64x64", staged(kd::TileSmallTf32Rounded{}));
      } else {
        variants.emplace_back("staged 128x128", staged(kd::TileLargeTf32{}));
        variants.emplace_back("staged 64x64", staged(kd::TileSmallTf32{}));
      }
      variants.emplace_back("dispatcher", [&, pa, pb](float* out) {
        return kd::gemm_tiled_with_bias(out, pa, pb, d, tc.alpha, tc.beta, ep, s, true,
                                        mode.rounded);
      });
      std::vector<float> first;
      for (const auto& [name, run] : variants) {
        INFO(name);
        Tensor<float, cuda> dc({size_c}, c);
        REQUIRE(run(dc.data()) == cudaSuccess);
        const auto out = dc.to_vector();
        require_untouched_outside_c(out, c, d);
        const auto got = c_outputs(out, d);
        TINYCNN_REQUIRE_CLOSE(got, want, 1e-5);
        if (first.empty()) {
          first = got;
        } else {
          std::int64_t differ = 0;
          for (std::size_t i = 0; i < got.size(); ++i)
            differ += std::memcmp(&got[i], &first[i], sizeof(float)) != 0;
          INFO(differ << " of " << got.size() << " outputs differ from the " << variants[0].first
                      << "'s");
          REQUIRE(differ == 0);
        }
      }
      // Whether the dispatcher may take the pipeline; a misaligned operand rules it out.
      CHECK(kd::gemm_tf32_async_fits(pa, pb, d) == !mode.unaligned_b);
      CHECK_FALSE(kd::gemm_tf32_async_fits(pa + 1, pb, d));
      CHECK_FALSE(kd::gemm_tf32_async_fits(pa, pb + 1, d));
    }
}

TEST_CASE("cuda gemm_tiled: zero sizes and K = 0", "[cuda][kernels][gemm]") {
  TINYCNN_REQUIRE_CUDA();
  const auto s = tinycnn::cuda_stream();
  using tinycnn::kernels::cuda::gemm_tiled;
  CHECK(gemm_tiled(nullptr, nullptr, nullptr, tinycnn::kernels::packed_gemm(0, 5, 3), 1.f, 0.f, s) ==
        cudaSuccess);
  CHECK(gemm_tiled(nullptr, nullptr, nullptr, tinycnn::kernels::packed_gemm(4, 0, 3), 1.f, 0.f, s) ==
        cudaSuccess);
  auto empty_batch = tinycnn::kernels::packed_gemm(4, 5, 3);
  empty_batch.batch = 0;
  CHECK(gemm_tiled(nullptr, nullptr, nullptr, empty_batch, 1.f, 0.f, s) == cudaSuccess);
  // K = 0: C = beta * C (and 0 for beta = 0, without reading the NaN there).
  const auto c = tinycnn::test::random_vector<float>(20, 7);
  Tensor<float, cuda> dc({20}, c);
  REQUIRE(gemm_tiled(dc.data(), nullptr, nullptr, tinycnn::kernels::packed_gemm(4, 5, 0), 1.f, 2.f,
                     s) == cudaSuccess);
  auto out = dc.to_vector();
  for (int i = 0; i < 20; ++i) CHECK(out[i] == 2.f * c[i]);
  dc.fill(std::numeric_limits<float>::quiet_NaN());
  REQUIRE(gemm_tiled(dc.data(), nullptr, nullptr, tinycnn::kernels::packed_gemm(4, 5, 0), 1.f, 0.f,
                     s) == cudaSuccess);
  out = dc.to_vector();
  for (int i = 0; i < 20; ++i) CHECK(out[i] == 0.f);
  // Bad descriptors are reported, not launched.
  auto bad = tinycnn::kernels::packed_gemm(4, 5, 3);
  bad.lda = 2;
  CHECK(gemm_tiled(dc.data(), dc.data(), dc.data(), bad, 1.f, 0.f, s) == cudaErrorInvalidValue);
  bad = tinycnn::kernels::packed_gemm(-1, 5, 3);
  CHECK(gemm_tiled(dc.data(), dc.data(), dc.data(), bad, 1.f, 0.f, s) == cudaErrorInvalidValue);
}

namespace {

// Runs kernels::cuda::gram on F (c, m) with row stride ld, shifted `offset` floats from an aligned
// allocation, into G (c, c) with row stride ldg, against the reference GEMM F F^T; gaps in G
// (columns past c) must keep their values.
void check_gram(std::int64_t c, std::int64_t m, std::int64_t ld, std::int64_t ldg, float alpha,
                float beta, int offset, std::uint64_t salt) {
  INFO("C " << c << ", M " << m << ", ld " << ld << ", ldg " << ldg << ", alpha " << alpha
            << ", beta " << beta << ", offset " << offset);
  const std::int64_t size_f = c * ld + offset, size_g = c * ldg;
  const auto f = tinycnn::test::random_vector<float>(size_f, salt * 2 + 1);
  auto g = beta == 0.f ? tinycnn::test::poisoned_vector<float>(size_g)
                       : tinycnn::test::random_vector<float>(size_g, salt * 2 + 2);
  std::vector<float> ref = g;
  if (beta == 0.f)
    for (auto& v : ref) v = 0.f;
  GemmDesc d = tinycnn::kernels::packed_gemm(c, c, m, false, true);
  d.lda = d.ldb = ld;
  d.ldc = ldg;
  tinycnn::kernels::reference::gemm_reference(ref.data(), f.data() + offset, f.data() + offset, d,
                                              alpha, beta);
  Tensor<float, cuda> df({size_f}, f), dg({size_g}, g);
  const std::size_t ws_bytes = tinycnn::kernels::cuda::gram_workspace_bytes(c, m);
  Tensor<unsigned char, cuda> ws({std::int64_t(std::max<std::size_t>(ws_bytes, 1))});
  REQUIRE(tinycnn::kernels::cuda::gram(dg.data(), ldg, df.data() + offset, c, m, ld, alpha, beta,
                                       ws.data(), tinycnn::cuda_stream()) == cudaSuccess);
  auto out = dg.to_vector();
  std::vector<float> got, want;
  for (std::int64_t i = 0; i < c; ++i)
    for (std::int64_t j = 0; j < c; ++j) {
      got.push_back(out[i * ldg + j]);
      want.push_back(ref[i * ldg + j]);
      out[i * ldg + j] = g[i * ldg + j];
    }
  for (std::size_t i = 0; i < out.size(); ++i) {
    INFO("element outside G written at " << i);
    REQUIRE((out[i] == g[i] || (out[i] != out[i] && g[i] != g[i])));
  }
  if (m == 0 && beta == 0.f) {  // G = 0 exactly (the NaN that was there is not read)
    for (float v : got) REQUIRE(v == 0.f);
    return;
  }
  TINYCNN_REQUIRE_CLOSE(got, want, 1e-5);
}

}  // namespace

TEST_CASE("cuda gram: upper tiles only, split along M, mirrored", "[cuda][kernels][gemm]") {
  TINYCNN_REQUIRE_CUDA();
  using tinycnn::kernels::cuda::detail::gram_plan;
  // Small tiles (C < 128) and large ones (C >= 128), one tile or several, ragged edges; reductions
  // split into many chunks, few, or one (a short M), the last chunk shorter.
  struct Case {
    std::int64_t c, m;
  };
  for (const Case k :
       {Case{1, 7}, Case{5, 3}, Case{33, 1000}, Case{64, 5000}, Case{96, 20001}, Case{127, 4099},
        Case{128, 1024}, Case{200, 3000}, Case{259, 9000}, Case{384, 700}, Case{515, 2500},
        Case{64, 300000}, Case{130, 70001}, Case{96, 196}, Case{256, 49}, Case{1024, 4}})
    check_gram(k.c, k.m, k.m, k.c, 1.f, 0.f, 0, std::uint64_t(k.c * 31 + k.m));
  CHECK(gram_plan(96, 260100).chunks > 32);  // the split and its two-level sum are exercised
  CHECK(gram_plan(96, 196).chunks > 1);  // a short reduction of one tile: chunks shorter than 256
  CHECK(gram_plan(96, 196).chunk_k >= 32);
  CHECK(gram_plan(96, 260100).large);
  CHECK(!gram_plan(64, 5000).large);
  // Padded rows, a strided G, beta != 0, and a misaligned F (scalar loads).
  check_gram(96, 1021, 1024, 100, 0.5f, 2.f, 0, 11);
  check_gram(150, 3001, 3001, 150, 1.f, -1.f, 1, 12);
  check_gram(70, 2050, 2053, 73, 2.f, 0.f, 3, 13);
  // M = 0: G = beta * G.
  check_gram(40, 0, 0, 40, 1.f, 0.5f, 0, 14);
  check_gram(40, 0, 0, 40, 1.f, 0.f, 0, 15);
  // Bad arguments are reported, not launched.
  Tensor<float, cuda> buf({64});
  const auto s = tinycnn::cuda_stream();
  using tinycnn::kernels::cuda::gram;
  CHECK(gram(buf.data(), 4, buf.data(), 4, 8, 7, 1.f, 0.f, buf.data(), s) == cudaErrorInvalidValue);
  CHECK(gram(buf.data(), 3, buf.data(), 4, 8, 8, 1.f, 0.f, buf.data(), s) == cudaErrorInvalidValue);
  CHECK(gram(buf.data(), 4, buf.data(), 4, 8, 8, 1.f, 0.f, nullptr, s) == cudaErrorInvalidValue);
  CHECK(gram(buf.data(), 4, buf.data(), -1, 8, 8, 1.f, 0.f, buf.data(), s) ==
        cudaErrorInvalidValue);
  CHECK(gram(nullptr, 0, nullptr, 0, 8, 8, 1.f, 0.f, nullptr, s) == cudaSuccess);
}
