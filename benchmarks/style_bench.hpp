// The study's workload, complete: neural style transfer iterations per minute for VGG-16, VGG-19
// and NIN per image size, on CPU or CUDA (cpu_style_bench.cpp and cuda_style_bench.cu are the
// executables).
//
// One iteration: forward of the image to the deepest tapped layer, the content, style (Gram) and
// TV losses, backward to the image through the frozen network, one Adam step on the image.
// Networks have seeded random weights (the speed does not depend on their values); content and
// style images are random and of the benchmarked size; targets are computed before timing, and two
// iterations run untimed first. Counters: iters_per_min, pixels_per_s, peak_bytes (CUDA: the
// highest bytes tinycnn had allocated, weights included; CPU: the process's maximum resident set).
// A size that does not fit ends as an error "out of memory: ..." in the JSON, never a crash.
//
// CUDA with --graph=on (or both): the evaluation recorded as a CUDA graph and replayed
// (StyleOptions::cuda_graph), rows named style/MODEL/cuda/SIZE/graph (with `both`, right after the
// plain row of each size); counter graph = 1 where the timed steps replayed it.
//
//   style_bench [--models=vgg16,vgg19,nin] [--sizes=64,128,7680x4320] [--graph=off|on|both]
//               [Google Benchmark flags]
#pragma once

#include <sys/resource.h>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <tinycnn/models/nin.hpp>
#include <tinycnn/models/vgg.hpp>
#include <tinycnn/ops/random.hpp>
#include <tinycnn/style/presets.hpp>
#include <tinycnn/style/style_transfer.hpp>

namespace tinycnn::bench {

struct StyleSize {
  std::int64_t width, height;
};

// The benchmark's settings per model: the chainer-gogh taps for VGG-16 and NIN, neural-style's
// for VGG-19, all with Adam (one function evaluation per iteration, as in the study).
inline style::StyleOptions style_bench_options(const std::string& model) {
  auto o = model == "vgg16" ? style::chainer_gogh_vgg16()
           : model == "nin" ? style::chainer_gogh_nin()
                            : style::neural_style_vgg19();
  o.optimizer = style::Optimizer::kAdam;
  o.learning_rate = 4.0;
  return o;
}

template <Device D>
nn::Sequential<float, D> style_bench_net(const std::string& model) {
  if (model == "nin") return models::nin_imagenet<float, D>({.classifier = false});
  models::VggOptions o;
  o.classifier = false;
  return models::vgg<float, D>(model == "vgg16" ? models::VggDepth::k16 : models::VggDepth::k19, o);
}

inline std::size_t max_rss_bytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return std::size_t(u.ru_maxrss) * 1024;
}

// CUDA: reset (at the start) and read the allocator's peak; CPU: the process's maximum RSS.
template <Device D>
double peak_bytes(bool reset) {
  if constexpr (!std::is_same_v<D, cpu>) {
#if TINYCNN_HAS_CUDA
    if (reset) cuda_reset_peak_memory();
    return double(cuda_memory_stats().peak_bytes);
#endif
  }
  return reset ? 0.0 : double(max_rss_bytes());
}

template <Device D>
void style_iteration(benchmark::State& state, const std::string& model, StyleSize size,
                     bool graph) {
  try {
    peak_bytes<D>(true);
    auto net = style_bench_net<D>(model);
    auto options = style_bench_options(model);
    options.cuda_graph = graph;
    style::StyleTransfer<float, D> st(net, options);
    auto content = Tensor<float, D>::uninitialized({1, 3, size.height, size.width});
    auto style_image = Tensor<float, D>::uninitialized({1, 3, size.height, size.width});
    ops::uniform_(content, 1, -120.0f, 120.0f);  // the range of Caffe-preprocessed pixels
    ops::uniform_(style_image, 2, -120.0f, 120.0f);
    st.set_content(content);
    st.set_style(style_image);
    style_image = Tensor<float, D>();
    auto image = content.clone();
    for (int i = 0; i < 2; ++i) st.step(image);
    const auto t0 = std::chrono::steady_clock::now();
    for (auto _ : state) st.step(image);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double iters = double(state.iterations());
    state.counters["iters_per_min"] = iters * 60.0 / secs;
    state.counters["pixels_per_s"] = iters * double(size.width) * double(size.height) / secs;
    state.counters["peak_bytes"] = peak_bytes<D>(false);
    if (graph) state.counters["graph"] = st.graph_replayed() ? 1 : 0;
  } catch (const OutOfMemory& e) {
    state.SkipWithError((std::string("out of memory: ") + e.what()).c_str());
  }
}

struct StyleBenchArgs {
  std::vector<std::string> models;
  std::vector<StyleSize> sizes;
  std::vector<bool> graph{false};  // plain, recorded as a CUDA graph, or both
};

// Parses and removes --models=, --sizes= and --graph= from argv; the rest goes to Google
// Benchmark.
inline StyleBenchArgs style_bench_args(int& argc, char** argv, std::vector<std::string> models,
                                       std::vector<StyleSize> sizes) {
  StyleBenchArgs out;
  auto split = [](const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    for (std::string item; std::getline(ss, item, ',');)
      if (!item.empty()) out.push_back(item);
    return out;
  };
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--models=", 0) == 0) {
      models = split(a.substr(9));
      for (const auto& m : models)
        TINYCNN_CHECK(m == "vgg16" || m == "vgg19" || m == "nin", "style_bench: unknown model '", m,
                      "' (vgg16, vgg19, nin)");
    } else if (a.rfind("--sizes=", 0) == 0) {
      sizes.clear();
      for (const auto& s : split(a.substr(8))) {
        const auto x = s.find('x');
        const std::int64_t w = std::stoll(s.substr(0, x));
        const std::int64_t h = x == std::string::npos ? w : std::stoll(s.substr(x + 1));
        TINYCNN_CHECK(w > 0 && h > 0, "style_bench: bad size '", s, "'");
        sizes.push_back({w, h});
      }
    } else if (a.rfind("--graph=", 0) == 0) {
      const std::string g = a.substr(8);
      TINYCNN_CHECK(g == "off" || g == "on" || g == "both", "style_bench: --graph=", g,
                    " (off, on or both)");
      out.graph = g == "off"  ? std::vector<bool>{false}
                  : g == "on" ? std::vector<bool>{true}
                              : std::vector<bool>{false, true};
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  out.models = std::move(models);
  out.sizes = std::move(sizes);
  return out;
}

template <Device D>
int style_bench_main(int argc, char** argv, const char* device, std::vector<StyleSize> default_sizes) {
  StyleBenchArgs args;
  try {
    args = style_bench_args(argc, argv, {"vgg16", "vgg19", "nin"}, default_sizes);
    const bool graph_on_cpu = std::is_same_v<D, cpu> && args.graph != std::vector<bool>{false};
    TINYCNN_CHECK(!graph_on_cpu, "style_bench: --graph is for CUDA");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }
  for (const auto& m : args.models)
    for (const auto& s : args.sizes)
      for (const bool graph : args.graph) {
        const std::string name = "style/" + m + "/" + device + "/" + std::to_string(s.width) + "x" +
                                 std::to_string(s.height) + (graph ? "/graph" : "");
        benchmark::RegisterBenchmark(
            name.c_str(),
            [m, s, graph](benchmark::State& st) { style_iteration<D>(st, m, s, graph); })
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond)
            ->MinTime(1.0);
      }
  // Which arithmetic the CUDA convolutions used (TINYCNN_CUDA_TF32=1: TF32 tensor cores).
  benchmark::AddCustomContext("conv_tf32", tinycnn::cuda_conv_tf32() ? "on" : "off");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace tinycnn::bench
