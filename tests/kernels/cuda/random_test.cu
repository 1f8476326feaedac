// CUDA seeded fills (kernels/cuda/random.cuh) against the reference fills: uniform bit for bit,
// normal within one float ulp, for aligned and misaligned buffers and odd sizes.
#include <catch2/catch.hpp>

#include <tinycnn/kernels/cuda/random.cuh>
#include <tinycnn/kernels/reference/random.hpp>
#include <tinycnn/tinycnn.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

#include "support/cuda.hpp"
#include "support/data.hpp"

namespace kc = tinycnn::kernels::cuda;
namespace ref = tinycnn::kernels::reference;
using DeviceFloats = tinycnn::Tensor<float, tinycnn::cuda>;

#define REQUIRE_LAUNCH_OK(expr)                                       \
  do {                                                                \
    const cudaError_t launch_error_ = (expr);                         \
    INFO(#expr << " returned " << cudaGetErrorString(launch_error_)); \
    REQUIRE(launch_error_ == cudaSuccess);                            \
  } while (0)

namespace {

const std::int64_t kSizes[] = {1, 7, 1023, (1 << 20) + 3};
const std::int64_t kOffsets[] = {0, 1};  // 1: misaligned, scalar stores
constexpr std::int64_t kGuard = 3;

// Fills n elements `offset` into a NaN buffer with launch(ptr); returns them, checking the guards.
template <class Launch>
std::vector<float> device_fill(std::int64_t n, std::int64_t offset, Launch launch) {
  auto d = DeviceFloats::full({offset + n + kGuard}, NAN);
  REQUIRE_LAUNCH_OK(launch(d.data() + offset));
  const auto host = d.to_vector();
  for (std::int64_t i = 0; i < offset; ++i) REQUIRE(std::isnan(host[i]));
  for (std::int64_t i = offset + n; i < std::int64_t(host.size()); ++i)
    REQUIRE(std::isnan(host[i]));
  return std::vector<float>(host.begin() + offset, host.begin() + offset + n);
}

// |a - b| in units of the float spacing at the larger of the two.
double ulps(float a, float b) {
  const float big = std::max(std::fabs(a), std::fabs(b));
  const float spacing = std::nextafter(big, INFINITY) - big;
  return std::fabs(double(a) - double(b)) / double(spacing);
}

}  // namespace

TEST_CASE("cuda uniform_fill gives the reference's values bit for bit", "[cuda][kernels][random]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  const cudaStream_t s = tinycnn::cuda_stream();
  const std::uint64_t seed = tinycnn::test::test_seed();
  const float lo = -0.37f, hi = 2.9f;
  for (const std::int64_t n : kSizes)
    for (const std::int64_t off : kOffsets) {
      INFO("n=" << n << " offset=" << off);
      const auto got =
          device_fill(n, off, [&](float* p) { return kc::uniform_fill(p, n, seed, lo, hi, s); });
      std::vector<float> want(n);
      ref::uniform_fill_reference(want.data(), n, seed, lo, hi);
      for (std::int64_t i = 0; i < n; ++i) {
        const float u = tinycnn::detail::uniform01(seed, std::uint64_t(i));
        // The rounding of lo + (hi - lo) * u as one fused multiply-add: the device's, exactly.
        const float fused = std::fma(hi - lo, u, lo);
        INFO("i=" << i << " got " << got[i] << " fused " << fused << " reference " << want[i]);
        REQUIRE(got[i] == fused);
        REQUIRE(got[i] >= lo);
        REQUIRE(got[i] <= hi);
        // The reference is compiled by the host compiler, which contracts to an FMA or not
        // depending on its flags; either way at most one rounding apart.
        REQUIRE(ulps(got[i], want[i]) <= 1.0);
      }
    }
}

TEST_CASE("cuda normal_fill is within one float ulp of the reference", "[cuda][kernels][random]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  const cudaStream_t s = tinycnn::cuda_stream();
  const std::uint64_t seed = tinycnn::test::test_seed() + 1;
  const float mean = 0.25f, stddev = 1.5f;
  for (const std::int64_t n : kSizes)
    for (const std::int64_t off : kOffsets) {
      INFO("n=" << n << " offset=" << off);
      const auto got = device_fill(
          n, off, [&](float* p) { return kc::normal_fill(p, n, seed, mean, stddev, s); });
      std::vector<float> want(n);
      ref::normal_fill_reference(want.data(), n, seed, mean, stddev);
      std::int64_t exact = 0;
      for (std::int64_t i = 0; i < n; ++i) {
        INFO("i=" << i << " got " << got[i] << " want " << want[i]);
        REQUIRE(ulps(got[i], want[i]) <= 1.0);
        exact += got[i] == want[i];
      }
      // Differences are rare roundings, not a systematic offset.
      CHECK(double(exact) >= 0.99 * double(n));
      if (n >= 1023) {
        double sum = 0, sum2 = 0;
        for (const float v : got) sum += v, sum2 += double(v) * v;
        const double m = sum / double(n), sd = std::sqrt(sum2 / double(n) - m * m);
        CHECK(std::fabs(m - mean) < 6 * stddev / std::sqrt(double(n)));
        CHECK(std::fabs(sd - stddev) < 0.1 * stddev);
      }
    }
}

TEST_CASE("cuda fills: the seed changes the values, the launch shape does not",
          "[cuda][kernels][random]") {
  TINYCNN_REQUIRE_CUDA();
  const cudaStream_t s = tinycnn::cuda_stream();
  const std::int64_t n = 4099;
  const auto a =
      device_fill(n, 0, [&](float* p) { return kc::uniform_fill(p, n, 7, 0.0f, 1.0f, s); });
  const auto b =
      device_fill(n, 0, [&](float* p) { return kc::uniform_fill(p, n, 8, 0.0f, 1.0f, s); });
  const auto c =
      device_fill(n, 1, [&](float* p) { return kc::uniform_fill(p, n, 7, 0.0f, 1.0f, s); });
  // A prefix is the same values: element i depends on (seed, i) only.
  const auto d =
      device_fill(5, 0, [&](float* p) { return kc::uniform_fill(p, 5, 7, 0.0f, 1.0f, s); });
  CHECK(a == c);
  CHECK(std::equal(d.begin(), d.end(), a.begin()));
  std::int64_t same = 0;
  for (std::int64_t i = 0; i < n; ++i) same += a[i] == b[i];
  CHECK(same < 10);
}
