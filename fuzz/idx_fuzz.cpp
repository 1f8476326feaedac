// libFuzzer target for io/idx.hpp: each input is a whole IDX file, raw or gzip (build and run:
// tools/fuzz.sh idx <seconds>). An input that is not gzip is also gzipped here and read again:
// the raw and the gzip reading must accept or refuse it alike, and give the same array.
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <vector>

#include "exercises.hpp"
#include "fuzz_input.hpp"

namespace {

std::vector<unsigned char> gzip(const std::uint8_t* data, std::size_t size) {
  z_stream zs{};
  if (deflateInit2(&zs, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) std::abort();
  std::vector<unsigned char> out(deflateBound(&zs, uLong(size)) + 32);
  zs.next_in = const_cast<Bytef*>(data);
  zs.avail_in = uInt(size);
  zs.next_out = out.data();
  zs.avail_out = uInt(out.size());
  if (deflate(&zs, Z_FINISH) != Z_STREAM_END) std::abort();
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

[[noreturn]] void mismatch(const char* what) {
  std::fprintf(stderr, "tinycnn fuzz: raw and gzip reading of the same IDX bytes differ: %s\n",
               what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tinycnn;
  static fuzz::InputFile raw_file("idx"), gz_file("idx_gz");
  raw_file.write(data, size);
  std::optional<io::IdxArray> raw;
  fuzz::report(fuzz::accepts([&] { raw = fuzz::exercise_idx(raw_file.path()); }));

  if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) return 0;  // read as gzip already
  const auto packed = gzip(data, size);
  gz_file.write(packed.data(), packed.size());
  std::optional<io::IdxArray> gz;
  fuzz::accepts([&] { gz = fuzz::exercise_idx(gz_file.path()); });
  if (raw.has_value() != gz.has_value()) mismatch(raw ? "only raw accepted" : "only gzip accepted");
  if (raw && (raw->type != gz->type || raw->shape != gz->shape || raw->data != gz->data))
    mismatch("different arrays");
  return 0;
}
