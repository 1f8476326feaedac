#!/usr/bin/env bash
# Where the time of one style iteration goes, ours against PyTorch's, kernel by kernel, over
# binaries packed into .gpu/ (cuda_style_bench). Output under $OUT.
#   step 1: VGG-16 at 2048 px in TF32 (PyTorch: its default, cuDNN convolutions in TF32):
#           PyTorch's kernel table of 2 iterations (torch.profiler), and every launch of ours
#           (ncu: time, grid, block, SM and DRAM throughput) for setup plus a few iterations;
#           tools/gpu/launch_table.py cuts one iteration out of the launches and sums it.
# Usage on the device machine: bash tools/gpu/profile_round.sh 1 [MODEL] [SIZE]
set -u
step=${1:-1}
model=${2:-vgg16}
size=${3:-2048}
. tools/gpu/round_env.sh
if [ "$step" = 1 ]; then
  timeout 150 python3 tools/style_bench_torch.py --device cuda --tf32 on --models "$model" \
    --sizes "$size" --warmup 2 --min-iters 2 --min-time 0.5 --profile 2 \
    >"$out/torch_profile_${model}_$size.log" 2>&1
  echo "torch profile: rc=$?"; grep "it/min" "$out/torch_profile_${model}_$size.log"
  TINYCNN_CUDA_TF32=1 timeout 300 ncu --clock-control none --kernel-name-base demangled \
    --launch-count 900 \
    --metrics gpu__time_duration.sum,sm__throughput.avg.pct_of_peak_sustained_elapsed,dram__throughput.avg.pct_of_peak_sustained_elapsed \
    --csv .gpu/bin/benchmarks/cuda_style_bench --models="$model" --sizes="$size" \
    --benchmark_min_time=0.05 >"$out/ncu_${model}_$size.csv" 2>"$out/ncu_${model}_$size.err"
  echo "ncu rc=$? lines=$(wc -l <"$out/ncu_${model}_$size.csv")"; tail -3 "$out/ncu_${model}_$size.err"
fi
