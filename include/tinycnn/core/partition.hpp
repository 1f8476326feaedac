// Splitting `total` items (samples of a batch, rows of an image) among `size` parts in contiguous
// blocks as evenly as possible: part r gets block_range(total, r, size). Shared by the sharded
// DataLoader and the distributed code (tinycnn/dist/).
#pragma once

#include <algorithm>
#include <cstdint>

#include "tinycnn/core/error.hpp"

namespace tinycnn {

// Items [begin, end).
struct Range {
  std::int64_t begin = 0, end = 0;
  std::int64_t size() const { return end - begin; }
  bool operator==(const Range&) const = default;
};

// The block of part `rank` of `size`; the first total % size parts get one item more.
inline Range block_range(std::int64_t total, int rank, int size) {
  TINYCNN_CHECK(size > 0 && rank >= 0 && rank < size, "block_range: part ", rank, " of ", size,
                " does not exist");
  TINYCNN_CHECK(total >= 0, "block_range: negative total ", total);
  const std::int64_t base = total / size, extra = total % size;
  const std::int64_t begin = rank * base + std::min<std::int64_t>(rank, extra);
  return {begin, begin + base + (rank < extra ? 1 : 0)};
}

}  // namespace tinycnn
