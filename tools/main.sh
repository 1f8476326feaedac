#!/usr/bin/env bash
# tinycnn's main job: build everything, run the first example, and run the style-transfer
# benchmark of the study tinycnn answers (Gatys style transfer with VGG-16, VGG-19 and NIN,
# iterations per minute per resolution), printed in the study's terms. With a GPU: every size from
# 64 px to 7680x4320 (a few minutes on an H100); without: the CPU at 64 and 128 px.
#   tools/main.sh [--train]   (--train also trains the Fashion-MNIST CNN: 30 epochs on a GPU,
#                              one epoch over 10000 images on the CPU)
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh
build=${TINYCNN_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DTINYCNN_BUILD_BENCHMARKS=ON
cmake --build "$build" -j "$(nproc)"
for ex in "$build"/examples/01_tensor_basics "$build"/examples/01_tensor_basics_cuda; do
  [ -x "$ex" ] || continue
  echo "== $(basename "$ex")"
  "$ex"
done

gpu=0
[ -x "$build/benchmarks/cuda_style_bench" ] && nvidia-smi >/dev/null 2>&1 && gpu=1
json="$build/style_bench.json"
if [ "$gpu" = 1 ]; then
  echo "== style transfer, iterations per minute on the GPU (64 px to 7680x4320)"
  "$build/benchmarks/cuda_style_bench" --benchmark_out="$json" --benchmark_out_format=json
else
  echo "== style transfer, iterations per minute on the CPU (64 and 128 px; sizes: --sizes=...)"
  "$build/benchmarks/cpu_style_bench" --sizes=64,128 --benchmark_out="$json" --benchmark_out_format=json
fi
echo "== style transfer: Adam iterations per minute (forward, losses, backward to the image, step)"
python3 tools/style_table.py "$json"

if [ "${1:-}" = "--train" ]; then
  if [ "$gpu" = 1 ]; then
    echo "== 02_train_fashion_mnist_cuda (30 epochs on the GPU)"
    "$build/examples/02_train_fashion_mnist_cuda" --epochs 30
  else
    echo "== 02_train_fashion_mnist (1 epoch over 10000 images on the CPU)"
    "$build/examples/02_train_fashion_mnist" --epochs 1 --limit 10000
  fi
fi
