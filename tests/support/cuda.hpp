// CUDA test helpers: skip visibly when no GPU can be used (ctest then reports the case skipped).
#pragma once

#include <catch2/catch.hpp>

#include <iostream>

#include "tinycnn/core/cuda_runtime.hpp"

// At the top of every [cuda] test case.
#define TINYCNN_REQUIRE_CUDA()                                       \
  do {                                                               \
    if (!::tinycnn::cuda_available()) {                              \
      std::cout << "SKIPPED: no usable CUDA device" << std::endl;    \
      WARN("SKIPPED: no usable CUDA device");                        \
      return;                                                        \
    }                                                                \
  } while (0)
