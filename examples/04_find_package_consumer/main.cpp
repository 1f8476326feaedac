// A downstream program: plain C++, CPU backend only.
#include <tinycnn/tinycnn.hpp>

#include <iostream>

int main() {
  tinycnn::Tensor<float, tinycnn::cpu> t({2, 2}, {1, 2, 3, 4});
  t.at(1, 1) = 10;
  float sum = 0;
  for (float v : t.to_vector()) sum += v;
  std::cout << "tinycnn " << TINYCNN_VERSION_STRING << " consumer (cpu): sum = " << sum << "\n";
  return sum == 16.0f ? 0 : 1;
}
