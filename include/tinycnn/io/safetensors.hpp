// Safetensors reading and writing (the format of Hugging Face and PyTorch weight files): a reader
// that validates the whole header before handing out anything, and an atomic writer.
//
// Layout: 8-byte little-endian header length N, N bytes of JSON
//   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"key": "value", ...}}
// then the byte buffer; offsets are relative to the buffer start, tensors are row-major and
// little-endian. POSIX file calls (pread, fsync, rename) keep reads consistent and writes atomic.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tinycnn/core/error.hpp"
#include "tinycnn/core/shape.hpp"
#include "tinycnn/core/tensor.hpp"

namespace tinycnn::io {

static_assert(std::endian::native == std::endian::little,
              "tinycnn::io safetensors: the format is little-endian and this host is not; "
              "byte swapping is not implemented");

// The element types of the format (names as written in the header).
enum class Dtype { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

inline constexpr std::string_view dtype_name(Dtype d) noexcept {
  switch (d) {
    case Dtype::F64:
      return "F64";
    case Dtype::F32:
      return "F32";
    case Dtype::F16:
      return "F16";
    case Dtype::BF16:
      return "BF16";
    case Dtype::I64:
      return "I64";
    case Dtype::I32:
      return "I32";
    case Dtype::I16:
      return "I16";
    case Dtype::I8:
      return "I8";
    case Dtype::U8:
      return "U8";
    case Dtype::BOOL:
      return "BOOL";
  }
  return "?";
}

inline constexpr std::size_t dtype_size(Dtype d) noexcept {
  switch (d) {
    case Dtype::F64:
    case Dtype::I64:
      return 8;
    case Dtype::F32:
    case Dtype::I32:
      return 4;
    case Dtype::F16:
    case Dtype::BF16:
    case Dtype::I16:
      return 2;
    case Dtype::I8:
    case Dtype::U8:
    case Dtype::BOOL:
      return 1;
  }
  return 0;
}

inline constexpr bool dtype_is_floating(Dtype d) noexcept {
  return d == Dtype::F64 || d == Dtype::F32 || d == Dtype::F16 || d == Dtype::BF16;
}

inline std::optional<Dtype> parse_dtype(std::string_view s) noexcept {
  for (Dtype d : {Dtype::F64, Dtype::F32, Dtype::F16, Dtype::BF16, Dtype::I64, Dtype::I32,
                  Dtype::I16, Dtype::I8, Dtype::U8, Dtype::BOOL})
    if (dtype_name(d) == s) return d;
  return std::nullopt;
}

// The dtype a C++ element type is stored as (float -> F32, std::int64_t -> I64, bool -> BOOL, ...).
template <class T>
constexpr Dtype dtype_of() {
  using U = std::remove_cv_t<T>;
  if constexpr (std::is_same_v<U, bool>)
    return Dtype::BOOL;
  else if constexpr (std::is_same_v<U, double>)
    return Dtype::F64;
  else if constexpr (std::is_same_v<U, float>)
    return Dtype::F32;
  else if constexpr (std::is_integral_v<U> && std::is_signed_v<U> && sizeof(U) == 8)
    return Dtype::I64;
  else if constexpr (std::is_integral_v<U> && std::is_signed_v<U> && sizeof(U) == 4)
    return Dtype::I32;
  else if constexpr (std::is_integral_v<U> && std::is_signed_v<U> && sizeof(U) == 2)
    return Dtype::I16;
  else if constexpr (std::is_integral_v<U> && std::is_signed_v<U> && sizeof(U) == 1)
    return Dtype::I8;
  else if constexpr (std::is_integral_v<U> && std::is_unsigned_v<U> && sizeof(U) == 1)
    return Dtype::U8;
  else
    static_assert(detail::kAlwaysFalse<T>, "safetensors: no dtype for this element type");
}

template <class T>
inline constexpr bool kHasDtype =
    std::is_same_v<std::remove_cv_t<T>, bool> || std::is_same_v<std::remove_cv_t<T>, float> ||
    std::is_same_v<std::remove_cv_t<T>, double> ||
    (std::is_integral_v<T> && std::is_signed_v<T> && sizeof(T) <= 8) ||
    (std::is_integral_v<T> && std::is_unsigned_v<T> && sizeof(T) == 1);

// Headers above this size are refused (the reference implementation's limit).
inline constexpr std::uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

namespace detail {

// IEEE binary16 -> float, subnormals, infinities and NaN included.
inline float half_to_float(std::uint16_t h) noexcept {
  const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
  if (exp == 0) {
    const float f = std::ldexp(float(man), -24);  // zero or subnormal: man * 2^-24
    return sign ? -f : f;
  }
  const std::uint32_t bits =
      exp == 31 ? sign | 0x7f800000u | (man << 13) : sign | ((exp + 112u) << 23) | (man << 13);
  return std::bit_cast<float>(bits);
}

// bfloat16 is the upper half of a float.
inline float bfloat16_to_float(std::uint16_t b) noexcept {
  return std::bit_cast<float>(std::uint32_t(b) << 16);
}

// Element i of a little-endian buffer of dtype d, as double (floating dtypes) ...
inline double load_floating(const unsigned char* p, Dtype d, std::size_t i) noexcept {
  switch (d) {
    case Dtype::F64: {
      double v;
      std::memcpy(&v, p + 8 * i, 8);
      return v;
    }
    case Dtype::F32: {
      float v;
      std::memcpy(&v, p + 4 * i, 4);
      return v;
    }
    case Dtype::F16: {
      std::uint16_t v;
      std::memcpy(&v, p + 2 * i, 2);
      return half_to_float(v);
    }
    case Dtype::BF16: {
      std::uint16_t v;
      std::memcpy(&v, p + 2 * i, 2);
      return bfloat16_to_float(v);
    }
    default:
      return 0;
  }
}

// ... or as int64 (integer dtypes and BOOL; every one of them fits).
inline std::int64_t load_integer(const unsigned char* p, Dtype d, std::size_t i) noexcept {
  switch (d) {
    case Dtype::I64: {
      std::int64_t v;
      std::memcpy(&v, p + 8 * i, 8);
      return v;
    }
    case Dtype::I32: {
      std::int32_t v;
      std::memcpy(&v, p + 4 * i, 4);
      return v;
    }
    case Dtype::I16: {
      std::int16_t v;
      std::memcpy(&v, p + 2 * i, 2);
      return v;
    }
    case Dtype::I8:
      return std::int8_t(p[i]);
    case Dtype::U8:
    case Dtype::BOOL:
      return p[i];
    default:
      return 0;
  }
}

template <class T>
bool integer_fits(std::int64_t v) noexcept {
  if constexpr (std::is_same_v<T, bool>) {
    return v == 0 || v == 1;
  } else if constexpr (std::is_signed_v<T>) {
    return v >= std::int64_t(std::numeric_limits<T>::min()) &&
           v <= std::int64_t(std::numeric_limits<T>::max());
  } else {
    return v >= 0 && std::uint64_t(v) <= std::uint64_t(std::numeric_limits<T>::max());
  }
}

inline std::string errno_text(int err) {
  return std::string(std::strerror(err));
}

// Read exactly `bytes` at `offset`; false on a short read or an error (errno kept).
inline bool pread_all(int fd, void* dst, std::size_t bytes, std::uint64_t offset) {
  auto* out = static_cast<unsigned char*>(dst);
  while (bytes > 0) {
    const ::ssize_t got = ::pread(fd, out, bytes, ::off_t(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      if (got == 0) errno = 0;
      return false;
    }
    out += got, bytes -= std::size_t(got), offset += std::uint64_t(got);
  }
  return true;
}

inline bool write_all(int fd, const void* src, std::size_t bytes) {
  const auto* in = static_cast<const unsigned char*>(src);
  while (bytes > 0) {
    const ::ssize_t put = ::write(fd, in, bytes);
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) return false;
    in += put, bytes -= std::size_t(put);
  }
  return true;
}

// A file descriptor closed on scope exit.
class FileDescriptor {
 public:
  FileDescriptor() = default;
  explicit FileDescriptor(int fd) noexcept : fd_(fd) {}
  FileDescriptor(FileDescriptor&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  FileDescriptor& operator=(FileDescriptor&& o) noexcept {
    if (this != &o) reset(std::exchange(o.fd_, -1));
    return *this;
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() { reset(); }
  int get() const noexcept { return fd_; }
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// A piece of the bytes write_file_atomically writes.
struct ByteRange {
  const void* data;
  std::size_t size;
};

// The directory part of `path` ("." for a bare name) and the name within it.
inline std::pair<std::string, std::string> split_path(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return {".", path};
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

// Temporaries of write_file_atomically are named "<name>.tmp.<pid>.<16 hex digits>".
inline bool is_temporary_of(std::string_view entry, std::string_view name) {
  if (entry.size() <= name.size() + 5 || entry.substr(0, name.size()) != name ||
      entry.substr(name.size(), 5) != ".tmp.")
    return false;
  entry.remove_prefix(name.size() + 5);
  const auto dot = entry.find('.');
  if (dot == 0 || dot == std::string_view::npos || entry.size() - dot - 1 != 16) return false;
  for (std::size_t i = 0; i < entry.size(); ++i) {
    const char c = entry[i];
    const bool ok = i < dot    ? c >= '0' && c <= '9'
                    : i == dot ? true
                               : (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    if (!ok) return false;
  }
  return true;
}

// Removes the temporaries next to `path` that no live writer holds: a writer holds an flock() on
// its temporary from creation until after the rename, and the kernel drops the lock when the
// process dies, however it dies. A lock rather than the pid in the name, because pids are reused
// and a writer in another pid namespace sharing the directory has a pid that means nothing here.
// Best effort: what cannot be opened, locked or removed is left alone.
inline void remove_stale_temporaries(const std::string& path) {
  const auto [dir, name] = split_path(path);
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  const int dfd = ::dirfd(d);
  while (const dirent* e = ::readdir(d)) {
    if (!is_temporary_of(e->d_name, name)) continue;
    FileDescriptor fd(::openat(dfd, e->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    if (fd.get() >= 0 && ::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) ::unlinkat(dfd, e->d_name, 0);
  }
  ::closedir(d);
}

// Writes `parts`, one after another, to `path` atomically: a fresh temporary file in the same
// directory (so that rename() stays within one file system) is written, fsync'ed and renamed over
// `path`. On any error the temporary is removed, `path` is untouched and tinycnn::Error is thrown,
// its message starting "<who>: '<path>': ". A writer killed part way leaves only its temporary
// ("<path>.tmp.<pid>.<hex>"), which the next successful write to `path` removes. Shared by every
// writer in tinycnn::io.
inline void write_file_atomically(const std::string& path, std::span<const ByteRange> parts,
                                  std::string_view who) {
  auto fail = [&](auto&&... args) {
    tinycnn::detail::throw_error(who, ": '", path, "': ", args...);
  };
  std::random_device rd;
  std::mt19937_64 rng((std::uint64_t(rd()) << 32) ^ rd() ^
                      std::uint64_t(std::chrono::steady_clock::now().time_since_epoch().count()));
  std::string tmp;
  FileDescriptor fd;
  for (int attempt = 0; attempt < 16 && fd.get() < 0; ++attempt) {
    char suffix[17];
    std::snprintf(suffix, sizeof suffix, "%016llx", static_cast<unsigned long long>(rng()));
    tmp = path + ".tmp." + std::to_string(::getpid()) + "." + suffix;
    const int f = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (f < 0) {
      if (errno != EEXIST) fail("cannot create temporary file '", tmp, "': ", errno_text(errno));
      continue;
    }
    fd.reset(f);
    // Marks the temporary as in use (see remove_stale_temporaries). Another writer's clean-up may
    // have locked and removed it between open() and here: then take a new name. On a file system
    // without flock() the clean-up cannot lock either and removes nothing.
    struct ::stat st {};
    const bool lost = ::flock(f, LOCK_EX | LOCK_NB) != 0
                          ? errno == EWOULDBLOCK || errno == EINTR
                          : ::fstat(f, &st) != 0 || st.st_nlink == 0;
    if (lost) fd.reset();
  }
  if (fd.get() < 0) fail("cannot create a unique temporary file next to it");

  auto abandon = [&](const std::string& what, int err) {
    ::unlink(tmp.c_str());  // before the lock goes with the descriptor
    fd.reset();
    fail(what, " '", tmp, "': ", errno_text(err));
  };
  for (const ByteRange& part : parts)
    if (part.size && !write_all(fd.get(), part.data, part.size)) abandon("cannot write", errno);
  if (::fsync(fd.get()) != 0) abandon("cannot fsync", errno);
  // Renamed while still open and locked, so that no clean-up takes it for a dead writer's; close()
  // has nothing left to report once fsync() has succeeded.
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fd.reset();
    fail("cannot rename the temporary file over it: ", errno_text(err));
  }
  fd.reset();
  // Make the rename itself durable; the data is already in place, so a failure here is not fatal.
  const std::string dir = split_path(path).first;
  if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  remove_stale_temporaries(path);
}

}  // namespace detail

// A safetensors file, opened and fully validated by the constructor. The file stays open, so
// tensors read later come from the file that was validated even if its path is replaced meanwhile;
// each tensor() call reads only that tensor's bytes.
class SafetensorsFile {
 public:
  struct Entry {
    std::string name;
    Dtype dtype;
    Shape shape;
    std::uint64_t begin, end;  // byte offsets within the buffer
  };

  explicit SafetensorsFile(const std::string& path) : path_(path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail("cannot open: ", detail::errno_text(errno));
    fd_.reset(fd);
    struct ::stat st {};
    if (::fstat(fd, &st) != 0) fail("cannot stat: ", detail::errno_text(errno));
    if (!S_ISREG(st.st_mode)) fail("not a regular file");
    file_size_ = std::uint64_t(st.st_size);

    if (file_size_ < 8)
      fail("file is ", file_size_, " bytes, shorter than the 8-byte header length");
    unsigned char len_bytes[8];
    if (!detail::pread_all(fd, len_bytes, 8, 0)) fail("cannot read the header length");
    std::uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i) header_len = header_len << 8 | len_bytes[i];
    if (header_len > kMaxSafetensorsHeaderBytes)
      fail("header length ", header_len, " exceeds the limit of ", kMaxSafetensorsHeaderBytes,
           " bytes");
    if (header_len > file_size_ - 8)
      fail("header length ", header_len, " runs past the end of the file (", file_size_ - 8,
           " bytes follow the length)");
    data_start_ = 8 + header_len;
    buffer_size_ = file_size_ - data_start_;

    std::string header(std::size_t(header_len), '\0');
    if (!detail::pread_all(fd, header.data(), header.size(), 8)) fail("cannot read the header");
    parse_header(header);
  }

  SafetensorsFile(SafetensorsFile&&) noexcept = default;
  SafetensorsFile& operator=(SafetensorsFile&&) noexcept = default;

  const std::string& path() const noexcept { return path_; }
  // Tensor names in file (offset) order.
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    out.reserve(entries_.size());
    for (const auto& e : entries_) out.push_back(e.name);
    return out;
  }
  std::size_t size() const noexcept { return entries_.size(); }
  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  const Entry& entry(const std::string& name) const { return entries_[find(name)]; }
  Dtype dtype(const std::string& name) const { return entry(name).dtype; }
  const Shape& shape(const std::string& name) const { return entry(name).shape; }
  const std::map<std::string, std::string>& metadata() const noexcept { return metadata_; }
  // A metadata value; Error naming the key when absent.
  const std::string& metadata(const std::string& key) const {
    const auto it = metadata_.find(key);
    if (it == metadata_.end()) fail("no metadata key '", key, "'");
    return it->second;
  }

  // The tensor converted to T. Floating dtypes convert to floating T; integer and BOOL dtypes to
  // any arithmetic T whose range holds every value (checked). Floating to integer is refused.
  template <class T>
  Tensor<T, cpu> tensor(const std::string& name) const {
    static_assert(std::is_arithmetic_v<T>, "SafetensorsFile::tensor<T>: T must be arithmetic");
    const Entry& e = entry(name);
    const std::size_t n = std::size_t(e.shape.numel());
    const std::size_t bytes = std::size_t(e.end - e.begin);
    if constexpr (std::is_integral_v<T>) {
      if (dtype_is_floating(e.dtype))
        fail("tensor '", name, "' has dtype ", dtype_name(e.dtype),
             ", which is not converted to an integer type; load it as float or double");
    }
    auto out = Tensor<T, cpu>::uninitialized(e.shape);
    if (n == 0) return out;

    // Same representation: read straight into the tensor.
    if constexpr (!std::is_same_v<T, bool>) {
      constexpr bool kDirect = kHasDtype<T>;
      if constexpr (kDirect) {
        if (dtype_of<T>() == e.dtype) {
          read_bytes(e, out.data(), bytes);
          return out;
        }
      }
    }
    std::vector<unsigned char> raw(bytes);
    read_bytes(e, raw.data(), bytes);
    T* dst = out.data();
    if (dtype_is_floating(e.dtype)) {
      for (std::size_t i = 0; i < n; ++i) dst[i] = T(detail::load_floating(raw.data(), e.dtype, i));
    } else {
      for (std::size_t i = 0; i < n; ++i) {
        const std::int64_t v = detail::load_integer(raw.data(), e.dtype, i);
        if (e.dtype == Dtype::BOOL && v > 1)
          fail("tensor '", name, "' (BOOL) holds byte value ", v, " at element ", i,
               "; BOOL bytes must be 0 or 1");
        if constexpr (std::is_integral_v<T>) {
          if (!detail::integer_fits<T>(v))
            fail("tensor '", name, "' (", dtype_name(e.dtype), ") element ", i, " = ", v,
                 " does not fit the requested integer type");
        }
        dst[i] = T(v);
      }
    }
    return out;
  }

 private:
  template <class... Args>
  [[noreturn]] void fail(Args&&... args) const {
    tinycnn::detail::throw_error("safetensors: '", path_, "': ", std::forward<Args>(args)...);
  }

  std::size_t find(const std::string& name) const {
    const auto it = index_.find(name);
    if (it != index_.end()) return it->second;
    std::string have;
    const std::size_t show = std::min<std::size_t>(entries_.size(), 8);
    for (std::size_t i = 0; i < show; ++i) have += (i ? ", '" : "'") + entries_[i].name + "'";
    if (entries_.size() > show) have += ", ... (" + std::to_string(entries_.size()) + " in all)";
    fail("no tensor named '", name, "'; the file has ",
         entries_.empty() ? std::string("no tensors") : have);
  }

  void read_bytes(const Entry& e, void* dst, std::size_t bytes) const {
    if (!detail::pread_all(fd_.get(), dst, bytes, data_start_ + e.begin))
      fail("tensor '", e.name, "': cannot read ", bytes, " bytes at offset ", data_start_ + e.begin,
           errno ? ": " + detail::errno_text(errno) : std::string(" (file shrank?)"));
  }

  static std::uint64_t json_uint(const nlohmann::json& v, bool& ok) {
    ok = v.is_number_unsigned() || (v.is_number_integer() && v.get<std::int64_t>() >= 0);
    return ok ? v.get<std::uint64_t>() : 0;
  }

  void parse_header(const std::string& text) {
    // nlohmann::json stops at a NUL byte and ignores the rest; the reference implementation
    // refuses it, and so must we, or "{...}\0{...}" would read differently in the two.
    if (const auto nul = text.find('\0'); nul != std::string::npos)
      fail("header byte ", nul, " is a NUL byte; the header must be JSON text (padded with spaces)");
    nlohmann::json root;
    try {
      root = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& ex) {
      fail("header is not valid JSON: ", ex.what());
    }
    if (!root.is_object()) fail("header is not a JSON object (it is a ", root.type_name(), ")");

    for (auto it = root.begin(); it != root.end(); ++it) {
      const std::string& key = it.key();
      const nlohmann::json& value = it.value();
      if (key == "__metadata__") {
        if (!value.is_object())
          fail("__metadata__ is not an object (it is a ", value.type_name(), ")");
        for (auto m = value.begin(); m != value.end(); ++m) {
          if (!m.value().is_string())
            fail("__metadata__ value of '", m.key(), "' is not a string (it is a ",
                 m.value().type_name(), ")");
          metadata_.emplace(m.key(), m.value().get<std::string>());
        }
        continue;
      }
      entries_.push_back(parse_entry(key, value));
    }

    // Offsets must tile the buffer exactly: sorted, from 0, no gaps, no overlaps, no trailing
    // bytes.
    std::sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) {
      return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    std::uint64_t expected = 0;
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      const Entry& e = entries_[i];
      if (e.begin < expected)
        fail("tensor '", e.name, "': data_offsets [", e.begin, ", ", e.end, "] overlap tensor '",
             entries_[i - 1].name, "' which ends at ", expected);
      if (e.begin > expected)
        fail("tensor '", e.name, "': data_offsets [", e.begin, ", ", e.end, "] leave a gap of ",
             e.begin - expected, " bytes after offset ", expected);
      if (e.end > buffer_size_)
        fail("tensor '", e.name, "': data_offsets [", e.begin, ", ", e.end,
             "] run past the end of the data buffer (", buffer_size_, " bytes)");
      expected = e.end;
      index_.emplace(e.name, i);
    }
    if (expected != buffer_size_)
      fail("the data buffer holds ", buffer_size_, " bytes but the tensors cover only ", expected,
           " (", buffer_size_ - expected, " trailing bytes)");
  }

  Entry parse_entry(const std::string& name, const nlohmann::json& v) const {
    if (name.empty()) fail("a tensor has an empty name");
    if (!v.is_object())
      fail("tensor '", name, "': entry is not an object (it is a ", v.type_name(), ")");
    for (auto it = v.begin(); it != v.end(); ++it)
      if (it.key() != "dtype" && it.key() != "shape" && it.key() != "data_offsets")
        fail("tensor '", name, "': unknown field '", it.key(), "'");
    for (const char* field : {"dtype", "shape", "data_offsets"})
      if (!v.contains(field)) fail("tensor '", name, "': missing ", field);

    Entry e{name, Dtype::F32, Shape{}, 0, 0};
    const auto& dt = v["dtype"];
    if (!dt.is_string()) fail("tensor '", name, "': dtype is not a string");
    const auto parsed = parse_dtype(dt.get<std::string>());
    if (!parsed)
      fail("tensor '", name, "': unknown dtype '", dt.get<std::string>(),
           "' (supported: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)");
    e.dtype = *parsed;

    const auto& sh = v["shape"];
    if (!sh.is_array()) fail("tensor '", name, "': shape is not an array");
    if (sh.size() > std::size_t(Shape::kMaxRank))
      fail("tensor '", name, "': rank ", sh.size(), " exceeds tinycnn's maximum rank ",
           Shape::kMaxRank);
    std::vector<std::int64_t> dims;
    std::uint64_t count = 1;
    bool overflow = false;
    for (std::size_t i = 0; i < sh.size(); ++i) {
      const auto& d = sh[i];
      if (!d.is_number_integer())
        fail("tensor '", name, "': shape dimension ", i, " is not an integer (", d.dump(), ")");
      if (d.is_number_integer() && !d.is_number_unsigned() && d.get<std::int64_t>() < 0)
        fail("tensor '", name, "': shape dimension ", i, " is negative (", d.dump(), ")");
      const std::uint64_t u = d.get<std::uint64_t>();
      if (u > std::uint64_t(std::numeric_limits<std::int64_t>::max()))
        fail("tensor '", name, "': shape dimension ", i, " (", u, ") is too large");
      // Checked left to right, as the reference implementation and Shape do.
      if (u != 0 && count > std::numeric_limits<std::uint64_t>::max() / u) overflow = true;
      count *= u;
      dims.push_back(std::int64_t(u));
    }
    const std::uint64_t esize = dtype_size(e.dtype);
    if (overflow || count > std::uint64_t(std::numeric_limits<std::int64_t>::max()) ||
        count > std::numeric_limits<std::uint64_t>::max() / esize)
      fail("tensor '", name, "': shape ", sh.dump(),
           " has an element count that overflows 64 bits");
    try {
      e.shape = Shape(std::span<const std::int64_t>(dims.data(), dims.size()));
    } catch (const Error& ex) {
      fail("tensor '", name, "': ", ex.what());
    }

    const auto& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2)
      fail("tensor '", name, "': data_offsets is not an array [begin, end]");
    bool ok_b = false, ok_e = false;
    e.begin = json_uint(off[0], ok_b);
    e.end = json_uint(off[1], ok_e);
    if (!ok_b || !ok_e)
      fail("tensor '", name, "': data_offsets ", off.dump(), " are not non-negative integers");
    if (e.end < e.begin)
      fail("tensor '", name, "': data_offsets ", off.dump(), " end before they begin");
    if (e.end - e.begin != count * esize)
      fail("tensor '", name, "': byte size mismatch: shape ", e.shape, " of ", dtype_name(e.dtype),
           " needs ", count * esize, " bytes but data_offsets ", off.dump(), " span ",
           e.end - e.begin);
    return e;
  }

  std::string path_;
  detail::FileDescriptor fd_;
  std::uint64_t file_size_ = 0, data_start_ = 0, buffer_size_ = 0;
  std::vector<Entry> entries_;
  std::map<std::string, std::size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// Every tensor of a file, converted to T, by name.
template <class T>
std::map<std::string, Tensor<T, cpu>> load_safetensors(const std::string& path) {
  SafetensorsFile file(path);
  std::map<std::string, Tensor<T, cpu>> out;
  for (const auto& name : file.names()) out.emplace(name, file.template tensor<T>(name));
  return out;
}

// A non-owning reference to tensor bytes for the writer: binds to Tensor<T, cpu> (float, double,
// int32, int64, ...) without a copy, or to raw (dtype, shape, bytes), e.g. for F16 data.
class TensorRef {
 public:
  template <class T>
  TensorRef(const Tensor<T, cpu>& t)  // NOLINT(google-explicit-constructor): passed in lists
      : dtype_(dtype_of<T>()), shape_(t.shape()), data_(t.data()) {}
  template <class T>
  TensorRef(TensorView<T> v)  // NOLINT(google-explicit-constructor)
      : dtype_(dtype_of<T>()), shape_(v.shape), data_(v.data) {}
  template <class T>
  TensorRef(const T* data, Shape shape) : dtype_(dtype_of<T>()), shape_(shape), data_(data) {}
  TensorRef(Dtype dtype, Shape shape, const void* data)
      : dtype_(dtype), shape_(shape), data_(data) {}

  Dtype dtype() const noexcept { return dtype_; }
  const Shape& shape() const noexcept { return shape_; }
  const void* data() const noexcept { return data_; }
  std::uint64_t bytes() const noexcept {
    return std::uint64_t(shape_.numel()) * dtype_size(dtype_);
  }

 private:
  Dtype dtype_;
  Shape shape_;
  const void* data_;
};

// Writes the tensors and metadata to `path` atomically: a temporary file in the same directory is
// written, flushed and fsync'ed, then renamed over `path`. On any error the temporary is removed,
// `path` is untouched and tinycnn::Error is thrown. Tensors are laid out by decreasing element size
// (stable), so each tensor's bytes are aligned to its element size (the header is padded to a
// multiple of 8 with spaces, as the reference implementation does).
inline void save_safetensors(const std::string& path,
                             const std::vector<std::pair<std::string, TensorRef>>& tensors,
                             const std::map<std::string, std::string>& metadata = {}) {
  auto fail = [&](auto&&... args) {
    tinycnn::detail::throw_error("save_safetensors: '", path, "': ", args...);
  };
  std::set<std::string> seen;
  for (const auto& [name, ref] : tensors) {
    if (name.empty()) fail("a tensor has an empty name");
    if (name == "__metadata__") fail("'__metadata__' is reserved and cannot name a tensor");
    if (!seen.insert(name).second) fail("tensor name '", name, "' appears twice");
    if (ref.bytes() > 0 && ref.data() == nullptr) fail("tensor '", name, "' has no data");
  }

  std::vector<std::size_t> order(tensors.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return dtype_size(tensors[a].second.dtype()) > dtype_size(tensors[b].second.dtype());
  });

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    auto& m = header["__metadata__"] = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
  }
  std::uint64_t offset = 0;
  for (std::size_t i : order) {
    const auto& [name, ref] = tensors[i];
    nlohmann::ordered_json e = nlohmann::ordered_json::object();
    e["dtype"] = std::string(dtype_name(ref.dtype()));
    e["shape"] = std::vector<std::int64_t>(ref.shape().begin(), ref.shape().end());
    e["data_offsets"] = {offset, offset + ref.bytes()};
    header[name] = std::move(e);
    offset += ref.bytes();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  if (text.size() > kMaxSafetensorsHeaderBytes)
    fail("header of ", text.size(), " bytes exceeds the limit of ", kMaxSafetensorsHeaderBytes);

  unsigned char len_bytes[8];
  const std::uint64_t len = text.size();
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<unsigned char>(len >> (8 * i));
  std::vector<detail::ByteRange> parts{{len_bytes, 8}, {text.data(), text.size()}};
  for (std::size_t i : order) {
    const TensorRef& ref = tensors[i].second;
    parts.push_back({ref.data(), std::size_t(ref.bytes())});
  }
  detail::write_file_atomically(path, parts, "save_safetensors");
}

}  // namespace tinycnn::io
