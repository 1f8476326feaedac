# Sourced by the tools/gpu/*_round.sh scripts on the device machine: $out (= $OUT, created), the
# packed libraries and the peers' (cuBLAS, cuDNN) on LD_LIBRARY_PATH, style_lines (one
# "style/MODEL/cuda/SIZE <tab> iters_per_min=..." line per benchmark row of the logs given), and
# the GPU's name, driver and clock printed first.
out=${OUT:-$PWD/out}
mkdir -p "$out"
export LD_LIBRARY_PATH=$PWD/.gpu/lib:$(bash tools/gpu/peer_libs.sh)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
style_lines() { grep -hE "^style/" "$@" | grep -o "style/[a-z0-9]*/cuda/[0-9x]*\|iters_per_min=[^ ]*" | paste - -; }
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
# style_call LOG MODEL SIZES [VAR=VALUE...]: one cuda_style_bench call in that environment (120 s at
# most); its rows printed, its output appended to $out/LOG under "== MODEL VAR=VALUE...".
style_call() {
  local log=$1 model=$2 sizes=$3 part
  shift 3
  part=$(mktemp)
  env "$@" timeout 120 .gpu/run benchmarks/cuda_style_bench --models="$model" --sizes="$sizes" \
    >"$part" 2>&1
  echo "$model $*: rc=$?"
  style_lines "$part"
  { echo "== $model $*"; cat "$part"; } >>"$out/$log"
  rm -f "$part"
}
