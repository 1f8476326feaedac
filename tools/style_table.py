#!/usr/bin/env python3
"""Prints tinycnn's style-transfer benchmark (Google Benchmark JSON from cpu_style_bench or
cuda_style_bench) in the study's terms: iterations per minute per model and resolution, with
megapixels per second and peak memory; sizes that did not fit say "out of memory".
Usage: style_table.py style_bench.json   (standard library only)"""
import json
import sys

data = json.load(open(sys.argv[1]))
print(f"{'model':6} {'device':10} {'resolution':>11} {'iterations/min':>15} {'Mpx/s':>8} {'peak MiB':>9}")
for b in data.get("benchmarks", []):
    parts = b["name"].split("/")
    if len(parts) < 4 or parts[0] != "style":
        continue
    model, device, size = parts[1], parts[2], parts[3]
    if "graph" in parts[4:]:  # cuda_style_bench --graph: the evaluation replayed from a CUDA graph
        device += "+graph"
    if b.get("error_occurred"):
        msg = b.get("error_message", "error")
        print(f"{model:6} {device:10} {size:>11} {'out of memory' if 'out of memory' in msg else msg[:40]:>15}")
        continue
    print(f"{model:6} {device:10} {size:>11} {b['iters_per_min']:15.1f} {b['pixels_per_s'] / 1e6:8.2f} "
          f"{b['peak_bytes'] / 2**20:9.0f}")
