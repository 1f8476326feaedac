#!/usr/bin/env bash
# GPU round for strided layers over stride phases (conv_phases.cuh) and TF32 implicit GEMM, over
# binaries packed into .gpu/ (tinycnn_cuda_tests, cuda_conv_bench, cuda_style_bench). Output under
# $OUT (at most 8 files come back).
#   step 1: the whole [cuda] suite; the conv cases under compute-sanitizer memcheck; NIN conv1
#           against cuDNN (fp32) with TINYCNN_CONV_PHASES=0 (before: implicit GEMM forward, direct
#           backward data) and unset (phases, Winograd inside)
#   step 2: style transfer, NIN every size from 256 px, phases off and on, TF32 and fp32; VGG-16/19
#           in TF32 at 2048 px and 7680x4320; PyTorch's TF32 default for NIN at the same sizes
#   step 3: the whole [cuda] suite (final build); cuda_pool_bench where packed (after the window
#           helper); where a NIN iteration's time goes in TF32 at 2048 px (ncu,
#           gpu__time_duration per kernel over 300 launches)
#   step 4: fp32 against fp32: ours (TINYCNN_CUDA_TF32=0) and PyTorch with TF32 off, NIN at every
#           size from 256 px, VGG-16/19 at 256-2048 px, in one call
#   step 5: after the style loss's padded rows: the whole [cuda] suite; NIN style before (the
#           previous build packed as .gpu/bin/benchmarks/cuda_style_bench_before) and after, TF32
#           and fp32, 512 px-8K; VGG-16/19 TF32 after
# Usage on the device machine: bash tools/gpu/phases_round.sh 1|2|3|4|5
set -u
step=${1:-1}
. tools/gpu/round_env.sh
if [ "$step" = 1 ]; then
  bash tools/gpu/round.sh tests
  grep -E "^(All tests passed|test cases)" "$out/cuda_tests.log" | tail -2
  timeout 150 compute-sanitizer --tool memcheck --error-exitcode 99 .gpu/bin/tests/tinycnn_cuda_tests \
    "cuda conv: strided layers*,cuda conv on TF32*" >"$out/memcheck_conv.log" 2>&1
  echo "memcheck conv: rc=$? $(grep -E 'ERROR SUMMARY|test cases' "$out/memcheck_conv.log" | tail -2 | paste -sd' ')"
  for mode in 0 2; do
    TINYCNN_CONV_PHASES=$mode timeout 100 .gpu/run benchmarks/cuda_conv_bench \
      --benchmark_filter='nin conv1' >"$out/conv_bench_phases_$mode.log" 2>&1
    echo "cuda_conv_bench TINYCNN_CONV_PHASES=$mode: rc=$?"
    grep -E "nin conv1" "$out/conv_bench_phases_$mode.log" | grep -v bwd_filter | sed 's/ \+/ /g' | cut -c1-160
  done
fi
if [ "$step" = 2 ]; then
  for tf32 in 1 0; do
    for mode in 0 2; do
      TINYCNN_CUDA_TF32=$tf32 TINYCNN_CONV_PHASES=$mode timeout 100 .gpu/run \
        benchmarks/cuda_style_bench --models=nin --sizes=256,512,1024,2048,4096,7680x4320 \
        >"$out/style_nin_tf32_${tf32}_phases_$mode.log" 2>&1
      echo "NIN TINYCNN_CUDA_TF32=$tf32 TINYCNN_CONV_PHASES=$mode: rc=$?"
      style_lines "$out/style_nin_tf32_${tf32}_phases_$mode.log"
    done
  done
  TINYCNN_CUDA_TF32=1 timeout 80 .gpu/run benchmarks/cuda_style_bench --models=vgg16,vgg19 \
    --sizes=2048,7680x4320 >"$out/style_vgg_tf32.log" 2>&1
  echo "VGG TF32: rc=$?"; style_lines "$out/style_vgg_tf32.log"
  timeout 200 python3 tools/style_bench_torch.py --device cuda --tf32 on --models nin \
    --sizes 256,512,1024,2048,4096,7680x4320 --warmup 2 --min-iters 3 --min-time 1 \
    --out "$out/torch_nin_tf32.json" >"$out/torch_nin_tf32.log" 2>&1
  echo "torch NIN tf32: rc=$?"; grep "it/min" "$out/torch_nin_tf32.log"
fi
if [ "$step" = 3 ]; then
  bash tools/gpu/round.sh tests
  grep -E "^(All tests passed|test cases)" "$out/cuda_tests.log" | tail -2
  if [ -x .gpu/bin/benchmarks/cuda_pool_bench ]; then
    timeout 60 .gpu/run benchmarks/cuda_pool_bench >"$out/cuda_pool_bench.log" 2>&1
    echo "cuda_pool_bench: rc=$?"
    grep -E "pool1@512|pool0@512" "$out/cuda_pool_bench.log" | sed 's/ \+/ /g' | cut -c1-150
  fi
  TINYCNN_CUDA_TF32=1 timeout 240 ncu --metrics gpu__time_duration.sum --csv --launch-skip 400 \
    --launch-count 300 .gpu/bin/benchmarks/cuda_style_bench --models=nin --sizes=2048 \
    --benchmark_min_time=0.5 2>&1 | python3 tools/gpu/ncu_sum.py >"$out/ncu_nin_2048_tf32.txt"
  echo "ncu: rc=$?"; head -30 "$out/ncu_nin_2048_tf32.txt"
fi
if [ "$step" = 4 ]; then
  TINYCNN_CUDA_TF32=0 timeout 100 .gpu/run benchmarks/cuda_style_bench --models=vgg16,vgg19,nin \
    --sizes=256,512,1024,2048,4096,7680x4320 >"$out/style_fp32.log" 2>&1
  echo "ours fp32: rc=$?"; style_lines "$out/style_fp32.log"
  timeout 150 python3 tools/style_bench_torch.py --device cuda --tf32 off --models nin \
    --sizes 256,512,1024,2048,4096,7680x4320 --warmup 1 --min-iters 2 --min-time 1 \
    --out "$out/torch_nin_fp32.json" >"$out/torch_nin_fp32.log" 2>&1
  echo "torch NIN fp32: rc=$?"; grep "it/min" "$out/torch_nin_fp32.log"
  timeout 150 python3 tools/style_bench_torch.py --device cuda --tf32 off --models vgg16,vgg19 \
    --sizes 256,512,1024,2048 --warmup 1 --min-iters 2 --min-time 1 \
    --out "$out/torch_vgg_fp32.json" >"$out/torch_vgg_fp32.log" 2>&1
  echo "torch VGG fp32: rc=$?"; grep "it/min" "$out/torch_vgg_fp32.log"
fi
if [ "$step" = 5 ]; then
  bash tools/gpu/round.sh tests
  grep -E "^(All tests passed|test cases)" "$out/cuda_tests.log" | tail -2
  for tf32 in 1 0; do
    for b in cuda_style_bench_before cuda_style_bench; do
      TINYCNN_CUDA_TF32=$tf32 timeout 80 .gpu/run benchmarks/$b --models=nin \
        --sizes=512,1024,2048,4096,7680x4320 >"$out/${b}_nin_tf32_$tf32.log" 2>&1
      echo "$b NIN TINYCNN_CUDA_TF32=$tf32: rc=$?"; style_lines "$out/${b}_nin_tf32_$tf32.log"
    done
  done
  TINYCNN_CUDA_TF32=1 timeout 80 .gpu/run benchmarks/cuda_style_bench --models=vgg16,vgg19 \
    --sizes=512,2048,7680x4320 >"$out/style_vgg_tf32.log" 2>&1
  echo "VGG TF32: rc=$?"; style_lines "$out/style_vgg_tf32.log"
fi
rm -f "$out/env.txt"
