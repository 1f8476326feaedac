// Named problem-size lists shared by the reference, CPU and CUDA kernel tests: sizes of 1, odd
// sizes, sizes that are no multiple of any tile, every convolution parameter, and every layer shape
// of VGG-19 and NIN at a small resolution.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tinycnn/kernels/problem.hpp"

namespace tinycnn::test {

struct GemmCase {
  std::string name;
  std::int64_t m, n, k;
};

// Small, odd and tile-straddling sizes; each is run with all four transpose combinations.
inline std::vector<GemmCase> gemm_cases() {
  return {{"1x1x1", 1, 1, 1},       {"1x7x3", 1, 7, 3},        {"7x1x5", 7, 1, 5},
          {"3x5x1", 3, 5, 1},       {"31x33x17", 31, 33, 17},  {"33x31x65", 33, 31, 65},
          {"64x64x64", 64, 64, 64}, {"127x129x131", 127, 129, 131},
          {"128x128x8", 128, 128, 8}, {"129x257x63", 129, 257, 63},
          {"255x1x300", 255, 1, 300}, {"1x513x77", 1, 513, 77},
          {"200x96x1000", 200, 96, 1000}};
}

struct ConvCase {
  std::string name;
  kernels::Conv2dDesc desc;
};

inline kernels::Conv2dDesc conv(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w,
                                std::int64_t k, std::int64_t r, std::int64_t s, std::int64_t pad_h = 0,
                                std::int64_t pad_w = 0, std::int64_t stride_h = 1,
                                std::int64_t stride_w = 1, std::int64_t dil_h = 1,
                                std::int64_t dil_w = 1) {
  kernels::Conv2dDesc d;
  d.n = n, d.c = c, d.h = h, d.w = w, d.k = k, d.r = r, d.s = s;
  d.pad_h = pad_h, d.pad_w = pad_w, d.stride_h = stride_h, d.stride_w = stride_w;
  d.dilation_h = dil_h, d.dilation_w = dil_w;
  return d;
}

// Every convolution parameter: kernel sizes 1..11, strides, per-axis padding, dilation, batch.
inline std::vector<ConvCase> conv_parameter_cases() {
  return {
      {"1x1 single pixel", conv(1, 1, 1, 1, 1, 1, 1)},
      {"1x1 c3 k5", conv(2, 3, 5, 7, 5, 1, 1)},
      {"3x3 pad1", conv(1, 3, 9, 9, 4, 3, 3, 1, 1)},
      {"3x3 pad1 batch3 odd", conv(3, 7, 13, 11, 9, 3, 3, 1, 1)},
      {"3x3 stride2", conv(2, 5, 15, 16, 6, 3, 3, 1, 1, 2, 2)},
      {"3x3 no pad", conv(1, 4, 6, 5, 3, 3, 3)},
      {"5x5 pad2", conv(2, 3, 11, 12, 8, 5, 5, 2, 2)},
      {"7x7 stride2 pad3", conv(1, 3, 23, 19, 5, 7, 7, 3, 3, 2, 2)},
      {"11x11 stride4", conv(2, 3, 35, 39, 7, 11, 11, 0, 0, 4, 4)},
      {"per-axis pad", conv(1, 2, 8, 9, 3, 3, 5, 0, 2)},
      {"per-axis stride", conv(1, 2, 10, 11, 3, 3, 3, 1, 1, 1, 3)},
      {"rect kernel 1x7", conv(2, 3, 7, 15, 4, 1, 7, 0, 3)},
      {"dilation2", conv(1, 3, 12, 12, 4, 3, 3, 2, 2, 1, 1, 2, 2)},
      {"dilation per axis", conv(2, 2, 11, 13, 3, 3, 3, 1, 3, 1, 1, 1, 3)},
      {"kernel equals input", conv(2, 3, 5, 5, 4, 5, 5)},
      {"wide channels 33->65", conv(1, 33, 9, 7, 65, 3, 3, 1, 1)},
      {"127 channels 1x1", conv(2, 127, 5, 3, 31, 1, 1)},
  };
}

// The distinct convolution layers of VGG-19 (3x3, pad 1) at a given input size and batch.
inline std::vector<ConvCase> vgg19_conv_cases(std::int64_t size, std::int64_t batch = 1) {
  struct L { const char* name; std::int64_t c, k, div; };
  const L layers[] = {{"conv1_1", 3, 64, 1},    {"conv1_2", 64, 64, 1},   {"conv2_1", 64, 128, 2},
                      {"conv2_2", 128, 128, 2}, {"conv3_1", 128, 256, 4}, {"conv3_2", 256, 256, 4},
                      {"conv4_1", 256, 512, 8}, {"conv4_2", 512, 512, 8}, {"conv5_1", 512, 512, 16}};
  std::vector<ConvCase> cases;
  for (const auto& l : layers) {
    const std::int64_t hw = size / l.div;
    cases.push_back({std::string("vgg19 ") + l.name + " @" + std::to_string(size),
                     conv(batch, l.c, hw, hw, l.k, 3, 3, 1, 1)});
  }
  return cases;
}

// The convolution layers of NIN-ImageNet (Caffe model zoo) for an input of the given size.
inline std::vector<ConvCase> nin_conv_cases(std::int64_t size, std::int64_t batch = 1) {
  auto pool = [](std::int64_t x) {
    return kernels::Pool2dDesc::out_size(x, 3, 2, 0, /*ceil=*/true);
  };
  const std::int64_t s1 = (size - 11) / 4 + 1, s2 = pool(s1), s3 = pool(s2), s4 = pool(s3);
  const std::string at = " @" + std::to_string(size);
  return {
      {"nin conv1" + at, conv(batch, 3, size, size, 96, 11, 11, 0, 0, 4, 4)},
      {"nin cccp1" + at, conv(batch, 96, s1, s1, 96, 1, 1)},
      {"nin conv2" + at, conv(batch, 96, s2, s2, 256, 5, 5, 2, 2)},
      {"nin cccp3" + at, conv(batch, 256, s2, s2, 256, 1, 1)},
      {"nin conv3" + at, conv(batch, 256, s3, s3, 384, 3, 3, 1, 1)},
      {"nin cccp5" + at, conv(batch, 384, s3, s3, 384, 1, 1)},
      {"nin conv4" + at, conv(batch, 384, s4, s4, 1024, 3, 3, 1, 1)},
      {"nin cccp7" + at, conv(batch, 1024, s4, s4, 1024, 1, 1)},
      {"nin cccp8" + at, conv(batch, 1024, s4, s4, 1000, 1, 1)},
  };
}

struct PoolCase {
  std::string name;
  kernels::Pool2dDesc desc;
};

inline kernels::Pool2dDesc pool(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w,
                                std::int64_t kh, std::int64_t kw, std::int64_t sh, std::int64_t sw,
                                std::int64_t ph = 0, std::int64_t pw = 0, bool ceil = false,
                                bool include_pad = true) {
  kernels::Pool2dDesc d;
  d.n = n, d.c = c, d.h = h, d.w = w, d.kernel_h = kh, d.kernel_w = kw, d.stride_h = sh;
  d.stride_w = sw, d.pad_h = ph, d.pad_w = pw, d.ceil_mode = ceil, d.count_include_pad = include_pad;
  return d;
}

inline std::vector<PoolCase> pool_cases() {
  return {
      {"2x2 s2 (VGG)", pool(2, 3, 8, 8, 2, 2, 2, 2)},
      {"2x2 s2 odd input", pool(1, 2, 7, 9, 2, 2, 2, 2)},
      {"3x3 s2 ceil (NIN)", pool(2, 4, 13, 13, 3, 3, 2, 2, 0, 0, true)},
      {"3x3 s2 ceil even", pool(1, 3, 54, 54, 3, 3, 2, 2, 0, 0, true)},
      {"3x3 s1 pad1", pool(1, 3, 6, 5, 3, 3, 1, 1, 1, 1)},
      {"3x3 s2 pad1 ceil", pool(2, 2, 10, 11, 3, 3, 2, 2, 1, 1, true)},
      {"3x3 s2 pad1 exclude pad", pool(1, 2, 9, 9, 3, 3, 2, 2, 1, 1, false, false)},
      {"rect 2x3 s(1,2)", pool(1, 3, 7, 9, 2, 3, 1, 2)},
      {"1x1 s1", pool(2, 3, 4, 4, 1, 1, 1, 1)},
      {"window = input", pool(2, 5, 6, 6, 6, 6, 1, 1)},
      {"single pixel", pool(1, 1, 1, 1, 1, 1, 1, 1)},
  };
}

}  // namespace tinycnn::test
