// Example 03 (CUDA build): --device cuda (default here) or cpu. See style.hpp.
#include "style.hpp"

int main(int argc, char** argv) {
  try {
    auto o = example::parse(argc, argv);
    bool device_given = false;
    for (int i = 1; i < argc; ++i) device_given |= std::string(argv[i]) == "--device";
    if (!device_given) o.device = "cuda";
    if (o.device == "cpu") return example::run<tinycnn::cpu>(o);
    if (o.device != "cuda") throw tinycnn::Error("--device must be cpu or cuda, got " + o.device);
    if (!tinycnn::cuda_available()) throw tinycnn::Error("--device cuda: no usable CUDA device");
    return example::run<tinycnn::cuda>(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
