#!/usr/bin/env bash
# Where the NIN style iteration's fp32 Gram tiles, max-pooling backward and ReLU backward stand
# (ncu at 2048 px, TF32 on): per launch, time, DRAM and SM throughput, achieved occupancy, grid,
# registers, DRAM and L2 bytes, instructions and three stall reasons, as CSV under $OUT. Over
# binaries packed into .gpu/ (cuda_style_bench). Usage on the device machine: bash tools/gpu/diag_ncu.sh
out=${OUT:-$PWD/out}; mkdir -p "$out"
export LD_LIBRARY_PATH=$PWD/.gpu/lib:$(bash tools/gpu/peer_libs.sh)
TINYCNN_CUDA_TF32=1 timeout 240 ncu --kernel-name-base demangled \
  --kernel-name regex:'<TileConfig<128|max_pool2d_backward_gather|gram_tiles|ReluBackward' --launch-count 40 \
  --metrics gpu__time_duration.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed,sm__throughput.avg.pct_of_peak_sustained_elapsed,sm__warps_active.avg.pct_of_peak_sustained_active,launch__grid_size,launch__registers_per_thread,dram__bytes_read.sum,dram__bytes_write.sum,smsp__inst_executed.sum,lts__t_bytes.sum,smsp__warp_issue_stalled_long_scoreboard_per_warp_active.pct,smsp__warp_issue_stalled_lg_throttle_per_warp_active.pct,smsp__warp_issue_stalled_mio_throttle_per_warp_active.pct \
  --csv .gpu/bin/benchmarks/cuda_style_bench --models=nin --sizes=2048 --benchmark_min_time=0.05 \
  >"$out/ncu_diag.csv" 2>"$out/ncu_diag.err"
echo "ncu rc=$? lines=$(wc -l <"$out/ncu_diag.csv")"; tail -3 "$out/ncu_diag.err"
