#!/usr/bin/env bash
# GPU round for split-K of short reductions with very few tiles (kernels/cuda/gemm.cuh,
# gemm_split_k: chunks of 64 where the tiles fill less than a quarter of the GPU; the style
# gradients of deep layers at small sizes), over binaries packed into .gpu/ (tinycnn_cuda_tests,
# cuda_style_bench, and the previous build's cuda_style_bench as cuda_style_bench_before).
# Output under $OUT.
#   step 1: the whole [cuda] suite; style iterations before / after, plain and through a CUDA
#           graph, TF32, 64-1024 px, interleaved per model
# Usage on the device machine: [MODELS="nin vgg16"] bash tools/gpu/split_round.sh 1
set -u
step=${1:-1}
. tools/gpu/round_env.sh
if [ "$step" = 1 ]; then
  bash tools/gpu/round.sh tests
  grep -E "^(All tests passed|test cases)" "$out/cuda_tests.log" | tail -1
  for model in ${MODELS:-vgg16 vgg19 nin}; do
    for bin in cuda_style_bench_before cuda_style_bench; do
      STYLE_BIN=$bin style_call style_split.log $model 64,128,256,512,1024 TINYCNN_CUDA_TF32=1 \
        --graph=both
    done
  done
fi
rm -f "$out/env.txt"
