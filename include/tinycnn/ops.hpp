// All Tensor-level ops: validate shapes, allocate outputs, dispatch to the CPU or CUDA kernels.
#pragma once

#include "tinycnn/ops/conv.hpp"
#include "tinycnn/ops/elementwise.hpp"
#include "tinycnn/ops/gemm.hpp"
#include "tinycnn/ops/pool.hpp"
#include "tinycnn/ops/random.hpp"
#include "tinycnn/ops/reduce.hpp"
#include "tinycnn/ops/softmax.hpp"
#include "tinycnn/ops/style.hpp"
