// CUDA implicit-GEMM convolution (forward with and without bias, backward data, backward filter)
// against the reference kernels over every parameter case, VGG-19 and NIN layers, both tile shapes,
// split-K in every pass, the direct small-channel backward-data kernel, Winograd F(4x4, 3x3) and
// F(2x2, 5x5), strided layers over their stride phases, TF32 tensor cores, and a ReLU fused into
// the forward on each of those paths.
#include <catch2/catch.hpp>

#include <tinycnn/kernels/cuda/conv.cuh>
#include <tinycnn/kernels/cuda/elementwise.cuh>
#include <tinycnn/kernels/reference/conv.hpp>
#include <tinycnn/kernels/tf32.hpp>
#include <tinycnn/tinycnn.hpp>

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "support/compare.hpp"
#include "support/cuda.hpp"
#include "support/data.hpp"
#include "support/problems.hpp"

using tinycnn::cuda;
using tinycnn::Tensor;
using tinycnn::kernels::Conv2dDesc;
namespace kc = tinycnn::kernels::cuda;
namespace ref = tinycnn::kernels::reference;

namespace {

struct Sizes {
  std::int64_t x, w, y;
};
Sizes sizes(const Conv2dDesc& d) {
  return {d.n * d.c * d.h * d.w, d.k * d.c * d.r * d.s, d.n * d.k * d.p() * d.q()};
}

Tensor<float, cuda> poisoned_device(std::int64_t n) {
  return Tensor<float, cuda>({n}, tinycnn::test::poisoned_vector<float>(n));
}

// A workspace of ws_bytes, poisoned: the kernels must write every partial they later sum.
Tensor<float, cuda> poisoned_workspace(std::size_t ws_bytes) {
  return poisoned_device(std::int64_t((ws_bytes + 3) / 4));
}

// A forward or backward-data entry point with its workspace query: the automatic one
// (implicit GEMM, split-K, direct or Winograd as it chooses) or Winograd called directly.
struct ForwardPath {
  std::function<std::size_t(const Conv2dDesc&)> workspace_bytes;
  std::function<cudaError_t(float*, const float*, const float*, const float*, const Conv2dDesc&,
                            void*, std::size_t)>
      run;
};
struct BackwardDataPath {
  std::function<std::size_t(const Conv2dDesc&)> workspace_bytes;
  std::function<cudaError_t(float*, const float*, const float*, const Conv2dDesc&, void*,
                            std::size_t)>
      run;
};

ForwardPath automatic_forward() {
  return {[](const Conv2dDesc& d) { return kc::conv2d_forward_workspace_bytes(d); },
          [](float* y, const float* x, const float* w, const float* b, const Conv2dDesc& d,
             void* ws, std::size_t bytes) {
            return kc::conv2d_forward_implicit_gemm(y, x, w, b, d, ws, bytes,
                                                    tinycnn::cuda_stream());
          }};
}
BackwardDataPath automatic_backward_data() {
  return {[](const Conv2dDesc& d) { return kc::conv2d_backward_data_workspace_bytes(d); },
          [](float* dx, const float* dy, const float* w, const Conv2dDesc& d, void* ws,
             std::size_t bytes) {
            return kc::conv2d_backward_data_implicit_gemm(dx, dy, w, d, ws, bytes,
                                                          tinycnn::cuda_stream());
          }};
}

void check_forward(const Conv2dDesc& d, bool with_bias, std::uint64_t salt,
                   const ForwardPath& path = automatic_forward(), double tol = 1e-5) {
  INFO("forward, bias=" << with_bias);
  const auto sz = sizes(d);
  const auto x = tinycnn::test::random_vector<float>(sz.x, salt * 7 + 1);
  const auto w = tinycnn::test::random_vector<float>(sz.w, salt * 7 + 2);
  const auto bias = tinycnn::test::random_vector<float>(d.k, salt * 7 + 3);
  std::vector<float> want(sz.y);
  ref::conv2d_forward_reference(want.data(), x.data(), w.data(), with_bias ? bias.data() : nullptr, d);
  Tensor<float, cuda> dx({sz.x}, x), dw({sz.w}, w), db({d.k}, bias);
  auto dy = poisoned_device(sz.y);
  const std::size_t ws_bytes = path.workspace_bytes(d);
  INFO("workspace bytes " << ws_bytes);
  auto ws = poisoned_workspace(ws_bytes);
  const float* b = with_bias ? db.data() : nullptr;
  REQUIRE(path.run(dy.data(), dx.data(), dw.data(), b, d, ws.data(), ws_bytes) == cudaSuccess);
  TINYCNN_REQUIRE_CLOSE(dy.to_vector(), want, tol);
  if (ws_bytes > 0) {  // too small a workspace is refused
    CHECK(path.run(dy.data(), dx.data(), dw.data(), b, d, ws.data(), ws_bytes - 4) ==
          cudaErrorInvalidValue);
    CHECK(path.run(dy.data(), dx.data(), dw.data(), b, d, nullptr, ws_bytes) ==
          cudaErrorInvalidValue);
  }
}

void check_backward_data(const Conv2dDesc& d, std::uint64_t salt,
                         const BackwardDataPath& path = automatic_backward_data(),
                         double tol = 1e-5) {
  INFO("backward data");
  const auto sz = sizes(d);
  const auto dy = tinycnn::test::random_vector<float>(sz.y, salt * 7 + 4);
  const auto w = tinycnn::test::random_vector<float>(sz.w, salt * 7 + 5);
  std::vector<float> want(sz.x);
  ref::conv2d_backward_data_reference(want.data(), dy.data(), w.data(), d);
  Tensor<float, cuda> ddy({sz.y}, dy), dw({sz.w}, w);
  auto ddx = poisoned_device(sz.x);
  const std::size_t ws_bytes = path.workspace_bytes(d);
  INFO("workspace bytes " << ws_bytes);
  auto ws = poisoned_workspace(ws_bytes);
  REQUIRE(path.run(ddx.data(), ddy.data(), dw.data(), d, ws.data(), ws_bytes) == cudaSuccess);
  TINYCNN_REQUIRE_CLOSE(ddx.to_vector(), want, tol);
  if (ws_bytes > 0) {  // too small a workspace is refused
    CHECK(path.run(ddx.data(), ddy.data(), dw.data(), d, ws.data(), ws_bytes - 4) ==
          cudaErrorInvalidValue);
    CHECK(path.run(ddx.data(), ddy.data(), dw.data(), d, nullptr, ws_bytes) ==
          cudaErrorInvalidValue);
  }
}

void check_backward_filter(const Conv2dDesc& d, std::uint64_t salt) {
  INFO("backward filter");
  const auto sz = sizes(d);
  const auto dy = tinycnn::test::random_vector<float>(sz.y, salt * 7 + 6);
  const auto x = tinycnn::test::random_vector<float>(sz.x, salt * 7 + 7);
  std::vector<float> want(sz.w);
  ref::conv2d_backward_filter_reference(want.data(), dy.data(), x.data(), d);
  Tensor<float, cuda> ddy({sz.y}, dy), ddx({sz.x}, x);
  auto ddw = poisoned_device(sz.w);
  const std::size_t ws_bytes = kc::conv2d_backward_filter_workspace_bytes(d);
  INFO("workspace bytes " << ws_bytes);
  // Poisoned too: the kernel must write every partial it later sums.
  auto ws = poisoned_workspace(ws_bytes);
  REQUIRE(kc::conv2d_backward_filter_implicit_gemm(ddw.data(), ddy.data(), ddx.data(), d, ws.data(),
                                                   ws_bytes, tinycnn::cuda_stream()) == cudaSuccess);
  TINYCNN_REQUIRE_CLOSE(ddw.to_vector(), want, 1e-5);
  if (ws_bytes > 0) {  // too small a workspace is refused
    CHECK(kc::conv2d_backward_filter_implicit_gemm(ddw.data(), ddy.data(), ddx.data(), d, ws.data(),
                                                   ws_bytes - 4, tinycnn::cuda_stream()) ==
          cudaErrorInvalidValue);
  }
}

void check_all(const std::vector<tinycnn::test::ConvCase>& cases, std::uint64_t salt) {
  for (const auto& c : cases) {
    INFO(c.name);
    check_forward(c.desc, true, salt++);
    check_forward(c.desc, false, salt++);
    check_backward_data(c.desc, salt++);
    check_backward_filter(c.desc, salt++);
  }
}

}  // namespace

TEST_CASE("cuda conv implicit GEMM: every parameter case", "[cuda][kernels][conv]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  check_all(tinycnn::test::conv_parameter_cases(), 1);
}

TEST_CASE("cuda conv implicit GEMM: VGG-19 layers at 32 px", "[cuda][kernels][conv]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  check_all(tinycnn::test::vgg19_conv_cases(32), 1000);
}

TEST_CASE("cuda conv implicit GEMM: NIN layers at 67 px", "[cuda][kernels][conv]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  check_all(tinycnn::test::nin_conv_cases(67), 2000);
}

TEST_CASE("cuda conv implicit GEMM: batches and the 128x128 tile", "[cuda][kernels][conv]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  using tinycnn::test::conv;
  // Enough 128x128 tiles (>= 132) that the large configuration runs, with partial edge tiles, an
  // odd channel count (scalar filter loads) and a long backward-filter reduction (split-K).
  check_all({{"large 3x3 pad1 k136", conv(1, 16, 130, 130, 136, 3, 3, 1, 1)},
             {"large 3x3 stride2 c5", conv(2, 5, 181, 179, 130, 3, 3, 1, 1, 2, 2)},
             {"large 1x1 batch2", conv(2, 132, 97, 101, 140, 1, 1)},
             {"vgg19 conv1_2 batch 2 @32", conv(2, 64, 32, 32, 64, 3, 3, 1, 1)},
             {"nin conv2 batch 3 @67", conv(3, 96, 8, 8, 256, 5, 5, 2, 2)},
             // C > 8 with stride 2 and a short reduction: the unsplit GEMM backward data skipping
             // nothing (the direct kernel takes C <= 8).
             {"gemm backward data stride 2 c40", conv(2, 40, 61, 59, 24, 3, 3, 1, 1, 2, 2)}},
            3000);
}

TEST_CASE("cuda conv implicit GEMM: empty problems", "[cuda][kernels][conv]") {
  TINYCNN_REQUIRE_CUDA();
  using tinycnn::test::conv;
  const auto s = tinycnn::cuda_stream();
  // Nothing to compute: success without touching the (null) pointers.
  const Conv2dDesc no_images = conv(0, 3, 8, 8, 4, 3, 3, 1, 1);
  CHECK(kc::conv2d_forward_workspace_bytes(no_images) == 0);
  CHECK(kc::conv2d_backward_data_workspace_bytes(no_images) == 0);
  CHECK(kc::conv2d_forward_implicit_gemm(nullptr, nullptr, nullptr, nullptr, no_images, nullptr, 0,
                                         s) == cudaSuccess);
  CHECK(kc::conv2d_backward_data_implicit_gemm(nullptr, nullptr, nullptr, no_images, nullptr, 0,
                                               s) == cudaSuccess);
  // No images but a filter: its gradient is zero, and is written.
  auto dw = poisoned_device(4 * 3 * 9);
  CHECK(kc::conv2d_backward_filter_workspace_bytes(no_images) == 0);
  REQUIRE(kc::conv2d_backward_filter_implicit_gemm(dw.data(), nullptr, nullptr, no_images, nullptr,
                                                   0, s) == cudaSuccess);
  for (float v : dw.to_vector()) CHECK(v == 0.f);
  // A filter larger than the padded input: no output pixel, so dx is zero.
  const Conv2dDesc too_big = conv(1, 2, 3, 3, 2, 5, 5);
  auto dx = poisoned_device(18);
  Tensor<float, cuda> w({2 * 2 * 25});
  CHECK(kc::conv2d_backward_data_workspace_bytes(too_big) == 0);
  REQUIRE(kc::conv2d_backward_data_implicit_gemm(dx.data(), nullptr, w.data(), too_big, nullptr, 0,
                                                 s) == cudaSuccess);
  for (float v : dx.to_vector()) CHECK(v == 0.f);
  // Impossible descriptors are refused.
  CHECK(kc::conv2d_forward_implicit_gemm(dx.data(), dx.data(), dx.data(), nullptr,
                                         conv(1, 2, 3, 3, 2, 3, 3, 0, 0, 0, 1), nullptr, 0, s) ==
        cudaErrorInvalidValue);
}

TEST_CASE("cuda conv implicit GEMM: split-K in forward and backward data", "[cuda][kernels][conv]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  using tinycnn::test::conv;
  // Few output tiles and a long reduction: both passes split C*R*S resp. K*R*S (asserted through
  // the workspace size), on both tile shapes (large: the first, "ragged" forward, stride 2;
  // small: the others), with a last slice shorter than the others and reduction lengths that are
  // not multiples of 4 or 8 (scalar filter loads).
  const std::vector<tinycnn::test::ConvCase> cases = {
      {"large tile, 9 slices (vgg conv4 @14)", conv(1, 256, 14, 14, 256, 3, 3, 1, 1)},
      {"small tile, batch 2, odd sizes", conv(2, 139, 9, 7, 133, 3, 3, 1, 1)},
      {"small tile, 2 slices", conv(1, 64, 10, 10, 64, 3, 3, 1, 1)},
      {"large/small tile, ragged last slice", conv(2, 61, 9, 11, 70, 3, 3, 1, 1)},
      {"stride 2 dilation 2 pad 3", conv(1, 97, 17, 15, 101, 3, 3, 3, 2, 2, 2, 2, 2)},
      {"5x5 stride 3 per-axis pad", conv(2, 45, 19, 23, 38, 5, 5, 2, 1, 3, 3)},
      {"vgg19 conv5_1 @32 (2x2 pixels)", conv(1, 512, 2, 2, 512, 3, 3, 1, 1)},
  };
  std::uint64_t salt = 4000;
  for (const auto& c : cases) {
    INFO(c.name);
    CHECK(kc::conv2d_forward_workspace_bytes(c.desc) > 0);
    CHECK(kc::conv2d_backward_data_workspace_bytes(c.desc) > 0);
    check_forward(c.desc, true, salt++);
    check_forward(c.desc, false, salt++);
    check_backward_data(c.desc, salt++);
  }
}

TEST_CASE("cuda conv backward data: few input channels (direct kernel)", "[cuda][kernels][conv]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  using tinycnn::test::conv;
  // C <= 8 runs on the direct kernel (with a workspace where it splits the output channels, next
  // case): groups of 4 and 8 channels with partial groups, strides 1-4 with dilation and padding
  // (including padding larger than the stride), rows narrower than a warp and longer than a
  // block, and filters whose shared-memory chunk of output channels (8192 / (R*S*group)) does not
  // divide K.
  const std::vector<tinycnn::test::ConvCase> cases = {
      {"c1 3x3", conv(2, 1, 9, 13, 5, 3, 3, 1, 1)},
      {"c3 3x3 (vgg conv1_1)", conv(1, 3, 40, 300, 64, 3, 3, 1, 1)},
      {"c3 11x11 stride 4 (nin conv1), k not a chunk multiple",
       conv(2, 3, 47, 51, 40, 11, 11, 0, 0, 4, 4)},
      {"c4 stride 2 pad 3", conv(1, 4, 21, 20, 7, 5, 5, 3, 3, 2, 2)},
      {"c5 stride 3 dilation 2", conv(2, 5, 25, 29, 9, 3, 3, 2, 1, 3, 3, 2, 2)},
      {"c6 stride 4 dilation 3 pad 5", conv(1, 6, 33, 31, 11, 3, 4, 5, 4, 4, 4, 3, 3)},
      {"c8 per-axis stride 2x3", conv(2, 8, 17, 26, 12, 3, 5, 1, 2, 2, 3)},
      {"c7 7x7 stride 2 pad 3, 700 channels out", conv(1, 7, 23, 19, 700, 7, 7, 3, 3, 2, 2)},
      {"c2 1x1 stride 2", conv(1, 2, 9, 9, 5, 1, 1, 0, 0, 2, 2)},
  };
  std::uint64_t salt = 5000;
  for (const auto& c : cases) {
    INFO(c.name);
    check_backward_data(c.desc, salt++);
  }
}

TEST_CASE("cuda conv backward data: direct kernel blocked over pixels of one phase",
          "[cuda][kernels][conv]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  using tinycnn::test::conv;
  // Images large enough for the blocked variant (4 or 2 pixels per thread, asserted), with phases
  // that have fewer taps than others (11 taps at stride 4: 3, 3, 3, 2), windows reaching past both
  // edges, rows that do not end on a whole group, groups of 4 and 8 channels, per-axis strides.
  struct Blocked {
    tinycnn::test::ConvCase c;
    int pixels;
  };
  const std::vector<Blocked> cases = {
      {{"c3 11x11 stride 4 (nin conv1)", conv(1, 3, 300, 900, 16, 11, 11, 0, 0, 4, 4)}, 4},
      {{"c5 3x3 stride 1 pad 1", conv(1, 5, 250, 510, 8, 3, 3, 1, 1)}, 2},
      {{"c7 5x5 stride 2 pad 2, batch 2", conv(2, 7, 300, 600, 12, 5, 5, 2, 2, 2, 2)}, 4},
      {{"c2 3x5 stride 1x2 pad 1x2", conv(1, 2, 400, 701, 10, 3, 5, 1, 2, 1, 2)}, 4},
  };
  std::uint64_t salt = 5500;
  for (const auto& b : cases) {
    INFO(b.c.name);
    kc::detail::ConvParams p{};
    REQUIRE(kc::detail::make_conv_params(b.c.desc, p));
    REQUIRE(kc::detail::use_direct_backward_data(p));
    CHECK(kc::detail::direct_blocked_pixels(p) == b.pixels);
    check_backward_data(b.c.desc, salt++);
  }
}

TEST_CASE("cuda conv backward data: direct kernel with output channels split over blocks",
          "[cuda][kernels][conv]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  using tinycnn::test::conv;
  // Images too small to fill the GPU one pixel per thread: the output channels in 2-16 slices
  // (asserted), pages of partial sums in the workspace added in order. Slices of several filter
  // chunks with a partial last one (700 = 15 x 44 + 40, chunks of 20), slices fewer than asked
  // (33 channels in slices of 5: 7), K not a multiple of the slices, groups of 8 channels,
  // batch 2, dilation; and images large enough for one slice.
  struct Split {
    tinycnn::test::ConvCase c;
    int splits;
  };
  const std::vector<Split> cases = {
      {{"c3 11x11 stride 4 (nin conv1 at 64 px)", conv(1, 3, 64, 64, 96, 11, 11, 0, 0, 4, 4)}, 16},
      {{"c3 3x3 (vgg conv1_1 at 64 px)", conv(1, 3, 64, 64, 64, 3, 3, 1, 1)}, 16},
      {{"c3 11x11 stride 4, batch 2, k = 40", conv(2, 3, 47, 51, 40, 11, 11, 0, 0, 4, 4)}, 8},
      {{"c5 3x3, 100 blocks", conv(1, 5, 160, 160, 24, 3, 3, 1, 1)}, 4},
      {{"c3 3x3, k = 10", conv(1, 3, 20, 20, 10, 3, 3, 1, 1)}, 2},
      {{"c7 7x7 stride 2 pad 3, 700 channels out", conv(1, 7, 23, 19, 700, 7, 7, 3, 3, 2, 2)}, 16},
      {{"c6 5x3 stride 2 dilation 2, batch 2, k = 33",
        conv(2, 6, 30, 37, 33, 5, 3, 4, 2, 2, 2, 2, 2)},
       7},
      {{"c2 1x1 stride 2, k = 5", conv(1, 2, 9, 9, 5, 1, 1, 0, 0, 2, 2)}, 1},
      {{"c3 3x3 dilation 2, enough pixels", conv(1, 3, 260, 260, 8, 3, 3, 2, 2, 1, 1, 2, 2)}, 1},
  };
  std::uint64_t salt = 5700;
  for (const auto& s : cases) {
    INFO(s.c.name);
    kc::detail::ConvParams p{};
    REQUIRE(kc::detail::make_conv_params(s.c.desc, p));
    REQUIRE(kc::detail::use_direct_backward_data(p));
    REQUIRE(kc::detail::direct_blocked_pixels(p) == 0);
    const auto plan = kc::detail::plan_direct_backward_data(p);
    CHECK(plan.splits == s.splits);
    const std::size_t page = std::size_t(p.n * p.chw) * sizeof(float);
    CHECK(kc::conv2d_backward_data_workspace_bytes(s.c.desc) ==
          (s.splits > 1 ? std::size_t(s.splits) * page : 0));
    check_backward_data(s.c.desc, salt++);
  }
}

namespace {

// Winograd called directly, its tiles in passes bounded by max_workspace bytes.
ForwardPath winograd_forward(std::size_t max_workspace) {
  return {[=](const Conv2dDesc& d) {
            return kc::conv2d_forward_winograd_workspace_bytes(d, max_workspace);
          },
          [=](float* y, const float* x, const float* w, const float* b, const Conv2dDesc& d,
              void* ws, std::size_t bytes) {
            return kc::conv2d_forward_winograd(y, x, w, b, d, ws, bytes, tinycnn::cuda_stream(),
                                               max_workspace);
          }};
}
BackwardDataPath winograd_backward_data(std::size_t max_workspace) {
  return {[=](const Conv2dDesc& d) {
            return kc::conv2d_backward_data_winograd_workspace_bytes(d, max_workspace);
          },
          [=](float* dx, const float* dy, const float* w, const Conv2dDesc& d, void* ws,
              std::size_t bytes) {
            return kc::conv2d_backward_data_winograd(dx, dy, w, d, ws, bytes,
                                                     tinycnn::cuda_stream(), max_workspace);
          }};
}

}  // namespace

TEST_CASE("cuda conv Winograd F(4x4, 3x3), F(2x2, 5x5): forward and backward data",
          "[cuda][kernels][conv]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  using tinycnn::test::conv;
  // Outputs that are not whole 4x4 blocks (scalar stores) and that are (16-byte stores), padding
  // 0, 1, 2 and per axis (backward data pads by 2 - pad), one-pixel outputs, batches whose tiles
  // run on across images, odd channel counts (scalar GEMM loads), and the channel counts of VGG.
  const std::vector<tinycnn::test::ConvCase> cases = {
      {"c5 k3 7x9 pad 1", conv(1, 5, 7, 9, 3, 3, 3, 1, 1)},
      {"c16 k24 batch 2 13x11 pad 0", conv(2, 16, 13, 11, 24, 3, 3)},
      {"c33 k40 20x17 pad 2", conv(1, 33, 20, 17, 40, 3, 3, 2, 2)},
      {"c12 k20 per-axis pad 0/2", conv(2, 12, 10, 23, 20, 3, 3, 0, 2)},
      {"c64 k64 batch 3 32x32 pad 1", conv(3, 64, 32, 32, 64, 3, 3, 1, 1)},
      {"c64 k128 33x31 pad 1", conv(1, 64, 33, 31, 128, 3, 3, 1, 1)},
      {"c7 k9 3x3 pad 0 (one pixel)", conv(2, 7, 3, 3, 9, 3, 3)},
      {"c256 k256 16x16 pad 1 (vgg conv3 @64)", conv(1, 256, 16, 16, 256, 3, 3, 1, 1)},
      {"c512 k512 6x6 pad 1", conv(1, 512, 6, 6, 512, 3, 3, 1, 1)},
      {"5x5: c6 k5 9x7 pad 2", conv(1, 6, 9, 7, 5, 5, 5, 2, 2)},
      {"5x5: c96 k256 27x27 pad 2 (nin conv2 @224)", conv(1, 96, 27, 27, 256, 5, 5, 2, 2)},
      {"5x5: c17 k33 batch 2 12x14 pad 0/4", conv(2, 17, 12, 14, 33, 5, 5, 0, 4)},
      {"5x5: c8 k8 5x5 pad 0 (one pixel)", conv(1, 8, 5, 5, 8, 5, 5)},
  };
  std::uint64_t salt = 6000;
  for (const std::size_t max_ws : {std::size_t(256) << 20, std::size_t(1) << 20}) {
    INFO("max workspace " << max_ws);
    for (const auto& c : cases) {
      INFO(c.name);
      check_forward(c.desc, true, salt++, winograd_forward(max_ws));
      check_forward(c.desc, false, salt++, winograd_forward(max_ws));
      check_backward_data(c.desc, salt++, winograd_backward_data(max_ws));
    }
  }
  // Several passes over the tiles, the last one short: the transformed filter alone (36 * 64 * 128
  // floats) exceeds 1 MiB, so the passes take the minimum of 128 of the 3 x 81 = 243 tiles.
  const Conv2dDesc passes = conv(3, 64, 36, 36, 128, 3, 3, 1, 1);
  kc::detail::WinogradShape shape;
  REQUIRE(kc::detail::winograd_forward_shape(passes, shape, std::size_t(1) << 20));
  CHECK(shape.chunk == 128);
  CHECK(shape.tiles == 243);
  check_forward(passes, true, salt++, winograd_forward(std::size_t(1) << 20));
  check_backward_data(passes, salt++, winograd_backward_data(std::size_t(1) << 20));

  // Only 3x3 and 5x5 stride-1 undilated layers with padding below the filter size.
  const auto s = tinycnn::cuda_stream();
  Tensor<float, cuda> buf({1 << 16});
  float* p = buf.data();
  for (const auto& d : {conv(1, 8, 9, 9, 8, 7, 7, 1, 1), conv(1, 8, 9, 9, 8, 3, 3, 1, 1, 2, 2),
                        conv(1, 8, 9, 9, 8, 3, 3, 2, 2, 1, 1, 2, 2), conv(1, 8, 9, 9, 8, 3, 3, 3, 3),
                        conv(1, 8, 9, 9, 8, 5, 5, 5, 5), conv(1, 8, 9, 9, 8, 3, 5, 1, 2)}) {
    CHECK(kc::conv2d_forward_winograd_workspace_bytes(d) == 0);
    CHECK(kc::conv2d_forward_winograd(p, p, p, nullptr, d, p, 1 << 18, s) == cudaErrorInvalidValue);
    CHECK(kc::conv2d_backward_data_winograd(p, p, p, d, p, 1 << 18, s) == cudaErrorInvalidValue);
  }
}

TEST_CASE("cuda conv: Winograd where it pays, through the automatic entry points",
          "[cuda][kernels][conv]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  using tinycnn::test::conv;
  // 3x3 layers with >= 32 channels on both sides and >= 64 output tiles take Winograd unless
  // TINYCNN_CONV_WINOGRAD=0 (asserted through the workspace size, which is then Winograd's).
  const std::vector<tinycnn::test::ConvCase> cases = {
      {"vgg19 conv1_2 @64", conv(1, 64, 64, 64, 64, 3, 3, 1, 1)},
      {"vgg19 conv2_1 batch 2 @64", conv(2, 64, 32, 32, 128, 3, 3, 1, 1)},
      {"vgg19 conv3_1 batch 2 @128", conv(2, 128, 32, 32, 256, 3, 3, 1, 1)},
      {"nin conv3 @512 (64 tiles)", conv(1, 256, 31, 31, 384, 3, 3, 1, 1)},
      {"nin conv2 @224 (5x5, 196 tiles)", conv(1, 96, 27, 27, 256, 5, 5, 2, 2)},
  };
  // Too few tiles (VGG conv5_1 at 224 px: 16) or channels (conv1_1): implicit GEMM.
  kc::detail::WinogradShape few;
  REQUIRE(kc::detail::winograd_forward_shape(conv(1, 512, 14, 14, 512, 3, 3, 1, 1), few));
  CHECK_FALSE(kc::detail::winograd_pays(few));
  REQUIRE(kc::detail::winograd_forward_shape(conv(1, 3, 224, 224, 64, 3, 3, 1, 1), few));
  CHECK_FALSE(kc::detail::winograd_pays(few));
  const bool enabled = kc::detail::winograd_mode() != 0;
  std::uint64_t salt = 7000;
  for (const auto& c : cases) {
    INFO(c.name);
    if (enabled) {
      CHECK(kc::conv2d_forward_workspace_bytes(c.desc) ==
            kc::conv2d_forward_winograd_workspace_bytes(c.desc));
      CHECK(kc::conv2d_backward_data_workspace_bytes(c.desc) ==
            kc::conv2d_backward_data_winograd_workspace_bytes(c.desc));
    }
    check_forward(c.desc, true, salt++);
    check_backward_data(c.desc, salt++);
  }
}

namespace {

// The phase path called directly (conv_phases.cuh): a strided layer as a stride-1 one.
ForwardPath phases_forward() {
  return {[](const Conv2dDesc& d) { return kc::conv2d_forward_phases_workspace_bytes(d); },
          [](float* y, const float* x, const float* w, const float* b, const Conv2dDesc& d,
             void* ws, std::size_t bytes) {
            return kc::conv2d_forward_phases(y, x, w, b, d, ws, bytes, tinycnn::cuda_stream());
          }};
}
BackwardDataPath phases_backward_data() {
  return {[](const Conv2dDesc& d) { return kc::conv2d_backward_data_phases_workspace_bytes(d); },
          [](float* dx, const float* dy, const float* w, const Conv2dDesc& d, void* ws,
             std::size_t bytes) {
            return kc::conv2d_backward_data_phases(dx, dy, w, d, ws, bytes, tinycnn::cuda_stream());
          }};
}

}  // namespace

TEST_CASE("cuda conv: strided layers as stride-1 layers over their stride phases",
          "[cuda][kernels][conv]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  using tinycnn::test::conv;
  // Filters that are and are not multiples of the stride (zero taps in the rearranged filter),
  // per-axis strides and paddings (also padding above the stride), images that end inside a
  // window or past the last one (pixels no window covers: zero gradient), one output pixel,
  // batches, and stride-1 forms of every kind: 3x3 Winograd (11x11 stride 4, 5x5 stride 2), 2x2
  // implicit GEMM (3x3 stride 2), 1x1 GEMM (4x4 stride 4).
  const std::vector<tinycnn::test::ConvCase> cases = {
      {"nin conv1 @67", conv(1, 3, 67, 67, 96, 11, 11, 0, 0, 4, 4)},
      {"nin conv1 batch 2 @139x135 (Winograd inside)",
       conv(2, 3, 139, 135, 96, 11, 11, 0, 0, 4, 4)},
      {"11x11 stride 4 pad 2, ragged edges", conv(1, 3, 70, 63, 40, 11, 11, 2, 2, 4, 4)},
      {"3x3 stride 2 pad 1, c40 batch 2", conv(2, 40, 33, 30, 24, 3, 3, 1, 1, 2, 2)},
      {"5x5 stride 2 per-axis pad 2/1", conv(1, 7, 29, 26, 12, 5, 5, 2, 1, 2, 2)},
      {"7x5 stride 3x2 pad 3x1", conv(1, 5, 31, 24, 9, 7, 5, 3, 1, 3, 2)},
      {"4x4 stride 4 (patches), batch 2", conv(2, 3, 32, 36, 16, 4, 4, 0, 0, 4, 4)},
      {"5x5 stride 2 pad 3 (pad above stride)", conv(1, 4, 21, 20, 7, 5, 5, 3, 3, 2, 2)},
      {"3x3 stride 1x2", conv(1, 6, 17, 19, 10, 3, 3, 1, 1, 1, 2)},
      {"11x11 stride 4, one output pixel", conv(1, 3, 13, 11, 8, 11, 11, 0, 0, 4, 4)},
  };
  std::uint64_t salt = 9000;
  for (const auto& c : cases) {
    INFO(c.name);
    CHECK(kc::conv2d_forward_phases_workspace_bytes(c.desc) > 0);
    CHECK(kc::conv2d_backward_data_phases_workspace_bytes(c.desc) > 0);
    check_forward(c.desc, true, salt++, phases_forward());
    check_forward(c.desc, false, salt++, phases_forward());
    check_backward_data(c.desc, salt++, phases_backward_data());
  }
  // The automatic entry points take it where the stride-1 layer runs on Winograd that pays, over
  // at least 1024 blocks (NIN conv1 from 512 px), unless TINYCNN_CONV_PHASES or
  // TINYCNN_CONV_WINOGRAD turn it off; by default not for fewer blocks, nor where the stride-1
  // layer would be implicit GEMM.
  const Conv2dDesc nin = conv(1, 3, 515, 515, 96, 11, 11, 0, 0, 4, 4);  // 32 x 32 blocks
  if (kc::detail::phase_mode() == 1 ||
      (kc::detail::phase_mode() == 2 && kc::detail::winograd_mode() != 0)) {
    CHECK(kc::conv2d_forward_workspace_bytes(nin) ==
          kc::conv2d_forward_phases_workspace_bytes(nin));
    CHECK(kc::conv2d_backward_data_workspace_bytes(nin) ==
          kc::conv2d_backward_data_phases_workspace_bytes(nin));
  }
  if (kc::detail::phase_mode() == 2) {
    for (const auto& c : {cases[1], cases[3]}) {
      INFO(c.name);
      CHECK(kc::conv2d_forward_workspace_bytes(c.desc) !=
            kc::conv2d_forward_phases_workspace_bytes(c.desc));
    }
  }
  check_forward(nin, true, salt++);
  check_backward_data(nin, salt++);
  // Stride-1 and dilated layers are refused.
  const auto st = tinycnn::cuda_stream();
  Tensor<float, cuda> buf({1 << 16});
  float* p = buf.data();
  for (const auto& d :
       {conv(1, 8, 9, 9, 8, 3, 3, 1, 1), conv(1, 8, 19, 19, 8, 3, 3, 2, 2, 2, 2, 2, 2),
        conv(1, 8, 9, 9, 8, 11, 11, 0, 0, 4, 4)}) {
    CHECK(kc::conv2d_forward_phases_workspace_bytes(d) == 0);
    CHECK(kc::conv2d_backward_data_phases_workspace_bytes(d) == 0);
    CHECK(kc::conv2d_forward_phases(p, p, p, nullptr, d, p, 1 << 18, st) == cudaErrorInvalidValue);
    CHECK(kc::conv2d_backward_data_phases(p, p, p, d, p, 1 << 18, st) == cudaErrorInvalidValue);
  }
}

namespace {

// Turns TF32 convolutions on or off for one scope and restores the previous setting (the switch
// behind tinycnn::set_cuda_conv_tf32, which tests/ops/ops_test.cu exercises).
struct ConvTf32Scope {
  bool was = tinycnn::kernels::tf32_conv();
  explicit ConvTf32Scope(bool on) { tinycnn::kernels::tf32_conv_switch().store(on); }
  ~ConvTf32Scope() { tinycnn::kernels::tf32_conv_switch().store(was); }
};

// Forward of d through the automatic entry point, as a host vector.
std::vector<float> forward_once(const Conv2dDesc& d, const Tensor<float, cuda>& x,
                                const Tensor<float, cuda>& w) {
  auto y = poisoned_device(sizes(d).y);
  const std::size_t ws_bytes = kc::conv2d_forward_workspace_bytes(d);
  auto ws = poisoned_workspace(ws_bytes);
  REQUIRE(kc::conv2d_forward_implicit_gemm(y.data(), x.data(), w.data(), nullptr, d, ws.data(),
                                           ws_bytes, tinycnn::cuda_stream()) == cudaSuccess);
  return y.to_vector();
}

}  // namespace

TEST_CASE("cuda conv on TF32 tensor cores: Winograd, 1x1, implicit GEMM, phases; per launch",
          "[cuda][kernels][conv]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  using tinycnn::test::conv;
  const bool tensor_cores = kc::detail::has_tf32_mma();
  INFO("TF32 MMAs on this GPU: " << tensor_cores);
  // TF32 keeps 11 significant bits (unit roundoff 2^-11 = 4.9e-4); Winograd's transforms amplify
  // rounding about tenfold over a direct sum (user guide). Bounds a few times the errors measured
  // on an H200 (run with -s to print them).
  constexpr double kTolDirect = 2e-3, kTolWinograd = 1e-2;
  const std::vector<tinycnn::test::ConvCase> winograd = {
      {"c64 k64 batch 2 32x32 pad 1", conv(2, 64, 32, 32, 64, 3, 3, 1, 1)},
      {"c33 k40 20x17 pad 2 (odd channels)", conv(1, 33, 20, 17, 40, 3, 3, 2, 2)},
      {"c256 k256 16x16 pad 1", conv(1, 256, 16, 16, 256, 3, 3, 1, 1)},
      {"5x5: c96 k256 27x27 pad 2", conv(1, 96, 27, 27, 256, 5, 5, 2, 2)},
  };
  const std::vector<tinycnn::test::ConvCase> pointwise = {
      {"1x1: c96 k192 batch 2 27x27 (nin cccp)", conv(2, 96, 27, 27, 192, 1, 1)},
      {"1x1: c5 k7 9x9 (scalar loads)", conv(1, 5, 9, 9, 7, 1, 1)},
      {"1x1: c384 k1000 6x6 (nin cccp8 @224)", conv(1, 384, 6, 6, 1000, 1, 1)},
  };
  // Implicit GEMM on both tile shapes, 32-bit offsets, split or not (backward data with C > 8).
  const std::vector<tinycnn::test::ConvCase> implicit = {
      {"c3 k64 3x3 180x200 (vgg conv1_1)", conv(1, 3, 180, 200, 64, 3, 3, 1, 1)},
      {"c40 k24 3x3 stride 2 batch 2", conv(2, 40, 61, 59, 24, 3, 3, 1, 1, 2, 2)},
      {"c256 k256 3x3 14x14 (split-K)", conv(1, 256, 14, 14, 256, 3, 3, 1, 1)},
      {"c13 k21 5x3 dilation 2 (scalar loads)", conv(1, 13, 23, 19, 21, 5, 3, 2, 1, 1, 1, 2, 2)},
  };
  // Over phases: 3x3 Winograd inside (NIN conv1), 2x2 implicit GEMM inside.
  const std::vector<tinycnn::test::ConvCase> strided = {
      {"nin conv1 @139", conv(1, 3, 139, 139, 96, 11, 11, 0, 0, 4, 4)},
      {"3x3 stride 2 pad 1, c40", conv(2, 40, 33, 30, 24, 3, 3, 1, 1, 2, 2)},
  };
  std::uint64_t salt = 8000;
  {
    const ConvTf32Scope on(true);
    REQUIRE(tinycnn::kernels::tf32_conv());
    for (const std::size_t max_ws : {std::size_t(256) << 20, std::size_t(1) << 20})
      for (const auto& c : winograd) {
        INFO(c.name << ", max workspace " << max_ws);
        check_forward(c.desc, true, salt++, winograd_forward(max_ws), kTolWinograd);
        check_backward_data(c.desc, salt++, winograd_backward_data(max_ws), kTolWinograd);
      }
    for (const auto& c : pointwise) {
      INFO(c.name);
      check_forward(c.desc, true, salt++, automatic_forward(), kTolDirect);
      check_backward_data(c.desc, salt++, automatic_backward_data(), kTolDirect);
    }
    for (const auto& c : implicit) {
      INFO(c.name);
      check_forward(c.desc, true, salt++, automatic_forward(), kTolDirect);
      check_backward_data(c.desc, salt++, automatic_backward_data(), kTolDirect);
    }
    for (const auto& c : strided) {
      INFO(c.name);
      check_forward(c.desc, true, salt++, phases_forward(), kTolWinograd);
      check_backward_data(c.desc, salt++, phases_backward_data(), kTolWinograd);
    }
  }
  // The switch takes effect at the next launch: on a GPU with TF32 MMAs the result moves by
  // about TF32's rounding when it is on, and is the fp32 one, bit for bit, once it is off again.
  for (const auto& c : {winograd[0], pointwise[0], implicit[0]}) {
    INFO(c.name);
    const auto sz = sizes(c.desc);
    Tensor<float, cuda> x({sz.x}, tinycnn::test::random_vector<float>(sz.x, salt++));
    Tensor<float, cuda> w({sz.w}, tinycnn::test::random_vector<float>(sz.w, salt++));
    std::vector<float> fp32, tf32, again;
    {
      const ConvTf32Scope off(false);
      fp32 = forward_once(c.desc, x, w);
    }
    {
      const ConvTf32Scope on(true);
      tf32 = forward_once(c.desc, x, w);
    }
    {
      const ConvTf32Scope off(false);
      again = forward_once(c.desc, x, w);
    }
    CHECK(again == fp32);
    const auto moved = tinycnn::test::compare(tf32.data(), fp32.data(), std::int64_t(fp32.size()));
    INFO("TF32 against fp32: " << moved.describe(0));
    if (tensor_cores)
      CHECK(moved.rel_error > 1e-5);
    else
      CHECK(moved.rel_error == 0);
  }
}

TEST_CASE("cuda conv 1x1: products with very few tiles split along the reduction",
          "[cuda][kernels][conv]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  using tinycnn::test::conv;
  // One image, few 64x64 tiles: the reduction in chunks (asserted, forward / backward data), the
  // pages added in order with the bias; the last chunk shorter (100 = 48 + 48 + 4); fp32 and TF32.
  // Not split: two images, or enough tiles.
  struct Split {
    tinycnn::test::ConvCase c;
    std::int64_t forward, backward;
  };
  const std::vector<Split> cases = {
      {{"nin cccp1 @64", conv(1, 96, 14, 14, 96, 1, 1)}, 3, 3},
      {{"nin cccp3 @64", conv(1, 256, 7, 7, 256, 1, 1)}, 8, 8},
      {{"nin cccp5 @64", conv(1, 384, 3, 3, 384, 1, 1)}, 12, 12},
      {{"c100 k72 5x7, ragged chunks", conv(1, 100, 5, 7, 72, 1, 1)}, 3, 2},
      {{"two images", conv(2, 256, 7, 7, 256, 1, 1)}, 1, 1},
      {{"64 tiles", conv(1, 64, 64, 64, 64, 1, 1)}, 1, 1},
  };
  std::uint64_t salt = 5900;
  for (const bool tf32 : {false, true}) {
    const ConvTf32Scope scope(tf32);
    for (const auto& s : cases) {
      INFO(s.c.name << (tf32 ? ", TF32" : ", fp32"));
      kc::detail::ConvParams p{};
      REQUIRE(kc::detail::make_conv_params(s.c.desc, p));
      const auto fwd =
          kc::detail::plan_pointwise_split(kc::detail::pointwise_forward_gemm(s.c.desc, p));
      const auto bwd =
          kc::detail::plan_pointwise_split(kc::detail::pointwise_backward_data_gemm(s.c.desc, p));
      CHECK(fwd.chunks == s.forward);
      CHECK(bwd.chunks == s.backward);
      CHECK(kc::conv2d_forward_workspace_bytes(s.c.desc) == fwd.workspace_bytes);
      CHECK(kc::conv2d_backward_data_workspace_bytes(s.c.desc) == bwd.workspace_bytes);
      const double tol = tf32 ? 2e-3 : 1e-5;
      check_forward(s.c.desc, true, salt++, automatic_forward(), tol);
      check_backward_data(s.c.desc, salt++, automatic_backward_data(), tol);
    }
  }
}

namespace {

// y of the automatic forward with the given activation, into a poisoned output.
std::vector<float> forward_with(const Conv2dDesc& d, const Tensor<float, cuda>& x,
                                const Tensor<float, cuda>& w, const Tensor<float, cuda>& b,
                                tinycnn::kernels::Activation act) {
  auto y = poisoned_device(sizes(d).y);
  const std::size_t ws_bytes = kc::conv2d_forward_workspace_bytes(d);
  auto ws = poisoned_workspace(ws_bytes);
  REQUIRE(kc::conv2d_forward_implicit_gemm(y.data(), x.data(), w.data(), b.data(), d, ws.data(),
                                           ws_bytes, act, tinycnn::cuda_stream()) == cudaSuccess);
  return y.to_vector();
}

}  // namespace

TEST_CASE("cuda conv: a ReLU fused into the forward on every path gives relu(conv) bit for bit",
          "[cuda][kernels][conv]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  using tinycnn::kernels::Activation;
  using tinycnn::test::conv;
  // One layer per place the ReLU is applied: Winograd's output transform (3x3 with a 16-byte
  // row store and a ragged one, 5x5), the GEMM epilogue of 1x1 layers and of implicit GEMM (both
  // tiles), the split-K reduction, and the phase path (Winograd inside); with TF32 off and on.
  const std::vector<tinycnn::test::ConvCase> cases = {
      {"winograd 3x3 c64 k64 32x32", conv(2, 64, 32, 32, 64, 3, 3, 1, 1)},
      {"winograd 3x3 c33 k40 37x35 (ragged rows)", conv(1, 33, 37, 35, 40, 3, 3, 1, 1)},
      {"winograd 5x5 c96 k64 27x27", conv(1, 96, 27, 27, 64, 5, 5, 2, 2)},
      {"1x1 c96 k192 batch 2 27x27", conv(2, 96, 27, 27, 192, 1, 1)},
      {"1x1 c5 k7 9x9", conv(1, 5, 9, 9, 7, 1, 1)},
      {"implicit c3 k64 3x3 90x100", conv(1, 3, 90, 100, 64, 3, 3, 1, 1)},
      {"implicit c40 k24 stride 2 batch 2", conv(2, 40, 61, 59, 24, 3, 3, 1, 1, 2, 2)},
      {"split-K c256 k256 3x3 14x14", conv(1, 256, 14, 14, 256, 3, 3, 1, 1)},
      {"phases nin conv1 @519 (1024 Winograd tiles inside)",
       conv(1, 3, 519, 519, 96, 11, 11, 0, 0, 4, 4)},
  };
  CHECK(kc::conv2d_forward_workspace_bytes(cases[7].desc) > 0);  // split (as in the split-K case)
  if (kc::detail::winograd_mode() == 2 && tinycnn::kernels::phases::phase_mode() == 2) {
    CHECK(kc::conv2d_forward_workspace_bytes(cases[0].desc) ==
          kc::conv2d_forward_winograd_workspace_bytes(cases[0].desc));
    CHECK(kc::conv2d_forward_workspace_bytes(cases[8].desc) ==
          kc::conv2d_forward_phases_workspace_bytes(cases[8].desc));
  }
  std::uint64_t salt = 9100;
  for (const bool tf32 : {false, true}) {
    const ConvTf32Scope scope(tf32);
    for (const auto& c : cases) {
      INFO(c.name << (tf32 ? ", TF32" : ", fp32"));
      const auto sz = sizes(c.desc);
      // A negative bias puts about half the outputs below zero.
      auto bias = tinycnn::test::random_vector<float>(c.desc.k, salt++);
      for (float& v : bias) v -= 0.25f;
      Tensor<float, cuda> x({sz.x}, tinycnn::test::random_vector<float>(sz.x, salt++));
      Tensor<float, cuda> w({sz.w}, tinycnn::test::random_vector<float>(sz.w, salt++));
      Tensor<float, cuda> b({c.desc.k}, bias);
      auto want = forward_with(c.desc, x, w, b, Activation::none);
      std::size_t negative = 0;
      for (float& v : want) {
        negative += v < 0.0f;
        v = v > 0.0f ? v : 0.0f;
      }
      CHECK(negative > want.size() / 10);
      REQUIRE(forward_with(c.desc, x, w, b, Activation::relu) == want);
    }
  }
}

namespace {

// dx of the automatic backward data with the given masks, into a poisoned dx.
std::vector<float> backward_data_with(const Conv2dDesc& d, const Tensor<float, cuda>& dy,
                                      const Tensor<float, cuda>& w, const float* dy_mask,
                                      const float* dx_mask) {
  auto dx = poisoned_device(sizes(d).x);
  const std::size_t ws_bytes = kc::conv2d_backward_data_workspace_bytes(d);
  auto ws = poisoned_workspace(ws_bytes);
  REQUIRE(kc::conv2d_backward_data_implicit_gemm(dx.data(), dy.data(), w.data(), d, ws.data(),
                                                 ws_bytes, dy_mask, dx_mask,
                                                 tinycnn::cuda_stream()) == cudaSuccess);
  return dx.to_vector();
}

// A ReLU's output: random values with the negative ones at 0.
Tensor<float, cuda> relu_output(std::int64_t n, std::uint64_t salt) {
  auto v = tinycnn::test::random_vector<float>(n, salt);
  for (float& x : v) x = x > 0.0f ? x : 0.0f;
  return Tensor<float, cuda>({n}, v);
}

}  // namespace

TEST_CASE(
    "cuda conv: backward data masked by the ReLUs around the layer gives relu_backward "
    "around the plain call bit for bit",
    "[cuda][kernels][conv]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  using tinycnn::test::conv;
  // Winograd takes both masks (dy as its input transform reads it, dx as its output transform
  // writes it: 16-byte and ragged rows, 3x3 and 5x5).
  const std::vector<tinycnn::test::ConvCase> takes = {
      {"3x3 c64 k64 batch 2 32x32", conv(2, 64, 32, 32, 64, 3, 3, 1, 1)},
      {"3x3 c40 k33 37x35 pad 2", conv(1, 40, 37, 35, 33, 3, 3, 2, 2)},
      {"5x5 c96 k64 27x27", conv(1, 96, 27, 27, 64, 5, 5, 2, 2)},
  };
  // The other paths refuse a dy mask and take a dx mask as a pass after: 1x1, direct (C <= 8),
  // implicit GEMM (few tiles, split), phases.
  const std::vector<tinycnn::test::ConvCase> others = {
      {"1x1", conv(1, 64, 20, 20, 64, 1, 1)},
      {"direct c3", conv(1, 3, 40, 40, 64, 3, 3, 1, 1)},
      {"implicit 14x14", conv(1, 256, 14, 14, 256, 3, 3, 1, 1)},
      {"phases", conv(1, 3, 519, 519, 96, 11, 11, 0, 0, 4, 4)},
  };
  if (kc::detail::winograd_mode() == 2) {
    for (const auto& c : takes) CHECK(kc::conv2d_backward_data_takes_relu_mask(c.desc));
  }
  std::uint64_t salt = 9300;
  for (const bool tf32 : {false, true}) {
    const ConvTf32Scope scope(tf32);
    for (const bool winograd : {true, false}) {
      for (const auto& c : winograd ? takes : others) {
        INFO(c.name << (tf32 ? ", TF32" : ", fp32"));
        const auto sz = sizes(c.desc);
        const auto y = relu_output(sz.y, salt++), x = relu_output(sz.x, salt++);
        Tensor<float, cuda> dy({sz.y}, tinycnn::test::random_vector<float>(sz.y, salt++));
        Tensor<float, cuda> w({sz.w}, tinycnn::test::random_vector<float>(sz.w, salt++));
        Tensor<float, cuda> masked_dy({sz.y});
        REQUIRE(kc::relu_backward(masked_dy.data(), dy.data(), y.data(), sz.y,
                                  tinycnn::cuda_stream()) == cudaSuccess);
        const auto keep = x.to_vector();
        auto masked_dx = [&](std::vector<float> v) {
          for (std::size_t i = 0; i < v.size(); ++i) v[i] = keep[i] > 0.0f ? v[i] : 0.0f;
          return v;
        };
        const auto plain_dy = backward_data_with(c.desc, dy, w, nullptr, nullptr);
        CHECK(backward_data_with(c.desc, dy, w, nullptr, x.data()) == masked_dx(plain_dy));
        if (winograd) {
          const auto plain = backward_data_with(c.desc, masked_dy, w, nullptr, nullptr);
          CHECK(backward_data_with(c.desc, dy, w, y.data(), nullptr) == plain);
          CHECK(backward_data_with(c.desc, dy, w, y.data(), x.data()) == masked_dx(plain));
        } else {
          CHECK_FALSE(kc::conv2d_backward_data_takes_relu_mask(c.desc));
          auto dx = poisoned_device(sz.x);
          const std::size_t ws_bytes = kc::conv2d_backward_data_workspace_bytes(c.desc);
          auto ws = poisoned_workspace(ws_bytes);
          CHECK(kc::conv2d_backward_data_implicit_gemm(
                    dx.data(), dy.data(), w.data(), c.desc, ws.data(), ws_bytes, y.data(), nullptr,
                    tinycnn::cuda_stream()) == cudaErrorInvalidValue);
        }
      }
    }
  }
}
