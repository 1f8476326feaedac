// The CUDA kernels against the PyTorch fixtures of tests/data (the peer as oracle), in float.
#include <catch2/catch.hpp>

#include <tinycnn/kernels/cuda/conv.cuh>
#include <tinycnn/kernels/cuda/conv_bias.cuh>
#include <tinycnn/kernels/cuda/gemm.cuh>
#include <tinycnn/kernels/cuda/pool.cuh>
#include <tinycnn/kernels/cuda/softmax.cuh>
#include <tinycnn/tinycnn.hpp>

#include "support/compare.hpp"
#include "support/cuda.hpp"
#include "support/data.hpp"
#include "support/fixtures.hpp"

using namespace tinycnn;
namespace cu = tinycnn::kernels::cuda;

namespace {
using DeviceTensor = Tensor<float, tinycnn::cuda>;

DeviceTensor upload(const std::vector<double>& v) {
  const auto f = test::convert<float>(v);
  return DeviceTensor({std::int64_t(f.size())}, f);
}
DeviceTensor poisoned(std::size_t n) {
  return DeviceTensor({std::int64_t(n)}, test::poisoned_vector<float>(std::int64_t(n)));
}
constexpr double kTol = 1e-5;
}  // namespace

TEST_CASE("cuda kernels match PyTorch: conv2d", "[cuda][kernels][conv][fixtures]") {
  TINYCNN_REQUIRE_CUDA();
  const cudaStream_t s = cuda_stream();
  for (const auto& f : test::conv_fixtures()) {
    INFO(f.name);
    auto x = upload(f.x), w = upload(f.w), b = upload(f.b), dy = upload(f.dy);
    auto y = poisoned(f.y.size()), dx = poisoned(f.dx.size()), dw = poisoned(f.dw.size()),
         db = poisoned(f.db.size());
    auto ws = Tensor<unsigned char, tinycnn::cuda>::uninitialized(
        {std::int64_t(cu::conv2d_backward_filter_workspace_bytes(f.desc))});
    auto ws_fwd = Tensor<unsigned char, tinycnn::cuda>::uninitialized(
        {std::int64_t(cu::conv2d_forward_workspace_bytes(f.desc))});
    auto ws_bwd = Tensor<unsigned char, tinycnn::cuda>::uninitialized(
        {std::int64_t(cu::conv2d_backward_data_workspace_bytes(f.desc))});
    REQUIRE(cu::conv2d_forward_implicit_gemm(y.data(), x.data(), w.data(), b.data(), f.desc,
                                             ws_fwd.data(), std::size_t(ws_fwd.numel()),
                                             s) == cudaSuccess);
    REQUIRE(cu::conv2d_backward_data_implicit_gemm(dx.data(), dy.data(), w.data(), f.desc,
                                                   ws_bwd.data(), std::size_t(ws_bwd.numel()),
                                                   s) == cudaSuccess);
    REQUIRE(cu::conv2d_backward_filter_implicit_gemm(dw.data(), dy.data(), x.data(), f.desc, ws.data(),
                                                     std::size_t(ws.numel()), s) == cudaSuccess);
    REQUIRE(cu::conv2d_backward_bias(db.data(), dy.data(), f.desc, s) == cudaSuccess);
    TINYCNN_REQUIRE_CLOSE(y.to_vector(), f.y, kTol);
    TINYCNN_REQUIRE_CLOSE(dx.to_vector(), f.dx, kTol);
    TINYCNN_REQUIRE_CLOSE(dw.to_vector(), f.dw, kTol);
    TINYCNN_REQUIRE_CLOSE(db.to_vector(), f.db, kTol);
  }
}

TEST_CASE("cuda kernels match PyTorch: pooling", "[cuda][kernels][pool][fixtures]") {
  TINYCNN_REQUIRE_CUDA();
  const cudaStream_t s = cuda_stream();
  for (const auto& f : test::pool_fixtures()) {
    INFO(f.name);
    auto x = upload(f.x), dy = upload(f.dy);
    auto y = poisoned(f.y.size()), dx = poisoned(f.dx.size());
    if (f.is_max) {
      auto argmax = Tensor<std::int32_t, tinycnn::cuda>::uninitialized({std::int64_t(f.y.size())});
      REQUIRE(cu::max_pool2d_forward(y.data(), argmax.data(), x.data(), f.desc, s) == cudaSuccess);
      REQUIRE(cu::max_pool2d_backward(dx.data(), dy.data(), argmax.data(), f.desc, s) == cudaSuccess);
    } else {
      REQUIRE(cu::avg_pool2d_forward(y.data(), x.data(), f.desc, s) == cudaSuccess);
      REQUIRE(cu::avg_pool2d_backward(dx.data(), dy.data(), f.desc, s) == cudaSuccess);
    }
    TINYCNN_REQUIRE_CLOSE(y.to_vector(), f.y, kTol);
    TINYCNN_REQUIRE_CLOSE(dx.to_vector(), f.dx, kTol);
  }
}

TEST_CASE("cuda kernels match PyTorch: gemm", "[cuda][kernels][gemm][fixtures]") {
  TINYCNN_REQUIRE_CUDA();
  for (const auto& f : test::gemm_fixtures()) {
    INFO(f.name);
    auto a = upload(f.a), b = upload(f.b), c = upload(f.c_in);  // NaN when beta == 0
    REQUIRE(cu::gemm_tiled(c.data(), a.data(), b.data(), f.desc, float(f.alpha), float(f.beta),
                           cuda_stream()) == cudaSuccess);
    TINYCNN_REQUIRE_CLOSE(c.to_vector(), f.c_out, kTol);
  }
}

TEST_CASE("cuda kernels match PyTorch: softmax and cross-entropy",
          "[cuda][kernels][softmax][fixtures]") {
  TINYCNN_REQUIRE_CUDA();
  const cudaStream_t s = cuda_stream();
  for (const auto& f : test::softmax_fixtures()) {
    INFO(f.name);
    const double big = *std::max_element(f.logits.begin(), f.logits.end());
    const double tol = big > 100 ? 1e-2 : kTol;  // float rounding of the logits, as on the CPU
    const auto n = std::size_t(f.rows * f.cols);
    auto x = upload(f.logits), dy = upload(f.dy), sm = upload(f.softmax), lsm = upload(f.log_softmax);
    auto y = poisoned(n), dx = poisoned(n);
    REQUIRE(cu::softmax_forward(y.data(), x.data(), f.rows, f.cols, s) == cudaSuccess);
    TINYCNN_REQUIRE_CLOSE(y.to_vector(), f.softmax, tol);
    REQUIRE(cu::softmax_backward(dx.data(), dy.data(), sm.data(), f.rows, f.cols, s) == cudaSuccess);
    TINYCNN_REQUIRE_CLOSE(dx.to_vector(), f.dx_softmax, tol);
    REQUIRE(cu::log_softmax_forward(y.data(), x.data(), f.rows, f.cols, s) == cudaSuccess);
    TINYCNN_REQUIRE_CLOSE(y.to_vector(), f.log_softmax, tol);
    REQUIRE(cu::log_softmax_backward(dx.data(), dy.data(), lsm.data(), f.rows, f.cols, s) == cudaSuccess);
    TINYCNN_REQUIRE_CLOSE(dx.to_vector(), f.dx_log_softmax, tol);
    const std::vector<std::int32_t> labels = f.labels;
    Tensor<std::int32_t, tinycnn::cuda> lab({std::int64_t(labels.size())}, labels);
    auto loss = poisoned(1);
    Tensor<std::int32_t, tinycnn::cuda> invalid({1});
    REQUIRE(cu::softmax_cross_entropy(loss.data(), dx.data(), x.data(), lab.data(), f.rows, f.cols,
                                      invalid.data(), s) == cudaSuccess);
    CHECK(invalid.item() == 0);
    CHECK(double(loss.item()) == Approx(f.loss).epsilon(tol));
    TINYCNN_REQUIRE_CLOSE(dx.to_vector(), f.dlogits, tol);
  }
}
