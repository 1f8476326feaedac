// CUDA conv2d_backward_bias (kernels/cuda/conv_bias.cuh) against the reference over every
// convolution parameter case, VGG-19's layers, and planes large enough for 1024-thread blocks.
#include <catch2/catch.hpp>

#include <tinycnn/kernels/cuda/conv_bias.cuh>
#include <tinycnn/kernels/reference/conv.hpp>
#include <tinycnn/tinycnn.hpp>

#include <cstdint>
#include <cstring>
#include <vector>

#include "support/compare.hpp"
#include "support/cuda.hpp"
#include "support/data.hpp"
#include "support/problems.hpp"

namespace kc = tinycnn::kernels::cuda;
namespace ref = tinycnn::kernels::reference;
using tinycnn::test::random_vector;
using DeviceFloats = tinycnn::Tensor<float, tinycnn::cuda>;

#define REQUIRE_LAUNCH_OK(expr)                                       \
  do {                                                                \
    const cudaError_t launch_error_ = (expr);                         \
    INFO(#expr << " returned " << cudaGetErrorString(launch_error_)); \
    REQUIRE(launch_error_ == cudaSuccess);                            \
  } while (0)

namespace {

// Runs the kernel twice on one dy: the result must match the reference and repeat bit for bit.
void check_bias_grad(const tinycnn::kernels::Conv2dDesc& d, std::uint64_t salt, double lo,
                     double hi) {
  const cudaStream_t s = tinycnn::cuda_stream();
  const std::int64_t n = d.n * d.k * d.p() * d.q();
  const auto dy = random_vector<float>(n, salt, lo, hi);
  std::vector<double> want(d.k);
  const auto dy_d = tinycnn::test::convert<double>(dy);
  ref::conv2d_backward_bias_reference(want.data(), dy_d.data(), d);
  const DeviceFloats d_dy({n}, dy);
  auto d_db = DeviceFloats::full({d.k}, NAN);
  REQUIRE_LAUNCH_OK(kc::conv2d_backward_bias(d_db.data(), d_dy.data(), d, s));
  const auto first = d_db.to_vector();
  TINYCNN_REQUIRE_CLOSE(first, want, 1e-6);
  d_db.fill(NAN);
  REQUIRE_LAUNCH_OK(kc::conv2d_backward_bias(d_db.data(), d_dy.data(), d, s));
  const auto second = d_db.to_vector();
  REQUIRE(std::memcmp(first.data(), second.data(), first.size() * sizeof(float)) == 0);
}

}  // namespace

TEST_CASE("cuda conv2d_backward_bias matches the reference on every parameter case",
          "[cuda][kernels][conv_bias]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  std::uint64_t salt = 1200;
  for (const auto& c : tinycnn::test::conv_parameter_cases()) {
    SECTION(c.name) {
      check_bias_grad(c.desc, ++salt, -1.0, 1.0);
    }
  }
}

TEST_CASE("cuda conv2d_backward_bias matches the reference on VGG-19's layers",
          "[cuda][kernels][conv_bias]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  std::uint64_t salt = 1300;
  for (const auto& c : tinycnn::test::vgg19_conv_cases(32)) {
    SECTION(c.name) {
      check_bias_grad(c.desc, ++salt, -1.0, 1.0);
    }
  }
  for (const auto& c : tinycnn::test::vgg19_conv_cases(32, 3)) {
    SECTION(c.name + " batch 3") {
      check_bias_grad(c.desc, ++salt, -1.0, 1.0);
    }
  }
}

TEST_CASE("cuda conv2d_backward_bias: large planes (1024-thread blocks, compensated sums)",
          "[cuda][kernels][conv_bias]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  using tinycnn::test::conv;
  // P*Q a multiple of 4 (packets) and odd (scalar loads); 2048^2 with mean 1 sums 4M values per
  // channel, where an uncompensated per-thread float sum would drift.
  SECTION("vgg19 conv1_2 @512") {
    check_bias_grad(conv(1, 64, 512, 512, 64, 3, 3, 1, 1), 1400, -1.0, 1.0);
  }
  SECTION("odd plane 301x301 batch 2") {
    check_bias_grad(conv(2, 1, 301, 301, 5, 3, 3, 1, 1), 1401, -1.0, 1.0);
  }
  SECTION("2048x2048 mean 1") {
    check_bias_grad(conv(1, 1, 2048, 2048, 4, 1, 1), 1402, 0.0, 2.0);
  }
}
