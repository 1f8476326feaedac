// Images: PNG/JPEG round trips, files written by an independent encoder (Pillow, see
// tools/make_image_fixtures.py), resizing of known patterns, size strings, the CNN
// preprocessings and their inverses, and one test per error path (each must raise tinycnn::Error
// naming the problem, and a failed save must leave nothing behind).
#include <catch2/catch.hpp>

#include <tinycnn/io/image.hpp>

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "support/temp_dir.hpp"

namespace fs = std::filesystem;
using tinycnn::Shape;
using tinycnn::Tensor;
using tinycnn::io::from_tensor;
using tinycnn::io::Image;
using tinycnn::io::load_image;
using tinycnn::io::make_image;
using tinycnn::io::noise_image;
using tinycnn::io::parse_size;
using tinycnn::io::Preprocess;
using tinycnn::io::resize;
using tinycnn::io::save_image;
using tinycnn::io::to_tensor;
using tinycnn::test::TempDir;

namespace {

const fs::path kImages = fs::path(TINYCNN_TEST_DATA_DIR) / "images";

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  REQUIRE(out.good());
}

std::uint8_t px(const Image& im, std::int64_t x, std::int64_t y, std::int64_t c) {
  return im.pixels[std::size_t((y * im.width + x) * im.channels + c)];
}

// The patterns of tools/make_image_fixtures.py (24 x 16).
std::uint8_t pattern(std::int64_t x, std::int64_t y, int c) {
  const std::int64_t v[3] = {(7 * x + 3 * y) % 256, (5 * x + 11 * y) % 256, (x * y) % 256};
  return std::uint8_t(v[c]);
}
std::uint8_t smooth(std::int64_t x, std::int64_t y, int c) {
  const std::int64_t v[3] = {8 * x, 12 * y, 255 - 4 * x - 4 * y};
  return std::uint8_t(v[c]);
}

// A smooth RGB (or grey) image that JPEG represents well.
Image gradient(std::int64_t w, std::int64_t h, int channels) {
  Image im = make_image(w, h, channels);
  for (std::int64_t y = 0; y < h; ++y)
    for (std::int64_t x = 0; x < w; ++x)
      for (int c = 0; c < channels; ++c)
        im.pixels[std::size_t((y * w + x) * channels + c)] =
            std::uint8_t(40 + (150 * x) / w + (50 * y) / h + 10 * c);
  return im;
}

double mean_abs_diff(const Image& a, const Image& b) {
  REQUIRE(a.pixels.size() == b.pixels.size());
  double sum = 0;
  for (std::size_t i = 0; i < a.pixels.size(); ++i)
    sum += std::abs(int(a.pixels[i]) - int(b.pixels[i]));
  return sum / double(a.pixels.size());
}

int max_abs_diff(const Image& a, const Image& b) {
  REQUIRE(a.pixels.size() == b.pixels.size());
  int worst = 0;
  for (std::size_t i = 0; i < a.pixels.size(); ++i)
    worst = std::max(worst, std::abs(int(a.pixels[i]) - int(b.pixels[i])));
  return worst;
}

std::string be32(std::uint32_t v) {
  return {char(v >> 24), char((v >> 16) & 0xff), char((v >> 8) & 0xff), char(v & 0xff)};
}

// A PNG holding only a signature, an IHDR for a w x h RGB image and IEND (no pixel data).
std::string png_header_only(std::uint32_t w, std::uint32_t h) {
  auto chunk = [](const std::string& type, const std::string& data) {
    const std::string body = type + data;
    const auto crc =
        std::uint32_t(::crc32(0L, reinterpret_cast<const Bytef*>(body.data()), uInt(body.size())));
    return be32(std::uint32_t(data.size())) + body + be32(crc);
  };
  const std::string ihdr = be32(w) + be32(h) + std::string("\x08\x02\x00\x00\x00", 5);
  return std::string("\x89PNG\r\n\x1a\n", 8) + chunk("IHDR", ihdr) + chunk("IEND", "");
}

}  // namespace

TEST_CASE("image: PNG round trips are exact for every channel count", "[io][image]") {
  TempDir dir;
  for (int channels : {1, 2, 3, 4}) {
    INFO("channels " << channels);
    const Image im = noise_image(37, 23, 100 + std::uint64_t(channels), channels);
    const fs::path path = dir.path() / ("noise" + std::to_string(channels) + ".png");
    save_image(path, im);
    const Image back = load_image(path, 0);  // as stored
    CHECK(back.width == 37);
    CHECK(back.height == 23);
    CHECK(back.channels == channels);
    CHECK(back.pixels == im.pixels);
    CHECK(load_image(path, channels).pixels == im.pixels);
  }
  const Image im = noise_image(5, 4, 7);
  save_image(dir.path() / "UPPER.PNG", im);  // the extension's case does not matter
  CHECK(load_image(dir.path() / "UPPER.PNG").pixels == im.pixels);
  // no temporaries left behind
  CHECK(dir.entries() == std::vector<std::string>{"UPPER.PNG", "noise1.png", "noise2.png",
                                                  "noise3.png", "noise4.png"});
}

TEST_CASE("image: channel conversions on load", "[io][image]") {
  TempDir dir;
  Image rgb = make_image(2, 1, 3);
  rgb.pixels = {200, 100, 50, 0, 255, 0};
  save_image(dir.path() / "rgb.png", rgb);

  const Image rgba = load_image(dir.path() / "rgb.png", 4);
  CHECK(rgba.channels == 4);
  CHECK(rgba.pixels == std::vector<std::uint8_t>{200, 100, 50, 255, 0, 255, 0, 255});
  // stb's luma: (77 R + 150 G + 29 B) >> 8
  const Image grey = load_image(dir.path() / "rgb.png", 1);
  CHECK(grey.channels == 1);
  CHECK(grey.pixels ==
        std::vector<std::uint8_t>{(77 * 200 + 150 * 100 + 29 * 50) >> 8, (150 * 255) >> 8});

  Image g = make_image(2, 1, 1);
  g.pixels = {10, 240};
  save_image(dir.path() / "grey.png", g);
  CHECK(load_image(dir.path() / "grey.png").pixels ==
        std::vector<std::uint8_t>{10, 10, 10, 240, 240, 240});
}

TEST_CASE("image: JPEG round trips are close", "[io][image]") {
  TempDir dir;
  for (int channels : {1, 3}) {
    INFO("channels " << channels);
    const Image im = gradient(64, 48, channels);
    const fs::path path = dir.path() / ("gradient" + std::to_string(channels) + ".jpg");
    save_image(path, im);                           // quality 95
    const Image back = load_image(path, channels);  // stb writes grey as a YCbCr JPEG
    REQUIRE(back.channels == channels);
    REQUIRE(back.width == 64);
    REQUIRE(back.height == 48);
    CHECK(mean_abs_diff(back, im) < 1.5);
    CHECK(max_abs_diff(back, im) <= 8);
  }
  SECTION("the quality reaches the encoder, and .jpeg works") {
    const Image im = noise_image(64, 64, 3);
    save_image(dir.path() / "q95.jpeg", im, 95);
    save_image(dir.path() / "q10.jpeg", im, 10);
    CHECK(fs::file_size(dir.path() / "q10.jpeg") < fs::file_size(dir.path() / "q95.jpeg") / 2);
    CHECK(mean_abs_diff(load_image(dir.path() / "q95.jpeg"), im) <
          mean_abs_diff(load_image(dir.path() / "q10.jpeg"), im));
  }
}

TEST_CASE("image: files written by Pillow decode to the expected pixels", "[io][image]") {
  SECTION("RGB PNG") {
    const Image im = load_image(kImages / "rgb.png");
    REQUIRE((im.width == 24 && im.height == 16 && im.channels == 3));
    for (std::int64_t y = 0; y < 16; ++y)
      for (std::int64_t x = 0; x < 24; ++x)
        for (int c = 0; c < 3; ++c) REQUIRE(px(im, x, y, c) == pattern(x, y, c));
  }
  SECTION("grey, grey+alpha, RGBA and 16-bit PNGs, kept as stored") {
    const Image grey = load_image(kImages / "grey.png", 0);
    const Image ga = load_image(kImages / "grey_alpha.png", 0);
    const Image rgba = load_image(kImages / "rgba.png", 0);
    const Image g16 = load_image(kImages / "grey16.png", 0);
    REQUIRE(grey.channels == 1);
    REQUIRE(ga.channels == 2);
    REQUIRE(rgba.channels == 4);
    REQUIRE(g16.channels == 1);
    for (std::int64_t y = 0; y < 16; ++y)
      for (std::int64_t x = 0; x < 24; ++x) {
        REQUIRE(px(grey, x, y, 0) == pattern(x, y, 0));
        REQUIRE(px(ga, x, y, 0) == pattern(x, y, 0));
        REQUIRE(px(ga, x, y, 1) == pattern(x, y, 1));
        for (int c = 0; c < 3; ++c) REQUIRE(px(rgba, x, y, c) == pattern(x, y, c));
        REQUIRE(px(rgba, x, y, 3) == std::uint8_t((x + y) * 9 % 256));
        REQUIRE(px(g16, x, y, 0) == pattern(x, y, 0));  // 257 R reduced to 8 bits
      }
  }
  SECTION("indexed-colour PNG") {
    const Image im = load_image(kImages / "palette.png");
    REQUIRE(im.channels == 3);
    for (std::int64_t y = 0; y < 16; ++y)
      for (std::int64_t x = 0; x < 24; ++x) {
        const int k = int(x / 4 + 6 * (y / 4));
        REQUIRE(px(im, x, y, 0) == 10 * k);
        REQUIRE(px(im, x, y, 1) == 255 - 10 * k);
        REQUIRE(px(im, x, y, 2) == (37 * k) % 256);
      }
  }
  SECTION("BMP and PPM are exact, baseline and progressive JPEG close") {
    Image expected = make_image(24, 16, 3);
    for (std::int64_t y = 0; y < 16; ++y)
      for (std::int64_t x = 0; x < 24; ++x)
        for (int c = 0; c < 3; ++c)
          expected.pixels[std::size_t((y * 24 + x) * 3 + c)] = smooth(x, y, c);
    CHECK(load_image(kImages / "smooth.bmp").pixels == expected.pixels);
    CHECK(load_image(kImages / "smooth.ppm").pixels == expected.pixels);
    for (const char* name : {"smooth.jpg", "smooth_progressive.jpg"}) {
      INFO(name);
      const Image im = load_image(kImages / name);
      CHECK(mean_abs_diff(im, expected) < 1.5);
      CHECK(max_abs_diff(im, expected) <= 8);
    }
  }
}

TEST_CASE("image: resize", "[io][image]") {
  SECTION("a constant image stays constant, whatever the sizes") {
    const Image im = make_image(37, 23, 3, 173);
    for (auto [w, h] :
         {std::pair{37, 23}, {18, 11}, {10, 7}, {1, 1}, {100, 60}, {74, 46}, {20, 50}, {111, 5}}) {
      INFO(w << "x" << h);
      const Image out = resize(im, w, h);
      REQUIRE((out.width == w && out.height == h && out.channels == 3));
      CHECK(out.pixels == std::vector<std::uint8_t>(std::size_t(w * h * 3), 173));
    }
  }
  SECTION("a 2x downscale averages each 2x2 block, rounding to nearest") {
    const Image im = noise_image(16, 10, 5, 3);
    const Image out = resize(im, 8, 5);
    for (std::int64_t y = 0; y < 5; ++y)
      for (std::int64_t x = 0; x < 8; ++x)
        for (int c = 0; c < 3; ++c) {
          const int sum = px(im, 2 * x, 2 * y, c) + px(im, 2 * x + 1, 2 * y, c) +
                          px(im, 2 * x, 2 * y + 1, c) + px(im, 2 * x + 1, 2 * y + 1, c);
          REQUIRE(int(px(out, x, y, c)) == (2 * sum + 4) / 8);  // sum / 4, halves rounded up
        }
  }
  SECTION("a shrink by 1.5 weights pixels by the area they cover") {
    Image im = make_image(3, 1, 1);
    im.pixels = {0, 30, 90};
    // output 0 covers input [0, 1.5): (0 + 30 / 2) / 1.5; output 1 covers [1.5, 3)
    CHECK(resize(im, 2, 1).pixels == std::vector<std::uint8_t>{10, 70});
  }
  SECTION("enlarging interpolates linearly between pixel centres, edges repeated") {
    Image im = make_image(2, 1, 1);
    im.pixels = {0, 100};
    CHECK(resize(im, 4, 1).pixels == std::vector<std::uint8_t>{0, 25, 75, 100});
    Image col = make_image(1, 2, 1);
    col.pixels = {0, 100};
    const Image tall = resize(col, 3, 4);
    CHECK(tall.pixels == std::vector<std::uint8_t>{0, 0, 0, 25, 25, 25, 75, 75, 75, 100, 100, 100});
  }
  SECTION("non-integer factors match a float64 reference (tools/make_image_fixtures.py)") {
    const Image src = load_image(kImages / "rgb.png");
    for (auto [w, h] : {std::pair{10, 7}, {41, 29}, {10, 29}}) {
      const std::string name = "resized_" + std::to_string(w) + "x" + std::to_string(h) + ".png";
      INFO(name);
      const Image ref = load_image(kImages / name);
      const Image out = resize(src, w, h);
      REQUIRE((ref.width == w && ref.height == h && out.width == w && out.height == h));
      // float accumulation may round an exact .5 the other way: at most 1 level, rarely
      std::size_t off = 0;
      for (std::size_t i = 0; i < ref.pixels.size(); ++i) off += ref.pixels[i] != out.pixels[i];
      CHECK(max_abs_diff(out, ref) <= 1);
      CHECK(off * 50 <= ref.pixels.size());
    }
  }
  SECTION("the same size is a copy") {
    const Image im = noise_image(9, 4, 2, 4);
    CHECK(resize(im, 9, 4).pixels == im.pixels);
  }
  SECTION("a large image takes the parallel path and matches a per-row reference") {
    const Image im = noise_image(640, 480, 11, 3);
    const Image out = resize(im, 320, 240);
    const Image strip = resize(
        [&] {
          Image s = make_image(640, 2, 3);
          std::copy_n(im.pixels.begin() + 2 * 100 * 640 * 3, 2 * 640 * 3, s.pixels.begin());
          return s;
        }(),
        320, 1);
    CHECK(std::equal(strip.pixels.begin(), strip.pixels.end(), out.pixels.begin() + 100 * 320 * 3));
  }
  SECTION("bad sizes and images are refused") {
    const Image im = make_image(4, 4, 3);
    REQUIRE_THROWS_WITH(resize(im, 0, 4), Catch::Contains("resize") && Catch::Contains("0x4"));
    REQUIRE_THROWS_WITH(resize(im, 4, -1), Catch::Contains("4x-1"));
    REQUIRE_THROWS_WITH(resize(im, 70000, 4), Catch::Contains("1..65535"));
    REQUIRE_THROWS_WITH(resize(im, 65535, 65535), Catch::Contains("pixels"));
    Image bad = im;
    bad.pixels.pop_back();
    REQUIRE_THROWS_WITH(resize(bad, 2, 2),
                        Catch::Contains("needs 48 bytes") && Catch::Contains("47"));
    bad = im;
    bad.channels = 5;
    REQUIRE_THROWS_WITH(resize(bad, 2, 2), Catch::Contains("5 channels"));
    REQUIRE_THROWS_WITH(resize(Image{}, 2, 2), Catch::Contains("0 channels"));
  }
}

TEST_CASE("image: parse_size", "[io][image]") {
  using P = std::pair<std::int64_t, std::int64_t>;
  CHECK(parse_size("512", 1024, 768) == P{512, 384});
  CHECK(parse_size("512", 768, 1024) == P{384, 512});
  CHECK(parse_size("512", 300, 300) == P{512, 512});
  CHECK(parse_size("100", 3, 2) == P{100, 67});         // 66.67 rounds to 67
  CHECK(parse_size("1", 1000, 10) == P{1, 1});          // the short side never drops to 0
  CHECK(parse_size("1024", 512, 256) == P{1024, 512});  // enlarging is allowed
  CHECK(parse_size("640x480", 10, 10) == P{640, 480});
  CHECK(parse_size("640x480", 0, 0) == P{640, 480});  // no source size needed
  CHECK(parse_size("1x65535", 1, 1) == P{1, 65535});
  for (const char* bad : {"",     "x",     "abc",     "0",         "-5",
                          "+5",   "512x",  "x480",    "12x34x5",   " 512",
                          "512 ", "512.5", "640X480", "640*480",   "99999999999999999999999",
                          "0x5",  "5x0",   "70000",   "640x70000", "0x"}) {
    INFO("'" << bad << "'");
    REQUIRE_THROWS_WITH(
        parse_size(bad, 100, 100),
        Catch::Contains("parse_size") && Catch::Contains(std::string("'") + bad + "'"));
  }
  REQUIRE_THROWS_WITH(parse_size("512", 0, 100), Catch::Contains("source size"));
}

TEST_CASE("image: to_tensor and from_tensor", "[io][image]") {
  Image im = make_image(2, 1, 3);
  im.pixels = {10, 20, 30, 255, 0, 128};  // (R, G, B) of two pixels

  SECTION("Caffe: BGR, 0..255, minus the mean pixel") {
    const auto t = to_tensor<double>(im, Preprocess::kCaffe);
    REQUIRE(t.shape() == Shape{1, 3, 1, 2});
    CHECK(t.at(0, 0, 0, 0) == Approx(30 - 103.939).epsilon(1e-15));
    CHECK(t.at(0, 1, 0, 0) == Approx(20 - 116.779).epsilon(1e-15));
    CHECK(t.at(0, 2, 0, 0) == Approx(10 - 123.68).epsilon(1e-15));
    CHECK(t.at(0, 0, 0, 1) == Approx(128 - 103.939).epsilon(1e-15));
    CHECK(t.at(0, 1, 0, 1) == Approx(0 - 116.779).epsilon(1e-15));
    CHECK(t.at(0, 2, 0, 1) == Approx(255 - 123.68).epsilon(1e-15));
    CHECK(from_tensor(t, Preprocess::kCaffe).pixels == im.pixels);
  }
  SECTION("torchvision: RGB, 0..1, normalised by mean and std") {
    const auto t = to_tensor<float>(im, Preprocess::kTorchvision);
    REQUIRE(t.shape() == Shape{1, 3, 1, 2});
    CHECK(t.at(0, 0, 0, 0) == Approx((10 / 255.0 - 0.485) / 0.229).epsilon(1e-6));
    CHECK(t.at(0, 1, 0, 0) == Approx((20 / 255.0 - 0.456) / 0.224).epsilon(1e-6));
    CHECK(t.at(0, 2, 0, 0) == Approx((30 / 255.0 - 0.406) / 0.225).epsilon(1e-6));
    CHECK(t.at(0, 0, 0, 1) == Approx((1.0 - 0.485) / 0.229).epsilon(1e-6));
    CHECK(t.at(0, 1, 0, 1) == Approx((0.0 - 0.456) / 0.224).epsilon(1e-6));
    CHECK(t.at(0, 2, 0, 1) == Approx((128 / 255.0 - 0.406) / 0.225).epsilon(1e-6));
    CHECK(from_tensor(t, Preprocess::kTorchvision).pixels == im.pixels);
  }
  SECTION("round trips of noise, float and double, both preprocessings") {
    const Image noise = noise_image(31, 17, 9);
    for (Preprocess p : {Preprocess::kCaffe, Preprocess::kTorchvision}) {
      CHECK(from_tensor(to_tensor<float>(noise, p), p).pixels == noise.pixels);
      CHECK(from_tensor(to_tensor<double>(noise, p), p).pixels == noise.pixels);
      // (3, H, W) is accepted too
      auto t = to_tensor<float>(noise, p);
      t.reshape(Shape{3, 17, 31});
      const Image back = from_tensor(t, p);
      CHECK((back.width == 31 && back.height == 17 && back.channels == 3));
      CHECK(back.pixels == noise.pixels);
    }
  }
  SECTION("grey images are repeated into three channels") {
    Image g = make_image(1, 1, 1);
    g.pixels = {77};
    const auto t = to_tensor<double>(g, Preprocess::kCaffe);
    CHECK(t.at(0, 0, 0, 0) == Approx(77 - 103.939));
    CHECK(t.at(0, 2, 0, 0) == Approx(77 - 123.68));
    CHECK(from_tensor(t, Preprocess::kCaffe).pixels == std::vector<std::uint8_t>{77, 77, 77});
  }
  SECTION("from_tensor clamps to 0..255 and rounds to nearest") {
    for (Preprocess p : {Preprocess::kCaffe, Preprocess::kTorchvision}) {
      Tensor<float> t(Shape{1, 3, 1, 4});
      for (int c = 0; c < 3; ++c) {
        const auto [lo, hi] = tinycnn::io::channel_range(p, c);
        const double step = (hi - lo) / 255.0;      // one pixel level
        t.at(0, c, 0, 0) = float(lo - 100 * step);  // below 0 -> 0
        t.at(0, c, 0, 1) = float(hi + 100 * step);  // above 255 -> 255
        t.at(0, c, 0, 2) = float(lo + 6.4 * step);  // 6.4 -> 6
        t.at(0, c, 0, 3) = float(lo + 6.6 * step);  // 6.6 -> 7
      }
      const Image out = from_tensor(t, p);
      for (int c = 0; c < 3; ++c) {
        CHECK(px(out, 0, 0, c) == 0);
        CHECK(px(out, 1, 0, c) == 255);
        CHECK(px(out, 2, 0, c) == 6);
        CHECK(px(out, 3, 0, c) == 7);
      }
    }
  }
  SECTION("channel_range is the image of pixel values 0 and 255") {
    const Image black = make_image(1, 1, 3, 0), white = make_image(1, 1, 3, 255);
    for (Preprocess p : {Preprocess::kCaffe, Preprocess::kTorchvision})
      for (int c = 0; c < 3; ++c) {
        const auto [lo, hi] = tinycnn::io::channel_range(p, c);
        CHECK(to_tensor<double>(black, p).at(0, c, 0, 0) == Approx(lo));
        CHECK(to_tensor<double>(white, p).at(0, c, 0, 0) == Approx(hi));
      }
    REQUIRE_THROWS_WITH(tinycnn::io::channel_range(Preprocess::kCaffe, 3), Catch::Contains("0..2"));
  }
  SECTION("NaN and infinity are refused, naming the element") {
    auto t = to_tensor<float>(noise_image(5, 4, 1), Preprocess::kCaffe);
    t.at(0, 1, 2, 3) = std::numeric_limits<float>::quiet_NaN();
    REQUIRE_THROWS_WITH(from_tensor(t, Preprocess::kCaffe),
                        Catch::Contains("channel 1, y 2, x 3") && Catch::Contains("nan") &&
                            Catch::Contains("not be finite"));
    t.at(0, 1, 2, 3) = 0;
    t.at(0, 2, 0, 0) = -std::numeric_limits<float>::infinity();
    REQUIRE_THROWS_WITH(from_tensor(t, Preprocess::kTorchvision),
                        Catch::Contains("channel 2, y 0, x 0") && Catch::Contains("inf"));
  }
  SECTION("wrong shapes and channel counts are refused") {
    REQUIRE_THROWS_WITH(from_tensor(Tensor<float>(Shape{1, 4, 2, 2}), Preprocess::kCaffe),
                        Catch::Contains("[1, 4, 2, 2]"));
    REQUIRE_THROWS_WITH(from_tensor(Tensor<float>(Shape{2, 3, 2, 2}), Preprocess::kCaffe),
                        Catch::Contains("[2, 3, 2, 2]"));
    REQUIRE_THROWS_WITH(from_tensor(Tensor<float>(Shape{3, 2}), Preprocess::kCaffe),
                        Catch::Contains("(1, 3, H, W)"));
    REQUIRE_THROWS_WITH(from_tensor(Tensor<float>(Shape{1, 3, 0, 2}), Preprocess::kCaffe),
                        Catch::Contains("2x0"));
    REQUIRE_THROWS_WITH(to_tensor<float>(make_image(2, 2, 4), Preprocess::kCaffe),
                        Catch::Contains("4 channels") && Catch::Contains("channels = 3"));
    REQUIRE_THROWS_WITH(to_tensor<float>(make_image(2, 2, 2), Preprocess::kCaffe),
                        Catch::Contains("2 channels"));
  }
}

TEST_CASE("image: make_image and noise_image", "[io][image]") {
  const Image a = noise_image(16, 8, 42), b = noise_image(16, 8, 42), c = noise_image(16, 8, 43);
  CHECK(a.pixels == b.pixels);
  CHECK(a.pixels != c.pixels);
  // uniform over 0..255: the mean of 384 samples is near 127.5 and both halves are used
  double sum = 0;
  int low = 0, high = 0;
  for (auto v : a.pixels) sum += v, low += v < 64, high += v >= 192;
  CHECK(std::abs(sum / double(a.pixels.size()) - 127.5) < 15);
  CHECK(low > 50);
  CHECK(high > 50);
  const Image k = make_image(3, 2, 2, 9);
  CHECK((k.width == 3 && k.height == 2 && k.channels == 2));
  CHECK(k.pixels == std::vector<std::uint8_t>(12, 9));
  REQUIRE_THROWS_WITH(make_image(3, 2, 0), Catch::Contains("channels must be 1..4"));
  REQUIRE_THROWS_WITH(make_image(0, 2, 3), Catch::Contains("0x2"));
  REQUIRE_THROWS_WITH(noise_image(65536, 1, 1), Catch::Contains("65536x1"));
}

TEST_CASE("image: load errors name the file and the reason", "[io][image]") {
  TempDir dir;
  const Image im = noise_image(40, 30, 3);
  const fs::path good = dir.path() / "good.png";
  save_image(good, im);
  const std::string bytes = read_all(good);

  auto require_load_fails = [](const fs::path& path, const std::string& reason) {
    REQUIRE_THROWS_WITH(load_image(path), Catch::Contains("load_image") &&
                                              Catch::Contains(path.string()) &&
                                              Catch::Contains(reason));
  };
  SECTION("missing file") {
    require_load_fails(dir.path() / "absent.png", "No such file");
  }
  SECTION("a directory") {
    fs::create_directory(dir.path() / "d.png");
    require_load_fails(dir.path() / "d.png", "not a regular file");
  }
  SECTION("zero-byte file") {
    write_bytes(dir.path() / "empty.png", "");
    require_load_fails(dir.path() / "empty.png", "file is empty");
  }
  SECTION("a text file named .png") {
    write_bytes(dir.path() / "text.png", "this is not an image, just some text\n");
    require_load_fails(dir.path() / "text.png", "not a readable image");
  }
  SECTION("truncated PNGs: cut in the pixel data, before IEND, in the header") {
    // Chunks that run past the end are refused before stb sees the file; the other cuts by stb.
    for (std::size_t keep : {bytes.size() / 2, bytes.size() - 20, std::size_t(30)}) {
      INFO("kept " << keep << " of " << bytes.size() << " bytes");
      write_bytes(dir.path() / "cut.png", bytes.substr(0, keep));
      require_load_fails(dir.path() / "cut.png", "past the end of the file");
    }
    for (std::size_t keep : {bytes.size() - 12, std::size_t(8)}) {
      INFO("kept " << keep << " of " << bytes.size() << " bytes");
      write_bytes(dir.path() / "cut.png", bytes.substr(0, keep));
      require_load_fails(dir.path() / "cut.png", "stb_image");
    }
  }
  SECTION("a truncated JPEG header") {
    save_image(dir.path() / "good.jpg", im);
    write_bytes(dir.path() / "cut.jpg", read_all(dir.path() / "good.jpg").substr(0, 100));
    require_load_fails(dir.path() / "cut.jpg", "stb_image");
  }
  SECTION("absurd dimensions are refused before decoding") {
    write_bytes(dir.path() / "wide.png", png_header_only(100000, 1));
    require_load_fails(dir.path() / "wide.png", "100000x1; each side must be 1..65535");
    write_bytes(dir.path() / "huge.pgm", "P5\n40000 30000\n255\n");
    require_load_fails(dir.path() / "huge.pgm", "40000x30000, more than 1073741824 pixels");
    // The same headers with sane sizes get past the check and fail only for the missing pixels.
    write_bytes(dir.path() / "small.png", png_header_only(100, 1));
    require_load_fails(dir.path() / "small.png", "cannot decode");
  }
  SECTION("files above the size limit are refused before they are read") {
    const fs::path big = dir.path() / "big.png";
    write_bytes(big, bytes);
    fs::resize_file(big, std::uintmax_t(tinycnn::io::kMaxImageFileBytes) + 1);  // sparse
    require_load_fails(big, "1073741825 bytes, more than the limit of 1073741824");
  }
  SECTION("bad channel counts") {
    REQUIRE_THROWS_WITH(load_image(good, 5), Catch::Contains("channels must be 0"));
    REQUIRE_THROWS_WITH(load_image(good, -1), Catch::Contains("channels must be 0"));
  }
}

TEST_CASE("image: failed saves throw and leave nothing behind", "[io][image]") {
  TempDir dir;
  const Image im = noise_image(8, 6, 1);

  SECTION("directory does not exist") {
    const fs::path path = dir.path() / "no" / "such" / "dir" / "x.png";
    REQUIRE_THROWS_WITH(save_image(path, im), Catch::Contains(path.string()) &&
                                                  Catch::Contains("cannot create temporary file"));
    CHECK(dir.entries().empty());
  }
  SECTION("unsupported or missing extension") {
    for (const char* name : {"x.gif", "x.tiff", "x.bmp", "x", "x.png.tmp"}) {
      INFO(name);
      REQUIRE_THROWS_WITH(save_image(dir.path() / name, im),
                          Catch::Contains(name) && Catch::Contains("unsupported extension"));
    }
    CHECK(dir.entries().empty());
  }
  SECTION("JPEG with alpha, bad quality, inconsistent image") {
    REQUIRE_THROWS_WITH(save_image(dir.path() / "a.jpg", noise_image(4, 4, 1, 4)),
                        Catch::Contains("JPEG holds 1 (grey) or 3 (RGB)"));
    REQUIRE_THROWS_WITH(save_image(dir.path() / "a.jpg", noise_image(4, 4, 1, 2)),
                        Catch::Contains("the image has 2"));
    REQUIRE_THROWS_WITH(save_image(dir.path() / "a.jpg", im, 0), Catch::Contains("1..100, got 0"));
    REQUIRE_THROWS_WITH(save_image(dir.path() / "a.jpg", im, 101), Catch::Contains("got 101"));
    Image bad = im;
    bad.pixels.resize(3);
    REQUIRE_THROWS_WITH(save_image(dir.path() / "a.png", bad),
                        Catch::Contains("a.png") && Catch::Contains("needs 144 bytes"));
    REQUIRE_THROWS_WITH(save_image(dir.path() / "a.png", Image{}), Catch::Contains("0 channels"));
    CHECK(dir.entries().empty());
  }
  SECTION("target is a directory: the temporary is removed") {
    fs::create_directory(dir.path() / "taken.png");
    REQUIRE_THROWS_WITH(save_image(dir.path() / "taken.png", im), Catch::Contains("cannot rename"));
    CHECK(fs::is_empty(dir.path() / "taken.png"));
    CHECK(dir.entries() == std::vector<std::string>{"taken.png"});
  }
  SECTION("a failed save keeps an existing file; a successful one replaces it whole") {
    const fs::path path = dir.path() / "keep.png";
    save_image(path, im);
    const std::string before = read_all(path);
    Image bad = im;
    bad.channels = 4;  // pixels no longer match
    REQUIRE_THROWS(save_image(path, bad));
    CHECK(read_all(path) == before);
    const Image other = noise_image(8, 6, 2);
    save_image(path, other);
    CHECK(load_image(path, 0).pixels == other.pixels);
    CHECK(dir.entries() == std::vector<std::string>{"keep.png"});
  }
}

TEST_CASE("image: stb's internal checks throw instead of aborting", "[io][image]") {
  // The header routes STBI_ASSERT and STBIW_ASSERT to tinycnn::Error; they stay defined after it.
  REQUIRE_THROWS_WITH([] { STBI_ASSERT(1 + 1 == 3); }(),
                      Catch::Contains("stb: internal check failed: 1 + 1 == 3"));
  REQUIRE_THROWS_AS([] { STBIW_ASSERT(sizeof(int) == 0); }(), tinycnn::Error);
  REQUIRE_NOTHROW([] { STBI_ASSERT(1 + 1 == 2); }());
}
