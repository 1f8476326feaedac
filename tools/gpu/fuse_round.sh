#!/usr/bin/env bash
# GPU round for the ReLU forward fused into the convolution before it (nn::Sequential,
# ops::conv2d_relu; the Winograd output transform, the GEMM epilogue or the split-K reduction write
# max(y, 0)), over binaries packed into .gpu/ (tinycnn_cuda_tests, cuda_style_bench).
# TINYCNN_FUSE_RELU=0 gives the previous behaviour, so one build measures before and after;
# BEFORE=forward (TINYCNN_FUSE_RELU=forward: the ReLU's backward not fused into the convolution's
# backward data) measures the backward fusion alone. Output under $OUT.
#   step 1: the whole [cuda] suite; the fused-ReLU cases under compute-sanitizer memcheck; style
#           iterations, before (TINYCNN_FUSE_RELU=$BEFORE, default 0) and fused (default)
#           interleaved per model, TF32, 256 px to 7680x4320
#   step 2: the same in fp32 at 512-2048 px; ours (fused, the default) and PyTorch's TF32 default
#           in the same call, VGG-16/19 and NIN at 512-2048 px
#   step 3: ours and PyTorch in the same call where earlier steps left PyTorch out: TF32 at 4096 px
#           and 7680x4320, fp32 (TF32 off for both) at 512-2048 px
#   step 4: a ReLU's backward folded into the convolution after it (its backward data masks dx by
#           its input): the [cuda] suite, the masked cases under memcheck, style iterations with
#           TINYCNN_FOLD_RELU=pool (folding into max pooling only, before) and the default
#           interleaved per model, TF32 256 px to 7680x4320, fp32 512-2048 px
#   step 5: after freeing a folded ReLU's output as soon as the convolution after it is done:
#           the [cuda] suite, and VGG-16/19 pool-only against the default at 2048 px and 8K (TF32)
# Usage on the device machine: bash tools/gpu/fuse_round.sh 1|2|3|4|5
set -u
step=${1:-1}
before=${BEFORE:-0}
. tools/gpu/round_env.sh
style() {  # style TF32 MODEL SIZES FUSE LOG
  style_call "$5" "$2" "$3" TINYCNN_CUDA_TF32="$1" TINYCNN_FUSE_RELU="$4"
}
if [ "$step" = 1 ]; then
  suite_memcheck memcheck_fuse.log \
    "cuda conv: a ReLU fused*,cuda conv: backward data masked*,cuda nn: folding*,cuda nn: frozen*,cuda ops: conv2d*"
  for model in vgg16 vgg19 nin; do
    style 1 $model 256,512,1024,2048,7680x4320 "$before" style_ab_tf32.log
    style 1 $model 256,512,1024,2048,7680x4320 1 style_ab_tf32.log
  done
fi
if [ "$step" = 2 ]; then
  for model in vgg16 vgg19 nin; do
    style 0 $model 512,1024,2048 "$before" style_ab_fp32.log
    style 0 $model 512,1024,2048 1 style_ab_fp32.log
  done
  for model in vgg16 vgg19 nin; do style 1 $model 512,1024,2048 1 style_tf32_same_call.log; done
  torch_style on 512,1024,2048 torch_tf32
fi
if [ "$step" = 3 ]; then
  for model in vgg16 vgg19 nin; do style 1 $model 4096,7680x4320 1 style_tf32_big_same_call.log; done
  torch_style on 4096,7680x4320 torch_tf32_big 300
  for model in vgg16 vgg19 nin; do style 0 $model 512,1024,2048 1 style_fp32_same_call.log; done
  torch_style off 512,1024,2048 torch_fp32
fi
if [ "$step" = 4 ]; then
  suite_memcheck memcheck_fold_conv.log "cuda conv: backward data masked*,cuda nn: frozen*,cuda ops: conv2d*"
  fold() {  # fold TF32 MODEL SIZES FOLD LOG
    style_call "$5" "$2" "$3" TINYCNN_CUDA_TF32="$1" TINYCNN_FOLD_RELU="$4"
  }
  for model in vgg16 vgg19 nin; do
    fold 1 $model 256,512,1024,2048,7680x4320 pool style_fold_conv_tf32.log
    fold 1 $model 256,512,1024,2048,7680x4320 1 style_fold_conv_tf32.log
  done
  for model in vgg16 vgg19; do
    fold 0 $model 512,1024,2048 pool style_fold_conv_fp32.log
    fold 0 $model 512,1024,2048 1 style_fold_conv_fp32.log
  done
fi
if [ "$step" = 5 ]; then
  bash tools/gpu/round.sh tests
  grep -E "^(All tests passed|test cases)" "$out/cuda_tests.log" | tail -2
  for model in vgg16 vgg19; do
    style_call style_fold_conv_tf32.log $model 2048,7680x4320 TINYCNN_CUDA_TF32=1 TINYCNN_FOLD_RELU=pool
    style_call style_fold_conv_tf32.log $model 2048,7680x4320 TINYCNN_CUDA_TF32=1 TINYCNN_FOLD_RELU=1
  done
fi
rm -f "$out/env.txt"
