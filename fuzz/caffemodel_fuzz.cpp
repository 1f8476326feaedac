// libFuzzer target for io/caffe.hpp (and the protobuf reader of io/protobuf.hpp under it): each
// input is a whole .caffemodel (build and run: tools/fuzz.sh caffemodel <seconds>).
#include "exercises.hpp"
#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static tinycnn::fuzz::InputFile input("caffemodel");
  input.write(data, size);
  tinycnn::fuzz::report(
      tinycnn::fuzz::accepts([&] { tinycnn::fuzz::exercise_caffemodel(input.path()); }));
  return 0;
}
