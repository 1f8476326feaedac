#!/usr/bin/python3
"""PyTorch side of the style-transfer benchmark: Gatys iterations per minute per resolution, the same
iteration that tinycnn's benchmark times, so the two can be compared on one GPU or one CPU.

  /usr/bin/python3 tools/style_bench_torch.py --device cpu --threads 2 --sizes 64,128 --out cpu.json
  python3 tools/style_bench_torch.py --device cuda --tf32 off --out torch_fp32.json
  python3 tools/style_bench_torch.py --device cuda --tf32 on --optimizer lbfgs --models vgg19 ...

Runs on torch 1.13 and 2.x; needs neither torchvision nor the safetensors package.

Networks (built by hand, torchvision layer order, truncated after the deepest tapped layer; weights
frozen, eval mode; random Kaiming weights, or --weights FILE.safetensors):
  vgg16, vgg19  conv3x3 pad 1 + ReLU(inplace) blocks, MaxPool2d(2, 2) between blocks. Tap names are
                Caffe's (conv3_3 = before the ReLU, relu3_3 = after); weights are read as
                torchvision's "features.<index>.weight/bias" (or Caffe's "conv3_3.weight").
  nin           NIN-ImageNet: conv1 11x11/4 96, cccp1, cccp2 (1x1 96), pool0, conv2 5x5 p2 256,
                cccp3, cccp4, pool2, conv3 3x3 p1 384, cccp5, cccp6, pool3, conv4-1024 3x3 p1 1024,
                cccp7-1024 1x1 1024, cccp8-1024 1x1 1000; every conv followed by a ReLU named as
                in Caffe's prototxt: relu0 relu1 relu2 | relu3 relu5 relu6 | relu7 relu8 relu9 |
                relu10 relu11 relu12 (there is no relu4). Pools 3x3 stride 2: max with ceil_mode
                (Caffe) by default; --pool preset gives chainer-gogh's average pooling (floor).
                Weights are read by Caffe name: "conv1.weight", "conv4-1024.bias", ...

Losses, for a tap l with features F (1, C, H, W) viewed as C x M, M = H*W:
  content  w_c[l] * mean((F - P)^2)
  style    G = F F^T / (C*H*W);  w_s[l] * mean((G - A)^2)
  tv       w_tv * (sum of squared differences of horizontally adjacent pixels
                   + sum of squared differences of vertically adjacent pixels), over the image
P and A come from random content and style images of the same size, computed before timing.

One iteration: zero grad, forward of the image (1, 3, H, W) to the deepest tap, all losses, backward
to the image, optimizer step: Adam(lr=4) (chainer-gogh), or --optimizer lbfgs: torch.optim.LBFGS
with max_iter=1 per step (one forward/backward per step, history kept across steps), lr=1,
tolerances off, history --history-size (neural-style's optim.lbfgs settings).

Timing: --warmup iterations (at least 3; cudnn.benchmark on unless --cudnn-benchmark off, which
is PyTorch's own default), then batches of iterations until at
least --min-time seconds and --min-iters iterations have run, synchronizing after each batch.
peak_bytes: CUDA torch.cuda.max_memory_allocated() over the size (weights included); CPU the
highest resident set size sampled every 2 ms while the size runs, less the RSS at its start, plus
the weight bytes. An out-of-memory error is a result (status "oom"), never a crash.

Output: --out FILE gets a JSON list of records {library, model, preset, device, mode, optimizer,
pool, width, height, iters, seconds, iters_per_min, pixels_per_s, peak_bytes, status, ...};
mode is "fp32" (TF32 off, and always on the CPU) or "tf32". stdout gets a table; stderr a
progress line per size.
"""
import argparse
import ctypes
import gc
import json
import math
import os
import platform
import struct
import sys
import threading
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# The presets. Weights are per tap name; see /tmp/h/presets.md (merged into the docs) for where
# each number comes from. A tap listed in both tables is one feature map feeding both losses.
#
# vgg16 "gogh": chainer-gogh -m vgg_chainer (models.py VGG_chainer: chainer's VGG16Layers, whose
#   conv1_2 ... outputs are after the ReLU, max pooling). chainer-gogh.py: L1 = lam*alpha[l]*MSE,
#   L2 = beta[l]*MSE(Gram)/len(y), lam = 0.005, alpha = [0,0,1,1], beta = [1,1,1,1], 4 taps.
# vgg19 "neural-style": neural_style.lua defaults: content relu4_2 weight 5, style relu1_1..relu5_1
#   weight 100 each, tv_weight 1e-3. Its TVLoss only back-propagates strength * (x_diff + y_diff),
#   the gradient of (1e-3 / 2) * sum of squared differences, so our sum-of-squares form takes 5e-4.
# nin "gogh": chainer-gogh models.py NIN: taps relu(conv1), relu(conv2), relu(conv3),
#   relu(conv4-1024) = Caffe relu0, relu3, relu7, relu10; same lam/alpha/beta as vgg16.
LAM = 0.005
PRESETS = {
    "vgg16": {
        "preset": "gogh",
        "content": {"relu3_3": LAM * 1, "relu4_3": LAM * 1},
        "style": {"relu1_2": 1 / 4, "relu2_2": 1 / 4, "relu3_3": 1 / 4, "relu4_3": 1 / 4},
        "tv": 0.0,
        "pool": "max",       # chainer's VGG16Layers (the Caffe "-m vgg" path uses avg, pre-ReLU)
        "init": ("uniform", 20.0),   # chainer-gogh: uniform(-20, 20)
    },
    "vgg19": {
        "preset": "neural-style",
        "content": {"relu4_2": 5.0},
        "style": {"relu1_1": 100.0, "relu2_1": 100.0, "relu3_1": 100.0, "relu4_1": 100.0,
                  "relu5_1": 100.0},
        "tv": 1e-3 / 2,
        "pool": "max",
        "init": ("normal", 1e-3),    # neural-style -init random: randn * 0.001
    },
    "nin": {
        "preset": "gogh",
        "content": {"relu7": LAM * 1, "relu10": LAM * 1},
        "style": {"relu0": 1 / 4, "relu3": 1 / 4, "relu7": 1 / 4, "relu10": 1 / 4},
        "tv": 0.0,
        "pool": "avg",       # chainer-gogh: F.average_pooling_2d(3, stride=2), no cover_all
        "init": ("uniform", 20.0),
    },
}

VGG_CFG = {
    "vgg16": [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]],
    "vgg19": [[64, 64], [128, 128], [256] * 4, [512] * 4, [512] * 4],
}

# (conv name, in, out, kernel, stride, pad, relu name) and pool names, in Caffe order.
NIN_LAYERS = [
    ("conv1", 3, 96, 11, 4, 0, "relu0"), ("cccp1", 96, 96, 1, 1, 0, "relu1"),
    ("cccp2", 96, 96, 1, 1, 0, "relu2"), "pool0",
    ("conv2", 96, 256, 5, 1, 2, "relu3"), ("cccp3", 256, 256, 1, 1, 0, "relu5"),
    ("cccp4", 256, 256, 1, 1, 0, "relu6"), "pool2",
    ("conv3", 256, 384, 3, 1, 1, "relu7"), ("cccp5", 384, 384, 1, 1, 0, "relu8"),
    ("cccp6", 384, 384, 1, 1, 0, "relu9"), "pool3",
    ("conv4-1024", 384, 1024, 3, 1, 1, "relu10"), ("cccp7-1024", 1024, 1024, 1, 1, 0, "relu11"),
    ("cccp8-1024", 1024, 1000, 1, 1, 0, "relu12"),
]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Networks


def layer_list(model, pool):
    """[(name, module, weight keys or None)] for the whole feature stack of `model`."""
    layers = []
    if model in VGG_CFG:
        index = 0
        c_in = 3
        for b, block in enumerate(VGG_CFG[model], start=1):
            for i, c_out in enumerate(block, start=1):
                keys = (f"features.{index}", f"conv{b}_{i}")
                layers.append((f"conv{b}_{i}", nn.Conv2d(c_in, c_out, 3, padding=1), keys))
                layers.append((f"relu{b}_{i}", nn.ReLU(inplace=True), None))
                index += 2
                c_in = c_out
            pool_mod = nn.AvgPool2d(2, 2) if pool == "avg" else nn.MaxPool2d(2, 2)
            layers.append((f"pool{b}", pool_mod, None))
            index += 1
    elif model == "nin":
        for entry in NIN_LAYERS:
            if isinstance(entry, str):
                # Caffe's NIN pools with ceil; chainer-gogh's average pooling floors.
                pool_mod = (nn.AvgPool2d(3, 2) if pool == "avg"
                            else nn.MaxPool2d(3, 2, ceil_mode=True))
                layers.append((entry, pool_mod, None))
                continue
            name, c_in, c_out, k, s, p, relu = entry
            layers.append((name, nn.Conv2d(c_in, c_out, k, stride=s, padding=p), (name,)))
            layers.append((relu, nn.ReLU(inplace=True), None))
    else:
        raise ValueError(f"unknown model '{model}' (expected vgg16, vgg19 or nin)")
    return layers


def read_safetensors(path, wanted):
    """The tensors of `wanted` names present in a safetensors file, as float32 CPU tensors.
    Format: u64 little-endian header length, JSON header {name: {dtype, shape, data_offsets}},
    then the little-endian data (read with torch alone: numpy may be missing on the GPU box)."""
    dtypes = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
              "F64": torch.float64}
    out = {}
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        for name in wanted:
            info = header.get(name)
            if info is None:
                continue
            if info["dtype"] not in dtypes:
                raise ValueError(f"{path}: tensor '{name}' has dtype {info['dtype']}, "
                                 f"expected one of {list(dtypes)}")
            begin, end = info["data_offsets"]
            f.seek(8 + n + begin)
            data = bytearray(f.read(end - begin))
            t = torch.frombuffer(data, dtype=dtypes[info["dtype"]]) if data else torch.empty(0)
            out[name] = t.to(torch.float32).reshape(info["shape"])
    return out


class TappedFeatures(nn.Module):
    """The feature stack cut after the deepest tap; forward returns {tap name: feature map}."""

    def __init__(self, model, taps, pool, weights=None):
        super().__init__()
        layers = layer_list(model, pool)
        names = [n for n, _, _ in layers]
        missing = [t for t in taps if t not in names]
        if missing:
            raise ValueError(f"{model}: no layer named {missing}; layers are {names}")
        last = max(names.index(t) for t in taps)
        layers = layers[: last + 1]
        # A tap before an in-place ReLU would be overwritten by it.
        for i, (name, mod, _) in enumerate(layers[:-1]):
            nxt = layers[i + 1][1]
            if name in taps and isinstance(nxt, nn.ReLU):
                nxt.inplace = False
        self.names = [n for n, _, _ in layers]
        self.taps = set(taps)
        self.body = nn.Sequential(*[m for _, m, _ in layers])
        self.init_weights(layers, weights)
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def init_weights(self, layers, path):
        convs = [(n, m, keys) for n, m, keys in layers if keys is not None]
        if path is None:
            gen = torch.Generator().manual_seed(0)
            for _, m, _ in convs:
                # torchvision's VGG init: kaiming_normal_(fan_out, relu), zero bias.
                std = math.sqrt(2.0 / (m.out_channels * m.kernel_size[0] * m.kernel_size[1]))
                with torch.no_grad():
                    m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * std)
                    m.bias.zero_()
            return
        wanted = [f"{k}.{p}" for _, _, keys in convs for k in keys for p in ("weight", "bias")]
        found = read_safetensors(path, wanted)
        for name, m, keys in convs:
            for p in ("weight", "bias"):
                key = next((f"{k}.{p}" for k in keys if f"{k}.{p}" in found), None)
                if key is None:
                    raise ValueError(f"{path}: no tensor for layer {name} "
                                     f"(looked for {[f'{k}.{p}' for k in keys]})")
                t = found[key]
                target = getattr(m, p)
                if tuple(t.shape) != tuple(target.shape):
                    raise ValueError(f"{path}: '{key}' has shape {tuple(t.shape)}, layer {name} "
                                     f"needs {tuple(target.shape)}")
                with torch.no_grad():
                    target.copy_(t)

    def forward(self, x):
        out = {}
        for name, mod in zip(self.names, self.body):
            x = mod(x)
            if name in self.taps:
                out[name] = x
        return out


# ---------------------------------------------------------------------------------------------
# Losses


def gram(f):
    _, c, h, w = f.shape
    m = f.reshape(c, h * w)
    return (m @ m.t()) / (c * h * w)


def total_variation(x):
    dh = x[:, :, :, 1:] - x[:, :, :, :-1]
    dv = x[:, :, 1:, :] - x[:, :, :-1, :]
    return (dh * dh).sum() + (dv * dv).sum()


def style_loss(feats, img, preset, content_targets, style_targets):
    loss = img.new_zeros(())
    for name, weight in preset["content"].items():
        loss = loss + weight * F.mse_loss(feats[name], content_targets[name])
    for name, weight in preset["style"].items():
        loss = loss + weight * F.mse_loss(gram(feats[name]), style_targets[name])
    if preset["tv"] > 0:
        loss = loss + preset["tv"] * total_variation(img)
    return loss


# ---------------------------------------------------------------------------------------------
# Device helpers


def set_tf32(enabled):
    """'off': full fp32 convolutions and matmuls; 'on': PyTorch's defaults (cuDNN convolutions in
    TF32, matmuls in fp32). Recent PyTorch has fp32_precision flags and refuses a mix of those and
    the legacy allow_tf32 flags, so use the new ones where they exist. Returns what was set."""
    if enabled:
        return "pytorch defaults"
    cudnn = torch.backends.cudnn
    if hasattr(cudnn, "conv") and hasattr(cudnn.conv, "fp32_precision"):
        try:
            if hasattr(torch.backends, "fp32_precision"):
                torch.backends.fp32_precision = "ieee"
            torch.backends.cuda.matmul.fp32_precision = "ieee"
            cudnn.fp32_precision = "ieee"
            cudnn.conv.fp32_precision = "ieee"
            if hasattr(cudnn, "rnn"):
                cudnn.rnn.fp32_precision = "ieee"
            return "fp32_precision=ieee (matmul, cudnn, cudnn.conv, cudnn.rnn)"
        except (AttributeError, RuntimeError, TypeError, ValueError) as e:
            log(f"note: new TF32 API failed ({e}); using allow_tf32")
    cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    return "allow_tf32=False (cudnn, cuda.matmul)"


def is_oom(e):
    text = str(e).lower()
    return ("out of memory" in text or "can't allocate memory" in text
            or "failed to allocate" in text or type(e).__name__ == "OutOfMemoryError")


def current_rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class RssSampler:
    """Highest RSS seen while active; CPU allocations have no max_memory_allocated()."""

    def __init__(self):
        self.peak = current_rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, current_rss())
            time.sleep(0.002)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, current_rss())


def release_memory(device):
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
    else:
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except OSError:
            pass


# ---------------------------------------------------------------------------------------------
# One (model, size)


def run_size(net, preset, width, height, args, device):
    """Returns (iterations, seconds, last loss). Raises on OOM."""
    gen = torch.Generator().manual_seed(1)
    # Caffe-range BGR images (0..255 less a ~120 mean), as both upstream programs feed.
    content = (torch.rand(1, 3, height, width, generator=gen) * 256 - 120).to(device)
    style = (torch.rand(1, 3, height, width, generator=gen) * 256 - 120).to(device)
    with torch.no_grad():
        feats = net(content)
        content_targets = {n: feats[n].clone() for n in preset["content"]}
        del feats
        feats = net(style)
        style_targets = {n: gram(feats[n]) for n in preset["style"]}
        del feats, content, style

    kind, scale = preset["init"]
    start = (torch.rand(1, 3, height, width, generator=gen) * 2 - 1 if kind == "uniform"
             else torch.randn(1, 3, height, width, generator=gen)) * scale
    img = start.to(device).requires_grad_(True)

    def closure():
        optimizer.zero_grad(set_to_none=True)
        loss = style_loss(net(img), img, preset, content_targets, style_targets)
        loss.backward()
        return loss

    if args.optimizer == "adam":
        optimizer = torch.optim.Adam([img], lr=args.lr if args.lr is not None else 4.0)

        def iterate():
            loss = closure()
            optimizer.step()
            return loss
    else:
        optimizer = torch.optim.LBFGS([img], lr=args.lr if args.lr is not None else 1.0,
                                      max_iter=1, history_size=args.history_size,
                                      tolerance_grad=-1.0, tolerance_change=-1.0)

        def iterate():
            return optimizer.step(closure)

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    for i in range(max(3, args.warmup)):
        t = time.perf_counter()
        loss = iterate()
        sync()
        took = time.perf_counter() - t
        if took > 5.0:  # large sizes: say where the time goes (cudnn.benchmark tries algorithms)
            log(f"#   {width}x{height} warm-up iteration {i + 1}: {took:.1f} s")
    if args.profile:
        # Where the time goes: CUDA kernel times of a few iterations (torch.profiler, CUPTI).
        from torch.profiler import ProfilerActivity, profile
        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
        with profile(activities=acts) as prof:
            for _ in range(args.profile):
                loss = iterate()
            sync()
        key = "cuda_time_total" if device == "cuda" else "cpu_time_total"
        try:
            table = prof.key_averages().table(sort_by=key, row_limit=30, max_name_column_width=90)
        except Exception:  # newer releases call it device_time_total
            table = prof.key_averages().table(sort_by="device_time_total", row_limit=30,
                                              max_name_column_width=90)
        print(f"# profile of {args.profile} iterations at {width}x{height}", file=sys.stderr)
        print(table, file=sys.stderr)

    iters, batch = 0, 1
    t0 = time.perf_counter()
    while True:
        for _ in range(batch):
            loss = iterate()
        iters += batch
        sync()
        elapsed = time.perf_counter() - t0
        if elapsed >= args.min_time and iters >= args.min_iters:
            break
        per_iter = elapsed / iters
        need = max(args.min_iters - iters, math.ceil((args.min_time - elapsed) / per_iter))
        batch = max(1, min(need, 4 * iters))
    return iters, elapsed, float(loss.detach())


def parse_sizes(text):
    sizes = []
    for item in text.split(","):
        item = item.strip().lower()
        if not item:
            continue
        w, _, h = item.partition("x")
        sizes.append((int(w), int(h or w)))
    return sizes


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--device", choices=["cuda", "cpu"],
                    default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--tf32", choices=["off", "on"], default="off")
    ap.add_argument("--models", default="vgg16,vgg19,nin")
    ap.add_argument("--sizes", default="64,128,256,512,1024,2048,4096,7680x4320",
                    help="comma-separated N (N x N) or WxH")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (torch.set_num_threads)")
    ap.add_argument("--optimizer", choices=["adam", "lbfgs"], default="adam")
    ap.add_argument("--lr", type=float, default=None, help="default: 4 for adam, 1 for lbfgs")
    ap.add_argument("--history-size", type=int, default=100, help="L-BFGS history (neural-style: 100)")
    ap.add_argument("--pool", choices=["max", "preset"], default="max",
                    help="max: max pooling everywhere (Caffe/torchvision nets, the default); "
                         "preset: the preset's pooling (nin gogh: 3x3/2 average, floor)")
    ap.add_argument("--weights", action="append", default=[], metavar="MODEL=FILE",
                    help="safetensors weights for a model, e.g. vgg19=vgg19.safetensors")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--cudnn-benchmark", choices=["on", "off"], default="on",
                    help="torch.backends.cudnn.benchmark (autotuning); off is PyTorch's default")
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="print the kernel times of N iterations (torch.profiler) per size")
    ap.add_argument("--min-time", type=float, default=2.0)
    ap.add_argument("--min-iters", type=int, default=5)
    ap.add_argument("--out", default=None, help="JSON file for the records")
    args = ap.parse_args()

    device = args.device
    if device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda but torch.cuda.is_available() is False")
    if args.threads:
        torch.set_num_threads(args.threads)
    weights = {}
    for item in args.weights:
        model, sep, path = item.partition("=")
        if not sep or model not in PRESETS:
            ap.error(f"--weights takes MODEL=FILE with MODEL in {list(PRESETS)}, got '{item}'")
        weights[model] = path
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    for m in models:
        if m not in PRESETS:
            ap.error(f"unknown model '{m}' (expected {', '.join(PRESETS)})")
    sizes = parse_sizes(args.sizes)

    mode, tf32_flags = "fp32", "n/a (cpu)"
    if device == "cuda":
        torch.backends.cudnn.benchmark = args.cudnn_benchmark == "on"
        tf32_flags = set_tf32(args.tf32 == "on")
        mode = "tf32" if args.tf32 == "on" else "fp32"
    env = {
        "library": "pytorch", "torch": torch.__version__, "device_name":
            torch.cuda.get_device_name() if device == "cuda" else platform.processor() or "cpu",
        "threads": torch.get_num_threads(), "tf32_flags": tf32_flags,
        "cudnn_benchmark": device == "cuda" and args.cudnn_benchmark == "on",
    }
    log(f"# torch {torch.__version__} on {env['device_name']}, threads {env['threads']}, "
        f"mode {mode} ({tf32_flags}), optimizer {args.optimizer}")

    records = []
    for model in models:
        preset = PRESETS[model]
        pool = preset["pool"] if args.pool == "preset" else "max"
        taps = list(dict.fromkeys(list(preset["content"]) + list(preset["style"])))
        net = TappedFeatures(model, taps, pool, weights.get(model)).to(device)
        weight_bytes = sum(p.numel() * p.element_size() for p in net.parameters())
        for width, height in sizes:
            rec = dict(env, model=model, preset=preset["preset"], device=device, mode=mode,
                       optimizer=args.optimizer, pool=pool, width=width, height=height,
                       iters=0, seconds=0.0, iters_per_min=None, pixels_per_s=None,
                       peak_bytes=None, status="ok")
            release_memory(device)
            if device == "cuda":
                torch.cuda.reset_peak_memory_stats()
            sampler = RssSampler() if device == "cpu" else None
            start_rss = current_rss()
            try:
                if sampler:
                    with sampler:
                        iters, seconds, loss = run_size(net, preset, width, height, args, device)
                else:
                    iters, seconds, loss = run_size(net, preset, width, height, args, device)
                rec.update(iters=iters, seconds=seconds, iters_per_min=60.0 * iters / seconds,
                           pixels_per_s=width * height * iters / seconds, final_loss=loss,
                           loss_finite=math.isfinite(loss))
            except Exception as e:  # OOM and friends are results, not crashes
                rec["status"] = "oom" if is_oom(e) else "error"
                if rec["status"] == "error":
                    rec["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
                e = None
            release_memory(device)
            if device == "cuda":
                rec["peak_bytes"] = int(torch.cuda.max_memory_allocated())
            elif sampler is not None:
                rec["peak_bytes"] = int(max(0, sampler.peak - start_rss) + weight_bytes)
            records.append(rec)
            ipm = f"{rec['iters_per_min']:.1f} it/min" if rec["iters_per_min"] else rec["status"]
            log(f"{model:6s} {width}x{height} {device} {mode}: {ipm}"
                + (f" ({rec['error']})" if "error" in rec else ""))
        del net
        release_memory(device)

    print("| model | preset | size | device | mode | optimizer | it/min | Mpx/s | peak MiB | status |")
    print("|---|---|---|---|---|---|---:|---:|---:|---|")
    for r in records:
        ipm = f"{r['iters_per_min']:.1f}" if r["iters_per_min"] else "-"
        mps = f"{r['pixels_per_s'] / 1e6:.3f}" if r["pixels_per_s"] else "-"
        peak = f"{r['peak_bytes'] / 2**20:.0f}" if r["peak_bytes"] is not None else "-"
        print(f"| {r['model']} | {r['preset']} | {r['width']}x{r['height']} | {r['device']} | "
              f"{r['mode']} | {r['optimizer']} | {ipm} | {mps} | {peak} | {r['status']} |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(records, f, indent=1)
        log(f"wrote {len(records)} records to {args.out}")


if __name__ == "__main__":
    main()
