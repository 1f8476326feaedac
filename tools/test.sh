#!/usr/bin/env bash
# Builds tinycnn and runs the whole test suite (ctest). CUDA code is compiled when nvcc is found;
# [cuda] tests run when a GPU is present and are reported as skipped otherwise.
#   tools/test.sh            build dir: build/
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh
build=${TINYCNN_BUILD_DIR:-build}
jobs=$(nproc)
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j "$jobs"
ctest --test-dir "$build" --output-on-failure -j "$jobs"
