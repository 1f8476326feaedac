#!/usr/bin/env bash
# tinycnn's main job: build everything and run the examples (the style-transfer benchmark takes
# this place once it exists).
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
