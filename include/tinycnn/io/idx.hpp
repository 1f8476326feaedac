// IDX reading (the format of MNIST and Fashion-MNIST), raw or gzip-compressed, validated before and
// while the data is read: a damaged or hostile file raises tinycnn::Error and never allocates more
// than the file can back.
//
// Layout: magic 0x00 0x00 <type> <rank>, then `rank` big-endian uint32 dimensions, then the
// elements, row-major and big-endian. Type codes: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
// 0x0D float32, 0x0E float64. A file starting with the gzip magic 0x1f 0x8b is inflated first
// (zlib), whatever its name; concatenated gzip members read as one stream, as gunzip reads them.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "tinycnn/core/error.hpp"
#include "tinycnn/core/shape.hpp"
#include "tinycnn/core/tensor.hpp"

namespace tinycnn::io {

// The element types of IDX; the enumerator values are the type codes of the header.
enum class IdxType : std::uint8_t {
  U8 = 0x08,
  I8 = 0x09,
  I16 = 0x0B,
  I32 = 0x0C,
  F32 = 0x0D,
  F64 = 0x0E
};

inline constexpr std::string_view idx_type_name(IdxType t) noexcept {
  switch (t) {
    case IdxType::U8:
      return "uint8";
    case IdxType::I8:
      return "int8";
    case IdxType::I16:
      return "int16";
    case IdxType::I32:
      return "int32";
    case IdxType::F32:
      return "float32";
    case IdxType::F64:
      return "float64";
  }
  return "?";
}

inline constexpr std::size_t idx_type_size(IdxType t) noexcept {
  switch (t) {
    case IdxType::U8:
    case IdxType::I8:
      return 1;
    case IdxType::I16:
      return 2;
    case IdxType::I32:
    case IdxType::F32:
      return 4;
    case IdxType::F64:
      return 8;
  }
  return 0;
}

inline constexpr bool idx_type_is_floating(IdxType t) noexcept {
  return t == IdxType::F32 || t == IdxType::F64;
}

// The IdxType of a header type code, or nullopt for a code the format does not define.
inline constexpr std::optional<IdxType> parse_idx_type(std::uint8_t code) noexcept {
  switch (code) {
    case 0x08:
    case 0x09:
    case 0x0B:
    case 0x0C:
    case 0x0D:
    case 0x0E:
      return IdxType(code);
    default:
      return std::nullopt;
  }
}

// Files of more dimensions than a Shape holds are refused.
inline constexpr int kMaxIdxRank = Shape::kMaxRank;

// Bytes of decompressed data past the declared end that are counted for the error message before
// giving up (a gzip bomb appended to a valid file must not be inflated to the end).
inline constexpr std::uint64_t kIdxTrailingCountLimit = std::uint64_t(1) << 20;

// The contents of an IDX file: the element type, the dimensions, and the elements in host byte
// order (already converted from big-endian), data.size() == numel() * element_size().
struct IdxArray {
  IdxType type = IdxType::U8;
  Shape shape{0};
  std::vector<std::uint8_t> data;

  std::int64_t numel() const noexcept { return shape.numel(); }
  std::size_t element_size() const noexcept { return idx_type_size(type); }

  // Element i as double (every IDX type converts exactly).
  double value(std::int64_t i) const {
    TINYCNN_CHECK(i >= 0 && i < numel(), "IdxArray::value: index ", i, " out of range for shape ",
                  shape);
    const std::uint8_t* p = data.data() + std::size_t(i) * element_size();
    switch (type) {
      case IdxType::U8:
        return *p;
      case IdxType::I8:
        return std::int8_t(*p);
      case IdxType::I16:
        return load<std::int16_t>(p);
      case IdxType::I32:
        return load<std::int32_t>(p);
      case IdxType::F32:
        return load<float>(p);
      case IdxType::F64:
        return load<double>(p);
    }
    return 0;
  }

  // The elements converted to T, same shape. Integer T needs an integer file type whose every
  // value fits T (checked); floating files are not converted to integers.
  template <class T>
  Tensor<T, cpu> to_tensor() const {
    static_assert(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>,
                  "IdxArray::to_tensor<T>: T must be a number type");
    if constexpr (std::is_integral_v<T>) {
      TINYCNN_CHECK(!idx_type_is_floating(type), "IdxArray::to_tensor: elements are ",
                    idx_type_name(type), ", which is not converted to an integer type");
    }
    auto out = Tensor<T, cpu>::uninitialized(shape);
    T* dst = out.data();
    const std::int64_t n = numel();
    // The common cases get tight loops; the rest go through value().
    if (type == IdxType::U8) {
      const std::uint8_t* src = data.data();
      for (std::int64_t i = 0; i < n; ++i) dst[i] = T(src[i]);
      return out;
    }
    for (std::int64_t i = 0; i < n; ++i) {
      const double v = value(i);
      if constexpr (std::is_integral_v<T>) {
        TINYCNN_CHECK(v >= double(std::numeric_limits<T>::lowest()) &&
                          v <= double(std::numeric_limits<T>::max()),
                      "IdxArray::to_tensor: element ", i, " = ", v,
                      " does not fit the requested integer type");
      }
      dst[i] = T(v);
    }
    return out;
  }

 private:
  template <class V>
  static V load(const std::uint8_t* p) noexcept {
    V v;
    std::memcpy(&v, p, sizeof(V));
    return v;
  }
};

namespace detail {

inline std::string idx_errno_text(int err) {
  return std::string(std::strerror(err));
}

// An open, regular, read-only file closed on scope exit.
class IdxFile {
 public:
  explicit IdxFile(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) fail("cannot open: ", idx_errno_text(errno));
    // The destructor does not run for a constructor that throws: close here on failure.
    struct ::stat st {};
    if (::fstat(fd_, &st) != 0) {
      const int err = errno;
      ::close(fd_);
      fail("cannot stat: ", idx_errno_text(err));
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd_);
      fail("not a regular file");
    }
    size_ = std::uint64_t(st.st_size);
  }
  IdxFile(const IdxFile&) = delete;
  IdxFile& operator=(const IdxFile&) = delete;
  ~IdxFile() {
    if (fd_ >= 0) ::close(fd_);
  }

  std::uint64_t size() const noexcept { return size_; }
  const std::string& path() const noexcept { return path_; }

  void rewind() {
    if (::lseek(fd_, 0, SEEK_SET) != 0) fail("cannot seek: ", idx_errno_text(errno));
  }

  // Up to `bytes` bytes at the current position; fewer only at the end of the file.
  std::size_t read_some(void* dst, std::size_t bytes) {
    auto* out = static_cast<unsigned char*>(dst);
    std::size_t done = 0;
    while (done < bytes) {
      const ::ssize_t got = ::read(fd_, out + done, bytes - done);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) fail("read error: ", idx_errno_text(errno));
      if (got == 0) break;
      done += std::size_t(got);
    }
    return done;
  }

  template <class... Args>
  [[noreturn]] void fail(Args&&... args) const {
    tinycnn::detail::throw_error("idx: '", path_, "': ", std::forward<Args>(args)...);
  }

 private:
  std::string path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

// The bytes of a file as a stream: the file itself, or its gzip decompression.
class IdxByteStream {
 public:
  IdxByteStream(IdxFile& file, bool gzip) : file_(file), gzip_(gzip) {
    if (!gzip_) return;
    in_.resize(std::size_t(1) << 18);
    std::memset(&zs_, 0, sizeof zs_);
    // 16 + MAX_WBITS: gzip wrapper only (its CRC-32 and length are checked at each member's end).
    const int rc = inflateInit2(&zs_, 16 + MAX_WBITS);
    if (rc != Z_OK) file_.fail("cannot start zlib inflate (code ", rc, ")");
    zs_live_ = true;
  }
  IdxByteStream(const IdxByteStream&) = delete;
  IdxByteStream& operator=(const IdxByteStream&) = delete;
  ~IdxByteStream() {
    if (zs_live_) inflateEnd(&zs_);
  }

  // Up to `bytes` bytes; fewer only at the end of the data. A corrupt or truncated gzip stream
  // throws.
  std::size_t read(void* dst, std::size_t bytes) {
    const std::size_t got =
        gzip_ ? inflate_some(static_cast<unsigned char*>(dst), bytes) : file_.read_some(dst, bytes);
    produced_ += got;
    return got;
  }

 private:
  std::size_t inflate_some(unsigned char* dst, std::size_t bytes) {
    std::size_t done = 0;
    while (done < bytes) {
      if (zs_.avail_in == 0 && !eof_) {
        const std::size_t got = file_.read_some(in_.data(), in_.size());
        if (got == 0) eof_ = true;
        zs_.next_in = in_.data();
        zs_.avail_in = uInt(got);
      }
      if (member_ended_) {
        // Bytes after a complete member must be another member (gunzip's rule).
        if (zs_.avail_in == 0 && eof_) break;
        if (inflateReset(&zs_) != Z_OK) file_.fail("cannot reset zlib inflate");
        member_ended_ = false;
      }
      const std::size_t chunk = std::min<std::size_t>(bytes - done, std::size_t(1) << 30);
      zs_.next_out = dst + done;
      zs_.avail_out = uInt(chunk);
      const int rc = inflate(&zs_, Z_NO_FLUSH);
      done += chunk - zs_.avail_out;
      switch (rc) {
        case Z_OK:
          break;
        case Z_STREAM_END:
          member_ended_ = true;
          break;
        case Z_BUF_ERROR:
          // No progress was possible: the input is exhausted inside a member.
          if (zs_.avail_in == 0 && eof_)
            file_.fail("truncated gzip stream: the compressed data ends inside the stream after ",
                       produced_ + done, " decompressed bytes");
          break;
        case Z_MEM_ERROR:
          throw OutOfMemory(
              tinycnn::detail::concat("idx: '", file_.path(), "': zlib inflate ran out of memory"),
              0, 0);
        default:  // Z_DATA_ERROR, Z_NEED_DICT, Z_STREAM_ERROR
          file_.fail("corrupt gzip stream (", zs_.msg ? zs_.msg : "zlib error", ", code ", rc,
                     ") after ", produced_ + done, " decompressed bytes");
      }
    }
    return done;
  }

  IdxFile& file_;
  bool gzip_;
  z_stream zs_{};
  bool zs_live_ = false;
  std::vector<unsigned char> in_;
  bool eof_ = false, member_ended_ = false;
  std::uint64_t produced_ = 0;
};

inline std::string idx_hex(unsigned v) {
  const char* digits = "0123456789ABCDEF";
  return std::string("0x") + digits[(v >> 4) & 15] + digits[v & 15];
}

inline std::string idx_dims_text(const std::int64_t* dims, int rank) {
  std::string s = "[";
  for (int i = 0; i < rank; ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

// Reverse the bytes of each element in place (big-endian file to little-endian host).
inline void idx_swap_bytes(std::uint8_t* p, std::size_t n, std::size_t size) noexcept {
  if (size == 1) return;
  for (std::size_t i = 0; i < n; ++i, p += size) std::reverse(p, p + size);
}

}  // namespace detail

// Reads an IDX file (raw or gzip). Every failure is a tinycnn::Error naming the file and the
// problem: missing or unreadable file, corrupt or truncated gzip stream, wrong magic, unknown type
// code, rank 0 or above kMaxIdxRank, dimensions whose byte count overflows, data shorter than the
// dimensions say, or bytes after the data. Raw files are checked against their size before the
// data buffer is allocated; gzip data is collected in a buffer that grows as bytes arrive, capped
// at the declared size, so a small file claiming a huge array fails without a huge allocation.
inline IdxArray read_idx(const std::string& path) {
  detail::IdxFile file(path);
  unsigned char probe[2] = {0, 0};
  const bool gzip = file.read_some(probe, 2) == 2 && probe[0] == 0x1f && probe[1] == 0x8b;
  file.rewind();
  detail::IdxByteStream in(file, gzip);
  const char* holder = gzip ? "the decompressed data" : "the file";

  unsigned char head[4];
  const std::size_t head_got = in.read(head, 4);
  if (head_got < 4)
    file.fail(holder, " is ", head_got, " bytes, shorter than the 4-byte IDX magic");
  if (head[0] != 0 || head[1] != 0)
    file.fail("wrong magic: the first two bytes are ", detail::idx_hex(head[0]), " ",
              detail::idx_hex(head[1]), ", an IDX file starts with 0x00 0x00");
  const auto type = parse_idx_type(head[2]);
  if (!type)
    file.fail("unknown type code ", detail::idx_hex(head[2]),
              " (IDX defines 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, "
              "0x0E float64)");
  const int rank = head[3];
  if (rank == 0) file.fail("rank 0: the header declares no dimensions");
  if (rank > kMaxIdxRank) file.fail("rank ", rank, " exceeds tinycnn's maximum rank ", kMaxIdxRank);

  unsigned char dim_bytes[4 * kMaxIdxRank];
  const std::size_t dim_need = 4 * std::size_t(rank);
  const std::size_t dim_got = in.read(dim_bytes, dim_need);
  if (dim_got < dim_need)
    file.fail("header truncated: rank ", rank, " needs ", dim_need,
              " bytes of dimensions after the magic, ", holder, " has ", dim_got);
  std::int64_t dims[kMaxIdxRank];
  std::uint64_t count = 1;
  bool overflow = false;
  for (int i = 0; i < rank; ++i) {
    const unsigned char* b = dim_bytes + 4 * i;
    const std::uint64_t d = std::uint64_t(b[0]) << 24 | std::uint64_t(b[1]) << 16 |
                            std::uint64_t(b[2]) << 8 | std::uint64_t(b[3]);
    dims[i] = std::int64_t(d);
    // Left to right, as Shape checks it: a zero after an overflowing prefix is still refused.
    if (d != 0 && count > std::numeric_limits<std::uint64_t>::max() / d) overflow = true;
    count *= d;
  }
  const std::string dims_text = detail::idx_dims_text(dims, rank);
  const std::uint64_t esize = idx_type_size(*type);
  constexpr auto kMaxBytes = std::min<std::uint64_t>(
      std::uint64_t(std::numeric_limits<std::int64_t>::max()), std::uint64_t(SIZE_MAX));
  if (overflow || count > kMaxBytes / esize)
    file.fail("dimensions ", dims_text, " of ", idx_type_name(*type),
              " hold a byte count that overflows 64 bits");
  const std::uint64_t need = count * esize;

  IdxArray out;
  out.type = *type;
  try {
    out.shape = Shape(std::span<const std::int64_t>(dims, std::size_t(rank)));
  } catch (const Error& ex) {
    file.fail("dimensions ", dims_text, ": ", ex.what());
  }
  auto truncated = [&](std::uint64_t have) {
    file.fail("truncated: dimensions ", dims_text, " of ", idx_type_name(*type), " need ", need,
              " data bytes, ", holder, " holds ", have, " after the ", 4 + dim_need,
              "-byte header");
  };
  auto trailing = [&](std::uint64_t extra, bool at_least) {
    file.fail(at_least ? "more than " : "", extra, " trailing bytes after the data (dimensions ",
              dims_text, " of ", idx_type_name(*type), " need ", need, " data bytes)");
  };

  if (!gzip) {
    // The size is known: refuse before allocating anything.
    const std::uint64_t header_bytes = 4 + dim_need;
    const std::uint64_t have = file.size() - std::min(file.size(), header_bytes);
    if (have < need) truncated(have);
    if (have > need) trailing(have - need, false);
    out.data.resize(std::size_t(need));
    const std::size_t got = in.read(out.data.data(), std::size_t(need));
    if (got < need) truncated(got);  // the file shrank since it was measured
  } else {
    // Grow geometrically as bytes arrive, never past what the header declares.
    constexpr std::uint64_t kFirstChunk = std::uint64_t(1) << 20;
    std::uint64_t filled = 0;
    while (filled < need) {
      const std::uint64_t cap = std::min(need, std::max(kFirstChunk, 2 * filled));
      out.data.resize(std::size_t(cap));
      const std::size_t want = std::size_t(cap - filled);
      const std::size_t got = in.read(out.data.data() + filled, want);
      filled += got;
      if (got < want) break;
    }
    if (filled < need) truncated(filled);
  }

  // Anything left is trailing data; count a bounded amount of it for the message.
  unsigned char scratch[4096];
  std::uint64_t extra = 0;
  while (extra <= kIdxTrailingCountLimit) {
    const std::size_t got = in.read(scratch, sizeof scratch);
    extra += got;
    if (got < sizeof scratch) break;
  }
  if (extra > kIdxTrailingCountLimit)
    trailing(kIdxTrailingCountLimit, true);
  else if (extra > 0)
    trailing(extra, false);

  if constexpr (std::endian::native == std::endian::little)
    detail::idx_swap_bytes(out.data.data(), std::size_t(count), std::size_t(esize));
  return out;
}

// An images file (rank 3: N, H, W) as float (N, 1, H, W), each element multiplied by `scale`
// (the default maps uint8 0..255 to 0..1).
inline Tensor<float, cpu> read_idx_images(const std::string& path, float scale = 1.f / 255) {
  const IdxArray a = read_idx(path);
  TINYCNN_CHECK(a.shape.rank() == 3, "idx: '", path,
                "': an images file must have rank 3 (N, H, W), got shape ", a.shape, " of ",
                idx_type_name(a.type));
  auto out = Tensor<float, cpu>::uninitialized(Shape{a.shape[0], 1, a.shape[1], a.shape[2]});
  float* dst = out.data();
  const std::int64_t n = a.numel();
  if (a.type == IdxType::U8) {
    // 256 possible values: convert each once, in double, then look up.
    float table[256];
    for (int v = 0; v < 256; ++v) table[v] = float(double(v) * double(scale));
    const std::uint8_t* src = a.data.data();
    for (std::int64_t i = 0; i < n; ++i) dst[i] = table[src[i]];
  } else {
    for (std::int64_t i = 0; i < n; ++i) dst[i] = float(a.value(i) * double(scale));
  }
  return out;
}

// A labels file (rank 1: N) of an integer type as int32 (N).
inline Tensor<std::int32_t, cpu> read_idx_labels(const std::string& path) {
  const IdxArray a = read_idx(path);
  TINYCNN_CHECK(a.shape.rank() == 1, "idx: '", path,
                "': a labels file must have rank 1 (N), got shape ", a.shape, " of ",
                idx_type_name(a.type));
  TINYCNN_CHECK(!idx_type_is_floating(a.type), "idx: '", path,
                "': labels must be integers, the file holds ", idx_type_name(a.type));
  return a.to_tensor<std::int32_t>();
}

}  // namespace tinycnn::io
