#!/usr/bin/env python3
"""Records (tools/style_bench_torch.py's JSON format) from the markdown table that
style_bench_torch.py prints at the end of its log, for runs whose JSON did not come back; for a
log cut off before its table (a run stopped by its time limit), from the per-size progress lines
("vgg19  7680x4320 cuda fp32: 39.2 it/min") instead.

    python3 tools/torch_log_records.py torch_style.log [more.log ...] > torch_style_fp32.json
"""
import json
import re
import sys

PROGRESS = re.compile(r"^(\w+)\s+(\d+)x(\d+) (\w+) (\w+): ([\d.]+) it/min")


def records(path):
    out = []
    for line in open(path):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 10 or cells[0] in ("model", "---") or cells[0].startswith("-"):
            continue
        model, _preset, size, device, mode, optimizer, ipm, mpx, peak, status = cells
        w, h = (int(v) for v in size.split("x"))
        rec = {"library": "pytorch", "model": model, "device": device, "mode": mode,
               "optimizer": optimizer, "width": w, "height": h, "status": status,
               "source": path.rsplit("/", 1)[-1]}
        if status == "ok":
            rec["iters_per_min"] = float(ipm)
            rec["pixels_per_s"] = float(mpx) * 1e6
            rec["peak_bytes"] = float(peak) * 2**20
        out.append(rec)
    if not out:
        for line in open(path):
            m = PROGRESS.match(line)
            if m:
                w, h = int(m.group(2)), int(m.group(3))
                ipm = float(m.group(6))
                out.append({"library": "pytorch", "model": m.group(1), "device": m.group(4),
                            "mode": m.group(5), "optimizer": "adam", "width": w, "height": h,
                            "status": "ok", "iters_per_min": ipm,
                            "pixels_per_s": ipm / 60 * w * h, "source": path.rsplit("/", 1)[-1]})
    return out


if __name__ == "__main__":
    json.dump([r for p in sys.argv[1:] for r in records(p)], sys.stdout, indent=1)
    print()
