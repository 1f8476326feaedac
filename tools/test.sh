#!/usr/bin/env bash
# Builds tinycnn and runs the whole test suite (ctest). CUDA code is compiled when nvcc is found;
# [cuda] tests run when a GPU is present and are reported as skipped otherwise. Then the host C++
# tests run once more under AddressSanitizer, LeakSanitizer and UndefinedBehaviorSanitizer (the
# `asan` preset, CPU only); any sanitizer report fails the run.
#   tools/test.sh                             build dirs: build/ (or $TINYCNN_BUILD_DIR), build-asan/
#   TINYCNN_TEST_SANITIZERS=0 tools/test.sh   skip the sanitizer stage (quick local runs)
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh
build=${TINYCNN_BUILD_DIR:-build}
jobs=$(nproc)
# The tests and the examples (benchmarks are built by tools/main.sh and the GPU rounds; leaving
# them out keeps this script, which CI runs on 2 cores, well inside its 30 minutes).
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DTINYCNN_BUILD_BENCHMARKS=OFF
cmake --build "$build" -j "$jobs"
ctest --test-dir "$build" --output-on-failure -j "$jobs"

if [ "${TINYCNN_TEST_SANITIZERS:-1}" = 0 ]; then
  echo "tinycnn: sanitizer stage skipped (TINYCNN_TEST_SANITIZERS=0)"
  exit 0
fi
start=$SECONDS
cmake --preset asan >/dev/null
cmake --build build-asan -j "$jobs" --target tinycnn_tests
# allocator_may_return_null: a huge allocation returns null as it does without ASan, so that the
# tests of tinycnn's out-of-memory errors run instead of stopping at ASan's own size check.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir build-asan --output-on-failure -j "$jobs"
# A report aborts the process that made it, which fails its test; this also catches one in a
# test that ctest counted as skipped, or in a child process whose failure a test did not notice.
if grep -E -n "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" \
    build-asan/Testing/Temporary/LastTest.log; then
  echo "tinycnn: sanitizer reports in build-asan/Testing/Temporary/LastTest.log" >&2
  exit 1
fi
echo "tinycnn: sanitizer stage passed in $((SECONDS - start)) s"
