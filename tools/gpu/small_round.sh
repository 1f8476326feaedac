#!/usr/bin/env bash
# GPU round for the small-image changes: the direct backward-data kernel's output channels split
# over blocks (kernels/cuda/conv.cuh, plan_direct_backward_data; the first layer of VGG and NIN at
# 64-256 px) and Gram chunks shorter than 256 where 256 leaves the GPU idle (kernels/cuda/gemm.cuh,
# gram_plan), and the 1x1 layers' products split along the reduction where they have very few
# tiles (plan_pointwise_split), over binaries packed into .gpu/ (tinycnn_cuda_tests,
# cuda_style_bench, and earlier builds' cuda_style_bench as cuda_style_bench_before (HEAD before
# this round) and cuda_style_bench_mid (before the 1x1 split)). Output under $OUT.
#   step 1: the whole [cuda] suite; the new cases under compute-sanitizer memcheck; backward data
#           of VGG conv1_1 and NIN conv1 at 64, 128 and 224 px with and without the split against
#           cuDNN (cuda_conv_bench); style iterations before / after, plain and through a CUDA
#           graph, TF32, 64-512 px, interleaved per model; then each change switched off alone
#           (TINYCNN_CONV_DIRECT_SPLIT=0, TINYCNN_GRAM_SHORT_CHUNKS=0) at 64-256 px
#   step conv: the cuda_conv_bench rows of step 1 alone
#   step 2: ours, TF32, plain and through the graph, 64-2048 px, and PyTorch's TF32 default in the
#           same call; step 2f: the same in fp32 (TF32 off both) at 64-1024 px
#   step pw: the 1x1 layers' split-K (conv.cuh, plan_pointwise_split): the [cuda] suite, its case
#           under memcheck; style iterations TF32 before (HEAD) / mid (the two changes above) /
#           after, plain and graph, 64-1024 px (VGG as the control: no 1x1 layers); NIN with
#           TINYCNN_CONV_POINTWISE_SPLIT=0; NIN fp32 mid / after
#   step 3: every launch of one iteration of NIN and VGG-16 at 64 px (ncu; launch_table.py)
# Usage on the device machine: [MODELS="nin vgg16 vgg19"] bash tools/gpu/small_round.sh 1|conv|2|2f|pw|3
set -u
step=${1:-1}
. tools/gpu/round_env.sh
models=${MODELS:-nin vgg16 vgg19}
if [ "$step" = 1 ]; then
  suite_memcheck memcheck_small.log "*output channels split over blocks*,cuda gram*"
  bash tools/gpu/small_round.sh conv
  for model in $models; do
    for bin in cuda_style_bench_before cuda_style_bench; do
      STYLE_BIN=$bin style_call style_small.log $model 64,128,256,512 TINYCNN_CUDA_TF32=1 \
        --graph=both
    done
  done
  for model in nin vgg16; do
    for off in TINYCNN_CONV_DIRECT_SPLIT=0 TINYCNN_GRAM_SHORT_CHUNKS=0; do
      style_call style_small_off.log $model 64,128,256 TINYCNN_CUDA_TF32=1 $off --graph=both
    done
  done
fi
if [ "$step" = conv ]; then
  for split in 1 0; do
    TINYCNN_CONV_DIRECT_SPLIT=$split timeout 100 .gpu/run benchmarks/cuda_conv_bench \
      --benchmark_filter='(conv1_1|nin conv1) @(64|128|224)/bwd_data' \
      >>"$out/conv_direct_split.log" 2>&1
    echo "conv bench, TINYCNN_CONV_DIRECT_SPLIT=$split: rc=$?"
  done
  grep -E "^(cudnn|implicit_gemm)/" "$out/conv_direct_split.log" | cut -c1-170
fi
if [ "$step" = 2 ]; then
  for model in $models; do
    style_call style_tf32.log $model 64,128,256,512,1024,2048 TINYCNN_CUDA_TF32=1 --graph=both
  done
  torch_style on 64,128,256,512,1024,2048 torch_tf32 200
fi
if [ "$step" = 2f ]; then
  for model in $models; do
    style_call style_fp32.log $model 64,128,256,512,1024 --graph=both
  done
  torch_style off 64,128,256,512,1024 torch_fp32 150
fi
if [ "$step" = pw ]; then
  suite_memcheck memcheck_pointwise.log "*very few tiles split along the reduction*"
  for model in nin vgg16 vgg19; do
    for bin in cuda_style_bench_before cuda_style_bench_mid cuda_style_bench; do
      [ "$model" != nin ] && [ "$bin" = cuda_style_bench_before ] && continue
      STYLE_BIN=$bin style_call style_pointwise.log $model 64,128,256,512,1024 \
        TINYCNN_CUDA_TF32=1 --graph=both
    done
  done
  style_call style_pointwise_off.log nin 64,128,256,512 TINYCNN_CUDA_TF32=1 \
    TINYCNN_CONV_POINTWISE_SPLIT=0 --graph=both
  style_call style_pointwise_fp32.log nin 64,128,256,512 --graph=both
  STYLE_BIN=cuda_style_bench_mid style_call style_pointwise_fp32.log nin 64,128,256,512 --graph=both
fi
if [ "$step" = 3 ]; then
  for model in nin vgg16; do
    TINYCNN_CUDA_TF32=1 timeout 150 ncu --clock-control none --kernel-name-base demangled \
      --launch-count 400 --metrics gpu__time_duration.sum --csv \
      .gpu/bin/benchmarks/cuda_style_bench --models="$model" --sizes=64 \
      --benchmark_min_time=0.05 >"$out/ncu_${model}_64.csv" 2>"$out/ncu_${model}_64.err"
    echo "ncu $model rc=$?"
    python3 tools/gpu/launch_table.py "$out/ncu_${model}_64.csv" >"$out/launch_table_${model}_64.txt"
    head -12 "$out/launch_table_${model}_64.txt"
  done
fi
rm -f "$out/env.txt"
