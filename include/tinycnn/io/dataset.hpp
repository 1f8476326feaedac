// Image classification data in memory (MNIST and Fashion-MNIST from IDX files) and DataLoader,
// which hands out shuffled, normalised, augmented mini-batches assembled one or two batches ahead
// by a background thread, so a GPU training loop does not wait for the CPU between steps.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "tinycnn/core/error.hpp"
#include "tinycnn/core/partition.hpp"
#include "tinycnn/core/random.hpp"
#include "tinycnn/core/shape.hpp"
#include "tinycnn/core/tensor.hpp"
#include "tinycnn/io/idx.hpp"

namespace tinycnn::io {

// Samples N, channels C, height H, width W (NCHW, as everywhere in tinycnn).
struct Dataset {
  Tensor<float, cpu> images;         // (N, C, H, W)
  Tensor<std::int32_t, cpu> labels;  // (N)

  Dataset() = default;
  // Takes both tensors and checks that they describe the same N samples.
  Dataset(Tensor<float, cpu> images, Tensor<std::int32_t, cpu> labels)
      : images(std::move(images)), labels(std::move(labels)) {
    validate("Dataset");
  }

  std::int64_t size() const noexcept { return labels.numel(); }

  // Error (prefixed by `who`) unless images are (N, C, H, W) and labels (N) with the same N.
  void validate(std::string_view who) const {
    TINYCNN_CHECK(images.rank() == 4, who, ": images must have rank 4 (N, C, H, W), got shape ",
                  images.shape());
    TINYCNN_CHECK(labels.rank() == 1, who, ": labels must have rank 1 (N), got shape ",
                  labels.shape());
    TINYCNN_CHECK(images.dim(0) == labels.dim(0), who, ": ", images.dim(0), " images (shape ",
                  images.shape(), ") but ", labels.dim(0), " labels");
  }
};

// The class names of Fashion-MNIST, by label.
inline constexpr std::array<std::string_view, 10> kFashionMnistClassNames = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

namespace detail {

// The first existing file among the spellings MNIST copies use: the original names
// (train-images-idx3-ubyte) and the dotted ones of some mirrors (train-images.idx3-ubyte), each
// raw or gzip.
inline std::optional<std::string> find_mnist_file(const std::string& dir, const std::string& prefix,
                                                  const std::string& kind, const std::string& idx) {
  namespace fs = std::filesystem;
  for (const char* sep : {"-", "."})
    for (const char* ext : {"", ".gz"}) {
      const fs::path p = fs::path(dir) / (prefix + "-" + kind + sep + idx + "-ubyte" + ext);
      std::error_code ec;
      if (fs::exists(p, ec)) return p.string();
    }
  return std::nullopt;
}

}  // namespace detail

// The training (train-*, 60000 samples for MNIST) or test (t10k-*, 10000) split found in `dir`:
// images as float (N, 1, 28, 28) in [0, 1], labels as int32 (N). Error when a file is missing,
// malformed, or the two counts differ.
inline Dataset load_mnist(const std::string& dir, bool train) {
  const std::string prefix = train ? "train" : "t10k";
  auto find = [&](const std::string& kind, const std::string& idx) {
    auto path = detail::find_mnist_file(dir, prefix, kind, idx);
    TINYCNN_CHECK(path.has_value(), "load_mnist: no file in '", dir, "' named ", prefix, "-", kind,
                  "-", idx, "-ubyte, ", prefix, "-", kind, ".", idx, "-ubyte or either with .gz");
    return *path;
  };
  const std::string images_path = find("images", "idx3");
  const std::string labels_path = find("labels", "idx1");
  auto images = read_idx_images(images_path);
  auto labels = read_idx_labels(labels_path);
  TINYCNN_CHECK(images.dim(0) == labels.dim(0), "load_mnist: '", images_path, "' holds ",
                images.dim(0), " images but '", labels_path, "' holds ", labels.dim(0), " labels");
  return Dataset(std::move(images), std::move(labels));
}

// The directory of Fashion-MNIST: $TINYCNN_FASHION_MNIST when set (not checked, so a wrong value
// fails loudly in load_mnist), else /usr/share/datasets/fashion-mnist (Debian's
// dataset-fashion-mnist) when it holds the training images, else nullopt.
inline std::optional<std::string> find_fashion_mnist() {
  if (const char* env = std::getenv("TINYCNN_FASHION_MNIST"); env && *env) return std::string(env);
  const std::string debian = "/usr/share/datasets/fashion-mnist";
  if (detail::find_mnist_file(debian, "train", "images", "idx3")) return debian;
  return std::nullopt;
}

// One mini-batch: B = batch_size samples, fewer for the last batch of an epoch unless drop_last.
// With sharding, this rank's block of the global batch (possibly empty in a last, short batch).
struct Batch {
  Tensor<float, cpu> images;          // (B, C, H, W)
  Tensor<std::int32_t, cpu> labels;   // (B)
  std::vector<std::int64_t> indices;  // (B) the samples' positions in the dataset
  std::int64_t global_size = 0;       // samples in the global batch, over all shards (B unsharded)
};

struct DataLoaderOptions {
  std::int64_t batch_size = 64;
  bool shuffle = true;
  std::uint64_t seed = 0;
  bool drop_last = false;
  // Per channel (C values each) x -> (x - mean) / std, after augmentation; empty: no change.
  std::vector<float> mean{}, stddev{};
  // Random crop: pad each side by crop_padding zeros (in the dataset's units, i.e. black, as
  // torchvision pads before normalising) and cut an H x W window at a random offset, so content
  // shifts by up to crop_padding pixels each way. 0: off.
  std::int64_t crop_padding = 0;
  // Mirror left-right with probability 0.5.
  bool horizontal_flip = false;
  // Batches assembled ahead of the consumer by the background thread (1 or 2 suffice).
  std::int64_t prefetch = 2;
  // Data-parallel sharding: every rank runs the same loader (same seed, same order) with its own
  // shard_rank of shard_count, and gets its contiguous block of each global batch of batch_size
  // samples (tinycnn::block_range), so that the shards of a step together are exactly the batch
  // one process would get. Augmentation depends on the sample only, not on the shard.
  int shard_rank = 0, shard_count = 1;
  // Optional extra step run on each assembled batch, on the background thread; an exception it
  // throws reaches the caller of next().
  std::function<void(Batch&)> transform{};
};

// Mini-batches of a Dataset, epoch by epoch:
//   DataLoader loader(data, {.batch_size = 128, .seed = 1, .crop_padding = 2});
//   for (epoch ...) { loader.begin_epoch(epoch); Batch b; while (loader.next(b)) { ... } }
// The sample order and every random augmentation are pure functions of (seed, epoch, sample
// index), so a run is reproducible whatever the thread count, batch size or timing. The Dataset
// is referenced, not copied: it must outlive the loader and stay unchanged while it is used.
// One thread calls begin_epoch and next; the loader runs one background thread of its own.
class DataLoader {
 public:
  DataLoader(const Dataset& data, DataLoaderOptions options = {})
      : data_(&data), opt_(std::move(options)) {
    data.validate("DataLoader");
    TINYCNN_CHECK(opt_.batch_size >= 1, "DataLoader: batch_size must be >= 1, got ",
                  opt_.batch_size);
    TINYCNN_CHECK(opt_.crop_padding >= 0, "DataLoader: crop_padding must be >= 0, got ",
                  opt_.crop_padding);
    TINYCNN_CHECK(opt_.prefetch >= 1, "DataLoader: prefetch must be >= 1, got ", opt_.prefetch);
    TINYCNN_CHECK(opt_.shard_count >= 1 && opt_.shard_rank >= 0 && opt_.shard_rank < opt_.shard_count,
                  "DataLoader: shard_rank must lie in [0, shard_count), got shard ", opt_.shard_rank,
                  " of ", opt_.shard_count);
    n_ = data.images.dim(0), c_ = data.images.dim(1), h_ = data.images.dim(2);
    w_ = data.images.dim(3);
    TINYCNN_CHECK(opt_.crop_padding <= std::max(h_, w_), "DataLoader: crop_padding ",
                  opt_.crop_padding, " exceeds the image size ", h_, " x ", w_,
                  " (every crop would be padding only)");
    TINYCNN_CHECK(opt_.mean.size() == opt_.stddev.size(), "DataLoader: normalisation needs as many ",
                  "std values as mean values, got ", opt_.mean.size(), " means and ",
                  opt_.stddev.size(), " stds");
    if (!opt_.mean.empty()) {
      TINYCNN_CHECK(std::int64_t(opt_.mean.size()) == c_, "DataLoader: normalisation has ",
                    opt_.mean.size(), " mean/std values but the images have ", c_,
                    " channels (shape ", data.images.shape(), ")");
      for (std::size_t c = 0; c < opt_.stddev.size(); ++c) {
        TINYCNN_CHECK(std::isfinite(opt_.mean[c]), "DataLoader: mean of channel ", c,
                      " is not finite (", opt_.mean[c], ")");
        TINYCNN_CHECK(std::isfinite(opt_.stddev[c]) && opt_.stddev[c] > 0, "DataLoader: std of channel ",
                      c, " must be finite and > 0, got ", opt_.stddev[c]);
      }
    }
    batches_ = opt_.drop_last ? n_ / opt_.batch_size : (n_ + opt_.batch_size - 1) / opt_.batch_size;
  }

  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;
  // Stops the background thread mid-epoch if need be.
  ~DataLoader() { stop(); }

  // Samples in the dataset.
  std::int64_t size() const noexcept { return n_; }
  std::int64_t batches_per_epoch() const noexcept { return batches_; }
  const DataLoaderOptions& options() const noexcept { return opt_; }
  // The sample order of the current epoch (dataset indices).
  const std::vector<std::int64_t>& order() const noexcept { return order_; }
  // The epoch begun last.
  std::uint64_t epoch() const noexcept { return epoch_; }

  // Starts epoch `epoch`: abandons what is left of the previous one, orders the samples (a
  // permutation drawn from (seed, epoch) when shuffling) and starts assembling batches.
  void begin_epoch(std::uint64_t epoch) {
    stop();
    epoch_ = epoch;
    order_.resize(std::size_t(n_));
    for (std::int64_t i = 0; i < n_; ++i) order_[std::size_t(i)] = i;
    const std::uint64_t order_key = stream_key(epoch, 0);
    augment_key_ = stream_key(epoch, 1);
    if (opt_.shuffle) {
      // Fisher-Yates with counter-based draws; the modulo bias is below n / 2^64.
      for (std::int64_t i = n_ - 1; i > 0; --i) {
        const std::uint64_t r =
            tinycnn::detail::mix64(order_key ^ (std::uint64_t(i) * 0x9e3779b97f4a7c15ULL));
        std::swap(order_[std::size_t(i)], order_[std::size_t(r % std::uint64_t(i + 1))]);
      }
    }
    {
      std::lock_guard lock(mutex_);
      queue_.clear();
      stop_ = false;
      done_ = false;
      error_ = nullptr;
    }
    started_ = false;  // until the thread runs: without it next() would wait forever
    producer_ = std::thread([this] { produce(); });
    started_ = true;
  }

  // The next batch of the epoch into `batch`; false once the epoch is exhausted. Rethrows an
  // exception raised while assembling the batch. The buffers `batch` held before the call (the
  // previous batch, when the same Batch is passed each time) are reused for later batches, which
  // saves an allocation and its page faults per batch.
  bool next(Batch& batch) {
    TINYCNN_CHECK(started_, "DataLoader::next: call begin_epoch(epoch) first");
    std::unique_lock lock(mutex_);
    ready_.wait(lock, [&] { return !queue_.empty() || done_; });
    if (!queue_.empty()) {
      const std::int64_t full = block_range(opt_.batch_size, opt_.shard_rank, opt_.shard_count).size();
      if (batch.images.shape() == Shape{full, c_, h_, w_} && batch.labels.shape() == Shape{full} &&
          std::int64_t(spare_.size()) <= opt_.prefetch)
        spare_.push_back(std::move(batch));
      batch = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      space_.notify_one();
      return true;
    }
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
    return false;
  }

  // Sample `index` of the dataset as it appears in epoch `epoch` (cropped, flipped, normalised),
  // written to `dst` (C * H * W floats). What the background thread runs for each sample; public
  // so that one sample's augmentation can be reproduced without a loader run.
  void assemble_sample(std::uint64_t epoch, std::int64_t index, float* dst) const {
    TINYCNN_CHECK(index >= 0 && index < n_, "DataLoader::assemble_sample: index ", index,
                  " out of range for ", n_, " samples");
    write_sample(stream_key(epoch, 1), index, dst);
  }

 private:
  // Two independent streams per (seed, epoch): 0 orders the samples, 1 draws augmentations.
  std::uint64_t stream_key(std::uint64_t epoch, std::uint64_t stream) const noexcept {
    return tinycnn::detail::mix64(tinycnn::detail::mix64(opt_.seed) + 2 * epoch + stream);
  }

  void write_sample(std::uint64_t augment_key, std::int64_t index, float* dst) const {
    const std::int64_t plane = h_ * w_;
    const float* src = data_->images.data() + index * c_ * plane;
    const std::int64_t pad = opt_.crop_padding;
    std::int64_t dy = 0, dx = 0;
    bool flip = false;
    // Three draws per sample, keyed by the sample's dataset index (not its batch position).
    const std::uint64_t counter = 3 * std::uint64_t(index);
    if (pad > 0) {
      const double span = double(2 * pad + 1);
      dy = std::min<std::int64_t>(
               std::int64_t(tinycnn::detail::uniform01(augment_key, counter) * span), 2 * pad) -
           pad;
      dx = std::min<std::int64_t>(
               std::int64_t(tinycnn::detail::uniform01(augment_key, counter + 1) * span), 2 * pad) -
           pad;
    }
    if (opt_.horizontal_flip) flip = tinycnn::detail::uniform01(augment_key, counter + 2) < 0.5f;

    // Row by row: out[y][x] = in[y + dy][x' + dx], x' = x or W - 1 - x when flipped, zero where
    // that falls outside; each value normalised as it is written (mean 0, std 1 when off, which
    // leaves values unchanged bit for bit).
    for (std::int64_t c = 0; c < c_; ++c) {
      const float mean = opt_.mean.empty() ? 0.0f : opt_.mean[std::size_t(c)];
      const float stddev = opt_.stddev.empty() ? 1.0f : opt_.stddev[std::size_t(c)];
      const float zero = (0.0f - mean) / stddev;
      for (std::int64_t y = 0; y < h_; ++y) {
        float* out = dst + (c * h_ + y) * w_;
        const std::int64_t sy = y + dy;
        if (sy < 0 || sy >= h_) {
          std::fill_n(out, w_, zero);
          continue;
        }
        const float* row = src + (c * h_ + sy) * w_;
        // The x whose source column lies inside the image.
        const std::int64_t x0 = std::clamp<std::int64_t>(flip ? dx : -dx, 0, w_);
        const std::int64_t x1 = std::clamp<std::int64_t>(flip ? w_ + dx : w_ - dx, x0, w_);
        std::fill(out, out + x0, zero);
        std::fill(out + x1, out + w_, zero);
        if (flip) {
          for (std::int64_t x = x0; x < x1; ++x) out[x] = (row[w_ - 1 - x + dx] - mean) / stddev;
        } else {
          for (std::int64_t x = x0; x < x1; ++x) out[x] = (row[x + dx] - mean) / stddev;
        }
      }
    }
  }

  void assemble(std::int64_t b, Batch& batch) const {
    const std::int64_t global_begin = b * opt_.batch_size;
    batch.global_size = std::min(opt_.batch_size, n_ - global_begin);
    const Range shard = block_range(batch.global_size, opt_.shard_rank, opt_.shard_count);
    const std::int64_t begin = global_begin + shard.begin;
    const std::int64_t count = shard.size();
    const std::int64_t sample = c_ * h_ * w_;
    if (batch.images.shape() != Shape{count, c_, h_, w_})
      batch.images = Tensor<float, cpu>::uninitialized(Shape{count, c_, h_, w_});
    if (batch.labels.shape() != Shape{count})
      batch.labels = Tensor<std::int32_t, cpu>::uninitialized(Shape{count});
    batch.indices.assign(order_.begin() + begin, order_.begin() + begin + count);
    const std::int32_t* labels = data_->labels.data();
    for (std::int64_t s = 0; s < count; ++s) {
      const std::int64_t index = batch.indices[std::size_t(s)];
      // Shuffled samples are scattered over the dataset, beyond the hardware prefetcher's
      // reach: ask for the next one while this one is written.
      if (s + 1 < count) {
        const char* next = reinterpret_cast<const char*>(
            data_->images.data() + batch.indices[std::size_t(s + 1)] * sample);
        for (std::int64_t off = 0; off < sample * std::int64_t(sizeof(float)); off += 64)
          __builtin_prefetch(next + off);
      }
      write_sample(augment_key_, index, batch.images.data() + s * sample);
      batch.labels.data()[s] = labels[index];
    }
    if (opt_.transform) opt_.transform(batch);
  }

  // The background thread: assembles the epoch's batches in order, at most `prefetch` ahead.
  void produce() {
    try {
      for (std::int64_t b = 0; b < batches_; ++b) {
        Batch batch;
        {
          std::unique_lock lock(mutex_);
          space_.wait(lock, [&] { return stop_ || std::int64_t(queue_.size()) < opt_.prefetch; });
          if (stop_) return;
          if (!spare_.empty()) {
            batch = std::move(spare_.back());
            spare_.pop_back();
          }
        }
        assemble(b, batch);
        {
          std::lock_guard lock(mutex_);
          queue_.push_back(std::move(batch));
        }
        ready_.notify_one();
      }
    } catch (...) {
      std::lock_guard lock(mutex_);
      error_ = std::current_exception();
    }
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    ready_.notify_one();
  }

  // Ends the background thread (if any) and drops its batches.
  void stop() noexcept {
    if (!producer_.joinable()) return;
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    space_.notify_one();
    producer_.join();
    std::lock_guard lock(mutex_);
    queue_.clear();
    done_ = true;
  }

  const Dataset* data_;
  DataLoaderOptions opt_;
  std::int64_t n_ = 0, c_ = 0, h_ = 0, w_ = 0, batches_ = 0;
  std::vector<std::int64_t> order_;
  std::uint64_t epoch_ = 0, augment_key_ = 0;
  bool started_ = false;

  std::mutex mutex_;
  std::condition_variable ready_;  // a batch was queued, or the producer finished
  std::condition_variable space_;  // a batch was taken, or stop was requested
  std::deque<Batch> queue_;
  std::vector<Batch> spare_;  // buffers handed back through next(), for the producer to reuse
  bool stop_ = false, done_ = false;
  std::exception_ptr error_;
  std::thread producer_;
};

}  // namespace tinycnn::io
