# Sourced by the tools/gpu/*_round.sh scripts on the device machine: $out (= $OUT, created), the
# packed libraries and the peers' (cuBLAS, cuDNN) on LD_LIBRARY_PATH, style_lines (one
# "style/MODEL/cuda/SIZE <tab> iters_per_min=..." line per benchmark row of the logs given), and
# the GPU's name, driver and clock printed first.
out=${OUT:-$PWD/out}
mkdir -p "$out"
export LD_LIBRARY_PATH=$PWD/.gpu/lib:$(bash tools/gpu/peer_libs.sh)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
style_lines() { grep -hE "^style/" "$@" | grep -o "style/[a-z0-9]*/cuda/[0-9x]*\(/graph\)\?\|iters_per_min=[^ ]*" | paste - -; }
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
# style_call LOG MODEL SIZES [VAR=VALUE...] [--BENCH-FLAG...]: one cuda_style_bench call in that
# environment, with those flags (120 s at most); its rows printed, its output appended to $out/LOG
# under "== MODEL VAR=VALUE... --BENCH-FLAG...". STYLE_BIN=NAME style_call ... runs the packed
# benchmarks/NAME instead (a previous build's), under "== NAME MODEL ...".
style_call() {
  local log=$1 model=$2 sizes=$3 part a bin=${STYLE_BIN:-cuda_style_bench}
  shift 3
  local vars=() flags=()
  for a in "$@"; do
    case $a in --*) flags+=("$a") ;; *) vars+=("$a") ;; esac
  done
  part=$(mktemp)
  env "${vars[@]}" timeout 120 .gpu/run benchmarks/"$bin" --models="$model" \
    --sizes="$sizes" "${flags[@]}" >"$part" 2>&1
  local rc=$? head="$model $*"
  [ -n "${STYLE_BIN:-}" ] && head="$bin $head"
  echo "$head: rc=$rc"
  style_lines "$part"
  { echo "== $head"; cat "$part"; } >>"$out/$log"
  rm -f "$part"
}
# torch_style TF32 SIZES NAME [TIMEOUT]: PyTorch's style iteration (tools/style_bench_torch.py,
# --tf32 on|off) for VGG-16/19 and NIN at SIZES into $out/NAME.json and NAME.log, its rates printed.
torch_style() {
  timeout "${4:-200}" python3 tools/style_bench_torch.py --device cuda --tf32 "$1" \
    --models vgg16,vgg19,nin --sizes "$2" --warmup 2 --min-iters 3 --min-time 1 \
    --out "$out/$3.json" >"$out/$3.log" 2>&1
  echo "$3: rc=$?"
  grep "it/min" "$out/$3.log"
}
# suite_memcheck LOG FILTER: the whole [cuda] suite (round.sh tests), then the cases matching
# FILTER under compute-sanitizer memcheck into $out/LOG; a line each.
suite_memcheck() {
  bash tools/gpu/round.sh tests
  grep -E "^(All tests passed|test cases)" "$out/cuda_tests.log" | tail -2
  timeout 150 compute-sanitizer --tool memcheck --error-exitcode 99 \
    .gpu/bin/tests/tinycnn_cuda_tests "$2" >"$out/$1" 2>&1
  echo "memcheck: rc=$? $(grep -E 'ERROR SUMMARY|test cases|All tests' "$out/$1" | tail -2 | paste -sd' ')"
}
