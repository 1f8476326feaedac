# GPU rounds of 2026-12-03 (later session): step 1 the [cuda] suite, then the PyTorch
# measurements owed: fp32 VGG-16 at 7680x4320 and PyTorch's default mode (TF32); step 2 ours at
# every size and TF32 at 8K; step 3 fp32 VGG-16 8K with cudnn.benchmark given 400 s.
# Usage on the device machine: bash tools/gpu/torch_gaps.sh 1|2|3
set -u
step=${1:-1}
if [ "$step" = 1 ]; then
  bash tools/gpu/round.sh tests
  NVIDIA_TF32_OVERRIDE=0 timeout 200 python3 tools/style_bench_torch.py --device cuda --tf32 off \
    --models vgg16 --sizes 7680x4320 --warmup 1 --min-iters 2 --min-time 1 \
    --out "$OUT/torch_vgg16_8k_fp32.json" >"$OUT/torch_vgg16_8k_fp32.log" 2>&1
  echo "torch vgg16 8k fp32: rc=$?"; grep "it/min" "$OUT/torch_vgg16_8k_fp32.log"
  timeout 240 python3 tools/style_bench_torch.py --device cuda --tf32 on \
    --sizes 64,128,256,512,1024,2048,4096 --warmup 2 --min-iters 3 --min-time 1 \
    --out "$OUT/torch_style_tf32.json" >"$OUT/torch_style_tf32.log" 2>&1
  echo "torch tf32: rc=$?"; grep "it/min" "$OUT/torch_style_tf32.log"
elif [ "$step" = 2 ]; then
  STYLE_TIMEOUT=200 STYLE_ARGS="--models=vgg16,vgg19,nin --sizes=64,128,256,512,1024,2048,4096,7680x4320" \
    bash tools/gpu/round.sh style_bench
  grep -E "^style/" "$OUT/style_bench.log" | grep -o "style/[a-z0-9]*/cuda/[0-9x]*\|iters_per_min=[^ ]*" | paste - -
  NVIDIA_TF32_OVERRIDE=0 timeout 130 python3 tools/style_bench_torch.py --device cuda --tf32 off \
    --cudnn-benchmark off --models vgg16 --sizes 7680x4320 --warmup 1 --min-iters 2 --min-time 1 \
    --out "$OUT/torch_vgg16_8k_fp32_nobench.json" >"$OUT/torch_vgg16_8k_fp32_nobench.log" 2>&1
  echo "torch vgg16 8k fp32, cudnn.benchmark off: rc=$?"; grep "it/min\|warm-up" "$OUT/torch_vgg16_8k_fp32_nobench.log"
  timeout 200 python3 tools/style_bench_torch.py --device cuda --tf32 on --models vgg19,nin,vgg16 \
    --sizes 7680x4320 --warmup 1 --min-iters 2 --min-time 1 \
    --out "$OUT/torch_style_tf32_8k.json" >"$OUT/torch_style_tf32_8k.log" 2>&1
  echo "torch tf32 8k: rc=$?"; grep "it/min\|warm-up" "$OUT/torch_style_tf32_8k.log"
fi
if [ "$step" = 3 ]; then
  # fp32 VGG-16 at 8K with cudnn.benchmark on (step 1: no result within 200 s), given 400 s and a
  # line per slow warm-up iteration; VGG-19 at 8K with it off, beside step 2's VGG-16.
  NVIDIA_TF32_OVERRIDE=0 timeout 400 python3 tools/style_bench_torch.py --device cuda --tf32 off \
    --models vgg16 --sizes 7680x4320 --warmup 1 --min-iters 2 --min-time 1 \
    --out "$OUT/torch_vgg16_8k_fp32.json" >"$OUT/torch_vgg16_8k_fp32.log" 2>&1
  echo "torch vgg16 8k fp32: rc=$?"; grep "it/min\|warm-up" "$OUT/torch_vgg16_8k_fp32.log"
  NVIDIA_TF32_OVERRIDE=0 timeout 100 python3 tools/style_bench_torch.py --device cuda --tf32 off \
    --cudnn-benchmark off --models vgg19 --sizes 7680x4320 --warmup 1 --min-iters 2 --min-time 1 \
    --out "$OUT/torch_vgg19_8k_fp32_nobench.json" >"$OUT/torch_vgg19_8k_fp32_nobench.log" 2>&1
  echo "torch vgg19 8k fp32, cudnn.benchmark off: rc=$?"; grep "it/min\|warm-up" "$OUT/torch_vgg19_8k_fp32_nobench.log"
fi
rm -f "$OUT/env.txt"
