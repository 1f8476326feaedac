#!/usr/bin/env python3
"""CPU style-transfer table from alternated runs: medians of ours and PyTorch's it/min.

    python3 tools/style_cpu_table.py DIR

DIR holds style_ours_N.json (cpu_style_bench --benchmark_out) and style_torch_N.json
(tools/style_bench_torch.py --out) from N runs alternated on the same idle machine. Prints the
Markdown table of docs/performance.md: per model and size the median and range of each, and the
ratio of the medians.
"""
import glob
import json
import os
import re
import statistics
import sys


def main(folder):
    ours, torch = {}, {}
    for path in sorted(glob.glob(os.path.join(folder, "style_ours_*.json"))):
        for b in json.load(open(path))["benchmarks"]:
            m = re.match(r"style/(\w+)/cpu/(\d+)x(\d+)", b["name"])
            if m and "iters_per_min" in b:
                ours.setdefault((m.group(1), int(m.group(2))), []).append(b["iters_per_min"])
    for path in sorted(glob.glob(os.path.join(folder, "style_torch_*.json"))):
        for r in json.load(open(path)):
            if r.get("status") == "ok":
                torch.setdefault((r["model"], r["width"]), []).append(r["iters_per_min"])
    fmt = lambda v: f"{v:.1f}" if v < 100 else f"{v:.0f}"
    order = ["vgg16", "vgg19", "nin"]
    print("| model | resolution | tinycnn it/min (median; range) | PyTorch it/min (median; range) "
          "| ratio of medians |")
    print("|---|---|---:|---:|---:|")
    for key in sorted(ours, key=lambda k: (order.index(k[0]) if k[0] in order else 9, k[1])):
        o, t = ours[key], torch.get(key)
        if not t:
            continue
        mo, mt = statistics.median(o), statistics.median(t)
        print(f"| {key[0]} | {key[1]} | {fmt(mo)} ({fmt(min(o))}-{fmt(max(o))}) "
              f"| {fmt(mt)} ({fmt(min(t))}-{fmt(max(t))}) | {mo / mt:.2f} |")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
