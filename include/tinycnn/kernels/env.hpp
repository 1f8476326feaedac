// The kernels' switches in the environment (TINYCNN_CONV_WINOGRAD, TINYCNN_CONV_PHASES,
// TINYCNN_GEMM_NARROW_TILES, TINYCNN_GEMM_ASYNC, TINYCNN_GEMM_ASYNC_ROUNDING,
// TINYCNN_CONV_DIRECT_SPLIT, TINYCNN_GRAM_SHORT_CHUNKS, TINYCNN_CONV_POINTWISE_SPLIT): read once
// by their owners, for measuring one path against another.
#pragma once

#include <cstdlib>

namespace tinycnn::kernels {

// The variable's value when it is one of the digits "0" to "highest" (at most "9"), `otherwise`
// when it is unset or anything else.
inline int env_switch(const char* name, int otherwise = 2, int highest = 1) {
  const char* v = std::getenv(name);
  if (v && v[0] >= '0' && v[0] <= '0' + highest && v[1] == '\0') return v[0] - '0';
  return otherwise;
}

}  // namespace tinycnn::kernels
