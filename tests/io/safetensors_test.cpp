// Safetensors reader and writer: round trips of every dtype and shape kind, metadata, conversions,
// one malformed file per kind of damage (each must raise tinycnn::Error naming the problem), and
// saves that fail without touching the target.
#include <catch2/catch.hpp>

#include <tinycnn/io/safetensors.hpp>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "support/temp_dir.hpp"

namespace fs = std::filesystem;
using tinycnn::cpu;
using tinycnn::Shape;
using tinycnn::Tensor;
using tinycnn::io::Dtype;
using tinycnn::io::SafetensorsFile;
using tinycnn::io::save_safetensors;
using tinycnn::io::TensorRef;

namespace {

using TempDir = tinycnn::test::TempDir;

// Tensor<bool>::to_vector cannot exist (std::vector<bool> has no data()): copy element by element.
std::vector<bool> bools(const Tensor<bool>& t) {
  return std::vector<bool>(t.data(), t.data() + t.numel());
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  REQUIRE(out.good());
}

std::string le64(std::uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = char((v >> (8 * i)) & 0xff);
  return s;
}

// A file with the given header text and a data buffer of `buffer_bytes` bytes.
std::string make_file(const TempDir& dir, const std::string& name, const std::string& header,
                      std::size_t buffer_bytes) {
  const std::string path = dir.file(name);
  write_bytes(path, le64(header.size()) + header + std::string(buffer_bytes, '\x01'));
  return path;
}

// Opening `path` must fail with tinycnn::Error whose message contains every fragment given.
void require_open_fails(const std::string& path, std::initializer_list<const char*> fragments) {
  INFO("file " << path);
  try {
    SafetensorsFile f(path);
    FAIL("opening a malformed file succeeded");
  } catch (const tinycnn::Error& e) {
    const std::string msg = e.what();
    INFO("message: " << msg);
    CHECK(msg.find(path) != std::string::npos);
    for (const char* frag : fragments) {
      INFO("expected fragment: " << frag);
      CHECK(msg.find(frag) != std::string::npos);
    }
  }
}

}  // namespace

TEST_CASE("safetensors: round trip of every dtype and shape kind", "[io][safetensors]") {
  TempDir dir;
  const std::string path = dir.file("round.safetensors");

  Tensor<float> f32({2, 3, 4});
  for (std::int64_t i = 0; i < f32.numel(); ++i) f32.data()[i] = 0.25f * float(i) - 3.0f;
  Tensor<double> f64({5}, {1e-300, -2.5, 3.141592653589793, 1e300, -0.0});
  Tensor<std::int32_t> i32({3, 2}, {-2147483647 - 1, -1, 0, 1, 7, 2147483647});
  Tensor<std::int64_t> i64({4}, {std::numeric_limits<std::int64_t>::min(), -5, 6,
                                 std::numeric_limits<std::int64_t>::max()});
  Tensor<std::int16_t> i16({2}, {-32768, 32767});
  Tensor<std::int8_t> i8({3}, {-128, 0, 127});
  Tensor<std::uint8_t> u8({1, 1, 3}, {0, 128, 255});
  Tensor<bool> flags({4}, {true, false, false, true});
  Tensor<float> empty({0, 3});
  Tensor<double> scalar(Shape{}, {42.5});
  // F16 and BF16 have no C++ type: raw little-endian bits.
  const std::vector<std::uint16_t> f16_bits = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x7C00, 0x3555};
  const std::vector<std::uint16_t> bf16_bits = {0x3F80, 0xC020, 0x0000, 0x4049};

  save_safetensors(path,
                   {{"f32", f32},
                    {"f64", f64},
                    {"i32", i32},
                    {"i64", i64},
                    {"i16", i16},
                    {"i8", i8},
                    {"u8", u8},
                    {"flags", flags},
                    {"empty", empty},
                    {"scalar", scalar},
                    {"f16", TensorRef(Dtype::F16, Shape{2, 3}, f16_bits.data())},
                    {"bf16", TensorRef(Dtype::BF16, Shape{4}, bf16_bits.data())}},
                   {{"format", "pt"}});

  SafetensorsFile file(path);
  CHECK(file.size() == 12);
  CHECK(file.path() == path);
  // Laid out by decreasing element size, stable within a size.
  CHECK(file.names() == std::vector<std::string>{"f64", "i64", "scalar", "f32", "i32", "empty",
                                                 "i16", "f16", "bf16", "i8", "u8", "flags"});
  CHECK(file.dtype("f32") == Dtype::F32);
  CHECK(file.dtype("f16") == Dtype::F16);
  CHECK(file.dtype("flags") == Dtype::BOOL);
  CHECK(file.shape("f32") == Shape{2, 3, 4});
  CHECK(file.shape("empty") == Shape{0, 3});
  CHECK(file.shape("scalar") == Shape{});
  CHECK(file.shape("scalar").rank() == 0);

  CHECK(file.tensor<float>("f32").to_vector() == f32.to_vector());
  CHECK(file.tensor<double>("f64").to_vector() == f64.to_vector());
  CHECK(file.tensor<std::int32_t>("i32").to_vector() == i32.to_vector());
  CHECK(file.tensor<std::int64_t>("i64").to_vector() == i64.to_vector());
  CHECK(file.tensor<std::int16_t>("i16").to_vector() == i16.to_vector());
  CHECK(file.tensor<std::int8_t>("i8").to_vector() == i8.to_vector());
  CHECK(file.tensor<std::uint8_t>("u8").to_vector() == u8.to_vector());
  CHECK(bools(file.tensor<bool>("flags")) == bools(flags));
  const auto e = file.tensor<float>("empty");
  CHECK(e.shape() == Shape{0, 3});
  CHECK(e.numel() == 0);
  const auto s = file.tensor<double>("scalar");
  CHECK(s.shape() == Shape{});
  CHECK(s.item() == 42.5);
  CHECK(std::signbit(file.tensor<double>("f64").to_vector()[4]));  // -0.0 kept bit for bit

  // Half precision decodes exactly, subnormals and infinity included.
  const auto h = file.tensor<double>("f16").to_vector();
  CHECK(h[0] == 1.0);
  CHECK(h[1] == -2.0);
  CHECK(h[2] == 65504.0);
  CHECK(h[3] == std::ldexp(1.0, -24));
  CHECK(std::isinf(h[4]));
  CHECK(h[5] == Approx(1.0 / 3.0).epsilon(1e-3));
  CHECK(file.tensor<float>("bf16").to_vector() == std::vector<float>{1.0f, -2.5f, 0.0f, 3.140625f});

  // Whole-file convenience.
  const auto all = tinycnn::io::load_safetensors<double>(path);
  CHECK(all.size() == 12);
  CHECK(all.at("i32").to_vector() == std::vector<double>{-2147483648.0, -1, 0, 1, 7, 2147483647.0});

  // The header is padded to a multiple of 8, so each tensor is aligned to its element size.
  const std::string bytes = read_all(path);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = n << 8 | std::uint8_t(bytes[i]);
  CHECK(n % 8 == 0);
  CHECK(bytes[8] == '{');
  for (const auto& name : file.names()) {
    INFO(name);
    CHECK((8 + n + file.entry(name).begin) % tinycnn::io::dtype_size(file.dtype(name)) == 0);
  }
}

TEST_CASE("safetensors: conversions between dtypes and element types", "[io][safetensors]") {
  TempDir dir;
  const std::string path = dir.file("conv.safetensors");
  Tensor<float> f({3}, {1.5f, -2.0f, 1e30f});
  Tensor<double> d({2}, {0.1, 1e300});
  Tensor<std::int64_t> small({3}, {-3, 0, 100});
  Tensor<std::int64_t> big({1}, {std::int64_t(1) << 40});
  Tensor<std::int32_t> neg({2}, {5, -1});
  Tensor<std::uint8_t> bytes({2}, {0, 255});
  save_safetensors(
      path, {{"f", f}, {"d", d}, {"small", small}, {"big", big}, {"neg", neg}, {"bytes", bytes}});
  SafetensorsFile file(path);

  CHECK(file.tensor<double>("f").to_vector() == std::vector<double>{1.5, -2.0, double(1e30f)});
  CHECK(file.tensor<float>("d").to_vector()[0] == 0.1f);
  CHECK(std::isinf(file.tensor<float>("d").to_vector()[1]));
  CHECK(file.tensor<float>("small").to_vector() == std::vector<float>{-3, 0, 100});
  CHECK(file.tensor<std::int32_t>("small").to_vector() == std::vector<std::int32_t>{-3, 0, 100});
  CHECK(file.tensor<std::int8_t>("small").to_vector() == std::vector<std::int8_t>{-3, 0, 100});
  CHECK(file.tensor<std::int64_t>("bytes").to_vector() == std::vector<std::int64_t>{0, 255});

  REQUIRE_THROWS_WITH(file.tensor<std::int32_t>("f"),
                      Catch::Contains("'f'") && Catch::Contains("F32") &&
                          Catch::Contains("not converted to an integer type"));
  REQUIRE_THROWS_WITH(file.tensor<std::int32_t>("big"), Catch::Contains("'big'") &&
                                                            Catch::Contains("1099511627776") &&
                                                            Catch::Contains("does not fit"));
  REQUIRE_THROWS_WITH(file.tensor<std::uint8_t>("neg"), Catch::Contains("'neg'") &&
                                                            Catch::Contains("-1") &&
                                                            Catch::Contains("does not fit"));
  REQUIRE_THROWS_WITH(file.tensor<std::int8_t>("bytes"), Catch::Contains("255"));
  REQUIRE_THROWS_WITH(file.tensor<bool>("small"), Catch::Contains("does not fit"));
}

TEST_CASE("safetensors: metadata round trip", "[io][safetensors]") {
  TempDir dir;
  const std::string path = dir.file("meta.safetensors");
  const std::map<std::string, std::string> meta = {
      {"format", "pt"},
      {"empty", ""},
      {"quote\"and\\slash", "line\nbreak \xc3\xa9t\xc3\xa9"},
      {"case3.stride_h", "2"}};
  Tensor<float> t({2}, {1, 2});
  save_safetensors(path, {{"t", t}}, meta);
  SafetensorsFile file(path);
  CHECK(file.metadata() == meta);
  CHECK(file.metadata("case3.stride_h") == "2");
  REQUIRE_THROWS_WITH(file.metadata("absent"), Catch::Contains("absent") && Catch::Contains(path));

  // No metadata and no tensors: still a valid file.
  const std::string bare = dir.file("bare.safetensors");
  save_safetensors(bare, {});
  SafetensorsFile none(bare);
  CHECK(none.size() == 0);
  CHECK(none.metadata().empty());
  CHECK(read_all(bare).size() == 16);  // length + "{}" padded to 8
}

TEST_CASE("safetensors: unknown tensor names list what the file has", "[io][safetensors]") {
  TempDir dir;
  const std::string path = dir.file("names.safetensors");
  std::vector<Tensor<float>> ts;
  std::vector<std::pair<std::string, TensorRef>> refs;
  for (int i = 0; i < 12; ++i) ts.emplace_back(Shape{1});
  for (int i = 0; i < 12; ++i) refs.emplace_back("t" + std::to_string(i), ts[std::size_t(i)]);
  save_safetensors(path, refs);
  SafetensorsFile file(path);
  REQUIRE_THROWS_AS(file.tensor<float>("nope"), tinycnn::Error);
  REQUIRE_THROWS_WITH(file.shape("nope"), Catch::Contains("no tensor named 'nope'") &&
                                              Catch::Contains("'t0'") &&
                                              Catch::Contains("12 in all"));
  CHECK_FALSE(file.contains("nope"));
  CHECK(file.contains("t11"));
}

TEST_CASE("safetensors: a reader keeps reading the file it validated", "[io][safetensors]") {
  TempDir dir;
  const std::string path = dir.file("swap.safetensors");
  Tensor<float> a({3}, {1, 2, 3});
  save_safetensors(path, {{"x", a}});
  SafetensorsFile file(path);
  Tensor<float> b({5}, {9, 9, 9, 9, 9});
  save_safetensors(path, {{"x", b}});  // atomic replacement under the open reader
  CHECK(file.tensor<float>("x").to_vector() == a.to_vector());
  CHECK(SafetensorsFile(path).tensor<float>("x").to_vector() == b.to_vector());
}

TEST_CASE("safetensors: malformed files raise errors naming the problem", "[io][safetensors]") {
  TempDir dir;
  const std::string ok_entry = R"("a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]})";

  SECTION("missing file and a directory") {
    require_open_fails(dir.file("absent.safetensors"), {"cannot open"});
    fs::create_directory(dir.file("adir"));
    require_open_fails(dir.file("adir"), {"not a regular file"});
  }
  SECTION("file shorter than 8 bytes") {
    const std::string path = dir.file("short.safetensors");
    write_bytes(path, "abc");
    require_open_fails(path, {"3 bytes", "shorter than the 8-byte header length"});
    write_bytes(path, "");
    require_open_fails(path, {"0 bytes"});
  }
  SECTION("header length past the end of the file") {
    const std::string path = dir.file("past.safetensors");
    write_bytes(path, le64(100) + "{}");
    require_open_fails(path, {"header length 100", "past the end of the file"});
  }
  SECTION("header length over the limit") {
    const std::string path = dir.file("huge.safetensors");
    write_bytes(path, le64(std::uint64_t(1) << 62) + "{}");
    require_open_fails(path, {"exceeds the limit"});
  }
  SECTION("invalid JSON") {
    require_open_fails(make_file(dir, "json.safetensors", R"({"a": {"dtype": )", 0),
                       {"not valid JSON"});
    require_open_fails(make_file(dir, "empty_header.safetensors", "", 0), {"not valid JSON"});
  }
  SECTION("header not an object") {
    require_open_fails(make_file(dir, "array.safetensors", "[1, 2]", 0),
                       {"not a JSON object", "array"});
    require_open_fails(make_file(dir, "entry.safetensors", R"({"a": 5})", 0),
                       {"'a'", "entry is not an object"});
  }
  SECTION("unknown dtype") {
    require_open_fails(
        make_file(dir, "dtype.safetensors",
                  R"({"a": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 2]}})", 2),
        {"'a'", "unknown dtype 'F8_E4M3'"});
    require_open_fails(make_file(dir, "dtype2.safetensors",
                                 R"({"a": {"dtype": 4, "shape": [2], "data_offsets": [0, 8]}})", 8),
                       {"'a'", "dtype is not a string"});
  }
  SECTION("negative dimension") {
    require_open_fails(
        make_file(dir, "neg.safetensors",
                  R"({"a": {"dtype": "F32", "shape": [2, -1], "data_offsets": [0, 0]}})", 0),
        {"'a'", "dimension 1 is negative"});
  }
  SECTION("non-integer dimension and bad shape") {
    require_open_fails(
        make_file(dir, "frac.safetensors",
                  R"({"a": {"dtype": "F32", "shape": [2.5], "data_offsets": [0, 8]}})", 8),
        {"'a'", "not an integer"});
    require_open_fails(
        make_file(dir, "shape.safetensors",
                  R"({"a": {"dtype": "F32", "shape": 2, "data_offsets": [0, 8]}})", 8),
        {"'a'", "shape is not an array"});
    require_open_fails(
        make_file(dir, "rank.safetensors",
                  R"({"a": {"dtype": "U8", "shape": [1,1,1,1,1,1,1,1,1], "data_offsets": [0, 1]}})",
                  1),
        {"'a'", "rank 9"});
  }
  SECTION("shape product overflowing") {
    require_open_fails(
        make_file(
            dir, "overflow.safetensors",
            R"({"a": {"dtype": "F32", "shape": [4294967296, 4294967296, 2], "data_offsets": [0, 0]}})",
            0),
        {"'a'", "overflows"});
    // The product fits in 64 bits but the byte count does not.
    require_open_fails(
        make_file(
            dir, "overflow_bytes.safetensors",
            R"({"a": {"dtype": "F64", "shape": [4611686018427387904], "data_offsets": [0, 0]}})",
            0),
        {"'a'", "overflows"});
  }
  SECTION("byte size mismatch") {
    require_open_fails(
        make_file(dir, "size.safetensors",
                  R"({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", 8),
        {"'a'", "byte size mismatch", "12 bytes"});
  }
  SECTION("offsets overlapping") {
    require_open_fails(
        make_file(
            dir, "overlap.safetensors",
            "{" + ok_entry + R"(, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
            12),
        {"'b'", "overlap", "'a'"});
  }
  SECTION("a gap between tensors") {
    require_open_fails(
        make_file(
            dir, "gap.safetensors",
            "{" + ok_entry + R"(, "b": {"dtype": "F32", "shape": [2], "data_offsets": [12, 20]}})",
            20),
        {"'b'", "gap of 4 bytes"});
    require_open_fails(
        make_file(dir, "gap0.safetensors",
                  R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})", 12),
        {"'a'", "gap"});
  }
  SECTION("offsets past the end of the buffer") {
    require_open_fails(
        make_file(dir, "end.safetensors",
                  R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", 8),
        {"'a'", "past the end of the data buffer"});
  }
  SECTION("trailing bytes") {
    require_open_fails(make_file(dir, "trail.safetensors", "{" + ok_entry + "}", 12),
                       {"trailing bytes"});
  }
  SECTION("bad data_offsets") {
    require_open_fails(
        make_file(dir, "nooff.safetensors", R"({"a": {"dtype": "F32", "shape": [2]}})", 8),
        {"'a'", "missing data_offsets"});
    require_open_fails(make_file(dir, "noshape.safetensors",
                                 R"({"a": {"dtype": "F32", "data_offsets": [0, 8]}})", 8),
                       {"'a'", "missing shape"});
    require_open_fails(
        make_file(dir, "backwards.safetensors",
                  R"({"a": {"dtype": "U8", "shape": [0], "data_offsets": [8, 0]}})", 8),
        {"'a'", "end before they begin"});
    require_open_fails(
        make_file(dir, "negoff.safetensors",
                  R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [-8, 0]}})", 8),
        {"'a'", "not non-negative integers"});
    require_open_fails(
        make_file(dir, "oneoff.safetensors",
                  R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [8]}})", 8),
        {"'a'", "data_offsets"});
    require_open_fails(
        make_file(dir, "extra.safetensors",
                  R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8], "x": 1}})", 8),
        {"'a'", "unknown field 'x'"});
  }
  SECTION("metadata that is not strings") {
    require_open_fails(make_file(dir, "meta.safetensors",
                                 "{" + ok_entry + R"(, "__metadata__": {"epoch": 3}})", 8),
                       {"'epoch'", "not a string"});
    require_open_fails(
        make_file(dir, "meta2.safetensors", "{" + ok_entry + R"(, "__metadata__": ["x"]})", 8),
        {"__metadata__ is not an object"});
  }
  SECTION("an empty tensor name") {
    require_open_fails(
        make_file(dir, "noname.safetensors",
                  R"({"": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", 8),
        {"empty name"});
  }
  SECTION("a BOOL byte that is neither 0 nor 1 is refused on read") {
    const std::string path =
        make_file(dir, "bool.safetensors",
                  R"({"a": {"dtype": "BOOL", "shape": [3], "data_offsets": [0, 3]}})", 3);
    SafetensorsFile file(path);  // the header is valid; the bytes are 0x01 0x01 0x01
    CHECK(bools(file.tensor<bool>("a")) == std::vector<bool>{true, true, true});
    write_bytes(path, read_all(path).substr(0, read_all(path).size() - 1) + "\x02");
    REQUIRE_THROWS_WITH(SafetensorsFile(path).tensor<float>("a"),
                        Catch::Contains("'a'") && Catch::Contains("byte value 2"));
  }
  SECTION("a well-formed hand-written file opens") {
    // Guards the malformed cases above: the same builder with consistent fields is accepted.
    const std::string path = make_file(dir, "good.safetensors", "{" + ok_entry + "}  ", 8);
    SafetensorsFile file(path);
    CHECK(file.shape("a") == Shape{2});
  }
}

TEST_CASE("safetensors: failed saves throw and leave the target untouched", "[io][safetensors]") {
  TempDir dir;
  Tensor<float> t({2}, {1, 2});

  SECTION("directory does not exist") {
    const std::string path = dir.file("no/such/dir/x.safetensors");
    REQUIRE_THROWS_WITH(save_safetensors(path, {{"t", t}}),
                        Catch::Contains(path) && Catch::Contains("cannot create temporary file"));
    CHECK(dir.entries().empty());
  }
  SECTION("target is a directory") {
    const std::string path = dir.file("target_dir");
    fs::create_directory(path);
    REQUIRE_THROWS_WITH(save_safetensors(path, {{"t", t}}),
                        Catch::Contains(path) && Catch::Contains("cannot rename"));
    CHECK(fs::is_directory(path));
    CHECK(fs::is_empty(path));
    CHECK(dir.entries() == std::vector<std::string>{"target_dir"});  // temporary removed
  }
  SECTION("bad tensor lists leave an existing file as it was") {
    const std::string path = dir.file("keep.safetensors");
    save_safetensors(path, {{"t", t}}, {{"v", "1"}});
    const std::string before = read_all(path);
    Tensor<float> u({3}, {4, 5, 6});
    REQUIRE_THROWS_WITH(save_safetensors(path, {{"t", t}, {"t", u}}),
                        Catch::Contains("'t' appears twice"));
    REQUIRE_THROWS_WITH(save_safetensors(path, {{"", t}}), Catch::Contains("empty name"));
    REQUIRE_THROWS_WITH(save_safetensors(path, {{"__metadata__", t}}), Catch::Contains("reserved"));
    REQUIRE_THROWS_WITH(save_safetensors(path, {{"n", TensorRef(Dtype::F32, Shape{2}, nullptr)}}),
                        Catch::Contains("'n' has no data"));
    CHECK(read_all(path) == before);
    CHECK(dir.entries() == std::vector<std::string>{"keep.safetensors"});
    CHECK(SafetensorsFile(path).metadata("v") == "1");
  }
  SECTION("a successful save replaces the target and leaves no temporary") {
    const std::string path = dir.file("replace.safetensors");
    write_bytes(path, "old contents");
    save_safetensors(path, {{"t", t}});
    CHECK(SafetensorsFile(path).tensor<float>("t").to_vector() == t.to_vector());
    CHECK(dir.entries() == std::vector<std::string>{"replace.safetensors"});
  }
}
