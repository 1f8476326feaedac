// Dataset, load_mnist and DataLoader: batching that covers every sample once per epoch, shuffles
// that depend only on (seed, epoch), normalisation, crop and flip geometry on hand-made images,
// stopping mid-epoch, errors from the background thread, option checks, and the real
// Fashion-MNIST files when installed.
#include <catch2/catch.hpp>

#include <tinycnn/io/dataset.hpp>

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/data.hpp"
#include "support/temp_dir.hpp"

namespace fs = std::filesystem;
using tinycnn::Shape;
using tinycnn::Tensor;
using tinycnn::io::Batch;
using tinycnn::io::DataLoader;
using tinycnn::io::DataLoaderOptions;
using tinycnn::io::Dataset;

namespace {

using TempDir = tinycnn::test::TempDir;

// A uint8 IDX file (raw, or gzip through zlib's gzwrite).
void write_idx_u8(const std::string& path, const std::vector<std::uint32_t>& dims,
                  const std::vector<std::uint8_t>& values, bool gz) {
  std::string bytes = {'\0', '\0', '\x08', char(dims.size())};
  for (auto d : dims) bytes += {char(d >> 24), char(d >> 16), char(d >> 8), char(d)};
  bytes.append(values.begin(), values.end());
  if (gz) {
    gzFile f = gzopen(path.c_str(), "wb");
    REQUIRE(f != nullptr);
    REQUIRE(gzwrite(f, bytes.data(), unsigned(bytes.size())) == int(bytes.size()));
    REQUIRE(gzclose(f) == Z_OK);
  } else {
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), std::streamsize(bytes.size()));
    REQUIRE(out.good());
  }
}

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

// N samples of (C, H, W) whose label is the sample index and whose pixels are random in [0, 1).
Dataset indexed_dataset(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w,
                        std::uint64_t salt) {
  auto values = tinycnn::test::random_vector<float>(n * c * h * w, salt, 0.0, 1.0);
  std::vector<std::int32_t> labels(static_cast<std::size_t>(n));
  std::iota(labels.begin(), labels.end(), 0);
  return Dataset(Tensor<float>(Shape{n, c, h, w}, values), Tensor<std::int32_t>(Shape{n}, labels));
}

// Every batch of one epoch.
std::vector<Batch> run_epoch(DataLoader& loader, std::uint64_t epoch) {
  loader.begin_epoch(epoch);
  std::vector<Batch> out;
  Batch b;
  while (loader.next(b)) out.push_back(std::move(b));
  return out;
}

std::vector<std::int64_t> all_indices(const std::vector<Batch>& batches) {
  std::vector<std::int64_t> out;
  for (const auto& b : batches) out.insert(out.end(), b.indices.begin(), b.indices.end());
  return out;
}

// The (dy, dx) for which out = flip?(crop(in, dy, dx)) holds exactly, with zeros outside; checks
// every candidate shift within +-pad and returns the matches.
std::vector<std::pair<int, int>> matching_shifts(const float* in, const float* out, int h, int w,
                                                 int pad, bool flipped) {
  std::vector<std::pair<int, int>> found;
  for (int dy = -pad; dy <= pad; ++dy)
    for (int dx = -pad; dx <= pad; ++dx) {
      bool ok = true;
      for (int y = 0; y < h && ok; ++y)
        for (int x = 0; x < w && ok; ++x) {
          const int sy = y + dy, sx = (flipped ? w - 1 - x : x) + dx;
          const float expect = sy >= 0 && sy < h && sx >= 0 && sx < w ? in[sy * w + sx] : 0.0f;
          ok = out[y * w + x] == expect;
        }
      if (ok) found.emplace_back(dy, dx);
    }
  return found;
}

}  // namespace

TEST_CASE("dataset: images and labels must agree", "[io][dataset]") {
  const std::string msg = error_of([] {
    Dataset(Tensor<float>(Shape{3, 1, 2, 2}), Tensor<std::int32_t>(Shape{4}));
  });
  CHECK_THAT(msg, Catch::Contains("3 images") && Catch::Contains("4 labels"));
  CHECK_THAT(error_of([] {
               Dataset(Tensor<float>(Shape{3, 2, 2}), Tensor<std::int32_t>(Shape{3}));
             }),
             Catch::Contains("images must have rank 4 (N, C, H, W), got shape [3, 2, 2]"));
  CHECK_THAT(error_of([] {
               Dataset(Tensor<float>(Shape{3, 1, 2, 2}), Tensor<std::int32_t>(Shape{3, 1}));
             }),
             Catch::Contains("labels must have rank 1 (N)"));
  const Dataset ok(Tensor<float>(Shape{3, 1, 2, 2}), Tensor<std::int32_t>(Shape{3}));
  CHECK(ok.size() == 3);
  // The loader checks again: members are public and may have been replaced.
  Dataset changed(Tensor<float>(Shape{3, 1, 2, 2}), Tensor<std::int32_t>(Shape{3}));
  changed.labels = Tensor<std::int32_t>(Shape{2});
  CHECK_THAT(error_of([&] { DataLoader loader(changed); }), Catch::Contains("DataLoader") &&
                                                                Catch::Contains("3 images") &&
                                                                Catch::Contains("2 labels"));
}

TEST_CASE("dataset: load_mnist reads the standard file names, raw or gzip", "[io][dataset]") {
  TINYCNN_SEED_INFO();
  TempDir dir;
  const auto px_train = tinycnn::test::random_vector<double>(4 * 3 * 2, 1, 0, 256);
  std::vector<std::uint8_t> train_pixels(px_train.begin(), px_train.end());
  train_pixels[0] = 255;
  write_idx_u8(dir.file("train-images-idx3-ubyte.gz"), {4, 3, 2}, train_pixels, true);
  write_idx_u8(dir.file("train-labels-idx1-ubyte"), {4}, {3, 1, 4, 1}, false);
  // The dotted spelling of some mirrors.
  write_idx_u8(dir.file("t10k-images.idx3-ubyte"), {2, 3, 2}, std::vector<std::uint8_t>(12, 51),
               false);
  write_idx_u8(dir.file("t10k-labels.idx1-ubyte.gz"), {2}, {9, 0}, true);

  const Dataset train = tinycnn::io::load_mnist(dir.str(), true);
  CHECK(train.images.shape() == Shape{4, 1, 3, 2});
  CHECK(train.labels.to_vector() == std::vector<std::int32_t>{3, 1, 4, 1});
  CHECK(train.images.data()[0] == 1.0f);
  for (std::size_t i = 0; i < train_pixels.size(); ++i)
    REQUIRE(train.images.data()[i] == Approx(train_pixels[i] / 255.0).epsilon(1e-6));
  const Dataset test = tinycnn::io::load_mnist(dir.str(), false);
  CHECK(test.images.shape() == Shape{2, 1, 3, 2});
  CHECK(test.images.data()[5] == Approx(0.2));
  CHECK(test.labels.to_vector() == std::vector<std::int32_t>{9, 0});

  // Missing files are named; so are files whose counts differ.
  TempDir empty;
  CHECK_THAT(error_of([&] { tinycnn::io::load_mnist(empty.str(), true); }),
             Catch::Contains(empty.str()) && Catch::Contains("train-images-idx3-ubyte"));
  fs::remove(dir.file("t10k-labels.idx1-ubyte.gz"));
  CHECK_THAT(error_of([&] { tinycnn::io::load_mnist(dir.str(), false); }),
             Catch::Contains("t10k-labels-idx1-ubyte"));
  write_idx_u8(dir.file("t10k-labels-idx1-ubyte"), {3}, {1, 2, 3}, false);
  CHECK_THAT(error_of([&] { tinycnn::io::load_mnist(dir.str(), false); }),
             Catch::Contains("holds 2 images") && Catch::Contains("holds 3 labels") &&
                 Catch::Contains("t10k-labels-idx1-ubyte"));
}

TEST_CASE("dataset: find_fashion_mnist honours TINYCNN_FASHION_MNIST", "[io][dataset]") {
  const char* old = std::getenv("TINYCNN_FASHION_MNIST");
  const std::string saved = old ? old : "";
  ::setenv("TINYCNN_FASHION_MNIST", "/somewhere/else", 1);
  CHECK(tinycnn::io::find_fashion_mnist() == std::optional<std::string>("/somewhere/else"));
  ::unsetenv("TINYCNN_FASHION_MNIST");
  const bool debian = fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") ||
                      fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte");
  CHECK(tinycnn::io::find_fashion_mnist().has_value() == debian);
  if (old) ::setenv("TINYCNN_FASHION_MNIST", saved.c_str(), 1);
}

TEST_CASE("loader: every sample exactly once per epoch, batch sizes", "[io][loader]") {
  TINYCNN_SEED_INFO();
  const std::int64_t n = 103;
  const Dataset data = indexed_dataset(n, 2, 3, 4, 7);
  const std::int64_t sample = 2 * 3 * 4;
  for (bool shuffle : {false, true})
    for (bool drop_last : {false, true})
      for (std::int64_t bs : {1, 7, 10, 50, 103, 104, 500}) {
        INFO("shuffle " << shuffle << ", drop_last " << drop_last << ", batch " << bs);
        DataLoaderOptions opt;
        opt.batch_size = bs;
        opt.shuffle = shuffle;
        opt.drop_last = drop_last;
        opt.seed = tinycnn::test::test_seed();
        DataLoader loader(data, opt);
        CHECK(loader.size() == n);
        const std::int64_t full = n / bs, expect_batches = drop_last ? full : (n + bs - 1) / bs;
        CHECK(loader.batches_per_epoch() == expect_batches);
        for (std::uint64_t epoch : {0, 1}) {
          const auto batches = run_epoch(loader, epoch);
          REQUIRE(std::int64_t(batches.size()) == expect_batches);
          for (std::size_t b = 0; b < batches.size(); ++b) {
            const std::int64_t size = std::int64_t(b) < full ? bs : n - full * bs;
            INFO("batch " << b);
            REQUIRE(batches[b].images.shape() == Shape{size, 2, 3, 4});
            REQUIRE(batches[b].labels.shape() == Shape{size});
            REQUIRE(std::int64_t(batches[b].indices.size()) == size);
            // Each sample arrives whole and with its own label.
            for (std::int64_t s = 0; s < size; ++s) {
              const std::int64_t idx = batches[b].indices[std::size_t(s)];
              REQUIRE(batches[b].labels.data()[s] == idx);
              REQUIRE(std::equal(data.images.data() + idx * sample,
                                 data.images.data() + (idx + 1) * sample,
                                 batches[b].images.data() + s * sample));
            }
          }
          auto seen = all_indices(batches);
          CHECK(seen ==
                std::vector<std::int64_t>(loader.order().begin(),
                                          loader.order().begin() + std::ptrdiff_t(seen.size())));
          std::sort(seen.begin(), seen.end());
          CHECK(std::adjacent_find(seen.begin(), seen.end()) == seen.end());  // no repeats
          CHECK(std::int64_t(seen.size()) == (drop_last ? full * bs : n));
          if (!drop_last) CHECK(seen.back() == n - 1);
          if (!shuffle) {
            std::vector<std::int64_t> identity(static_cast<std::size_t>(n));
            std::iota(identity.begin(), identity.end(), 0);
            CHECK(loader.order() == identity);
          }
          // Past the end: false, and again false.
          Batch extra;
          CHECK_FALSE(loader.next(extra));
          CHECK_FALSE(loader.next(extra));
        }
      }
}

TEST_CASE("loader: the order depends only on (seed, epoch)", "[io][loader]") {
  TINYCNN_SEED_INFO();
  const Dataset data = indexed_dataset(257, 1, 2, 2, 3);
  DataLoaderOptions opt;
  opt.batch_size = 16;
  opt.seed = tinycnn::test::test_seed();
  DataLoader a(data, opt), b(data, opt);
  const auto a0 = all_indices(run_epoch(a, 0));
  const auto a1 = all_indices(run_epoch(a, 1));
  // Same (seed, epoch), another loader, another moment, another batch size: same order.
  DataLoaderOptions opt_big = opt;
  opt_big.batch_size = 100;
  opt_big.prefetch = 1;
  DataLoader c(data, opt_big);
  CHECK(all_indices(run_epoch(b, 1)) == a1);
  CHECK(all_indices(run_epoch(b, 0)) == a0);
  CHECK(all_indices(run_epoch(c, 1)) == a1);
  CHECK(all_indices(run_epoch(a, 0)) == a0);
  // Another epoch or another seed: another order (equal by chance with probability 1/257!).
  CHECK(a0 != a1);
  std::vector<std::int64_t> sorted = a0;
  std::sort(sorted.begin(), sorted.end());
  CHECK(a0 != sorted);
  DataLoaderOptions opt_seed = opt;
  opt_seed.seed = opt.seed + 1;
  DataLoader d(data, opt_seed);
  CHECK(all_indices(run_epoch(d, 0)) != a0);
}

TEST_CASE("loader: normalisation per channel", "[io][loader]") {
  TINYCNN_SEED_INFO();
  const Dataset data = indexed_dataset(9, 3, 4, 5, 11);
  DataLoaderOptions opt;
  opt.batch_size = 4;
  opt.mean = {0.5f, -1.0f, 0.25f};
  opt.stddev = {2.0f, 0.25f, 1.0f};
  DataLoader loader(data, opt);
  for (const auto& batch : run_epoch(loader, 0))
    for (std::int64_t s = 0; s < batch.images.dim(0); ++s)
      for (std::int64_t c = 0; c < 3; ++c)
        for (std::int64_t y = 0; y < 4; ++y)
          for (std::int64_t x = 0; x < 5; ++x) {
            const double in = data.images.at(batch.indices[std::size_t(s)], c, y, x);
            const double expect = (in - opt.mean[std::size_t(c)]) / opt.stddev[std::size_t(c)];
            REQUIRE(batch.images.at(s, c, y, x) == Approx(expect).epsilon(1e-6).margin(1e-7));
          }
}

TEST_CASE("loader: crop with padding and horizontal flip geometry", "[io][loader]") {
  TINYCNN_SEED_INFO();
  // One hand-made 6 x 5 image, all pixels distinct and non-zero, repeated: each copy draws its
  // own crop offset and flip.
  const int h = 6, w = 5, pad = 2, copies = 64;
  std::vector<float> image(h * w);
  for (int i = 0; i < h * w; ++i) image[std::size_t(i)] = float(1 + i);
  std::vector<float> pixels;
  for (int i = 0; i < copies; ++i) pixels.insert(pixels.end(), image.begin(), image.end());
  const Dataset data(Tensor<float>(Shape{copies, 1, h, w}, pixels),
                     Tensor<std::int32_t>(Shape{copies}));

  for (int mode = 0; mode < 3; ++mode) {
    const bool crop = mode != 1, flip = mode != 0;
    INFO((crop ? "crop " : "") << (flip ? "flip" : ""));
    DataLoaderOptions opt;
    opt.batch_size = 13;
    opt.seed = tinycnn::test::test_seed();
    opt.crop_padding = crop ? pad : 0;
    opt.horizontal_flip = flip;
    DataLoader loader(data, opt);
    std::set<std::pair<int, int>> shifts;
    int flipped = 0, total = 0, with_zeros = 0;
    for (std::uint64_t epoch = 0; epoch < 16; ++epoch)
      for (const auto& batch : run_epoch(loader, epoch))
        for (std::int64_t s = 0; s < batch.images.dim(0); ++s, ++total) {
          const float* out = batch.images.data() + s * h * w;
          // Exactly one reading explains the output: a shift within +-pad, mirrored or not.
          const auto plain = matching_shifts(image.data(), out, h, w, crop ? pad : 0, false);
          const auto mirrored = matching_shifts(image.data(), out, h, w, crop ? pad : 0, true);
          INFO("epoch " << epoch << ", sample " << batch.indices[std::size_t(s)]);
          REQUIRE(plain.size() + mirrored.size() == 1);
          if (!flip) REQUIRE(mirrored.empty());
          const auto shift = plain.empty() ? mirrored[0] : plain[0];
          shifts.insert(shift);
          flipped += int(!mirrored.empty());
          with_zeros += int(std::count(out, out + h * w, 0.0f) > 0);
          // A shift of (dy, dx) leaves exactly the rows and columns it uncovers zero.
          const int zeros = h * w - (h - std::abs(shift.first)) * (w - std::abs(shift.second));
          REQUIRE(std::count(out, out + h * w, 0.0f) == zeros);
        }
    REQUIRE(total == 16 * copies);
    if (crop) {
      CHECK(shifts.size() == std::size_t((2 * pad + 1) * (2 * pad + 1)));  // every offset occurs
      CHECK(with_zeros > 0);
    } else {
      CHECK(shifts == std::set<std::pair<int, int>>{{0, 0}});
      CHECK(with_zeros == 0);
    }
    if (flip) {
      // Probability 1/2 each: 1024 draws land within 7 standard deviations of 512.
      CHECK(flipped > 400);
      CHECK(flipped < 624);
    } else {
      CHECK(flipped == 0);
    }
  }

  // The mirror of a 1 x 1 x 3 image, checked by hand.
  const Dataset tiny(
      Tensor<float>(Shape{8, 1, 1, 3}, std::vector<float>{1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3,
                                                          1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3}),
      Tensor<std::int32_t>(Shape{8}));
  DataLoaderOptions opt;
  opt.batch_size = 8;
  opt.horizontal_flip = true;
  DataLoader loader(tiny, opt);
  int mirrors = 0;
  for (std::uint64_t epoch = 0; epoch < 4; ++epoch)
    for (const auto& batch : run_epoch(loader, epoch))
      for (std::int64_t s = 0; s < 8; ++s) {
        const std::vector<float> got(batch.images.data() + 3 * s, batch.images.data() + 3 * s + 3);
        REQUIRE((got == std::vector<float>{1, 2, 3} || got == std::vector<float>{3, 2, 1}));
        mirrors += int(got[0] == 3);
      }
  CHECK(mirrors > 0);
  CHECK(mirrors < 32);
}

TEST_CASE("loader: augmentation is a function of (seed, epoch, sample)", "[io][loader]") {
  TINYCNN_SEED_INFO();
  const Dataset data = indexed_dataset(150, 2, 8, 8, 5);
  DataLoaderOptions opt;
  opt.batch_size = 7;
  opt.seed = tinycnn::test::test_seed();
  opt.crop_padding = 3;
  opt.horizontal_flip = true;
  opt.mean = {0.5f, 0.5f};
  opt.stddev = {0.25f, 0.5f};
  DataLoaderOptions other = opt;
  other.batch_size = 64;
  other.shuffle = false;
  other.prefetch = 1;
  DataLoader a(data, opt), b(data, other);
  const std::int64_t sample = 2 * 8 * 8;
  for (std::uint64_t epoch : {0, 5}) {
    std::map<std::int64_t, std::vector<float>> by_index;
    for (const auto& batch : run_epoch(b, epoch))
      for (std::size_t s = 0; s < batch.indices.size(); ++s)
        by_index[batch.indices[s]].assign(batch.images.data() + s * sample,
                                          batch.images.data() + (s + 1) * sample);
    REQUIRE(by_index.size() == 150);
    std::vector<float> one(sample);
    for (const auto& batch : run_epoch(a, epoch))
      for (std::size_t s = 0; s < batch.indices.size(); ++s) {
        const std::int64_t idx = batch.indices[s];
        INFO("epoch " << epoch << ", sample " << idx);
        REQUIRE(std::equal(by_index[idx].begin(), by_index[idx].end(),
                           batch.images.data() + s * sample));
        a.assemble_sample(epoch, idx, one.data());
        REQUIRE(one == by_index[idx]);
      }
  }
  // Another epoch draws other augmentations.
  std::vector<float> e0(sample), e1(sample);
  int differ = 0;
  for (std::int64_t i = 0; i < 150; ++i) {
    a.assemble_sample(0, i, e0.data());
    a.assemble_sample(1, i, e1.data());
    differ += int(e0 != e1);
  }
  CHECK(differ > 75);
  CHECK_THAT(error_of([&] { a.assemble_sample(0, 150, e0.data()); }),
             Catch::Contains("out of range"));
}

TEST_CASE("loader: stopping mid-epoch, restarting, and the empty dataset", "[io][loader]") {
  TINYCNN_SEED_INFO();
  const Dataset data = indexed_dataset(2000, 1, 28, 28, 9);
  DataLoaderOptions opt;
  opt.batch_size = 16;
  opt.crop_padding = 2;
  opt.horizontal_flip = true;
  opt.seed = tinycnn::test::test_seed();
  // Destroyed at every stage: before begin_epoch, right after it, after a few batches; the
  // background thread must be joined each time (a hang or a crash fails the run).
  for (int round = 0; round < 40; ++round) {
    DataLoader loader(data, opt);
    if (round % 4 == 0) continue;
    loader.begin_epoch(std::uint64_t(round));
    Batch b;
    for (int i = 0; i < round % 4 - 1; ++i) REQUIRE(loader.next(b));
  }
  // begin_epoch mid-epoch abandons the rest and starts over, whole.
  DataLoader loader(data, opt);
  CHECK_THAT(error_of([&] {
               Batch b;
               loader.next(b);
             }),
             Catch::Contains("begin_epoch"));
  loader.begin_epoch(0);
  Batch b;
  REQUIRE(loader.next(b));
  REQUIRE(loader.next(b));
  auto seen = all_indices(run_epoch(loader, 1));
  std::sort(seen.begin(), seen.end());
  CHECK(seen.size() == 2000);
  CHECK(std::adjacent_find(seen.begin(), seen.end()) == seen.end());

  const Dataset empty(Tensor<float>(Shape{0, 1, 28, 28}), Tensor<std::int32_t>(Shape{0}));
  DataLoader none(empty, opt);
  CHECK(none.batches_per_epoch() == 0);
  none.begin_epoch(0);
  CHECK_FALSE(none.next(b));
}

TEST_CASE("loader: a transform runs on each batch and its exceptions reach next()",
          "[io][loader]") {
  const Dataset data = indexed_dataset(50, 1, 2, 2, 13);
  DataLoaderOptions opt;
  opt.batch_size = 5;
  opt.shuffle = false;
  std::atomic<int> calls{0};
  opt.transform = [&](Batch& batch) {
    if (calls++ == 3) throw tinycnn::Error("transform failed on the fourth batch");
    batch.labels.fill(-7);
  };
  DataLoader loader(data, opt);
  for (std::uint64_t epoch : {0, 1}) {
    calls = 0;
    loader.begin_epoch(epoch);
    Batch b;
    for (int i = 0; i < 3; ++i) {
      REQUIRE(loader.next(b));
      CHECK(b.labels.to_vector() == std::vector<std::int32_t>(5, -7));
      CHECK(b.indices[0] == 5 * i);
    }
    CHECK_THAT(error_of([&] { loader.next(b); }), Catch::Contains("fourth batch"));
    CHECK_FALSE(loader.next(b));  // the epoch ended with the error
  }
  // Any exception type passes through unchanged.
  DataLoaderOptions opt2;
  opt2.transform = [](Batch&) { throw std::out_of_range("not a tinycnn error"); };
  DataLoader loader2(data, opt2);
  loader2.begin_epoch(0);
  Batch b;
  CHECK_THROWS_AS(loader2.next(b), std::out_of_range);
}

TEST_CASE("loader: options are validated", "[io][loader]") {
  const Dataset data = indexed_dataset(10, 3, 2, 2, 17);
  auto fails = [&](auto change, const char* fragment) {
    DataLoaderOptions opt;
    change(opt);
    INFO("expected: " << fragment);
    CHECK_THAT(error_of([&] { DataLoader loader(data, opt); }), Catch::Contains(fragment));
  };
  fails([](auto& o) { o.batch_size = 0; }, "batch_size must be >= 1, got 0");
  fails([](auto& o) { o.batch_size = -3; }, "batch_size must be >= 1, got -3");
  fails([](auto& o) { o.crop_padding = -1; }, "crop_padding must be >= 0, got -1");
  fails([](auto& o) { o.prefetch = 0; }, "prefetch must be >= 1");
  fails([](auto& o) { o.crop_padding = 3; }, "crop_padding 3 exceeds the image size 2 x 2");
  fails([](auto& o) { o.mean = {0, 0, 0}; }, "3 means and 0 stds");
  fails(
      [](auto& o) {
        o.mean = {0};
        o.stddev = {1};
      },
      "1 mean/std values but the images have 3 channels");
  fails(
      [](auto& o) {
        o.mean = {0, 0, 0};
        o.stddev = {1, 0, 1};
      },
      "std of channel 1 must be finite and > 0, got 0");
  fails(
      [](auto& o) {
        o.mean = {0, 0, 0};
        o.stddev = {1, 1, -2};
      },
      "std of channel 2 must be finite and > 0");
  fails(
      [](auto& o) {
        o.mean = {0, 0, 0};
        o.stddev = {1, 1, INFINITY};
      },
      "std of channel 2");
  fails(
      [](auto& o) {
        o.mean = {0, NAN, 0};
        o.stddev = {1, 1, 1};
      },
      "mean of channel 1 is not finite");
  DataLoaderOptions fine;
  fine.mean = {0.1f, 0.2f, 0.3f};
  fine.stddev = {1, 2, 3};
  fine.crop_padding = 2;  // as large as the image: all-zero crops are allowed
  CHECK_NOTHROW(DataLoader(data, fine));
}

TEST_CASE("dataset: the installed Fashion-MNIST files", "[io][dataset][fashion_mnist]") {
  const auto dir = tinycnn::io::find_fashion_mnist();
  if (!dir) {
    std::cout << "SKIPPED: Fashion-MNIST not installed\n";
    return;
  }
  INFO("directory " << *dir);
  for (bool train : {true, false}) {
    INFO((train ? "train" : "t10k"));
    const Dataset data = tinycnn::io::load_mnist(*dir, train);
    const std::int64_t n = train ? 60000 : 10000;
    REQUIRE(data.images.shape() == Shape{n, 1, 28, 28});
    REQUIRE(data.labels.shape() == Shape{n});
    std::vector<std::int64_t> counts(10, 0);
    for (std::int32_t l : data.labels.to_vector()) {
      REQUIRE(l >= 0);
      REQUIRE(l < 10);
      ++counts[std::size_t(l)];
    }
    // The classes are balanced exactly.
    CHECK(counts == std::vector<std::int64_t>(10, n / 10));
    const auto [lo, hi] = std::minmax_element(data.images.data(), data.images.data() + n * 784);
    CHECK(*lo == 0.0f);
    CHECK(*hi == 1.0f);
    // The published pixel mean of the training set is 0.2860 (test set 0.2868).
    const double mean =
        std::accumulate(data.images.data(), data.images.data() + n * 784, 0.0) / double(n * 784);
    CHECK(mean == Approx(train ? 0.2860 : 0.2868).margin(5e-4));
    // The first samples of each file: ankle boot (9), then T-shirt (0) in train; ankle boot (9),
    // pullover (2) in test.
    CHECK(data.labels.data()[0] == 9);
    CHECK(data.labels.data()[1] == (train ? 0 : 2));

    if (!train) {
      // One augmented epoch over the test set, as a training loop would read it.
      DataLoaderOptions opt;
      opt.batch_size = 128;
      opt.crop_padding = 2;
      opt.horizontal_flip = true;
      opt.mean = {0.2860f};
      opt.stddev = {0.3530f};
      DataLoader loader(data, opt);
      CHECK(loader.batches_per_epoch() == 79);
      std::vector<std::int64_t> seen_counts(10, 0);
      for (const auto& batch : run_epoch(loader, 0))
        for (std::int32_t l : batch.labels.to_vector()) ++seen_counts[std::size_t(l)];
      CHECK(seen_counts == counts);
    }
  }
}

// Not part of the regular run (hidden tag): the numbers in docs/notes/data.md.
//   tinycnn_tests "[throughput]"
TEST_CASE("dataset: Fashion-MNIST load time and loader throughput", "[.][throughput]") {
  const auto dir = tinycnn::io::find_fashion_mnist();
  if (!dir) {
    std::cout << "SKIPPED: Fashion-MNIST not installed\n";
    return;
  }
  using clock = std::chrono::steady_clock;
  auto seconds = [](clock::time_point a, clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
  };
  double best_load = 1e9;
  Dataset train;
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = clock::now();
    train = tinycnn::io::load_mnist(*dir, true);
    best_load = std::min(best_load, seconds(t0, clock::now()));
  }
  REQUIRE(train.size() == 60000);
  std::cout << "load_mnist(train): " << best_load << " s (best of 3)\n";

  for (int augment = 0; augment < 2; ++augment) {
    DataLoaderOptions opt;
    opt.batch_size = 128;
    opt.mean = {0.2860f};
    opt.stddev = {0.3530f};
    opt.crop_padding = augment ? 2 : 0;
    opt.horizontal_flip = augment != 0;
    DataLoader loader(train, opt);
    std::int64_t batches = 0;
    const auto t0 = clock::now();
    // The consumer only takes batches: this is the rate of the background thread.
    Batch batch;
    for (std::uint64_t epoch = 0; epoch < 3; ++epoch) {
      loader.begin_epoch(epoch);
      while (loader.next(batch)) ++batches;
    }
    const double s = seconds(t0, clock::now());
    REQUIRE(batches == 3 * 469);
    std::cout << "DataLoader batch 128, shuffle, normalise"
              << (augment ? ", crop pad 2 + flip" : "") << ": " << double(batches) / s
              << " batches/s (" << double(batches * 128) / s << " images/s)\n";
  }
}
