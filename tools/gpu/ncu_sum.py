#!/usr/bin/env python3
"""Sums `ncu --metrics gpu__time_duration.sum --csv` output per kernel name: where the GPU time of
one profiled stretch of a program goes. Usage: ncu ... --csv PROG | python3 ncu_sum.py"""
import csv
import sys
from collections import defaultdict

scale = {"nsecond": 1e-3, "ns": 1e-3, "usecond": 1.0, "us": 1.0, "msecond": 1e3, "ms": 1e3,
         "second": 1e6, "s": 1e6}
total, count = defaultdict(float), defaultdict(int)
rows = [line for line in sys.stdin if line.startswith('"')]
for r in csv.DictReader(rows):
    if r.get("Metric Name") != "gpu__time_duration.sum":
        continue
    name = r["Kernel Name"].split("(")[0][:100]
    total[name] += float(r["Metric Value"].replace(",", "")) * scale.get(r["Metric Unit"], 1.0)
    count[name] += 1
grand = sum(total.values())
print(f"{len(total)} kernels, {sum(count.values())} launches, {grand / 1e3:.3f} ms")
for name, us in sorted(total.items(), key=lambda kv: -kv[1]):
    print(f"{us / 1e3:9.3f} ms {100 * us / grand:5.1f}% {count[name]:4d}x  {name}")
