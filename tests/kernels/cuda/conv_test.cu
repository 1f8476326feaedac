// CUDA implicit-GEMM convolution (forward with and without bias, backward data, backward filter)
// against the reference kernels over every parameter case, VGG-19 and NIN layers, both tile shapes,
// split-K in every pass, and the direct small-channel backward-data kernel.
#include <catch2/catch.hpp>

#include <tinycnn/tinycnn.hpp>
#include <tinycnn/kernels/cuda/conv.cuh>
#include <tinycnn/kernels/reference/conv.hpp>

#include <cstdint>
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

void check_forward(const Conv2dDesc& d, bool with_bias, std::uint64_t salt) {
  INFO("forward, bias=" << with_bias);
  const auto sz = sizes(d);
  const auto x = tinycnn::test::random_vector<float>(sz.x, salt * 7 + 1);
  const auto w = tinycnn::test::random_vector<float>(sz.w, salt * 7 + 2);
  const auto bias = tinycnn::test::random_vector<float>(d.k, salt * 7 + 3);
  std::vector<float> want(sz.y);
  ref::conv2d_forward_reference(want.data(), x.data(), w.data(), with_bias ? bias.data() : nullptr, d);
  Tensor<float, cuda> dx({sz.x}, x), dw({sz.w}, w), db({d.k}, bias);
  auto dy = poisoned_device(sz.y);
  const std::size_t ws_bytes = kc::conv2d_forward_workspace_bytes(d);
  INFO("workspace bytes " << ws_bytes);
  auto ws = poisoned_workspace(ws_bytes);
  const float* b = with_bias ? db.data() : nullptr;
  REQUIRE(kc::conv2d_forward_implicit_gemm(dy.data(), dx.data(), dw.data(), b, d, ws.data(),
                                           ws_bytes, tinycnn::cuda_stream()) == cudaSuccess);
  TINYCNN_REQUIRE_CLOSE(dy.to_vector(), want, 1e-5);
  if (ws_bytes > 0) {  // too small a workspace is refused
    CHECK(kc::conv2d_forward_implicit_gemm(dy.data(), dx.data(), dw.data(), b, d, ws.data(),
                                           ws_bytes - 4, tinycnn::cuda_stream()) ==
          cudaErrorInvalidValue);
    CHECK(kc::conv2d_forward_implicit_gemm(dy.data(), dx.data(), dw.data(), b, d, nullptr,
                                           ws_bytes, tinycnn::cuda_stream()) ==
          cudaErrorInvalidValue);
  }
}

void check_backward_data(const Conv2dDesc& d, std::uint64_t salt) {
  INFO("backward data");
  const auto sz = sizes(d);
  const auto dy = tinycnn::test::random_vector<float>(sz.y, salt * 7 + 4);
  const auto w = tinycnn::test::random_vector<float>(sz.w, salt * 7 + 5);
  std::vector<float> want(sz.x);
  ref::conv2d_backward_data_reference(want.data(), dy.data(), w.data(), d);
  Tensor<float, cuda> ddy({sz.y}, dy), dw({sz.w}, w);
  auto ddx = poisoned_device(sz.x);
  const std::size_t ws_bytes = kc::conv2d_backward_data_workspace_bytes(d);
  INFO("workspace bytes " << ws_bytes);
  auto ws = poisoned_workspace(ws_bytes);
  REQUIRE(kc::conv2d_backward_data_implicit_gemm(ddx.data(), ddy.data(), dw.data(), d, ws.data(),
                                                 ws_bytes, tinycnn::cuda_stream()) == cudaSuccess);
  TINYCNN_REQUIRE_CLOSE(ddx.to_vector(), want, 1e-5);
  if (ws_bytes > 0) {  // too small a workspace is refused
    CHECK(kc::conv2d_backward_data_implicit_gemm(ddx.data(), ddy.data(), dw.data(), d, ws.data(),
                                                 ws_bytes - 4, tinycnn::cuda_stream()) ==
          cudaErrorInvalidValue);
    CHECK(kc::conv2d_backward_data_implicit_gemm(ddx.data(), ddy.data(), dw.data(), d, nullptr,
                                                 ws_bytes, tinycnn::cuda_stream()) ==
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
  // C <= 8 runs on the direct kernel (no workspace): groups of 4 and 8 channels with partial
  // groups, strides 1-4 with dilation and padding (including padding larger than the stride), rows
  // narrower than a warp and longer than a block, and filters whose shared-memory chunk of output
  // channels (8192 / (R*S*group)) does not divide K.
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
    CHECK(kc::conv2d_backward_data_workspace_bytes(c.desc) == 0);
    check_backward_data(c.desc, salt++);
  }
}
