// A downstream program compiled by nvcc and linked to tinycnn::cuda.
#include <tinycnn/tinycnn.hpp>

#include <iostream>

int main() {
  if (!tinycnn::cuda_available()) {
    std::cout << "tinycnn consumer (cuda): built; no usable CUDA device to run on\n";
    return 0;
  }
  auto t = tinycnn::Tensor<float, tinycnn::cuda>::full({4}, 2.0f);
  float sum = 0;
  for (float v : t.to_vector()) sum += v;
  std::cout << "tinycnn consumer (cuda): sum = " << sum << "\n";
  return sum == 8.0f ? 0 : 1;
}
