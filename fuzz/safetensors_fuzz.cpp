// libFuzzer target for io/safetensors.hpp: each input is a whole .safetensors file (build and run:
// tools/fuzz.sh safetensors <seconds>).
#include "exercises.hpp"
#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static tinycnn::fuzz::InputFile input("safetensors");
  input.write(data, size);
  tinycnn::fuzz::report(
      tinycnn::fuzz::accepts([&] { tinycnn::fuzz::exercise_safetensors(input.path()); }));
  return 0;
}
