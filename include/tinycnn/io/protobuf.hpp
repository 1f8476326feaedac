// Protocol-buffer wire format read straight from a file, without libprotobuf: a buffered reader
// over a file descriptor that hands out one field at a time, bounds every length by the enclosing
// message and the file, and skips whatever the caller does not ask for with a seek.
//
// Wire format (https://protobuf.dev/programming-guides/encoding/): a message is a sequence of
// fields, each a varint tag (field number << 3 | wire type) followed by its payload:
//   0 varint, 1 fixed 64-bit, 2 length-delimited (varint length, then that many bytes: strings,
//   bytes, sub-messages, packed repeated scalars), 5 fixed 32-bit. 3 and 4 (groups) are refused;
//   6 and 7 do not exist. Repeated scalars may come packed (one wire-type-2 field) or one field per
//   value; proto2 parsers accept both, and so does this reader.
//
// Nothing is allocated before its size has been checked against the bytes that are left in the
// enclosing message (and so in the file): a length field claiming 2^40 bytes is an error, never an
// allocation. Errors are tinycnn::Error naming the file, the byte offset, the path of messages down
// to the field, and the field.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "tinycnn/core/error.hpp"
#include "tinycnn/io/safetensors.hpp"  // io::detail::FileDescriptor, pread_all, errno_text

namespace tinycnn::io::protobuf {

enum class WireType : std::uint8_t {
  kVarint = 0,
  kFixed64 = 1,
  kLengthDelimited = 2,
  kStartGroup = 3,
  kEndGroup = 4,
  kFixed32 = 5,
};

inline constexpr std::string_view wire_type_name(unsigned w) noexcept {
  constexpr std::string_view kNames[] = {"varint",      "64-bit",    "length-delimited",
                                         "start group", "end group", "32-bit"};
  return w < 6 ? kNames[w] : "invalid";
}

// Field numbers are 1 .. 2^29 - 1.
inline constexpr std::uint32_t kMaxFieldNumber = (1u << 29) - 1;
// Messages nested deeper than this are refused (libprotobuf's default recursion limit is 100).
inline constexpr int kDefaultMaxDepth = 100;

// One field of a message, as next() found it. Scalars are decoded already (value); a
// length-delimited field's payload is left in the file for the caller to read, enter or ignore.
struct Field {
  std::uint32_t number = 0;
  WireType wire = WireType::kVarint;
  std::uint64_t offset = 0;   // byte offset of the tag in the file
  std::uint64_t payload = 0;  // byte offset of the payload (after the tag, and the length)
  std::uint64_t size = 0;     // payload bytes
  std::uint64_t value = 0;    // varint value, or the bits of a fixed 32/64-bit value
  std::uint64_t end() const noexcept { return payload + size; }
};

// Names the fields of a message type in error messages ("data" for BlobProto field 5); nullptr
// when a number has no name.
using FieldNamer = const char* (*)(std::uint32_t number);

// A FieldNamer from a table: field_namer<kBlobFields> with
//   inline constexpr FieldName kBlobFields[] = {{5, "data"}, {7, "shape"}};
struct FieldName {
  std::uint32_t number;
  const char* name;
};
template <const auto& kTable>
const char* field_namer(std::uint32_t number) {
  for (const FieldName& f : kTable)
    if (f.number == number) return f.name;
  return nullptr;
}

namespace detail {

// Buffered positioned reads of one file: sequential reads come from a 64 KiB buffer, a seek inside
// the buffer only moves the cursor, a seek elsewhere drops it, and large reads bypass it.
class BufferedFile {
 public:
  static constexpr std::size_t kBufferBytes = std::size_t(1) << 16;

  // Opens and stats the file; on failure returns with ok() false and error() saying why.
  explicit BufferedFile(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      error_ = "cannot open: " + io::detail::errno_text(errno);
      return;
    }
    fd_.reset(fd);
    struct ::stat st {};
    if (::fstat(fd, &st) != 0) {
      error_ = "cannot stat: " + io::detail::errno_text(errno);
      return;
    }
    if (!S_ISREG(st.st_mode)) {
      error_ = "not a regular file";
      return;
    }
    size_ = std::uint64_t(st.st_size);
    buffer_.resize(kBufferBytes);
  }

  bool ok() const noexcept { return error_.empty(); }
  const std::string& error() const noexcept { return error_; }
  std::uint64_t size() const noexcept { return size_; }
  std::uint64_t position() const noexcept { return begin_ + cursor_; }

  void seek(std::uint64_t offset) noexcept {
    if (offset >= begin_ && offset <= begin_ + filled_) {
      cursor_ = std::size_t(offset - begin_);
    } else {
      begin_ = offset;
      filled_ = cursor_ = 0;
    }
  }

  // One byte; false at the end of the file or on a read error (errno set; 0 at the end).
  bool byte(unsigned char& b) {
    if (cursor_ == filled_ && !refill()) return false;
    b = buffer_[cursor_++];
    return true;
  }

  // Exactly n bytes; false if the file ends first or a read fails.
  bool read(void* dst, std::size_t n) {
    if (n == 0) return true;  // dst may be null then (an empty vector's data()): no memcpy
    auto* out = static_cast<unsigned char*>(dst);
    const std::size_t have = std::min(n, filled_ - cursor_);
    std::memcpy(out, buffer_.data() + cursor_, have);
    cursor_ += have, out += have, n -= have;
    if (n == 0) return true;
    if (n >= kBufferBytes) {  // straight into the destination
      const std::uint64_t at = position();
      if (!io::detail::pread_all(fd_.get(), out, n, at)) return false;
      begin_ = at + n;
      filled_ = cursor_ = 0;
      return true;
    }
    if (!refill() || filled_ < n) return false;
    std::memcpy(out, buffer_.data(), n);
    cursor_ = n;
    return true;
  }

 private:
  bool refill() {
    begin_ += filled_;
    filled_ = cursor_ = 0;
    if (begin_ >= size_) {
      errno = 0;
      return false;
    }
    const std::size_t want = std::size_t(std::min<std::uint64_t>(kBufferBytes, size_ - begin_));
    if (!io::detail::pread_all(fd_.get(), buffer_.data(), want, begin_)) return false;
    filled_ = want;
    return true;
  }

  io::detail::FileDescriptor fd_;
  std::string error_;
  std::uint64_t size_ = 0;
  std::vector<unsigned char> buffer_;
  std::uint64_t begin_ = 0;  // file offset of buffer_[0]
  std::size_t filled_ = 0, cursor_ = 0;
};

}  // namespace detail

// Reads one protobuf message from a file, one field at a time:
//
//   Reader r(path, "read_caffemodel", "NetParameter", net_field_names);
//   for (Field f; r.next(f);) {
//     if (f.number == 100) { r.enter(f, "layer[0]", "LayerParameter"); ... r.leave(); }
//     // any field not read is skipped: the next next() seeks past it
//   }
//
// The reader keeps a stack of the messages entered; next() returns the fields of the innermost.
// Any length-delimited field of the current message can be entered, also one met earlier (enter
// seeks back to it), which lets a caller look at a message's scalars before deciding to read its
// large fields.
class Reader {
 public:
  // context starts every error message (the operation: "read_caffemodel"); root_type names the
  // file's message in error paths.
  Reader(const std::filesystem::path& path, std::string context, std::string root_type,
         FieldNamer root_names = nullptr, int max_depth = kDefaultMaxDepth)
      : path_(path), context_(std::move(context)), file_(path), max_depth_(max_depth) {
    if (!file_.ok())
      tinycnn::detail::throw_error(context_, ": '", path_.string(), "': ", file_.error());
    frames_.push_back({std::move(root_type), "", root_names, 0, file_.size(), 0});
  }

  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  const std::filesystem::path& path() const noexcept { return path_; }
  std::uint64_t file_size() const noexcept { return file_.size(); }
  // 0 in the file's message, 1 in a message entered from it, ...
  int depth() const noexcept { return int(frames_.size()) - 1; }

  // The next field of the current message; false once the message is exhausted.
  bool next(Field& f) {
    Frame& fr = frames_.back();
    if (fr.cursor >= fr.end) return false;
    f = Field{};
    f.offset = fr.cursor;
    file_.seek(fr.cursor);
    const std::uint64_t tag = varint(fr.end, f.offset, nullptr, "tag");
    const unsigned wire = unsigned(tag & 7);
    if ((tag >> 3) == 0 || (tag >> 3) > kMaxFieldNumber)
      fail_at(f.offset, nullptr, "invalid field number ", tag >> 3, " (tag ", tag,
              "): field numbers are 1 to ", kMaxFieldNumber, "; the data is corrupt or not a ",
              frames_.front().type, " message");
    f.number = std::uint32_t(tag >> 3);
    f.wire = WireType(wire);
    switch (wire) {
      case 0:
        f.payload = file_.position();
        f.value = varint(fr.end, f.offset, &f, "varint");
        f.size = file_.position() - f.payload;
        break;
      case 1:
      case 5: {
        f.payload = file_.position();
        f.size = wire == 1 ? 8 : 4;
        if (fr.end - f.payload < f.size)
          fail_at(f.offset, &f, "the ", wire_type_name(wire), " value needs ", f.size,
                  " bytes but only ", fr.end - f.payload, " are left in ", where_end());
        unsigned char b[8];
        read_exact(b, std::size_t(f.size), f.payload, &f);
        for (std::size_t i = f.size; i-- > 0;) f.value = f.value << 8 | b[i];
        break;
      }
      case 2: {
        const std::uint64_t length = varint(fr.end, f.offset, &f, "length");
        f.payload = file_.position();
        const std::uint64_t left = fr.end - f.payload;
        if (length > left)
          fail_at(f.offset, &f, "length ", length, " runs past the end of ", where_end(), " (",
                  left, " bytes left)");
        f.size = length;
        break;
      }
      case 3:
      case 4:
        fail_at(f.offset, &f, "wire type ", wire, " (", wire_type_name(wire),
                ") is not supported: groups are a deprecated proto2 feature no Caffe message uses");
      default:
        fail_at(f.offset, &f, "invalid wire type ", wire, " (valid: 0, 1, 2, 5)");
    }
    fr.cursor = f.end();
    return true;
  }

  // Descend into the length-delimited field f of the current message (returned by next(), now
  // or earlier) as a message of type `type`, called `label` in error paths ("layer[3]").
  void enter(const Field& f, std::string label, std::string type, FieldNamer names = nullptr) {
    expect(f, WireType::kLengthDelimited, type.c_str());
    const Frame& fr = frames_.back();
    if (f.payload < fr.begin || f.end() > fr.end)
      fail_at(f.offset, &f, "Reader::enter: the field is not inside the current message");
    if (depth() + 1 > max_depth_)
      fail_at(f.offset, &f, "messages nest deeper than the limit of ", max_depth_, " levels");
    frames_.push_back({std::move(type), std::move(label), names, f.payload, f.end(), f.payload});
  }

  // Back to the enclosing message; its next field is the one after the last next() returned.
  void leave() {
    if (frames_.size() > 1) frames_.pop_back();
  }

  // Renames the current message in error paths (once its name is known: "layer[3] 'conv1'").
  void relabel(std::string label) { frames_.back().label = std::move(label); }

  // ---- payloads of a field of the current message -----------------------------------------

  void expect(const Field& f, WireType w, const char* what) const {
    if (f.wire != w)
      fail_at(f.offset, &f, "wire type ", unsigned(f.wire), " (", wire_type_name(unsigned(f.wire)),
              "), expected ", unsigned(w), " (", wire_type_name(unsigned(w)), ") for ", what);
  }

  std::string string(const Field& f) {
    expect(f, WireType::kLengthDelimited, "a string");
    std::string s(std::size_t(f.size), '\0');  // f.size is bounded by the file (next() checked)
    read_exact(s.data(), s.size(), f.payload, &f);
    return s;
  }

  std::uint64_t uint64(const Field& f) const {
    expect(f, WireType::kVarint, "an integer");
    return f.value;
  }
  // int64 and int32 fields: two's complement in a 64-bit varint (negative int32 values take 10
  // bytes).
  std::int64_t int64(const Field& f) const { return std::int64_t(uint64(f)); }
  std::int32_t int32(const Field& f) const {
    const std::int64_t v = int64(f);
    if (v < std::numeric_limits<std::int32_t>::min() ||
        v > std::numeric_limits<std::int32_t>::max())
      fail_at(f.offset, &f, "value ", v, " does not fit an int32 field");
    return std::int32_t(v);
  }
  std::uint32_t uint32(const Field& f) const {
    const std::uint64_t v = uint64(f);
    if (v > std::numeric_limits<std::uint32_t>::max())
      fail_at(f.offset, &f, "value ", v, " does not fit a uint32 field");
    return std::uint32_t(v);
  }
  bool boolean(const Field& f) const { return uint64(f) != 0; }

  // Repeated float / double fields, packed or not: append the values to out (converted to T).
  template <class T>
  void append_floats(const Field& f, std::vector<T>& out) {
    append_fixed<float>(f, out, WireType::kFixed32, "a float");
  }
  template <class T>
  void append_doubles(const Field& f, std::vector<T>& out) {
    append_fixed<double>(f, out, WireType::kFixed64, "a double");
  }
  // How many values a repeated float (bytes = 4) or double (bytes = 8) field holds, without
  // reading them.
  std::uint64_t count_fixed(const Field& f, std::uint64_t bytes) const {
    const WireType single = bytes == 4 ? WireType::kFixed32 : WireType::kFixed64;
    if (f.wire == single) return 1;
    expect(f, WireType::kLengthDelimited, bytes == 4 ? "a float" : "a double");
    check_packed_size(f, bytes);
    return f.size / bytes;
  }
  // Repeated integer fields (int32, int64, uint32, uint64, bool, enum), packed or not.
  void append_varints(const Field& f, std::vector<std::uint64_t>& out) {
    if (f.wire == WireType::kVarint) {
      out.push_back(f.value);
      return;
    }
    expect(f, WireType::kLengthDelimited, "an integer");
    file_.seek(f.payload);
    while (file_.position() < f.end())
      out.push_back(varint(f.end(), f.offset, &f, "packed varint"));
  }

  // Throw tinycnn::Error at this offset, naming the file, the message path and field f (if any).
  template <class... Args>
  [[noreturn]] void fail_at(std::uint64_t offset, const Field* f, Args&&... args) const {
    std::string where = frames_.front().type;
    for (std::size_t i = 1; i < frames_.size(); ++i) where += "." + frames_[i].label;
    if (frames_.size() > 1) where += " (" + frames_.back().type + ")";
    if (f) {
      where += " field " + std::to_string(f->number);
      const char* name = frames_.back().names ? frames_.back().names(f->number) : nullptr;
      if (name) where += std::string(" '") + name + "'";
    }
    tinycnn::detail::throw_error(context_, ": '", path_.string(), "': byte ", offset, ", ", where,
                                 ": ", std::forward<Args>(args)...);
  }
  template <class... Args>
  [[noreturn]] void fail(const Field& f, Args&&... args) const {
    fail_at(f.offset, &f, std::forward<Args>(args)...);
  }

 private:
  struct Frame {
    std::string type, label;
    FieldNamer names;
    std::uint64_t begin, end, cursor;
  };

  std::string where_end() const {
    return frames_.size() == 1 ? std::string("the file")
                               : "the enclosing " + frames_.back().type + " message";
  }

  // A varint ending before `limit`; reading starts at the file cursor.
  std::uint64_t varint(std::uint64_t limit, std::uint64_t field_offset, const Field* f,
                       const char* what) {
    std::uint64_t result = 0;
    const std::uint64_t start = file_.position();
    for (int i = 0; i < 10; ++i) {
      if (file_.position() >= limit) {
        if (limit == file_.size())
          fail_at(field_offset, f, "truncated ", what, " at byte ", start,
                  ": the file ends inside it (file size ", file_.size(), ")");
        fail_at(field_offset, f, "truncated ", what, " at byte ", start,
                ": it runs past the end of ",
                limit == frames_.back().end ? where_end() : std::string("the field"));
      }
      unsigned char b;
      if (!file_.byte(b)) read_failed(file_.position(), 1, f);
      if (i == 9 && b > 1)
        fail_at(field_offset, f, "malformed ", what, " at byte ", start,
                ": longer than 10 bytes or beyond 64 bits");
      result |= std::uint64_t(b & 0x7f) << (7 * i);
      if (!(b & 0x80)) return result;
    }
    fail_at(field_offset, f, "malformed ", what, " at byte ", start, ": longer than 10 bytes");
  }

  void read_exact(void* dst, std::size_t n, std::uint64_t offset, const Field* f) {
    file_.seek(offset);
    if (!file_.read(dst, n)) read_failed(offset, n, f);
  }

  [[noreturn]] void read_failed(std::uint64_t offset, std::size_t n, const Field* f) const {
    fail_at(f ? f->offset : offset, f, "cannot read ", n, " bytes at byte ", offset,
            errno ? ": " + io::detail::errno_text(errno) : std::string(" (did the file shrink?)"));
  }

  void check_packed_size(const Field& f, std::uint64_t bytes) const {
    if (f.size % bytes != 0)
      fail_at(f.offset, &f, "packed ", bytes == 4 ? "float" : "double", " data of ", f.size,
              " bytes is not a multiple of ", bytes);
  }

  template <class Stored, class T>
  void append_fixed(const Field& f, std::vector<T>& out, WireType single, const char* what) {
    static_assert(std::is_floating_point_v<T>, "append_floats/append_doubles: T must be floating");
    if (f.wire == single) {
      if constexpr (sizeof(Stored) == 4)
        out.push_back(T(std::bit_cast<float>(std::uint32_t(f.value))));
      else
        out.push_back(T(std::bit_cast<double>(f.value)));
      return;
    }
    expect(f, WireType::kLengthDelimited, what);
    check_packed_size(f, sizeof(Stored));
    const std::size_t n = std::size_t(f.size / sizeof(Stored));  // bounded by the file
    const std::size_t old = out.size();
    if constexpr (std::is_same_v<Stored, T>) {
      out.resize(old + n);
      read_exact(out.data() + old, n * sizeof(Stored), f.payload, &f);
    } else {
      std::vector<Stored> tmp(n);
      read_exact(tmp.data(), n * sizeof(Stored), f.payload, &f);
      out.insert(out.end(), tmp.begin(), tmp.end());
    }
  }

  std::filesystem::path path_;
  std::string context_;
  detail::BufferedFile file_;
  int max_depth_;
  std::vector<Frame> frames_;
};

}  // namespace tinycnn::io::protobuf
