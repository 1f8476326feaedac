// The kernels' switches in the environment (TINYCNN_CONV_WINOGRAD, TINYCNN_CONV_PHASES,
// TINYCNN_GEMM_NARROW_TILES): read once by their owners, for measuring one path against another.
#pragma once

#include <cstdlib>
#include <cstring>

namespace tinycnn::kernels {

// 0 when the variable is "0", 1 when it is "1", `otherwise` when it is unset or anything else.
inline int env_switch(const char* name, int otherwise = 2) {
  const char* v = std::getenv(name);
  if (v && std::strcmp(v, "0") == 0) return 0;
  if (v && std::strcmp(v, "1") == 0) return 1;
  return otherwise;
}

}  // namespace tinycnn::kernels
