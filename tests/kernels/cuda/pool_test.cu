// CUDA pooling kernels (kernels/cuda/pool.cuh) against the reference: max and average pooling
// forward and backward over pool_cases(), ties and NaN for max pooling, global average pooling.
#include <catch2/catch.hpp>

#include <tinycnn/kernels/cuda/pool.cuh>
#include <tinycnn/kernels/reference/pool.hpp>
#include <tinycnn/tinycnn.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "support/compare.hpp"
#include "support/cuda.hpp"
#include "support/data.hpp"
#include "support/problems.hpp"

namespace kc = tinycnn::kernels::cuda;
namespace ref = tinycnn::kernels::reference;
using tinycnn::kernels::Pool2dDesc;
using tinycnn::test::random_vector;
using DeviceFloats = tinycnn::Tensor<float, tinycnn::cuda>;
using DeviceInts = tinycnn::Tensor<std::int32_t, tinycnn::cuda>;

#define REQUIRE_LAUNCH_OK(expr)                                       \
  do {                                                                \
    const cudaError_t launch_error_ = (expr);                         \
    INFO(#expr << " returned " << cudaGetErrorString(launch_error_)); \
    REQUIRE(launch_error_ == cudaSuccess);                            \
  } while (0)

namespace {

std::int64_t input_size(const Pool2dDesc& d) {
  return d.n * d.c * d.h * d.w;
}
std::int64_t output_size(const Pool2dDesc& d) {
  return d.n * d.c * d.p() * d.q();
}

// Bit-for-bit equality where NaN equals NaN; reports the first mismatch.
void require_same_bits(const std::vector<float>& out, const std::vector<float>& want) {
  REQUIRE(out.size() == want.size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    const bool same = std::memcmp(&out[i], &want[i], sizeof(float)) == 0 ||
                      (std::isnan(out[i]) && std::isnan(want[i]));
    if (!same) {
      INFO("first mismatch at [" << i << "]: got " << out[i] << ", want " << want[i]);
      REQUIRE(same);
    }
  }
}

// The named cases plus layers where the kernels' loops wrap: a plane longer than its share of the
// grid (65 planes of 512 x 512: 1008 blocks of 256 per plane), more planes than a grid's 65535
// rows (the backward's 2-D grid then takes 4 planes per thread), and planes of more rows than the
// 2-D backward grid holds (65535 x 8), which take the flat backward kernel.
std::vector<tinycnn::test::PoolCase> cases() {
  auto list = tinycnn::test::pool_cases();
  list.push_back({"VGG pool1 @512 + 1 channel", tinycnn::test::pool(1, 65, 512, 512, 2, 2, 2, 2)});
  list.push_back({"NIN pool0 @512", tinycnn::test::pool(1, 96, 126, 126, 3, 3, 2, 2, 0, 0, true)});
  list.push_back(
      {"70000 planes of 3x5", tinycnn::test::pool(2, 35000, 3, 5, 2, 2, 2, 2, 0, 0, true)});
  list.push_back({"600001 x 3 planes (flat backward)",
                  tinycnn::test::pool(1, 2, 600001, 3, 3, 2, 2, 1, 1, 0, true)});
  return list;
}

// Runs max-pool forward (with and without argmax) and backward on x; compares with the reference.
// positive_only: windows whose maximum is not positive get no winner (a ReLU's backward folded in).
void check_max_pool(const Pool2dDesc& d, const std::vector<float>& x, std::uint64_t salt,
                    bool positive_only = false) {
  const cudaStream_t s = tinycnn::cuda_stream();
  const std::int64_t in = input_size(d), out = output_size(d);
  std::vector<float> want_y(out);
  std::vector<std::int32_t> want_arg(out);
  ref::max_pool2d_forward_reference(want_y.data(), want_arg.data(), x.data(), d, positive_only);

  const DeviceFloats d_x({in}, x);
  auto d_y = DeviceFloats::full({out}, NAN);
  auto d_arg = DeviceInts::full({out}, -7);
  REQUIRE_LAUNCH_OK(
      kc::max_pool2d_forward(d_y.data(), d_arg.data(), d_x.data(), d, positive_only, s));
  require_same_bits(d_y.to_vector(), want_y);
  REQUIRE(d_arg.to_vector() == want_arg);

  auto d_y_only = DeviceFloats::full({out}, NAN);
  REQUIRE_LAUNCH_OK(kc::max_pool2d_forward(d_y_only.data(), nullptr, d_x.data(), d, s));
  require_same_bits(d_y_only.to_vector(), want_y);

  const auto dy = random_vector<float>(out, salt);
  std::vector<float> want_dx(in);
  ref::max_pool2d_backward_reference(want_dx.data(), dy.data(), want_arg.data(), d);
  const DeviceFloats d_dy({out}, dy);
  auto d_dx = DeviceFloats::full({in}, NAN);
  REQUIRE_LAUNCH_OK(kc::max_pool2d_backward(d_dx.data(), d_dy.data(), d_arg.data(), d, s));
  // The gather adds in the reference's (p, q) order, in float: the same bits.
  require_same_bits(d_dx.to_vector(), want_dx);
}

}  // namespace

TEST_CASE("cuda max_pool2d forward and backward match the reference", "[cuda][kernels][pool]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  std::uint64_t salt = 100;
  for (const auto& c : cases()) {
    SECTION(c.name) {
      INFO(c.name << ": P=" << c.desc.p() << " Q=" << c.desc.q());
      check_max_pool(c.desc, random_vector<float>(input_size(c.desc), ++salt), salt + 1000);
      // A ReLU's output, three quarters zeros, pooled with positive_only.
      auto x = random_vector<float>(input_size(c.desc), ++salt);
      for (auto& v : x) v = std::max(v - 0.5f, 0.0f);
      check_max_pool(c.desc, x, salt + 1000, /*positive_only=*/true);
    }
  }
}

TEST_CASE("cuda max_pool2d: ties go to the first in row order, NaN wins", "[cuda][kernels][pool]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  std::uint64_t salt = 200;
  for (const auto& c : tinycnn::test::pool_cases()) {
    SECTION(c.name) {
      const std::int64_t in = input_size(c.desc);
      // Values from {-1, 0, 1}: most windows hold ties.
      auto x = random_vector<float>(in, ++salt, -1.5, 1.5);
      for (auto& v : x) v = std::round(v);
      {
        INFO(c.name << " with ties");
        check_max_pool(c.desc, x, salt + 1000);
      }
      // A NaN in every 5th element (and the first): windows holding one return NaN.
      for (std::int64_t i = 0; i < in; i += 5) x[i] = NAN;
      {
        INFO(c.name << " with NaN");
        check_max_pool(c.desc, x, salt + 2000);
      }
    }
  }
}

TEST_CASE("cuda avg_pool2d forward and backward match the reference", "[cuda][kernels][pool]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  const cudaStream_t s = tinycnn::cuda_stream();
  std::uint64_t salt = 300;
  auto list = cases();
  // The divisor rules with padding and ceil mode, both ways of counting the padding.
  list.push_back({"3x3 s2 pad1 ceil exclude pad",
                  tinycnn::test::pool(2, 3, 10, 11, 3, 3, 2, 2, 1, 1, true, false)});
  list.push_back(
      {"2x3 s2 pad(1,1) include pad", tinycnn::test::pool(1, 2, 7, 8, 2, 3, 2, 2, 1, 1)});
  for (const auto& c : list) {
    SECTION(c.name) {
      const auto& d = c.desc;
      INFO(c.name << ": P=" << d.p() << " Q=" << d.q());
      const std::int64_t in = input_size(d), out = output_size(d);
      const auto x = random_vector<float>(in, ++salt);
      std::vector<float> want_y(out);
      ref::avg_pool2d_forward_reference(want_y.data(), x.data(), d);
      const DeviceFloats d_x({in}, x);
      auto d_y = DeviceFloats::full({out}, NAN);
      REQUIRE_LAUNCH_OK(kc::avg_pool2d_forward(d_y.data(), d_x.data(), d, s));
      TINYCNN_REQUIRE_CLOSE(d_y.to_vector(), want_y, 1e-6);

      const auto dy = random_vector<float>(out, ++salt);
      std::vector<float> want_dx(in);
      ref::avg_pool2d_backward_reference(want_dx.data(), dy.data(), d);
      const DeviceFloats d_dy({out}, dy);
      auto d_dx = DeviceFloats::full({in}, NAN);
      REQUIRE_LAUNCH_OK(kc::avg_pool2d_backward(d_dx.data(), d_dy.data(), d, s));
      // Same divisions and the same order of float additions as the reference.
      require_same_bits(d_dx.to_vector(), want_dx);
    }
  }
}

TEST_CASE("cuda global_avg_pool2d forward and backward match the reference",
          "[cuda][kernels][pool]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  const cudaStream_t s = tinycnn::cuda_stream();
  struct Planes {
    std::int64_t planes, plane;
  };
  // NIN's final pooling (1000 planes of 6x6), odd planes, and planes big enough for 1024 threads
  // per block, aligned (multiple of 4) and not.
  const Planes list[] = {{1, 1}, {6, 36}, {1000, 36}, {3, 4099}, {2, 300000}, {5, 70001}};
  std::uint64_t salt = 400;
  for (const auto& pl : list) {
    INFO("planes=" << pl.planes << " plane=" << pl.plane);
    const std::int64_t n = pl.planes * pl.plane;
    // Mean 0.5 keeps the means away from zero, so the relative error says something.
    const auto x = random_vector<float>(n, ++salt, 0.0, 1.0);
    std::vector<float> want_y(pl.planes);
    ref::global_avg_pool2d_forward_reference(want_y.data(), x.data(), pl.planes, pl.plane);
    const DeviceFloats d_x({n}, x);
    auto d_y = DeviceFloats::full({pl.planes}, NAN);
    REQUIRE_LAUNCH_OK(
        kc::global_avg_pool2d_forward(d_y.data(), d_x.data(), pl.planes, pl.plane, s));
    TINYCNN_REQUIRE_CLOSE(d_y.to_vector(), want_y, 1e-6);

    const auto dy = random_vector<float>(pl.planes, ++salt);
    std::vector<float> want_dx(n);
    ref::global_avg_pool2d_backward_reference(want_dx.data(), dy.data(), pl.planes, pl.plane);
    const DeviceFloats d_dy({pl.planes}, dy);
    auto d_dx = DeviceFloats::full({n}, NAN);
    REQUIRE_LAUNCH_OK(
        kc::global_avg_pool2d_backward(d_dx.data(), d_dy.data(), pl.planes, pl.plane, s));
    require_same_bits(d_dx.to_vector(), want_dx);
  }
}

TEST_CASE("cuda pooling: invalid descriptors are rejected without a launch",
          "[cuda][kernels][pool]") {
  TINYCNN_REQUIRE_CUDA();
  const cudaStream_t s = tinycnn::cuda_stream();
  auto bad = tinycnn::test::pool(1, 1, 4, 4, 2, 2, 0, 2);  // stride 0
  auto d_y = DeviceFloats::full({16}, NAN);
  CHECK(kc::max_pool2d_forward(d_y.data(), nullptr, d_y.data(), bad, s) == cudaErrorInvalidValue);
  CHECK(kc::avg_pool2d_backward(d_y.data(), d_y.data(), bad, s) == cudaErrorInvalidValue);
  bad = tinycnn::test::pool(1, 1, 4, 4, 0, 2, 1, 1);  // empty window
  CHECK(kc::avg_pool2d_forward(d_y.data(), d_y.data(), bad, s) == cudaErrorInvalidValue);
  for (const float v : d_y.to_vector()) CHECK(std::isnan(v));
}
