# Sourced by the tools/gpu/*_round.sh scripts on the device machine: $out (= $OUT, created), the
# packed libraries and the peers' (cuBLAS, cuDNN) on LD_LIBRARY_PATH, style_lines (one
# "style/MODEL/cuda/SIZE <tab> iters_per_min=..." line per benchmark row of the logs given), and
# the GPU's name, driver and clock printed first.
out=${OUT:-$PWD/out}
mkdir -p "$out"
export LD_LIBRARY_PATH=$PWD/.gpu/lib:$(bash tools/gpu/peer_libs.sh)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
style_lines() { grep -hE "^style/" "$@" | grep -o "style/[a-z0-9]*/cuda/[0-9x]*\|iters_per_min=[^ ]*" | paste - -; }
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
