// Caffe .caffemodel reading (io/caffe.hpp) and the protobuf wire-format reader under it
// (io/protobuf.hpp): the fixtures of tools/make_caffe_fixtures.py load with exactly the values they
// hold, every malformed file of tests/data/caffe/ is refused with a message naming the problem and
// the net left unchanged, and unwanted blobs are skipped unread.
#include <catch2/catch.hpp>

#include <tinycnn/io/caffe.hpp>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "support/temp_dir.hpp"

using namespace tinycnn;
namespace fs = std::filesystem;
using Catch::Contains;

namespace {

const fs::path kData = TINYCNN_TEST_DATA_DIR;

// The tiny net of tools/make_caffe_fixtures.py; conv2 has a bias in the v1 files, not in the v2
// ones.
template <class T>
nn::Sequential<T> tiny_net(bool conv2_bias, std::uint64_t seed = 1) {
  nn::Sequential<T> net(seed);
  net.add("conv1", nn::Conv2d(3, 4, 3, {.padding = 1}))
      .add("relu1", nn::ReLU{})
      .add("pool1", nn::MaxPool2d(2))
      .add("conv2", nn::Conv2d(4, 6, 1, {.bias = conv2_bias}))
      .add("relu2", nn::ReLU{})
      .add("flatten", nn::Flatten{})
      .add("fc", nn::Linear(24, 3));
  return net;
}

template <class T>
std::vector<std::vector<T>> snapshot(nn::Sequential<T>& net) {
  std::vector<std::vector<T>> out;
  for (auto& [name, t] : net.state()) out.push_back(t->to_vector());
  return out;
}

// Every parameter of net equals T(expected value) of the fixture `stem`, exactly.
template <class T>
void require_expected(nn::Sequential<T>& net, const std::string& stem) {
  const io::SafetensorsFile expected((kData / "caffe_expected.safetensors").string());
  std::size_t checked = 0;
  for (auto& [name, t] : net.state()) {
    INFO(stem << " " << name);
    const std::string key = stem + "/" + name;
    REQUIRE(expected.contains(key));
    REQUIRE(expected.shape(key) == t->shape());
    const auto want = expected.tensor<double>(key).to_vector();
    const auto got = t->to_vector();
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      INFO("element " << i);
      REQUIRE(got[i] == T(want[i]));
    }
    ++checked;
  }
  CHECK(checked == net.state().size());
}

// ---- hand-written wire format, for the files the tests write themselves --------------------

std::string varint(std::uint64_t v) {
  std::string out;
  do {
    unsigned char b = v & 0x7f;
    v >>= 7;
    if (v) b |= 0x80;
    out.push_back(char(b));
  } while (v);
  return out;
}
std::string tag(std::uint32_t number, unsigned wire) {
  return varint(std::uint64_t(number) << 3 | wire);
}
std::string ld(std::uint32_t number, const std::string& payload) {
  return tag(number, 2) + varint(payload.size()) + payload;
}
std::string fixed32(std::uint32_t number, float v) {
  char b[4];
  std::memcpy(b, &v, 4);
  return tag(number, 5) + std::string(b, 4);
}
std::string fixed64(std::uint32_t number, double v) {
  char b[8];
  std::memcpy(b, &v, 8);
  return tag(number, 1) + std::string(b, 8);
}

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), std::streamsize(bytes.size()));
  REQUIRE(f.good());
}
std::string read_whole(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

std::vector<std::int64_t> dims(std::initializer_list<std::int64_t> d) {
  return d;
}

}  // namespace

// ---- valid files ------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("caffe: the fixtures load with exactly their values", "[io][caffe]", float,
                   double) {
  using T = TestType;
  SECTION("V1 format, legacy 4-D shapes") {
    auto net = tiny_net<T>(true);
    io::load_caffemodel(net, kData / "caffe_v1_tiny.caffemodel");
    require_expected(net, "caffe_v1_tiny");
  }
  SECTION("current format, BlobShape shapes, a convolution without bias") {
    auto net = tiny_net<T>(false);
    io::load_caffemodel(net, kData / "caffe_v2_tiny.caffemodel");
    require_expected(net, "caffe_v2_tiny");
  }
  SECTION("unpacked floats and doubles, double_data, fields out of order") {
    auto net = tiny_net<T>(false);
    io::load_caffemodel(net, kData / "caffe_v2_unpacked.caffemodel");
    require_expected(net, "caffe_v2_unpacked");
  }
  SECTION("the loaded net runs") {
    auto net = tiny_net<T>(true);
    io::load_caffemodel(net, kData / "caffe_v1_tiny.caffemodel");
    net.eval();
    const auto y = net.forward(Tensor<T>::full({2, 3, 4, 4}, T(0.5)));
    CHECK(y.shape() == Shape{2, 3});
  }
}

TEST_CASE("caffe: list_caffemodel lists layers, types, parameters and blob shapes", "[io][caffe]") {
  SECTION("V1: enum types mapped to the current names") {
    const auto layers = io::list_caffemodel(kData / "caffe_v1_tiny.caffemodel");
    std::vector<std::string> names, types;
    for (const auto& l : layers) names.push_back(l.name), types.push_back(l.type);
    CHECK(names == std::vector<std::string>{"data", "conv1", "relu1", "pool1", "conv2", "relu2",
                                            "fc", "loss"});
    CHECK(types == std::vector<std::string>{"Data", "Convolution", "ReLU", "Pooling", "Convolution",
                                            "ReLU", "InnerProduct", "SoftmaxWithLoss"});
    const auto& conv1 = layers[1];
    REQUIRE(conv1.blobs.size() == 2);
    CHECK(conv1.blobs[0].shape == dims({4, 3, 3, 3}));
    CHECK(conv1.blobs[0].count == 108);
    CHECK_FALSE(conv1.blobs[0].is_double);
    CHECK(conv1.blobs[1].shape == dims({1, 1, 1, 4}));
    REQUIRE(conv1.convolution);
    CHECK(conv1.convolution->num_output == 4u);
    CHECK(conv1.convolution->kernel_size == std::vector<std::uint32_t>{3});
    CHECK(conv1.convolution->pad == std::vector<std::uint32_t>{1});
    CHECK(conv1.convolution->stride == std::vector<std::uint32_t>{1});
    CHECK(conv1.convolution->bias_term);
    CHECK(conv1.convolution->group == 1u);
    CHECK_FALSE(conv1.inner_product);
    const auto& fc = layers[6];
    REQUIRE(fc.blobs.size() == 2);
    CHECK(fc.blobs[0].shape == dims({1, 1, 3, 24}));
    CHECK(fc.blobs[1].shape == dims({1, 1, 1, 3}));
    REQUIRE(fc.inner_product);
    CHECK(fc.inner_product->num_output == 3u);
    CHECK_FALSE(fc.inner_product->transpose);
    for (std::size_t i : {0, 2, 3, 5, 7}) CHECK(layers[i].blobs.empty());
    // The rest of the enum, spot-checked against Caffe's UpgradeV1LayerType.
    CHECK(io::caffe_v1_layer_type_name(0).empty());  // NONE
    CHECK(io::caffe_v1_layer_type_name(15) == "LRN");
    CHECK(io::caffe_v1_layer_type_name(25) == "Eltwise");
    CHECK(io::caffe_v1_layer_type_name(35) == "AbsVal");
    CHECK(io::caffe_v1_layer_type_name(39) == "Deconvolution");
    CHECK(io::caffe_v1_layer_type_name(40).empty());
  }
  SECTION("current format") {
    const auto layers = io::list_caffemodel(kData / "caffe_v2_tiny.caffemodel");
    REQUIRE(layers.size() == 9);
    CHECK(layers[0].type == "Input");
    CHECK(layers[6].type == "Flatten");
    const auto& conv1 = layers[1];
    REQUIRE(conv1.convolution);
    CHECK(conv1.convolution->kernel_h == 3u);
    CHECK(conv1.convolution->kernel_w == 3u);
    CHECK(conv1.convolution->pad_h == 1u);
    CHECK(conv1.convolution->stride_w == 1u);
    CHECK(conv1.convolution->kernel_size.empty());
    CHECK(conv1.blobs[0].shape == dims({4, 3, 3, 3}));
    CHECK(conv1.blobs[1].shape == dims({4}));
    const auto& conv2 = layers[4];
    REQUIRE(conv2.convolution);
    CHECK_FALSE(conv2.convolution->bias_term);
    REQUIRE(conv2.blobs.size() == 1);
    CHECK(conv2.blobs[0].shape == dims({6, 4, 1, 1}));
    CHECK(layers[7].blobs[0].shape == dims({3, 24}));
  }
  SECTION("unpacked and double values are counted without being read") {
    const auto layers = io::list_caffemodel(kData / "caffe_v2_unpacked.caffemodel");
    REQUIRE(layers.size() == 9);
    const auto& conv1 = layers[1];
    CHECK(conv1.blobs[0].count == 108);  // 108 unpacked floats
    CHECK_FALSE(conv1.blobs[0].is_double);
    CHECK(conv1.blobs[1].shape == dims({1, 1, 1, 4}));
    CHECK(conv1.blobs[1].is_double);
    CHECK(layers[4].blobs[0].count == 24);  // unpacked doubles
    CHECK(layers[4].blobs[0].is_double);
    const auto& fc = layers[7];
    CHECK(fc.name == "fc");          // its name comes after its blobs
    CHECK(fc.blobs[0].count == 72);  // two packed runs
    CHECK(fc.blobs[1].shape == dims({3}));
  }
}

TEST_CASE("caffe: read_caffemodel reads only the layers asked for", "[io][caffe]") {
  const auto layers =
      io::read_caffemodel(kData / "caffe_v1_tiny.caffemodel",
                          [](std::string_view n) { return n == "fc" || n == "relu1"; });
  REQUIRE(layers.size() == 2);
  CHECK(layers[0].name == "relu1");
  CHECK(layers[0].blobs.empty());
  const auto& fc = layers[1];
  CHECK(fc.name == "fc");
  CHECK(fc.type == "InnerProduct");
  REQUIRE(fc.blobs.size() == 2);
  CHECK(fc.blobs[0].shape == dims({1, 1, 3, 24}));
  CHECK(fc.blobs[0].double_data.empty());
  const io::SafetensorsFile expected((kData / "caffe_expected.safetensors").string());
  const auto w = expected.tensor<float>("caffe_v1_tiny/fc.weight").to_vector();
  CHECK(fc.blobs[0].data == w);
  CHECK(fc.blobs[1].data == expected.tensor<float>("caffe_v1_tiny/fc.bias").to_vector());

  const auto none = io::read_caffemodel(kData / "caffe_v1_tiny.caffemodel",
                                        [](std::string_view) { return false; });
  CHECK(none.empty());
}

// ---- malformed files --------------------------------------------------------------------------

TEST_CASE("caffe: every malformed file is refused, naming the problem, net unchanged",
          "[io][caffe]") {
  struct Case {
    const char* file;
    std::vector<const char*> says;
    bool parse_error;  // list_caffemodel refuses the file too (the others are well-formed)
  };
  const std::vector<Case> cases = {
      {"truncated_in_length_varint", {"truncated length", "the file ends inside it"}, true},
      {"truncated_after_tag", {"truncated length", "the file ends inside it"}, true},
      {"truncated_in_blob_data", {"field 2 'layers'", "runs past the end of the file"}, true},
      {"truncated_before_conv2",
       {"has no layer named 'conv2'", "'conv1', 'relu1', 'pool1'"},
       false},
      {"length_past_end_of_message",
       {"layers[1] (V1LayerParameter) field 6 'blobs'",
        "length 127 runs past the end of the enclosing V1LayerParameter message"},
       true},
      {"length_2pow40", {"length 1099511627776 runs past the end of the file"}, true},
      {"wire_type_3", {"wire type 3 (start group) is not supported"}, true},
      {"wire_type_4", {"wire type 4 (end group) is not supported"}, true},
      {"wire_type_6", {"field 20: invalid wire type 6"}, true},
      {"wire_type_7", {"field 20: invalid wire type 7"}, true},
      {"field_number_0", {"invalid field number 0"}, true},
      {"varint_11_bytes", {"field 20: malformed varint"}, true},
      {"name_as_varint",
       {"field 4 'name': wire type 0 (varint), expected 2 (length-delimited)"},
       true},
      {"packed_floats_15_bytes",
       {"blobs[1] (BlobProto) field 5 'data'", "15 bytes is not a multiple of 4"},
       true},
      {"v0_format", {"V0", "unsupported"}, true},
      {"mixed_v1_and_v2_layers", {"mixes V1 layers"}, true},
      {"blob_count_mismatch", {"holds 100 values but its shape [4, 3, 3, 3] needs 108"}, true},
      {"blob_negative_dim", {"dimension 0 of shape [-4, 3, 3, 3] is negative"}, true},
      {"blob_data_and_double_data",
       {"both float data (4 values) and double_data (4 values)"},
       true},
      {"conv1_weight_shape_4x3x3x2",
       {"layer 'conv1' blob 0 (weight) has shape [4, 3, 3, 2]",
        "parameter 'conv1.weight' has shape [4, 3, 3, 3]"},
       false},
      {"fc_weight_shape_1x3x1x24",
       {"layer 'fc' blob 0 (weight) has shape [1, 3, 1, 24]", "has shape [3, 24]"},
       false},
      {"conv2_missing_bias_blob",
       {"layer 'conv2' has 1 blob;", "needs 2 (weight and bias)"},
       false},
      {"conv1_extra_blob", {"layer 'conv1' has 3 blobs;", "needs 2"}, false},
      {"conv2_group_2",
       {"layer 'conv2' has group 2", "grouped convolution is not supported"},
       false},
      {"conv2_type_pooling",
       {"layer 'conv2' is a Caffe 'Pooling' layer", "needs a 'Convolution'"},
       false},
      {"conv2_unknown_v1_type_99", {"'unknown V1 layer type 99' layer"}, false},
      {"conv1_stride_2",
       {"the file's convolution has kernel 3x3, stride 2x2, pad 1x1",
        "has kernel 3x3, stride 1x1, pad 1x1"},
       false},
      {"conv1_pad_0", {"the file's convolution has kernel 3x3, stride 1x1, pad 0x0"}, false},
      {"conv1_num_output_8", {"layer 'conv1' has num_output 8", "4 output channels"}, false},
      {"conv1_bias_term_false", {"layer 'conv1' has bias_term false", "has a bias"}, false},
      {"fc_num_output_5", {"layer 'fc' has num_output 5", "3 outputs"}, false},
      {"fc_transpose", {"layer 'fc' has transpose: true", "not supported"}, false},
      {"duplicate_layer_conv1", {"more than one layer named 'conv1'"}, false},
  };

  // Every committed file has a case, and every case a file.
  std::set<std::string> on_disk, listed;
  for (const auto& e : fs::directory_iterator(kData / "caffe"))
    on_disk.insert(e.path().stem().string());
  for (const auto& c : cases) listed.insert(c.file);
  CHECK(on_disk == listed);

  for (const auto& c : cases) {
    const fs::path path = kData / "caffe" / (std::string(c.file) + ".caffemodel");
    INFO(path);
    REQUIRE(fs::file_size(path) < 10 * 1024);
    auto net = tiny_net<float>(true);
    const auto before = snapshot(net);
    try {
      io::load_caffemodel(net, path);
      FAIL("no error for " << c.file);
    } catch (const Error& e) {
      const std::string what = e.what();
      INFO(what);
      CHECK_THAT(what, Contains(path.string()));
      for (const char* s : c.says) CHECK_THAT(what, Contains(s));
      if (c.parse_error) CHECK_THAT(what, Contains("byte "));
    }
    CHECK(snapshot(net) == before);
    if (c.parse_error) {
      REQUIRE_THROWS_WITH(io::list_caffemodel(path), Contains(c.says.back()));
    } else {
      CHECK_NOTHROW(io::list_caffemodel(path));
    }
  }
}

TEST_CASE("caffe: errors name the byte offset and the path of messages", "[io][caffe]") {
  test::TempDir dir("tinycnn_caffe");
  const fs::path path = dir.path() / "bad.caffemodel";
  SECTION("a 2^40-byte length after a 5-byte field: refused, nothing allocated") {
    write_file(path, ld(1, "net") + tag(100, 2) + varint(std::uint64_t(1) << 40) + "abc");
    REQUIRE_THROWS_WITH(io::list_caffemodel(path),
                        Contains("list_caffemodel: '" + path.string() +
                                 "': byte 5, NetParameter "
                                 "field 100 'layer': length 1099511627776 runs past the end of "
                                 "the file (3 bytes left)"));
  }
  SECTION("wire type 7 inside a layer") {
    // layer tag (2 bytes) + length (1) at 5..7, then the name field (3 bytes) at 8..10.
    write_file(path, ld(1, "net") + ld(100, ld(1, "a") + tag(3, 7)));
    REQUIRE_THROWS_WITH(io::list_caffemodel(path),
                        Contains("byte 11, NetParameter.layer[0] (LayerParameter) field 3: invalid "
                                 "wire type 7"));
  }
  SECTION("a truncated float inside a blob names the layer") {
    const std::string blob = tag(5, 5) + "\x01\x02";  // a float with only 2 of its 4 bytes
    write_file(path, ld(100, ld(1, "conv") + ld(7, blob)));
    REQUIRE_THROWS_WITH(
        io::read_caffemodel(path, [](std::string_view) { return true; }),
        Contains("NetParameter.layer[0] 'conv'.blobs[0] (BlobProto) field 5 'data': the 32-bit "
                 "value needs 4 bytes but only 2 are left in the enclosing BlobProto message"));
  }
  SECTION("a blob shape whose element count overflows") {
    write_file(path,
               ld(100, ld(1, "c") + ld(7, ld(7, ld(1, varint(1ull << 40) + varint(1ull << 40))))));
    REQUIRE_THROWS_WITH(io::list_caffemodel(path),
                        Contains("layer[0] 'c'.blobs[0] (BlobProto): shape [1099511627776, "
                                 "1099511627776] has an element count that overflows 64 bits"));
  }
  SECTION("a blob shape of more than 32 dimensions") {
    write_file(path, ld(100, ld(1, "c") + ld(7, ld(7, ld(1, std::string(33, '\x01'))))));
    REQUIRE_THROWS_WITH(io::list_caffemodel(path),
                        Contains("blobs[0].shape (BlobShape) field 1 'dim': the shape has more "
                                 "than 32 dimensions"));
  }
  SECTION("a legacy dimension beyond int32") {
    write_file(path, ld(100, ld(1, "c") + ld(7, tag(1, 0) + varint(1ull << 40))));
    REQUIRE_THROWS_WITH(io::list_caffemodel(path),
                        Contains("(BlobProto) field 1 'num': value 1099511627776 does not fit an "
                                 "int32 field"));
  }
  SECTION("a convolution pad beyond uint32") {
    write_file(path, ld(100, ld(1, "c") + ld(106, tag(3, 0) + varint(1ull << 33))));
    REQUIRE_THROWS_WITH(io::list_caffemodel(path),
                        Contains("convolution_param (ConvolutionParameter) field 3 'pad': value "
                                 "8589934592 does not fit a uint32 field"));
  }
  SECTION("blobs that are not a message") {
    write_file(path, ld(100, ld(1, "c") + tag(7, 0) + varint(3)));
    REQUIRE_THROWS_WITH(io::list_caffemodel(path),
                        Contains("layer[0] (LayerParameter) field 7 'blobs': wire type 0 (varint), "
                                 "expected 2 (length-delimited) for a BlobProto"));
  }
  SECTION("a file that does not exist") {
    REQUIRE_THROWS_WITH(io::list_caffemodel(dir.path() / "missing.caffemodel"),
                        Contains("cannot open"));
  }
}

TEST_CASE("caffe: layers with parameters other than Conv2d and Linear are refused", "[io][caffe]") {
  nn::Sequential<float> net(1);
  net.add("conv1", nn::Conv2d(3, 4, 3, {.padding = 1})).add("bn1", nn::BatchNorm2d(4));
  const auto before = snapshot(net);
  REQUIRE_THROWS_WITH(io::load_caffemodel(net, kData / "caffe_v1_tiny.caffemodel"),
                      Contains("the net's layer 'bn1' (BatchNorm2d(4)) has parameters but cannot "
                               "be loaded from a Caffe model"));
  CHECK(snapshot(net) == before);
}

TEST_CASE("caffe: a features-only net ignores the file's other layers", "[io][caffe]") {
  nn::Sequential<double> net(3);
  net.add("conv1", nn::Conv2d(3, 4, 3, {.padding = 1})).add("relu1", nn::ReLU{});
  io::load_caffemodel(net, kData / "caffe_v1_tiny.caffemodel");
  const io::SafetensorsFile expected((kData / "caffe_expected.safetensors").string());
  const auto want = expected.tensor<double>("caffe_v1_tiny/conv1.weight").to_vector();
  CHECK(net.state()[0].second->to_vector() == want);
}

// ---- large files ------------------------------------------------------------------------------

TEST_CASE("caffe: a 64 MB blob of an unwanted layer is skipped unread", "[io][caffe]") {
  test::TempDir dir("tinycnn_caffe_big");
  const std::int64_t n = std::int64_t(16) << 20;  // 16 Mi floats = 64 MiB
  const std::string tiny = read_whole(kData / "caffe_v2_tiny.caffemodel");

  // A layer "fc_big" with one (n) blob, then the v2 tiny net (concatenated messages merge, and the
  // repeated `layer` field appends).
  const fs::path big = dir.path() / "big.caffemodel";
  {
    const std::string shape = ld(7, ld(1, varint(std::uint64_t(n))));
    const std::string data_head = tag(5, 2) + varint(std::uint64_t(n) * 4);
    const std::uint64_t blob_len = shape.size() + data_head.size() + std::uint64_t(n) * 4;
    const std::string layer_head =
        ld(1, "fc_big") + ld(2, "InnerProduct") + tag(7, 2) + varint(blob_len);
    const std::uint64_t layer_len = layer_head.size() + blob_len;
    std::ofstream f(big, std::ios::binary);
    const std::string head = tag(100, 2) + varint(layer_len) + layer_head + shape + data_head;
    f.write(head.data(), std::streamsize(head.size()));
    std::vector<float> chunk(1 << 20, 0.25f);
    for (std::int64_t i = 0; i < n; i += std::int64_t(chunk.size()))
      f.write(reinterpret_cast<const char*>(chunk.data()), std::streamsize(chunk.size() * 4));
    f.write(tiny.data(), std::streamsize(tiny.size()));
    REQUIRE(f.good());
  }
  REQUIRE(fs::file_size(big) > std::uintmax_t(n) * 4);

  const auto start = std::chrono::steady_clock::now();
  auto net = tiny_net<float>(false);
  io::load_caffemodel(net, big);
  const auto layers =
      io::read_caffemodel(big, [](std::string_view name) { return name == "conv1"; });
  const auto listing = io::list_caffemodel(big);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  INFO("load + read + list of a " << fs::file_size(big) << "-byte file: " << seconds << " s");
  require_expected(net, "caffe_v2_tiny");
  REQUIRE(layers.size() == 1);
  CHECK(layers[0].name == "conv1");
  REQUIRE(listing.size() == 10);
  CHECK(listing[0].name == "fc_big");
  REQUIRE(listing[0].blobs.size() == 1);
  CHECK(listing[0].blobs[0].shape == std::vector<std::int64_t>{n});
  CHECK(listing[0].blobs[0].count == n);
  CHECK(seconds < 10);  // reading is not measured; this only catches something pathological

  // Proof that unwanted blobs are not even parsed: a layer whose blob is garbage (ten 0xff bytes
  // are a malformed varint) loads fine when the net does not want it, and is an error when listed.
  const fs::path poison = dir.path() / "poison.caffemodel";
  write_file(poison, ld(100, ld(1, "garbage") + ld(7, std::string(4096, '\xff'))) + tiny);
  auto net2 = tiny_net<float>(false);
  io::load_caffemodel(net2, poison);
  require_expected(net2, "caffe_v2_tiny");
  REQUIRE_THROWS_WITH(io::list_caffemodel(poison),
                      Contains("layer[0] 'garbage'.blobs[0] (BlobProto): malformed tag"));
}

// ---- the wire-format reader ---------------------------------------------------------------------

TEST_CASE("protobuf: scalars, packed and unpacked repeated fields", "[io][protobuf]") {
  test::TempDir dir("tinycnn_protobuf");
  const fs::path path = dir.path() / "m.bin";
  const std::vector<std::uint64_t> values = {
      0, 1, 127, 128, 300, 16383, 16384, (1ull << 32) - 1, 1ull << 35, ~0ull >> 1, ~0ull};
  std::string bytes;
  for (auto v : values) bytes += tag(1, 0) + varint(v);  // unpacked
  std::string packed_payload;
  for (auto v : values) packed_payload += varint(v);
  bytes += ld(1, packed_payload);                                               // packed
  bytes += tag(2, 0) + varint(std::uint64_t(std::int64_t(-5)));                 // int32 -5
  bytes += fixed32(3, 1.5f) + ld(3, std::string("\0\0\0\x40\0\0\x80\x3f", 8));  // 2.0f, 1.0f
  bytes += fixed64(4, -0.1) + fixed64(4, 1e300);
  bytes += ld(5, "hello");
  bytes += tag(6, 0) + varint(1ull << 33);  // too big for uint32
  write_file(path, bytes);

  io::protobuf::Reader r(path, "test", "M");
  std::vector<std::uint64_t> ints;
  std::vector<double> floats, doubles;
  std::string text;
  int seen6 = 0;
  for (io::protobuf::Field f; r.next(f);) {
    switch (f.number) {
      case 1:
        r.append_varints(f, ints);
        break;
      case 2:
        CHECK(r.int32(f) == -5);
        CHECK(f.size == 10);  // negative int32s take 10 bytes
        break;
      case 3:
        r.append_floats(f, floats);
        break;
      case 4:
        r.append_doubles(f, doubles);
        break;
      case 5:
        text = r.string(f);
        break;
      case 6:
        ++seen6;
        CHECK(r.uint64(f) == 1ull << 33);
        REQUIRE_THROWS_WITH(r.uint32(f), Contains("does not fit a uint32 field"));
        break;
    }
  }
  std::vector<std::uint64_t> twice = values;
  twice.insert(twice.end(), values.begin(), values.end());
  CHECK(ints == twice);
  CHECK(floats == std::vector<double>{1.5, 2.0, 1.0});
  CHECK(doubles == std::vector<double>{-0.1, 1e300});
  CHECK(text == "hello");
  CHECK(seen6 == 1);
}

TEST_CASE("protobuf: a wrong wire type for a known field is an error", "[io][protobuf]") {
  test::TempDir dir("tinycnn_protobuf");
  const fs::path path = dir.path() / "m.bin";
  write_file(path, tag(1, 0) + varint(7) + fixed64(2, 1.0));
  io::protobuf::Reader r(path, "test", "M");
  io::protobuf::Field f;
  REQUIRE(r.next(f));
  REQUIRE_THROWS_WITH(r.string(f), Contains("byte 0, M field 1: wire type 0 (varint), expected 2 "
                                            "(length-delimited) for a string"));
  REQUIRE(r.next(f));
  std::vector<float> out;
  REQUIRE_THROWS_WITH(r.append_floats(f, out),
                      Contains("wire type 1 (64-bit), expected 2 (length-delimited) for a float"));
}

TEST_CASE("protobuf: nesting deeper than the limit is an error", "[io][protobuf]") {
  test::TempDir dir("tinycnn_protobuf");
  const fs::path path = dir.path() / "nested.bin";
  std::string m = tag(2, 0) + varint(42);
  for (int i = 0; i < 40; ++i) m = ld(1, m);
  write_file(path, m);

  auto walk = [&](int max_depth) {
    io::protobuf::Reader r(path, "test", "Nested", nullptr, max_depth);
    int deepest = 0;
    std::uint64_t leaf = 0;
    for (io::protobuf::Field f; r.next(f);) {
      if (f.wire == io::protobuf::WireType::kLengthDelimited) {
        r.enter(f, "child", "Nested");
        deepest = std::max(deepest, r.depth());
      } else {
        leaf = r.uint64(f);
      }
    }
    CHECK(leaf == 42);
    return deepest;
  };
  CHECK(walk(io::protobuf::kDefaultMaxDepth) == 40);
  CHECK(walk(40) == 40);
  REQUIRE_THROWS_WITH(walk(16), Contains("messages nest deeper than the limit of 16 levels"));
}

TEST_CASE("protobuf: reader misuse, odd files and a file that shrinks", "[io][protobuf]") {
  test::TempDir dir("tinycnn_protobuf");
  const fs::path path = dir.path() / "m.bin";
  SECTION("entering a field that lies outside the current message") {
    write_file(path, ld(1, ld(2, "x")) + ld(3, "y"));
    io::protobuf::Reader r(path, "test", "M");
    io::protobuf::Field first, second;
    REQUIRE(r.next(first));
    REQUIRE(r.next(second));
    r.enter(second, "b", "B");
    REQUIRE_THROWS_WITH(r.enter(first, "a", "A"),
                        Contains("Reader::enter: the field is not inside the current message"));
  }
  SECTION("a truncated packed varint") {
    write_file(path, ld(1, "\x05\x80") + ld(2, "zz"));
    io::protobuf::Reader r(path, "test", "M");
    io::protobuf::Field f;
    REQUIRE(r.next(f));
    std::vector<std::uint64_t> out;
    REQUIRE_THROWS_WITH(r.append_varints(f, out),
                        Contains("truncated packed varint at byte 3: it runs past the end of the "
                                 "field"));
    CHECK(out == std::vector<std::uint64_t>{5});
  }
  SECTION("a directory") {
    REQUIRE_THROWS_WITH(io::protobuf::Reader(dir.path(), "test", "M"),
                        Contains("not a regular file"));
  }
  SECTION("a file that shrinks after it was opened") {
    write_file(path, ld(1, std::string(100, 'x')));
    io::protobuf::Reader r(path, "test", "M");
    CHECK(r.file_size() == 102);
    fs::resize_file(path, 0);
    io::protobuf::Field f;
    REQUIRE_THROWS_WITH(r.next(f),
                        Contains("cannot read 1 bytes at byte 0 (did the file shrink?)"));
  }
}

TEST_CASE("protobuf: a sub-message is bounded by its length", "[io][protobuf]") {
  // The inner message's last field claims 3 bytes; 2 are left inside it, many in the file.
  test::TempDir dir("tinycnn_protobuf");
  const fs::path path = dir.path() / "m.bin";
  write_file(path, ld(1, tag(2, 2) + varint(3) + "ab") + ld(3, std::string(100, 'x')));
  io::protobuf::Reader r(path, "test", "Outer");
  io::protobuf::Field f;
  REQUIRE(r.next(f));
  r.enter(f, "inner", "Inner");
  REQUIRE_THROWS_WITH(r.next(f), Contains("byte 2, Outer.inner (Inner) field 2: length 3 runs past "
                                          "the end of the enclosing Inner message (2 bytes left)"));
}

// ---- convolution geometry ---------------------------------------------------------------------

TEST_CASE("caffe: convolution geometry follows Caffe's rules", "[io][caffe]") {
  io::CaffeConvolutionParam p;
  p.kernel_size = {3, 5};
  p.stride = {2};
  p.dilation = {1, 2};
  auto g = io::caffe_conv2d_geometry(p, "ctx");
  CHECK(g == io::CaffeConv2dGeometry{3, 5, 2, 2, 0, 0, 1, 2});

  io::CaffeConvolutionParam hw;
  hw.kernel_h = 7, hw.kernel_w = 1, hw.pad_h = 3, hw.pad_w = 0, hw.stride_h = 1, hw.stride_w = 2;
  CHECK(io::caffe_conv2d_geometry(hw, "ctx") == io::CaffeConv2dGeometry{7, 1, 1, 2, 3, 0, 1, 1});

  auto refused = [](io::CaffeConvolutionParam q) {
    return io::caffe_conv2d_geometry(q, "layer 'x'");
  };
  io::CaffeConvolutionParam q;
  REQUIRE_THROWS_WITH(refused(q), Contains("layer 'x': no kernel"));
  q.kernel_size = {3, 3, 3};
  REQUIRE_THROWS_WITH(refused(q), Contains("kernel has 3 values; only 2-D convolutions"));
  q.kernel_size = {3};
  q.kernel_h = 3;
  REQUIRE_THROWS_WITH(refused(q), Contains("kernel_h and kernel_w must be given together"));
  q.kernel_w = 3;
  REQUIRE_THROWS_WITH(refused(q), Contains("both kernel and kernel_h/kernel_w are given"));
  q.kernel_size.clear();
  q.stride = {0};
  REQUIRE_THROWS_WITH(refused(q), Contains("must all be positive"));
  q.stride.clear();
  q.dilation = {1, 1, 1};
  REQUIRE_THROWS_WITH(refused(q), Contains("dilation has 3 values"));
}
