#!/usr/bin/env python3
"""Interoperability with the reference `safetensors` package (pip install safetensors numpy).

  check_safetensors_interop.py read CHECKPOINT      read a file tinycnn wrote; print names, shapes
  check_safetensors_interop.py write PATH           write a file with the package for tinycnn to read

Run by tests/io/safetensors_interop_test.cpp when the package is installed."""
import sys

import numpy as np
from safetensors.numpy import load_file, save_file


def main():
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "read":
        tensors = load_file(path)
        from safetensors import safe_open
        with safe_open(path, framework="numpy") as f:
            meta = f.metadata()
        for name in sorted(tensors):
            t = tensors[name]
            print(f"{name} {t.dtype} {list(t.shape)} sum={float(t.astype(np.float64).sum()):.6g}")
        print("metadata", meta)
    elif mode == "write":
        rng = np.random.default_rng(7)
        save_file({
            "weight": rng.standard_normal((3, 4)).astype(np.float32),
            "bias": np.arange(3, dtype=np.float64),
            "labels": np.array([1, 0, 9], dtype=np.int64),
            "half": np.array([1.5, -2.0], dtype=np.float16),
        }, path, metadata={"written_by": "safetensors " + __import__("safetensors").__version__})
        print("wrote", path)


if __name__ == "__main__":
    main()
