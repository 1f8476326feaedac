#!/usr/bin/env bash
# GPU rounds over binaries packed into .gpu/ (tests, cuda_gemm_bench, cuda_style_bench). Output
# under $OUT.
#   step 1: an A/B of a tile change: the TF32 test cases; GEMM, ours before and after (the
#           previous build's benchmarks packed as .gpu/bin/benchmarks/*_before) and, where the
#           build has them, candidate tiles (cuda_gemm_bench tf32_tile/*, in commit b3849d7)
#           against cuBLAS TF32; style transfer in TF32, before and after, at 2048 px and 7680x4320
#   step 2: style transfer in TF32 and fp32 at every size (PyTorch's TF32 default at the same
#           sizes: tools/gpu/tf32_round.sh 3)
#   step 3: after the pooling change: the whole [cuda] suite, cuda_pool_bench before and after
#           (against cuDNN), then step 2
# Usage on the device machine: bash tools/gpu/tf32_tiles.sh 1|2|3
set -u
step=${1:-1}
out=${OUT:-$PWD/out}
mkdir -p "$out"
export LD_LIBRARY_PATH=$PWD/.gpu/lib:$(bash tools/gpu/peer_libs.sh)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
tf32_cases='cuda gemm on TF32 tensor cores*,cuda conv on TF32 tensor cores*,cuda ops: set_cuda_conv_tf32*'
style_lines() { grep -hE "^style/" "$@" | grep -o "style/[a-z0-9]*/cuda/[0-9x]*\|iters_per_min=[^ ]*" | paste - -; }
if [ "$step" = 1 ]; then
  nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
  timeout 120 .gpu/run tests/tinycnn_cuda_tests "$tf32_cases" >"$out/tf32_tests.log" 2>&1
  echo "tf32 tests: rc=$? $(tail -2 "$out/tf32_tests.log" | paste -sd' ')"
  for b in cuda_gemm_bench_before cuda_gemm_bench; do
    env -u NVIDIA_TF32_OVERRIDE timeout 150 .gpu/run benchmarks/$b --tf32 \
      --benchmark_out="$out/$b.json" --benchmark_out_format=json >"$out/$b.log" 2>&1
    echo "$b --tf32: rc=$?"
  done
  grep -hE "^(gemm_tf32|cublas_tf32|tf32_tile)" "$out"/cuda_gemm_bench*.log | grep -E "square (4096|8192)|conv3_1|conv1_2|conv4_2" |
    sed 's/ \+/ /g' | awk '{print $1, $2, $3, $NF, $(NF-1), $(NF-2)}'
  for b in cuda_style_bench_before cuda_style_bench; do
    TINYCNN_CUDA_TF32=1 timeout 80 .gpu/run benchmarks/$b --models=vgg19,nin \
      --sizes=2048,7680x4320 --benchmark_out="$out/${b}_tf32.json" --benchmark_out_format=json \
      >"$out/${b}_tf32.log" 2>&1
    echo "$b TF32: rc=$?"; style_lines "$out/${b}_tf32.log"
  done
fi
if [ "$step" = 3 ]; then
  bash tools/gpu/round.sh tests
  for b in cuda_pool_bench_before cuda_pool_bench; do
    timeout 60 .gpu/run benchmarks/$b >"$out/$b.log" 2>&1   # logs only: 8 files come back
    echo "$b: rc=$?"
  done
  grep -h "/ours/" "$out"/cuda_pool_bench*.log | grep -E "pool1@512|pool0@512" | sed 's/ \+/ /g' | cut -c1-150
fi
if [ "$step" = 2 ] || [ "$step" = 3 ]; then
  nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
  for mode in 1 0; do
    TINYCNN_CUDA_TF32=$mode timeout 260 .gpu/run benchmarks/cuda_style_bench \
      --models=vgg16,vgg19,nin --sizes=64,128,256,512,1024,2048,4096,7680x4320 \
      --benchmark_out="$out/style_bench_tf32_$mode.json" --benchmark_out_format=json \
      >"$out/style_bench_tf32_$mode.log" 2>&1
    echo "style bench TINYCNN_CUDA_TF32=$mode: rc=$?"; style_lines "$out/style_bench_tf32_$mode.log"
  done
fi
rm -f "$out/env.txt"
