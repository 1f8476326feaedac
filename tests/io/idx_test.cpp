// IDX reader: round trips of every type code and shape kind, raw and gzip (written here with
// zlib), the image and label readers, and one malformed file per kind of damage, each expected to
// raise tinycnn::Error naming the file and the problem.
#include <catch2/catch.hpp>

#include <tinycnn/io/idx.hpp>

#include <sys/resource.h>
#include <unistd.h>
#include <zlib.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "support/data.hpp"
#include "support/temp_dir.hpp"

namespace fs = std::filesystem;
using tinycnn::Shape;
using tinycnn::io::IdxArray;
using tinycnn::io::IdxType;
using tinycnn::io::read_idx;
using tinycnn::io::read_idx_images;
using tinycnn::io::read_idx_labels;

namespace {

using TempDir = tinycnn::test::TempDir;

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  REQUIRE(out.good());
}

std::string be32(std::uint32_t v) {
  return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}

// An IDX header: magic 0 0 type rank, then the dimensions big-endian.
std::string idx_header(std::uint8_t type, const std::vector<std::uint32_t>& dims) {
  std::string s = {'\0', '\0', char(type), char(dims.size())};
  for (auto d : dims) s += be32(d);
  return s;
}

// Values as big-endian bytes, written independently of the reader (shifts, not byte reversal).
template <class T>
std::string encode_be(const std::vector<T>& values) {
  std::string s;
  for (T v : values) {
    std::uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof(T));
    for (int b = int(sizeof(T)) - 1; b >= 0; --b) s += char((bits >> (8 * b)) & 0xff);
  }
  return s;
}

// A gzip member holding `bytes` (deflate with the gzip wrapper: windowBits 16 + 15).
std::string gzip(const std::string& bytes, int level = 6) {
  z_stream zs{};
  REQUIRE(deflateInit2(&zs, level, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&zs, uLong(bytes.size())) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  zs.avail_in = uInt(bytes.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = uInt(out.size());
  REQUIRE(deflate(&zs, Z_FINISH) == Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// The same bytes through zlib's file interface (gzopen/gzwrite), as gzip(1) users produce them.
void write_gzip_file(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb9");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, bytes.data(), unsigned(bytes.size())) == int(bytes.size()));
  REQUIRE(gzclose(f) == Z_OK);
}

// The tinycnn::Error message of `f()`; fails the test if it returns or throws anything else.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const tinycnn::Error& e) {
    return e.what();
  }
  FAIL("no tinycnn::Error was thrown");
  return {};
}

// read_idx(path) must fail naming the file and containing every fragment.
void require_read_fails(const std::string& path, std::initializer_list<const char*> fragments) {
  INFO("file " << path);
  const std::string msg = error_of([&] { read_idx(path); });
  INFO("message: " << msg);
  CHECK(msg.find(path) != std::string::npos);
  for (const char* frag : fragments) {
    INFO("expected fragment: " << frag);
    CHECK(msg.find(frag) != std::string::npos);
  }
}

// Random values of an IDX type, the type's extremes first (they catch sign and byte-order slips).
template <class T>
std::vector<T> idx_values(std::int64_t n, std::uint64_t salt) {
  std::vector<T> v;
  if constexpr (std::is_integral_v<T>) {
    const auto r = tinycnn::test::random_vector<double>(
        n, salt, double(std::numeric_limits<T>::min()), double(std::numeric_limits<T>::max()) + 1);
    for (double x : r)
      v.push_back(T(std::min(std::floor(x), double(std::numeric_limits<T>::max()))));
    const T special[] = {std::numeric_limits<T>::min(), std::numeric_limits<T>::max(), T(0), T(1)};
    for (std::size_t i = 0; i < v.size() && i < 4; ++i) v[i] = special[i];
  } else {
    const auto r = tinycnn::test::random_vector<double>(n, salt, -1e3, 1e3);
    for (double x : r) v.push_back(T(x));
    const T special[] = {-T(0), std::numeric_limits<T>::infinity(),
                         std::numeric_limits<T>::denorm_min(), std::numeric_limits<T>::max()};
    for (std::size_t i = 0; i < v.size() && i < 4; ++i) v[i] = special[i];
  }
  return v;
}

template <class T>
void check_round_trip(const TempDir& dir, std::uint8_t code, IdxType type, std::uint64_t salt) {
  const std::vector<std::vector<std::uint32_t>> shapes = {
      {7}, {3, 5}, {2, 3, 4}, {1, 2, 1, 3}, {2, 1, 1, 1, 1, 1, 1, 3}, {0}, {4, 0, 3}, {1}};
  for (const auto& dims : shapes) {
    std::int64_t n = 1;
    std::vector<std::int64_t> dims64;
    for (auto d : dims) n *= d, dims64.push_back(d);
    const Shape shape(std::span<const std::int64_t>(dims64.data(), dims64.size()));
    const std::vector<T> values = idx_values<T>(n, salt++);
    const std::string bytes = idx_header(code, dims) + encode_be(values);
    for (int form = 0; form < 3; ++form) {
      // Raw, gzip from deflate, gzip from gzwrite; the names do not say which (detected by magic).
      const std::string path = dir.file("round_" + std::to_string(form) + ".idx");
      if (form == 0) write_bytes(path, bytes);
      if (form == 1) write_bytes(path, gzip(bytes));
      if (form == 2) write_gzip_file(path, bytes);
      INFO("type " << tinycnn::io::idx_type_name(type) << ", shape " << shape << ", form "
                   << (form == 0   ? "raw"
                       : form == 1 ? "deflate gzip"
                                   : "gzwrite gzip"));
      const IdxArray a = read_idx(path);
      CHECK(a.type == type);
      CHECK(a.shape == shape);
      CHECK(a.element_size() == sizeof(T));
      REQUIRE(a.data.size() == std::size_t(n) * sizeof(T));
      // Bit-exact in host order (-0.0 and infinities included).
      if (n > 0) CHECK(std::memcmp(a.data.data(), values.data(), a.data.size()) == 0);
      const auto as_double = a.to_tensor<double>();
      CHECK(as_double.shape() == shape);
      for (std::int64_t i = 0; i < n; ++i) {
        INFO("element " << i);
        REQUIRE(a.value(i) == double(values[std::size_t(i)]));
        REQUIRE(as_double.data()[i] == double(values[std::size_t(i)]));
      }
      if constexpr (std::is_integral_v<T>) {
        const auto as_int = a.to_tensor<T>();
        CHECK(as_int.to_vector() == values);
      }
    }
  }
}

// Open file descriptors of this process (Linux), to see that failed reads close their file.
std::size_t open_fds() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

// Peak resident memory of this process in bytes.
std::uint64_t peak_rss_bytes() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return std::uint64_t(ru.ru_maxrss) * 1024;
}

}  // namespace

TEST_CASE("idx: round trip of every type code and shape kind, raw and gzip", "[io][idx]") {
  TINYCNN_SEED_INFO();
  TempDir dir;
  check_round_trip<std::uint8_t>(dir, 0x08, IdxType::U8, 100);
  check_round_trip<std::int8_t>(dir, 0x09, IdxType::I8, 200);
  check_round_trip<std::int16_t>(dir, 0x0B, IdxType::I16, 300);
  check_round_trip<std::int32_t>(dir, 0x0C, IdxType::I32, 400);
  check_round_trip<float>(dir, 0x0D, IdxType::F32, 500);
  check_round_trip<double>(dir, 0x0E, IdxType::F64, 600);
}

TEST_CASE("idx: type codes, names and sizes", "[io][idx]") {
  for (unsigned code = 0; code < 256; ++code) {
    INFO("code " << code);
    const auto t = tinycnn::io::parse_idx_type(std::uint8_t(code));
    const bool defined = code == 0x08 || code == 0x09 || code == 0x0B || code == 0x0C ||
                         code == 0x0D || code == 0x0E;
    REQUIRE(t.has_value() == defined);
    if (t) CHECK(unsigned(*t) == code);
  }
  CHECK(tinycnn::io::idx_type_size(IdxType::I16) == 2);
  CHECK(tinycnn::io::idx_type_size(IdxType::F64) == 8);
  CHECK(tinycnn::io::idx_type_name(IdxType::F32) == "float32");
}

TEST_CASE("idx: conversions refuse values that do not fit", "[io][idx]") {
  TempDir dir;
  const std::string ints = dir.file("ints.idx");
  write_bytes(ints, idx_header(0x0B, {3}) + encode_be(std::vector<std::int16_t>{-5, 300, 7}));
  const IdxArray a = read_idx(ints);
  CHECK(a.to_tensor<std::int16_t>().to_vector() == std::vector<std::int16_t>{-5, 300, 7});
  CHECK_THAT(error_of([&] { a.to_tensor<std::int8_t>(); }),
             Catch::Contains("element 1 = 300 does not fit"));
  CHECK_THAT(error_of([&] { a.to_tensor<std::uint8_t>(); }),
             Catch::Contains("element 0 = -5 does not fit"));
  CHECK_THAT(error_of([&] { a.value(3); }), Catch::Contains("out of range"));

  const std::string floats = dir.file("floats.idx");
  write_bytes(floats, idx_header(0x0D, {2}) + encode_be(std::vector<float>{1.5f, 2.0f}));
  CHECK_THAT(error_of([&] { read_idx(floats).to_tensor<std::int32_t>(); }),
             Catch::Contains("float32, which is not converted to an integer type"));
  CHECK(read_idx(floats).to_tensor<float>().to_vector() == std::vector<float>{1.5f, 2.0f});
}

TEST_CASE("idx: images and labels readers", "[io][idx]") {
  TINYCNN_SEED_INFO();
  TempDir dir;
  const std::int64_t n = 3, h = 5, w = 7;
  std::vector<std::uint8_t> pixels = idx_values<std::uint8_t>(n * h * w, 1);
  pixels[4] = 255;
  pixels[5] = 0;
  const std::string images_bytes = idx_header(0x08, {3, 5, 7}) + encode_be(pixels);

  for (bool gz : {false, true}) {
    INFO((gz ? "gzip" : "raw"));
    const std::string path = dir.file(gz ? "images.gz" : "images");
    write_bytes(path, gz ? gzip(images_bytes) : images_bytes);
    const auto images = read_idx_images(path);
    REQUIRE(images.shape() == Shape{3, 1, 5, 7});
    for (std::int64_t i = 0; i < n * h * w; ++i) {
      INFO("element " << i << " = " << int(pixels[std::size_t(i)]));
      REQUIRE(images.data()[i] == Approx(pixels[std::size_t(i)] / 255.0).epsilon(1e-6));
    }
    CHECK(images.data()[4] == 1.0f);  // 255 maps to exactly 1
    CHECK(images.data()[5] == 0.0f);
    // Scale 1 keeps the byte values exactly; the layout is (N, 1, H, W) row-major.
    const auto bytes = read_idx_images(path, 1.0f);
    CHECK(bytes.at(2, 0, 4, 6) == float(pixels[std::size_t((2 * h + 4) * w + 6)]));
    CHECK(bytes.at(1, 0, 0, 3) == float(pixels[std::size_t((1 * h + 0) * w + 3)]));
  }

  // Other element types convert through the scale too.
  const std::string fimages = dir.file("float_images");
  write_bytes(fimages, idx_header(0x0D, {1, 2, 2}) + encode_be(std::vector<float>{0.5f, -1, 2, 4}));
  CHECK(read_idx_images(fimages, 2.0f).to_vector() == std::vector<float>{1, -2, 4, 8});

  // Labels: any integer type, returned as int32.
  const std::string l8 = dir.file("labels8");
  write_bytes(l8, idx_header(0x08, {5}) + encode_be(std::vector<std::uint8_t>{9, 0, 255, 3, 1}));
  const auto labels = read_idx_labels(l8);
  CHECK(labels.shape() == Shape{5});
  CHECK(labels.to_vector() == std::vector<std::int32_t>{9, 0, 255, 3, 1});
  const std::string li8 = dir.file("labels_i8.gz");
  write_bytes(li8, gzip(idx_header(0x09, {3}) + encode_be(std::vector<std::int8_t>{-1, 5, -128})));
  CHECK(read_idx_labels(li8).to_vector() == std::vector<std::int32_t>{-1, 5, -128});
  const std::string l32 = dir.file("labels32");
  write_bytes(l32,
              idx_header(0x0C, {2}) + encode_be(std::vector<std::int32_t>{-2147483647 - 1, 70000}));
  CHECK(read_idx_labels(l32).to_vector() == std::vector<std::int32_t>{-2147483647 - 1, 70000});

  // Empty files of the right rank are fine.
  const std::string none = dir.file("no_images");
  write_bytes(none, idx_header(0x08, {0, 28, 28}));
  CHECK(read_idx_images(none).shape() == Shape{0, 1, 28, 28});
}

TEST_CASE("idx: images and labels readers refuse the wrong rank or type", "[io][idx]") {
  TempDir dir;
  const std::string rank2 = dir.file("rank2_images");
  write_bytes(rank2, idx_header(0x08, {2, 3}) + std::string(6, '\1'));
  const std::string msg = error_of([&] { read_idx_images(rank2); });
  CHECK_THAT(msg, Catch::Contains(rank2) && Catch::Contains("must have rank 3 (N, H, W)") &&
                      Catch::Contains("[2, 3]"));
  const std::string rank4 = dir.file("rank4_images");
  write_bytes(rank4, idx_header(0x08, {1, 1, 2, 2}) + std::string(4, '\1'));
  CHECK_THAT(error_of([&] { read_idx_images(rank4); }), Catch::Contains("must have rank 3"));

  CHECK_THAT(error_of([&] { read_idx_labels(rank2); }),
             Catch::Contains(rank2) && Catch::Contains("labels file must have rank 1 (N)"));
  const std::string flabels = dir.file("float_labels");
  write_bytes(flabels, idx_header(0x0E, {2}) + encode_be(std::vector<double>{1, 2}));
  CHECK_THAT(error_of([&] { read_idx_labels(flabels); }),
             Catch::Contains(flabels) && Catch::Contains("labels must be integers") &&
                 Catch::Contains("float64"));
}

TEST_CASE("idx: malformed raw files raise errors naming the problem", "[io][idx]") {
  TempDir dir;
  auto make = [&](const std::string& name, const std::string& bytes) {
    const std::string path = dir.file(name);
    write_bytes(path, bytes);
    return path;
  };
  const std::string good_data(100, '\x07');
  const std::size_t fds_before = open_fds();

  require_read_fails(dir.file("absent"), {"cannot open", "No such file"});
  require_read_fails(dir.path().string(), {"not a regular file"});
  require_read_fails(make("empty", ""), {"the file is 0 bytes, shorter than the 4-byte IDX magic"});
  require_read_fails(make("three", std::string("\0\0\x08", 3)), {"3 bytes, shorter than"});
  require_read_fails(make("magic", std::string("\x01\x00\x08\x01", 4) + be32(1) + "x"),
                     {"wrong magic", "0x01 0x00", "0x00 0x00"});
  require_read_fails(make("magic2", std::string("\x00\x07\x08\x01", 4) + be32(1) + "x"),
                     {"wrong magic", "0x00 0x07"});
  require_read_fails(make("type", idx_header(0x0A, {1}) + "x"), {"unknown type code 0x0A"});
  require_read_fails(make("type0", idx_header(0x00, {1}) + "x"), {"unknown type code 0x00"});
  require_read_fails(make("rank0", idx_header(0x08, {})), {"rank 0"});
  require_read_fails(make("rank9", idx_header(0x08, {1, 1, 1, 1, 1, 1, 1, 1, 1}) + "x"),
                     {"rank 9 exceeds", "maximum rank 8"});
  require_read_fails(make("dims", idx_header(0x08, {10, 10}).substr(0, 10)),
                     {"header truncated", "rank 2 needs 8 bytes of dimensions", "has 6"});
  require_read_fails(make("overflow", idx_header(0x0E, {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 1})),
                     {"overflows", "[4294967295, 4294967295, 4294967295, 1]", "float64"});
  // 2^31 x 2^31 x 8 bytes = 2^65: the element count fits 64 bits, the byte count does not.
  require_read_fails(make("overflow_bytes", idx_header(0x0E, {1u << 31, 1u << 31})), {"overflows"});
  require_read_fails(make("truncated", idx_header(0x08, {10, 10}) + good_data.substr(0, 50)),
                     {"truncated", "[10, 10]", "need 100 data bytes", "holds 50"});
  require_read_fails(make("truncated_i32", idx_header(0x0C, {10}) + good_data.substr(0, 39)),
                     {"truncated", "int32 need 40 data bytes", "holds 39"});
  require_read_fails(make("trailing", idx_header(0x08, {10, 10}) + good_data + "abc"),
                     {"3 trailing bytes after the data", "need 100 data bytes"});
  // A raw file claiming 2^40 bytes is refused from its size, before any allocation.
  require_read_fails(make("huge", idx_header(0x08, {1u << 20, 1u << 10, 1u << 10}) + good_data),
                     {"truncated", "need 1099511627776 data bytes", "holds 100"});

  CHECK(open_fds() == fds_before);  // every failure closed its file

  // The same file whole reads fine, so the failures above are the damage and nothing else.
  CHECK(read_idx(make("whole", idx_header(0x08, {10, 10}) + good_data)).shape == Shape{10, 10});
}

TEST_CASE("idx: malformed gzip files raise errors naming the problem", "[io][idx]") {
  TempDir dir;
  auto make = [&](const std::string& name, const std::string& bytes) {
    const std::string path = dir.file(name);
    write_bytes(path, bytes);
    return path;
  };
  std::string data(5000, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = char((i * 7919u) >> 3);
  const std::string file = idx_header(0x08, {50, 100}) + data;
  const std::string gz = gzip(file);
  REQUIRE(read_idx(make("whole.gz", gz)).shape == Shape{50, 100});

  require_read_fails(make("cut.gz", gz.substr(0, gz.size() / 2)),
                     {"truncated gzip stream", "decompressed bytes"});
  // Without the 8-byte trailer (CRC-32, length) the stream is incomplete as well.
  require_read_fails(make("no_trailer.gz", gz.substr(0, gz.size() - 8)), {"truncated gzip stream"});
  std::string bad_crc = gz;
  bad_crc[bad_crc.size() - 8] ^= 0x55;
  require_read_fails(make("crc.gz", bad_crc), {"corrupt gzip stream", "incorrect data check"});
  require_read_fails(make("method.gz", std::string("\x1f\x8b\x05\x00garbage-garbage", 19)),
                     {"corrupt gzip stream"});
  require_read_fails(make("garbage_after.gz", gz + "not gzip at all"), {"corrupt gzip stream"});
  require_read_fails(make("empty.gz", gzip("")), {"the decompressed data is 0 bytes"});
  require_read_fails(make("magic.gz", gzip(std::string("\x02\x00\x08\x01", 4) + be32(1) + "x")),
                     {"wrong magic", "0x02 0x00"});
  require_read_fails(
      make("short_data.gz", gzip(idx_header(0x08, {50, 100}) + data.substr(0, 4000))),
      {"truncated", "need 5000 data bytes", "the decompressed data holds 4000"});
  require_read_fails(make("trailing.gz", gzip(file + "xyz")), {"3 trailing bytes after the data"});
  // A decompression bomb after the data is not inflated to its end.
  require_read_fails(make("bomb.gz", gzip(file + std::string(8u << 20, '\0'), 9)),
                     {"more than 1048576 trailing bytes"});
}

TEST_CASE("idx: a small gzip file claiming a huge array fails without a huge allocation",
          "[io][idx]") {
  TempDir dir;
  const std::string path = dir.file("claims_a_terabyte.gz");
  // 2^40 uint8 elements declared, 1000 present.
  write_bytes(path,
              gzip(idx_header(0x08, {1u << 20, 1u << 10, 1u << 10}) + std::string(1000, 'z')));
  REQUIRE(fs::file_size(path) < 200);
  const std::uint64_t before = peak_rss_bytes();
  require_read_fails(
      path, {"truncated", "need 1099511627776 data bytes", "the decompressed data holds 1000"});
  // The buffer grows with the data, so the peak hardly moves (an up-front 2^40-byte buffer would
  // have thrown std::bad_alloc, or touched a terabyte).
  CHECK(peak_rss_bytes() - before < (std::uint64_t(64) << 20));

  // Same for a claim backed by a bit more data: 4 MiB present of 2^32 declared.
  const std::string path2 = dir.file("claims_4g.gz");
  write_bytes(path2, gzip(idx_header(0x08, {1u << 16, 1u << 16}) + std::string(4u << 20, 'q'), 9));
  require_read_fails(
      path2, {"truncated", "need 4294967296 data bytes", "the decompressed data holds 4194304"});
}

TEST_CASE("idx: gzip is detected by its magic bytes, members concatenate", "[io][idx]") {
  TempDir dir;
  const std::vector<std::int16_t> values = {1, -2, 3, -4, 5, -6};
  const std::string file = idx_header(0x0B, {2, 3}) + encode_be(values);

  const std::string raw_named_gz = dir.file("raw.gz");
  write_bytes(raw_named_gz, file);
  CHECK(read_idx(raw_named_gz).to_tensor<std::int16_t>().to_vector() == values);
  const std::string gz_named_raw = dir.file("compressed-idx3-ubyte");
  write_bytes(gz_named_raw, gzip(file));
  CHECK(read_idx(gz_named_raw).to_tensor<std::int16_t>().to_vector() == values);

  // Two members, split inside the header and inside the data: gunzip reads them as one stream.
  for (std::size_t split : {std::size_t(3), std::size_t(13), file.size() - 1}) {
    INFO("split at byte " << split);
    const std::string two = dir.file("two_members.gz");
    write_bytes(two, gzip(file.substr(0, split)) + gzip(file.substr(split)));
    const IdxArray a = read_idx(two);
    CHECK(a.shape == Shape{2, 3});
    CHECK(a.to_tensor<std::int16_t>().to_vector() == values);
  }
}
