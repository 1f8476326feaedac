// The distributed code on CUDA tensors (tinycnn_dist_cuda_tests, built with
// -DTINYCNN_BUILD_DIST_CUDA_TESTS=ON and run on a GPU machine under mpirun, one rank per GPU or
// several ranks sharing one GPU through MPI): NCCL collectives in a one-rank world, MPI
// collectives staged through the host, DataParallel with NCCL, and style transfer split by rows
// on CUDA against the unsplit computation on CUDA.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include "support/cuda.hpp"
#include "support/mpi_world.hpp"
#include "tinycnn/dist/data_parallel.hpp"
#include "tinycnn/dist/nccl.hpp"
#include "tinycnn/dist/spatial_style.hpp"
#include "tinycnn/models/vgg.hpp"
#include "tinycnn/ops/random.hpp"
#include "tinycnn/ops/softmax.hpp"
#include "tinycnn/optim/optimizer.hpp"
#include "tinycnn/style/style_transfer.hpp"

using namespace tinycnn;
using Gpu = tinycnn::cuda;

namespace {

Tensor<float, Gpu> random_gpu(const Shape& s, std::uint64_t seed) {
  auto t = Tensor<float, Gpu>::uninitialized(s);
  ops::uniform_(t, seed, -1.0f, 1.0f);
  return t;
}

double rel_diff(const Tensor<float, Gpu>& a, const Tensor<float, Gpu>& b) {
  REQUIRE(a.shape() == b.shape());
  const auto va = a.to_vector(), vb = b.to_vector();
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < va.size(); ++i) {
    diff = std::max(diff, std::abs(double(va[i]) - double(vb[i])));
    scale = std::max(scale, std::abs(double(vb[i])));
  }
  return diff / (1e-30 + scale);
}

}  // namespace

TEST_CASE("NCCL collectives in a one-rank world leave CUDA tensors as they are", "[cuda][dist]") {
  TINYCNN_REQUIRE_CUDA();
  auto nccl = dist::NcclCommunicator::single();
  auto t = random_gpu({1000}, 1);
  const auto before = t.to_vector();
  nccl->all_reduce_sum(t);
  nccl->all_reduce_sum_start(dist::buffer(t))->wait();
  nccl->broadcast(t, 0);
  CHECK(t.to_vector() == before);
  CHECK(nccl->all_reduce_sum(2.5) == 2.5);
  Tensor<float> host({3});
  CHECK_THROWS_WITH(nccl->all_reduce_sum(host), Catch::Contains("NCCL moves CUDA memory"));
}

TEST_CASE("MPI sums and exchanges CUDA tensors through host copies", "[cuda][dist]") {
  TINYCNN_REQUIRE_CUDA();
  auto& world = test::world();
  Tensor<float, Gpu> t({257});
  t.fill(float(world.rank() + 1));
  world.all_reduce_sum(t);
  const auto v = t.to_vector();
  const float expect = float(world.size() * (world.size() + 1) / 2);
  CHECK(std::count(v.begin(), v.end(), expect) == 257);
}

TEST_CASE("DataParallel on CUDA with NCCL gives the gradient of the whole batch", "[cuda][dist]") {
  TINYCNN_REQUIRE_CUDA();
  auto nccl = dist::NcclCommunicator::single();
  nn::Sequential<float, Gpu> net(2), reference(2);
  for (auto* n : {&net, &reference})
    *n << nn::Conv2d(3, 8, 3, {.padding = 1}) << nn::ReLU() << nn::MaxPool2d(2) << nn::Flatten()
       << nn::Linear(8 * 4 * 4, 4);
  dist::DataParallel<float, Gpu> dp(net, *nccl, {.bucket_bytes = 512});
  REQUIRE(dp.buckets() >= 2);
  const auto x = random_gpu({6, 3, 8, 8}, 3);
  Tensor<std::int32_t> labels(Shape{6}, std::vector<std::int32_t>{0, 1, 2, 3, 0, 1});
  const auto labels_gpu = labels.to<Gpu>();
  for (auto* n : {&net, &reference}) {
    n->zero_grad();
    if (n == &net) dp.begin_step(6, 6);
    auto ce = ops::softmax_cross_entropy(n->forward(x), labels_gpu);
    n->backward(ce.dlogits);
    if (n == &net) dp.finish_step();
  }
  CHECK(dp.buckets_started_in_backward() == dp.buckets());
  auto a = net.parameters(), b = reference.parameters();
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(rel_diff(a[i].second->grad, b[i].second->grad) < 1e-6);
}

TEST_CASE("style transfer split by rows on CUDA equals the unsplit CUDA computation", "[cuda][dist]") {
  TINYCNN_REQUIRE_CUDA();
  auto& world = test::world();
  style::StyleOptions o;
  o.content = {{"relu3_2", 0.5}};
  o.style = {{"relu1_1", 10.0}, {"relu2_1", 10.0}, {"relu3_1", 10.0}, {"relu4_1", 10.0}};
  o.tv_weight = 0.01;
  auto net = models::vgg11<float, Gpu>({.classifier = false, .seed = 3, .width_divisor = 8});
  auto reference = net.to<Gpu>();
  const Shape shape{1, 3, 77, 45}, style_shape{1, 3, 50, 61};
  const auto content = random_gpu(shape, 11), style_image = random_gpu(style_shape, 12);
  const auto image = random_gpu(shape, 13);
  style::StyleTransfer<float, Gpu> one(reference, o);
  one.set_content(content);
  one.set_style(style_image);
  Tensor<float, Gpu> g_one;
  const auto l_one = one.evaluate(image, &g_one);
  dist::SpatialStyleTransfer<float, Gpu> st(net, world, o);
  const auto own = st.rows(shape[2]);
  st.set_content(dist::take_rows(content, own), shape);
  st.set_style(dist::take_rows(style_image, st.rows(style_shape[2])), style_shape);
  Tensor<float, Gpu> g;
  const auto l = st.evaluate(dist::take_rows(image, own), shape, &g);
  CHECK(l.total() == Approx(l_one.total()).epsilon(1e-5));
  CHECK(rel_diff(g, dist::take_rows(g_one, own)) < 1e-4);
  const auto whole = dist::gather_rows(world, g, shape);
  if (world.rank() == 0) CHECK(rel_diff(whole, g_one) < 1e-4);
}
