#!/usr/bin/env python3
"""CPU style-transfer table from alternated runs: medians of ours and PyTorch's it/min.

    python3 tools/style_cpu_table.py DIR

DIR holds style_ours_N.json (cpu_style_bench --benchmark_out) and style_torch_N.json
(tools/style_bench_torch.py --out) from N runs alternated on the same idle machine. Prints the
Markdown table of docs/performance.md: per model and size the median and range of each, and the
ratio of the medians. If DIR also holds style_nowinograd_N.json (cpu_style_bench with
TINYCNN_CONV_WINOGRAD=0, alternated with the others), a column gives their median and range too;
style_before_N.json (an earlier build's cpu_style_bench, alternated with the others) gives a
column with its median and range and one with the ratio of our medians, this build's to that one's.
"""
import glob
import json
import os
import re
import statistics
import sys


def read_ours(folder, prefix):
    runs = {}
    for path in sorted(glob.glob(os.path.join(folder, prefix + "_*.json"))):
        for b in json.load(open(path))["benchmarks"]:
            m = re.match(r"style/(\w+)/cpu/(\d+)x(\d+)", b["name"])
            if m and "iters_per_min" in b:
                runs.setdefault((m.group(1), int(m.group(2))), []).append(b["iters_per_min"])
    return runs


def main(folder):
    ours, torch = read_ours(folder, "style_ours"), {}
    off = read_ours(folder, "style_nowinograd")
    before = read_ours(folder, "style_before")
    for path in sorted(glob.glob(os.path.join(folder, "style_torch_*.json"))):
        for r in json.load(open(path)):
            if r.get("status") == "ok":
                torch.setdefault((r["model"], r["width"]), []).append(r["iters_per_min"])
    fmt = lambda v: f"{v:.1f}" if v < 100 else f"{v:.0f}"
    order = ["vgg16", "vgg19", "nin"]
    span = lambda v: f"{fmt(statistics.median(v))} ({fmt(min(v))}-{fmt(max(v))})"
    print("| model | resolution | tinycnn it/min (median; range) | "
          + ("tinycnn, Winograd off | " if off else "")
          + ("tinycnn before (median; range) | this build / before | " if before else "")
          + "PyTorch it/min (median; range) | ratio of medians |")
    print("|---|---|---:|" + ("---:|" if off else "") + ("---:|---:|" if before else "")
          + "---:|---:|")
    for key in sorted(ours, key=lambda k: (order.index(k[0]) if k[0] in order else 9, k[1])):
        o, t = ours[key], torch.get(key)
        if not t:
            continue
        mo, mt = statistics.median(o), statistics.median(t)
        middle = (span(off[key]) + " | ") if off else ""
        if before:
            b = before[key]
            middle += f"{span(b)} | {mo / statistics.median(b):.2f} | "
        print(f"| {key[0]} | {key[1]} | {span(o)} | {middle}{span(t)} | {mo / mt:.2f} |")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
