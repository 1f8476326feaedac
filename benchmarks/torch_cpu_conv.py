#!/usr/bin/python3
"""PyTorch CPU convolution on the layers of benchmarks/cpu_conv_bench.cpp (VGG-19 and NIN at 64 and
224 px, batch 1): forward, backward data, backward filter, one line per layer and pass with ms.
Run with Debian's torch: OMP_NUM_THREADS=2 /usr/bin/python3 benchmarks/torch_cpu_conv.py [threads]"""
import os
import sys
import time

import torch
import torch.nn.functional as F


def vgg19(size):
    layers = [("conv1_1", 3, 64, 1), ("conv1_2", 64, 64, 1), ("conv2_1", 64, 128, 2),
              ("conv2_2", 128, 128, 2), ("conv3_1", 128, 256, 4), ("conv3_2", 256, 256, 4),
              ("conv4_1", 256, 512, 8), ("conv4_2", 512, 512, 8), ("conv5_1", 512, 512, 16)]
    return [(f"vgg19 {n} @{size}", c, size // div, k, 3, 1, 1) for n, c, k, div in layers]


def nin(size):
    def pool(x):  # 3x3 stride 2 ceil_mode max pool (tests/support/problems.hpp)
        out = -(-(x - 3) // 2) + 1
        return out - 1 if (out - 1) * 2 >= x else out
    s1 = (size - 11) // 4 + 1
    s2 = pool(s1)
    s3 = pool(s2)
    s4 = pool(s3)
    at = f" @{size}"
    return [("nin conv1" + at, 3, size, 96, 11, 4, 0), ("nin cccp1" + at, 96, s1, 96, 1, 1, 0),
            ("nin conv2" + at, 96, s2, 256, 5, 1, 2), ("nin cccp3" + at, 256, s2, 256, 1, 1, 0),
            ("nin conv3" + at, 256, s3, 384, 3, 1, 1), ("nin cccp5" + at, 384, s3, 384, 1, 1, 0),
            ("nin conv4" + at, 384, s4, 1024, 3, 1, 1), ("nin cccp7" + at, 1024, s4, 1024, 1, 1, 0),
            ("nin cccp8" + at, 1024, s4, 1000, 1, 1, 0)]


def best_ms(fn, min_time=0.2):
    fn()  # warm-up
    best, spent, runs = float("inf"), 0.0, 0
    while spent < min_time or runs < 3:
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        best, spent, runs = min(best, dt), spent + dt, runs + 1
    return best * 1e3


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("OMP_NUM_THREADS", "2"))
    torch.set_num_threads(threads)
    print(f"# torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"mkldnn {torch.backends.mkldnn.is_available()}; best-of ms")
    for size in (64, 224):
        for name, c, hw, k, r, stride, pad in vgg19(size) + nin(size):
            x = torch.randn(1, c, hw, hw)
            w = torch.randn(k, c, r, r)
            b = torch.randn(k)
            y = F.conv2d(x, w, b, stride, pad)
            dy = torch.randn_like(y)
            flops = 2.0 * k * y.shape[2] * y.shape[3] * c * r * r
            with torch.no_grad():
                fwd = best_ms(lambda: F.conv2d(x, w, b, stride, pad))
            bwd_data = best_ms(lambda: torch.nn.grad.conv2d_input(x.shape, w, dy, stride, pad))
            bwd_filter = best_ms(lambda: torch.nn.grad.conv2d_weight(x, w.shape, dy, stride, pad))
            print(f"{name:22s} forward {fwd:9.3f} ms ({flops / fwd * 1e-6:6.1f} GFLOP/s)  "
                  f"backward_data {bwd_data:9.3f} ms  backward_filter {bwd_filter:9.3f} ms")


if __name__ == "__main__":
    main()
