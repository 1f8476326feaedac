#!/usr/bin/env python3
"""Converts PyTorch weights to a safetensors file that tinycnn loads (models/pretrained.hpp).

    convert_weights.py IN.pth OUT.safetensors [--arch vgg19] [--trust-pickle]
    convert_weights.py --torchvision vgg19 OUT.safetensors

IN.pth is a state dict (torch.save(model.state_dict(), ...)), a checkpoint dict holding one under
"state_dict" or "model", or, with --trust-pickle, a whole pickled model (unpickling a model runs
code from the file, so it is refused unless asked for). A "module." prefix (DataParallel) is
stripped. --torchvision ARCH fetches torchvision's pretrained ImageNet weights for ARCH instead
(needs torchvision and a network connection, or torch's cache).

Every tensor is written as contiguous little-endian float32 under its PyTorch name (torchvision's
"features.0.weight", ...); integer buffers named num_batches_tracked (batch-norm step counters) are
dropped, and any other non-floating tensor is an error. Metadata: "arch" (when known), "source",
"converter", "torch". With --arch, the names are checked against that architecture's layout
(vgg11, vgg13, vgg16, vgg19, their _bn variants, nin); a classifier-less file (features only) is
accepted for VGG. The file is written to a temporary name and renamed into place.

Needs python3 with torch and numpy; the safetensors package is not needed (the format is written
here: 8-byte little-endian header length, JSON header padded with spaces to a multiple of 8, data).
Exit status: 0 on success, 1 with a message on stderr otherwise.
"""

import argparse
import collections
import json
import os
import re
import sys

VGG_CONFIGS = {  # torchvision's cfgs: conv widths, "M" = max pool
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
              512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"],
}
NIN_CONV_INDICES = [0, 2, 4, 7, 9, 11, 14, 16, 18, 22, 24, 26]  # pytorch-nin's features[i]
ARCHS = sorted(list(VGG_CONFIGS) + [a + "_bn" for a in VGG_CONFIGS] + ["nin"])


class ConvertError(Exception):
    pass


def expected_names(arch):
    """(required names, optional names) of the architecture's state dict."""
    if arch == "nin":
        return [f"features.{i}.{t}" for i in NIN_CONV_INDICES for t in ("weight", "bias")], []
    bn = arch.endswith("_bn")
    base = arch[:-3] if bn else arch
    required, i = [], 0
    for v in VGG_CONFIGS[base]:
        if v == "M":
            i += 1
            continue
        required += [f"features.{i}.weight", f"features.{i}.bias"]
        i += 1
        if bn:
            required += [f"features.{i}.{t}" for t in
                         ("weight", "bias", "running_mean", "running_var")]
            i += 1
        i += 1  # ReLU
    optional = [f"classifier.{j}.{t}" for j in (0, 3, 6) for t in ("weight", "bias")]
    return required, optional


def check_arch(names, arch):
    required, optional = expected_names(arch)
    have = set(names)
    missing = [n for n in required if n not in have]
    extra = sorted(have - set(required) - set(optional))
    present_optional = [n for n in optional if n in have]
    if present_optional and len(present_optional) != len(optional):
        missing += [n for n in optional if n not in have]
    if missing or extra:
        msg = f"the weights do not have the layout of {arch}"
        if missing:
            msg += f"; missing {len(missing)}: {', '.join(missing[:6])}" + (
                ", ..." if len(missing) > 6 else "")
        if extra:
            msg += f"; unexpected {len(extra)}: {', '.join(extra[:6])}" + (
                ", ..." if len(extra) > 6 else "")
        raise ConvertError(msg)


def load_state_dict(path, trust_pickle):
    import torch
    if not os.path.isfile(path):
        raise ConvertError(f"'{path}': no such file")
    import inspect
    kwargs = {"map_location": "cpu"}
    if "weights_only" in inspect.signature(torch.load).parameters:  # torch >= 1.13
        kwargs["weights_only"] = not trust_pickle
    try:
        obj = torch.load(path, **kwargs)
    except Exception as e:  # UnpicklingError, RuntimeError, KeyError, EOFError, ...
        text = str(e).splitlines()[0] if str(e) else ""
        if kwargs.get("weights_only") and "weights only load failed" in text.lower():
            raise ConvertError(
                f"'{path}' holds more than tensors (a pickled model?); pass --trust-pickle to "
                f"unpickle it, which runs code from the file") from None
        raise ConvertError(f"'{path}' is not a file torch.load can read "
                           f"({type(e).__name__}: {text})") from None
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    if isinstance(obj, dict) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
        for key in ("state_dict", "model", "model_state_dict"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
            if isinstance(obj.get(key), torch.nn.Module):
                obj = obj[key].state_dict()
                break
    if not isinstance(obj, dict) or not obj:
        raise ConvertError(f"'{path}' holds a {type(obj).__name__}, not a state dict "
                           "(a dict of name -> tensor) or a model")
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise ConvertError(f"'{path}': entries that are not name -> tensor: "
                           f"{', '.join(map(str, bad[:6]))}")
    if all(k.startswith("module.") for k in obj):
        obj = collections.OrderedDict((k[len("module."):], v) for k, v in obj.items())
    return obj


def torchvision_state_dict(arch):
    try:
        import torchvision.models as tvm
    except ImportError:
        raise ConvertError("--torchvision needs the torchvision package "
                           "(pip install torchvision)") from None
    if not hasattr(tvm, arch):
        raise ConvertError(f"torchvision has no model '{arch}'")
    builder = getattr(tvm, arch)
    try:
        try:
            model = builder(weights="DEFAULT")
            source = f"torchvision {arch} weights=DEFAULT"
        except TypeError:  # torchvision < 0.13
            model = builder(pretrained=True)
            source = f"torchvision {arch} pretrained=True"
    except Exception as e:
        raise ConvertError(f"cannot fetch torchvision's {arch} weights "
                           f"({type(e).__name__}: {e})") from None
    return model.state_dict(), source


def to_float32_arrays(state):
    import torch
    out = collections.OrderedDict()
    for name, t in state.items():
        if re.fullmatch(r"(.*\.)?num_batches_tracked", name):
            continue
        if not t.is_floating_point():
            raise ConvertError(f"tensor '{name}' has dtype {t.dtype}; only floating tensors "
                               "(and num_batches_tracked) are converted")
        out[name] = t.detach().to(device="cpu", dtype=torch.float32).contiguous().numpy()
    if not out:
        raise ConvertError("no floating tensors to write")
    return out


def write_safetensors(path, arrays, metadata):
    """Writes float32 arrays (name -> numpy array) and string metadata, atomically."""
    header = {"__metadata__": {k: str(v) for k, v in metadata.items()}}
    offset = 0
    for name, a in arrays.items():
        header[name] = {"dtype": "F32", "shape": list(a.shape),
                        "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(len(text).to_bytes(8, "little"))
            f.write(text)
            for a in arrays.values():
                f.write(a.astype("<f4", copy=False).tobytes())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise ConvertError(f"cannot write '{path}': {e.strerror or e}") from None


def convert(in_path, out_path, arch=None, torchvision_arch=None, trust_pickle=False):
    """Converts and writes; returns the arrays written (name -> float32 numpy array)."""
    import torch
    if torchvision_arch:
        state, source = torchvision_state_dict(torchvision_arch)
        arch = arch or torchvision_arch
    else:
        state = load_state_dict(in_path, trust_pickle)
        source = os.path.basename(in_path)
    arrays = to_float32_arrays(state)
    if arch in ARCHS:
        check_arch(list(arrays), arch)
    meta = {"source": source, "converter": "tinycnn tools/convert_weights.py",
            "torch": torch.__version__}
    if arch:
        meta["arch"] = arch
    write_safetensors(out_path, arrays, meta)
    return arrays


def main(argv=None):
    p = argparse.ArgumentParser(
        usage="%(prog)s IN.pth OUT.safetensors [--arch ARCH] [--trust-pickle]\n"
              "       %(prog)s --torchvision ARCH OUT.safetensors",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.split("\n")[1:]))
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="IN.pth and OUT.safetensors, or OUT.safetensors alone with --torchvision")
    p.add_argument("--arch", help=f"check the names against this layout ({', '.join(ARCHS)}); "
                                  "written as metadata 'arch' (any name is accepted there)")
    p.add_argument("--torchvision", metavar="ARCH",
                   help="convert torchvision's pretrained weights for ARCH (e.g. vgg19)")
    p.add_argument("--trust-pickle", action="store_true",
                   help="allow unpickling a whole model (runs code from the file)")
    args = p.parse_args(argv)
    want = 1 if args.torchvision else 2
    if len(args.paths) != want:
        p.error("expected OUT.safetensors with --torchvision" if args.torchvision
                else "expected IN.pth OUT.safetensors")
    import importlib.util
    if importlib.util.find_spec("torch") is None:
        print("convert_weights.py: needs PyTorch (pip install torch)", file=sys.stderr)
        return 1
    try:
        in_path = None if args.torchvision else args.paths[0]
        arrays = convert(in_path, args.paths[-1], args.arch, args.torchvision, args.trust_pickle)
    except ConvertError as e:
        print(f"convert_weights.py: {e}", file=sys.stderr)
        return 1
    n = sum(a.size for a in arrays.values())
    print(f"wrote {args.paths[-1]}: {len(arrays)} tensors, {n} floats")
    return 0


if __name__ == "__main__":
    sys.exit(main())
