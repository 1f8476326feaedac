// Images in and out: 8-bit PNG/JPEG/BMP/PNM decoding and PNG/JPEG encoding through stb, area and
// bilinear resizing, and the conversions between images and the (1, 3, H, W) tensors that
// pretrained CNNs (Caffe's VGG, torchvision's models) take.
//
// stb_image and stb_image_write are compiled into each translation unit that includes this header,
// with internal linkage (STB_IMAGE_STATIC, STB_IMAGE_WRITE_STATIC), so tinycnn stays header-only
// and needs only the stb headers (Debian: libstb-dev), never a library to link. A program may use
// its own stb elsewhere; only a translation unit that includes an stb_image*.h before this header
// is refused (at compile time).
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "tinycnn/core/error.hpp"
#include "tinycnn/core/random.hpp"
#include "tinycnn/core/shape.hpp"
#include "tinycnn/core/tensor.hpp"
#include "tinycnn/io/safetensors.hpp"  // detail::FileDescriptor, pread_all, write_file_atomically

// ---- stb, private to this translation unit ---------------------------------------------------

#if defined(STBI_INCLUDE_STB_IMAGE_H) || defined(INCLUDE_STB_IMAGE_WRITE_H)
// This header compiles its own internal-linkage copy of stb: another stb_image*.h may follow it
// in a translation unit, or live in another one, but must not come first.
#error "include tinycnn/io/image.hpp before any stb_image*.h: it compiles its own copy of stb"
#endif

#if __has_include(<stb/stb_image.h>) && __has_include(<stb/stb_image_write.h>)
#define TINYCNN_STB_IMAGE_HEADER <stb/stb_image.h>
#define TINYCNN_STB_IMAGE_WRITE_HEADER <stb/stb_image_write.h>
#elif __has_include(<stb_image.h>) && __has_include(<stb_image_write.h>)
#define TINYCNN_STB_IMAGE_HEADER <stb_image.h>
#define TINYCNN_STB_IMAGE_WRITE_HEADER <stb_image_write.h>
#else
#error "tinycnn/io/image.hpp needs stb_image.h and stb_image_write.h (Debian: libstb-dev)"
#endif

namespace tinycnn::io::detail {

// stb's internal consistency checks throw instead of calling assert(): the library never aborts.
[[noreturn]] inline void stb_check_failed(const char* condition) {
  tinycnn::detail::throw_error("stb: internal check failed: ", condition);
}

// PNG deflate through zlib (already a tinycnn dependency): smaller files than stb's own
// compressor. Returns malloc'ed memory, as stb_image_write frees it with free().
inline unsigned char* stb_zlib_compress(unsigned char* data, int data_len, int* out_len,
                                        int quality) {
  uLongf bound = ::compressBound(uLong(data_len));
  auto* out = static_cast<unsigned char*>(std::malloc(bound));
  if (!out) return nullptr;
  if (::compress2(out, &bound, data, uLong(data_len), std::clamp(quality, 1, 9)) != Z_OK) {
    std::free(out);
    return nullptr;
  }
  *out_len = int(bound);
  return out;
}

}  // namespace tinycnn::io::detail

#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_STDIO  // files are read here, with errno-based messages
#define STBI_NO_LINEAR
// No TGA: it has no signature, so arbitrary bytes could decode as an image. No HDR/PSD/PIC/GIF.
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_ONLY_PNM
#define STBI_ASSERT(x) ((x) ? (void)0 : ::tinycnn::io::detail::stb_check_failed(#x))

#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#define STBIW_ASSERT(x) ((x) ? (void)0 : ::tinycnn::io::detail::stb_check_failed(#x))
#define STBIW_ZLIB_COMPRESS ::tinycnn::io::detail::stb_zlib_compress
#define STBIW_CRC32(buffer, len) static_cast<unsigned int>(::crc32(0L, (buffer), uInt(len)))

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#endif
#if defined(__NVCC__)
#pragma nv_diagnostic push
#pragma nv_diag_suppress 177  // static function declared but never referenced
#pragma nv_diag_suppress 550  // variable set but never used
#endif
#include TINYCNN_STB_IMAGE_HEADER
#include TINYCNN_STB_IMAGE_WRITE_HEADER
#if defined(__NVCC__)
#pragma nv_diagnostic pop
#endif
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
#undef STB_IMAGE_IMPLEMENTATION
#undef STB_IMAGE_WRITE_IMPLEMENTATION

namespace tinycnn::io {

// ---- the image type --------------------------------------------------------------------------

// An 8-bit image: `channels` interleaved samples per pixel (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA),
// rows top to bottom, pixels left to right (HWC, row-major).
struct Image {
  std::int64_t width = 0, height = 0, channels = 0;
  std::vector<std::uint8_t> pixels;
};

// Limits on every image made, loaded or saved here: a side of at most 65535 pixels (PNG readers
// commonly refuse more, JPEG cannot hold more) and at most 2^30 pixels in all.
inline constexpr std::int64_t kMaxImageSide = 65535;
inline constexpr std::int64_t kMaxImagePixels = std::int64_t(1) << 30;
// Files above this size are refused before they are read.
inline constexpr std::int64_t kMaxImageFileBytes = std::int64_t(1) << 30;

// How pixels become the input of a pretrained CNN.
enum class Preprocess {
  // Caffe's VGG (Simonyan & Zisserman; neural-style, chainer-gogh): BGR order, 0..255 range,
  // minus the ImageNet mean pixel (B, G, R) = (103.939, 116.779, 123.68).
  kCaffe,
  // torchvision's pretrained models: RGB order, 0..1 range, minus mean (0.485, 0.456, 0.406) and
  // divided by std (0.229, 0.224, 0.225), per channel.
  kTorchvision,
};

inline constexpr std::array<double, 3> kCaffeMeanBgr{103.939, 116.779, 123.68};
inline constexpr std::array<double, 3> kTorchvisionMeanRgb{0.485, 0.456, 0.406};
inline constexpr std::array<double, 3> kTorchvisionStdRgb{0.229, 0.224, 0.225};

namespace detail {

// Throws unless the image's fields are consistent and within the limits.
inline void check_image(const Image& image, std::string_view who) {
  TINYCNN_CHECK(image.channels >= 1 && image.channels <= 4, who, ": image has ", image.channels,
                " channels; expected 1 (grey), 2 (grey+alpha), 3 (RGB) or 4 (RGBA)");
  TINYCNN_CHECK(image.width >= 1 && image.height >= 1 && image.width <= kMaxImageSide &&
                    image.height <= kMaxImageSide,
                who, ": image is ", image.width, "x", image.height, "; each side must be 1..",
                kMaxImageSide);
  TINYCNN_CHECK(image.width * image.height <= kMaxImagePixels, who, ": image is ", image.width, "x",
                image.height, ", more than ", kMaxImagePixels, " pixels");
  const std::int64_t expected = image.width * image.height * image.channels;
  TINYCNN_CHECK(std::int64_t(image.pixels.size()) == expected, who, ": a ", image.width, "x",
                image.height, "x", image.channels, " image needs ", expected,
                " bytes, but pixels has ", image.pixels.size());
}

inline void check_size(std::int64_t width, std::int64_t height, std::string_view who) {
  TINYCNN_CHECK(width >= 1 && height >= 1 && width <= kMaxImageSide && height <= kMaxImageSide, who,
                ": size ", width, "x", height, " is invalid; each side must be 1..", kMaxImageSide);
  TINYCNN_CHECK(width * height <= kMaxImagePixels, who, ": size ", width, "x", height,
                " is more than ", kMaxImagePixels, " pixels");
}

inline std::uint8_t round_to_u8(double v) {
  return static_cast<std::uint8_t>(std::floor(std::clamp(v, 0.0, 255.0) + 0.5));
}

// The file's extension, lower-cased ("" when it has none).
inline std::string lower_extension(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  for (char& ch : ext) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  return ext;
}

// One output pixel along one axis: input pixels [first, first + weights.size()) and their weights.
struct Taps {
  std::int64_t first = 0;
  std::vector<float> weights;
};

// Resampling weights along one axis of `in` pixels resized to `out`, pixel centres aligned
// (x_in + 0.5 = (x_out + 0.5) * in / out). Shrinking averages the input pixels each output pixel
// covers, weighted by the overlap (the area, or box, filter); enlarging interpolates linearly
// between the two nearest input pixels, edges repeated.
inline std::vector<Taps> resample_taps(std::int64_t in, std::int64_t out) {
  std::vector<Taps> taps(static_cast<std::size_t>(out));
  const double scale = double(in) / double(out);  // input pixels per output pixel
  for (std::int64_t o = 0; o < out; ++o) {
    Taps& t = taps[std::size_t(o)];
    if (in == out) {
      t.first = o;
      t.weights = {1.0f};
    } else if (in > out) {
      const double lo = double(o) * scale, hi = double(o + 1) * scale;
      t.first = std::int64_t(std::floor(lo));
      const std::int64_t last = std::min<std::int64_t>(in - 1, std::int64_t(std::ceil(hi)) - 1);
      for (std::int64_t i = t.first; i <= last; ++i) {
        const double overlap = std::min(hi, double(i + 1)) - std::max(lo, double(i));
        t.weights.push_back(float(std::max(overlap, 0.0) / scale));
      }
    } else {
      const double centre = (double(o) + 0.5) * scale - 0.5;
      const std::int64_t i0 = std::int64_t(std::floor(centre));
      const float frac = float(centre - double(i0));
      if (i0 < 0) {
        t.first = 0;
        t.weights = {1.0f};
      } else if (i0 >= in - 1) {
        t.first = in - 1;
        t.weights = {1.0f};
      } else {
        t.first = i0;
        t.weights = {1.0f - frac, frac};
      }
    }
  }
  return taps;
}

// The header of a binary PNM (P5 grey, P6 RGB), read as stb reads it: magic, then width, height
// and maxval separated by whitespace and '#' comments, then one byte; the samples follow.
struct PnmHeader {
  std::int64_t width = 0, height = 0, maxval = 0, channels = 0;
  std::size_t data_offset = 0;
};

// Parsed here before stb sees the file, because stb's integer parser overflows (undefined
// behaviour) on long digit strings: a number above 65535 is refused as soon as it gets there.
// Returns an error message, empty when the header is fine.
inline std::string parse_pnm_header(const unsigned char* p, std::size_t n, PnmHeader& h) {
  std::size_t pos = 0;
  auto get = [&]() -> char { return pos < n ? char(p[pos++]) : '\0'; };
  auto at_eof = [&] { return pos >= n; };
  auto space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
  };
  get(), h.channels = get() == '6' ? 3 : 1;
  char c = get();
  auto skip_space = [&] {
    for (;;) {
      while (!at_eof() && space(c)) c = get();
      if (at_eof() || c != '#') return;
      while (!at_eof() && c != '\n' && c != '\r') c = get();
    }
  };
  auto integer = [&](const char* what, std::int64_t& out) -> std::string {
    out = 0;
    while (!at_eof() && c >= '0' && c <= '9') {
      out = out * 10 + (c - '0');
      if (out > 65535) return tinycnn::detail::concat("PNM ", what, " is larger than 65535");
      c = get();
    }
    return {};
  };
  std::string err;
  skip_space();
  if (!(err = integer("width", h.width)).empty()) return err;
  skip_space();
  if (!(err = integer("height", h.height)).empty()) return err;
  skip_space();
  if (!(err = integer("maxval", h.maxval)).empty()) return err;
  if (h.maxval < 1) return "PNM maxval is 0 (or missing); it must be 1..65535";
  h.data_offset = pos;
  return {};
}

// The JPEG tables stb 2.27 trusts, checked before stb reads the file (stbi_info included):
//   - a Huffman table (DHT) of more than 256 codes: stb writes them past the end of its 256-entry
//     arrays;
//   - a scan using a Huffman or quantisation table that no DHT or DQT before it defines: stb
//     allocates its decoder uninitialised and decodes heap garbage (a different image on each
//     run, heap contents leaking into the pixels).
// The segments are walked as stb walks them, from the SOI marker (after any 0xFF fill bytes),
// skipping stray bytes between segments as stb does; the rest of a malformed file is left to stb.
// Returns an error message, empty for a file that is not a JPEG or whose tables are fine.
inline std::string check_jpeg_tables(const unsigned char* p, std::size_t n) {
  std::size_t i = 0;
  while (i < n && p[i] == 0xFF) ++i;
  if (i == 0 || i >= n || p[i] != 0xD8) return {};
  ++i;
  // stb reads zeros past the end of the file, and reads a segment's contents by what they
  // declare, whatever the segment's length says: so does this walk.
  auto byte = [&](std::size_t at) -> unsigned { return at < n ? p[at] : 0; };
  bool dc[4] = {}, ac[4] = {}, quant[4] = {}, progressive = false;
  std::vector<std::pair<unsigned, unsigned>> components;  // (id, quantisation table) from SOF
  while (i + 1 < n) {
    if (p[i] != 0xFF) {  // padding between segments
      ++i;
      continue;
    }
    const unsigned marker = p[i + 1];
    if (marker == 0xFF) {  // fill byte
      ++i;
      continue;
    }
    i += 2;
    if (marker == 0xD9) return {};                                       // EOI
    if ((marker >= 0xD0 && marker <= 0xD7) || marker == 0x01) continue;  // RSTn, TEM
    const std::size_t len = byte(i) << 8 | byte(i + 1), seg = i + 2, end = i + len;
    if (len < 2) return {};
    if (marker == 0xC4) {  // DHT: tables of class/id, 16 code counts, the symbols
      // Tables while the segment has bytes left, the last one read on past its end if it says so.
      for (std::size_t j = seg; j < end;) {
        const unsigned cls = byte(j) >> 4, id = byte(j) & 15;
        if (cls > 1 || id > 3) break;  // stb refuses the segment before building the table
        std::size_t symbols = 0;
        for (std::size_t k = 1; k <= 16; ++k) symbols += byte(j + k);
        if (symbols > 256)
          return tinycnn::detail::concat("JPEG Huffman table ", cls ? "AC " : "DC ", id,
                                         " declares ", symbols, " codes; at most 256 exist");
        (cls ? ac : dc)[id] = true;
        j += 17 + symbols;
      }
    } else if (marker == 0xDB) {  // DQT: tables of precision/id, 64 values of 1 or 2 bytes
      for (std::size_t j = seg; j < end; j += 1 + (byte(j) >> 4 ? 128 : 64))
        if ((byte(j) & 15) <= 3) quant[byte(j) & 15] = true;
    } else if (marker >= 0xC0 && marker <= 0xC2) {  // SOF0/1/2: components (id, sampling, table)
      progressive = marker == 0xC2;
      components.clear();
      for (std::size_t k = 0; k < byte(seg + 5); ++k)
        components.emplace_back(byte(seg + 6 + 3 * k), byte(seg + 8 + 3 * k));
    } else if (marker == 0xDA) {  // SOS: components (id, DC/AC tables), Ss, Se, Ah/Al
      const std::size_t ns = byte(seg);
      const unsigned ss = byte(seg + 1 + 2 * ns), ah = byte(seg + 3 + 2 * ns) >> 4;
      const bool uses_dc = !progressive || (ss == 0 && ah == 0), uses_ac = !progressive || ss > 0;
      for (std::size_t k = 0; k < ns; ++k) {
        const unsigned id = byte(seg + 1 + 2 * k), tables = byte(seg + 2 + 2 * k);
        const unsigned td = tables >> 4, ta = tables & 15;
        if (uses_dc && td <= 3 && !dc[td])
          return tinycnn::detail::concat("JPEG scan uses DC Huffman table ", td,
                                         ", which no DHT segment before it defines");
        if (uses_ac && ta <= 3 && !ac[ta])
          return tinycnn::detail::concat("JPEG scan uses AC Huffman table ", ta,
                                         ", which no DHT segment before it defines");
        for (const auto& [cid, tq] : components)
          if (cid == id && tq <= 3 && !quant[tq])
            return tinycnn::detail::concat("JPEG component ", id, " uses quantisation table ", tq,
                                           ", which no DQT segment before its scan defines");
      }
      // The entropy-coded data runs to the next marker: 0xFF, any number of 0xFF fill bytes,
      // then a byte other than 0 (a stuffed 0xFF) and RSTn, as stb's bit reader takes them.
      for (i = end; i < n;) {
        if (p[i++] != 0xFF) continue;
        std::size_t k = i;
        while (k < n && p[k] == 0xFF) ++k;
        if (k < n && (p[k] == 0 || (p[k] >= 0xD0 && p[k] <= 0xD7))) {
          i = k + 1;
          continue;
        }
        i = k - 1;  // the marker, as 0xFF and its code
        break;
      }
      continue;
    }
    i = end;
  }
  return {};
}

// Removes the empty IDAT chunks of a PNG (they hold no data): stb 2.27 reads an empty IDAT
// that comes before any data into a null buffer (memcpy with a null pointer, undefined
// behaviour). Chunks are walked up to IEND or the first one that runs past the end of the file.
inline void drop_empty_png_idat(std::vector<unsigned char>& bytes) {
  if (bytes.size() < 8 || std::memcmp(bytes.data(), "\x89PNG\r\n\x1a\n", 8) != 0) return;
  for (std::size_t at = 8; at + 12 <= bytes.size();) {
    const unsigned char* c = bytes.data() + at;
    const std::uint64_t len = std::uint64_t(c[0]) << 24 | std::uint64_t(c[1]) << 16 |
                              std::uint64_t(c[2]) << 8 | c[3];
    if (std::memcmp(c + 4, "IEND", 4) == 0 || at + 12 + len > bytes.size()) return;
    if (len == 0 && std::memcmp(c + 4, "IDAT", 4) == 0)
      bytes.erase(bytes.begin() + std::ptrdiff_t(at), bytes.begin() + std::ptrdiff_t(at + 12));
    else
      at += std::size_t(12 + len);
  }
}

// A file too short for the pixels its header declares is refused before stb allocates them: stb
// allocates the whole image from the header, then fills what a BMP lacks with zeros, leaves what a
// PNM lacks uninitialised, and fails a PNG or JPEG only after the allocation, so that a 100-byte
// file could claim 2^30 pixels. The bounds:
//   PNG   the pixel bits, deflated at most 1032:1 (deflate's limit), and every chunk inside;
//   JPEG  at least one bit (a DC coefficient's code) per 8x8 block of the full-size grid;
//   BMP   the pixel array at its offset, rows padded to 4 bytes (stb reads uncompressed BMPs only);
//   PNM   the header and width * height * channels samples of 1 or 2 bytes (binary P5/P6 only).
// Returns an error message, empty when the file can hold the image.
inline std::string check_image_data_size(const unsigned char* p, std::size_t n, std::int64_t w,
                                         std::int64_t h) {
  const auto size = std::uint64_t(n);
  auto u16le = [&](std::size_t at) { return std::uint64_t(p[at]) | std::uint64_t(p[at + 1]) << 8; };
  auto u32le = [&](std::size_t at) { return u16le(at) | u16le(at + 2) << 16; };
  auto too_short = [&](std::uint64_t need, const char* what) {
    return tinycnn::detail::concat("the file is ", size, " bytes, too short for a ", w, "x", h,
                                   " image: ", what, " need at least ", need, " bytes (truncated?)");
  };
  const auto W = std::uint64_t(w), H = std::uint64_t(h);
  std::size_t soi = 0;  // stb takes any number of 0xFF fill bytes before a JPEG's SOI marker
  while (soi < n && p[soi] == 0xFF) ++soi;
  if (n >= 8 && std::memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0) {
    // The chunks up to IEND must lie inside the file: stb allocates an IDAT chunk's declared
    // length (up to 2 GiB) before reading it. Bits per pixel come from IHDR, which stb lets an
    // Apple CgBI chunk precede; 1 if there is none.
    std::uint64_t bits = 1;
    for (std::size_t at = 8; at + 8 <= n;) {
      const std::uint64_t len = std::uint64_t(p[at]) << 24 | std::uint64_t(p[at + 1]) << 16 |
                                std::uint64_t(p[at + 2]) << 8 | p[at + 3];
      const unsigned char* type = p + at + 4;
      if (at + 12 + len > size) {
        std::string name;
        for (int k = 0; k < 4; ++k)
          name += std::isalpha(type[k]) ? char(type[k]) : '?';
        return tinycnn::detail::concat("PNG chunk '", name, "' at byte ", at, " declares ", len,
                                       " bytes, past the end of the file (", size, " bytes)");
      }
      if (std::memcmp(type, "IHDR", 4) == 0 && len >= 13) {
        const unsigned color = p[at + 17];
        bits = std::uint64_t(p[at + 16]) * (color == 2 ? 3 : color == 4 ? 2 : color == 6 ? 4 : 1);
      }
      if (std::memcmp(type, "IEND", 4) == 0) break;
      at += std::size_t(12 + len);
    }
    const std::uint64_t raw = (W * H * std::max<std::uint64_t>(bits, 1) + 7) / 8;
    if (size * 1032 < raw) return too_short((raw + 1031) / 1032, "its deflated pixels");
  } else if (soi >= 1 && soi < n && p[soi] == 0xD8) {
    const std::uint64_t blocks = ((W + 7) / 8) * ((H + 7) / 8);
    if (size * 8 < blocks) return too_short((blocks + 7) / 8, "its 8x8 blocks");
  } else if (n >= 2 && p[0] == 'B' && p[1] == 'M') {
    if (n < 30) return too_short(30, "the BMP headers");
    const std::uint64_t bpp = u16le(u32le(14) == 12 ? 24 : 28);
    // stb refuses other depths too, but only after allocating the image.
    if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32)
      return tinycnn::detail::concat("BMP of ", bpp,
                                     " bits per pixel is not supported (1, 4, 8, 16, 24 or 32)");
    const std::uint64_t need = u32le(10) + (W * bpp + 31) / 32 * 4 * H;
    if (size < need) return too_short(need, "the pixel array and the headers before it");
  } else if (n >= 2 && p[0] == 'P' && (p[1] == '5' || p[1] == '6')) {
    PnmHeader pnm;
    if (std::string err = parse_pnm_header(p, n, pnm); !err.empty()) return err;
    const std::uint64_t need = pnm.data_offset + W * H * std::uint64_t(pnm.channels) *
                                                     (pnm.maxval > 255 ? 2 : 1);
    if (size < need) return too_short(need, "the header and the samples");
  }
  return {};
}

}  // namespace detail

// ---- making images ---------------------------------------------------------------------------

// A width x height image with every sample set to `value`.
inline Image make_image(std::int64_t width, std::int64_t height, int channels,
                        std::uint8_t value = 0) {
  detail::check_size(width, height, "make_image");
  TINYCNN_CHECK(channels >= 1 && channels <= 4, "make_image: channels must be 1..4, got ",
                channels);
  Image image{width, height, channels, {}};
  image.pixels.assign(static_cast<std::size_t>(width * height * channels), value);
  return image;
}

// A width x height image of independent samples uniform in 0..255: sample i is a pure function
// of (seed, i) (tinycnn's counter-based generator), so the same seed gives the same image anywhere.
inline Image noise_image(std::int64_t width, std::int64_t height, std::uint64_t seed,
                         int channels = 3) {
  Image image = make_image(width, height, channels);
  for (std::size_t i = 0; i < image.pixels.size(); ++i)
    image.pixels[i] = static_cast<std::uint8_t>(tinycnn::detail::uniform01(seed, i) * 256.0f);
  return image;
}

// ---- files -----------------------------------------------------------------------------------

// Decodes a PNG, JPEG, BMP or PNM (PPM/PGM) file into an 8-bit image with `channels` channels:
// 1..4 converts (grey <-> RGB, alpha added as opaque or dropped), 0 keeps the file's own count.
// 16-bit PNGs are reduced to 8 bits; JPEG EXIF orientation is not applied. The dimensions are
// read and checked against kMaxImageSide and kMaxImagePixels, and against the file's size (a file
// too short to hold the pixels its header declares, e.g. a truncated BMP or PNM, is refused),
// before anything is decoded. Throws tinycnn::Error naming the file and the reason.
inline Image load_image(const std::filesystem::path& path, int channels = 3) {
  const std::string name = path.string();
  auto fail = [&](auto&&... args) {
    tinycnn::detail::throw_error("load_image: '", name, "': ", args...);
  };
  if (channels < 0 || channels > 4) fail("channels must be 0 (as stored) or 1..4, got ", channels);

  std::vector<unsigned char> bytes;
  {
    const int f = ::open(name.c_str(), O_RDONLY | O_CLOEXEC);
    if (f < 0) fail("cannot open: ", detail::errno_text(errno));
    detail::FileDescriptor fd(f);
    struct ::stat st {};
    if (::fstat(f, &st) != 0) fail("cannot stat: ", detail::errno_text(errno));
    if (!S_ISREG(st.st_mode)) fail("not a regular file");
    if (st.st_size == 0) fail("file is empty");
    if (std::int64_t(st.st_size) > kMaxImageFileBytes)
      fail("file is ", std::int64_t(st.st_size), " bytes, more than the limit of ",
           kMaxImageFileBytes);
    bytes.resize(std::size_t(st.st_size));
    if (!detail::pread_all(f, bytes.data(), bytes.size(), 0))
      fail("cannot read ", bytes.size(), " bytes",
           errno ? ": " + detail::errno_text(errno) : std::string(" (file shrank?)"));
  }

  // stb's reason for a failure; it is empty when a truncated PNG ends in a zero "chunk type".
  auto stb_reason = [] {
    const char* r = stbi_failure_reason();
    return std::string(r && *r ? r : "corrupt or truncated data");
  };
  // What stb 2.27 mishandles in a header is refused before stb reads it.
  detail::PnmHeader pnm;
  if (bytes.size() >= 2 && bytes[0] == 'P' && (bytes[1] == '5' || bytes[1] == '6')) {
    if (std::string err = detail::parse_pnm_header(bytes.data(), bytes.size(), pnm); !err.empty())
      fail(err);
  }
  if (std::string err = detail::check_jpeg_tables(bytes.data(), bytes.size()); !err.empty())
    fail(err);
  detail::drop_empty_png_idat(bytes);
  int w = 0, h = 0, stored = 0;
  if (!stbi_info_from_memory(bytes.data(), int(bytes.size()), &w, &h, &stored))
    fail("not a readable image (stb_image: ", stb_reason(),
         "); supported formats: PNG, JPEG, BMP, PNM");
  if (w < 1 || h < 1 || w > kMaxImageSide || h > kMaxImageSide)
    fail("image is ", w, "x", h, "; each side must be 1..", kMaxImageSide);
  if (std::int64_t(w) * h > kMaxImagePixels)
    fail("image is ", w, "x", h, ", more than ", kMaxImagePixels, " pixels");
  if (std::string err = detail::check_image_data_size(bytes.data(), bytes.size(), w, h);
      !err.empty())
    fail(err);

  int dw = 0, dh = 0, dstored = 0;
  std::unique_ptr<stbi_uc, void (*)(void*)> decoded(nullptr, stbi_image_free);
  if (pnm.maxval > 255) {
    // stb 2.27 reads 16-bit PNM samples in the wrong byte order (it keeps the low byte) and
    // converts their channels with its 8-bit converter, reading past the end of its buffer. So
    // they are decoded here: the high byte of each big-endian sample, as stb reduces 16-bit PNGs,
    // and the channels converted by stb's 8-bit converter. check_image_data_size saw the samples.
    dw = w, dh = h, dstored = int(pnm.channels);
    const std::size_t samples = std::size_t(w) * std::size_t(h) * std::size_t(dstored);
    decoded.reset(static_cast<stbi_uc*>(std::malloc(samples)));
    if (!decoded) fail("out of memory for ", samples, " samples");
    for (std::size_t i = 0; i < samples; ++i) decoded.get()[i] = bytes[pnm.data_offset + 2 * i];
    if (channels && channels != dstored) {
      decoded.reset(stbi__convert_format(decoded.release(), dstored, channels, unsigned(w),
                                         unsigned(h)));  // frees its input
      if (!decoded) fail("out of memory converting ", dstored, " to ", channels, " channels");
    }
  } else {
    decoded.reset(stbi_load_from_memory(bytes.data(), int(bytes.size()), &dw, &dh, &dstored,
                                        channels));
    if (!decoded) fail("cannot decode (stb_image: ", stb_reason(), ")");
  }
  if (dw != w || dh != h) fail("decoded ", dw, "x", dh, " but the header says ", w, "x", h);

  Image image{w, h, channels ? channels : dstored, {}};
  const std::size_t n = std::size_t(w) * std::size_t(h) * std::size_t(image.channels);
  image.pixels.assign(decoded.get(), decoded.get() + n);
  return image;
}

// Encodes the image by the extension of `path` (.png, lossless, any channel count; .jpg or .jpeg,
// 1 or 3 channels, `jpeg_quality` 1..100) and writes it atomically: a temporary file in the same
// directory is written, fsync'ed and renamed over `path`, so a failed save leaves no partial file
// and an existing file is either kept or replaced whole. Throws tinycnn::Error naming the file.
inline void save_image(const std::filesystem::path& path, const Image& image,
                       int jpeg_quality = 95) {
  const std::string name = path.string();
  auto fail = [&](auto&&... args) {
    tinycnn::detail::throw_error("save_image: '", name, "': ", args...);
  };
  detail::check_image(image, "save_image: '" + name + "'");
  const std::string ext = detail::lower_extension(path);
  const bool png = ext == ".png", jpeg = ext == ".jpg" || ext == ".jpeg";
  if (!png && !jpeg)
    fail("unsupported extension '", path.extension().string(),
         "'; the format is chosen by the extension: .png, .jpg or .jpeg");
  if (jpeg && image.channels != 1 && image.channels != 3)
    fail("JPEG holds 1 (grey) or 3 (RGB) channels, the image has ", image.channels,
         "; save it as PNG to keep the alpha channel");
  if (jpeg && (jpeg_quality < 1 || jpeg_quality > 100))
    fail("jpeg_quality must be 1..100, got ", jpeg_quality);

  std::vector<unsigned char> encoded;
  auto append = [](void* context, void* data, int size) {
    auto* out = static_cast<std::vector<unsigned char>*>(context);
    const auto* bytes = static_cast<const unsigned char*>(data);
    out->insert(out->end(), bytes, bytes + size);
  };
  const int w = int(image.width), h = int(image.height), c = int(image.channels);
  const int ok =
      png ? stbi_write_png_to_func(append, &encoded, w, h, c, image.pixels.data(), w * c)
          : stbi_write_jpg_to_func(append, &encoded, w, h, c, image.pixels.data(), jpeg_quality);
  if (!ok || encoded.empty()) fail("stb_image_write could not encode the image");
  const detail::ByteRange part{encoded.data(), encoded.size()};
  detail::write_file_atomically(name, std::span<const detail::ByteRange>(&part, 1), "save_image");
}

// ---- resizing and sizes ----------------------------------------------------------------------

// The image resampled to width x height, each axis on its own: an area (box) filter where it
// shrinks, so every input pixel counts and nothing aliases; bilinear interpolation where it
// grows; a copy where it keeps its size. Channels are filtered independently (alpha is not
// premultiplied) and results are rounded to nearest.
inline Image resize(const Image& image, std::int64_t width, std::int64_t height) {
  detail::check_image(image, "resize");
  detail::check_size(width, height, "resize");
  const std::int64_t C = image.channels, W_in = image.width, H_in = image.height;
  const auto col_taps = detail::resample_taps(W_in, width);
  const auto row_taps = detail::resample_taps(H_in, height);

  // Horizontal pass into floats (H_in, width, C), then vertical pass to bytes (height, width, C).
  std::vector<float> rows(static_cast<std::size_t>(H_in * width * C));
#pragma omp parallel for schedule(static) if (H_in * width * C > (1 << 16))
  for (std::int64_t y = 0; y < H_in; ++y) {
    const std::uint8_t* src = image.pixels.data() + y * W_in * C;
    float* dst = rows.data() + y * width * C;
    for (std::int64_t x = 0; x < width; ++x) {
      const detail::Taps& t = col_taps[std::size_t(x)];
      for (std::int64_t c = 0; c < C; ++c) {
        float acc = 0;
        for (std::size_t k = 0; k < t.weights.size(); ++k)
          acc += t.weights[k] * float(src[(t.first + std::int64_t(k)) * C + c]);
        dst[x * C + c] = acc;
      }
    }
  }
  Image out{width, height, C,
            std::vector<std::uint8_t>(static_cast<std::size_t>(width * height * C))};
#pragma omp parallel for schedule(static) if (height * width * C > (1 << 16))
  for (std::int64_t y = 0; y < height; ++y) {
    const detail::Taps& t = row_taps[std::size_t(y)];
    std::vector<float> acc(static_cast<std::size_t>(width * C), 0.0f);
    for (std::size_t k = 0; k < t.weights.size(); ++k) {
      const float* src = rows.data() + (t.first + std::int64_t(k)) * width * C;
      for (std::int64_t i = 0; i < width * C; ++i) acc[std::size_t(i)] += t.weights[k] * src[i];
    }
    std::uint8_t* dst = out.pixels.data() + y * width * C;
    for (std::int64_t i = 0; i < width * C; ++i) dst[i] = detail::round_to_u8(acc[std::size_t(i)]);
  }
  return out;
}

// A size from a user's string, as (width, height): "N" makes the longer side of a src_w x src_h
// image N pixels and keeps the aspect ratio (the other side rounded, at least 1); "WxH" is taken
// as it is. Each side must end up 1..kMaxImageSide.
inline std::pair<std::int64_t, std::int64_t> parse_size(std::string_view text, std::int64_t src_w,
                                                        std::int64_t src_h) {
  auto fail = [&](auto&&... args) {
    tinycnn::detail::throw_error("parse_size: '", text, "': ", args...);
  };
  auto number = [&](std::string_view s) {
    std::int64_t v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size() || s.front() == '-' ||
        s.front() == '+')
      fail("expected N (the longer side, aspect ratio kept) or WxH, e.g. 512 or 640x480");
    if (v < 1 || v > kMaxImageSide) fail("each side must be 1..", kMaxImageSide);
    return v;
  };
  const std::size_t x = text.find('x');
  if (x != std::string_view::npos) {
    const std::int64_t w = number(text.substr(0, x)), h = number(text.substr(x + 1));
    return {w, h};
  }
  const std::int64_t n = number(text);
  if (src_w < 1 || src_h < 1)
    fail("the source size ", src_w, "x", src_h, " is needed to keep the aspect ratio");
  const bool wide = src_w >= src_h;
  const double other = double(wide ? src_h : src_w) * double(n) / double(wide ? src_w : src_h);
  const std::int64_t m = std::max<std::int64_t>(1, std::llround(other));
  return wide ? std::pair{n, m} : std::pair{m, n};
}

// ---- tensors ---------------------------------------------------------------------------------

// The tensor value of pixel values 0 and 255 in tensor channel `channel` (0..2) under `p`: the
// box a tensor must stay inside to be an image (e.g. for clamping during optimisation).
inline std::pair<double, double> channel_range(Preprocess p, int channel) {
  TINYCNN_CHECK(channel >= 0 && channel < 3, "channel_range: channel must be 0..2, got ", channel);
  if (p == Preprocess::kCaffe) {
    const double m = kCaffeMeanBgr[std::size_t(channel)];
    return {-m, 255.0 - m};
  }
  const double m = kTorchvisionMeanRgb[std::size_t(channel)];
  const double s = kTorchvisionStdRgb[std::size_t(channel)];
  return {(0.0 - m) / s, (1.0 - m) / s};
}

// The image as a (1, 3, H, W) host tensor, preprocessed for a pretrained CNN (see Preprocess).
// Grey images are repeated into three channels; images with alpha are refused (load them with
// channels = 3).
template <class T>
Tensor<T, cpu> to_tensor(const Image& image, Preprocess p) {
  static_assert(std::is_floating_point_v<T>, "to_tensor<T>: T must be float or double");
  detail::check_image(image, "to_tensor");
  TINYCNN_CHECK(image.channels == 1 || image.channels == 3, "to_tensor: the image has ",
                image.channels,
                " channels; a CNN takes RGB (3) or grey (1): load it with channels = 3");
  const std::int64_t H = image.height, W = image.width, HW = H * W, C = image.channels;
  auto out = Tensor<T, cpu>::uninitialized(Shape{1, 3, H, W});
  T* dst = out.data();
  for (std::int64_t c = 0; c < 3; ++c) {  // tensor channel
    const bool caffe = p == Preprocess::kCaffe;
    const std::int64_t src_c = C == 1 ? 0 : (caffe ? 2 - c : c);  // BGR or RGB
    const double scale = caffe ? 1.0 : 1.0 / (255.0 * kTorchvisionStdRgb[std::size_t(c)]);
    const double shift =
        caffe ? -kCaffeMeanBgr[std::size_t(c)]
              : -kTorchvisionMeanRgb[std::size_t(c)] / kTorchvisionStdRgb[std::size_t(c)];
    for (std::int64_t i = 0; i < HW; ++i)
      dst[c * HW + i] = T(double(image.pixels[std::size_t(i * C + src_c)]) * scale + shift);
  }
  return out;
}

// The inverse of to_tensor: a (1, 3, H, W) or (3, H, W) tensor back to an RGB image, each value
// un-normalised, clamped to 0..255 and rounded to nearest. A NaN or infinite value throws
// tinycnn::Error naming its position, so a diverged optimisation never writes a silent image.
template <class T>
Image from_tensor(const Tensor<T, cpu>& tensor, Preprocess p) {
  static_assert(std::is_floating_point_v<T>, "from_tensor<T>: T must be float or double");
  const Shape& s = tensor.shape();
  const bool ok = (s.rank() == 4 && s[0] == 1 && s[1] == 3) || (s.rank() == 3 && s[0] == 3);
  TINYCNN_CHECK(ok, "from_tensor: expected a (1, 3, H, W) or (3, H, W) tensor, got shape ", s);
  const std::int64_t H = s[-2], W = s[-1], HW = H * W;
  detail::check_size(W, H, "from_tensor");
  const T* src = tensor.data();
  for (std::int64_t i = 0; i < 3 * HW; ++i)
    if (!std::isfinite(src[i]))
      tinycnn::detail::throw_error("from_tensor: element (channel ", i / HW, ", y ", (i % HW) / W,
                                   ", x ", i % W, ") is ", double(src[i]),
                                   "; the image would not be finite");
  Image image = make_image(W, H, 3);
  for (std::int64_t c = 0; c < 3; ++c) {  // tensor channel
    const bool caffe = p == Preprocess::kCaffe;
    const std::int64_t dst_c = caffe ? 2 - c : c;
    const double scale = caffe ? 1.0 : 255.0 * kTorchvisionStdRgb[std::size_t(c)];
    const double shift =
        caffe ? kCaffeMeanBgr[std::size_t(c)] : 255.0 * kTorchvisionMeanRgb[std::size_t(c)];
    for (std::int64_t i = 0; i < HW; ++i)
      image.pixels[std::size_t(i * 3 + dst_c)] =
          detail::round_to_u8(double(src[c * HW + i]) * scale + shift);
  }
  return image;
}

}  // namespace tinycnn::io
