// CUDA training kernels (kernels/cuda/{batchnorm,dropout,loss,optim}.cuh) against the reference on
// fresh random inputs, NaN-poisoned outputs with NaN guards around every buffer, aligned and
// misaligned (scalar path) pointers; batch norm on planes up to an 8K image (precision and the
// split reduction), determinism; and against the PyTorch fixtures of tests/data/training.safetensors.
#include <catch2/catch.hpp>

#include <tinycnn/kernels/cuda/batchnorm.cuh>
#include <tinycnn/kernels/cuda/dropout.cuh>
#include <tinycnn/kernels/cuda/loss.cuh>
#include <tinycnn/kernels/cuda/optim.cuh>
#include <tinycnn/kernels/reference/batchnorm.hpp>
#include <tinycnn/kernels/reference/dropout.hpp>
#include <tinycnn/kernels/reference/loss.hpp>
#include <tinycnn/kernels/reference/optim.hpp>
#include <tinycnn/tinycnn.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "support/compare.hpp"
#include "support/cuda.hpp"
#include "support/data.hpp"
#include "support/training_fixtures.hpp"

namespace kc = tinycnn::kernels::cuda;
namespace ref = tinycnn::kernels::reference;
namespace test = tinycnn::test;
using test::convert;
using test::default_tolerance;
using test::poisoned_vector;
using test::random_vector;
template <class T>
using Device = tinycnn::Tensor<T, tinycnn::cuda>;
using DeviceBytes = tinycnn::Tensor<std::uint8_t, tinycnn::cuda>;

#define REQUIRE_LAUNCH_OK(expr)                                       \
  do {                                                                \
    const cudaError_t launch_error_ = (expr);                         \
    INFO(#expr << " returned " << cudaGetErrorString(launch_error_)); \
    REQUIRE(launch_error_ == cudaSuccess);                            \
  } while (0)

namespace {

// NaN guard elements before (the offset) and after each buffer: a write out of bounds shows.
constexpr std::int64_t kGuard = 5;
// Offset 1 element makes a pointer misaligned for 16-byte packets: the scalar paths.
const std::int64_t kOffsets[] = {0, 1};

// A device buffer of NaN guards around `values`, which start `offset` elements in.
template <class T>
Device<T> upload(const std::vector<T>& values, std::int64_t offset) {
  std::vector<T> host = poisoned_vector<T>(offset + std::int64_t(values.size()) + kGuard);
  std::copy(values.begin(), values.end(), host.begin() + offset);
  return Device<T>({std::int64_t(host.size())}, host);
}
template <class T>
Device<T> poisoned(std::int64_t n, std::int64_t offset) {
  return Device<T>::full({offset + n + kGuard}, T(NAN));
}

// The n elements from `offset` on; REQUIREs that the guards around them are still NaN.
template <class T>
std::vector<T> download(const Device<T>& d, std::int64_t offset, std::int64_t n) {
  const std::vector<T> host = d.to_vector();
  std::int64_t bad_guards = 0;
  for (std::int64_t i = 0; i < offset; ++i) bad_guards += !std::isnan(host[i]);
  for (std::int64_t i = offset + n; i < std::int64_t(host.size()); ++i)
    bad_guards += !std::isnan(host[i]);
  REQUIRE(bad_guards == 0);
  return std::vector<T>(host.begin() + offset, host.begin() + offset + n);
}

template <class V>
void require_all_zero(const V& v) {
  std::int64_t nonzero = 0;
  for (const auto x : v) nonzero += !(x == 0);
  REQUIRE(nonzero == 0);
}

template <class A, class B>
std::vector<double> difference(const std::vector<A>& a, const std::vector<B>& b) {
  std::vector<double> d(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) d[i] = double(a[i]) - double(b[i]);
  return d;
}

struct BnCase {
  std::string name;
  std::int64_t n, c, plane;
  double offset;  // added to x: the channel means sit away from 0
};

// Every path of the per-channel reduction: one block per channel (plane 1, small planes), several
// blocks per channel with the (sample, offset) carried across samples (n = 64, 256 of 7x7) and
// within one plane (2^20 + 3 scalar, 2^21 packets), packets with planes a multiple of 4.
const BnCase kBnCases[] = {
    {"n=1 c=1 plane 1 (one value per channel)", 1, 1, 1, 0.0},
    {"n=4 c=3 plane 1 (after global pooling)", 4, 3, 1, 0.5},
    {"n=1 c=5 7x7", 1, 5, 49, 0.0},
    {"n=2 c=7 plane 33", 2, 7, 33, -2.0},
    {"n=8 c=64 14x14", 8, 64, 196, 0.25},
    {"n=64 c=8 7x7 (2 blocks per channel)", 64, 8, 49, 1.0},
    {"n=256 c=3 7x7 (7 blocks per channel)", 256, 3, 49, -1.0},
    {"n=32 c=3 32x32 (4 blocks per channel, packets)", 32, 3, 1024, 2.0},
    {"n=1 c=3 plane 2^20 + 3 (large plane, 513 blocks)", 1, 3, (1 << 20) + 3, 4.0},
    {"n=2 c=2 plane 2^21", 2, 2, 1 << 21, 3.0},
};

// The device run of one batch-norm case: forward training, backward, inference, compared with the
// reference; returns nothing, REQUIREs everything.
template <class T>
void check_batchnorm_case(const BnCase& cs, std::int64_t off, std::uint64_t& salt) {
  const cudaStream_t s = tinycnn::cuda_stream();
  const double tol = default_tolerance<T>();
  const std::int64_t total = cs.n * cs.c * cs.plane, count = cs.n * cs.plane;
  const auto x = random_vector<T>(total, ++salt, cs.offset - 1.0, cs.offset + 1.0);
  const auto gamma = random_vector<T>(cs.c, ++salt, 0.5, 1.5);
  const auto beta = random_vector<T>(cs.c, ++salt);
  const auto rm0 = random_vector<T>(cs.c, ++salt), rv0 = random_vector<T>(cs.c, ++salt, 0.5, 1.5);
  const auto dy = random_vector<T>(total, ++salt);
  const T momentum = T(0.1), eps = T(1e-5);

  std::vector<T> want_y(total), want_mean(cs.c), want_invstd(cs.c), want_rm = rm0, want_rv = rv0;
  ref::batchnorm2d_forward_training_reference(want_y.data(), want_mean.data(), want_invstd.data(),
                                              want_rm.data(), want_rv.data(), x.data(),
                                              gamma.data(), beta.data(), cs.n, cs.c, cs.plane,
                                              momentum, eps);
  const auto d_x = upload(x, off), d_dy = upload(dy, off);
  const auto d_gamma = upload(gamma, off), d_beta = upload(beta, off);
  auto d_y = poisoned<T>(total, off), d_mean = poisoned<T>(cs.c, off);
  auto d_invstd = poisoned<T>(cs.c, off);
  auto d_rm = upload(rm0, off), d_rv = upload(rv0, off);
  {
    INFO("training forward");
    REQUIRE_LAUNCH_OK(kc::batchnorm2d_forward_training(
        d_y.data() + off, d_mean.data() + off, d_invstd.data() + off, d_rm.data() + off,
        d_rv.data() + off, d_x.data() + off, d_gamma.data() + off, d_beta.data() + off, cs.n,
        cs.c, cs.plane, momentum, eps, s));
    const auto y = download(d_y, off, total);
    TINYCNN_REQUIRE_CLOSE(y, want_y, tol);
    TINYCNN_REQUIRE_CLOSE(download(d_mean, off, cs.c), want_mean, tol);
    TINYCNN_REQUIRE_CLOSE(download(d_invstd, off, cs.c), want_invstd, tol);
    TINYCNN_REQUIRE_CLOSE(download(d_rm, off, cs.c), want_rm, tol);
    TINYCNN_REQUIRE_CLOSE(download(d_rv, off, cs.c), want_rv, tol);

    INFO("again without running statistics: the same bits (deterministic reductions)");
    auto d_y2 = poisoned<T>(total, off), d_mean2 = poisoned<T>(cs.c, off);
    auto d_invstd2 = poisoned<T>(cs.c, off);
    REQUIRE_LAUNCH_OK(kc::batchnorm2d_forward_training<T>(
        d_y2.data() + off, d_mean2.data() + off, d_invstd2.data() + off, nullptr, nullptr,
        d_x.data() + off, d_gamma.data() + off, d_beta.data() + off, cs.n, cs.c, cs.plane,
        momentum, eps, s));
    REQUIRE(download(d_y2, off, total) == y);
    REQUIRE(download(d_mean2, off, cs.c) == download(d_mean, off, cs.c));
    REQUIRE(download(d_invstd2, off, cs.c) == download(d_invstd, off, cs.c));
  }
  {
    INFO("backward (from the reference's saved statistics)");
    std::vector<T> want_dx(total), want_dg(cs.c), want_db(cs.c);
    ref::batchnorm2d_backward_reference(want_dx.data(), want_dg.data(), want_db.data(), dy.data(),
                                        x.data(), gamma.data(), want_mean.data(),
                                        want_invstd.data(), cs.n, cs.c, cs.plane);
    const auto d_mean_ref = upload(want_mean, off), d_invstd_ref = upload(want_invstd, off);
    auto d_dx = poisoned<T>(total, off), d_dg = poisoned<T>(cs.c, off);
    auto d_db = poisoned<T>(cs.c, off);
    REQUIRE_LAUNCH_OK(kc::batchnorm2d_backward(
        d_dx.data() + off, d_dg.data() + off, d_db.data() + off, d_dy.data() + off,
        d_x.data() + off, d_gamma.data() + off, d_mean_ref.data() + off,
        d_invstd_ref.data() + off, cs.n, cs.c, cs.plane, s));
    const auto dx = download(d_dx, off, total), dg = download(d_dg, off, cs.c);
    TINYCNN_REQUIRE_CLOSE(download(d_db, off, cs.c), want_db, tol);
    if (count == 1) {
      // One value per channel: xhat = 0 and dx = dy - mean(dy) = 0, exactly.
      require_all_zero(want_dx), require_all_zero(want_dg);
      require_all_zero(dx), require_all_zero(dg);
    } else {
      TINYCNN_REQUIRE_CLOSE(dx, want_dx, tol);
      TINYCNN_REQUIRE_CLOSE(dg, want_dg, tol);
    }
  }
  {
    INFO("inference forward, then in place");
    std::vector<T> want(total);
    ref::batchnorm2d_forward_inference_reference(want.data(), x.data(), gamma.data(), beta.data(),
                                                 rm0.data(), rv0.data(), cs.n, cs.c, cs.plane,
                                                 eps);
    const auto d_rm0 = upload(rm0, off), d_rv0 = upload(rv0, off);
    auto d_out = poisoned<T>(total, off);
    REQUIRE_LAUNCH_OK(kc::batchnorm2d_forward_inference(
        d_out.data() + off, d_x.data() + off, d_gamma.data() + off, d_beta.data() + off,
        d_rm0.data() + off, d_rv0.data() + off, cs.n, cs.c, cs.plane, eps, s));
    TINYCNN_REQUIRE_CLOSE(download(d_out, off, total), want, tol);
    auto d_inplace = upload(x, off);
    REQUIRE_LAUNCH_OK(kc::batchnorm2d_forward_inference(
        d_inplace.data() + off, d_inplace.data() + off, d_gamma.data() + off,
        d_beta.data() + off, d_rm0.data() + off, d_rv0.data() + off, cs.n, cs.c, cs.plane, eps,
        s));
    TINYCNN_REQUIRE_CLOSE(download(d_inplace, off, total), want, tol);
  }
}

}  // namespace

TEMPLATE_TEST_CASE("cuda batchnorm2d matches the reference: training forward, backward, inference",
                   "[cuda][kernels][batchnorm]", float, double) {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  std::uint64_t salt = 10;
  for (const BnCase& cs : kBnCases)
    for (const std::int64_t off : kOffsets) {
      INFO("case " << cs.name << (off ? ", misaligned by 1 element" : ", aligned"));
      check_batchnorm_case<TestType>(cs, off, salt);
    }
}

TEST_CASE("cuda batchnorm2d on an 8K plane: float statistics stay precise, 1024 blocks per channel",
          "[cuda][kernels][batchnorm]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  const cudaStream_t s = tinycnn::cuda_stream();
  // One channel of a 4320 x 7680 image, mean 4 and standard deviation 0.58: E[x^2] - E[x]^2 in
  // float would cancel 6 of 24 bits, and a plain float sum of 3.3e7 values would lose more.
  const std::int64_t n = 1, c = 2, plane = std::int64_t(4320) * 7680, total = n * c * plane;
  const auto x = random_vector<float>(total, 1234, 3.0, 5.0);
  // dy with a mean and a part along x, so that dbeta and dgamma are large sums (~1e7) whose relative
  // error measures the summation; zero-mean independent dy would make them random walks that come
  // near 0 in a few percent of runs.
  auto dy = random_vector<float>(total, 1235, -0.5, 0.5);
  for (std::int64_t i = 0; i < total; ++i) dy[i] += 0.25f + 0.5f * (x[i] - 4.0f);
  const std::vector<float> gamma{1.25f, 0.75f}, beta{0.5f, -0.25f};
  std::vector<float> want_y(total), want_mean(c), want_invstd(c);
  ref::batchnorm2d_forward_training_reference<float>(want_y.data(), want_mean.data(),
                                                     want_invstd.data(), nullptr, nullptr,
                                                     x.data(), gamma.data(), beta.data(), n, c,
                                                     plane, 0.1f, 1e-5f);
  const Device<float> d_x({total}, x), d_dy({total}, dy), d_gamma({c}, gamma), d_beta({c}, beta);
  auto d_y = Device<float>::full({total}, NAN), d_mean = Device<float>::full({c}, NAN);
  auto d_invstd = Device<float>::full({c}, NAN);
  REQUIRE_LAUNCH_OK(kc::batchnorm2d_forward_training<float>(
      d_y.data(), d_mean.data(), d_invstd.data(), nullptr, nullptr, d_x.data(), d_gamma.data(),
      d_beta.data(), n, c, plane, 0.1f, 1e-5f, s));
  // The reference rounds double statistics to float: one float rounding apart at most.
  TINYCNN_REQUIRE_CLOSE(d_mean.to_vector(), want_mean, 1e-6);
  TINYCNN_REQUIRE_CLOSE(d_invstd.to_vector(), want_invstd, 1e-6);
  TINYCNN_REQUIRE_CLOSE(d_y.to_vector(), want_y, 1e-5);

  std::vector<float> want_dx(total), want_dg(c), want_db(c);
  ref::batchnorm2d_backward_reference(want_dx.data(), want_dg.data(), want_db.data(), dy.data(),
                                      x.data(), gamma.data(), want_mean.data(), want_invstd.data(),
                                      n, c, plane);
  const Device<float> d_mean_ref({c}, want_mean), d_invstd_ref({c}, want_invstd);
  auto d_dx = Device<float>::full({total}, NAN), d_dg = Device<float>::full({c}, NAN);
  auto d_db = Device<float>::full({c}, NAN);
  REQUIRE_LAUNCH_OK(kc::batchnorm2d_backward(d_dx.data(), d_dg.data(), d_db.data(), d_dy.data(),
                                             d_x.data(), d_gamma.data(), d_mean_ref.data(),
                                             d_invstd_ref.data(), n, c, plane, s));
  // dgamma and dbeta are sums of 3.3e7 terms each: a float running sum would miss by percents.
  TINYCNN_REQUIRE_CLOSE(d_dg.to_vector(), want_dg, 1e-6);
  TINYCNN_REQUIRE_CLOSE(d_db.to_vector(), want_db, 1e-6);
  TINYCNN_REQUIRE_CLOSE(d_dx.to_vector(), want_dx, 1e-5);
}

TEST_CASE("cuda batchnorm2d: empty and invalid sizes", "[cuda][kernels][batchnorm]") {
  TINYCNN_REQUIRE_CUDA();
  const cudaStream_t s = tinycnn::cuda_stream();
  auto d = Device<float>::full({8}, NAN);
  float* p = d.data();
  // c == 0: nothing to do. n * plane == 0 with channels: no statistics exist.
  REQUIRE_LAUNCH_OK(kc::batchnorm2d_forward_training(p, p, p, p, p, p, p, p, 2, 0, 3, 0.1f, 1e-5f, s));
  REQUIRE_LAUNCH_OK(kc::batchnorm2d_forward_inference(p, p, p, p, p, p, 0, 3, 3, 1e-5f, s));
  CHECK(kc::batchnorm2d_forward_training(p, p, p, p, p, p, p, p, 0, 2, 3, 0.1f, 1e-5f, s) ==
        cudaErrorInvalidValue);
  CHECK(kc::batchnorm2d_backward(p, p, p, p, p, p, p, p, 2, 2, 0, s) == cudaErrorInvalidValue);
  CHECK(kc::batchnorm2d_forward_training(p, p, p, p, p, p, p, p, -1, 2, 3, 0.1f, 1e-5f, s) ==
        cudaErrorInvalidValue);
  CHECK(kc::batchnorm2d_forward_inference(p, p, p, p, p, p, 1, -2, 3, 1e-5f, s) ==
        cudaErrorInvalidValue);
  for (const float v : d.to_vector()) CHECK(std::isnan(v));
}

// ---- dropout ----

TEST_CASE("cuda dropout equals the reference bit for bit, out of place and in place",
          "[cuda][kernels][dropout]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  const cudaStream_t s = tinycnn::cuda_stream();
  for (const std::int64_t n : {std::int64_t(1), std::int64_t(3), std::int64_t(7),
                               std::int64_t(1023), std::int64_t((1 << 20) + 3)})
    for (const std::int64_t off : kOffsets)
      for (const float p : {0.0f, 0.5f, 0.9f, 1.0f}) {
        INFO("n=" << n << " p=" << p << (off ? " misaligned" : " aligned"));
        const std::uint64_t seed = test::test_seed() + std::uint64_t(n) * 3 + std::uint64_t(off);
        const auto x = random_vector<float>(n, 20 + n + off), g = random_vector<float>(n, 30 + n);
        std::vector<float> want(n), want_dx(n);
        ref::dropout_forward_reference(want.data(), x.data(), n, p, seed);
        ref::dropout_backward_reference(want_dx.data(), g.data(), n, p, seed);
        // Exact equality (NaN never equals): a short input may drop everything, which the
        // relative comparison would reject as vacuous.
        auto d_x = upload(x, off);
        auto d_y = poisoned<float>(n, off);
        REQUIRE_LAUNCH_OK(kc::dropout_forward(d_y.data() + off, d_x.data() + off, n, p, seed, s));
        REQUIRE(download(d_y, off, n) == want);
        REQUIRE_LAUNCH_OK(kc::dropout_forward(d_x.data() + off, d_x.data() + off, n, p, seed, s));
        REQUIRE(download(d_x, off, n) == want);

        auto d_g = upload(g, off);
        auto d_dx = poisoned<float>(n, off);
        REQUIRE_LAUNCH_OK(kc::dropout_backward(d_dx.data() + off, d_g.data() + off, n, p, seed, s));
        REQUIRE(download(d_dx, off, n) == want_dx);
        REQUIRE_LAUNCH_OK(kc::dropout_backward(d_g.data() + off, d_g.data() + off, n, p, seed, s));
        REQUIRE(download(d_g, off, n) == want_dx);
      }
}

TEST_CASE("cuda dropout: keep rate, scale and backward's mask on 2^22 elements",
          "[cuda][kernels][dropout]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  const cudaStream_t s = tinycnn::cuda_stream();
  const std::int64_t n = 1 << 22;
  const auto d_ones = Device<float>::full({n}, 1.0f);
  for (const float p : {0.1f, 0.5f, 0.9f}) {
    INFO("p=" << p);
    const std::uint64_t seed = test::test_seed() ^ std::uint64_t(p * 1000);
    auto d_y = Device<float>::full({n}, NAN), d_dx = Device<float>::full({n}, NAN);
    REQUIRE_LAUNCH_OK(kc::dropout_forward(d_y.data(), d_ones.data(), n, p, seed, s));
    REQUIRE_LAUNCH_OK(kc::dropout_backward(d_dx.data(), d_ones.data(), n, p, seed, s));
    const auto y = d_y.to_vector(), dx = d_dx.to_vector();
    REQUIRE(dx == y);  // the same mask and scale from the same seed
    const float scale = 1.0f / (1.0f - p);
    std::int64_t kept = 0, bad = 0;
    for (const float v : y) kept += v != 0.0f, bad += !(v == 0.0f || v == scale);
    REQUIRE(bad == 0);
    const double q = 1.0 - double(p), mean = q * double(n), sd = std::sqrt(double(n) * q * p);
    INFO("kept " << kept << ", expected " << mean << " +- " << sd);
    CHECK(std::fabs(double(kept) - mean) <= 6 * sd);  // a false alarm about once in 10^9 runs
  }
  auto d_y = Device<float>::full({4}, NAN);
  CHECK(kc::dropout_forward(d_y.data(), d_ones.data(), 4, 1.5f, 1, s) == cudaErrorInvalidValue);
  CHECK(kc::dropout_forward(d_y.data(), d_ones.data(), 4, -0.1f, 1, s) == cudaErrorInvalidValue);
  CHECK(kc::dropout_forward(d_y.data(), d_ones.data(), -4, 0.5f, 1, s) == cudaErrorInvalidValue);
  for (const float v : d_y.to_vector()) CHECK(std::isnan(v));
}

// ---- MSE loss ----

namespace {
// CUB's two phases: the query must write nothing; then the run with a workspace of that size.
float run_mse(float* dx, const float* x, const float* t, std::int64_t n) {
  const cudaStream_t s = tinycnn::cuda_stream();
  auto d_loss = Device<float>::full({1}, NAN);
  std::size_t bytes = 0;
  REQUIRE_LAUNCH_OK(kc::mse_loss(d_loss.data(), dx, x, t, n, nullptr, &bytes, s));
  REQUIRE(std::isnan(d_loss.item()));
  REQUIRE(bytes > 0);
  auto workspace = DeviceBytes::uninitialized({std::int64_t(bytes)});
  REQUIRE_LAUNCH_OK(kc::mse_loss(d_loss.data(), dx, x, t, n, workspace.data(), &bytes, s));
  return d_loss.item();
}
}  // namespace

TEST_CASE("cuda mse_loss matches the reference: loss, gradient, workspace query",
          "[cuda][kernels][loss]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  for (const std::int64_t n : {std::int64_t(1), std::int64_t(7), std::int64_t(1000),
                               std::int64_t((1 << 24) + 3)})
    for (const std::int64_t off : kOffsets) {
      INFO("n=" << n << (off ? " misaligned" : " aligned"));
      const auto x = random_vector<float>(n, 40 + n + off), t = random_vector<float>(n, 50 + n);
      std::vector<float> want_dx(n);
      const auto xd = convert<double>(x), td = convert<double>(t);
      const double want = ref::mse_loss_reference<double>(nullptr, xd.data(), td.data(), n);
      ref::mse_loss_reference(want_dx.data(), x.data(), t.data(), n);
      const auto d_x = upload(x, off), d_t = upload(t, off);
      auto d_dx = poisoned<float>(n, off);
      // Float per-thread sums (compensated), double across threads and blocks: ~1e-7.
      const float loss = run_mse(d_dx.data() + off, d_x.data() + off, d_t.data() + off, n);
      TINYCNN_REQUIRE_CLOSE(std::vector<float>{loss}, std::vector<double>{want}, 1e-6);
      // The same subtract and multiply per element as the reference.
      TINYCNN_REQUIRE_CLOSE(download(d_dx, off, n), want_dx, 0.0);
      const float loss_only = run_mse(nullptr, d_x.data() + off, d_t.data() + off, n);
      CHECK(loss_only == loss);  // the same partials in the same order: the same bits
    }
}

TEST_CASE("cuda mse_loss: n == 0 gives 0; short or misaligned workspaces are rejected",
          "[cuda][kernels][loss]") {
  TINYCNN_REQUIRE_CUDA();
  const cudaStream_t s = tinycnn::cuda_stream();
  const auto d_x = Device<float>::full({4}, 1.0f);
  CHECK(run_mse(nullptr, d_x.data(), d_x.data(), 0) == 0.0f);
  auto d_loss = Device<float>::full({1}, NAN);
  std::size_t bytes = 0;
  REQUIRE_LAUNCH_OK(kc::mse_loss(d_loss.data(), static_cast<float*>(nullptr), d_x.data(),
                                 d_x.data(), 4, nullptr, &bytes, s));
  auto workspace = DeviceBytes::uninitialized({std::int64_t(bytes) + 8});
  std::size_t short_bytes = bytes - 1;
  CHECK(kc::mse_loss(d_loss.data(), static_cast<float*>(nullptr), d_x.data(), d_x.data(), 4,
                     workspace.data(), &short_bytes, s) == cudaErrorInvalidValue);
  std::size_t enough = bytes;
  CHECK(kc::mse_loss(d_loss.data(), static_cast<float*>(nullptr), d_x.data(), d_x.data(), 4,
                     workspace.data() + 4, &enough, s) == cudaErrorInvalidValue);
  CHECK(kc::mse_loss(d_loss.data(), static_cast<float*>(nullptr), d_x.data(), d_x.data(), -1,
                     workspace.data(), &enough, s) == cudaErrorInvalidValue);
  CHECK(std::isnan(d_loss.item()));
}

// ---- optimizers ----

namespace {

struct SgdCase {
  std::string name;
  float momentum, dampening, weight_decay;
  bool nesterov;
};
const SgdCase kSgdCases[] = {
    {"plain", 0.0f, 0.0f, 0.0f, false},
    {"weight decay", 0.0f, 0.0f, 1e-4f, false},
    {"momentum 0.9 wd 1e-4", 0.9f, 0.0f, 1e-4f, false},
    {"nesterov momentum 0.9 wd 1e-4", 0.9f, 0.0f, 1e-4f, true},
    {"momentum 0.9 dampening 0.1", 0.9f, 0.1f, 0.0f, false},
    {"nesterov dampening 0.3 wd 1e-2", 0.5f, 0.3f, 1e-2f, true},
};

struct AdamCase {
  std::string name;
  float weight_decay;
  bool decoupled;
};
const AdamCase kAdamCases[] = {
    {"adam", 0.0f, false},
    {"adam wd 0.01", 0.01f, false},
    {"adamw wd 0.01", 0.01f, true},
    {"adamw no wd", 0.0f, true},
};

const std::int64_t kOptimSizes[] = {1, 7, 1023, (1 << 20) + 3};

// Float on the device (fused multiply-adds) against the reference's double: a few float ulps of
// the terms summed. A step can cancel to nearly zero (p0 - lr*u, 0.9*m0 + 0.1*g), and relative to
// that small result the rounding of the terms is large (2.3e-3 was seen for Adam's m with n = 1,
// seed 8849392914568703750), so parameters and moments are compared against the size of their
// terms (TINYCNN_REQUIRE_CLOSE_TO_SCALE): |p0| + |p - p0| for parameters, the sum of the weighted
// magnitudes for moments.
constexpr double kOptimTolerance = 1e-5;

// |p0(i)| + |p(i) - p0(i)|: the size of a parameter update's terms.
std::vector<double> step_scale(const std::vector<float>& p0, const std::vector<float>& p) {
  std::vector<double> s(p.size());
  for (std::size_t i = 0; i < p.size(); ++i)
    s[i] = std::fabs(double(p0[i])) + std::fabs(double(p[i]) - double(p0[i]));
  return s;
}

// a*|x(i)| + b*|y(i)|: the size of the terms of a*x + b*y.
std::vector<double> blend_scale(double a, const std::vector<float>& x, double b, const std::vector<float>& y) {
  std::vector<double> s(y.size());
  for (std::size_t i = 0; i < y.size(); ++i) s[i] = a * std::fabs(double(x[i])) + b * std::fabs(double(y[i]));
  return s;
}

}  // namespace

TEST_CASE("cuda sgd_update matches the reference", "[cuda][kernels][optim]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  const cudaStream_t s = tinycnn::cuda_stream();
  std::uint64_t salt = 600;
  for (const SgdCase& cs : kSgdCases)
    for (const std::int64_t n : kOptimSizes)
      for (const std::int64_t off : kOffsets)
        for (const bool first : {true, false}) {
          INFO(cs.name << " n=" << n << (off ? " misaligned" : " aligned")
                       << (first ? " first step" : " later step"));
          const auto param0 = random_vector<float>(n, ++salt), grad = random_vector<float>(n, ++salt);
          // The first step must not read the buffer: it is NaN then.
          const auto buf0 = first ? poisoned_vector<float>(n) : random_vector<float>(n, ++salt);
          auto want_p = param0, want_b = buf0;
          const bool momentum = cs.momentum != 0.0f;
          ref::sgd_update_reference(want_p.data(), momentum ? want_b.data() : nullptr, grad.data(),
                                    n, 0.05f, cs.momentum, cs.dampening, cs.weight_decay,
                                    cs.nesterov, first);
          auto d_p = upload(param0, off), d_b = upload(buf0, off);
          const auto d_g = upload(grad, off);
          REQUIRE_LAUNCH_OK(kc::sgd_update(d_p.data() + off, momentum ? d_b.data() + off : nullptr,
                                           d_g.data() + off, n, 0.05f, cs.momentum, cs.dampening,
                                           cs.weight_decay, cs.nesterov, first, s));
          TINYCNN_REQUIRE_CLOSE_TO_SCALE(download(d_p, off, n), want_p, step_scale(param0, want_p),
                                         kOptimTolerance);
          if (momentum) {
            // buf = momentum*buf0 + (1 - dampening)*(g + wd*p0); the first step has no buf0.
            auto g_scale = blend_scale(1.0, grad, cs.weight_decay, param0);
            std::vector<float> g_abs(g_scale.begin(), g_scale.end());
            const auto scale = first ? blend_scale(0.0, g_abs, 1.0, g_abs)
                                     : blend_scale(cs.momentum, buf0, 1.0, g_abs);
            TINYCNN_REQUIRE_CLOSE_TO_SCALE(download(d_b, off, n), want_b, scale, kOptimTolerance);
          }
        }
  auto d = Device<float>::full({4}, 1.0f);
  CHECK(kc::sgd_update(d.data(), static_cast<float*>(nullptr), d.data(), 4, 0.1f, 0.9f, 0.0f,
                       0.0f, false, true, s) == cudaErrorInvalidValue);
  CHECK(kc::sgd_update(d.data(), d.data(), d.data(), -1, 0.1f, 0.9f, 0.0f, 0.0f, false, true, s) ==
        cudaErrorInvalidValue);
}

TEST_CASE("cuda adam_update matches the reference", "[cuda][kernels][optim]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  const cudaStream_t s = tinycnn::cuda_stream();
  std::uint64_t salt = 700;
  for (const AdamCase& cs : kAdamCases)
    for (const std::int64_t n : kOptimSizes)
      for (const std::int64_t off : kOffsets)
        for (const std::int64_t step : {std::int64_t(1), std::int64_t(5)}) {
          INFO(cs.name << " n=" << n << (off ? " misaligned" : " aligned") << " step=" << step);
          const auto param0 = random_vector<float>(n, ++salt), grad = random_vector<float>(n, ++salt);
          const auto m0 = step == 1 ? std::vector<float>(n, 0.0f)
                                    : random_vector<float>(n, ++salt, -0.1, 0.1);
          const auto v0 = step == 1 ? std::vector<float>(n, 0.0f)
                                    : random_vector<float>(n, ++salt, 0.0, 0.01);
          auto want_p = param0, want_m = m0, want_v = v0;
          ref::adam_update_reference(want_p.data(), want_m.data(), want_v.data(), grad.data(), n,
                                     1e-3f, 0.9f, 0.999f, 1e-8f, cs.weight_decay, step,
                                     cs.decoupled);
          auto d_p = upload(param0, off), d_m = upload(m0, off), d_v = upload(v0, off);
          const auto d_g = upload(grad, off);
          REQUIRE_LAUNCH_OK(kc::adam_update(d_p.data() + off, d_m.data() + off, d_v.data() + off,
                                            d_g.data() + off, n, 1e-3f, 0.9f, 0.999f, 1e-8f,
                                            cs.weight_decay, step, cs.decoupled, s));
          TINYCNN_REQUIRE_CLOSE_TO_SCALE(download(d_p, off, n), want_p, step_scale(param0, want_p),
                                         kOptimTolerance);
          // m = 0.9*m0 + 0.1*(g + wd*p0) (L2 decay enters the gradient; decoupled decay does not).
          std::vector<float> g_eff(grad);
          if (!cs.decoupled)
            for (std::int64_t i = 0; i < n; ++i) g_eff[i] = std::fabs(grad[i]) + cs.weight_decay * std::fabs(param0[i]);
          TINYCNN_REQUIRE_CLOSE_TO_SCALE(download(d_m, off, n), want_m, blend_scale(0.9, m0, 0.1, g_eff),
                                         kOptimTolerance);
          TINYCNN_REQUIRE_CLOSE(download(d_v, off, n), want_v, kOptimTolerance);
        }
  auto d = Device<float>::full({4}, 1.0f);
  CHECK(kc::adam_update(d.data(), d.data(), d.data(), d.data(), 4, 1e-3f, 0.9f, 0.999f, 1e-8f,
                        0.0f, 0, false, s) == cudaErrorInvalidValue);
  for (const float v : d.to_vector()) CHECK(v == 1.0f);
}

// ---- PyTorch fixtures ----

TEMPLATE_TEST_CASE("cuda batchnorm2d matches PyTorch BatchNorm2d",
                   "[cuda][kernels][batchnorm][fixtures]", float, double) {
  TINYCNN_REQUIRE_CUDA();
  using T = TestType;
  const cudaStream_t s = tinycnn::cuda_stream();
  const double tol = std::is_same_v<T, double> ? 1e-12 : 1e-5;
  const auto fixtures = test::batchnorm_fixtures();
  REQUIRE(fixtures.size() == 6);
  for (const auto& f : fixtures) {
    INFO("case " << f.name);
    const std::int64_t total = f.numel();
    const Device<T> d_x({total}, convert<T>(f.x)), d_dy({total}, convert<T>(f.dy));
    const Device<T> d_gamma({f.c}, convert<T>(f.gamma)), d_beta({f.c}, convert<T>(f.beta));
    Device<T> d_rm({f.c}, convert<T>(f.running_mean_in)), d_rv({f.c}, convert<T>(f.running_var_in));
    auto d_y = Device<T>::full({total}, T(NAN)), d_mean = Device<T>::full({f.c}, T(NAN));
    auto d_invstd = Device<T>::full({f.c}, T(NAN));
    REQUIRE_LAUNCH_OK(kc::batchnorm2d_forward_training(
        d_y.data(), d_mean.data(), d_invstd.data(), d_rm.data(), d_rv.data(), d_x.data(),
        d_gamma.data(), d_beta.data(), f.n, f.c, f.plane(), f.momentum, f.eps, s));
    TINYCNN_REQUIRE_CLOSE(d_y.to_vector(), f.y, tol);
    TINYCNN_REQUIRE_CLOSE(d_mean.to_vector(), f.save_mean, tol);
    TINYCNN_REQUIRE_CLOSE(d_invstd.to_vector(), f.save_invstd, tol);
    TINYCNN_REQUIRE_CLOSE(d_rm.to_vector(), f.running_mean_out, tol);
    TINYCNN_REQUIRE_CLOSE(d_rv.to_vector(), f.running_var_out, tol);

    auto d_dx = Device<T>::full({total}, T(NAN)), d_dg = Device<T>::full({f.c}, T(NAN));
    auto d_db = Device<T>::full({f.c}, T(NAN));
    REQUIRE_LAUNCH_OK(kc::batchnorm2d_backward(d_dx.data(), d_dg.data(), d_db.data(), d_dy.data(),
                                               d_x.data(), d_gamma.data(), d_mean.data(),
                                               d_invstd.data(), f.n, f.c, f.plane(), s));
    TINYCNN_REQUIRE_CLOSE(d_dx.to_vector(), f.dx, tol);
    TINYCNN_REQUIRE_CLOSE(d_dg.to_vector(), f.dgamma, tol);
    TINYCNN_REQUIRE_CLOSE(d_db.to_vector(), f.dbeta, tol);

    const Device<T> d_rm0({f.c}, convert<T>(f.running_mean_in));
    const Device<T> d_rv0({f.c}, convert<T>(f.running_var_in));
    auto d_eval = Device<T>::full({total}, T(NAN));
    REQUIRE_LAUNCH_OK(kc::batchnorm2d_forward_inference(d_eval.data(), d_x.data(), d_gamma.data(),
                                                        d_beta.data(), d_rm0.data(), d_rv0.data(),
                                                        f.n, f.c, f.plane(), f.eps, s));
    TINYCNN_REQUIRE_CLOSE(d_eval.to_vector(), f.y_eval, tol);
  }
}

TEST_CASE("cuda mse_loss matches PyTorch", "[cuda][kernels][loss][fixtures]") {
  TINYCNN_REQUIRE_CUDA();
  const auto fixtures = test::mse_fixtures();
  REQUIRE(fixtures.size() == 3);
  for (const auto& f : fixtures) {
    INFO("case " << f.name);
    const Device<float> d_x({f.n}, convert<float>(f.x)), d_t({f.n}, convert<float>(f.target));
    auto d_dx = Device<float>::full({f.n}, NAN);
    const float loss = run_mse(d_dx.data(), d_x.data(), d_t.data(), f.n);
    TINYCNN_REQUIRE_CLOSE(std::vector<float>{loss}, std::vector<double>{f.loss}, 1e-5);
    TINYCNN_REQUIRE_CLOSE(d_dx.to_vector(), f.dx, 1e-5);
  }
}

TEST_CASE("cuda sgd_update and adam_update reproduce torch.optim step by step",
          "[cuda][kernels][optim][fixtures]") {
  TINYCNN_REQUIRE_CUDA();
  const cudaStream_t s = tinycnn::cuda_stream();
  // Parameters: the stated 1e-6. The step alone (param_after - param_before, ~1e-2 of the
  // parameters): the float rounding of the parameters and of the hyperparameters (1 - float(0.999)
  // is 0.001 * (1 - 1.3e-5)) give ~1e-5; the optimizer state carries the latter too.
  const double param_tol = 1e-6, update_tol = 1e-4, state_tol = 3e-5;
  const auto fixtures = test::optim_fixtures();
  REQUIRE(fixtures.size() == 7);
  for (const auto& f : fixtures) {
    Device<float> d_p({f.n}, convert<float>(f.param0));
    // SGD's first step must not read its buffer: NaN then. Adam's state starts at 0.
    auto d_s1 = Device<float>::full({f.n}, f.optimizer == "sgd" ? NAN : 0.0f);
    auto d_s2 = Device<float>::full({f.n}, 0.0f);
    std::vector<double> want_before = f.param0;
    for (std::int64_t step = 0; step < f.steps; ++step) {
      INFO("case " << f.name << ", after step " << step + 1);
      const auto row = [&](const std::vector<double>& v) {
        return std::vector<double>(v.begin() + step * f.n, v.begin() + (step + 1) * f.n);
      };
      const Device<float> d_g({f.n}, convert<float>(row(f.grads)));
      const auto p_before = d_p.to_vector();
      if (f.optimizer == "sgd")
        REQUIRE_LAUNCH_OK(kc::sgd_update(d_p.data(), f.momentum != 0 ? d_s1.data() : nullptr,
                                         d_g.data(), f.n, f.lr, f.momentum, f.dampening,
                                         f.weight_decay, f.nesterov, step == 0, s));
      else
        REQUIRE_LAUNCH_OK(kc::adam_update(d_p.data(), d_s1.data(), d_s2.data(), d_g.data(), f.n,
                                          f.lr, f.beta1, f.beta2, f.eps, f.weight_decay, step + 1,
                                          f.optimizer == "adamw", s));
      const std::vector<float> p = d_p.to_vector();
      const std::vector<double> want = row(f.params);
      TINYCNN_REQUIRE_CLOSE(p, want, param_tol);
      TINYCNN_REQUIRE_CLOSE(difference(p, p_before), difference(want, want_before), update_tol);
      if (!f.state1.empty()) TINYCNN_REQUIRE_CLOSE(d_s1.to_vector(), row(f.state1), state_tol);
      if (!f.state2.empty()) TINYCNN_REQUIRE_CLOSE(d_s2.to_vector(), row(f.state2), state_tol);
      want_before = want;
    }
  }
}
