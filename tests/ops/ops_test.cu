// Tensor-level ops on CUDA against the same ops on the CPU: one pass over every op, so the op
// layer's dispatch, allocation and workspace handling are exercised on the GPU.
#include <catch2/catch.hpp>

#include <tinycnn/ops.hpp>

#include "support/compare.hpp"
#include "support/cuda.hpp"
#include "support/data.hpp"

using namespace tinycnn;

namespace {
Tensor<float, cpu> random_host(Shape s, std::uint64_t salt) {
  return Tensor<float, cpu>(s, test::random_vector<float>(s.numel(), salt));
}
template <class T>
std::vector<T> host(const Tensor<T, tinycnn::cuda>& t) {
  return t.to_vector();
}
constexpr double kTol = 1e-5;
}  // namespace

TEST_CASE("cuda ops: gemm, matmul and gram agree with the CPU", "[cuda][ops][gemm]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  auto a = random_host({3, 65, 33}, 1), b = random_host({3, 47, 33}, 2);
  auto c = ops::matmul(a, b, false, true);
  auto cg = ops::matmul(a.to<tinycnn::cuda>(), b.to<tinycnn::cuda>(), false, true);
  TINYCNN_REQUIRE_CLOSE(host(cg), c.to_vector(), kTol);
  auto f = random_host({1, 16, 9, 7}, 3);
  TINYCNN_REQUIRE_CLOSE(host(ops::gram(f.to<tinycnn::cuda>(), 0.5f)), ops::gram(f, 0.5f).to_vector(), kTol);
}

TEST_CASE("cuda ops: conv2d forward and backward agree with the CPU", "[cuda][ops][conv]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  const auto o = ops::Conv2dOptions{2, 1, 1, 2, 1, 1};
  auto x = random_host({2, 5, 17, 19}, 10), w = random_host({6, 5, 3, 3}, 11);
  auto bias = random_host({6}, 12);
  auto xg = x.to<tinycnn::cuda>(), wg = w.to<tinycnn::cuda>(), bg = bias.to<tinycnn::cuda>();
  auto y = ops::conv2d(x, w, bias, o);
  auto yg = ops::conv2d(xg, wg, bg, o);
  TINYCNN_REQUIRE_CLOSE(host(yg), y.to_vector(), kTol);
  CHECK(host(ops::conv2d_relu(xg, wg, bg, o)) == host(ops::relu(yg)));
  CHECK(host(ops::conv2d_relu(xg, wg, o)) == host(ops::relu(ops::conv2d(xg, wg, o))));
  {  // backward data through the ReLU: a Winograd layer (which masks dy itself) and this one
    const auto o1 = ops::Conv2dOptions::square(1, 1);
    auto xw = random_host({1, 64, 34, 34}, 14).to<tinycnn::cuda>();
    auto ww = random_host({64, 64, 3, 3}, 15).to<tinycnn::cuda>();
    const auto yw = ops::conv2d_relu(xw, ww, o1);
    const auto dyw = random_host(yw.shape(), 16).to<tinycnn::cuda>();
    CHECK(host(ops::conv2d_backward_data_relu(dyw, yw, ww, xw.shape(), o1)) ==
          host(ops::conv2d_backward_data(ops::relu_backward(dyw, yw), ww, xw.shape(), o1)));
    const auto yr = ops::relu(yg);
    const auto dyr = random_host(y.shape(), 17).to<tinycnn::cuda>();
    CHECK(host(ops::conv2d_backward_data_relu(dyr, yr, wg, x.shape(), o)) ==
          host(ops::conv2d_backward_data(ops::relu_backward(dyr, yr), wg, x.shape(), o)));
    // With the ReLU before as well (Winograd: in the output transform; here: a pass after).
    const auto rxw = ops::relu(xw), rx = ops::relu(xg);
    CHECK(host(ops::conv2d_backward_data_relu(dyw, &yw, ww, xw.shape(), o1, &rxw)) ==
          host(ops::relu_backward(
              ops::conv2d_backward_data(ops::relu_backward(dyw, yw), ww, xw.shape(), o1), rxw)));
    CHECK(host(ops::conv2d_backward_data_relu(dyr, &yr, wg, x.shape(), o, &rx)) ==
          host(ops::relu_backward(
              ops::conv2d_backward_data(ops::relu_backward(dyr, yr), wg, x.shape(), o), rx)));
  }
  auto dy = random_host(y.shape(), 13);
  auto dyg = dy.to<tinycnn::cuda>();
  TINYCNN_REQUIRE_CLOSE(host(ops::conv2d_backward_data(dyg, wg, x.shape(), o)),
                        ops::conv2d_backward_data(dy, w, x.shape(), o).to_vector(), kTol);
  TINYCNN_REQUIRE_CLOSE(host(ops::conv2d_backward_filter(dyg, xg, w.shape(), o)),
                        ops::conv2d_backward_filter(dy, x, w.shape(), o).to_vector(), kTol);
  TINYCNN_REQUIRE_CLOSE(host(ops::conv2d_backward_bias(dyg)),
                        ops::conv2d_backward_bias(dy).to_vector(), kTol);
}

TEST_CASE("cuda ops: set_cuda_conv_tf32 switches conv2d to TF32 and back",
          "[cuda][ops][conv]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  const bool was = cuda_conv_tf32();
  // A 3x3 layer that takes Winograd and a 1x1 one that is a GEMM; both run their products on
  // TF32 tensor cores when the switch is on (kernels/tf32.hpp), fp32 otherwise.
  for (const auto& [ws, pad] : {std::pair<Shape, std::int64_t>{{64, 32, 3, 3}, 1},
                                std::pair<Shape, std::int64_t>{{48, 32, 1, 1}, 0}}) {
    INFO("filter " << ws);
    const auto o = ops::Conv2dOptions::square(1, pad);
    auto x = random_host({2, 32, 40, 36}, 30), w = random_host(ws, 31);
    auto xg = x.to<tinycnn::cuda>(), wg = w.to<tinycnn::cuda>();
    const auto want = ops::conv2d(x, w, o).to_vector();
    set_cuda_conv_tf32(false);
    const auto fp32 = host(ops::conv2d(xg, wg, o));
    set_cuda_conv_tf32(true);
    CHECK(cuda_conv_tf32());
    const auto tf32 = host(ops::conv2d(xg, wg, o));
    set_cuda_conv_tf32(false);
    CHECK(host(ops::conv2d(xg, wg, o)) == fp32);
    set_cuda_conv_tf32(was);
    TINYCNN_REQUIRE_CLOSE(fp32, want, kTol);
    TINYCNN_REQUIRE_CLOSE(tf32, want, 1e-2);
    if (kernels::cuda::detail::has_tf32_mma()) CHECK(tf32 != fp32);
  }
}

TEST_CASE("cuda ops: pooling agrees with the CPU", "[cuda][ops][pool]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  auto x = random_host({2, 4, 27, 27}, 20);
  auto xg = x.to<tinycnn::cuda>();
  const auto o = ops::Pool2dOptions::square(3, 2, 0, true);
  auto r = ops::max_pool2d(x, o);
  auto rg = ops::max_pool2d(xg, o);
  TINYCNN_REQUIRE_CLOSE(host(rg.y), r.y.to_vector(), kTol);
  CHECK(host(rg.argmax) == r.argmax.to_vector());
  auto dy = random_host(r.y.shape(), 21);
  auto dyg = dy.to<tinycnn::cuda>();
  TINYCNN_REQUIRE_CLOSE(host(ops::max_pool2d_backward(dyg, rg.argmax, x.shape(), o)),
                        ops::max_pool2d_backward(dy, r.argmax, x.shape(), o).to_vector(), kTol);
  TINYCNN_REQUIRE_CLOSE(host(ops::avg_pool2d(xg, o)), ops::avg_pool2d(x, o).to_vector(), kTol);
  TINYCNN_REQUIRE_CLOSE(host(ops::avg_pool2d_backward(dyg, x.shape(), o)),
                        ops::avg_pool2d_backward(dy, x.shape(), o).to_vector(), kTol);
  TINYCNN_REQUIRE_CLOSE(host(ops::global_avg_pool2d(xg)), ops::global_avg_pool2d(x).to_vector(), kTol);
}

TEST_CASE("cuda ops: elementwise, softmax, loss, reductions and fills agree with the CPU",
          "[cuda][ops]") {
  TINYCNN_REQUIRE_CUDA();
  TINYCNN_SEED_INFO();
  auto x = random_host({8, 100}, 30), z = random_host({8, 100}, 31);
  auto xg = x.to<tinycnn::cuda>(), zg = z.to<tinycnn::cuda>();
  TINYCNN_REQUIRE_CLOSE(host(ops::relu(xg)), ops::relu(x).to_vector(), kTol);
  auto r = ops::relu(x);
  auto rg = r.to<tinycnn::cuda>();
  TINYCNN_REQUIRE_CLOSE(host(ops::relu_backward(zg, rg)), ops::relu_backward(z, r).to_vector(), kTol);
  TINYCNN_REQUIRE_CLOSE(host(ops::add(xg, zg)), ops::add(x, z).to_vector(), kTol);
  TINYCNN_REQUIRE_CLOSE(host(ops::scale(xg, 3.0f)), ops::scale(x, 3.0f).to_vector(), kTol);
  TINYCNN_REQUIRE_CLOSE(host(ops::softmax(xg)), ops::softmax(x).to_vector(), kTol);
  TINYCNN_REQUIRE_CLOSE(host(ops::log_softmax(xg)), ops::log_softmax(x).to_vector(), kTol);
  Tensor<std::int32_t, cpu> labels({8}, {0, 99, 5, 7, 42, 3, 3, 64});
  auto ce = ops::softmax_cross_entropy(x, labels);
  auto ceg = ops::softmax_cross_entropy(xg, labels.to<tinycnn::cuda>());
  CHECK(ceg.loss == Approx(ce.loss).epsilon(1e-5));
  TINYCNN_REQUIRE_CLOSE(host(ceg.dlogits), ce.dlogits.to_vector(), kTol);
  Tensor<std::int32_t, cpu> bad({8}, {0, 100, 5, 7, 42, 3, 3, 64});
  REQUIRE_THROWS_WITH(ops::softmax_cross_entropy(xg, bad.to<tinycnn::cuda>()),
                      Catch::Contains("1 label(s) outside [0, 100)"));
  CHECK(ops::sum(xg) == Approx(ops::sum(x)).epsilon(1e-5));
  CHECK(ops::sum_squares(xg) == Approx(ops::sum_squares(x)).epsilon(1e-5));
  CHECK(ops::max(xg) == ops::max(x));
  Tensor<float, cpu> u({4099});
  Tensor<float, tinycnn::cuda> ug({4099});
  ops::uniform_(u, 9, -1.0f, 1.0f);
  ops::uniform_(ug, 9, -1.0f, 1.0f);
  CHECK(host(ug) == u.to_vector());  // the same values on every device
  ops::normal_(u, 9, 0.0f, 1.0f);
  ops::normal_(ug, 9, 0.0f, 1.0f);
  TINYCNN_REQUIRE_CLOSE(host(ug), u.to_vector(), 1e-6);
}

TEST_CASE("cuda ops: bad input is rejected before any launch", "[cuda][ops][errors]") {
  TINYCNN_REQUIRE_CUDA();
  Tensor<float, tinycnn::cuda> x({2, 3, 8, 8}), w({4, 2, 3, 3});
  REQUIRE_THROWS_WITH(ops::conv2d(x, w), Catch::Contains("input has 3 channels"));
  REQUIRE_THROWS_WITH(ops::max_pool2d(x, ops::Pool2dOptions::square(9, 1)),
                      Catch::Contains("larger than the padded input"));
}
