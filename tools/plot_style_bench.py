#!/usr/bin/python3
"""Style-transfer benchmark results (tinycnn's and PyTorch's) -> a log-log PNG of iterations per
minute against pixels, and a side-by-side markdown table on stdout.

  tools/plot_style_bench.py build/style_bench.json torch_fp32.json torch_tf32.json --png out.png
  tools/plot_style_bench.py ours=a.json pytorch=b.json --memory --png out.png

An argument is FILE or LABEL=FILE; LABEL names the library of every result in FILE (default:
"tinycnn" for Google Benchmark files, the record's "library" or "pytorch" for record lists).
Needs matplotlib only for the PNG (--no-plot skips it); python3-matplotlib on Debian.

Accepted inputs (the format is detected per file):
 1. Records, as written by tools/style_bench_torch.py: a JSON list (or {"records": [...]}) of
    {model, device, mode, width, height, iters_per_min, pixels_per_s, peak_bytes, status,
     [library, optimizer]}; status "ok", "oom" or anything else (an error).
 2. Google Benchmark JSON: {"benchmarks": [...]}. Each entry's "name" is split at "/":
    a token WxH is the resolution (a lone integer N means NxN, two integers W then H);
    cuda|gpu|cpu the device; fp32|tf32|fp16|bf16 the mode; adam|lbfgs the optimizer; a token
    starting with vgg or nin the model; "key:value" tokens (model:, device:, mode:, width:,
    height:, size:, optimizer:, library:) set that field; Google Benchmark's own suffixes
    (real_time, manual_time, iterations:N, repeats:N, threads:N, min_time:...) are ignored; any
    other token after the first is kept as part of the model's name. Fields of the same names
    in the entry itself (counters or keys: model, device, mode, width, height, optimizer) and a
    "label" equal to a mode override the name. Speed: the iters_per_min counter, else
    pixels_per_s / (W*H) * 60, else 60 / real_time (converted from time_unit), taken as the time
    of one style-transfer iteration. peak_bytes counter if present. "error_occurred": true is
    "oom" when error_message mentions out of memory / OOM / can't allocate, else an error.
    Repetitions: the median of the iteration entries; aggregates (median, else mean) only where a
    name has no iteration entry. Mode defaults to fp32, device to cuda.
"""
import argparse
import json
import re
import statistics
import sys

MODES = {"fp32", "tf32", "fp16", "bf16"}
OPTIMIZERS = {"adam", "lbfgs"}
GB_SUFFIX = re.compile(r"^(real_time|manual_time|process_time|cpu_time|"
                       r"(iterations|repeats|threads|min_time|min_warmup_time):.*)$")
OOM_TEXT = re.compile(r"out of memory|\boom\b|can't allocate|cannot allocate|"
                      r"cudaErrorMemoryAllocation|bad_alloc", re.I)
TIME_UNIT = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def status_of(text):
    text = (text or "").strip().lower()
    if text in ("", "ok"):
        return "ok"
    return "oom" if text == "oom" or OOM_TEXT.search(text) else "error"


def parse_name(name):
    """Fields found in a Google Benchmark name like 'style/vgg19/cuda/512x512/real_time'."""
    out, ints, extra = {}, [], []
    for i, tok in enumerate(t for t in name.split("/") if t):
        low = tok.lower()
        if GB_SUFFIX.match(low):
            continue
        if ":" in tok:
            key, value = tok.split(":", 1)
            key = key.lower()
            if key == "size":
                m = re.fullmatch(r"(\d+)(?:x(\d+))?", value.lower())
                if m:
                    out["width"], out["height"] = int(m.group(1)), int(m.group(2) or m.group(1))
            elif key in ("width", "height", "w", "h"):
                out["width" if key in ("width", "w") else "height"] = int(value)
            elif key in ("model", "device", "mode", "optimizer", "library"):
                out[key] = value.lower() if key != "library" else value
            continue
        m = re.fullmatch(r"(\d+)x(\d+)", low)
        if m:
            out["width"], out["height"] = int(m.group(1)), int(m.group(2))
        elif low.isdigit():
            ints.append(int(low))
        elif low in ("cuda", "gpu"):
            out["device"] = "cuda"
        elif low == "cpu":
            out["device"] = "cpu"
        elif low in MODES:
            out["mode"] = low
        elif low in OPTIMIZERS:
            out["optimizer"] = low
        elif low.startswith(("vgg", "nin")):
            out["model"] = low
        elif i > 0:
            extra.append(tok)
    if "width" not in out and ints:
        out["width"], out["height"] = ints[0], ints[1] if len(ints) > 1 else ints[0]
    if extra:
        out["variant"] = "/".join(extra)
    return out


def from_google_benchmark(doc, library):
    groups = {}  # key -> {"iteration": [...], "median": [...], "mean": [...]}
    for b in doc.get("benchmarks", []):
        f = parse_name(b.get("run_name") or b.get("name", ""))
        for key in ("model", "device", "mode", "optimizer"):
            if isinstance(b.get(key), str):
                f[key] = b[key].lower()
        for key in ("width", "height"):
            if isinstance(b.get(key), (int, float)):
                f[key] = int(b[key])
        if str(b.get("label", "")).lower() in MODES:
            f["mode"] = b["label"].lower()
        if "model" not in f or "width" not in f:
            print(f"note: skipped benchmark '{b.get('name')}' (no model or resolution in it)",
                  file=sys.stderr)
            continue
        if "variant" in f:
            f["model"] = f"{f['model']}/{f.pop('variant')}"
        w, h = f["width"], f["height"]
        rec = {"library": library or f.get("library") or "tinycnn", "model": f["model"],
               "device": f.get("device", "cuda"), "mode": f.get("mode", "fp32"),
               "optimizer": f.get("optimizer"), "width": w, "height": h,
               "iters_per_min": None, "pixels_per_s": None, "peak_bytes": b.get("peak_bytes")}
        if b.get("error_occurred"):
            rec["status"] = status_of(b.get("error_message") or "error")
            rec["error"] = b.get("error_message")
        else:
            rec["status"] = "ok"
            ipm = b.get("iters_per_min")
            if ipm is None and b.get("pixels_per_s"):
                ipm = b["pixels_per_s"] / (w * h) * 60.0
            if ipm is None and b.get("real_time"):
                ipm = 60.0 / (b["real_time"] * TIME_UNIT.get(b.get("time_unit", "ns"), 1e-9))
            rec["iters_per_min"] = ipm
            rec["pixels_per_s"] = b.get("pixels_per_s") or (ipm * w * h / 60.0 if ipm else None)
        kind = "iteration" if b.get("run_type", "iteration") == "iteration" else b.get("aggregate_name")
        key = tuple(rec[k] for k in ("library", "model", "device", "mode", "optimizer", "width", "height"))
        groups.setdefault(key, {}).setdefault(kind, []).append(rec)
    out = []
    for runs in groups.values():
        chosen = runs.get("iteration") or runs.get("median") or runs.get("mean")
        if not chosen:
            continue
        ok = [r for r in chosen if r["status"] == "ok" and r["iters_per_min"]]
        if not ok:
            out.append(chosen[-1])
            continue
        rec = dict(ok[0])
        rec["iters_per_min"] = statistics.median(r["iters_per_min"] for r in ok)
        rec["pixels_per_s"] = rec["iters_per_min"] * rec["width"] * rec["height"] / 60.0
        peaks = [r["peak_bytes"] for r in ok if r.get("peak_bytes") is not None]
        rec["peak_bytes"] = max(peaks) if peaks else None
        out.append(rec)
    return out


def from_records(items, library):
    out = []
    for r in items:
        rec = {"library": library or r.get("library") or "pytorch",
               "model": str(r["model"]).lower(), "device": str(r.get("device", "cuda")).lower(),
               "mode": str(r.get("mode") or "fp32").lower(), "optimizer": r.get("optimizer"),
               "width": int(r["width"]), "height": int(r["height"]),
               "iters_per_min": r.get("iters_per_min"), "pixels_per_s": r.get("pixels_per_s"),
               "peak_bytes": r.get("peak_bytes"), "status": status_of(r.get("status", "ok"))}
        if rec["status"] == "ok" and not rec["iters_per_min"]:
            rec["status"] = "error"
        out.append(rec)
    return out


def load(arg):
    label, path = None, arg
    if "=" in arg and not arg.startswith(("/", ".")):
        label, path = arg.split("=", 1)
    with open(path) as f:
        doc = json.load(f)
    if isinstance(doc, dict) and "benchmarks" in doc:
        return from_google_benchmark(doc, label)
    if isinstance(doc, dict) and "records" in doc:
        doc = doc["records"]
    if isinstance(doc, list):
        return from_records(doc, label)
    raise SystemExit(f"{path}: neither Google Benchmark JSON ({{'benchmarks': [...]}}) nor a "
                     f"list of records")


def size_label(w, h):
    return f"{w}" if w == h else f"{w}x{h}"


def series_name(r):
    name = f"{r['library']} {r['model']} {r['device']} {r['mode']}"
    return name + (f" {r['optimizer']}" if r.get("optimizer") not in (None, "adam") else "")


def plot(records, png, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    series = {}
    for r in records:
        series.setdefault(series_name(r), []).append(r)
    speeds = [r["iters_per_min"] for r in records if r["status"] == "ok"]
    if not speeds:
        raise SystemExit("nothing to plot: no successful result in the inputs")
    floor = min(speeds) / 3.0  # where OOM and error markers sit
    # One colour per (model, device, mode, optimizer), so a library's line and its peer's share it;
    # tinycnn (and any non-PyTorch library) solid, PyTorch dashed.
    groups = sorted({series_name(dict(r, library="")) for r in records})
    colours = {g: plt.get_cmap("tab10")(i % 10) for i, g in enumerate(groups)}
    fig, ax = plt.subplots(figsize=(12.5, 6.5))
    marked = set()
    for name, rs in sorted(series.items()):
        rs.sort(key=lambda r: r["width"] * r["height"])
        ok = [r for r in rs if r["status"] == "ok"]
        colour = colours[series_name(dict(rs[0], library=""))]
        style = "-" if rs[0]["library"] != "pytorch" else "--"
        marker = "^" if rs[0]["mode"] == "tf32" else "o"
        ax.plot([r["width"] * r["height"] for r in ok], [r["iters_per_min"] for r in ok],
                style, marker=marker, markersize=4, color=colour, label=name)
        for status, bad_marker in (("oom", "x"), ("error", "1")):
            bad = [r for r in rs if r["status"] == status]
            if bad:
                ax.plot([r["width"] * r["height"] for r in bad], [floor] * len(bad), linestyle="none",
                        marker=bad_marker, markersize=10, markeredgewidth=2, color=colour,
                        label=None if status in marked else f"({status.upper()}, drawn at the bottom)")
                marked.add(status)
    ax.set_xscale("log")
    ax.set_yscale("log")
    sizes = sorted({(r["width"], r["height"]) for r in records}, key=lambda s: s[0] * s[1])
    ax.set_xticks([w * h for w, h in sizes])
    ax.set_xticklabels([size_label(w, h) for w, h in sizes], rotation=30)
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain)
    ax.set_xlabel("resolution (pixels, log scale; N means NxN)")
    ax.set_ylabel("style-transfer iterations per minute (log scale)")
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    fig.savefig(png, dpi=130)
    print(f"wrote {png}", file=sys.stderr)


def cell(r, what="iters_per_min"):
    if r is None:
        return "—"
    if r["status"] != "ok":
        return r["status"].upper()
    v = r.get(what)
    if v is None:
        return "—"
    if what == "peak_bytes":
        return f"{v / 2**30:.2f}"
    return f"{v:.3g}" if v < 100 else f"{v:.0f}"


def table(records, memory):
    index = {}
    for r in records:
        key = (r["library"], r["model"], r["device"], r["mode"], r["width"], r["height"])
        if key in index and index[key].get("optimizer") != r.get("optimizer"):
            print(f"note: {key} measured with optimizers {index[key].get('optimizer')} and "
                  f"{r.get('optimizer')}; the table shows the last (filter with --optimizer)",
                  file=sys.stderr)
        index[key] = r
    ours_libs = sorted({r["library"] for r in records if r["library"] != "pytorch"})
    if not ours_libs:
        ours_libs = [None]
    rows = sorted({(r["model"], r["device"], r["width"], r["height"]) for r in records},
                  key=lambda k: (k[0], k[1], k[2] * k[3]))
    for lib in ours_libs:
        ours_tf32 = lib is not None and any(r["library"] == lib and r["mode"] == "tf32" for r in records)
        head = ["model", "resolution", "device", f"{lib or 'ours'} it/min", "PyTorch fp32 it/min",
                "ratio (ours / PyTorch fp32)", "PyTorch TF32 it/min"]
        if ours_tf32:
            head.append(f"{lib} TF32 it/min")
        if memory:
            head += [f"{lib or 'ours'} peak GiB", "PyTorch fp32 peak GiB"]
        print("| " + " | ".join(head) + " |")
        print("|---|---|---|" + "---:|" * (len(head) - 3))
        for model, device, w, h in rows:
            ours = index.get((lib, model, device, "fp32", w, h))
            pt = index.get(("pytorch", model, device, "fp32", w, h))
            pt32 = index.get(("pytorch", model, device, "tf32", w, h))
            if ours is None and pt is None and pt32 is None:
                continue
            ratio = "—"
            if ours and pt and ours["status"] == "ok" and pt["status"] == "ok":
                ratio = f"{ours['iters_per_min'] / pt['iters_per_min']:.2f}"
            cols = [model, size_label(w, h), device, cell(ours), cell(pt), ratio, cell(pt32)]
            if ours_tf32:
                cols.append(cell(index.get((lib, model, device, "tf32", w, h))))
            if memory:
                cols += [cell(ours, "peak_bytes"), cell(pt, "peak_bytes")]
            print("| " + " | ".join(cols) + " |")
        print()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("inputs", nargs="+", metavar="[LABEL=]FILE")
    ap.add_argument("--png", default="style_bench.png")
    ap.add_argument("--title", default="Gatys style transfer: iterations per minute")
    ap.add_argument("--optimizer", default=None,
                    help="keep only results of this optimizer (and those that do not say)")
    ap.add_argument("--memory", action="store_true", help="add peak-memory columns to the table")
    ap.add_argument("--no-plot", action="store_true")
    args = ap.parse_args()

    records = []
    for arg in args.inputs:
        records += load(arg)
    if args.optimizer:
        records = [r for r in records if r.get("optimizer") in (None, args.optimizer)]
    if not records:
        raise SystemExit("no results in the inputs")
    table(records, args.memory)
    if not args.no_plot:
        plot(records, args.png, args.title)


if __name__ == "__main__":
    main()
