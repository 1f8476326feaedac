// Style-transfer iterations per minute on the CPU (see style_bench.hpp); sizes 64 to 512 px.
#include "style_bench.hpp"

int main(int argc, char** argv) {
  return tinycnn::bench::style_bench_main<tinycnn::cpu>(argc, argv, "cpu",
                                                        {{64, 64}, {128, 128}, {256, 256}, {512, 512}});
}
