#!/usr/bin/env python3
"""Side-by-side style-transfer table: tinycnn's cuda_style_bench JSON against one or more record
files of tools/style_bench_torch.py (--out), one column per PyTorch file plus the ratio of ours to
each. Usage:

    python3 tools/style_gpu_compare.py OURS.json LABEL=TORCH.json [LABEL=TORCH.json ...]

A label names the PyTorch column ("PyTorch TF32"); records of several files with one label are
merged (e.g. one file for 64-4096 px and one for 7680x4320). A peer file may also be another
cuda_style_bench JSON ("ours fp32=style_bench_tf32_0.json"). Standard library only.
"""
import json
import re
import sys


def fmt(v):
    return "—" if v is None else (f"{v:.1f}" if v < 100 else f"{v:.0f}")


def read(data):
    """{(model, width, height): it/min} from a cuda_style_bench JSON or style_bench_torch records."""
    out = {}
    if isinstance(data, dict):
        for b in data["benchmarks"]:
            m = re.match(r"style/(\w+)/cuda/(\d+)x(\d+)", b["name"])
            if m and "iters_per_min" in b and not b.get("error_occurred"):
                out[(m.group(1), int(m.group(2)), int(m.group(3)))] = b["iters_per_min"]
    else:
        for r in data:
            if r.get("status") == "ok":
                out[(r["model"], r["width"], r["height"])] = r["iters_per_min"]
    return out


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    ours = read(json.load(open(argv[0])))
    labels, peers = [], {}
    for arg in argv[1:]:
        label, _, path = arg.partition("=")
        if label not in peers:
            labels.append(label)
            peers[label] = {}
        peers[label].update(read(json.load(open(path))))
    head = "| model | resolution | tinycnn it/min |"
    rule = "|---|---|---:|"
    for label in labels:
        head += f" {label} it/min | ours / {label} |"
        rule += "---:|---:|"
    print(head)
    print(rule)
    order = ["vgg16", "vgg19", "nin"]
    for key in sorted(ours, key=lambda k: (order.index(k[0]) if k[0] in order else 9, k[1] * k[2])):
        size = f"{key[1]}" if key[1] == key[2] else f"{key[1]}x{key[2]}"
        row = f"| {key[0]} | {size} | {fmt(ours[key])} |"
        for label in labels:
            p = peers[label].get(key)
            row += f" {fmt(p)} | {'—' if p is None else f'{ours[key] / p:.2f}'} |"
        print(row)


if __name__ == "__main__":
    main(sys.argv[1:])
