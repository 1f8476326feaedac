// Style-transfer iterations per minute on CUDA (see style_bench.hpp); 64 px to 7680x4320.
#include "style_bench.hpp"

int main(int argc, char** argv) {
  return tinycnn::bench::style_bench_main<tinycnn::cuda>(
      argc, argv, "cuda",
      {{64, 64}, {128, 128}, {256, 256}, {512, 512}, {1024, 1024}, {2048, 2048}, {4096, 4096},
       {7680, 4320}});
}
