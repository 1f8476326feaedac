// Whether CUDA convolutions may multiply on TF32 tensor cores: inputs rounded to 10 mantissa bits
// (round to nearest, ties away from zero), products summed in fp32 -- what PyTorch's
// torch.backends.cudnn.allow_tf32 allows cuDNN. Off unless asked, so results are fp32 by default;
// TINYCNN_CUDA_TF32=1 turns it on at start, tinycnn::set_cuda_conv_tf32 at any time (the
// launchers read it on the host at every call). Matrix products (ops::gemm, the style losses' Gram
// matrices) stay fp32 either way, as PyTorch's matmuls do by default.
#pragma once

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace tinycnn::kernels {

inline std::atomic<bool>& tf32_conv_switch() {
  static std::atomic<bool> on{[] {
    const char* v = std::getenv("TINYCNN_CUDA_TF32");
    return v != nullptr && std::strcmp(v, "1") == 0;
  }()};
  return on;
}

inline bool tf32_conv() {
  return tf32_conv_switch().load(std::memory_order_relaxed);
}

}  // namespace tinycnn::kernels
