// Tensor<T, Device>: owning, contiguous, row-major (NCHW for images), move-only; and TensorView,
// the trivially copyable (pointer, shape) pair that ops hand to kernels.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "tinycnn/core/device.hpp"
#include "tinycnn/core/error.hpp"
#include "tinycnn/core/memory.hpp"
#include "tinycnn/core/shape.hpp"

#if TINYCNN_HAS_CUDA_KERNELS
#include "tinycnn/core/cuda_fill.cuh"
#endif

namespace tinycnn {

// Non-owning view of a tensor's memory. Valid while the tensor it came from lives.
template <class T>
struct TensorView {
  T* data = nullptr;
  Shape shape;
  std::int64_t numel() const noexcept { return shape.numel(); }
};

namespace detail {
// Tensor versions: one counter for the process, so no two tensors (nor two states of one) share a
// version, whatever addresses the allocator hands out again.
inline std::uint64_t next_tensor_version() noexcept {
  static std::atomic<std::uint64_t> counter{0};
  return counter.fetch_add(1, std::memory_order_relaxed) + 1;
}
}  // namespace detail

template <class T, Device D = cpu>
class Tensor {
  static_assert(std::is_arithmetic_v<T>, "Tensor<T, D>: T must be an arithmetic type");

 public:
  using value_type = T;
  using device_type = D;

  // An empty tensor: shape [0], no storage.
  Tensor() : shape_{0} {}

  // A zero-filled tensor of the given shape.
  explicit Tensor(Shape shape) : Tensor(uninitialized(shape)) { zero_(); }

  // A tensor holding the given host values (row-major); values.size() must equal shape.numel().
  Tensor(Shape shape, std::span<const T> values) : Tensor(uninitialized(shape)) {
    TINYCNN_CHECK(std::int64_t(values.size()) == numel(), "Tensor: shape ", shape_, " holds ",
                  numel(), " elements, but ", values.size(), " values were given");
    detail::copy_bytes(D{}, data_, cpu{}, values.data(), bytes());
  }
  Tensor(Shape shape, std::initializer_list<T> values)
      : Tensor(shape, std::span<const T>(values.begin(), values.size())) {}
  Tensor(Shape shape, const std::vector<T>& values)
      : Tensor(shape, std::span<const T>(values.data(), values.size())) {}

  // A tensor whose contents are unspecified: for outputs that a kernel overwrites entirely.
  static Tensor uninitialized(Shape shape) {
    Tensor t;
    t.shape_ = shape;
    const auto n = std::size_t(shape.numel());
    TINYCNN_CHECK(n <= SIZE_MAX / sizeof(T), "Tensor: shape ", shape, " needs more than ",
                  SIZE_MAX, " bytes");
    t.data_ = static_cast<T*>(detail::Memory<D>::allocate(n * sizeof(T)));
    return t;
  }
  static Tensor zeros(Shape shape) { return Tensor(shape); }
  static Tensor full(Shape shape, T value) {
    Tensor t = uninitialized(shape);
    t.fill(value);
    return t;
  }

  Tensor(const Tensor&) = delete;
  Tensor& operator=(const Tensor&) = delete;
  Tensor(Tensor&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)),
        shape_(std::exchange(o.shape_, Shape{0})),
        version_(std::exchange(o.version_, detail::next_tensor_version())) {}
  Tensor& operator=(Tensor&& o) noexcept {
    if (this != &o) {
      release();
      data_ = std::exchange(o.data_, nullptr);
      shape_ = std::exchange(o.shape_, Shape{0});
      version_ = std::exchange(o.version_, detail::next_tensor_version());
    }
    return *this;
  }
  ~Tensor() { release(); }

  const Shape& shape() const noexcept { return shape_; }
  int rank() const noexcept { return shape_.rank(); }
  // Dimension i; negative i counts from the end.
  std::int64_t dim(int i) const { return shape_[i]; }
  std::int64_t numel() const noexcept { return shape_.numel(); }
  std::size_t bytes() const noexcept { return std::size_t(numel()) * sizeof(T); }
  bool empty() const noexcept { return numel() == 0; }

  // Mutable access takes a new version(): the elements may be written through what it returns.
  T* data() noexcept {
    touch();
    return data_;
  }
  const T* data() const noexcept { return data_; }

  TensorView<T> view() noexcept {
    touch();
    return {data_, shape_};
  }
  TensorView<const T> view() const noexcept { return {data_, shape_}; }

  // Changes whenever the elements may have changed, and is never shared by two tensors: a new
  // tensor takes a fresh one, and so does every access that can write its elements (non-const
  // data(), view() and at(), fill(), zero_(), assignment). Caches of values made from a tensor
  // (ops::ConvFilterCache) compare it. As with PyTorch's version counter, writes through a pointer
  // taken before the version was read are not seen.
  std::uint64_t version() const noexcept { return version_; }

  // A deep copy on the same device.
  Tensor clone() const {
    Tensor t = uninitialized(shape_);
    detail::copy_bytes(D{}, t.data_, D{}, data_, bytes());
    return t;
  }

  // A deep copy on device D2 (a plain copy when D2 is D).
  template <Device D2>
  Tensor<T, D2> to() const {
    auto t = Tensor<T, D2>::uninitialized(shape_);
    detail::copy_bytes(D2{}, t.data(), D{}, data_, bytes());
    return t;
  }

  // The elements, copied to a host vector (waits for queued GPU work).
  std::vector<T> to_vector() const {
    std::vector<T> v(static_cast<std::size_t>(numel()));
    detail::copy_bytes(cpu{}, v.data(), D{}, data_, bytes());
    return v;
  }

  // The single element of a one-element tensor.
  T item() const {
    TINYCNN_CHECK(numel() == 1, "Tensor::item: needs exactly one element, tensor has shape ",
                  shape_);
    T v{};
    detail::copy_bytes(cpu{}, &v, D{}, data_, sizeof(T));
    return v;
  }

  Tensor& fill(T value) {
    touch();
    if constexpr (std::is_same_v<D, cpu>) {
      std::fill_n(data_, numel(), value);
    } else {
#if TINYCNN_HAS_CUDA_KERNELS
      TINYCNN_CUDA_CHECK(detail::fill_device(data_, numel(), value, cuda_stream()));
#else
      // No kernels in a host-only translation unit: stage the values on the host.
      if (value == T(0)) {
        zero_();
      } else {
        const std::vector<T> host(std::size_t(numel()), value);
        detail::copy_bytes(D{}, data_, cpu{}, host.data(), bytes());
      }
#endif
    }
    return *this;
  }
  Tensor& zero_() {
    touch();
    detail::Memory<D>::zero(data_, bytes());
    return *this;
  }

  // Give the same elements a new shape with the same element count (no copy).
  Tensor& reshape(Shape shape) {
    TINYCNN_CHECK(shape.numel() == numel(), "Tensor::reshape: cannot view shape ", shape_, " (",
                  numel(), " elements) as ", shape, " (", shape.numel(), " elements)");
    shape_ = shape;
    return *this;
  }

  // Bounds-checked element access on the CPU: t.at(n, c, h, w).
  template <class... I>
    requires(std::is_integral_v<I> && ...)
  T& at(I... idx) {
    static_assert(std::is_same_v<D, cpu>, "Tensor::at reads host memory: use to<cpu>() first");
    touch();
    return data_[offset({std::int64_t(idx)...})];
  }
  template <class... I>
    requires(std::is_integral_v<I> && ...)
  const T& at(I... idx) const {
    static_assert(std::is_same_v<D, cpu>, "Tensor::at reads host memory: use to<cpu>() first");
    return data_[offset({std::int64_t(idx)...})];
  }

 private:
  std::int64_t offset(std::initializer_list<std::int64_t> idx) const {
    TINYCNN_CHECK(int(idx.size()) == rank(), "Tensor::at: ", idx.size(),
                  " indices given for a tensor of rank ", rank(), " (shape ", shape_, ")");
    std::int64_t off = 0;
    int d = 0;
    for (std::int64_t i : idx) {
      TINYCNN_CHECK(i >= 0 && i < shape_[d], "Tensor::at: index ", i, " out of range for dimension ",
                    d, " of size ", shape_[d], " (shape ", shape_, ")");
      off = off * shape_[d] + i;
      ++d;
    }
    return off;
  }
  void touch() noexcept {
    version_ = detail::next_tensor_version();
  }
  void release() noexcept {
    if (data_) detail::Memory<D>::deallocate(data_, bytes());
    data_ = nullptr;
  }

  T* data_ = nullptr;
  Shape shape_;
  std::uint64_t version_ = detail::next_tensor_version();
};

template <class T, Device D>
std::ostream& operator<<(std::ostream& os, const Tensor<T, D>& t) {
  os << "Tensor<" << D::name << "> shape " << t.shape() << " [";
  const auto v = t.to_vector();
  const std::size_t show = std::min<std::size_t>(v.size(), 8);
  for (std::size_t i = 0; i < show; ++i) os << (i ? ", " : "") << +v[i];
  return os << (v.size() > show ? ", ...]" : "]");
}

}  // namespace tinycnn
