// Winograd filters kept between calls on CUDA (ops::ConvFilterCache<float, cuda>): made once per
// version of the filter tensor and per TF32 setting, the same outputs and input gradients as
// transforming on every call (bit for bit: the same transform, the same passes); strided layers
// over phases keep their stride-1 form's filter; a style-transfer CUDA graph records with the kept
// filters and records again when the weights are written.
#include <catch2/catch.hpp>

#include <tinycnn/nn/sequential.hpp>
#include <tinycnn/ops/conv.hpp>
#include <tinycnn/style/style_transfer.hpp>

#include <tuple>
#include <vector>

#include "support/cuda.hpp"
#include "support/data.hpp"

using namespace tinycnn;
using gpu = tinycnn::cuda;

namespace {

Tensor<float, gpu> random_gpu(const Shape& s, std::uint64_t salt) {
  return Tensor<float, cpu>(s, test::random_vector<float>(s.numel(), salt)).to<gpu>();
}

// Restores the TF32 setting a test case changes.
struct Tf32Setting {
  bool before = cuda_conv_tf32();
  ~Tf32Setting() { set_cuda_conv_tf32(before); }
};

// Forward (with the ReLU fused), backward data, and backward data with both ReLU masks, each with
// the cache and without, three times: equal bit for bit.
void require_same_with_cache(ops::ConvFilterCache<float, gpu>& cache, const Tensor<float, gpu>& x,
                             const Tensor<float, gpu>& w, const ops::Conv2dOptions& o) {
  const auto d = ops::conv2d_desc("test", x.shape(), w.shape(), o);
  const auto dy = random_gpu(ops::conv2d_output_shape(d), 31);
  const auto y = ops::conv2d_relu(x, w, o);
  const auto plain_y = y.to_vector();
  const auto plain_dx = ops::conv2d_backward_data(dy, w, x.shape(), o).to_vector();
  const auto plain_masked =
      ops::conv2d_backward_data_relu(dy, &y, w, x.shape(), o, &x, nullptr).to_vector();
  for (int i = 0; i < 3; ++i) {
    INFO("call " << i);
    REQUIRE(ops::conv2d_relu(x, w, o, &cache).to_vector() == plain_y);
    REQUIRE(ops::conv2d_backward_data(dy, w, x.shape(), o, &cache).to_vector() == plain_dx);
    REQUIRE(ops::conv2d_backward_data_relu(dy, &y, w, x.shape(), o, &x, &cache).to_vector() ==
            plain_masked);
  }
}

}  // namespace

TEST_CASE("cuda ops: a ConvFilterCache keeps the Winograd filter until the filter or TF32 changes",
          "[cuda][ops][conv]") {
  TINYCNN_REQUIRE_CUDA();
  Tf32Setting restore;
  using kernels::KeptFilter;
  // 3x3, 48 -> 40 channels on 32 x 32 (64 4x4 tiles): forward and backward data by Winograd
  // (unless TINYCNN_CONV_WINOGRAD=0: then nothing is kept and the results still agree).
  const auto o = ops::Conv2dOptions::square(1, 1);
  const auto x = random_gpu({1, 48, 32, 32}, 1);
  auto w = random_gpu({40, 48, 3, 3}, 3);
  const auto d = ops::conv2d_desc("test", x.shape(), w.shape(), o);
  set_cuda_conv_tf32(false);
  const auto plan = kernels::cuda::conv2d_forward_filter_plan(d);
  const bool winograd = plan.kind != KeptFilter::none;
  if (kernels::cuda::detail::winograd_mode() != 0) CHECK(plan.kind == KeptFilter::winograd);
  const std::int64_t per_call = winograd ? 2 : 0;  // forward and backward data
  if (winograd) {
    CHECK(plan.size == 36 * 40 * 48);
    CHECK(kernels::cuda::conv2d_backward_data_filter_plan(d).size == 36 * 48 * 40);
  }
  ops::ConvFilterCache<float, gpu> cache;
  require_same_with_cache(cache, x, w, o);
  CHECK(cache.transforms() == per_call);
  CHECK(cache.bytes() == std::size_t(per_call * 36 * 40 * 48) * sizeof(float));
  ops::scale_(w, 0.75f);  // written in place: made again
  require_same_with_cache(cache, x, w, o);
  CHECK(cache.transforms() == 2 * per_call);
  w = random_gpu({40, 48, 3, 3}, 4);  // a new tensor, perhaps at the same address
  require_same_with_cache(cache, x, w, o);
  CHECK(cache.transforms() == 3 * per_call);
  // TF32 products read a filter rounded to TF32: kept apart, made again at each switch.
  set_cuda_conv_tf32(true);
  if (winograd && kernels::cuda::detail::winograd_tf32())
    CHECK(kernels::cuda::conv2d_forward_filter_plan(d).kind == KeptFilter::winograd_tf32);
  require_same_with_cache(cache, x, w, o);
  CHECK(cache.transforms() == 4 * per_call);
  set_cuda_conv_tf32(false);
  require_same_with_cache(cache, x, w, o);
  CHECK(cache.transforms() == 5 * per_call);
  // A 1x1 layer and one with few tiles read the filter as it is: nothing kept.
  for (const auto& [xs, ws, lo] :
       {std::tuple{Shape{1, 48, 20, 20}, Shape{40, 48, 1, 1}, ops::Conv2dOptions{}},
        std::tuple{Shape{1, 48, 12, 12}, Shape{40, 48, 3, 3}, o}}) {
    INFO("input " << xs << " filter " << ws);
    ops::ConvFilterCache<float, gpu> none;
    const auto dn = ops::conv2d_desc("test", xs, ws, lo);
    if (kernels::cuda::detail::winograd_mode() != 1) {
      CHECK(kernels::cuda::conv2d_forward_filter_plan(dn).size == 0);
      CHECK(kernels::cuda::conv2d_backward_data_filter_plan(dn).size == 0);
    }
    require_same_with_cache(none, random_gpu(xs, 5), random_gpu(ws, 6), lo);
    if (kernels::cuda::detail::winograd_mode() != 1) CHECK(none.bytes() == 0);
  }
}

TEST_CASE("cuda ops: a strided layer over phases keeps its stride-1 form's Winograd filter",
          "[cuda][ops][conv]") {
  TINYCNN_REQUIRE_CUDA();
  Tf32Setting restore;
  // NIN conv1 (11x11, stride 4, 3 -> 96 channels) over 6 images of 227 x 227: its stride-1 form
  // (3x3 over 48 channels, 55 x 55) has 6 x 196 tiles, enough for the phase path.
  const auto o = ops::Conv2dOptions::square(4, 0);
  const auto x = random_gpu({6, 3, 227, 227}, 7);
  auto w = random_gpu({96, 3, 11, 11}, 8);
  const auto d = ops::conv2d_desc("test", x.shape(), w.shape(), o);
  for (const bool tf32 : {false, true}) {
    INFO("tf32 " << tf32);
    set_cuda_conv_tf32(tf32);
    const auto fwd = kernels::cuda::conv2d_forward_filter_plan(d),
               bwd = kernels::cuda::conv2d_backward_data_filter_plan(d);
    kernels::cuda::detail::PhasePlan phases;
    const bool by_phases = kernels::cuda::detail::use_phases(d, false, phases);
    const bool back_by_phases = kernels::cuda::detail::use_phases(d, true, phases);
    if (kernels::phases::phase_mode() == 2 && kernels::cuda::detail::winograd_mode() == 2)
      REQUIRE((by_phases && back_by_phases));  // unless switched off (TINYCNN_CONV_PHASES=0, ...)
    // What is kept is the stride-1 form's transformed filter: 36 x 96 x 48 floats.
    if (by_phases) CHECK(fwd.size == 36 * 96 * 48);
    if (back_by_phases) CHECK(bwd.size == 36 * 48 * 96);
    ops::ConvFilterCache<float, gpu> cache;
    require_same_with_cache(cache, x, w, o);
    CHECK(cache.transforms() == (fwd.size > 0) + (bwd.size > 0));
    ops::scale_(w, 1.5f);
    require_same_with_cache(cache, x, w, o);
    CHECK(cache.transforms() == 2 * ((fwd.size > 0) + (bwd.size > 0)));
  }
}

TEST_CASE("cuda style transfer: a graph records with the kept filters and again after writes",
          "[cuda][style][graph]") {
  TINYCNN_REQUIRE_CUDA();
  Tf32Setting restore;
  namespace style = tinycnn::style;
  for (const bool tf32 : {false, true}) {
    INFO("tf32 " << tf32);
    set_cuda_conv_tf32(tf32);
    // conv2 and conv3 (32 -> 40 -> 32 channels on 40 x 40: 100 tiles) run by Winograd.
    nn::Sequential<float, cpu> host(9);
    host.add("conv1", nn::Conv2d(3, 32, 3, {.padding = 1}))
        .add("relu1", nn::ReLU())
        .add("conv2", nn::Conv2d(32, 40, 3, {.padding = 1}))
        .add("relu2", nn::ReLU())
        .add("conv3", nn::Conv2d(40, 32, 3, {.padding = 1}))
        .add("relu3", nn::ReLU());
    auto net_eager = host.to<gpu>(), net_graph = host.to<gpu>();
    style::StyleOptions opts;
    opts.content = {{"relu3", 1.0}};
    opts.style = {{"relu1", 10.0}, {"relu2", 5.0}, {"relu3", 2.0}};
    opts.tv_weight = 0.01;
    opts.learning_rate = 0.5;
    style::StyleTransfer<float, gpu> eager(net_eager, opts);
    opts.cuda_graph = true;
    style::StyleTransfer<float, gpu> graph(net_graph, opts);
    const auto content = random_gpu({1, 3, 40, 40}, 40),
               style_image = random_gpu({1, 3, 40, 40}, 41);
    for (auto* st : {&eager, &graph}) {
      st->set_content(content);
      st->set_style(style_image);
    }
    auto img_eager = random_gpu({1, 3, 40, 40}, 42);
    auto img_graph = img_eager.clone();
    auto& conv2 = dynamic_cast<nn::detail::Conv2dModule<float, gpu>&>(net_graph.module(2));
    const bool kept = ops::detail::filter_cache_enabled() &&
                      kernels::cuda::conv2d_forward_filter_plan(
                          ops::conv2d_desc("test", {1, 32, 40, 40}, {40, 32, 3, 3},
                                           ops::Conv2dOptions::square(1, 1)))
                              .size > 0;
    auto steps = [&](int n, std::vector<bool> replayed) {
      for (int i = 0; i < n; ++i) {
        INFO("step " << i);
        const auto le = eager.step(img_eager), lg = graph.step(img_graph);
        CHECK(graph.graph_replayed() == replayed[std::size_t(i)]);
        REQUIRE(lg.total() == le.total());
        REQUIRE(img_graph.to_vector() == img_eager.to_vector());
      }
    };
    steps(4, {false, true, true, true});
    // Made by the first evaluation (forward and backward data); the recording and its replays
    // read them.
    CHECK(conv2.filters().transforms() == (kept ? 2 : 0));
    // Weights written in place (same tensors, as a loader writes them): a step as usual (which
    // makes the filters again), then a new recording.
    for (auto* net : {&net_eager, &net_graph})
      for (auto& [name, p] : net->parameters()) ops::scale_(p->value, 0.9f);
    steps(3, {false, true, true});
    CHECK(conv2.filters().transforms() == (kept ? 4 : 0));
  }
}
