#!/usr/bin/env python3
"""PyTorch peer for example 02: the same LeNet-5 / Fashion-MNIST CNN, optimizer, batch size and
thread count, trained on the same data; prints seconds per epoch, images/s and test accuracy.

  torch_train_fashion_mnist.py --model cnn|lenet --device cpu|cuda --epochs N --batch-size B
                               [--threads T] [--data DIR] [--limit N]

The data are the IDX .gz files of Debian's dataset-fashion-mnist; no augmentation here (compare
with example 02 run with --no-augment)."""
import argparse
import gzip
import math
import os
import struct
import time

import numpy as np
import torch
import torch.nn as nn


def read_idx(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        data = f.read()
    _, _, dtype, rank = struct.unpack(">BBBB", data[:4])
    dims = struct.unpack(">" + "I" * rank, data[4:4 + 4 * rank])
    assert dtype == 0x08
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def load(dir_, train):
    prefix = "train" if train else "t10k"
    x = read_idx(os.path.join(dir_, f"{prefix}-images-idx3-ubyte.gz")).astype(np.float32) / 255.0
    y = read_idx(os.path.join(dir_, f"{prefix}-labels-idx1-ubyte.gz")).astype(np.int64)
    x = (x - 0.2860) / 0.3530
    return torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y)


def lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def fashion_cnn(w=32):
    return nn.Sequential(
        nn.Conv2d(1, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(w, 2 * w, 3, padding=1, bias=False), nn.BatchNorm2d(2 * w), nn.ReLU(),
        nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(),
        nn.Linear(2 * w * 49, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 10))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="cnn")
    p.add_argument("--device", default="cpu")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--limit", type=int, default=0)
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(1)
    dev = torch.device(a.device)
    xtr, ytr = load(a.data, True)
    xte, yte = load(a.data, False)
    if a.limit:
        xtr, ytr = xtr[:a.limit], ytr[:a.limit]
    xtr, ytr, xte, yte = xtr.to(dev), ytr.to(dev), xte.to(dev), yte.to(dev)
    model = (lenet5() if a.model == "lenet" else fashion_cnn()).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()
    n = xtr.shape[0]
    print(f"torch {torch.__version__} device {a.device} threads {torch.get_num_threads()} "
          f"model {a.model} batch {a.batch_size}")
    for epoch in range(a.epochs):
        model.train()
        perm = torch.randperm(n, device=dev)
        if a.device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for i in range(0, n, a.batch_size):
            idx = perm[i:i + a.batch_size]
            loss = loss_fn(model(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if a.device == "cuda":
            torch.cuda.synchronize()
        secs = time.perf_counter() - t0
        model.eval()
        with torch.no_grad():
            correct = sum((model(xte[i:i + 1000]).argmax(1) == yte[i:i + 1000]).sum().item()
                          for i in range(0, xte.shape[0], 1000))
        print(f"epoch {epoch + 1}: {secs:.2f} s, {n / secs:.0f} img/s, loss {loss.item():.4f}, "
              f"test acc {100 * correct / xte.shape[0]:.2f}%")


if __name__ == "__main__":
    main()
