#!/usr/bin/env python3
"""Ours against PyTorch, one row per model and size, fp32 and TF32 side by side, from
tools/gpu/cache_round.sh's logs (style_cache.log: the rows with the filters kept; style_big.log)
and tools/style_bench_torch.py's output (torch_fp32*.log, torch_tf32*.log):

    python3 tools/gpu/peer_table.py DIR     # DIR holds those files (any of them may be missing)

Ours is the faster of plain and graph where both ran (the graph is at least as fast from 512 px);
a size PyTorch did not run here shows "—".
"""
import os
import re
import sys

SCALE = {"": 1.0, "k": 1e3, "M": 1e6, "G": 1e9}
ROW = re.compile(r"^style/(\w+)/cuda/(\d+)x(\d+)(/graph)?/\S*\s.*?iters_per_min=([\d.]+)([kM]?)")


def ours(path):
    """{(mode, model, w, h): (plain, graph)} from a log of style_call sections."""
    out = {}
    if not os.path.exists(path):
        return out
    mode, skip = "fp32", False
    for line in open(path):
        if line.startswith("== "):
            mode = "tf32" if "TINYCNN_CUDA_TF32=1" in line else "fp32"
            skip = "TINYCNN_FILTER_CACHE=0" in line
            continue
        m = ROW.match(line)
        if m and not skip:
            key = (mode, m.group(1), int(m.group(2)), int(m.group(3)))
            plain, graph = out.get(key, (None, None))
            v = float(m.group(5)) * SCALE[m.group(6)]
            out[key] = (plain, v) if m.group(4) else (v, graph)
    return out


PEER = re.compile(r"^(\w+)\s+(\d+)x(\d+) cuda (fp32|tf32): ([\d.]+) it/min")


def torch(d, mode):
    """{(model, w, h): it/min} from every torch_MODE*.log in d (its per-size lines, which a run
    stopped by its time limit also leaves)."""
    out = {}
    for name in sorted(os.listdir(d)):
        if name.startswith(f"torch_{mode}") and name.endswith(".log"):
            for line in open(os.path.join(d, name)):
                m = PEER.match(line)
                if m and m.group(4) == mode:
                    out[(m.group(1), int(m.group(2)), int(m.group(3)))] = float(m.group(5))
    return out


def fmt(v):
    return "—" if v is None else (f"{v:.1f}" if v < 100 else f"{v:.0f}")


def main(d):
    mine = ours(os.path.join(d, "style_cache.log"))
    mine.update(ours(os.path.join(d, "style_big.log")))
    peers = {m: torch(d, m) for m in ("fp32", "tf32")}
    print("| model | px | ours fp32 | PyTorch fp32 | ratio | ours TF32 | PyTorch TF32 (default) | ratio |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    order = {"vgg16": 0, "vgg19": 1, "nin": 2}
    keys = sorted({k[1:] for k in mine}, key=lambda k: (order.get(k[0], 3), k[1] * k[2]))
    for model, w, h in keys:
        cells = []
        for mode in ("fp32", "tf32"):
            o = max((v for v in mine.get((mode, model, w, h), ()) if v), default=None)
            p = peers[mode].get((model, w, h))
            cells += [fmt(o), fmt(p), f"{o / p:.2f}x" if o and p else "—"]
        size = str(w) if w == h else f"{w}x{h}"
        print(f"| {model} | {size} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
