#!/usr/bin/env bash
# GPU round for the 1x1 layers' TF32 products on the cp.async pipeline (kernels/cuda/gemm_async.cuh:
# operands rounded in shared memory, A transposed for backward data, B's rows copied float by float
# where H*W is not a multiple of 4), over binaries packed into .gpu/ (tinycnn_cuda_tests,
# cuda_gemm_bench, cuda_style_bench). TINYCNN_GEMM_ASYNC_ROUNDING=0 keeps those products on the
# register-staged tiles, so one build measures before and after. Output under $OUT.
#   step 1: the whole [cuda] suite; the TF32 GEMM and convolution cases and the style transfer
#           through a CUDA graph under compute-sanitizer memcheck; NIN's 1x1 products (pw/, staged and pipeline) and VGG's 64-row Winograd
#           product (wino/conv1_2: the 64x128 tile with registers for two blocks, as now, and for
#           four, as before) against cuBLAS TF32; NIN's style iterations (TF32), 1x1 products
#           staged (before) and on the pipeline (after), interleaved, twice, 256 px to 7680x4320
#   step 2: Winograd's few-tile products on the staged tiles (TINYCNN_GEMM_ASYNC=1, the default)
#           against the pipeline's 64x64 tile (=2, read as 1 before this session) at 256-1024 px
# Usage on the device machine: bash tools/gpu/pointwise_round.sh 1|2
set -u
step=${1:-1}
. tools/gpu/round_env.sh
if [ "$step" = 1 ]; then
  suite_memcheck memcheck_pw.log "cuda gemm in TF32*,cuda conv on TF32*,*CUDA graph*"
  timeout 150 .gpu/run benchmarks/cuda_gemm_bench --tf32 \
    --benchmark_filter='^(pw/|wino/conv1_2[^/]*/(staged|async|async 64x128x32 registers for 4 blocks)/)' \
    --benchmark_out="$out/pw_bench.json" --benchmark_out_format=json >"$out/pw_bench.log" 2>&1
  echo "pw bench: rc=$?"
  grep -E "^(pw|wino)/" "$out/pw_bench.log" | sed -E 's/ +/ /g' | cut -c1-220
  for round in 1 2; do
    style_call style_pw_ab.log nin 256,512,1024,2048,7680x4320 TINYCNN_CUDA_TF32=1 TINYCNN_GEMM_ASYNC_ROUNDING=0
    style_call style_pw_ab.log nin 256,512,1024,2048,7680x4320 TINYCNN_CUDA_TF32=1
  done
fi
if [ "$step" = 2 ]; then
  for model in vgg16 nin; do
    for mode in 1 2; do
      style_call style_few_tiles.log $model 256,512,1024 TINYCNN_CUDA_TF32=1 TINYCNN_GEMM_ASYNC=$mode
    done
  done
fi
rm -f "$out/env.txt"
