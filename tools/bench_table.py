#!/usr/bin/env python3
"""Google Benchmark JSON (ours beside a peer) -> markdown tables for docs/performance.md.

  tools/bench_table.py gemm FILE.json     GEMM: ours vs cuBLAS per shape
  tools/bench_table.py conv FILE.json     convolution: ours vs cuDNN per layer and pass
  tools/bench_table.py pool FILE.json     pooling: ours vs cuDNN per layer and pass
"""
import json
import re
import sys


def rows(path):
    for b in json.load(open(path))["benchmarks"]:
        if b.get("run_type", "iteration") != "iteration":
            continue
        yield b


def gemm(path):
    peer, ours = {}, {}
    for b in rows(path):
        kind, shape = b["name"].split("/")[:2]
        (peer if kind.startswith("cublas") else ours)[shape] = b
    print("| shape | ours ms | ours TFLOP/s | cuBLAS ms | cuBLAS TFLOP/s | ours / cuBLAS speed |")
    print("|---|---:|---:|---:|---:|---:|")
    for shape, o in ours.items():
        p = peer.get(shape)
        if o.get("error_occurred") or p is None:
            print(f"| {shape} | error: {o.get('error_message', 'no peer')} | | | | |")
            continue
        print(f"| {shape} | {o['real_time']:.4f} | {o['TFLOP/s']:.1f} | {p['real_time']:.4f} | "
              f"{p['TFLOP/s']:.1f} | {p['real_time'] / o['real_time']:.2f} |")


def layered(path, peer_name, ours_name, passes):
    table = {}
    for b in rows(path):
        parts = b["name"].split("/")
        kind, layer, pas = parts[0], parts[1], parts[2] if len(parts) > 2 else ""
        if kind in (peer_name, ours_name):  # conv: cudnn/LAYER/PASS
            table.setdefault((layer, pas), {})[kind] = b
        else:  # pool: PASS/cudnn|ours/LAYER
            table.setdefault((parts[2], parts[0]), {})[parts[1]] = b
    print("| layer | pass | ours ms | cuDNN ms | ours / cuDNN speed |")
    print("|---|---|---:|---:|---:|")
    for (layer, pas), d in table.items():
        o = d.get(ours_name) or d.get("ours")
        p = d.get(peer_name) or d.get("cudnn")
        if o is None or p is None or o.get("error_occurred") or p.get("error_occurred"):
            msg = (o or {}).get("error_message") or (p or {}).get("error_message") or "missing"
            print(f"| {layer} | {pas} | error: {msg} | | |")
            continue
        unit = o["time_unit"]
        scale = {"ms": 1, "us": 1e-3, "ns": 1e-6}[unit]
        print(f"| {layer} | {pas} | {o['real_time'] * scale:.4f} | {p['real_time'] * scale:.4f} | "
              f"{p['real_time'] / o['real_time']:.2f} |")


if __name__ == "__main__":
    kind, path = sys.argv[1], sys.argv[2]
    if kind == "gemm":
        gemm(path)
    elif kind == "conv":
        layered(path, "cudnn", "implicit_gemm", None)
    elif kind == "pool":
        layered(path, "cudnn", "ours", None)
