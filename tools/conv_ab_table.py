#!/usr/bin/env python3
"""Markdown table of cuda_conv_bench runs with Winograd off, forced and automatic
(tools/gpu/round.sh conv_ab writes conv_wg_0.json, conv_wg_1.json, conv_wg_auto.json).

    python3 tools/conv_ab_table.py DIR            # DIR holds the three JSON files

Columns: cuDNN (its fastest algorithm by cudnnFind, fp32 FMA), ours with TINYCNN_CONV_WINOGRAD=0
(implicit GEMM / direct kernels), =1 (Winograd wherever it can run), unset (automatic), all in ms
(median), and the automatic choice's ratios against cuDNN and against implicit GEMM."""
import json
import re
import sys
from pathlib import Path


def load(path):
    times = {}
    for b in json.loads(Path(path).read_text())["benchmarks"]:
        m = re.match(r"(cudnn|implicit_gemm)/(.*)/(fwd|bwd_data|bwd_filter)/", b["name"])
        if m and b.get("run_type", "iteration") == "iteration" and "error_occurred" not in b:
            times[(m.group(1), m.group(2), m.group(3))] = b["real_time"]
    return times


def main():
    d = Path(sys.argv[1])
    off, forced, auto = (load(d / f"conv_wg_{m}.json") for m in ("0", "1", "auto"))
    print("| layer | pass | cuDNN ms | ours, Winograd off | ours, Winograd forced | ours, automatic "
          "| cuDNN / automatic | implicit GEMM / automatic |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for (who, layer, pass_), cudnn in off.items():
        if who != "cudnn":
            continue
        key = ("implicit_gemm", layer, pass_)
        if key not in off or key not in forced or key not in auto:
            continue
        a = auto[key]
        print(f"| {layer} | {pass_} | {cudnn:.4f} | {off[key]:.4f} | {forced[key]:.4f} | {a:.4f} "
              f"| {cudnn / a:.2f} | {off[key] / a:.2f} |")


if __name__ == "__main__":
    main()
