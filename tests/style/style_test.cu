// Style transfer on CUDA: the loss kernels and the split-K GEMM (Gram matrices) against the
// reference, one evaluation and Adam / L-BFGS steps against PyTorch, and CPU/GPU parity of a
// whole step.
#include <catch2/catch.hpp>

#include <tinycnn/kernels/reference/gemm.hpp>
#include <tinycnn/kernels/reference/style.hpp>
#include <tinycnn/ops.hpp>

#include <cstdint>
#include <vector>

#include "style/style_fixture_check.hpp"
#include "support/compare.hpp"
#include "support/cuda.hpp"

using tinycnn::cpu;
using Gpu = tinycnn::cuda;
using tinycnn::Shape;
using tinycnn::Tensor;
namespace ops = tinycnn::ops;
namespace ref = tinycnn::kernels::reference;

namespace {

Tensor<float> random_host(Shape s, std::uint64_t seed) {
  Tensor<float> t(s);
  ops::uniform_(t, seed, -1.0f, 1.0f);
  return t;
}

}  // namespace

TEST_CASE("cuda style losses match the reference", "[cuda][style]") {
  TINYCNN_REQUIRE_CUDA();
  for (std::int64_t n : {std::int64_t(1), std::int64_t(5), std::int64_t(4097), (std::int64_t(1) << 22) + 3}) {
    INFO("n = " << n);
    auto f = random_host({n}, 1), p = random_host({n}, 2), g0 = random_host({n}, 3);
    for (float beta : {0.0f, 1.0f}) {
      std::vector<float> g_ref(g0.data(), g0.data() + n);
      float loss_ref = 0;
      ref::squared_error_reference(g_ref.data(), f.data(), p.data(), n, 0.3f, beta, &loss_ref);
      Tensor<float, Gpu> g = beta == 0 ? Tensor<float, Gpu>() : g0.to<Gpu>();
      const float loss = ops::squared_error(f.to<Gpu>(), p.to<Gpu>(), &g, 0.3f);
      REQUIRE(loss == Approx(loss_ref).epsilon(1e-4));
      TINYCNN_REQUIRE_CLOSE(g.to<cpu>().to_vector(), g_ref, 1e-6);
    }
    float dot_ref = 0, l1_ref = 0;
    ref::dot_reference(&dot_ref, f.data(), p.data(), n);
    ref::abs_sum_reference(&l1_ref, f.data(), n);
    REQUIRE(ops::dot(f.to<Gpu>(), p.to<Gpu>()) == Approx(dot_ref).epsilon(1e-4).margin(1e-3));
    REQUIRE(ops::abs_sum(f.to<Gpu>()) == Approx(l1_ref).epsilon(1e-4));
  }
  for (auto s : {Shape{1, 1, 1, 1}, Shape{1, 3, 5, 1}, Shape{2, 3, 1, 6}, Shape{1, 3, 67, 45},
                 Shape{1, 3, 1080, 1921}}) {
    INFO("shape " << s);
    auto x = random_host(s, 4), g0 = random_host(s, 5);
    std::vector<float> g_ref(g0.data(), g0.data() + g0.numel());
    float loss_ref = 0;
    ref::tv_loss_reference(g_ref.data(), x.data(), s[0] * s[1], s[2], s[3], 0.7f, 1.0f, &loss_ref);
    auto g = g0.to<Gpu>();
    const float loss = ops::total_variation(x.to<Gpu>(), &g, 0.7f);
    REQUIRE(loss == Approx(loss_ref).epsilon(1e-4).margin(1e-6));
    TINYCNN_REQUIRE_CLOSE(g.to<cpu>().to_vector(), g_ref, 1e-5);
  }
}

TEST_CASE("cuda gemm splits long reductions of few tiles along K", "[cuda][style][gemm]") {
  TINYCNN_REQUIRE_CUDA();
  struct Case {
    std::int64_t m, n, k;
    bool ta, tb;
    float beta;
  };
  for (const Case& c : {Case{64, 64, 100003, false, true, 0.0f}, Case{3, 3, 262147, false, true, 0.5f},
                        Case{37, 70, 50001, true, false, 1.0f}, Case{128, 96, 40000, true, true, 0.0f},
                        Case{512, 512, 16384, false, true, 0.0f},
                        Case{256, 130, 70001, false, true, 0.5f},
                        Case{129, 200, 30011, true, false, 1.0f},
                        // short reductions of very few tiles: style gradients at small sizes
                        Case{1024, 4, 1024, false, false, 0.0f},
                        Case{384, 12, 517, false, false, 1.0f},
                        Case{256, 52, 256, false, false, 0.0f}}) {
    INFO(c.m << "x" << c.n << "x" << c.k << " ta " << c.ta << " tb " << c.tb << " beta " << c.beta);
    // Each case splits; 128x128 tiles when both sides reach 128, 64x64 ones otherwise.
    const auto choice = tinycnn::kernels::cuda::detail::gemm_split_choice(
        tinycnn::kernels::packed_gemm(c.m, c.n, c.k, c.ta, c.tb));
    CHECK(choice.split.chunks > 1);
    CHECK(choice.large == (c.m >= 128 && c.n >= 128));
    auto a = random_host(c.ta ? Shape{c.k, c.m} : Shape{c.m, c.k}, 6);
    auto b = random_host(c.tb ? Shape{c.n, c.k} : Shape{c.k, c.n}, 7);
    auto c0 = random_host({c.m, c.n}, 8);
    const auto d = tinycnn::kernels::packed_gemm(c.m, c.n, c.k, c.ta, c.tb);
    std::vector<float> expect(c0.data(), c0.data() + c0.numel());
    ref::gemm_reference(expect.data(), a.data(), b.data(), d, 0.75f, c.beta);
    auto out = c0.to<Gpu>();
    ops::gemm(out, a.to<Gpu>(), b.to<Gpu>(), 0.75f, c.beta, c.ta, c.tb);
    TINYCNN_REQUIRE_CLOSE(out.to<cpu>().to_vector(), expect, 2e-5);
  }
  // The Gram matrix of a 64-channel 8K-wide strip.
  auto f = random_host({1, 64, 7, 7680}, 9);
  TINYCNN_REQUIRE_CLOSE(ops::style_gram(f.to<Gpu>()).to<cpu>().to_vector(),
                        ops::style_gram(f).to_vector(), 2e-5);
}

TEST_CASE("cuda losses queued into one LossBuffer read back as the CPU's one by one",
          "[cuda][style]") {
  TINYCNN_REQUIRE_CUDA();
  // Content, style and TV losses into one buffer (one read at the end, as StyleTransfer does),
  // against the CPU's single-loss calls; the gradients they add up are the same.
  const auto f = random_host({1, 6, 9, 11}, 30), p = random_host({1, 6, 9, 11}, 31);
  const auto target = random_host({6, 6}, 32), x = random_host({1, 3, 8, 7}, 33);
  ops::LossBuffer<float, Gpu> values(3);
  Tensor<float, Gpu> gf, gx;
  const auto fg = f.to<Gpu>();
  ops::content_loss(fg, p.to<Gpu>(), 2.0f, &gf, values);
  ops::style_loss(fg, target.to<Gpu>(), 3.0f, &gf, values);
  ops::tv_loss(x.to<Gpu>(), 0.5f, &gx, values);
  REQUIRE(values.size() == 3);
  CHECK_THROWS_AS(values.add(1.0), tinycnn::Error);
  const std::vector<double> v = values.read();
  Tensor<float, cpu> cf, cx;
  const float content = ops::content_loss(f, p, 2.0f, &cf);
  const float style = ops::style_loss(f, target, 3.0f, &cf);
  const float tv = ops::tv_loss(x, 0.5f, &cx);
  CHECK(v[0] == Approx(content).epsilon(1e-5));
  CHECK(v[1] == Approx(style).epsilon(1e-5));
  CHECK(v[2] == Approx(tv).epsilon(1e-5));
  TINYCNN_REQUIRE_CLOSE(gf.to<cpu>().to_vector(), cf.to_vector(), 2e-5);
  TINYCNN_REQUIRE_CLOSE(gx.to<cpu>().to_vector(), cx.to_vector(), 2e-5);
}

TEST_CASE("cuda style loss on maps whose H*W is not a multiple of 4 (rows padded for the GEMMs)",
          "[cuda][style]") {
  TINYCNN_REQUIRE_CUDA();
  // Odd H*W as NIN's ceil-mode pools leave them: one short product, one split along K (9797 long,
  // 130 channels) and 256 channels at 63x63 (NIN's conv4 input at 2048 px); the gradient is added
  // into an existing one (beta 1) and created (beta 0), against the CPU.
  for (const Shape& shape : {Shape{1, 5, 3, 3}, Shape{1, 130, 97, 101}, Shape{1, 256, 63, 63}}) {
    INFO("features " << shape);
    const auto f = random_host(shape, 20), target = random_host({shape[1], shape[1]}, 21);
    const auto g0 = random_host(shape, 22);
    TINYCNN_REQUIRE_CLOSE(ops::style_gram(f.to<Gpu>()).to<cpu>().to_vector(),
                          ops::style_gram(f).to_vector(), 2e-5);
    auto g_cpu = g0.clone();
    auto g_gpu = g0.to<Gpu>();
    const float l_cpu = ops::style_loss(f, target, 3.0f, &g_cpu);
    const float l_gpu = ops::style_loss(f.to<Gpu>(), target.to<Gpu>(), 3.0f, &g_gpu);
    CHECK(l_gpu == Approx(l_cpu).epsilon(1e-4));
    TINYCNN_REQUIRE_CLOSE(g_gpu.to<cpu>().to_vector(), g_cpu.to_vector(), 2e-5);
    Tensor<float, Gpu> fresh;
    ops::style_loss(f.to<Gpu>(), target.to<Gpu>(), 3.0f, &fresh);
    Tensor<float, cpu> fresh_cpu;
    ops::style_loss(f, target, 3.0f, &fresh_cpu);
    TINYCNN_REQUIRE_CLOSE(fresh.to<cpu>().to_vector(), fresh_cpu.to_vector(), 2e-5);
  }
}

TEST_CASE("cuda style transfer matches PyTorch", "[cuda][style][fixture]") {
  TINYCNN_REQUIRE_CUDA();
  tinycnn::test::check_style_fixture<float, Gpu>(5e-4);
}

TEST_CASE("cuda style transfer steps agree with the CPU on a VGG-like net", "[cuda][style]") {
  TINYCNN_REQUIRE_CUDA();
  auto net = tinycnn::test::style_test_net<float, cpu>();
  auto gpu = net.to<Gpu>();
  auto opts = tinycnn::test::style_test_options(tinycnn::style::Optimizer::kLbfgs);
  tinycnn::style::StyleTransfer<float, cpu> st_cpu(net, opts);
  tinycnn::style::StyleTransfer<float, Gpu> st_gpu(gpu, opts);
  const auto content = random_host({1, 3, 70, 53}, 10), style = random_host({1, 3, 64, 64}, 11);
  st_cpu.set_content(content);
  st_cpu.set_style(style);
  st_gpu.set_content(content.to<Gpu>());
  st_gpu.set_style(style.to<Gpu>());
  auto img_cpu = random_host({1, 3, 70, 53}, 12);
  auto img_gpu = img_cpu.to<Gpu>();
  for (int i = 0; i < 5; ++i) {
    const auto lc = st_cpu.step(img_cpu), lg = st_gpu.step(img_gpu);
    REQUIRE(lg.total() == Approx(lc.total()).epsilon(1e-3));
  }
  TINYCNN_REQUIRE_CLOSE(img_gpu.to<cpu>().to_vector(), img_cpu.to_vector(), 2e-3);
}

TEST_CASE("cuda style transfer through a CUDA graph equals the steps without one",
          "[cuda][style][graph]") {
  TINYCNN_REQUIRE_CUDA();
  namespace style = tinycnn::style;
  const bool tf32_before = tinycnn::cuda_conv_tf32();
  for (const bool tf32 : {false, true})
    for (const auto optimizer : {style::Optimizer::kAdam, style::Optimizer::kLbfgs}) {
      INFO("tf32=" << tf32
                   << " optimizer=" << (optimizer == style::Optimizer::kAdam ? "Adam" : "L-BFGS"));
      tinycnn::set_cuda_conv_tf32(tf32);
      auto host_net = tinycnn::test::style_test_net<float, cpu>();
      auto net_eager = host_net.to<Gpu>(), net_graph = host_net.to<Gpu>();
      auto opts = tinycnn::test::style_test_options(optimizer);
      style::StyleTransfer<float, Gpu> eager(net_eager, opts);
      opts.cuda_graph = true;
      style::StyleTransfer<float, Gpu> graph(net_graph, opts);
      const auto content = random_host({1, 3, 70, 53}, 20).to<Gpu>();
      const auto style_a = random_host({1, 3, 64, 64}, 21).to<Gpu>();
      const auto style_b = random_host({1, 3, 48, 80}, 22).to<Gpu>();
      for (auto* st : {&eager, &graph}) {
        st->set_content(content);
        st->set_style(style_a);
      }
      auto img_eager = random_host({1, 3, 70, 53}, 23).to<Gpu>();
      auto img_graph = img_eager.clone();
      // Steps in both; the graph one replays from its second evaluation of an image on, until its
      // targets, image tensor or recording change.
      std::size_t in_use_after_recording = 0;
      auto steps = [&](int n, std::vector<bool> replayed) {
        for (int i = 0; i < n; ++i) {
          INFO("step " << i);
          const auto le = eager.step(img_eager), lg = graph.step(img_graph);
          CHECK_FALSE(eager.graph_replayed());
          CHECK(graph.graph_replayed() == replayed[std::size_t(i)]);
          REQUIRE(lg.content == le.content);
          REQUIRE(lg.style == le.style);
          REQUIRE(lg.tv == le.tv);
          REQUIRE(img_graph.to_vector() == img_eager.to_vector());
          if (i == 2) in_use_after_recording = tinycnn::cuda_memory_stats().bytes_in_use;
        }
      };
      steps(5, {false, true, true, true, true});
      // Replays allocate nothing that outlives them (L-BFGS adds history pairs as it goes).
      if (optimizer == style::Optimizer::kAdam)
        CHECK(tinycnn::cuda_memory_stats().bytes_in_use == in_use_after_recording);
      // New style targets: one step as usual, then a new recording.
      eager.set_style(style_b);
      graph.set_style(style_b);
      steps(3, {false, true, true});
      // A new image tensor (same values): the same.
      img_graph = img_graph.clone();
      steps(3, {false, true, true});
      // forget_graph(): the same.
      graph.forget_graph();
      steps(2, {false, true});
      // evaluate(image, &grad) replays too, and hands out a copy of the recorded gradient.
      Tensor<float, Gpu> ge, gg, gg2;
      const auto le = eager.evaluate(img_eager, &ge), lg = graph.evaluate(img_graph, &gg);
      CHECK(graph.graph_replayed());
      REQUIRE(lg.total() == le.total());
      REQUIRE(gg.to_vector() == ge.to_vector());
      gg.fill(0.f);
      graph.evaluate(img_graph, &gg2);
      REQUIRE(gg2.to_vector() == ge.to_vector());
      // Losses only: no graph.
      graph.evaluate(img_graph);
      CHECK_FALSE(graph.graph_replayed());
    }
  tinycnn::set_cuda_conv_tf32(tf32_before);
}
