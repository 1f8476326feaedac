#!/usr/bin/env python3
"""Writes tests/data/style_iteration.safetensors: one neural-style-transfer evaluation and a few
optimiser steps computed by PyTorch in float64, for tests/style/style_fixture_test.{cpp,cu}.

The network is the small one of those tests (conv, ReLU, ceil-mode max pooling, eval-mode batch
norm, average pooling, 1x1 conv), named as in tinycnn. The losses follow tinycnn's definitions:
  content  w * mean((F - P)^2)
  style    w * mean((G - A)^2),  G = F F^T / (C H W)
  tv       w * sum of squared differences of adjacent pixels
Stored: the weights (by tinycnn's names), the content, style and initial images, the loss terms and
the image gradient at the initial image, the image after 3 Adam steps (lr 0.05), and the image
after 4 torch.optim.LBFGS steps (max_iter 1, history 5, lr 1, no line search).

Run with Debian's python3 (python3-torch): /usr/bin/python3 tools/make_style_fixture.py
"""
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import save_safetensors  # noqa: E402  (json + numpy, no safetensors package)

torch.manual_seed(20261123)
torch.set_default_dtype(torch.float64)

CONTENT = {"relu2_1": 2.0, "conv3_1": 0.5}
STYLE = {"relu1_1": 30.0, "relu2_1": 20.0, "relu3_1": 10.0}
TV = 0.05

layers = [
    ("conv1_1", nn.Conv2d(3, 4, 3, padding=1)),
    ("relu1_1", nn.ReLU()),
    ("pool1", nn.MaxPool2d(2, ceil_mode=True)),
    ("conv2_1", nn.Conv2d(4, 6, 3, padding=1)),
    ("bn2_1", nn.BatchNorm2d(6)),
    ("relu2_1", nn.ReLU()),
    ("pool2", nn.AvgPool2d(2)),
    ("conv3_1", nn.Conv2d(6, 5, 1)),
    ("relu3_1", nn.ReLU()),
]
net = nn.Sequential()
for name, layer in layers:
    net.add_module(name, layer)
bn = net.bn2_1
with torch.no_grad():
    bn.running_mean.uniform_(-0.2, 0.2)
    bn.running_var.uniform_(0.5, 2.0)
    bn.weight.uniform_(0.5, 1.5)
    bn.bias.uniform_(-0.3, 0.3)
net.eval()
for p in net.parameters():
    p.requires_grad_(False)


def taps(x):
    out = {}
    for name, layer in net.named_children():
        x = layer(x)
        out[name] = x
    return out


def gram(f):
    c = f.shape[1]
    m = f.reshape(c, -1)
    return m @ m.t() / f.numel()


def losses(img, content_targets, style_targets):
    feats = taps(img)
    lc = sum(w * torch.mean((feats[k] - content_targets[k]) ** 2) for k, w in CONTENT.items())
    ls = sum(w * torch.mean((gram(feats[k]) - style_targets[k]) ** 2) for k, w in STYLE.items())
    lt = TV * (((img[:, :, 1:, :] - img[:, :, :-1, :]) ** 2).sum() +
               ((img[:, :, :, 1:] - img[:, :, :, :-1]) ** 2).sum())
    return lc, ls, lt


content = torch.rand(1, 3, 16, 12) * 2 - 1
style = torch.rand(1, 3, 20, 16) * 2 - 1
image0 = torch.rand(1, 3, 16, 12) * 2 - 1
with torch.no_grad():
    ct = {k: v.clone() for k, v in taps(content).items() if k in CONTENT}
    st = {k: gram(v) for k, v in taps(style).items() if k in STYLE}

img = image0.clone().requires_grad_(True)
lc, ls, lt = losses(img, ct, st)
(lc + ls + lt).backward()
out = {
    "content": content, "style": style, "image": image0,
    "loss_content": lc.detach().reshape(1), "loss_style": ls.detach().reshape(1),
    "loss_tv": lt.detach().reshape(1), "grad": img.grad.detach().clone(),
}

img = image0.clone().requires_grad_(True)
adam = torch.optim.Adam([img], lr=0.05)
for _ in range(3):
    adam.zero_grad()
    sum(losses(img, ct, st)).backward()
    adam.step()
out["image_adam3"] = img.detach().clone()

img = image0.clone().requires_grad_(True)
lbfgs = torch.optim.LBFGS([img], lr=1.0, max_iter=1, history_size=5, line_search_fn=None)


def closure():
    lbfgs.zero_grad()
    loss = sum(losses(img, ct, st))
    loss.backward()
    return loss


for _ in range(4):
    lbfgs.step(closure)
out["image_lbfgs4"] = img.detach().clone()

for name, t in net.state_dict().items():
    if not name.endswith("num_batches_tracked"):
        out[name] = t
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data",
                    "style_iteration.safetensors")
save_safetensors(path, {k: v.detach().contiguous().numpy() for k, v in out.items()},
                 {"generator": "tools/make_style_fixture.py", "torch": torch.__version__})
print("wrote", os.path.normpath(path), file=sys.stderr)
