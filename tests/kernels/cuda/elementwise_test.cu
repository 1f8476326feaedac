// CUDA elementwise kernels (kernels/cuda/elementwise.cuh) against the reference: ReLU forward and
// backward, bias_add, add, scale, axpy over odd sizes, misaligned pointers and in-place use.
#include <catch2/catch.hpp>

#include <tinycnn/kernels/cuda/elementwise.cuh>
#include <tinycnn/kernels/reference/elementwise.hpp>
#include <tinycnn/tinycnn.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "support/compare.hpp"
#include "support/cuda.hpp"
#include "support/data.hpp"

namespace kc = tinycnn::kernels::cuda;
namespace ref = tinycnn::kernels::reference;
using tinycnn::test::poisoned_vector;
using tinycnn::test::random_vector;
using DeviceFloats = tinycnn::Tensor<float, tinycnn::cuda>;

#define REQUIRE_LAUNCH_OK(expr)                                       \
  do {                                                                \
    const cudaError_t launch_error_ = (expr);                         \
    INFO(#expr << " returned " << cudaGetErrorString(launch_error_)); \
    REQUIRE(launch_error_ == cudaSuccess);                            \
  } while (0)

namespace {

// Sizes that hit: one element, less than a packet, a packet plus a tail, many packets plus a tail.
const std::int64_t kSizes[] = {1, 3, 7, 1023, (1 << 20) + 3};
// Offset 1 element makes every pointer misaligned for 16-byte packets: the scalar fallback.
const std::int64_t kOffsets[] = {0, 1};
// NaN guard elements before (the offset) and after each buffer: a write out of bounds shows.
constexpr std::int64_t kGuard = 5;

// A device buffer of NaN guards around `values`, which start `offset` elements in.
DeviceFloats upload(const std::vector<float>& values, std::int64_t offset) {
  std::vector<float> host = poisoned_vector<float>(offset + std::int64_t(values.size()) + kGuard);
  std::copy(values.begin(), values.end(), host.begin() + offset);
  return DeviceFloats({std::int64_t(host.size())}, host);
}
DeviceFloats poisoned(std::int64_t n, std::int64_t offset) {
  return DeviceFloats::full({offset + n + kGuard}, NAN);
}

// The n elements from `offset` on; REQUIREs that the guards around them are still NaN.
std::vector<float> download(const DeviceFloats& d, std::int64_t offset, std::int64_t n) {
  const std::vector<float> host = d.to_vector();
  for (std::int64_t i = 0; i < offset; ++i) REQUIRE(std::isnan(host[i]));
  for (std::int64_t i = offset + n; i < std::int64_t(host.size()); ++i)
    REQUIRE(std::isnan(host[i]));
  return std::vector<float>(host.begin() + offset, host.begin() + offset + n);
}

std::string label(std::int64_t n, std::int64_t offset) {
  return "n=" + std::to_string(n) + (offset ? " misaligned by 1 element" : " aligned");
}

}  // namespace

TEST_CASE("cuda relu_forward matches the reference, out of place and in place",
          "[cuda][kernels][elementwise]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  const cudaStream_t s = tinycnn::cuda_stream();
  for (const std::int64_t n : kSizes)
    for (const std::int64_t off : kOffsets) {
      INFO(label(n, off));
      auto x = random_vector<float>(n, 1 + n + off);
      x[0] = std::fabs(x[0]) + 0.5f;  // a short random input can be all negative: keep one positive
      std::vector<float> want(x.size());
      ref::relu_forward_reference(want.data(), x.data(), n);

      auto dx = upload(x, off);
      auto dy = poisoned(n, off);
      REQUIRE_LAUNCH_OK(kc::relu_forward(dy.data() + off, dx.data() + off, n, s));
      TINYCNN_REQUIRE_CLOSE(download(dy, off, n), want, 0.0);

      REQUIRE_LAUNCH_OK(kc::relu_forward(dx.data() + off, dx.data() + off, n, s));
      TINYCNN_REQUIRE_CLOSE(download(dx, off, n), want, 0.0);
    }
}

TEST_CASE("cuda relu_backward matches the reference, out of place and in place",
          "[cuda][kernels][elementwise]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  const cudaStream_t s = tinycnn::cuda_stream();
  for (const std::int64_t n : kSizes)
    for (const std::int64_t off : kOffsets) {
      INFO(label(n, off));
      const auto g = random_vector<float>(n, 2 + n + off);
      auto y = random_vector<float>(n, 3 + n + off);
      y[0] = 0.5f;  // a short random y can be all negative, making the reference all zeros
      std::vector<float> want(g.size());
      ref::relu_backward_reference(want.data(), g.data(), y.data(), n);

      auto d_g = upload(g, off);
      const auto d_y = upload(y, off);
      auto d_dx = poisoned(n, off);
      REQUIRE_LAUNCH_OK(
          kc::relu_backward(d_dx.data() + off, d_g.data() + off, d_y.data() + off, n, s));
      TINYCNN_REQUIRE_CLOSE(download(d_dx, off, n), want, 0.0);

      REQUIRE_LAUNCH_OK(
          kc::relu_backward(d_g.data() + off, d_g.data() + off, d_y.data() + off, n, s));
      TINYCNN_REQUIRE_CLOSE(download(d_g, off, n), want, 0.0);
    }
}

TEST_CASE("cuda add, scale and axpy match the reference", "[cuda][kernels][elementwise]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  const cudaStream_t s = tinycnn::cuda_stream();
  for (const std::int64_t n : kSizes)
    for (const std::int64_t off : kOffsets) {
      INFO(label(n, off));
      const auto a = random_vector<float>(n, 4 + n + off);
      const auto b = random_vector<float>(n, 5 + n + off);
      const auto d_a = upload(a, off);
      const auto d_b = upload(b, off);
      std::vector<float> want(a.size());
      {
        INFO("add");
        ref::add_reference(want.data(), a.data(), b.data(), n);
        auto d_y = poisoned(n, off);
        REQUIRE_LAUNCH_OK(kc::add(d_y.data() + off, d_a.data() + off, d_b.data() + off, n, s));
        TINYCNN_REQUIRE_CLOSE(download(d_y, off, n), want, 0.0);
        auto d_in_place = upload(a, off);
        REQUIRE_LAUNCH_OK(
            kc::add(d_in_place.data() + off, d_in_place.data() + off, d_b.data() + off, n, s));
        TINYCNN_REQUIRE_CLOSE(download(d_in_place, off, n), want, 0.0);
      }
      {
        INFO("scale");
        ref::scale_reference(want.data(), a.data(), -1.75f, n);
        auto d_y = poisoned(n, off);
        REQUIRE_LAUNCH_OK(kc::scale(d_y.data() + off, d_a.data() + off, -1.75f, n, s));
        TINYCNN_REQUIRE_CLOSE(download(d_y, off, n), want, 0.0);
      }
      {
        INFO("axpy");
        want = b;
        ref::axpy_reference(want.data(), 0.3f, a.data(), n);
        auto d_y = upload(b, off);
        REQUIRE_LAUNCH_OK(kc::axpy(d_y.data() + off, 0.3f, d_a.data() + off, n, s));
        // The device may fuse y + alpha * x into one FMA, the host compiler may not.
        TINYCNN_REQUIRE_CLOSE(download(d_y, off, n), want, 1e-6);
      }
    }
}

TEST_CASE("cuda bias_add matches the reference, planes straddling packets included",
          "[cuda][kernels][elementwise]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  const cudaStream_t s = tinycnn::cuda_stream();
  struct Shape3 {
    std::int64_t n, c, plane;
  };
  const Shape3 shapes[] = {{1, 1, 1},    {2, 3, 5}, {2, 64, 49},        {1, 7, 1023},    {3, 5, 16},
                           {4, 1000, 1}, {2, 3, 2}, {1, 64, 128 * 128}, {2, 96, 55 * 55}};
  for (const auto& sh : shapes)
    for (const std::int64_t off : kOffsets) {
      const std::int64_t total = sh.n * sh.c * sh.plane;
      INFO("(n, c, plane) = (" << sh.n << ", " << sh.c << ", " << sh.plane << "), "
                               << label(total, off));
      const auto y0 = random_vector<float>(total, 6 + total + off);
      const auto bias = random_vector<float>(sh.c, 7 + sh.c);
      std::vector<float> want = y0;
      ref::bias_add_reference(want.data(), bias.data(), sh.n, sh.c, sh.plane);
      auto d_y = upload(y0, off);
      const DeviceFloats d_bias({sh.c}, bias);
      REQUIRE_LAUNCH_OK(kc::bias_add(d_y.data() + off, d_bias.data(), sh.n, sh.c, sh.plane, s));
      TINYCNN_REQUIRE_CLOSE(download(d_y, off, total), want, 0.0);
    }
}

TEST_CASE("cuda elementwise: a grid-stride loop past the grid cap, 64-bit indices",
          "[cuda][kernels][elementwise]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  const cudaStream_t s = tinycnn::cuda_stream();
  // More packets than kMaxGridStrideBlocks * kThreadsPerBlock threads: each thread loops.
  const std::int64_t n = 4 * kc::kMaxGridStrideBlocks * kc::kThreadsPerBlock + 5;
  for (const std::int64_t off : kOffsets) {
    INFO(label(n, off));
    const auto x = random_vector<float>(n, 8 + off);
    std::vector<float> want(x.size());
    ref::relu_forward_reference(want.data(), x.data(), n);
    const auto d_x = upload(x, off);
    auto d_y = poisoned(n, off);
    REQUIRE_LAUNCH_OK(kc::relu_forward(d_y.data() + off, d_x.data() + off, n, s));
    TINYCNN_REQUIRE_CLOSE(download(d_y, off, n), want, 0.0);
  }
}

TEST_CASE("cuda elementwise: n == 0 launches nothing, n < 0 is rejected",
          "[cuda][kernels][elementwise]") {
  TINYCNN_REQUIRE_CUDA();
  const cudaStream_t s = tinycnn::cuda_stream();
  auto d_y = DeviceFloats::full({4}, NAN);
  REQUIRE_LAUNCH_OK(kc::relu_forward(d_y.data(), d_y.data(), 0, s));
  CHECK(kc::relu_forward(d_y.data(), d_y.data(), -1, s) == cudaErrorInvalidValue);
  CHECK(kc::bias_add(d_y.data(), d_y.data(), -1, 2, 2, s) == cudaErrorInvalidValue);
  for (const float v : d_y.to_vector()) CHECK(std::isnan(v));
}
