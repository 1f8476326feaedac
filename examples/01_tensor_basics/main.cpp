// Example 01: tensors on the CPU: create, fill, index, copy, reshape, and the errors bad use gives.
#include <tinycnn/tinycnn.hpp>

#include <iostream>

int main() {
  using tinycnn::cpu;
  using tinycnn::Tensor;

  // A batch of two 3-channel 4x5 images, zero-filled, in NCHW order.
  Tensor<float, cpu> images({2, 3, 4, 5});
  std::cout << "images: " << images.shape() << ", " << images.numel() << " elements\n";

  images.fill(0.5f);
  images.at(1, 2, 3, 4) = 7.0f;  // bounds-checked element access
  std::cout << "last element: " << images.at(1, 2, 3, 4) << "\n";

  // From host values, row-major.
  Tensor<float, cpu> m({2, 3}, {1, 2, 3, 4, 5, 6});
  std::cout << "m = " << m << "\n";

  // Tensors are move-only; clone() makes a deep copy.
  Tensor<float, cpu> copy = m.clone();
  copy.reshape({3, 2});
  std::cout << "copy reshaped: " << copy.shape() << ", m still " << m.shape() << "\n";

  // Mistakes are tinycnn::Error exceptions naming what was wrong.
  try {
    (void)m.at(2, 0);
  } catch (const tinycnn::Error& e) {
    std::cout << "error: " << e.what() << "\n";
  }
  try {
    copy.reshape({4, 4});
  } catch (const tinycnn::Error& e) {
    std::cout << "error: " << e.what() << "\n";
  }
  return 0;
}
