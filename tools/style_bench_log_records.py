#!/usr/bin/env python3
"""Records (tools/style_bench_torch.py's JSON format) from cuda_style_bench / cpu_style_bench
console output, for runs that wrote no JSON, such as the before/after logs of tools/gpu/*_round.sh
whose sections start with "== BINARY MODEL TINYCNN_CUDA_TF32=0|1" or (round_env.sh's style_call,
cuda_style_bench) "== MODEL [VAR=VALUE...] [--FLAG...]".

    python3 tools/style_bench_log_records.py [--binary NAME] [--library LABEL] LOG... > ours.json

--binary keeps only the sections of that binary (e.g. cuda_style_bench, not
cuda_style_bench_before); the mode is tf32 in sections with TINYCNN_CUDA_TF32=1, else fp32.
Rows timed through a CUDA graph (style/MODEL/cuda/SIZE/graph, cuda_style_bench --graph) get the
library label "LIBRARY graph".
"""
import argparse
import json
import re

LINE = re.compile(r"^style/(\w+)/(\w+)/(\d+)x(\d+)(/graph)?\S*\s.*?iters_per_min=([\d.]+)([kM]?)")
MODELS = ("vgg16", "vgg19", "nin")
PEAK = re.compile(r"peak_bytes=([\d.]+)([kMG]?)")
SCALE = {"": 1.0, "k": 1e3, "M": 1e6, "G": 1e9}  # Google Benchmark's counters: 1000-based


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("logs", nargs="+")
    ap.add_argument("--binary", help="keep only sections of this binary")
    ap.add_argument("--library", default="tinycnn")
    args = ap.parse_args()
    out = []
    for path in args.logs:
        binary, mode = None, "fp32"
        for line in open(path):
            if line.startswith("== "):
                tokens = line[3:].split()
                binary = "cuda_style_bench" if tokens and tokens[0] in MODELS else tokens[0]
                mode = "tf32" if "TINYCNN_CUDA_TF32=1" in tokens else "fp32"
                continue
            m = LINE.match(line)
            if not m or (args.binary and binary != args.binary):
                continue
            model, device, w, h, graph, ipm, unit = m.groups()
            library = args.library + (" graph" if graph else "")
            rec = {"library": library, "model": model, "device": device, "mode": mode,
                   "optimizer": "adam", "width": int(w), "height": int(h), "status": "ok",
                   "iters_per_min": float(ipm) * SCALE[unit], "source": path.rsplit("/", 1)[-1]}
            peak = PEAK.search(line)
            if peak:
                rec["peak_bytes"] = float(peak.group(1)) * SCALE[peak.group(2)]
            out.append(rec)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
