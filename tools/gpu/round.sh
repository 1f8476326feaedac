#!/usr/bin/env bash
# One round of GPU work on the device machine, over binaries packed into .gpu/ by
# ../shared/tools/pack-for-gpu (built here with the "gpu" preset). Writes logs and benchmark JSON
# under $OUT (at most 8 files come back) and prints a short summary last.
#   tools/gpu/round.sh [tests|sanitize|sanitize_cases|bench|conv_ab|train|style|style_bench|style_torch|oom|dist|final1|final2|all]   (default: all)
# If .gpucarry/gpu.tar.xz exists (the pack compressed, to fit the 64 MiB that travels) it is
# unpacked first; .gpucarry/fashion-mnist/ holds the dataset for the training runs.
set -u
if [ -f .gpucarry/gpu.tar.xz ] && [ ! -d .gpu ]; then tar xJf .gpucarry/gpu.tar.xz; fi
export TINYCNN_FASHION_MNIST=$PWD/.gpucarry/fashion-mnist
out=${OUT:-$PWD/out}
mkdir -p "$out"
# cuBLAS and cuDNN (the benchmarks' peers) are too large to carry: use the machine's own, from the
# CUDA Toolkit or from PyTorch's NVIDIA wheels.
peer_libs=$(bash "$(dirname "$0")/peer_libs.sh")
export LD_LIBRARY_PATH=$PWD/.gpu/lib:$peer_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export NVIDIA_TF32_OVERRIDE=0   # the fp32 comparisons are without TF32, for us and the peers
bin=$PWD/.gpu/bin
summary=()

run_tests() {
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH" >"$out/env.txt"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv >"$out/gpu.txt" 2>&1
  "$bin/tests/tinycnn_cuda_tests" --durations yes >"$out/cuda_tests.log" 2>&1
  summary+=("cuda tests: rc=$? $(grep -E '^(All tests passed|test cases:)' "$out/cuda_tests.log" | tail -1)")
}

run_sanitize() {
  # tools: memcheck racecheck initcheck synccheck (default: all four); TINYCNN_SANITIZE_TIMEOUT s each
  local log="$out/sanitizer.log" tools=${SANITIZE_TOOLS:-"memcheck racecheck initcheck synccheck"}
  : >"$log"
  for tool in $tools; do
    # [oom] provokes a failed allocation on purpose, which the sanitizer reports as an API error.
    local filter=${SANITIZE_FILTER:-'[cuda]~[oom]'}
    echo "==== compute-sanitizer --tool $tool ($filter)" >>"$log"
    TINYCNN_CUDA_DIRECT_ALLOC=1 timeout "${TINYCNN_SANITIZE_TIMEOUT:-280}" compute-sanitizer \
      --tool "$tool" --error-exitcode 99 "$bin/tests/tinycnn_cuda_tests" "$filter" >>"$log" 2>&1
    local rc=$?
    summary+=("sanitizer $tool: rc=$rc $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|All tests passed|test cases' "$log" | tail -2 | paste -sd' ')")
  done
}

# Every [cuda] case but [oom] as its own process under each tool, SANITIZE_JOBS (default 6) at a
# time on the one GPU, each with its own limit (TINYCNN_SANITIZE_CASE_TIMEOUT, default 300 s): a
# slow tool (racecheck) still reaches the end of the suite, and a report names its case. Writes
# one log per tool (every case's output, in order) and sanitize_cases.txt (a line per case).
run_sanitize_cases() {
  local tools=${SANITIZE_TOOLS:-"racecheck synccheck"} case_dir n i
  case_dir=$(mktemp -d)
  "$bin/tests/tinycnn_cuda_tests" --list-test-names-only "${SANITIZE_FILTER:-[cuda]~[oom]}" |
    grep -v '^$' | awk '{print NR "\t" $0}' >"$case_dir/cases.txt"
  n=$(wc -l <"$case_dir/cases.txt")
  for tool in $tools; do
    # SANITIZE_DEADLINE (s) stops starting cases, so the logs are gathered inside the call's limit.
    CASE_DIR=$case_dir BIN=$bin timeout "${SANITIZE_DEADLINE:-100000}" xargs -d '\n' \
      -P "${SANITIZE_JOBS:-6}" -I{} bash tools/gpu/sanitize_case.sh "$tool" {} <"$case_dir/cases.txt"
    pkill -f "compute-sanitizer --tool $tool" 2>/dev/null && sleep 3   # cases cut off by the deadline
    for i in $(seq 1 "$n"); do
      echo "==== $tool case $i: $(sed -n "${i}p" "$case_dir/cases.txt" | cut -f2-)"
      cat "$case_dir/$tool.$i.log" 2>/dev/null
    done >"$out/sanitize_$tool.log"
    for i in $(seq 1 "$n"); do
      cat "$case_dir/$tool.$i.result" 2>/dev/null ||
        echo "$tool $i not finished by SANITIZE_DEADLINE | $(sed -n "${i}p" "$case_dir/cases.txt" | cut -f2-)"
    done >>"$out/sanitize_cases.txt"
    summary+=("sanitizer $tool, case by case: $(grep "^$tool " "$out/sanitize_cases.txt" | grep -c ' rc=0 ') of $n cases with rc=0")
  done
  rm -rf "$case_dir"
}

run_bench() {
  : >"$out/bench.log"
  for b in cuda_gemm_bench cuda_conv_bench cuda_pool_bench; do
    [ -x "$bin/benchmarks/$b" ] || continue
    timeout 300 "$bin/benchmarks/$b" --benchmark_out="$out/$b.json" --benchmark_out_format=json \
      >>"$out/bench.log" 2>&1
    summary+=("$b: rc=$?")
  done
}

# Forward and backward-data convolutions against cuDNN with Winograd off (TINYCNN_CONV_WINOGRAD=0,
# implicit GEMM as before), forced wherever it can run (=1), and automatic (unset): the A/B that
# sets winograd_pays. CONV_BENCH_FILTER narrows the layers.
run_conv_ab() {
  : >"$out/conv_ab.log"
  for mode in 0 1 auto; do
    echo "==== TINYCNN_CONV_WINOGRAD=$mode" >>"$out/conv_ab.log"
    if [ "$mode" = auto ]; then unset TINYCNN_CONV_WINOGRAD; else export TINYCNN_CONV_WINOGRAD=$mode; fi
    timeout "${CONV_AB_TIMEOUT:-200}" "$bin/benchmarks/cuda_conv_bench" \
      --benchmark_filter="${CONV_BENCH_FILTER:-fwd|bwd_data}" \
      --benchmark_out="$out/conv_wg_$mode.json" --benchmark_out_format=json >>"$out/conv_ab.log" 2>&1
    summary+=("cuda_conv_bench TINYCNN_CONV_WINOGRAD=$mode: rc=$?")
  done
  unset TINYCNN_CONV_WINOGRAD
}

# Example 02 on the GPU over the real data, and PyTorch's training of the same models beside it.
run_train() {
  local log="$out/train.log"
  : >"$log"
  echo "==== tinycnn: fashion_mnist_cnn, 15 epochs, AdamW + cosine, augmentation" >>"$log"
  timeout 240 "$bin/examples/02_train_fashion_mnist_cuda" --epochs 15 >>"$log" 2>&1
  summary+=("train cnn: rc=$? $(grep 'final test accuracy' "$log" | tail -1)")
  echo "==== tinycnn: lenet5, 5 epochs" >>"$log"
  timeout 90 "$bin/examples/02_train_fashion_mnist_cuda" --model lenet --epochs 5 --no-augment >>"$log" 2>&1
  summary+=("train lenet: rc=$? $(grep 'final test accuracy' "$log" | tail -1)")
  for m in cnn lenet; do
    echo "==== PyTorch: $m, 2 epochs, cuda, fp32 (TF32 off)" >>"$log"
    timeout 75 python3 benchmarks/torch_train_fashion_mnist.py --model $m --device cuda --epochs 2 \
      --data "$TINYCNN_FASHION_MNIST" >>"$log" 2>&1
  done
  summary+=("torch peer: $(grep -c '^epoch' "$log") epoch lines")
}

# Style-transfer iterations per minute: ours (all models and sizes), then PyTorch's fp32 (TF32 off)
# and default (TF32 convolutions) runs of the same iteration.
run_style() {
  timeout "${STYLE_TIMEOUT:-500}" "$bin/benchmarks/cuda_style_bench" ${STYLE_ARGS:-} \
    --benchmark_out="$out/style_bench.json" --benchmark_out_format=json >"$out/style_bench.log" 2>&1
  summary+=("style_bench: rc=$? $(grep -c '^style/' "$out/style_bench.log") lines")
}
run_style_torch() {
  timeout 280 python3 tools/style_bench_torch.py --device cuda --tf32 off ${TORCH_STYLE_ARGS:---warmup 2 --min-iters 3 --min-time 1} \
    --out "$out/torch_style_fp32.json" >"$out/torch_style.log" 2>&1
  summary+=("torch style fp32: rc=$?")
  env -u NVIDIA_TF32_OVERRIDE timeout 280 python3 tools/style_bench_torch.py --device cuda --tf32 on \
    ${TORCH_STYLE_ARGS:---warmup 2 --min-iters 3 --min-time 1} --out "$out/torch_style_tf32.json" >>"$out/torch_style.log" 2>&1
  summary+=("torch style tf32: rc=$?")
}

what=${1:-all}
# The style benchmark under a memory cap: the sizes that do not fit must be reported as out of
# memory (an error result naming the bytes), the others must run.
run_oom() {
  TINYCNN_CUDA_MEMORY_LIMIT=${OOM_LIMIT:-3G} timeout 120 "$bin/benchmarks/cuda_style_bench" \
    --models=vgg19 --sizes=256,1024,2048,512 --benchmark_min_time=0.2 \
    --benchmark_out="$out/style_oom.json" --benchmark_out_format=json >"$out/style_oom.log" 2>&1
  summary+=("style_bench under TINYCNN_CUDA_MEMORY_LIMIT=${OOM_LIMIT:-3G}: rc=$? $(grep -c 'out of memory' "$out/style_oom.log") out-of-memory lines")
}

# tinycnn/dist/ on CUDA: NCCL from PyTorch's wheel (too large to carry); under mpirun with two
# ranks sharing the GPU through MPI when the machine has Open MPI, else as one process.
run_dist() {
  local log="$out/dist.log" nccl
  nccl=$(python3 -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "nccl", "lib"))' 2>/dev/null)
  export LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$nccl
  export NCCL_NVLS_ENABLE=0
  { echo "nccl: $nccl"; ls "$nccl" 2>&1; which mpirun 2>&1; ldd "$bin/tests/tinycnn_dist_cuda_tests" | grep -E "nccl|mpi|not found"; } >"$log" 2>&1
  echo "==== one process (TINYCNN_TEST_NO_MPI=1)" >>"$log"
  TINYCNN_TEST_NO_MPI=1 timeout 200 "$bin/tests/tinycnn_dist_cuda_tests" --durations yes >>"$log" 2>&1
  summary+=("dist cuda tests, one process: rc=$? $(grep -E '^(All tests passed|test cases:)' "$log" | tail -1)")
  echo "==== memcheck, one process" >>"$log"
  TINYCNN_TEST_NO_MPI=1 TINYCNN_CUDA_DIRECT_ALLOC=1 timeout 200 compute-sanitizer --tool memcheck --error-exitcode 99 \
    "$bin/tests/tinycnn_dist_cuda_tests" "style transfer split by rows on CUDA*" >>"$log" 2>&1
  summary+=("dist memcheck: rc=$? $(grep -E 'ERROR SUMMARY' "$log" | tail -1)")
  if command -v mpirun >/dev/null; then
    for np in 2; do
      echo "==== mpirun -np $np" >>"$log"
      OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 timeout 60 mpirun -np $np --oversubscribe \
        -x LD_LIBRARY_PATH "$bin/tests/tinycnn_dist_cuda_tests" "[cuda]~NCCL*~DataParallel*" >>"$log" 2>&1
      summary+=("dist cuda tests, mpirun -np $np: rc=$?")
    done
  fi
}

case "$what" in
  tests) run_tests ;;
  conv_ab) run_conv_ab ;;
  style_bench) run_style ;;
  sanitize) run_sanitize ;;
  sanitize_cases) run_sanitize_cases ;;
  bench) run_bench ;;
  train) run_train ;;
  final1) run_tests; run_train ;;
  style) run_tests; run_style ;;
  style_torch) run_style_torch ;;
  oom) run_oom ;;
  dist) run_dist ;;
  final2) run_bench; SANITIZE_TOOLS="memcheck racecheck" TINYCNN_SANITIZE_TIMEOUT=${TINYCNN_SANITIZE_TIMEOUT:-100} run_sanitize ;;
  all) run_tests; run_bench; run_sanitize ;;
  *) echo "usage: $0 [tests|sanitize|bench|all]"; exit 2 ;;
esac
printf '%s\n' "${summary[@]}"
