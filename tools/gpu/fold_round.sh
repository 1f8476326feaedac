#!/usr/bin/env bash
# GPU round for the ReLU backward folded into max pooling (nn::Sequential, positive_only argmax)
# and products of at most 64 rows on the 64-row tiles (kernels/cuda/gemm.cuh), over binaries
# packed into .gpu/ (tinycnn_cuda_tests, cuda_style_bench). Both have switches, so one build
# measures before and after: TINYCNN_FOLD_RELU=0 and TINYCNN_GEMM_NARROW_TILES=0 give the previous
# behaviour. Output under $OUT.
#   step 1: the whole [cuda] suite; the pooling and folding cases under compute-sanitizer
#           memcheck; style iterations, old (both off) and new (both on, the default) interleaved
#           per model, TF32, 256 px to 7680x4320, plus VGG-19 with the narrow tiles alone; the same
#           in fp32 at 512-2048 px; every launch of a VGG-16 TF32 iteration at 2048 px (ncu) for
#           tools/gpu/launch_table.py
#   step 2: ours (the new default) and PyTorch's TF32 default in the same call, VGG-16/19 and NIN at
#           512-2048 px
# Usage on the device machine: bash tools/gpu/fold_round.sh 1|2
set -u
step=${1:-1}
. tools/gpu/round_env.sh
style() {  # style TF32 MODEL SIZES FOLD NARROW LOG
  style_call "$6" "$2" "$3" TINYCNN_CUDA_TF32="$1" TINYCNN_FOLD_RELU="$4" \
    TINYCNN_GEMM_NARROW_TILES="$5"
}
if [ "$step" = 1 ]; then
  suite_memcheck memcheck_fold.log "cuda max_pool2d*,cuda nn: folding*"
  big=256,512,1024,2048,7680x4320
  for model in vgg16 vgg19 nin; do
    style 1 $model $big 0 0 style_ab_tf32.log
    style 1 $model $big 1 1 style_ab_tf32.log
  done
  style 1 vgg19 $big 0 1 style_ab_tf32.log
  for model in vgg16 vgg19 nin; do
    style 0 $model 512,1024,2048 0 0 style_ab_fp32.log
    style 0 $model 512,1024,2048 1 1 style_ab_fp32.log
  done
  TINYCNN_CUDA_TF32=1 timeout 200 ncu --clock-control none --kernel-name-base demangled \
    --launch-skip 600 --launch-count 700 \
    --metrics gpu__time_duration.sum,sm__throughput.avg.pct_of_peak_sustained_elapsed,dram__throughput.avg.pct_of_peak_sustained_elapsed \
    --csv .gpu/bin/benchmarks/cuda_style_bench --models=vgg16 --sizes=2048 \
    --benchmark_min_time=0.05 >"$out/ncu_vgg16_2048.csv" 2>"$out/ncu_vgg16_2048.err"
  echo "ncu rc=$?"; python3 tools/gpu/launch_table.py "$out/ncu_vgg16_2048.csv" | head -25
fi
if [ "$step" = 2 ]; then
  for model in vgg16 vgg19 nin; do style 1 $model 512,1024,2048 1 1 style_tf32_same_call.log; done
  torch_style on 512,1024,2048 torch_tf32
fi
rm -f "$out/env.txt"
