// Example 02 (CUDA build): --device cuda (default here) or cpu. See train.hpp.
#include "train.hpp"

int main(int argc, char** argv) {
  try {
    std::vector<char*> args(argv, argv + argc);
    auto o = example::parse(argc, argv);
    bool device_given = false;
    for (int i = 1; i < argc; ++i) device_given |= std::string(argv[i]) == "--device";
    if (!device_given) o.device = "cuda";
    if (o.device == "cpu") return example::train<tinycnn::cpu>(o);
    if (o.device != "cuda") throw tinycnn::Error("--device must be cpu or cuda, got " + o.device);
    if (!tinycnn::cuda_available()) throw tinycnn::Error("--device cuda: no usable CUDA device");
    return example::train<tinycnn::cuda>(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
