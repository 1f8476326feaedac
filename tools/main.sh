#!/usr/bin/env bash
# tinycnn's main job for now: build everything, run the examples, and train on Fashion-MNIST for a
# short while (the style-transfer benchmark takes this place once it exists). With a GPU the
# training runs there for 30 epochs; on the CPU one epoch over 10000 images.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh
build=${TINYCNN_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j "$(nproc)"
for ex in "$build"/examples/01_tensor_basics "$build"/examples/01_tensor_basics_cuda; do
  [ -x "$ex" ] || continue
  echo "== $(basename "$ex")"
  "$ex"
done
if [ -x "$build/examples/02_train_fashion_mnist_cuda" ] && nvidia-smi >/dev/null 2>&1; then
  echo "== 02_train_fashion_mnist_cuda (30 epochs on the GPU)"
  "$build/examples/02_train_fashion_mnist_cuda" --epochs 30
else
  echo "== 02_train_fashion_mnist (1 epoch over 10000 images on the CPU)"
  "$build/examples/02_train_fashion_mnist" --epochs 1 --limit 10000
fi
