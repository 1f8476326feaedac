#!/usr/bin/python3
"""Writes the VGG and NIN fixtures of tests/models/vgg_nin_test.cpp and checks
tools/convert_weights.py on the way.

Run with Debian's interpreter, which has python3-torch and numpy (torchvision is not needed):
    /usr/bin/python3 tools/make_vgg_fixtures.py [output_dir]      (default: tests/data)

The networks are built by hand with torchvision's layout, so that their state-dict names are
torchvision's: VGG is a module with `features` (Conv2d 3x3 pad 1 [BatchNorm2d] ReLU ..., MaxPool2d
2/2) and, in the layouts below, `avgpool` and `classifier` (Linear ReLU Dropout Linear ReLU
Dropout Linear); NIN is pytorch-nin's `features` Sequential (convolutions at indices 0 2 4 7 9 11
14 16 18 22 24 26, max pools 3/2 with ceil_mode, dropout at 21), ending in a global average pool.
Real VGG weights are 37 MB or more, so the weight fixtures use every width divided by 16
(models' width_divisor = 16) and the classifier-less features; the full-size layouts are checked by
names and shapes only.

Weights are seeded random float32 (Kaiming-normal convolutions, biases in +-0.1; batch norm with
weight in [0.5, 1.5], bias in +-0.2, running_mean ~ 0.2 N(0, 1), running_var in [0.5, 2], eval
mode). Each network is saved with torch.save and turned into safetensors by convert_weights.py
(so the files hold torchvision / pytorch-nin names, float32, no num_batches_tracked). The
expected activations are computed in float64 from the same float32 weights and inputs, one
thread, and stored as F64.

Files:
  vgg_11_w16.safetensors      VGG-11 features, width / 16 (convert_weights.py --arch vgg11)
  vgg_11_bn_w16.safetensors   VGG-11-BN features, width / 16 (--arch vgg11_bn)
  vgg_taps.safetensors        for net in {vgg11, vgg11_bn}: "<net>.input" (1, 3, 32, 32) F32 and
                              "<net>.<tap>" F64 for the taps in metadata "<net>.taps" (our layer
                              names); metadata "width_divisor", and for the full-size
                              torchvision layouts "layout.<arch>" (arch in vgg11 vgg11_bn vgg16
                              vgg16_bn vgg19 vgg19_bn, with classifier, 1000 classes): JSON
                              [[name, [dims]], ...] in state-dict order without
                              num_batches_tracked, and "params.<arch>": the parameter count.
  nin_w16.safetensors         NIN, width / 16, 100 classes (--arch nin)
  nin_taps.safetensors        "nin.input" (1, 3, 71, 59) F32 (sizes at which every ceil-mode pool
                              differs from floor mode in one dimension or both), "nin.<tap>" F64;
                              metadata "nin.taps", "width_divisor", "num_classes", and
                              "layout.nin" / "params.nin" for the full-size network.

The script also exercises convert_weights.py: a plain state dict, a checkpoint dict with
"state_dict", a DataParallel "module." prefix and a pickled model (--trust-pickle) give the same
tensors; a pickled model without --trust-pickle, a wrong --arch, a missing file and a non-floating
tensor are refused with exit status 1 and a message. It stops with an AssertionError otherwise.
"""

import collections
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn

TOOLS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, TOOLS)
from convert_weights import VGG_CONFIGS, convert  # noqa: E402
from make_fixtures import save_safetensors  # noqa: E402

DIVISOR = 16
NIN_CLASSES = 100
VGG_INPUT = (1, 3, 32, 32)
NIN_INPUT = (1, 3, 71, 59)
VGG_TAPS = {"vgg11": ["relu1_1", "conv3_1", "relu3_1", "pool5"],
            "vgg11_bn": ["bn1_1", "relu1_1", "relu3_1", "pool5"]}
NIN_TAPS = ["relu0", "pool0", "cccp4", "pool2", "pool3", "relu12", "pool4"]


class Vgg(nn.Module):
    """torchvision.models.VGG's layout; our layer names alongside features."""

    def __init__(self, arch, divisor=1, classifier=True, num_classes=1000, device=None):
        super().__init__()
        bn = arch.endswith("_bn")
        layers, self.names, c = [], [], 3
        block, conv = 1, 1
        for v in VGG_CONFIGS[arch[:-3] if bn else arch]:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
                self.names.append(f"pool{block}")
                block, conv = block + 1, 1
                continue
            v //= divisor
            layers.append(nn.Conv2d(c, v, 3, padding=1, device=device))
            self.names.append(f"conv{block}_{conv}")
            if bn:
                layers.append(nn.BatchNorm2d(v, device=device))
                self.names.append(f"bn{block}_{conv}")
            layers.append(nn.ReLU())
            self.names.append(f"relu{block}_{conv}")
            c, conv = v, conv + 1
        self.features = nn.Sequential(*layers)
        if classifier:
            h = 4096 // divisor
            self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
            self.classifier = nn.Sequential(
                nn.Linear(c * 7 * 7, h, device=device), nn.ReLU(), nn.Dropout(),
                nn.Linear(h, h, device=device), nn.ReLU(), nn.Dropout(),
                nn.Linear(h, num_classes, device=device))


class Nin(nn.Module):
    """pytorch-nin's layout with a global average pool; Caffe's layer names alongside."""

    def __init__(self, divisor=1, num_classes=1000, device=None):
        super().__init__()
        c1, c2, c3, c4 = 96 // divisor, 256 // divisor, 384 // divisor, 1024 // divisor

        def conv(i, o, k, **kw):
            return nn.Conv2d(i, o, k, device=device, **kw)

        def pool():
            return nn.MaxPool2d(3, 2, ceil_mode=True)

        spec = [
            ("conv1", conv(3, c1, 11, stride=4)), ("relu0", nn.ReLU()),
            ("cccp1", conv(c1, c1, 1)), ("relu1", nn.ReLU()),
            ("cccp2", conv(c1, c1, 1)), ("relu2", nn.ReLU()), ("pool0", pool()),
            ("conv2", conv(c1, c2, 5, padding=2)), ("relu3", nn.ReLU()),
            ("cccp3", conv(c2, c2, 1)), ("relu5", nn.ReLU()),
            ("cccp4", conv(c2, c2, 1)), ("relu6", nn.ReLU()), ("pool2", pool()),
            ("conv3", conv(c2, c3, 3, padding=1)), ("relu7", nn.ReLU()),
            ("cccp5", conv(c3, c3, 1)), ("relu8", nn.ReLU()),
            ("cccp6", conv(c3, c3, 1)), ("relu9", nn.ReLU()), ("pool3", pool()),
            ("drop", nn.Dropout(0.5)),
            ("conv4-1024", conv(c3, c4, 3, padding=1)), ("relu10", nn.ReLU()),
            ("cccp7-1024", conv(c4, c4, 1)), ("relu11", nn.ReLU()),
            ("cccp8-1024", conv(c4, num_classes, 1)), ("relu12", nn.ReLU()),
            ("pool4", nn.AdaptiveAvgPool2d(1)),
        ]
        self.names = [n for n, _ in spec]
        self.features = nn.Sequential(*[m for _, m in spec])


def randomize(model, gen):
    """Seeded float32 weights; batch norm with non-trivial affine parameters and statistics."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
                m.bias.copy_((torch.rand(m.bias.shape, generator=gen) * 2 - 1) * 0.1)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=gen))
                m.bias.copy_((torch.rand(m.bias.shape, generator=gen) * 2 - 1) * 0.2)
                m.running_mean.copy_(0.2 * torch.randn(m.running_mean.shape, generator=gen))
                m.running_var.copy_(0.5 + 1.5 * torch.rand(m.running_var.shape, generator=gen))
                m.num_batches_tracked.fill_(17)
    return model.eval()


def taps(model, x, wanted):
    """Outputs of the named layers of model.features, in float64."""
    out = {}
    h = x.double()
    features = model.features.double()
    with torch.no_grad():
        for name, layer in zip(model.names, features):
            h = layer(h)
            if name in wanted:
                out[name] = h.clone().numpy()
    features.float()
    assert sorted(out) == sorted(wanted), (sorted(out), wanted)
    return out


def layout(model):
    """[[name, dims], ...] of the state dict without num_batches_tracked, and the parameter count."""
    entries = [[k, list(v.shape)] for k, v in model.state_dict().items()
               if not k.endswith("num_batches_tracked")]
    return json.dumps(entries, separators=(",", ":")), sum(p.numel() for p in model.parameters())


def read_safetensors(path):
    """(name -> numpy array, metadata) of an F32 safetensors file."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    out = {}
    for name, e in header.items():
        assert e["dtype"] == "F32", (name, e)
        b, end = e["data_offsets"]
        out[name] = np.frombuffer(data[b:end], dtype="<f4").reshape(e["shape"])
    return out, meta


def expect_same(path, state):
    arrays, meta = read_safetensors(path)
    want = {k: v.numpy() for k, v in state.items() if not k.endswith("num_batches_tracked")}
    assert sorted(arrays) == sorted(want), (path, sorted(arrays), sorted(want))
    for k in want:
        assert arrays[k].shape == want[k].shape and np.array_equal(arrays[k], want[k]), (path, k)
    return meta


def run_convert(*args):
    r = subprocess.run([sys.executable, os.path.join(TOOLS, "convert_weights.py"), *args],
                       capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


def check_converter(tmp, model, arch):
    """convert_weights.py on several kinds of input made from `model`."""
    state = model.state_dict()
    sd = os.path.join(tmp, "check_sd.pth")
    torch.save(state, sd)
    rc, text = run_convert(sd, os.path.join(tmp, "a.safetensors"), "--arch", arch)
    assert rc == 0 and "wrote" in text, text
    meta = expect_same(os.path.join(tmp, "a.safetensors"), state)
    assert meta["arch"] == arch and meta["source"] == "check_sd.pth", meta

    ck = os.path.join(tmp, "check_ck.pth")
    torch.save({"epoch": 3, "state_dict": collections.OrderedDict(
        ("module." + k, v) for k, v in state.items())}, ck)
    rc, text = run_convert(ck, os.path.join(tmp, "b.safetensors"))
    assert rc == 0, text
    assert "arch" not in expect_same(os.path.join(tmp, "b.safetensors"), state)

    full = os.path.join(tmp, "check_full.pth")
    # A model of a class the converter can import: a Sequential holding the features.
    torch.save(nn.Sequential(collections.OrderedDict(features=model.features)), full)
    rc, text = run_convert(full, os.path.join(tmp, "c.safetensors"))
    assert rc == 1 and "--trust-pickle" in text, text
    assert not os.path.exists(os.path.join(tmp, "c.safetensors"))
    rc, text = run_convert(full, os.path.join(tmp, "c.safetensors"), "--trust-pickle")
    assert rc == 0, text
    expect_same(os.path.join(tmp, "c.safetensors"), state)

    rc, text = run_convert(sd, os.path.join(tmp, "d.safetensors"), "--arch", "vgg13")
    assert rc == 1 and "layout of vgg13" in text and "missing" in text, text
    rc, text = run_convert(os.path.join(tmp, "missing.pth"), os.path.join(tmp, "d.safetensors"))
    assert rc == 1 and "no such file" in text, text
    bad = dict(state)
    bad["features.0.weight"] = bad["features.0.weight"].to(torch.int32)
    torch.save(bad, os.path.join(tmp, "check_int.pth"))
    rc, text = run_convert(os.path.join(tmp, "check_int.pth"), os.path.join(tmp, "d.safetensors"))
    assert rc == 1 and "features.0.weight" in text and "torch.int32" in text, text
    assert not os.path.exists(os.path.join(tmp, "d.safetensors"))


def write_weights(tmp, out_dir, model, arch, file):
    pth = os.path.join(tmp, file.replace(".safetensors", ".pth"))
    torch.save(model.state_dict(), pth)
    convert(pth, os.path.join(out_dir, file), arch=arch)
    expect_same(os.path.join(out_dir, file), model.state_dict())


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(TOOLS, "..", "tests", "data")
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(20240611)

    with tempfile.TemporaryDirectory() as tmp:
        tensors, meta = {}, {"width_divisor": str(DIVISOR)}
        for arch in ("vgg11", "vgg11_bn"):
            model = randomize(Vgg(arch, DIVISOR, classifier=False), gen)
            if arch == "vgg11_bn":
                check_converter(tmp, model, arch)
            write_weights(tmp, out_dir, model, arch, f"vgg_{arch[3:]}_w16.safetensors")
            x = torch.randn(VGG_INPUT, generator=gen)
            tensors[f"{arch}.input"] = x.numpy()
            for name, y in taps(model, x, VGG_TAPS[arch]).items():
                tensors[f"{arch}.{name}"] = y
            meta[f"{arch}.taps"] = ",".join(VGG_TAPS[arch])
        for arch in ("vgg11", "vgg11_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"):
            meta[f"layout.{arch}"], meta[f"params.{arch}"] = layout(Vgg(arch, device="meta"))
        save_safetensors(os.path.join(out_dir, "vgg_taps.safetensors"), tensors, meta)

        model = randomize(Nin(DIVISOR, NIN_CLASSES), gen)
        write_weights(tmp, out_dir, model, "nin", "nin_w16.safetensors")
        x = torch.randn(NIN_INPUT, generator=gen)
        tensors = {"nin.input": x.numpy()}
        for name, y in taps(model, x, NIN_TAPS).items():
            tensors[f"nin.{name}"] = y
        meta = {"nin.taps": ",".join(NIN_TAPS), "width_divisor": str(DIVISOR),
                "num_classes": str(NIN_CLASSES)}
        meta["layout.nin"], meta["params.nin"] = layout(Nin(device="meta"))
        save_safetensors(os.path.join(out_dir, "nin_taps.safetensors"), tensors, meta)

    for f in ("vgg_11_w16", "vgg_11_bn_w16", "vgg_taps", "nin_w16", "nin_taps"):
        path = os.path.join(out_dir, f + ".safetensors")
        size = os.path.getsize(path)
        assert size < 200_000, (path, size)
        print(f"{path}: {size} bytes")


if __name__ == "__main__":
    main()
