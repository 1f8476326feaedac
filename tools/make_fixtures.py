#!/usr/bin/python3
"""Writes the PyTorch-computed test fixtures under tests/data/ (the peer oracle of kernel tests).

Run with Debian's interpreter, which has python3-torch and numpy:
    /usr/bin/python3 tools/make_fixtures.py [output_dir]      (default: tests/data next to tools/)

Everything is computed in float64 on the CPU with fixed seeds and one thread, and stored as F64, so
a test can compare an implementation at its own precision (float kernels at float tolerance, double
at double tolerance). The safetensors files are written here with json + numpy (the safetensors
package is not installed): 8-byte little-endian header length, JSON header padded with spaces to a
multiple of 8, then the little-endian bytes.

Files and their layout (read by tests/support/fixtures.hpp):
  Each file holds several cases. Tensors are named "case<i>.<tensor>", metadata keys
  "case<i>.<param>" (all values strings; booleans "0"/"1"); "cases" is the number of cases,
  "case<i>.name" a human-readable name. Layouts are row-major: NCHW images, KCRS filters.

  conv.safetensors     conv2d with bias. params: n c h w k r s pad_h pad_w stride_h stride_w
                       dilation_h dilation_w. tensors: x (N,C,H,W), w (K,C,R,S), b (K), y (N,K,P,Q),
                       dy (N,K,P,Q) the upstream gradient, dx, dw, db the gradients of sum(dy * y).
  pool.safetensors     max_pool2d / avg_pool2d. params: op ("max" or "avg"), n c h w kernel_h
                       kernel_w stride_h stride_w pad_h pad_w ceil_mode count_include_pad.
                       tensors: x, y, dy, dx.
  gemm.safetensors     C = alpha * op(A) @ op(B) + beta * C_in, packed row-major operands.
                       params: m n k trans_a trans_b alpha beta (alpha, beta as Python repr, exact).
                       tensors: a (M,K), or (K,M) when trans_a; b (K,N), or (N,K) when trans_b;
                       c_in (M,N); c_out (M,N). With beta == 0, c_in is all NaN: the BLAS rule says
                       C is not read then, and a kernel that reads it fails the comparison.
  softmax.safetensors  rows of logits (R, C). params: rows cols. tensors: logits, labels (I64, R),
                       softmax, log_softmax, loss (shape [], mean cross-entropy), dlogits (its
                       gradient), dy (R, C) upstream gradient, dx_softmax and dx_log_softmax (the
                       backward passes of softmax and log_softmax for that dy).
"""

import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

_DTYPES = {np.dtype("float64"): "F64", np.dtype("float32"): "F32", np.dtype("int64"): "I64",
           np.dtype("int32"): "I32"}


def save_safetensors(path, tensors, metadata):
    """Writes tensors (name -> numpy array) and metadata (str -> str) to path atomically."""
    header = {"__metadata__": {str(k): str(v) for k, v in metadata.items()}}
    chunks = []
    offset = 0
    for name, array in tensors.items():
        array = np.array(array, order="C")  # not ascontiguousarray: it turns shape () into (1,)
        dtype = _DTYPES[array.dtype]
        data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for data in chunks:
            f.write(data)
    os.replace(tmp, path)


def numpy(t):
    return t.detach().cpu().numpy()


class CaseFile:
    """Collects case-prefixed tensors and metadata for one fixture file."""

    def __init__(self):
        self.tensors = {}
        self.metadata = {}
        self.count = 0

    def add(self, name, params, tensors):
        prefix = "case%d." % self.count
        self.metadata[prefix + "name"] = name
        for k, v in params.items():
            if isinstance(v, bool):
                v = int(v)
            self.metadata[prefix + k] = repr(v) if isinstance(v, float) else str(v)
        for k, t in tensors.items():
            self.tensors[prefix + k] = numpy(t) if isinstance(t, torch.Tensor) else t
        self.count += 1

    def write(self, path):
        meta = dict(self.metadata)
        meta["cases"] = str(self.count)
        meta["generator"] = "tools/make_fixtures.py"
        meta["torch"] = torch.__version__
        save_safetensors(path, self.tensors, meta)
        print("wrote %s: %d cases, %d bytes" % (path, self.count, os.path.getsize(path)))


def conv_fixtures():
    # (name, n, c, h, w, k, r, s, pad (h, w), stride (h, w), dilation (h, w))
    cases = [
        ("1x1", 1, 3, 5, 7, 4, 1, 1, (0, 0), (1, 1), (1, 1)),
        ("3x3 pad1 batch2", 2, 3, 7, 6, 4, 3, 3, (1, 1), (1, 1), (1, 1)),
        ("3x3 stride2 pad1", 1, 4, 9, 8, 3, 3, 3, (1, 1), (2, 2), (1, 1)),
        ("5x5 pad2 batch2", 2, 2, 8, 9, 3, 5, 5, (2, 2), (1, 1), (1, 1)),
        ("11x11 stride4 (NIN conv1)", 1, 3, 27, 31, 4, 11, 11, (0, 0), (4, 4), (1, 1)),
        ("per-axis pad 3x5", 1, 2, 6, 7, 3, 3, 5, (0, 2), (1, 1), (1, 1)),
        ("per-axis stride (1,3)", 2, 2, 9, 10, 2, 3, 3, (1, 1), (1, 3), (1, 1)),
        ("dilation2 pad2", 1, 3, 10, 10, 4, 3, 3, (2, 2), (1, 1), (2, 2)),
        ("dilation (1,2) stride2 batch2", 2, 2, 11, 9, 3, 3, 3, (1, 2), (2, 2), (1, 2)),
        ("rect 1x7 pad (0,3)", 1, 3, 5, 13, 2, 1, 7, (0, 3), (1, 1), (1, 1)),
        ("kernel covers input", 2, 2, 5, 5, 3, 5, 5, (0, 0), (1, 1), (1, 1)),
        ("5x5 stride4 pad1 (uneven coverage)", 1, 2, 17, 14, 3, 5, 5, (1, 1), (4, 4), (1, 1)),
    ]
    out = CaseFile()
    for i, (name, n, c, h, w, k, r, s, pad, stride, dil) in enumerate(cases):
        torch.manual_seed(1000 + i)
        x = torch.randn(n, c, h, w, dtype=torch.float64, requires_grad=True)
        wt = torch.randn(k, c, r, s, dtype=torch.float64, requires_grad=True)
        b = torch.randn(k, dtype=torch.float64, requires_grad=True)
        y = F.conv2d(x, wt, b, stride=stride, padding=pad, dilation=dil)
        dy = torch.randn_like(y)
        y.backward(dy)
        params = dict(n=n, c=c, h=h, w=w, k=k, r=r, s=s, pad_h=pad[0], pad_w=pad[1],
                      stride_h=stride[0], stride_w=stride[1], dilation_h=dil[0], dilation_w=dil[1])
        out.add(name, params, dict(x=x, w=wt, b=b, y=y, dy=dy, dx=x.grad, dw=wt.grad, db=b.grad))
    return out


def pool_fixtures():
    # (name, op, n, c, h, w, kernel, stride, pad, ceil_mode, count_include_pad)
    cases = [
        ("max 2x2 s2 (VGG)", "max", 2, 3, 8, 8, (2, 2), (2, 2), (0, 0), False, True),
        ("max 3x3 s2 ceil (NIN)", "max", 1, 2, 13, 13, (3, 3), (2, 2), (0, 0), True, True),
        ("max 3x3 s2 ceil even input", "max", 1, 2, 14, 14, (3, 3), (2, 2), (0, 0), True, True),
        ("max 3x3 s1 pad1", "max", 1, 3, 6, 5, (3, 3), (1, 1), (1, 1), False, True),
        ("max 3x3 s2 pad1 ceil", "max", 2, 2, 10, 11, (3, 3), (2, 2), (1, 1), True, True),
        ("max rect 2x3 s(1,2)", "max", 1, 2, 7, 9, (2, 3), (1, 2), (0, 0), False, True),
        ("avg 2x2 s2 odd input", "avg", 2, 2, 7, 9, (2, 2), (2, 2), (0, 0), False, True),
        ("avg 3x3 s2 ceil (NIN)", "avg", 1, 2, 13, 13, (3, 3), (2, 2), (0, 0), True, True),
        ("avg 3x3 s1 pad1 include pad", "avg", 1, 2, 6, 5, (3, 3), (1, 1), (1, 1), False, True),
        ("avg 3x3 s2 pad1 exclude pad", "avg", 1, 2, 9, 9, (3, 3), (2, 2), (1, 1), False, False),
        ("avg 3x3 s2 pad1 ceil exclude pad", "avg", 2, 2, 10, 11, (3, 3), (2, 2), (1, 1), True,
         False),
        ("avg 3x3 s2 pad1 ceil include pad", "avg", 1, 2, 10, 11, (3, 3), (2, 2), (1, 1), True,
         True),
        ("avg 6x6 s1 (NIN global)", "avg", 2, 5, 6, 6, (6, 6), (1, 1), (0, 0), False, True),
    ]
    out = CaseFile()
    for i, (name, op, n, c, h, w, kernel, stride, pad, ceil, include_pad) in enumerate(cases):
        torch.manual_seed(2000 + i)
        # Random doubles: ties inside a max-pool window have probability zero.
        x = torch.randn(n, c, h, w, dtype=torch.float64, requires_grad=True)
        if op == "max":
            y = F.max_pool2d(x, kernel, stride, pad, ceil_mode=ceil)
        else:
            y = F.avg_pool2d(x, kernel, stride, pad, ceil_mode=ceil, count_include_pad=include_pad)
        dy = torch.randn_like(y)
        y.backward(dy)
        params = dict(op=op, n=n, c=c, h=h, w=w, kernel_h=kernel[0], kernel_w=kernel[1],
                      stride_h=stride[0], stride_w=stride[1], pad_h=pad[0], pad_w=pad[1],
                      ceil_mode=ceil, count_include_pad=include_pad)
        out.add(name, params, dict(x=x, y=y, dy=dy, dx=x.grad))
    return out


def gemm_fixtures():
    # (name, m, n, k, trans_a, trans_b, alpha, beta)
    cases = [
        ("1x1x1", 1, 1, 1, False, False, 1.0, 0.0),
        ("7x5x3 NN", 7, 5, 3, False, False, 1.0, 0.0),
        ("31x33x17 TN alpha", 31, 33, 17, True, False, 1.5, 0.0),
        ("33x31x65 NT alpha beta", 33, 31, 65, False, True, -0.75, 0.5),
        ("17x64x9 TT beta1", 17, 64, 9, True, True, 1.0, 1.0),
        ("129x3x131 NN", 129, 3, 131, False, False, 2.0, -1.0),
        ("1x67x5 NT", 1, 67, 5, False, True, 0.25, 0.0),
    ]
    out = CaseFile()
    for i, (name, m, n, k, ta, tb, alpha, beta) in enumerate(cases):
        torch.manual_seed(3000 + i)
        a = torch.randn(k, m, dtype=torch.float64) if ta else torch.randn(m, k, dtype=torch.float64)
        b = torch.randn(n, k, dtype=torch.float64) if tb else torch.randn(k, n, dtype=torch.float64)
        op_a = a.t() if ta else a
        op_b = b.t() if tb else b
        if beta == 0.0:
            c_in = torch.full((m, n), float("nan"), dtype=torch.float64)
            c_out = alpha * (op_a @ op_b)
        else:
            c_in = torch.randn(m, n, dtype=torch.float64)
            c_out = alpha * (op_a @ op_b) + beta * c_in
        params = dict(m=m, n=n, k=k, trans_a=ta, trans_b=tb, alpha=alpha, beta=beta)
        out.add(name, params, dict(a=a, b=b, c_in=c_in, c_out=c_out))
    return out


def softmax_fixtures():
    # (name, rows, cols, logit scale, logit offset)
    cases = [
        ("4x10", 4, 10, 3.0, 0.0),
        ("3x2", 3, 2, 1.0, 0.0),
        ("1x7", 1, 7, 2.0, 0.0),
        ("33x17 odd", 33, 17, 1.0, 0.0),
        ("2x1000 (ImageNet classes)", 2, 1000, 4.0, 0.0),
        ("large logits (stability)", 3, 5, 50.0, 1000.0),
    ]
    out = CaseFile()
    for i, (name, rows, cols, scale, offset) in enumerate(cases):
        torch.manual_seed(4000 + i)
        logits = torch.randn(rows, cols, dtype=torch.float64) * scale + offset
        labels = torch.randint(0, cols, (rows,), dtype=torch.int64)
        dy = torch.randn(rows, cols, dtype=torch.float64)

        x = logits.clone().requires_grad_(True)
        sm = F.softmax(x, dim=1)
        sm.backward(dy)
        dx_softmax = x.grad

        x = logits.clone().requires_grad_(True)
        lsm = F.log_softmax(x, dim=1)
        lsm.backward(dy)
        dx_log_softmax = x.grad

        x = logits.clone().requires_grad_(True)
        loss = F.cross_entropy(x, labels, reduction="mean")
        loss.backward()
        dlogits = x.grad

        params = dict(rows=rows, cols=cols)
        out.add(name, params, dict(logits=logits, labels=labels, softmax=sm, log_softmax=lsm,
                                   loss=loss.reshape(()), dlogits=dlogits, dy=dy,
                                   dx_softmax=dx_softmax, dx_log_softmax=dx_log_softmax))
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "tests", "data")
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    conv_fixtures().write(os.path.join(out_dir, "conv.safetensors"))
    pool_fixtures().write(os.path.join(out_dir, "pool.safetensors"))
    gemm_fixtures().write(os.path.join(out_dir, "gemm.safetensors"))
    softmax_fixtures().write(os.path.join(out_dir, "softmax.safetensors"))


if __name__ == "__main__":
    main()
