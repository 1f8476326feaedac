// Example 03 (CPU build): neural style transfer. See style.hpp.
#include "style.hpp"

int main(int argc, char** argv) {
  try {
    const auto o = example::parse(argc, argv);
    if (o.device != "cpu")
      throw tinycnn::Error("--device " + o.device + ": this build has no CUDA; use 03_style_transfer_cuda");
    return example::run<tinycnn::cpu>(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
