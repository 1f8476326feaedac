// Example 01 (CUDA): move a tensor to the GPU, fill it there, and bring it back.
#include <tinycnn/tinycnn.hpp>

#include <iostream>

int main() {
  using tinycnn::cpu;
  using tinycnn::cuda;
  using tinycnn::Tensor;

  if (!tinycnn::cuda_available()) {
    std::cout << "no usable CUDA device: nothing to show\n";
    return 0;
  }
  Tensor<float, cpu> host({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor<float, cuda> device = host.to<cuda>();  // queued on tinycnn's stream
  Tensor<float, cuda> twos = Tensor<float, cuda>::full({2, 3}, 2.0f);
  std::cout << "on the GPU: " << device << "\n" << "filled on the GPU: " << twos << "\n";
  const auto stats = tinycnn::cuda_memory_stats();
  std::cout << "GPU bytes in use by tinycnn: " << stats.bytes_in_use << "\n";
  return 0;
}
