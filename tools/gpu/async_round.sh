#!/usr/bin/env bash
# GPU round for the TF32 products on the cp.async pipeline (kernels/cuda/gemm_async.cuh: Winograd's
# batched products of TF32 values), over binaries packed into .gpu/ (tinycnn_cuda_tests,
# cuda_gemm_bench, cuda_style_bench). TINYCNN_GEMM_ASYNC=0 keeps the register-staged tiles, so one
# build measures before and after. Output under $OUT.
#   step 1: the whole [cuda] suite; the GEMM and TF32/Winograd convolution cases under
#           compute-sanitizer memcheck; Winograd-shaped products (wino/, the staged tiles and the
#           pipeline; WINO_FILTER='wino/' adds the other tile shapes of the pipeline) against
#           cuBLAS TF32; style iterations, staged (before) and async (after) interleaved per model,
#           TF32, 256 px to 7680x4320
#   step 2: ours (async, the default) and PyTorch's TF32 default in the same call, 512 px to
#           7680x4320
#   step 3: products with too few 128x128 tiles to fill the GPU on the staged tiles (the default,
#           TINYCNN_GEMM_ASYNC=1) or on the pipeline's 64x64 tile (=2), against all staged (=0):
#           the [cuda] suite, style iterations at 256-1024 px (TF32), NIN twice
# Usage on the device machine: bash tools/gpu/async_round.sh 1|2|3
set -u
step=${1:-1}
. tools/gpu/round_env.sh
if [ "$step" = 1 ]; then
  suite_memcheck memcheck_async.log \
    "cuda gemm on TF32*,cuda conv Winograd*,cuda conv on TF32*"
  timeout 120 .gpu/run benchmarks/cuda_gemm_bench --tf32 --benchmark_filter="${WINO_FILTER:-wino/.*/(staged|async)/}" \
    --benchmark_out="$out/wino_bench.json" --benchmark_out_format=json >"$out/wino_bench.log" 2>&1
  echo "wino bench: rc=$?"
  grep -E "^wino/" "$out/wino_bench.log" | sed -E 's/ +/ /g' | cut -c1-220
  for model in vgg16 vgg19 nin; do
    style_call style_ab_tf32.log $model 256,512,1024,2048,7680x4320 TINYCNN_CUDA_TF32=1 TINYCNN_GEMM_ASYNC=0
    style_call style_ab_tf32.log $model 256,512,1024,2048,7680x4320 TINYCNN_CUDA_TF32=1 TINYCNN_GEMM_ASYNC=1
  done
fi
if [ "$step" = 2 ]; then
  for model in vgg16 vgg19 nin; do
    style_call style_tf32_same_call.log $model 512,1024,2048,4096,7680x4320 TINYCNN_CUDA_TF32=1
  done
  torch_style on 512,1024,2048,4096,7680x4320 torch_tf32 330
fi
if [ "$step" = 3 ]; then
  bash tools/gpu/round.sh tests
  grep -E "^(All tests passed|test cases)" "$out/cuda_tests.log" | tail -1
  for model in vgg16 vgg19 nin nin; do
    for mode in 0 1 2; do
      style_call style_few_tiles.log $model 256,512,1024 TINYCNN_CUDA_TF32=1 TINYCNN_GEMM_ASYNC=$mode
    done
  done
fi
rm -f "$out/env.txt"
