#!/usr/bin/python3
"""Writes tests/data/fashion_cnn.safetensors: PyTorch's end-to-end results for the Fashion-MNIST CNN
(models::fashion_mnist_cnn without dropout), the peer oracle of tests/nn/fashion_cnn_fixture_test.*.

Run with Debian's interpreter, which has python3-torch and numpy:
    /usr/bin/python3 tools/make_model_fixture.py [--width W] [output_dir]   (default: W 8, tests/data)

The network is built in PyTorch with the layers, names and order of models::fashion_mnist_cnn
(conv1 bn1 relu1 pool1 conv2 bn2 relu2 pool2 drop1 flatten fc1 relu3 drop2 fc2; convolutions 3x3,
padding 1, no bias; BatchNorm2d eps 1e-5 momentum 0.1; dropout p = 0, since masks are specific to
each implementation), given fixed seeded weights and non-trivial batch-norm parameters and running
statistics, and run once in training mode (batch statistics) in float64 on the CPU, one thread, on a
batch of 8 images: the first 8 of Fashion-MNIST's test set when /usr/share/datasets/fashion-mnist
is present, else seeded random images (metadata "data" says which), normalised by
(x - 0.2860) / 0.3530. Loss: mean softmax cross-entropy. Everything is stored as F64.

The file is a valid tinycnn checkpoint of the initial state (io::load_checkpoint reads it):
  model.<layer>.<name>    the initial parameters and buffers, named and shaped as
                          Sequential::state() yields them (parameters, then buffers, per layer;
                          PyTorch's num_batches_tracked has no counterpart and is left out)
and holds besides (no other tensor starts with "model." or "optim."):
  input.x (8, 1, 28, 28), input.labels (I64, 8)  the batch
  input.grad (8, 1, 28, 28)   d loss / d input.x
  output.logits (8, 10), output.loss (shape [])
  grad.<layer>.<name>         d loss / d parameter, for every parameter
  forward.<layer>.<buffer>    running_mean / running_var after the training forward
  sgd.<layer>.<name>          parameters after one torch.optim.SGD step from the initial state
                              with these gradients (lr 0.1, momentum 0.9, weight_decay 5e-4,
                              nesterov)
  adamw.<layer>.<name>        the same for one torch.optim.AdamW step (lr 1e-3, betas (0.9, 0.999),
                              eps 1e-8, weight_decay 0.01)
Metadata: "format" = "tinycnn.checkpoint.v1", "width", "batch", "data", the optimizer
hyperparameters ("sgd.lr", ..., floats as Python repr, exact; booleans "0"/"1"), "generator",
"torch".

Size: fc1 alone has 2W * 49 * 128 weights, and every parameter is stored four times (state,
gradient, two steps) at 8 bytes: 3.4 MB for W = 8, 0.55 MB for W = 1. The tests read the
width from the metadata, so either may be committed.
"""

import argparse
import collections
import gzip
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import numpy, save_safetensors  # noqa: E402

FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
BATCH = 8
MEAN, STD = 0.2860, 0.3530
SGD = dict(lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=True)
ADAMW = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01)


def build(width):
    """The network of models::fashion_mnist_cnn(seed, {.width, .dropout1 = 0, .dropout2 = 0})."""
    w = width
    return nn.Sequential(collections.OrderedDict([
        ("conv1", nn.Conv2d(1, w, 3, padding=1, bias=False)),
        ("bn1", nn.BatchNorm2d(w, eps=1e-5, momentum=0.1)),
        ("relu1", nn.ReLU()),
        ("pool1", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(w, 2 * w, 3, padding=1, bias=False)),
        ("bn2", nn.BatchNorm2d(2 * w, eps=1e-5, momentum=0.1)),
        ("relu2", nn.ReLU()),
        ("pool2", nn.MaxPool2d(2)),
        ("drop1", nn.Dropout(0.0)),
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(2 * w * 7 * 7, 128)),
        ("relu3", nn.ReLU()),
        ("drop2", nn.Dropout(0.0)),
        ("fc2", nn.Linear(128, 10)),
    ])).double()


def set_weights(net):
    """Fixed weights. Batch-norm affine parameters and running statistics away from their defaults
    (1, 0, 0, 1), and biases non-zero, so that a swapped or ignored tensor shows in the results."""
    torch.manual_seed(8000)
    with torch.no_grad():
        for conv in (net.conv1, net.conv2):
            fan_in = conv.weight[0].numel()
            conv.weight.normal_(0.0, (2.0 / fan_in) ** 0.5)
        for bn in (net.bn1, net.bn2):
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.normal_(0.0, 0.2)
            bn.running_mean.normal_(0.0, 0.2)
            bn.running_var.uniform_(0.5, 1.5)
        net.fc1.weight.normal_(0.0, (2.0 / net.fc1.in_features) ** 0.5)
        net.fc1.bias.uniform_(-0.1, 0.1)
        bound = 1.0 / net.fc2.in_features ** 0.5
        net.fc2.weight.uniform_(-bound, bound)
        net.fc2.bias.uniform_(-bound, bound)


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def batch():
    """(x (8, 1, 28, 28) float64 normalised, labels (8) int64, a description of the source)."""
    images = os.path.join(FASHION_MNIST, "t10k-images-idx3-ubyte.gz")
    labels = os.path.join(FASHION_MNIST, "t10k-labels-idx1-ubyte.gz")
    if os.path.exists(images) and os.path.exists(labels):
        x = torch.from_numpy(read_idx(images)[:BATCH].astype(np.float64) / 255.0)
        y = torch.from_numpy(read_idx(labels)[:BATCH].astype(np.int64))
        source = "fashion-mnist t10k images 0..%d" % (BATCH - 1)
    else:
        torch.manual_seed(8001)
        x = torch.rand(BATCH, 28, 28, dtype=torch.float64)
        y = torch.randint(0, 10, (BATCH,), dtype=torch.int64)
        source = "random (seed 8001): %s not found" % FASHION_MNIST
    return ((x - MEAN) / STD).reshape(BATCH, 1, 28, 28), y, source


def state(net):
    """(name, tensor) in the order of Sequential::state(): per layer, parameters then buffers."""
    out = []
    for layer_name, layer in net.named_children():
        for name, p in layer.named_parameters(recurse=False):
            out.append(("%s.%s" % (layer_name, name), p))
        for name, b in layer.named_buffers(recurse=False):
            if name != "num_batches_tracked":
                out.append(("%s.%s" % (layer_name, name), b))
    return out


def stepped(width, initial, grads, make_optimizer):
    """The parameters after one step of make_optimizer(params) from `initial` with `grads`."""
    net = build(width)
    net.load_state_dict(initial)
    params = [p for _, p in net.named_parameters()]
    for (name, p) in net.named_parameters():
        p.grad = grads[name].clone()
    make_optimizer(params).step()
    return {name: p.detach().clone() for name, p in net.named_parameters()}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--width", type=int, default=8, help="channels of the first block")
    parser.add_argument("output_dir", nargs="?", default=os.path.join(here, "..", "tests", "data"))
    args = parser.parse_args()
    os.makedirs(args.output_dir, exist_ok=True)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    net = build(args.width)
    set_weights(net)
    net.train()
    initial = {k: v.clone() for k, v in net.state_dict().items()}
    tensors = collections.OrderedDict()
    for name, t in state(net):  # cloned: the forward below updates the running statistics
        tensors["model." + name] = t.detach().clone()

    x, labels, source = batch()
    xg = x.clone().requires_grad_(True)
    logits = net(xg)
    loss = F.cross_entropy(logits, labels, reduction="mean")
    loss.backward()

    tensors["input.x"] = x
    tensors["input.labels"] = labels
    tensors["input.grad"] = xg.grad
    tensors["output.logits"] = logits
    tensors["output.loss"] = loss.reshape(())
    grads = {}
    for name, p in net.named_parameters():
        grads[name] = p.grad.clone()
        tensors["grad." + name] = p.grad.clone()
    for name, t in state(net):
        if name.endswith(".running_mean") or name.endswith(".running_var"):
            tensors["forward." + name] = t.detach().clone()

    sgd = stepped(args.width, initial, grads, lambda params: torch.optim.SGD(
        params, lr=SGD["lr"], momentum=SGD["momentum"], weight_decay=SGD["weight_decay"],
        nesterov=SGD["nesterov"], foreach=False))
    adamw = stepped(args.width, initial, grads, lambda params: torch.optim.AdamW(
        params, lr=ADAMW["lr"], betas=(ADAMW["beta1"], ADAMW["beta2"]), eps=ADAMW["eps"],
        weight_decay=ADAMW["weight_decay"], foreach=False))
    for name in grads:
        tensors["sgd." + name] = sgd[name]
    for name in grads:
        tensors["adamw." + name] = adamw[name]

    meta = {"format": "tinycnn.checkpoint.v1", "width": str(args.width), "batch": str(BATCH),
            "data": source, "normalisation": "(x - %r) / %r" % (MEAN, STD),
            "generator": "tools/make_model_fixture.py", "torch": torch.__version__}
    for prefix, hp in (("sgd", SGD), ("adamw", ADAMW)):
        for k, v in hp.items():
            meta["%s.%s" % (prefix, k)] = str(int(v)) if isinstance(v, bool) else repr(v)

    path = os.path.join(args.output_dir, "fashion_cnn.safetensors")
    save_safetensors(path, {k: numpy(v) for k, v in tensors.items()}, meta)
    print("wrote %s: %d tensors, %d bytes, data: %s, loss %.6f"
          % (path, len(tensors), os.path.getsize(path), source, loss.item()))


if __name__ == "__main__":
    main()
