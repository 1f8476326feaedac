#!/usr/bin/env bash
# GPU round for style transfer through a CUDA graph (StyleOptions::cuda_graph: one evaluation
# recorded and replayed), over binaries packed into .gpu/ (tinycnn_cuda_tests, cuda_style_bench).
# Each cuda_style_bench call runs every size plain and through the graph (--graph=both:
# interleaved per size). Output under $OUT.
#   step 1: the whole [cuda] suite; the CUDA-graph and TF32 GEMM cases under compute-sanitizer
#           memcheck; TF32: ours plain and through the graph, 64-2048 px, and PyTorch's TF32
#           default in the same call
#   step 2: fp32: ours plain and through the graph, 64-1024 px, and PyTorch with TF32 off; then
#           pointwise_round.sh 2 (Winograd's few-tile products: TINYCNN_GEMM_ASYNC=1 against 2)
# Usage on the device machine: bash tools/gpu/graph_round.sh 1|2
set -u
step=${1:-1}
. tools/gpu/round_env.sh
if [ "$step" = 1 ]; then
  suite_memcheck memcheck_graph.log "*CUDA graph*,cuda gemm in TF32*"
  for model in vgg16 vgg19 nin; do
    style_call style_graph_tf32.log $model 64,128,256,512,1024,2048 TINYCNN_CUDA_TF32=1 --graph=both
  done
  torch_style on 64,128,256,512,1024,2048 torch_tf32 200
fi
if [ "$step" = 2 ]; then
  for model in vgg16 vgg19 nin; do
    style_call style_graph_fp32.log $model 64,128,256,512,1024 --graph=both
  done
  torch_style off 64,128,256,512,1024 torch_fp32 150
  bash tools/gpu/pointwise_round.sh 2
fi
rm -f "$out/env.txt"
