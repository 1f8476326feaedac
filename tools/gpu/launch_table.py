#!/usr/bin/env python3
"""One style iteration's launches from `ncu --csv` output (tools/gpu/profile_round.sh): cuts the
launches between the last two optimizer steps (the kernel whose name contains --marker), then
prints every launch in order (time, grid, block, SM and DRAM throughput) and the time per kernel.
Usage: python3 tools/gpu/launch_table.py NCU.csv [--marker AdamOp] [--list]"""
import argparse
import csv
from collections import defaultdict

scale = {"nsecond": 1e-3, "ns": 1e-3, "usecond": 1.0, "us": 1.0, "msecond": 1e3, "ms": 1e3,
         "second": 1e6, "s": 1e6}

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("csv")
ap.add_argument("--marker", default="AdamOp")
ap.add_argument("--list", action="store_true", help="print every launch of the iteration")
args = ap.parse_args()

lines = [l for l in open(args.csv) if l.startswith('"')]
launches = {}
for r in csv.DictReader(lines):
    i = int(r["ID"])
    l = launches.setdefault(i, {"name": r["Kernel Name"].split("(")[0], "grid": r["Grid Size"],
                                "block": r["Block Size"]})
    v = float(r["Metric Value"].replace(",", ""))
    if r["Metric Name"] == "gpu__time_duration.sum":
        v *= scale.get(r["Metric Unit"], 1.0)
    l[r["Metric Name"]] = v
ids = sorted(launches)
marks = [i for i in ids if args.marker in launches[i]["name"]]
if len(marks) < 2:
    raise SystemExit(f"fewer than two '{args.marker}' launches: no whole iteration captured")
it = [i for i in ids if marks[-2] < i <= marks[-1]]
total = sum(launches[i]["gpu__time_duration.sum"] for i in it)
print(f"one iteration: launches {it[0]}..{it[-1]} ({len(it)}), {total / 1e3:.3f} ms of kernel time")
if args.list:
    for i in it:
        l = launches[i]
        print(f"{i:5d} {l['gpu__time_duration.sum']:9.1f} us  SM {l.get('sm__throughput.avg.pct_of_peak_sustained_elapsed', 0):5.1f}%"
              f"  DRAM {l.get('dram__throughput.avg.pct_of_peak_sustained_elapsed', 0):5.1f}%  grid {l['grid']:>18} "
              f"block {l['block']:>13}  {l['name'][:90]}")
per = defaultdict(float)
count = defaultdict(int)
for i in it:
    n = launches[i]["name"][:110]
    per[n] += launches[i]["gpu__time_duration.sum"]
    count[n] += 1
for n, us in sorted(per.items(), key=lambda kv: -kv[1]):
    print(f"{us / 1e3:8.3f} ms {100 * us / total:5.1f}% {count[n]:4d}x  {n}")
