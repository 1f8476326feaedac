#!/usr/bin/env bash
# GPU rounds for the TF32 tensor-core convolutions (set_cuda_conv_tf32 / TINYCNN_CUDA_TF32=1), over
# binaries packed into .gpu/ (tests, cuda_gemm_bench, cuda_style_bench). Output under $OUT.
#   step 1: the whole [cuda] suite; the TF32 cases again with -s (their measured errors); those
#           cases under memcheck and racecheck; GEMM against cuBLAS, TF32 and fp32
#   step 2: style transfer it/min, ours in TF32 and fp32, every model and size
#   step 3: PyTorch's default mode (TF32 convolutions) at the same sizes
#   step 4: the suite again, ours in TF32 and fp32 at two sizes (after a change)
# Usage on the device machine: bash tools/gpu/tf32_round.sh 1|2|3|4
set -u
step=${1:-1}
out=${OUT:-$PWD/out}
mkdir -p "$out"
bin=$PWD/.gpu/bin
export LD_LIBRARY_PATH=$PWD/.gpu/lib:$(bash tools/gpu/peer_libs.sh)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
sizes=64,128,256,512,1024,2048,4096,7680x4320
tf32_cases='cuda gemm on TF32 tensor cores*,cuda conv on TF32 tensor cores*,cuda ops: set_cuda_conv_tf32*'
# The TF32 cases with -s: each comparison's relative error and its case, one line each.
tf32_errors() {
  .gpu/run tests/tinycnn_cuda_tests "$tf32_cases" -s 2>&1 |
    grep -E "^  |^(All tests|test cases)" | grep -vE "REQUIRE|CHECK|element outside C|^  with" |
    awk '!seen[$0]++' >"$out/tf32_errors.log"
  echo "tf32 cases -s: $(tail -1 "$out/tf32_errors.log")"
}
if [ "$step" = 1 ]; then
  bash tools/gpu/round.sh tests
  tf32_errors
  for tool in memcheck racecheck; do
    TINYCNN_CUDA_DIRECT_ALLOC=1 timeout 150 compute-sanitizer --tool $tool --error-exitcode 99 \
      "$bin/tests/tinycnn_cuda_tests" "$tf32_cases" >"$out/tf32_$tool.log" 2>&1
    echo "$tool: rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$out/tf32_$tool.log" | tail -1)"
  done
  env -u NVIDIA_TF32_OVERRIDE timeout 120 .gpu/run benchmarks/cuda_gemm_bench --tf32 \
    --benchmark_out="$out/gemm_tf32.json" --benchmark_out_format=json >"$out/gemm_tf32.log" 2>&1
  echo "gemm tf32: rc=$?"
  timeout 120 .gpu/run benchmarks/cuda_gemm_bench \
    --benchmark_out="$out/gemm_fp32.json" --benchmark_out_format=json >"$out/gemm_fp32.log" 2>&1
  echo "gemm fp32: rc=$?"
  grep -hE "^(gemm|cublas)" "$out/gemm_tf32.log" "$out/gemm_fp32.log" | grep -E "square|conv3_1|conv1_2" |
    awk '{print $1, $2, $NF, $(NF-1)}' | head -40
elif [ "$step" = 2 ]; then
  tf32_errors
  for mode in 1 0; do
    TINYCNN_CUDA_TF32=$mode timeout 260 .gpu/run benchmarks/cuda_style_bench \
      --models=vgg16,vgg19,nin --sizes=$sizes \
      --benchmark_out="$out/style_bench_tf32_$mode.json" --benchmark_out_format=json \
      >"$out/style_bench_tf32_$mode.log" 2>&1
    echo "style bench TINYCNN_CUDA_TF32=$mode: rc=$?"
    grep -E "^style/" "$out/style_bench_tf32_$mode.log" |
      grep -o "style/[a-z0-9]*/cuda/[0-9x]*\|iters_per_min=[^ ]*" | paste - -
  done
elif [ "$step" = 3 ]; then
  timeout 280 python3 tools/style_bench_torch.py --device cuda --tf32 on \
    --sizes 64,128,256,512,1024,2048,4096 --warmup 2 --min-iters 3 --min-time 1 \
    --out "$out/torch_style_tf32.json" >"$out/torch_style_tf32.log" 2>&1
  echo "torch tf32: rc=$?"; grep "it/min" "$out/torch_style_tf32.log"
  timeout 250 python3 tools/style_bench_torch.py --device cuda --tf32 on --models vgg19,nin,vgg16 \
    --sizes 7680x4320 --warmup 1 --min-iters 2 --min-time 1 \
    --out "$out/torch_style_tf32_8k.json" >"$out/torch_style_tf32_8k.log" 2>&1
  echo "torch tf32 8k: rc=$?"; grep "it/min\|warm-up" "$out/torch_style_tf32_8k.log"
elif [ "$step" = 4 ]; then
  # After the Gram split change: the suite, then ours in TF32 and fp32 at two sizes.
  bash tools/gpu/round.sh tests
  for mode in 1 0; do
    TINYCNN_CUDA_TF32=$mode timeout 50 .gpu/run benchmarks/cuda_style_bench \
      --models=vgg19,vgg16,nin --sizes=2048,7680x4320 \
      --benchmark_out="$out/style_bench_tf32_$mode.json" --benchmark_out_format=json \
      >"$out/style_bench_tf32_$mode.log" 2>&1
    echo "style bench TINYCNN_CUDA_TF32=$mode: rc=$?"
  done
  grep -hE "^style/" "$out"/style_bench_tf32_*.log |
    grep -o "style/[a-z0-9]*/cuda/[0-9x]*\|iters_per_min=[^ ]*" | paste - -
fi
rm -f "$out/env.txt"
