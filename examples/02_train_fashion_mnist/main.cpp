// Example 02 (CPU build): see train.hpp. The _cuda build also accepts --device cuda.
#include "train.hpp"

int main(int argc, char** argv) {
  try {
    const auto o = example::parse(argc, argv);
    if (o.device != "cpu")
      throw tinycnn::Error("this build trains on the CPU; use 02_train_fashion_mnist_cuda for --device cuda");
    return example::train<tinycnn::cpu>(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
