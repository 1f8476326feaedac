// libFuzzer target for io/image.hpp: each input is a whole image file, PNG, JPEG, BMP or PNM
// (build and run: tools/fuzz.sh image <seconds>).
#include "exercises.hpp"
#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static tinycnn::fuzz::InputFile input("image");
  input.write(data, size);
  tinycnn::fuzz::report(
      tinycnn::fuzz::accepts([&] { tinycnn::fuzz::exercise_image(input.path()); }));
  return 0;
}
