// The fuzzers' corpora as ordinary tests: every file of fuzz/corpus/<loader>/ (the seeds of
// tools/make_fuzz_corpus.py and what libFuzzer found, kept by tools/fuzz.sh keep) goes through the
// same calls as its fuzz target (fuzz/exercises.hpp). valid_* files must load; bad_* files must be
// refused with tinycnn::Error, never another exception. The files are listed at run time, so a file
// added to a corpus is tested without a change here.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "../../fuzz/exercises.hpp"
#include "support/temp_dir.hpp"

namespace fs = std::filesystem;
using Catch::Contains;

namespace {

const fs::path kCorpus = fs::path(TINYCNN_SOURCE_DIR) / "fuzz" / "corpus";

std::vector<fs::path> corpus_files(const std::string& loader) {
  std::vector<fs::path> out;
  const fs::path dir = kCorpus / loader;
  if (fs::is_directory(dir))
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_regular_file()) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

bool starts_with(const std::string& s, const char* prefix) {
  return s.rfind(prefix, 0) == 0;
}

// Feeds every file of one corpus to `exercise` and checks its outcome against its name.
void check_corpus(const std::string& loader,
                  const std::function<void(const std::string&)>& exercise) {
  const auto files = corpus_files(loader);
  INFO("corpus directory " << (kCorpus / loader));
  REQUIRE_FALSE(files.empty());
  std::size_t valid = 0, bad = 0;
  for (const auto& path : files) {
    const std::string name = path.filename().string();
    INFO(name);
    const bool want_valid = starts_with(name, "valid_");
    if (!want_valid && !starts_with(name, "bad_")) {
      FAIL_CHECK("corpus files are named valid_* (must load) or bad_* (must be refused)");
      continue;
    }
    (want_valid ? valid : bad) += 1;
    std::string outcome;
    try {
      exercise(path.string());
      outcome = "loaded";
    } catch (const tinycnn::Error& e) {
      outcome = std::string("tinycnn::Error: ") + e.what();
    } catch (const std::exception& e) {
      outcome = std::string("an exception that is not tinycnn::Error: ") + e.what();
    }
    INFO(outcome);
    if (want_valid)
      CHECK(outcome == "loaded");
    else
      CHECK(starts_with(outcome, "tinycnn::Error: "));
  }
  // Both kinds are there: a corpus of one kind would let a loader that always (or never) throws
  // pass.
  CHECK(valid > 0);
  CHECK(bad > 0);
}

}  // namespace

TEST_CASE("fuzz corpus: safetensors", "[io][fuzz][safetensors]") {
  check_corpus("safetensors", tinycnn::fuzz::exercise_safetensors);
}

TEST_CASE("fuzz corpus: caffemodel", "[io][fuzz][caffe]") {
  check_corpus("caffemodel", tinycnn::fuzz::exercise_caffemodel);
}

TEST_CASE("fuzz corpus: idx", "[io][fuzz][idx]") {
  check_corpus("idx", [](const std::string& path) { (void)tinycnn::fuzz::exercise_idx(path); });
}

TEST_CASE("fuzz corpus: image", "[io][fuzz][image]") {
  check_corpus("image", tinycnn::fuzz::exercise_image);
}

// ---- what fuzzing found, one case per fix (each input is also in the corpus) -------------------

TEST_CASE("fuzz findings: a safetensors header with a NUL byte is refused", "[io][fuzz][safetensors]") {
  // nlohmann::json stopped at the NUL and ignored the rest of the header: "{}\0..." loaded.
  const fs::path path = kCorpus / "safetensors" / "bad_header_json_nul_bytes.safetensors";
  REQUIRE_THROWS_WITH(tinycnn::io::SafetensorsFile(path.string()),
                      Contains("header byte 2 is a NUL byte"));
}

TEST_CASE("fuzz findings: image files too short for their declared pixels are refused",
          "[io][fuzz][image]") {
  // stb decoded these: a truncated BMP padded with zeros, a truncated PNM with uninitialised
  // samples, and files of a few hundred bytes declaring up to 20000x20000 pixels (allocated in
  // full before the data ran out, or decoded as zeros).
  const fs::path dir = kCorpus / "image";
  for (const char* name :
       {"bad_bmp_truncated_in_pixels.bmp", "bad_bmp_no_pixels.bmp", "bad_bmp_dims_huge_pixels_tiny.bmp",
        "bad_ppm_truncated_in_pixels.ppm", "bad_ppm_no_pixels.ppm", "bad_pgm_dims_huge_pixels_tiny.pgm",
        "bad_png_dims_huge_idat_tiny.png", "bad_jpeg_dims_large_scan_tiny.jpg"}) {
    INFO(name);
    CHECK_THROWS_WITH(tinycnn::io::load_image(dir / name, 0), Contains("too short for a"));
    CHECK_THROWS_WITH(tinycnn::io::load_image(dir / name, 3), Contains("too short for a"));
  }
  SECTION("the BMP message says how many bytes the pixels need") {
    // 5x4 at 24 bits: rows of 16 bytes after a 54-byte header, 20 bytes cut off.
    CHECK_THROWS_WITH(tinycnn::io::load_image(dir / "bad_bmp_truncated_in_pixels.bmp"),
                      Contains("the file is 98 bytes, too short for a 5x4 image: the pixel array "
                               "and the headers before it need at least 118 bytes"));
  }
}

TEST_CASE("fuzz findings: PNM headers with numbers stb cannot hold are refused", "[io][fuzz][image]") {
  // stb's PNM integer parser overflowed int (undefined behaviour) on long digit strings, and it
  // took maxval 0.
  const fs::path dir = kCorpus / "image";
  CHECK_THROWS_WITH(tinycnn::io::load_image(dir / "bad_pgm_width_beyond_int32.pgm"),
                    Contains("PNM width is larger than 65535"));
  CHECK_THROWS_WITH(tinycnn::io::load_image(dir / "bad_ppm_maxval_0.ppm"),
                    Contains("PNM maxval is 0"));
}

TEST_CASE("fuzz findings: the size bounds keep highly compressed images loadable", "[io][fuzz][image]") {
  // The bounds are what the formats cannot go below: deflate's 1032:1 for PNG, one bit per 8x8
  // block for JPEG. A uniform image compresses about as well as these formats allow.
  tinycnn::test::TempDir dir("tinycnn_fuzz_bounds");
  const auto flat = tinycnn::io::make_image(3000, 2000, 1, 0);
  for (const char* name : {"flat.png", "flat.jpg"}) {
    INFO(name);
    const fs::path path = dir.path() / name;
    tinycnn::io::save_image(path, flat, 1);
    const auto size = fs::file_size(path);
    INFO("file size " << size);
    const auto back = tinycnn::io::load_image(path, 0);
    CHECK(back.width == 3000);
    CHECK(back.height == 2000);
  }
}

TEST_CASE("fuzz findings: 16-bit PNM files convert their channels correctly", "[io][fuzz][image]") {
  // stb 2.27 converted the channels of 16-bit PNM data with its 8-bit converter, a heap overflow
  // (reading past the end of a buffer half the size), and kept the low byte of each big-endian
  // sample. Now 16-bit samples are reduced to their high byte, as stb reduces 16-bit PNGs.
  const fs::path dir = kCorpus / "image";
  using V = std::vector<std::uint8_t>;
  const auto grey = dir / "valid_handmade_16bit.pgm";  // 2x1 samples 0x1234, 0xffff
  CHECK(tinycnn::io::load_image(grey, 0).pixels == V{0x12, 0xff});
  CHECK(tinycnn::io::load_image(grey, 3).pixels == V{0x12, 0x12, 0x12, 0xff, 0xff, 0xff});
  CHECK(tinycnn::io::load_image(grey, 2).pixels == V{0x12, 255, 0xff, 255});
  // 2x1 RGB, maxval 1000, samples 0x0014, 0x283c, 0x5064 / 0x788c, 0xa0b4, 0xc8dc.
  const auto rgb = dir / "valid_handmade_16bit_rgb.ppm";
  CHECK(tinycnn::io::load_image(rgb, 0).pixels == V{0x00, 0x28, 0x50, 0x78, 0xa0, 0xc8});
  CHECK(tinycnn::io::load_image(rgb, 4).pixels ==
        V{0x00, 0x28, 0x50, 255, 0x78, 0xa0, 0xc8, 255});
  // Grey from RGB with stb's weights: (77 r + 150 g + 29 b) >> 8.
  CHECK(tinycnn::io::load_image(rgb, 1).pixels ==
        V{std::uint8_t((77 * 0x00 + 150 * 0x28 + 29 * 0x50) >> 8),
          std::uint8_t((77 * 0x78 + 150 * 0xa0 + 29 * 0xc8) >> 8)});
}

TEST_CASE("fuzz findings: an empty packed blob reads as no values", "[io][fuzz][caffe]") {
  // The protobuf reader passed the null data() of an empty vector to memcpy for a zero-length
  // field (undefined behaviour, reported by UBSan).
  const auto layers = tinycnn::io::read_caffemodel(
      kCorpus / "caffemodel" / "valid_layer_with_empty_packed_blob.caffemodel",
      [](std::string_view name) { return name == "empty"; });
  REQUIRE(layers.size() == 1);
  REQUIRE(layers[0].blobs.size() == 1);
  CHECK(layers[0].blobs[0].shape == std::vector<std::int64_t>{0});
  CHECK(layers[0].blobs[0].data.empty());
  CHECK(layers[0].blobs[0].double_data.empty());
}

TEST_CASE("fuzz findings: JPEG scans must use defined tables", "[io][fuzz][image]") {
  // stb's JPEG decoder state is allocated uninitialised, and a scan using a Huffman or
  // quantisation table the file never defines decoded heap garbage: a different result on each
  // run (bad_jpeg_no_dht.jpg loaded in one run of the corpus test and was refused in the next).
  const fs::path dir = kCorpus / "image";
  CHECK_THROWS_WITH(tinycnn::io::load_image(dir / "bad_jpeg_no_dht.jpg"),
                    Contains("Huffman table 1, which no DHT segment before it defines"));
  CHECK_THROWS_WITH(tinycnn::io::load_image(dir / "bad_jpeg_scan_uses_undefined_tables.jpg"),
                    Contains("JPEG scan uses DC Huffman table 3"));
  CHECK_THROWS_WITH(tinycnn::io::load_image(dir / "bad_jpeg_no_dqt.jpg"),
                    Contains("uses quantisation table 1, which no DQT segment before its scan"));
  // Baseline and progressive files with their tables load.
  CHECK_NOTHROW(tinycnn::io::load_image(dir / "valid_smooth.jpg"));
  CHECK_NOTHROW(tinycnn::io::load_image(dir / "valid_smooth_progressive.jpg"));
}

TEST_CASE("fuzz findings: PNG chunks must lie inside the file", "[io][fuzz][image]") {
  // stb allocated an IDAT chunk's declared length before reading it: 2 GiB for this 150-byte file
  // (found by the fuzz target's 256 MB allocation limit).
  CHECK_THROWS_WITH(
      tinycnn::io::load_image(kCorpus / "image" / "bad_png_chunk_length_past_end.png"),
      Contains("PNG chunk 'IDAT' at byte 33 declares 2130706"));
}

TEST_CASE("fuzz findings: JPEG Huffman tables of more than 256 codes are refused", "[io][fuzz][image]") {
  // stb 2.27 wrote the codes of such a table past the end of its 256-entry arrays (UBSan: index
  // 257 out of bounds in stbi__build_huffman), in stbi_info already. The first input is what
  // libFuzzer found, the second the same defect written by tools/make_fuzz_corpus.py.
  const fs::path dir = kCorpus / "image";
  CHECK_THROWS_WITH(tinycnn::io::load_image(dir / "bad_found_crash_jpeg_dht_more_than_256_codes.jpg"),
                    Contains("codes; at most 256 exist"));
  CHECK_THROWS_WITH(tinycnn::io::load_image(dir / "bad_jpeg_dht_more_than_256_codes.jpg"),
                    Contains("declares 512 codes; at most 256 exist"));
  // A DHT segment whose last table stb reads on past the segment's end, taking its code counts
  // from the next segment: found by libFuzzer after the first fix, which stopped at the end.
  CHECK_THROWS_WITH(
      tinycnn::io::load_image(dir / "bad_found_crash_jpeg_dht_counts_read_past_segment.jpg"),
      Contains("codes; at most 256 exist"));
  // A DHT segment that runs past the end of the file: stb reads it anyway (zeros past the end).
  CHECK_THROWS_WITH(
      tinycnn::io::load_image(dir / "bad_found_crash_jpeg_dht_segment_past_end_of_file.jpg"),
      Contains("codes; at most 256 exist"));
  // A DHT segment after a scan whose data holds 0xFF 0xFF 0xFF 0x00 (fill bytes, then a stuffed
  // 0xFF): stb reads on through it, a walk that took 0xFF 0xFF for a marker did not.
  CHECK_THROWS_WITH(
      tinycnn::io::load_image(dir / "bad_found_crash_jpeg_dht_after_scan_with_stuffed_fill_bytes.jpg"),
      Contains("codes; at most 256 exist"));
}

TEST_CASE("fuzz findings: empty PNG IDAT chunks are skipped", "[io][fuzz][image]") {
  // stb 2.27 read an empty IDAT chunk that comes before any data into a null buffer (memcpy from
  // a null pointer, reported by UBSan); such chunks are dropped before stb sees the file. The
  // image is the same as without the empty chunk.
  const fs::path dir = kCorpus / "image";
  const auto with_empty = tinycnn::io::load_image(dir / "valid_handmade_empty_idat_before_data.png", 0);
  const auto plain = tinycnn::io::load_image(dir / "valid_handmade_rgb_5x4.png", 0);
  CHECK(with_empty.width == 5);
  CHECK(with_empty.height == 4);
  CHECK(with_empty.pixels == plain.pixels);
  // What libFuzzer found: an empty IDAT, then one of corrupt data.
  CHECK_THROWS_WITH(tinycnn::io::load_image(dir / "bad_found_crash_png_empty_idat_first.png"),
                    Contains("cannot decode"));
}
