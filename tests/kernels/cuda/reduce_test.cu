// CUDA reductions (kernels/cuda/reduce.cuh) against the double reference: sum, sum of squares and
// max over 1, 5, 1000 and 2^24 + 7 elements, CUB's workspace query, and max's NaN rule.
#include <catch2/catch.hpp>

#include <tinycnn/kernels/cuda/reduce.cuh>
#include <tinycnn/kernels/reference/reduce.hpp>
#include <tinycnn/tinycnn.hpp>

#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

#include "support/compare.hpp"
#include "support/cuda.hpp"
#include "support/data.hpp"

namespace kc = tinycnn::kernels::cuda;
namespace ref = tinycnn::kernels::reference;
using tinycnn::test::convert;
using tinycnn::test::random_vector;
using DeviceFloats = tinycnn::Tensor<float, tinycnn::cuda>;
using DeviceBytes = tinycnn::Tensor<std::uint8_t, tinycnn::cuda>;

#define REQUIRE_LAUNCH_OK(expr)                                       \
  do {                                                                \
    const cudaError_t launch_error_ = (expr);                         \
    INFO(#expr << " returned " << cudaGetErrorString(launch_error_)); \
    REQUIRE(launch_error_ == cudaSuccess);                            \
  } while (0)

namespace {

using Reduction = std::function<cudaError_t(float*, const float*, std::int64_t, void*, std::size_t*,
                                            cudaStream_t)>;

// CUB's two phases: the query must write nothing; then the run with a workspace of that size.
float run_reduction(const Reduction& reduce, const DeviceFloats& d_x, std::int64_t n) {
  const cudaStream_t s = tinycnn::cuda_stream();
  auto d_out = DeviceFloats::full({1}, NAN);
  std::size_t bytes = 0;
  REQUIRE_LAUNCH_OK(reduce(d_out.data(), d_x.data(), n, nullptr, &bytes, s));
  REQUIRE(std::isnan(d_out.item()));
  auto workspace = DeviceBytes::uninitialized({std::int64_t(bytes)});
  REQUIRE_LAUNCH_OK(reduce(d_out.data(), d_x.data(), n, workspace.data(), &bytes, s));
  return d_out.item();
}

const Reduction kSum = [](auto... a) { return kc::reduce_sum(a...); };
const Reduction kSumSquares = [](auto... a) { return kc::reduce_sum_squares(a...); };
const Reduction kMax = [](auto... a) { return kc::reduce_max(a...); };

const std::int64_t kSizes[] = {1, 5, 1000, (1 << 24) + 7};

}  // namespace

// Tolerance of CUB's float accumulation: on 2^24 + 7 values without cancellation (uniform in
// [0.5, 1.5), and squares) the relative error stays within 1e-6 (a model of CUB's order, threads
// summing runs of 16 to 2048 then a tree, gives 3e-8 to 1e-7); with cancellation (uniform in
// [-1, 1)) the error is bounded by 1e-6 * sum |x| instead (the model gives 4e-10).
TEST_CASE("cuda reduce_sum and reduce_sum_squares match the double reference",
          "[cuda][kernels][reduce]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  std::uint64_t salt = 900;
  for (const std::int64_t n : kSizes) {
    INFO("n=" << n);
    {
      const auto x = random_vector<float>(n, ++salt, 0.5, 1.5);
      const DeviceFloats d_x({n}, x);
      const auto xd = convert<double>(x);
      INFO("values in [0.5, 1.5)");
      TINYCNN_REQUIRE_CLOSE(std::vector<float>{run_reduction(kSum, d_x, n)},
                            std::vector<double>{ref::sum_reference(xd.data(), n)}, 1e-6);
      TINYCNN_REQUIRE_CLOSE(std::vector<float>{run_reduction(kSumSquares, d_x, n)},
                            std::vector<double>{ref::sum_squares_reference(xd.data(), n)}, 1e-6);
    }
    {
      const auto x = random_vector<float>(n, ++salt, -1.0, 1.0);
      const DeviceFloats d_x({n}, x);
      const auto xd = convert<double>(x);
      INFO("values in [-1, 1)");
      double abs_sum = 0;
      for (const double v : xd) abs_sum += std::fabs(v);
      const double want = ref::sum_reference(xd.data(), n);
      const double got = run_reduction(kSum, d_x, n);
      INFO("sum: got " << got << ", want " << want << ", sum |x| = " << abs_sum);
      REQUIRE(std::fabs(got - want) <= 1e-6 * abs_sum);
      TINYCNN_REQUIRE_CLOSE(std::vector<float>{run_reduction(kSumSquares, d_x, n)},
                            std::vector<double>{ref::sum_squares_reference(xd.data(), n)}, 1e-6);
    }
  }
}

TEST_CASE("cuda reduce_max matches the reference exactly", "[cuda][kernels][reduce]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  std::uint64_t salt = 1000;
  for (const std::int64_t n : kSizes) {
    // All negative: a maximum that started from 0 instead of -inf would show.
    for (const double lo : {-1.0, -3.0}) {
      INFO("n=" << n << " values in [" << lo << ", " << lo + 2 << ")");
      const auto x = random_vector<float>(n, ++salt, lo, lo + 2);
      const DeviceFloats d_x({n}, x);
      REQUIRE(run_reduction(kMax, d_x, n) == ref::max_reference(x.data(), n));
    }
  }
}

TEST_CASE("cuda reduce_max: NaN in x(0) is the result, NaN elsewhere is skipped, as the reference",
          "[cuda][kernels][reduce]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  const std::int64_t n = 100003;
  auto x = random_vector<float>(n, 1100);
  x[7] = NAN;
  x[n - 1] = NAN;
  {
    const DeviceFloats d_x({n}, x);
    const float want = ref::max_reference(x.data(), n);
    REQUIRE_FALSE(std::isnan(want));
    REQUIRE(run_reduction(kMax, d_x, n) == want);
  }
  x[0] = NAN;
  {
    const DeviceFloats d_x({n}, x);
    REQUIRE(std::isnan(ref::max_reference(x.data(), n)));
    REQUIRE(std::isnan(run_reduction(kMax, d_x, n)));
  }
}

TEST_CASE("cuda reductions: n == 0 gives 0 (sum) and -inf (max); bad arguments are rejected",
          "[cuda][kernels][reduce]") {
  TINYCNN_REQUIRE_CUDA();
  const DeviceFloats d_x({1}, {5.0f});
  CHECK(run_reduction(kSum, d_x, 0) == 0.0f);
  CHECK(run_reduction(kSumSquares, d_x, 0) == 0.0f);
  CHECK(run_reduction(kMax, d_x, 0) == -INFINITY);
  auto d_out = DeviceFloats::full({1}, NAN);
  std::size_t bytes = 0;
  CHECK(kc::reduce_sum(d_out.data(), d_x.data(), -1, nullptr, &bytes, tinycnn::cuda_stream()) ==
        cudaErrorInvalidValue);
  CHECK(kc::reduce_max(d_out.data(), d_x.data(), 1, nullptr, nullptr, tinycnn::cuda_stream()) ==
        cudaErrorInvalidValue);
}
