#!/usr/bin/env python3
"""Markdown table of cpu_conv_bench runs with the CPU Winograd path off and automatic, alternated:

    for i in 1 2 3; do
      TINYCNN_CONV_WINOGRAD=0 OMP_NUM_THREADS=2 build/benchmarks/cpu_conv_bench \\
        --benchmark_filter='vgg19_conv.*@224/(forward|backward_data)' --benchmark_repetitions=3 \\
        --benchmark_out=DIR/cpu_conv_wg_0_$i.json --benchmark_out_format=json
      OMP_NUM_THREADS=2 build/benchmarks/cpu_conv_bench ... --benchmark_out=DIR/cpu_conv_wg_auto_$i.json
    done
    python3 tools/cpu_conv_ab_table.py DIR

Per layer and pass: the median over every repetition of every run of each mode (ms), the range,
and off / automatic (> 1: the automatic choice is faster). Standard library only."""
import glob
import json
import os
import re
import statistics
import sys


def load(folder, mode):
    times = {}
    for path in sorted(glob.glob(os.path.join(folder, f"cpu_conv_wg_{mode}_*.json"))):
        for b in json.load(open(path))["benchmarks"]:
            m = re.match(r"conv/(\w+?)_@(\d+)/(\w+)/", b["name"])
            if m and b.get("run_type", "iteration") == "iteration" and "error_occurred" not in b:
                times.setdefault((m.group(1), int(m.group(2)), m.group(3)), []).append(b["real_time"])
    return times


def main(folder):
    off, auto = load(folder, "0"), load(folder, "auto")
    span = lambda v: f"{statistics.median(v):.2f} ({min(v):.2f}-{max(v):.2f})"
    print("| layer | pass | Winograd off, ms (median; range) | automatic, ms | off / automatic |")
    print("|---|---|---:|---:|---:|")
    for key in off:
        if key in auto:
            ratio = statistics.median(off[key]) / statistics.median(auto[key])
            print(f"| {key[0]} @{key[1]} | {key[2]} | {span(off[key])} | {span(auto[key])} | {ratio:.2f} |")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
