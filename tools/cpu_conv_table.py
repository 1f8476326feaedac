#!/usr/bin/env python3
"""Markdown table of our CPU convolution against PyTorch's, layer by layer:

    OMP_NUM_THREADS=2 build/benchmarks/cpu_conv_bench --benchmark_filter=@224 \\
      --benchmark_out=DIR/cpu_conv.json --benchmark_out_format=json
    /usr/bin/python3 benchmarks/torch_cpu_conv.py 2 > DIR/torch_conv.txt
    python3 tools/cpu_conv_table.py DIR [OLD_DIR]

Ours: cpu_conv_bench's mean (ms); PyTorch: torch_cpu_conv.py's best of N (ms); the ratio is
ours / PyTorch speed (> 1: ours faster). With OLD_DIR (the same two files from an earlier run) a
last column gives that run's ratio. Prints the geometric means over all layer-passes and over
VGG-19's forward and backward-data passes. Standard library only."""
import json
import math
import os
import re
import sys


def load(folder):
    ours, torch = {}, {}
    for b in json.load(open(os.path.join(folder, "cpu_conv.json")))["benchmarks"]:
        m = re.match(r"conv/(\w+?)_(\w+)_@(\d+)/(\w+)/", b["name"])
        if m and b.get("run_type", "iteration") == "iteration" and "error_occurred" not in b:
            ours[(f"{m.group(1)} {m.group(2)} @{m.group(3)}", m.group(4))] = b["real_time"]
    for line in open(os.path.join(folder, "torch_conv.txt")):
        m = re.match(r"(\w+ \S+ @\d+)\s+(.*)", line)
        if not m or line.startswith("#"):
            continue
        for p, ms in re.findall(r"(forward|backward_data|backward_filter)\s+([\d.]+) ms", m.group(2)):
            torch[(m.group(1), p)] = float(ms)
    return {k: torch[k] / ours[k] for k in ours if k in torch}, ours, torch


def geomean(values):
    values = list(values)
    return math.exp(sum(map(math.log, values)) / len(values)) if values else float("nan")


def main(folder, old=None):
    ratio, ours, torch = load(folder)
    before = load(old)[0] if old else {}
    print("| layer | pass | ours ms (mean) | PyTorch ms (best) | ours / PyTorch speed |"
          + (" earlier ratio |" if old else ""))
    print("|---|---|---:|---:|---:|" + ("---:|" if old else ""))
    for key in ours:
        if key in ratio:
            extra = f" {before[key]:.2f} |" if key in before else (" — |" if old else "")
            print(f"| {key[0]} | {key[1]} | {ours[key]:.3f} | {torch[key]:.3f} | {ratio[key]:.2f} |{extra}")
    style = [v for (layer, p), v in ratio.items() if layer.startswith("vgg19") and p != "backward_filter"]
    print(f"\ngeometric mean over {len(ratio)} layer-passes: {geomean(ratio.values()):.2f}x; "
          f"over VGG-19's {len(style)} forward and backward-data passes: {geomean(style):.2f}x")


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    main(*sys.argv[1:])
