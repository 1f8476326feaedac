#!/usr/bin/env bash
# GPU round for the symmetric Gram kernel (kernels/cuda/gemm.cuh `gram`: upper tiles only, split
# along H*W) and the style iteration's single loss read-back (ops::LossBuffer), over binaries packed
# into .gpu/ (tinycnn_cuda_tests, cuda_gemm_bench, cuda_style_bench, and the previous build's
# cuda_style_bench as .gpu/bin/benchmarks/cuda_style_bench_before). Output under $OUT (at most 8
# files come back).
#   step 1: the whole [cuda] suite; the Gram and style-loss cases under compute-sanitizer memcheck;
#           cuda_gemm_bench gram/* (general split product vs the symmetric kernel vs cuBLAS, fp32);
#           style iterations before and after in TF32, VGG-16/19 and NIN, 64 px to 7680x4320
#   step 2: the same as step 1 on the next build (one resident wave of chunks, two-level chunk sum),
#           then PyTorch's TF32 default at 64-2048 px, VGG-16/19 and NIN, in the same call
#   step 3: cuda_gemm_bench gram/nin* (step 2's run stopped at its time limit before them); the
#           same before/after in fp32 at 64-2048 px; PyTorch fp32 (TF32 off) there; where a NIN
#           TF32 iteration's time goes at 2048 px (ncu, gpu__time_duration per kernel)
#   step 4: after the 2-D max-pooling backward gather: the whole [cuda] suite; the pooling cases
#           under memcheck; cuda_pool_bench (against cuDNN); style before (this file's step 2/3
#           build, packed as cuda_style_bench_before) and after, TF32, 256 px to 7680x4320
# Usage on the device machine: bash tools/gpu/gram_round.sh 1|2|3|4
set -u
step=${1:-1}
. tools/gpu/round_env.sh
sizes=64,256,512,1024,2048,7680x4320
ab() {  # ab TF32 LOGNAME: before and after, every model, interleaved per model
  local tf32=$1 name=$2 b model part
  : >"$out/$name"
  for model in vgg16 vgg19 nin; do
    for b in cuda_style_bench_before cuda_style_bench; do
      part=$(mktemp)
      TINYCNN_CUDA_TF32=$tf32 timeout 100 .gpu/run benchmarks/$b --models=$model --sizes=$sizes \
        >"$part" 2>&1
      echo "$b $model TF32=$tf32: rc=$?"
      style_lines "$part"
      { echo "== $b $model TINYCNN_CUDA_TF32=$tf32"; cat "$part"; } >>"$out/$name"
      rm -f "$part"
    done
  done
}
if [ "$step" = 1 ] || [ "$step" = 2 ]; then
  bash tools/gpu/round.sh tests
  grep -E "^(All tests passed|test cases)" "$out/cuda_tests.log" | tail -2
  timeout 120 compute-sanitizer --tool memcheck --error-exitcode 99 .gpu/bin/tests/tinycnn_cuda_tests \
    "cuda gram*,cuda losses queued*,cuda style loss on maps*" >"$out/memcheck_gram.log" 2>&1
  echo "memcheck gram/style: rc=$? $(grep -E 'ERROR SUMMARY|test cases|All tests' "$out/memcheck_gram.log" | tail -2 | paste -sd' ')"
  NVIDIA_TF32_OVERRIDE=0 timeout 150 .gpu/run benchmarks/cuda_gemm_bench --benchmark_filter='gram/' \
    >"$out/gemm_bench_gram.log" 2>&1
  echo "cuda_gemm_bench gram: rc=$?"
  grep -E "^gram/" "$out/gemm_bench_gram.log" | awk '{printf "%s %s %s", $1, $2, $3; for (i = 4; i <= NF; i++) if ($i ~ /^(TFLOP|vs_cublas|chunks)/) printf " %s", $i; print ""}'
  ab 1 style_ab_tf32.log
fi
if [ "$step" = 2 ]; then
  timeout 200 python3 tools/style_bench_torch.py --device cuda --tf32 on --models vgg16,vgg19,nin \
    --sizes 64,256,512,1024,2048 --warmup 2 --min-iters 3 --min-time 1 \
    --out "$out/torch_tf32.json" >"$out/torch_tf32.log" 2>&1
  echo "torch tf32: rc=$?"; grep "it/min" "$out/torch_tf32.log"
fi
if [ "$step" = 3 ]; then
  NVIDIA_TF32_OVERRIDE=0 timeout 60 .gpu/run benchmarks/cuda_gemm_bench --benchmark_filter='gram/nin' \
    >"$out/gemm_bench_gram_nin.log" 2>&1
  echo "cuda_gemm_bench gram/nin: rc=$?"
  grep -E "^gram/" "$out/gemm_bench_gram_nin.log" | awk '{printf "%s %s %s", $1, $2, $3; for (i = 4; i <= NF; i++) if ($i ~ /^(TFLOP|vs_cublas|chunks)/) printf " %s", $i; print ""}'
  sizes=64,256,512,1024,2048
  ab 0 style_ab_fp32.log
  timeout 170 python3 tools/style_bench_torch.py --device cuda --tf32 off --models vgg16,vgg19,nin \
    --sizes 64,256,512,1024,2048 --warmup 1 --min-iters 2 --min-time 1 \
    --out "$out/torch_fp32.json" >"$out/torch_fp32.log" 2>&1
  echo "torch fp32: rc=$?"; grep "it/min" "$out/torch_fp32.log"
  TINYCNN_CUDA_TF32=1 timeout 100 ncu --metrics gpu__time_duration.sum --csv --launch-skip 400 \
    --launch-count 300 .gpu/bin/benchmarks/cuda_style_bench --models=nin --sizes=2048 \
    --benchmark_min_time=0.5 2>&1 | python3 tools/gpu/ncu_sum.py >"$out/ncu_nin_2048_tf32.txt"
  echo "ncu: rc=$?"; head -30 "$out/ncu_nin_2048_tf32.txt"
fi
if [ "$step" = 4 ]; then
  bash tools/gpu/round.sh tests
  grep -E "^(All tests passed|test cases)" "$out/cuda_tests.log" | tail -2
  timeout 90 compute-sanitizer --tool memcheck --error-exitcode 99 .gpu/bin/tests/tinycnn_cuda_tests \
    "cuda max_pool2d*" >"$out/memcheck_pool.log" 2>&1
  echo "memcheck pool: rc=$? $(grep -E 'ERROR SUMMARY|test cases|All tests' "$out/memcheck_pool.log" | tail -2 | paste -sd' ')"
  NVIDIA_TF32_OVERRIDE=0 timeout 90 .gpu/run benchmarks/cuda_pool_bench --benchmark_filter=max_pool_backward \
    >"$out/pool_bench.log" 2>&1
  echo "cuda_pool_bench: rc=$?"
  grep -E "^max_pool_backward/ours" "$out/pool_bench.log" | awk '{printf "%s %s", $1, $2; for (i = 3; i <= NF; i++) if ($i ~ /^(vs_cudnn|GB)/) printf " %s", $i; print ""}'
  sizes=256,1024,2048,7680x4320
  ab 1 style_ab_pool_tf32.log
fi
rm -f "$out/env.txt"
