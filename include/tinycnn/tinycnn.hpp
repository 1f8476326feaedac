// tinycnn: the umbrella header. Any C++20 compiler gets the CPU backend; a translation unit
// compiled by nvcc (linked to tinycnn::cuda) also gets the CUDA backend.
#pragma once

#include "tinycnn/core/device.hpp"
#include "tinycnn/core/error.hpp"
#include "tinycnn/core/random.hpp"
#include "tinycnn/core/shape.hpp"
#include "tinycnn/core/tensor.hpp"
#include "tinycnn/core/version.hpp"
