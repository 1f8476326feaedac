// Tests the im2col CPU convolution (kernels/cpu/conv.hpp) against the reference: forward (with and
// without bias), backward data, backward filter and bias, over every parameter case and the VGG-19
// and NIN layer shapes, in float and double, with both thread strategies and small column tiles.
#include <catch2/catch.hpp>

#include <tinycnn/kernels/cpu/conv.hpp>
#include <tinycnn/kernels/reference/conv.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "support/compare.hpp"
#include "support/data.hpp"
#include "support/problems.hpp"

using tinycnn::kernels::Conv2dDesc;
namespace cpu = tinycnn::kernels::cpu;
namespace ref = tinycnn::kernels::reference;
namespace test = tinycnn::test;

namespace {

template <class T>
struct ConvData {
  std::int64_t x_size, w_size, y_size;
  std::vector<T> x, w, bias, dy;
  ConvData(const Conv2dDesc& d, std::uint64_t salt)
      : x_size(d.n * d.c * d.h * d.w), w_size(d.k * d.c * d.r * d.s), y_size(d.n * d.k * d.p() * d.q()),
        x(test::random_vector<T>(x_size, salt)), w(test::random_vector<T>(w_size, salt + 1)),
        bias(test::random_vector<T>(d.k, salt + 2)), dy(test::random_vector<T>(y_size, salt + 3)) {}
};

template <class T>
std::vector<T> magnitudes(std::vector<T> v) {
  for (auto& e : v) e = std::abs(e);
  return v;
}

// The three passes and the bias gradient through the public kernels; `tile` > 0 instead drives
// the per-image detail functions with that column tile (several tiles per image) and `threads`.
// Errors are relative to the summed terms' scale (the reference on magnitudes): an output whose
// few terms nearly cancel (a 1x1 filter on one pixel, plus bias) carries the terms' rounding.
template <class T>
void check_conv(const Conv2dDesc& d, std::uint64_t salt, std::int64_t tile = 0, int threads = 1) {
  const double tol = test::default_tolerance<T>();
  ConvData<T> in(d, salt);
  const auto ax = magnitudes(in.x), aw = magnitudes(in.w), ab = magnitudes(in.bias),
             ady = magnitudes(in.dy);
  const std::int64_t in_image = d.c * d.h * d.w, out_image = d.k * d.p() * d.q();
  {
    INFO("forward with bias");
    auto got = test::poisoned_vector<T>(in.y_size), want = got;
    ref::conv2d_forward_reference(want.data(), in.x.data(), in.w.data(), in.bias.data(), d);
    auto scale = want;
    ref::conv2d_forward_reference(scale.data(), ax.data(), aw.data(), ab.data(), d);
    if (tile > 0) {
      for (std::int64_t n = 0; n < d.n; ++n)
        cpu::detail::conv2d_forward_image(got.data() + n * out_image, in.x.data() + n * in_image, in.w.data(),
                                          in.bias.data(), d, threads, tile);
    } else {
      cpu::conv2d_forward_im2col(got.data(), in.x.data(), in.w.data(), in.bias.data(), d);
    }
    TINYCNN_REQUIRE_CLOSE_TO_SCALE(got, want, scale, tol);
  }
  if (tile == 0) {
    INFO("forward without bias");
    auto got = test::poisoned_vector<T>(in.y_size), want = got;
    ref::conv2d_forward_reference(want.data(), in.x.data(), in.w.data(), static_cast<const T*>(nullptr), d);
    auto scale = want;
    ref::conv2d_forward_reference(scale.data(), ax.data(), aw.data(), static_cast<const T*>(nullptr), d);
    cpu::conv2d_forward_im2col(got.data(), in.x.data(), in.w.data(), static_cast<const T*>(nullptr), d);
    TINYCNN_REQUIRE_CLOSE_TO_SCALE(got, want, scale, tol);
  }
  {
    INFO("backward data");
    auto got = test::poisoned_vector<T>(in.x_size), want = got;
    ref::conv2d_backward_data_reference(want.data(), in.dy.data(), in.w.data(), d);
    auto scale = want;
    ref::conv2d_backward_data_reference(scale.data(), ady.data(), aw.data(), d);
    if (tile > 0) {
      for (std::int64_t n = 0; n < d.n; ++n)
        cpu::detail::conv2d_backward_data_image(got.data() + n * in_image, in.dy.data() + n * out_image,
                                                in.w.data(), d, threads, tile);
    } else {
      cpu::conv2d_backward_data_im2col(got.data(), in.dy.data(), in.w.data(), d);
    }
    TINYCNN_REQUIRE_CLOSE_TO_SCALE(got, want, scale, tol);
  }
  {
    INFO("backward filter");
    auto got = test::poisoned_vector<T>(in.w_size), want = got;
    ref::conv2d_backward_filter_reference(want.data(), in.dy.data(), in.x.data(), d);
    auto scale = want;
    ref::conv2d_backward_filter_reference(scale.data(), ady.data(), ax.data(), d);
    if (tile > 0)
      cpu::detail::conv2d_backward_filter_tiled(got.data(), in.dy.data(), in.x.data(), d, threads, tile);
    else
      cpu::conv2d_backward_filter_im2col(got.data(), in.dy.data(), in.x.data(), d);
    TINYCNN_REQUIRE_CLOSE_TO_SCALE(got, want, scale, tol);
  }
  if (tile == 0) {
    INFO("backward bias");
    auto got = test::poisoned_vector<T>(d.k), want = got;
    ref::conv2d_backward_bias_reference(want.data(), in.dy.data(), d);
    cpu::conv2d_backward_bias(got.data(), in.dy.data(), d);
    TINYCNN_REQUIRE_CLOSE(got, want, tol);
  }
}

}  // namespace

TEMPLATE_TEST_CASE("cpu conv2d im2col matches the reference on every parameter case",
                   "[cpu][kernels][conv]", float, double) {
  TINYCNN_SEED_INFO();
  std::uint64_t salt = 1;
  for (const auto& c : test::conv_parameter_cases()) {
    INFO(c.name);
    check_conv<TestType>(c.desc, salt += 10);
  }
}

TEMPLATE_TEST_CASE("cpu conv2d im2col matches the reference on VGG-19 and NIN layers",
                   "[cpu][kernels][conv]", float, double) {
  TINYCNN_SEED_INFO();
  std::uint64_t salt = 100;
  for (const auto& c : test::vgg19_conv_cases(32)) {
    INFO(c.name);
    check_conv<TestType>(c.desc, salt += 10);
  }
  for (const auto& c : test::nin_conv_cases(67)) {
    INFO(c.name);
    check_conv<TestType>(c.desc, salt += 10);
  }
}

TEMPLATE_TEST_CASE("cpu conv2d: column tiles that split images, and both thread strategies",
                   "[cpu][kernels][conv]", float, double) {
  // Large images go a column tile at a time; the library's tile only splits images far bigger
  // than the reference can check quickly, so odd small tiles (some not a multiple of Q, so a tile
  // starts mid-row) are forced here, with one thread and with two inside each image.
  TINYCNN_SEED_INFO();
  std::uint64_t salt = 500;
  for (const auto& c : test::conv_parameter_cases())
    for (std::int64_t tile : {1, 7, 16})
      for (int threads : {1, 2}) {
        INFO(c.name << " tile " << tile << " threads " << threads);
        check_conv<TestType>(c.desc, salt += 10, tile, threads);
      }
  // Batch 2 with images big enough that threads work inside each GEMM instead of across images.
  const Conv2dDesc big = test::conv(2, 64, 16, 16, 128, 3, 3, 1, 1);
  REQUIRE(!cpu::detail::conv_threads_across_images(big, 2));
  REQUIRE(cpu::detail::conv_threads_across_images(test::conv(2, 3, 8, 8, 4, 3, 3), 2));
  INFO("batch 2, threads inside each image");
  check_conv<TestType>(big, salt += 10);
}

TEMPLATE_TEST_CASE("cpu conv2d: panels packed straight from the image (stride 1, Q a multiple of 16)",
                   "[cpu][kernels][conv]", float, double) {
  // These shapes take ImagePanels in forward and, through the turned filter, in backward data:
  // padding on either side, dilation, per-axis padding, rectangular filters, no padding, and
  // padding equal to dilation*(R-1); with whole images, and with tiles that start mid-row.
  TINYCNN_SEED_INFO();
  const test::ConvCase cases[] = {
      {"3x3 pad1 Q16 batch2", test::conv(2, 5, 9, 16, 6, 3, 3, 1, 1)},
      {"3x3 no pad Q16", test::conv(1, 4, 6, 18, 3, 3, 3)},
      {"3x3 pad2 (= R-1) Q16", test::conv(1, 3, 9, 14, 4, 3, 3, 2, 2)},
      {"5x5 pad2 Q32", test::conv(2, 3, 11, 32, 8, 5, 5, 2, 2)},
      {"dilation2 Q32", test::conv(1, 3, 12, 32, 4, 3, 3, 2, 2, 1, 1, 2, 2)},
      {"per-axis pad 3x5 Q16", test::conv(1, 2, 8, 16, 3, 3, 5, 0, 2)},
      {"rect 1x7 Q16", test::conv(2, 3, 7, 16, 4, 1, 7, 0, 3)},
      {"wide channels 33->65 Q16", test::conv(1, 33, 9, 16, 65, 3, 3, 1, 1)},
      {"vgg-like 64->64 Q48", test::conv(1, 64, 5, 48, 64, 3, 3, 1, 1)},
      {"dilation2 C16 Q16", test::conv(1, 16, 10, 16, 5, 3, 3, 2, 2, 1, 1, 2, 2)},
      {"per-axis pad 3x5 C20 Q16", test::conv(2, 20, 8, 16, 3, 3, 5, 0, 2)},
  };
  std::uint64_t salt = 900;
  for (const auto& c : cases) {
    INFO(c.name);
    REQUIRE(cpu::detail::conv_packs_from_image<TestType>(c.desc));
    check_conv<TestType>(c.desc, salt += 10);
    for (std::int64_t tile : {7, 16})
      for (int threads : {1, 2}) {
        INFO("tile " << tile << " threads " << threads);
        check_conv<TestType>(c.desc, salt += 10, tile, threads);
      }
  }
  // Backward data takes the turned filter for C >= 16 at stride 1; the result is checked above
  // through the public kernel, and this names which path those cases ran.
  REQUIRE(cpu::detail::conv_backward_data_as_forward(cases[7].desc));
  REQUIRE_FALSE(cpu::detail::conv_backward_data_as_forward(test::conv(1, 3, 9, 9, 4, 3, 3, 1, 1, 2, 2)));
}

namespace {

// The convolution f (out = conv(in) + bias, bias may be null) by the Winograd functions called
// directly: w is f's filter, or turned, the filter of the layer whose backward data f is.
template <class T>
void winograd_direct(T* out, const T* in, const T* w, const T* bias, const Conv2dDesc& f,
                     bool turned, int threads, std::int64_t budget) {
  std::vector<T> u = test::poisoned_vector<T>(cpu::detail::winograd_filter_size<T>(f.k, f.c));
  const std::int64_t in_image = f.c * f.h * f.w, out_image = f.k * f.p() * f.q();
  auto run = [&](auto r) {
    constexpr int R = decltype(r)::value;
    cpu::detail::winograd_filter_transform<R>(u.data(), w, f.k, f.c, turned, threads);
    for (std::int64_t n = 0; n < f.n; ++n)
      cpu::detail::winograd_image<R>(out + n * out_image, in + n * in_image, u.data(), bias, f.c,
                                     f.k, f, threads, budget);
  };
  if (f.r == 5)
    run(std::integral_constant<int, 5>{});
  else
    run(std::integral_constant<int, 3>{});
}

}  // namespace

TEMPLATE_TEST_CASE("cpu conv2d: Winograd F(4x4, 3x3) and F(2x2, 5x5), forward and backward data",
                   "[cpu][kernels][conv][winograd]", float, double) {
  // The Winograd functions called directly (so for shapes the automatic choice would not give
  // them): outputs that are not whole blocks, padding 0 to R - 1 and per axis (backward data pads
  // by R - 1 - pad), one-pixel outputs, batches, one and two threads, the tiles in one chunk (the
  // default budget) and in chunks of one GEMM panel (a 1-byte budget: 16 tiles in float, 8 in
  // double), the last one ragged.
  TINYCNN_SEED_INFO();
  const double tol = test::default_tolerance<TestType>();
  const test::ConvCase cases[] = {
      {"c5 k3 7x9 pad 1", test::conv(1, 5, 7, 9, 3, 3, 3, 1, 1)},
      {"c16 k24 batch 2 13x11 pad 0", test::conv(2, 16, 13, 11, 24, 3, 3)},
      {"c33 k40 20x17 pad 2", test::conv(1, 33, 20, 17, 40, 3, 3, 2, 2)},
      {"c12 k20 per-axis pad 0/2", test::conv(2, 12, 10, 23, 20, 3, 3, 0, 2)},
      {"c7 k9 3x3 pad 0 (one pixel)", test::conv(1, 7, 3, 3, 9, 3, 3)},
      {"c64 k64 66x70 pad 1", test::conv(1, 64, 66, 70, 64, 3, 3, 1, 1)},
      // Transformed filters of several K blocks of the GEMM (KC = 512 floats, 256 doubles) and
      // row blocks (MC = 72), their rows padded to whole panels of 6: U[e] is 80 x 520 forward,
      // 520 x 80 turned.
      {"c520 k80 9x10 pad 1", test::conv(1, 520, 9, 10, 80, 3, 3, 1, 1)},
      // 5x5 (F(2x2, 5x5)): NIN conv2's padding 2, padding 0 and 4 (its backward data pads 4 and
      // 0), per axis, odd sizes (a last row and column of blocks half outside), one pixel, a batch.
      {"5x5 c96 k40 15x15 pad 2", test::conv(1, 96, 15, 15, 40, 5, 5, 2, 2)},
      {"5x5 c9 k14 batch 2 12x17 pad 0", test::conv(2, 9, 12, 17, 14, 5, 5)},
      {"5x5 c20 k12 9x11 pad 4", test::conv(1, 20, 9, 11, 12, 5, 5, 4, 4)},
      {"5x5 c6 k10 per-axis pad 1/3", test::conv(1, 6, 14, 19, 10, 5, 5, 1, 3)},
      {"5x5 c7 k9 5x5 pad 0 (one pixel)", test::conv(1, 7, 5, 5, 9, 5, 5)},
      {"5x5 c40 k48 38x36 pad 2", test::conv(1, 40, 38, 36, 48, 5, 5, 2, 2)},
  };
  std::uint64_t salt = 2000;
  for (const auto& c : cases)
    for (int threads : {1, 2})
      for (std::int64_t budget : {cpu::detail::kWinogradChunkBytes, std::int64_t(1)}) {
        const Conv2dDesc& d = c.desc;
        INFO(c.name << " threads " << threads << " chunk budget " << budget);
        REQUIRE(cpu::detail::cpu_winograd_layer(d));
        ConvData<TestType> in(d, salt += 10);
        {
          INFO("forward with bias");
          auto got = test::poisoned_vector<TestType>(in.y_size), want = got;
          ref::conv2d_forward_reference(want.data(), in.x.data(), in.w.data(), in.bias.data(), d);
          winograd_direct(got.data(), in.x.data(), in.w.data(), in.bias.data(), d, false, threads,
                          budget);
          TINYCNN_REQUIRE_CLOSE(got, want, tol);
        }
        {
          INFO("backward data");
          const Conv2dDesc f = cpu::detail::conv_backward_data_desc(d);
          REQUIRE(cpu::detail::cpu_winograd_layer(f));
          auto got = test::poisoned_vector<TestType>(in.x_size), want = got;
          ref::conv2d_backward_data_reference(want.data(), in.dy.data(), in.w.data(), d);
          const TestType* no_bias = nullptr;
          winograd_direct(got.data(), in.dy.data(), in.w.data(), no_bias, f, true, threads, budget);
          TINYCNN_REQUIRE_CLOSE(got, want, tol);
        }
      }
  // Through the public kernels: VGG-like layers take Winograd where it pays (unless
  // TINYCNN_CONV_WINOGRAD=0), 1x1, strided and few-channel layers never do.
  const Conv2dDesc vgg = test::conv(2, 64, 32, 32, 96, 3, 3, 1, 1);
  CHECK(cpu::detail::cpu_winograd_pays(vgg));
  CHECK_FALSE(cpu::detail::cpu_winograd_pays(test::conv(1, 3, 64, 64, 64, 3, 3, 1, 1)));
  CHECK_FALSE(cpu::detail::cpu_winograd_pays(test::conv(1, 512, 14, 14, 512, 3, 3, 1, 1)));
  // 16 blocks pay where the transformed filter is kept between calls, 4 do not.
  CHECK(cpu::detail::cpu_winograd_pays(test::conv(1, 512, 14, 14, 512, 3, 3, 1, 1), true));
  CHECK_FALSE(cpu::detail::cpu_winograd_pays(test::conv(1, 512, 8, 8, 512, 3, 3, 1, 1), true));
  CHECK_FALSE(cpu::detail::cpu_winograd_layer(test::conv(1, 64, 24, 24, 64, 3, 3, 1, 1, 2, 2)));
  CHECK_FALSE(cpu::detail::cpu_winograd_layer(test::conv(1, 64, 24, 24, 64, 1, 1)));
  check_conv<TestType>(vgg, salt += 10);
}

TEMPLATE_TEST_CASE("cpu conv2d: strided layers over their stride phases", "[cpu][kernels][conv]",
                   float, double) {
  // The phase form called directly (kernels/phases.hpp): filters that are and are not multiples of
  // the stride, per-axis strides and paddings (also above the stride), pixels no window covers,
  // one output pixel, batches, and stride-1 forms of every kind (3x3 Winograd for 11x11 stride 4,
  // 2x2 and 1x1 GEMMs).
  TINYCNN_SEED_INFO();
  const double tol = test::default_tolerance<TestType>();
  const test::ConvCase cases[] = {
      {"nin conv1 @67", test::conv(1, 3, 67, 67, 96, 11, 11, 0, 0, 4, 4)},
      {"nin conv1 batch 2 @139x135 (Winograd inside)",
       test::conv(2, 3, 139, 135, 96, 11, 11, 0, 0, 4, 4)},
      {"11x11 stride 4 pad 2, ragged edges", test::conv(1, 3, 70, 63, 40, 11, 11, 2, 2, 4, 4)},
      {"3x3 stride 2 pad 1, c40 batch 2", test::conv(2, 40, 33, 30, 24, 3, 3, 1, 1, 2, 2)},
      {"7x5 stride 3x2 pad 3x1", test::conv(1, 5, 31, 24, 9, 7, 5, 3, 1, 3, 2)},
      {"4x4 stride 4 (patches)", test::conv(2, 3, 32, 36, 16, 4, 4, 0, 0, 4, 4)},
      {"5x5 stride 2 pad 3 (pad above stride)", test::conv(1, 4, 21, 20, 7, 5, 5, 3, 3, 2, 2)},
      {"11x11 stride 4, one output pixel", test::conv(1, 3, 13, 11, 8, 11, 11, 0, 0, 4, 4)},
  };
  std::uint64_t salt = 3000;
  for (const auto& c : cases) {
    const Conv2dDesc& d = c.desc;
    INFO(c.name);
    ConvData<TestType> in(d, salt += 10);
    {
      INFO("forward with bias");
      auto got = test::poisoned_vector<TestType>(in.y_size), want = got;
      ref::conv2d_forward_reference(want.data(), in.x.data(), in.w.data(), in.bias.data(), d);
      REQUIRE(cpu::conv2d_forward_phases(got.data(), in.x.data(), in.w.data(), in.bias.data(), d));
      TINYCNN_REQUIRE_CLOSE(got, want, tol);
    }
    {
      INFO("backward data");
      auto got = test::poisoned_vector<TestType>(in.x_size), want = got;
      ref::conv2d_backward_data_reference(want.data(), in.dy.data(), in.w.data(), d);
      REQUIRE(cpu::conv2d_backward_data_phases(got.data(), in.dy.data(), in.w.data(), d));
      TINYCNN_REQUIRE_CLOSE(got, want, tol);
    }
  }
  // The automatic forward takes it where the stride-1 layer runs by Winograd (NIN conv1 at 259 px:
  // 16 x 16 blocks), unless TINYCNN_CONV_PHASES or TINYCNN_CONV_WINOGRAD turn it off: the result
  // is then the phase form's, bit for bit. Backward data takes it only with TINYCNN_CONV_PHASES=1.
  const Conv2dDesc nin = test::conv(1, 3, 259, 259, 96, 11, 11, 0, 0, 4, 4);
  ConvData<TestType> in(nin, salt += 10);
  auto direct = test::poisoned_vector<TestType>(in.y_size), automatic = direct;
  REQUIRE(cpu::conv2d_forward_phases(direct.data(), in.x.data(), in.w.data(), in.bias.data(), nin));
  cpu::conv2d_forward_im2col(automatic.data(), in.x.data(), in.w.data(), in.bias.data(), nin);
  auto direct_dx = test::poisoned_vector<TestType>(in.x_size), automatic_dx = direct_dx;
  REQUIRE(cpu::conv2d_backward_data_phases(direct_dx.data(), in.dy.data(), in.w.data(), nin));
  cpu::conv2d_backward_data_im2col(automatic_dx.data(), in.dy.data(), in.w.data(), nin);
  if (tinycnn::kernels::phases::phase_mode() != 0 && tinycnn::kernels::winograd::mode() != 0)
    CHECK(automatic == direct);
  if (tinycnn::kernels::phases::phase_mode() == 1) CHECK(automatic_dx == direct_dx);
  std::vector<TestType> want_dx(std::size_t(in.x_size));
  ref::conv2d_backward_data_reference(want_dx.data(), in.dy.data(), in.w.data(), nin);
  TINYCNN_REQUIRE_CLOSE(automatic_dx, want_dx, tol);
  std::vector<TestType> want(std::size_t(in.y_size));
  ref::conv2d_forward_reference(want.data(), in.x.data(), in.w.data(), in.bias.data(), nin);
  TINYCNN_REQUIRE_CLOSE(automatic, want, tol);
  // Stride-1, dilated and non-fitting layers are refused, and nothing is written.
  for (const auto& d :
       {test::conv(1, 8, 9, 9, 8, 3, 3, 1, 1), test::conv(1, 8, 19, 19, 8, 3, 3, 2, 2, 2, 2, 2, 2),
        test::conv(1, 8, 9, 9, 8, 11, 11, 0, 0, 4, 4)}) {
    std::vector<TestType> buf(4096, TestType(7));
    CHECK_FALSE(cpu::conv2d_forward_phases(buf.data(), buf.data(), buf.data(),
                                           static_cast<const TestType*>(nullptr), d));
    CHECK_FALSE(cpu::conv2d_backward_data_phases(buf.data(), buf.data(), buf.data(), d));
    CHECK(buf == std::vector<TestType>(4096, TestType(7)));
  }
}
