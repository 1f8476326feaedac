// CUDA softmax kernels (kernels/cuda/softmax.cuh) against the reference: softmax and log-softmax
// forward and backward over warp-per-row and block-per-row shapes, large logits, in-place
// backward, and softmax cross-entropy with and without dlogits and with invalid labels.
#include <catch2/catch.hpp>

#include <tinycnn/kernels/cuda/softmax.cuh>
#include <tinycnn/kernels/reference/softmax.hpp>
#include <tinycnn/tinycnn.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "support/compare.hpp"
#include "support/cuda.hpp"
#include "support/data.hpp"

namespace kc = tinycnn::kernels::cuda;
namespace ref = tinycnn::kernels::reference;
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

struct RowsCols {
  std::int64_t rows, cols;
};
// (1, 1) and (3, 10): tiny; (64, 1000): ImageNet logits, warp per row; (2, 1024) the last warp
// shape; (5, 1025) the first block shape; (7, 4099): block per row with a ragged last stride.
const RowsCols kShapes[] = {{1, 1}, {3, 10}, {64, 1000}, {2, 1024}, {5, 1025}, {7, 4099}};

constexpr double kTolerance = 1e-5;  // expf/logf and float sums against the double reference

// As TINYCNN_REQUIRE_CLOSE, except that an all-zero reference (log-softmax of one column, the
// backward passes of one column) must be matched by exact zeros.
void require_close_or_zero(const std::vector<float>& out, const std::vector<float>& want) {
  bool all_zero = true;
  for (const float v : want) all_zero = all_zero && v == 0.0f;
  if (!all_zero) {
    TINYCNN_REQUIRE_CLOSE(out, want, kTolerance);
    return;
  }
  REQUIRE(out.size() == want.size());
  for (const float v : out) REQUIRE(v == 0.0f);
}

}  // namespace

TEST_CASE("cuda softmax and log_softmax forward match the reference", "[cuda][kernels][softmax]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  const cudaStream_t s = tinycnn::cuda_stream();
  std::uint64_t salt = 500;
  for (const auto& rc : kShapes)
    for (const double shift : {0.0, 550.0}) {
      // shift 550: exp would overflow without the row maximum subtracted.
      INFO("rows=" << rc.rows << " cols=" << rc.cols << " logits in [" << shift - 8 << ", "
                   << shift + 8 << ")");
      const std::int64_t n = rc.rows * rc.cols;
      const auto x = random_vector<float>(n, ++salt, shift - 8, shift + 8);
      const DeviceFloats d_x({n}, x);
      std::vector<float> want(n);

      ref::softmax_forward_reference(want.data(), x.data(), rc.rows, rc.cols);
      auto d_y = DeviceFloats::full({n}, NAN);
      REQUIRE_LAUNCH_OK(kc::softmax_forward(d_y.data(), d_x.data(), rc.rows, rc.cols, s));
      require_close_or_zero(d_y.to_vector(), want);

      ref::log_softmax_forward_reference(want.data(), x.data(), rc.rows, rc.cols);
      d_y.fill(NAN);
      REQUIRE_LAUNCH_OK(kc::log_softmax_forward(d_y.data(), d_x.data(), rc.rows, rc.cols, s));
      require_close_or_zero(d_y.to_vector(), want);
    }
}

TEST_CASE("cuda softmax and log_softmax backward match the reference, in place too",
          "[cuda][kernels][softmax]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  const cudaStream_t s = tinycnn::cuda_stream();
  std::uint64_t salt = 600;
  for (const auto& rc : kShapes) {
    INFO("rows=" << rc.rows << " cols=" << rc.cols);
    const std::int64_t n = rc.rows * rc.cols;
    const auto x = random_vector<float>(n, ++salt, -4.0, 4.0);
    const auto dy = random_vector<float>(n, ++salt);
    std::vector<float> y(n), want(n);
    for (const bool log : {false, true}) {
      INFO((log ? "log_softmax_backward" : "softmax_backward"));
      // y is a real forward output, as the layer would hand it over.
      if (log)
        ref::log_softmax_forward_reference(y.data(), x.data(), rc.rows, rc.cols);
      else
        ref::softmax_forward_reference(y.data(), x.data(), rc.rows, rc.cols);
      if (log)
        ref::log_softmax_backward_reference(want.data(), dy.data(), y.data(), rc.rows, rc.cols);
      else
        ref::softmax_backward_reference(want.data(), dy.data(), y.data(), rc.rows, rc.cols);
      const DeviceFloats d_y({n}, y);
      DeviceFloats d_dy({n}, dy);
      auto d_dx = DeviceFloats::full({n}, NAN);
      auto run = [&](float* dx) {
        return log ? kc::log_softmax_backward(dx, d_dy.data(), d_y.data(), rc.rows, rc.cols, s)
                   : kc::softmax_backward(dx, d_dy.data(), d_y.data(), rc.rows, rc.cols, s);
      };
      REQUIRE_LAUNCH_OK(run(d_dx.data()));
      require_close_or_zero(d_dx.to_vector(), want);
      REQUIRE_LAUNCH_OK(run(d_dy.data()));  // dx aliases dy
      require_close_or_zero(d_dy.to_vector(), want);
    }
  }
}

TEST_CASE("cuda softmax_cross_entropy matches the reference, with and without dlogits",
          "[cuda][kernels][softmax]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  const cudaStream_t s = tinycnn::cuda_stream();
  // (2050, 10): more rows than the 32 warps of the block, so each warp takes many.
  const RowsCols shapes[] = {{1, 3}, {3, 10}, {64, 1000}, {7, 4099}, {2050, 10}};
  std::uint64_t salt = 700;
  for (const auto& rc : shapes)
    for (const double shift : {0.0, 300.0}) {
      INFO("rows=" << rc.rows << " cols=" << rc.cols << " logits in [" << shift - 5 << ", "
                   << shift + 5 << ")");
      const std::int64_t n = rc.rows * rc.cols;
      const auto x = random_vector<float>(n, ++salt, shift - 5.0, shift + 5.0);
      const auto u = random_vector<double>(rc.rows, ++salt, 0.0, 1.0);
      std::vector<std::int32_t> labels(rc.rows);
      for (std::int64_t i = 0; i < rc.rows; ++i)
        labels[i] = std::int32_t(std::min<double>(u[i] * double(rc.cols), double(rc.cols - 1)));
      std::vector<float> want_grad(n);
      const float want_loss = ref::softmax_cross_entropy_reference(want_grad.data(), x.data(),
                                                                   labels.data(), rc.rows, rc.cols);
      // The loss is the mean of logsumexp - x[label], differences of floats up to |shift| + 5 +
      // log(cols): their rounding (a few ulps of those) bounds its absolute error, which a
      // relative bound alone cannot meet when the loss is near 0 (seen: 1.7e-5 of a loss of 1e-3).
      const double loss_tol =
          std::max(kTolerance, 4 * 6e-8 * (std::abs(shift) + 5 + std::log(double(rc.cols))) /
                                   std::abs(double(want_loss)));
      // Likewise the gradient: the label's entry (p - 1) / rows cancels where p is near 1, so its
      // error is a few ulps of 1 / rows, not of itself (seen: 1.15e-5 of the norm for one row of
      // 3 logits near 300, where the label's p was 0.996).
      double grad_norm = 0;
      for (const float g : want_grad) grad_norm += double(g) * g;
      const double grad_tol =
          kTolerance + 4 * 6e-8 / (std::sqrt(double(rc.rows)) * std::sqrt(grad_norm));
      const DeviceFloats d_x({n}, x);
      const DeviceInts d_labels({rc.rows}, labels);
      auto d_loss = DeviceFloats::full({1}, NAN);
      auto d_invalid = DeviceInts::full({1}, -1);
      auto d_grad = DeviceFloats::full({n}, NAN);
      REQUIRE_LAUNCH_OK(kc::softmax_cross_entropy(d_loss.data(), d_grad.data(), d_x.data(),
                                                  d_labels.data(), rc.rows, rc.cols,
                                                  d_invalid.data(), s));
      TINYCNN_REQUIRE_CLOSE(d_loss.to_vector(), std::vector<float>{want_loss}, loss_tol);
      TINYCNN_REQUIRE_CLOSE(d_grad.to_vector(), want_grad, grad_tol);
      REQUIRE(d_invalid.item() == 0);

      d_loss.fill(NAN);
      d_invalid.fill(-1);
      REQUIRE_LAUNCH_OK(kc::softmax_cross_entropy(d_loss.data(), static_cast<float*>(nullptr),
                                                  d_x.data(), d_labels.data(), rc.rows, rc.cols,
                                                  d_invalid.data(), s));
      TINYCNN_REQUIRE_CLOSE(d_loss.to_vector(), std::vector<float>{want_loss}, loss_tol);
      REQUIRE(d_invalid.item() == 0);
    }
}

TEST_CASE("cuda softmax_cross_entropy counts invalid labels; their rows contribute nothing",
          "[cuda][kernels][softmax]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  const cudaStream_t s = tinycnn::cuda_stream();
  const std::int64_t rows = 6, cols = 37;
  const auto x = random_vector<float>(rows * cols, 800, -3.0, 3.0);
  std::vector<std::int32_t> labels = {4, std::int32_t(cols), 0, -1, 36, 17};
  // The expectation row by row: the reference over each valid row alone, rescaled to the mean
  // over all rows; invalid rows give 0 loss and a zero gradient.
  double want_loss = 0;
  std::vector<float> want_grad(rows * cols, 0.0f);
  for (std::int64_t i = 0; i < rows; ++i) {
    if (labels[i] < 0 || labels[i] >= cols) continue;
    std::vector<float> g(cols);
    want_loss += ref::softmax_cross_entropy_reference(g.data(), x.data() + i * cols,
                                                      labels.data() + i, 1, cols);
    for (std::int64_t j = 0; j < cols; ++j) want_grad[i * cols + j] = g[j] / float(rows);
  }
  want_loss /= double(rows);

  const DeviceFloats d_x({rows * cols}, x);
  const DeviceInts d_labels({rows}, labels);
  auto d_loss = DeviceFloats::full({1}, NAN);
  auto d_grad = DeviceFloats::full({rows * cols}, NAN);
  auto d_invalid = DeviceInts::full({1}, -1);
  REQUIRE_LAUNCH_OK(kc::softmax_cross_entropy(d_loss.data(), d_grad.data(), d_x.data(),
                                              d_labels.data(), rows, cols, d_invalid.data(), s));
  CHECK(d_invalid.item() == 2);
  TINYCNN_REQUIRE_CLOSE(d_loss.to_vector(), std::vector<double>{want_loss}, kTolerance);
  TINYCNN_REQUIRE_CLOSE(d_grad.to_vector(), want_grad, kTolerance);
}
