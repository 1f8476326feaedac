// VGG and NIN (models/vgg.hpp, models/nin.hpp) and pretrained loading (models/pretrained.hpp) on
// the CPU: layer names and order, full-size shapes and parameter counts against torchvision's
// layouts, activations against PyTorch (tests/data/{vgg,nin}_*.safetensors, written by
// tools/make_vgg_fixtures.py through tools/convert_weights.py), and every loader error.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/compare.hpp"
#include "support/fixtures.hpp"
#include "support/temp_dir.hpp"
#include "tinycnn/models/pretrained.hpp"

using namespace tinycnn;
using namespace tinycnn::models;
using tinycnn::test::fixture_path;
using tinycnn::test::TempDir;

namespace {

constexpr std::int64_t kFixtureDivisor = 16;  // tools/make_vgg_fixtures.py DIVISOR
constexpr std::int64_t kFixtureNinClasses = 100;

template <class T>
std::vector<std::string> layer_names(nn::Sequential<T>& net) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < net.size(); ++i) out.push_back(net.name(i));
  return out;
}

// Every state tensor's name and values, to see that a failed load changed nothing.
template <class T>
std::vector<std::pair<std::string, std::vector<T>>> snapshot(nn::Sequential<T>& net) {
  std::vector<std::pair<std::string, std::vector<T>>> out;
  for (auto& [name, t] : net.state()) out.emplace_back(name, t->to_vector());
  return out;
}

// Writes the net's state under the mapped names (identity for names not mapped), plus `extra`.
template <class T>
void save_state(nn::Sequential<T>& net, const std::string& path, const StateNameMap& mapping,
                const std::vector<std::pair<std::string, io::TensorRef>>& extra = {},
                const std::vector<std::string>& skip = {}) {
  std::map<std::string, std::string> file_name(mapping.begin(), mapping.end());
  std::vector<std::pair<std::string, io::TensorRef>> refs;
  for (auto& [name, t] : net.state()) {
    const std::string theirs = file_name.count(name) ? file_name[name] : name;
    if (std::find(skip.begin(), skip.end(), theirs) == skip.end())
      refs.emplace_back(theirs, io::TensorRef(*t));
  }
  refs.insert(refs.end(), extra.begin(), extra.end());
  io::save_safetensors(path, refs);
}

// [[name, [dims]], ...] of a full-size PyTorch layout recorded by the fixture script.
std::vector<std::pair<std::string, Shape>> torch_layout(const io::SafetensorsFile& file,
                                                        const std::string& arch) {
  std::vector<std::pair<std::string, Shape>> out;
  for (const auto& e : nlohmann::json::parse(file.metadata("layout." + arch))) {
    const auto dims = e.at(1).get<std::vector<std::int64_t>>();
    out.emplace_back(e.at(0).get<std::string>(),
                     Shape(std::span<const std::int64_t>(dims.data(), dims.size())));
  }
  return out;
}

std::int64_t torch_params(const io::SafetensorsFile& file, const std::string& arch) {
  return std::stoll(file.metadata("params." + arch));
}

// The net's state, named the file's way, equals the PyTorch layout: names, order and shapes.
template <class T>
void check_layout(nn::Sequential<T>& net, const StateNameMap& mapping,
                  const std::vector<std::pair<std::string, Shape>>& layout) {
  auto state = net.state();
  REQUIRE(state.size() == layout.size());
  REQUIRE(mapping.size() == layout.size());
  for (std::size_t i = 0; i < state.size(); ++i) {
    INFO("state entry " << i << ": ours " << state[i].first << ", torch " << layout[i].first);
    CHECK(mapping[i].first == state[i].first);
    CHECK(mapping[i].second == layout[i].first);
    CHECK(state[i].second->shape() == layout[i].second);
  }
}

// forward_until(tap) of net on the fixture's input equals PyTorch's activation, for every tap.
template <class T>
void check_taps(nn::Sequential<T>& net, const io::SafetensorsFile& taps,
                const std::string& prefix) {
  const auto input = taps.tensor<T>(prefix + ".input");
  const std::string list = taps.metadata(prefix + ".taps");
  std::vector<std::string> names;
  for (std::size_t b = 0, e; b <= list.size(); b = e + 1) {
    e = list.find(',', b);
    if (e == std::string::npos) e = list.size();
    names.push_back(list.substr(b, e - b));
  }
  REQUIRE(names.size() >= 3);
  for (const auto& tap : names) {
    INFO(prefix << " tap " << tap);
    const auto want = taps.tensor<double>(prefix + "." + tap);
    const auto got = net.forward_until(input, tap);
    REQUIRE(got.shape() == want.shape());
    TINYCNN_REQUIRE_CLOSE(got.to_vector(), want.to_vector(), test::default_tolerance<T>());
  }
}

}  // namespace

// ---- VGG ---------------------------------------------------------------------------------------

TEST_CASE("vgg: layers carry the Caffe names in torchvision's order", "[models][vgg]") {
  auto net = vgg11<float>({.width_divisor = kFixtureDivisor});
  CHECK(layer_names(net) ==
        std::vector<std::string>{"conv1_1", "relu1_1", "pool1",   "conv2_1", "relu2_1", "pool2",
                                 "conv3_1", "relu3_1", "conv3_2", "relu3_2", "pool3",   "conv4_1",
                                 "relu4_1", "conv4_2", "relu4_2", "pool4",   "conv5_1", "relu5_1",
                                 "conv5_2", "relu5_2", "pool5",   "flatten", "fc6",     "relu6",
                                 "drop6",   "fc7",     "relu7",   "drop7",   "fc8"});
  CHECK(std::holds_alternative<nn::MaxPool2d>(net.spec(net.index_of("pool3"))));
  CHECK(std::holds_alternative<nn::Dropout>(net.spec(net.index_of("drop7"))));
  const auto& conv = std::get<nn::Conv2d>(net.spec(net.index_of("conv3_2")));
  CHECK(conv.kernel_size == 3);
  CHECK(conv.options.padding == 1);
  CHECK(conv.options.bias);

  // torchvision's features[i] is our layer i: vgg19_bn's last conv is features[49], pool5 [52].
  auto bn =
      vgg19<float>({.batch_norm = true, .classifier = false, .width_divisor = kFixtureDivisor});
  CHECK(bn.size() == 53);
  CHECK(bn.index_of("conv1_1") == 0);
  CHECK(bn.index_of("bn1_1") == 1);
  CHECK(bn.index_of("relu1_1") == 2);
  CHECK(bn.index_of("conv5_4") == 49);
  CHECK(bn.index_of("bn5_4") == 50);
  CHECK(bn.index_of("pool5") == 52);
  auto v16 = vgg16<float>({.classifier = false, .width_divisor = kFixtureDivisor});
  CHECK(v16.size() == 31);
  CHECK(v16.index_of("conv4_1") == 17);
  CHECK(v16.index_of("relu4_3") == 22);
  auto v13 = vgg13<float>({.classifier = false, .width_divisor = kFixtureDivisor});
  CHECK(v13.index_of("conv5_2") == 22);
  CHECK(vgg_arch_name(VggDepth::k13, false) == "vgg13");
  CHECK(vgg_arch_name(VggDepth::k19, true) == "vgg19_bn");
}

TEST_CASE("vgg: the classifier takes 224x224 inputs; without it any size passes", "[models][vgg]") {
  auto net = vgg16<float>({.num_classes = 10, .width_divisor = kFixtureDivisor});
  CHECK(net.output_shape({2, 3, 224, 224}) == Shape{2, 10});
  REQUIRE_THROWS_WITH(net.output_shape({2, 3, 64, 64}), Catch::Contains("layer 'fc6'"));
  auto features = vgg16<float>({.classifier = false, .width_divisor = kFixtureDivisor});
  CHECK(features.output_shape({2, 3, 64, 96}) == Shape{2, 512 / kFixtureDivisor, 2, 3});
}

TEST_CASE("vgg and nin: invalid options are refused", "[models][vgg][nin]") {
  for (std::int64_t d : {0, -2, 3, 128})
    REQUIRE_THROWS_WITH(vgg11<float>({.width_divisor = d}), Catch::Contains("width_divisor"));
  REQUIRE_THROWS_WITH(vgg11<float>({.num_classes = 0, .width_divisor = 16}),
                      Catch::Contains("num_classes"));
  for (std::int64_t d : {0, 3, 64})
    REQUIRE_THROWS_WITH(nin_imagenet<float>({.width_divisor = d}),
                        Catch::Contains("width_divisor"));
  REQUIRE_THROWS_WITH(nin_imagenet<float>({.num_classes = -1, .width_divisor = 16}),
                      Catch::Contains("num_classes"));
}

TEST_CASE("vgg: full-size names, shapes and parameter counts are torchvision's", "[models][vgg]") {
  const io::SafetensorsFile taps(fixture_path("vgg_taps.safetensors"));
  // The counts torchvision reports (sum of p.numel() over parameters; buffers not counted).
  struct Case {
    VggDepth depth;
    bool batch_norm;
    std::string arch;
    std::int64_t params;
  };
  for (const Case& c : {Case{VggDepth::k16, false, "vgg16", 138'357'544},
                        Case{VggDepth::k19, false, "vgg19", 143'667'240},
                        Case{VggDepth::k19, true, "vgg19_bn", 143'678'248}}) {
    INFO(c.arch);
    const VggOptions o{.batch_norm = c.batch_norm};
    auto net = vgg<float>(c.depth, o);
    CHECK(net.parameter_count() == c.params);
    CHECK(torch_params(taps, c.arch) == c.params);
    check_layout(net, torchvision_names(c.depth, o), torch_layout(taps, c.arch));
    CHECK(net.output_shape({1, 3, 224, 224}) == Shape{1, 1000});
  }
  auto features = vgg16<float>({.classifier = false});
  CHECK(features.parameter_count() == 14'714'688);
  // The other layouts by name (their shapes follow from the same builder).
  for (const auto& [depth, bn, arch] :
       std::vector<std::tuple<VggDepth, bool, std::string>>{{VggDepth::k11, false, "vgg11"},
                                                            {VggDepth::k11, true, "vgg11_bn"},
                                                            {VggDepth::k16, true, "vgg16_bn"}}) {
    INFO(arch);
    const auto mapping = torchvision_names(depth, {.batch_norm = bn});
    const auto layout = torch_layout(taps, arch);
    REQUIRE(mapping.size() == layout.size());
    for (std::size_t i = 0; i < mapping.size(); ++i) CHECK(mapping[i].second == layout[i].first);
  }
  CHECK(torch_params(taps, "vgg11") == 132'863'336);
  CHECK(torch_params(taps, "vgg16_bn") == 138'365'992);
}

TEST_CASE("vgg: torchvision_names maps our state names in state() order",
          "[models][vgg][pretrained]") {
  const auto m = torchvision_names(VggDepth::k16, {});
  const std::map<std::string, std::string> map(m.begin(), m.end());
  CHECK(map.at("conv1_1.weight") == "features.0.weight");
  CHECK(map.at("conv1_2.bias") == "features.2.bias");
  CHECK(map.at("conv5_3.weight") == "features.28.weight");
  CHECK(map.at("fc6.weight") == "classifier.0.weight");
  CHECK(map.at("fc7.bias") == "classifier.3.bias");
  CHECK(map.at("fc8.weight") == "classifier.6.weight");
  CHECK(m.size() == 32);
  const auto b = torchvision_names(VggDepth::k16, {.batch_norm = true, .classifier = false});
  const std::map<std::string, std::string> bmap(b.begin(), b.end());
  CHECK(bmap.at("bn1_1.running_mean") == "features.1.running_mean");
  CHECK(bmap.at("bn1_1.running_var") == "features.1.running_var");
  CHECK(bmap.at("conv5_3.weight") == "features.40.weight");
  CHECK(bmap.at("bn5_3.bias") == "features.41.bias");
  CHECK(bmap.count("fc6.weight") == 0);
  CHECK(b.size() == 13 * 6);

  for (VggDepth depth : {VggDepth::k11, VggDepth::k13, VggDepth::k16, VggDepth::k19})
    for (bool bn : {false, true})
      for (bool classifier : {false, true}) {
        const VggOptions o{.batch_norm = bn, .classifier = classifier, .width_divisor = 64};
        INFO(vgg_arch_name(depth, bn) << " classifier " << classifier);
        auto net = vgg<float>(depth, o);
        const auto names = torchvision_names(depth, o);
        const auto state = net.state();
        REQUIRE(names.size() == state.size());
        for (std::size_t i = 0; i < names.size(); ++i) CHECK(names[i].first == state[i].first);
      }
}

TEMPLATE_TEST_CASE("vgg11 vs PyTorch: activations at relu1_1, conv3_1, relu3_1, pool5",
                   "[models][vgg][pretrained][fixture][pytorch]", float, double) {
  const io::SafetensorsFile weights(fixture_path("vgg_11_w16.safetensors"));
  CHECK(weights.metadata("arch") == "vgg11");
  CHECK(weights.metadata("converter") == "tinycnn tools/convert_weights.py");
  const io::SafetensorsFile taps(fixture_path("vgg_taps.safetensors"));
  REQUIRE(std::stoll(taps.metadata("width_divisor")) == kFixtureDivisor);

  const VggOptions o{.classifier = false, .width_divisor = kFixtureDivisor};
  auto net = vgg11<TestType>(o);
  load_torchvision_vgg(net, VggDepth::k11, o, fixture_path("vgg_11_w16.safetensors"));
  net.eval();
  check_taps(net, taps, "vgg11");
}

TEMPLATE_TEST_CASE("vgg11_bn vs PyTorch in eval mode: running statistics are used",
                   "[models][vgg][pretrained][fixture][pytorch]", float, double) {
  const io::SafetensorsFile taps(fixture_path("vgg_taps.safetensors"));
  const VggOptions o{.batch_norm = true, .classifier = false, .width_divisor = kFixtureDivisor};
  auto net = vgg11<TestType>(o);
  load_torchvision_vgg(net, VggDepth::k11, o, fixture_path("vgg_11_bn_w16.safetensors"));
  // The fixture's statistics are not the identity, so eval mode is what the comparison tests.
  auto state = net.state();
  const auto mean = std::find_if(state.begin(), state.end(),
                                 [](auto& s) { return s.first == "bn1_1.running_mean"; });
  REQUIRE(mean != state.end());
  CHECK(mean->second->to_vector() != std::vector<TestType>(mean->second->numel(), TestType(0)));
  net.eval();
  check_taps(net, taps, "vgg11_bn");
}

// ---- NIN ---------------------------------------------------------------------------------------

TEST_CASE("nin: layers carry the names of the model zoo's train_val.prototxt", "[models][nin]") {
  auto net = nin_imagenet<float>();
  CHECK(layer_names(net) ==
        std::vector<std::string>{"conv1",  "relu0",      "cccp1",      "relu1",  "cccp2",
                                 "relu2",  "pool0",      "conv2",      "relu3",  "cccp3",
                                 "relu5",  "cccp4",      "relu6",      "pool2",  "conv3",
                                 "relu7",  "cccp5",      "relu8",      "cccp6",  "relu9",
                                 "pool3",  "drop",       "conv4-1024", "relu10", "cccp7-1024",
                                 "relu11", "cccp8-1024", "relu12",     "pool4"});
  CHECK(net.parameter_count() == 7'595'176);
  const io::SafetensorsFile taps(fixture_path("nin_taps.safetensors"));
  CHECK(torch_params(taps, "nin") == 7'595'176);
  check_layout(net, pytorch_nin_names({}), torch_layout(taps, "nin"));
  const auto& conv1 = std::get<nn::Conv2d>(net.spec(0));
  CHECK((conv1.kernel_size == 11 && conv1.options.stride == 4 && conv1.options.padding == 0));
  const auto& pool = std::get<nn::MaxPool2d>(net.spec(net.index_of("pool2")));
  CHECK((pool.kernel_size == 3 && pool.options.stride == 2 && pool.options.ceil_mode));
  // 224x224: conv4's maps are 6x6, where the prototxt's 6x6 average pool is the global one.
  CHECK(net.output_shape({2, 3, 224, 224}) == Shape{2, 1000, 1, 1});
  auto maps = nin_imagenet<float>({.classifier = false, .width_divisor = kFixtureDivisor});
  CHECK(maps.size() == 28);
  CHECK(maps.output_shape({2, 3, 224, 224}) == Shape{2, 1000, 6, 6});
  // Ceil mode: 71 -> conv1 16 -> pool0 8 (floor mode: 7) -> pool2 4 (3) -> pool3 2 (1).
  CHECK(maps.output_shape({1, 3, 71, 71}) == Shape{1, 1000, 2, 2});
}

TEMPLATE_TEST_CASE("nin vs PyTorch: activations at relu0 .. pool4, ceil-mode pools",
                   "[models][nin][pretrained][fixture][pytorch]", float, double) {
  const io::SafetensorsFile weights(fixture_path("nin_w16.safetensors"));
  CHECK(weights.metadata("arch") == "nin");
  const io::SafetensorsFile taps(fixture_path("nin_taps.safetensors"));
  REQUIRE(std::stoll(taps.metadata("width_divisor")) == kFixtureDivisor);
  REQUIRE(std::stoll(taps.metadata("num_classes")) == kFixtureNinClasses);
  const NinOptions o{.num_classes = kFixtureNinClasses, .width_divisor = kFixtureDivisor};
  auto net = nin_imagenet<TestType>(o);
  const auto names = pytorch_nin_names(o);
  CHECK(names.front() == std::pair<std::string, std::string>{"conv1.weight", "features.0.weight"});
  CHECK(names.back() == std::pair<std::string, std::string>{"cccp8-1024.bias", "features.26.bias"});
  load_pytorch_nin(net, o, fixture_path("nin_w16.safetensors"));
  net.eval();
  check_taps(net, taps, "nin");
}

// ---- loading -----------------------------------------------------------------------------------

TEST_CASE("pretrained: a torchvision-named file round-trips; num_batches_tracked is ignored",
          "[models][pretrained]") {
  TempDir dir("tinycnn_vgg");
  const VggOptions full{.batch_norm = true, .seed = 1, .width_divisor = 32};
  const auto names = torchvision_names(VggDepth::k11, full);
  auto source = vgg11<float>(full);
  const auto counter = Tensor<std::int64_t>::full({}, 5);
  save_state(source, dir.file("vgg11_bn.safetensors"), names,
             {{"features.1.num_batches_tracked", io::TensorRef(counter)},
              {"num_batches_tracked", io::TensorRef(counter)}});

  VggOptions other = full;
  other.seed = 2;
  auto net = vgg11<float>(other);
  REQUIRE(snapshot(net) != snapshot(source));
  load_torchvision_vgg(net, VggDepth::k11, other, dir.file("vgg11_bn.safetensors"));
  CHECK(snapshot(net) == snapshot(source));
  // The generic loader with the same mapping and no unused tensors allowed: the counters are the
  // only tensors it does not read, and they do not count.
  auto again = vgg11<float>(other);
  load_safetensors_state(again, dir.file("vgg11_bn.safetensors"), names);
  CHECK(snapshot(again) == snapshot(source));

  // A classifier-less net reads the features of a full file; the classifier is ignored.
  VggOptions headless = other;
  headless.classifier = false;
  auto features = vgg11<float>(headless);
  load_torchvision_vgg(features, VggDepth::k11, headless, dir.file("vgg11_bn.safetensors"));
  auto want = snapshot(source);
  want.resize(features.state().size());
  CHECK(snapshot(features) == want);
  // ... but not when unused tensors are refused, and the error names one of them.
  auto strict = vgg11<float>(headless);
  const auto before = snapshot(strict);
  REQUIRE_THROWS_WITH(load_safetensors_state(strict, dir.file("vgg11_bn.safetensors"),
                                             torchvision_names(VggDepth::k11, headless)),
                      Catch::Contains("classifier.0.weight") && Catch::Contains("does not use") &&
                          Catch::Contains("vgg11_bn.safetensors"));
  CHECK(snapshot(strict) == before);

  // Identity names: a file written with our own names loads without a mapping.
  save_state(source, dir.file("ours.safetensors"), {});
  auto ours = vgg11<float>(other);
  load_safetensors_state(ours, dir.file("ours.safetensors"));
  CHECK(snapshot(ours) == snapshot(source));
}

TEST_CASE("pretrained: F64, F16 and BF16 tensors are converted", "[models][pretrained]") {
  TempDir dir("tinycnn_vgg");
  nn::Sequential<float> net;
  net.add("conv", nn::Conv2d(1, 2, 1)).add("bn", nn::BatchNorm2d(2));
  const std::vector<double> weight{0.5, -1.25};                    // F64
  const std::vector<std::uint16_t> bias{0x3C00, 0xB800};           // F16: 1, -0.5
  const std::vector<std::uint16_t> gamma{0x3F80, 0xC000};          // BF16: 1, -2
  const std::vector<std::uint16_t> beta{0x3400, 0x4200};           // F16: 0.25, 3
  const std::vector<float> mean{0.125f, -4.0f}, var{2.0f, 0.75f};  // F32
  io::save_safetensors(dir.file("mixed.safetensors"),
                       {{"conv.weight", io::TensorRef(weight.data(), Shape{2, 1, 1, 1})},
                        {"conv.bias", io::TensorRef(io::Dtype::F16, Shape{2}, bias.data())},
                        {"bn.weight", io::TensorRef(io::Dtype::BF16, Shape{2}, gamma.data())},
                        {"bn.bias", io::TensorRef(io::Dtype::F16, Shape{2}, beta.data())},
                        {"bn.running_mean", io::TensorRef(mean.data(), Shape{2})},
                        {"bn.running_var", io::TensorRef(var.data(), Shape{2})}});
  load_safetensors_state(net, dir.file("mixed.safetensors"));
  const auto s = snapshot(net);
  CHECK(s[0].second == std::vector<float>{0.5f, -1.25f});
  CHECK(s[1].second == std::vector<float>{1.0f, -0.5f});
  CHECK(s[2].second == std::vector<float>{1.0f, -2.0f});
  CHECK(s[3].second == std::vector<float>{0.25f, 3.0f});
  CHECK(s[4].second == mean);
  CHECK(s[5].second == var);
}

TEST_CASE("pretrained: every load error names the tensor and leaves the net unchanged",
          "[models][pretrained]") {
  TempDir dir("tinycnn_vgg");
  const VggOptions o{.batch_norm = true, .classifier = false, .seed = 3, .width_divisor = 32};
  const auto names = torchvision_names(VggDepth::k11, o);
  auto source = vgg11<float>(o);
  auto net =
      vgg11<float>({.batch_norm = true, .classifier = false, .seed = 4, .width_divisor = 32});
  const auto before = snapshot(net);
  auto fails = [&](const std::string& file, const StateNameMap& mapping, bool allow_unused,
                   const std::vector<std::string>& parts) {
    INFO("file " << file);
    try {
      load_safetensors_state(net, dir.file(file), mapping, allow_unused);
      FAIL("no error");
    } catch (const Error& e) {
      const std::string what = e.what();
      INFO("message: " << what);
      CHECK(what.find(file) != std::string::npos);
      for (const auto& p : parts) CHECK(what.find(p) != std::string::npos);
    }
    CHECK(snapshot(net) == before);
  };

  SECTION("a tensor is missing") {
    save_state(source, dir.file("missing.safetensors"), names, {}, {"features.9.running_var"});
    fails("missing.safetensors", names, true,
          {"features.9.running_var", "bn3_1.running_var", "[8]"});
  }
  SECTION("a tensor has another shape") {
    const auto wrong = Tensor<float>::full({8, 4, 3, 3}, 1.0f);
    save_state(source, dir.file("shape.safetensors"), names,
               {{"features.4.weight", io::TensorRef(wrong)}}, {"features.4.weight"});
    fails("shape.safetensors", names, false,
          {"features.4.weight", "[8, 4, 3, 3]", "conv2_1.weight", "[4, 2, 3, 3]"});
  }
  SECTION("the file has a tensor the net does not use") {
    const auto extra = Tensor<float>::full({3}, 1.0f);
    save_state(source, dir.file("unused.safetensors"), names,
               {{"features.99.weight", io::TensorRef(extra)}});
    fails("unused.safetensors", names, false, {"features.99.weight", "does not use"});
    load_safetensors_state(net, dir.file("unused.safetensors"), names, true);  // allowed: loads
    CHECK(snapshot(net) == snapshot(source));
  }
  SECTION("a weight is stored as integers") {
    const auto ints = Tensor<std::int32_t>::full({2}, 1);
    save_state(source, dir.file("ints.safetensors"), names,
               {{"features.1.bias", io::TensorRef(ints)}}, {"features.1.bias"});
    fails("ints.safetensors", names, false, {"features.1.bias", "bn1_1.bias", "I32"});
  }
  SECTION("the mapping is wrong") {
    save_state(source, dir.file("ok.safetensors"), names);
    auto extra = names;
    extra.emplace_back("conv9_9.weight", "features.77.weight");
    fails("ok.safetensors", extra, false, {"conv9_9.weight", "not a tensor of the net"});
    auto twice = names;
    twice[1].second = twice[0].second;  // conv1_1.bias -> features.0.weight
    fails("ok.safetensors", twice, false, {"features.0.weight", "two tensors"});
    auto repeated = names;
    repeated.push_back(names[0]);
    fails("ok.safetensors", repeated, false, {"conv1_1.weight", "twice"});
    // No mapping: our own names are not in a torchvision file.
    fails("ok.safetensors", {}, true, {"conv1_1.weight"});
  }
  SECTION("the net is not the architecture named") {
    save_state(source, dir.file("ok.safetensors"), names);
    auto other = vgg13<float>(o);
    const auto other_before = snapshot(other);
    REQUIRE_THROWS_WITH(load_torchvision_vgg(other, VggDepth::k11, o, dir.file("ok.safetensors")),
                        Catch::Contains("is not vgg11_bn without classifier"));
    CHECK(snapshot(other) == other_before);
    // A net with a classifier needs it in the file.
    VggOptions with = o;
    with.classifier = true;
    auto full = vgg11<float>(with);
    const auto full_before = snapshot(full);
    REQUIRE_THROWS_WITH(load_torchvision_vgg(full, VggDepth::k11, with, dir.file("ok.safetensors")),
                        Catch::Contains("classifier.0.weight") && Catch::Contains("fc6.weight"));
    CHECK(snapshot(full) == full_before);
    // The fixture of another width: same names, other shapes.
    REQUIRE_THROWS_WITH(
        load_torchvision_vgg(net, VggDepth::k11, o, fixture_path("vgg_11_bn_w16.safetensors")),
        Catch::Contains("has shape"));
    CHECK(snapshot(net) == before);
  }
  SECTION("the file does not exist or is not safetensors") {
    fails("absent.safetensors", names, false, {"cannot open"});
    {
      std::FILE* f = std::fopen(dir.file("junk.safetensors").c_str(), "wb");
      REQUIRE(f);
      std::fputs("not a safetensors file at all", f);
      std::fclose(f);
    }
    fails("junk.safetensors", names, false, {"header"});
  }
}
