#!/usr/bin/python3
"""Writes tests/data/training.safetensors: PyTorch's results for the training kernels (batch norm,
MSE loss, optimizer steps), the peer oracle of tests/kernels/*/training_*test*.

Run with Debian's interpreter, which has python3-torch and numpy:
    /usr/bin/python3 tools/make_training_fixtures.py [output_dir]   (default: tests/data)

As tools/make_fixtures.py (whose safetensors writer this reuses): float64 on the CPU, fixed seeds,
one thread, tensors stored as F64 under "case<i>.<tensor>", metadata "case<i>.<param>" (strings;
floats as Python repr, exact; booleans "0"/"1"), "cases" the number of cases. Every case has a
"kind"; tests/support/training_fixtures.hpp reads them.

  kind batchnorm  BatchNorm2d. params: n c h w momentum eps. tensors: x (N,C,H,W), gamma, beta,
                  running_mean_in, running_var_in (C); training forward: y, save_mean,
                  save_invstd (aten::native_batch_norm's), running_mean_out, running_var_out;
                  dy (N,C,H,W) and the training-mode gradients of sum(dy * y): dx, dgamma, dbeta;
                  y_eval: the evaluation-mode forward with running_*_in.
  kind mse        mean squared error. params: n. tensors: x, target (n), loss (shape []),
                  dx (n) its gradient.
  kind optim      torch.optim over `steps` steps from param0 with the gradients grads[s] (one row
                  per step). params: optimizer ("sgd", "adam" or "adamw"), n, steps, lr, momentum,
                  dampening, weight_decay, nesterov, beta1, beta2, eps (the ones an optimizer does
                  not use are 0). tensors: param0 (n), grads (steps, n), params (steps, n) the
                  parameters after each step; state1 (steps, n): SGD's momentum buffer (absent
                  when momentum == 0) or Adam's exp_avg; state2 (steps, n): Adam's exp_avg_sq.
"""

import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import CaseFile, numpy, save_safetensors  # noqa: E402


def batchnorm_cases(out):
    # (name, n, c, h, w, momentum, eps, input scale, input offset)
    cases = [
        ("n=2 c=3 5x4", 2, 3, 5, 4, 0.1, 1e-5, 1.0, 0.0),
        ("n=1 c=5 7x7 offset mean", 1, 5, 7, 7, 0.1, 1e-5, 2.0, 3.0),
        ("n=4 c=2 plane 1 (after global pooling)", 4, 2, 1, 1, 0.1, 1e-5, 1.0, 0.0),
        ("n=3 c=4 3x5 momentum 0.3 eps 1e-3", 3, 4, 3, 5, 0.3, 1e-3, 0.5, -1.0),
        ("n=2 c=8 6x6", 2, 8, 6, 6, 0.1, 1e-5, 1.0, 0.5),
        ("n=1 c=3 17x19 mean 10 std 0.5", 1, 3, 17, 19, 0.1, 1e-5, 0.5, 10.0),
    ]
    for i, (name, n, c, h, w, momentum, eps, scale, offset) in enumerate(cases):
        torch.manual_seed(5000 + i)
        x = torch.randn(n, c, h, w, dtype=torch.float64) * scale + offset
        gamma = torch.rand(c, dtype=torch.float64) + 0.5
        beta = torch.randn(c, dtype=torch.float64)
        rm_in = torch.randn(c, dtype=torch.float64)
        rv_in = torch.rand(c, dtype=torch.float64) + 0.5
        dy = torch.randn(n, c, h, w, dtype=torch.float64)

        rm, rv = rm_in.clone(), rv_in.clone()
        y, save_mean, save_invstd = torch.ops.aten.native_batch_norm(
            x, gamma, beta, rm, rv, True, momentum, eps)

        xg = x.clone().requires_grad_(True)
        gg = gamma.clone().requires_grad_(True)
        bg = beta.clone().requires_grad_(True)
        y_autograd = F.batch_norm(xg, rm_in.clone(), rv_in.clone(), gg, bg, training=True,
                                  momentum=momentum, eps=eps)
        y_autograd.backward(dy)
        assert torch.allclose(y_autograd, y, rtol=0, atol=1e-14)

        y_eval = F.batch_norm(x, rm_in, rv_in, gamma, beta, training=False, eps=eps)
        params = dict(kind="batchnorm", n=n, c=c, h=h, w=w, momentum=momentum, eps=eps)
        out.add(name, params, dict(x=x, gamma=gamma, beta=beta, running_mean_in=rm_in,
                                   running_var_in=rv_in, y=y, save_mean=save_mean,
                                   save_invstd=save_invstd, running_mean_out=rm,
                                   running_var_out=rv, dy=dy, dx=xg.grad, dgamma=gg.grad,
                                   dbeta=bg.grad, y_eval=y_eval))


def mse_cases(out):
    for i, n in enumerate([1, 7, 100]):
        torch.manual_seed(6000 + i)
        x = torch.randn(n, dtype=torch.float64, requires_grad=True)
        target = torch.randn(n, dtype=torch.float64)
        loss = F.mse_loss(x, target, reduction="mean")
        loss.backward()
        out.add("mse n=%d" % n, dict(kind="mse", n=n),
                dict(x=x, target=target, loss=loss.reshape(()), dx=x.grad))


def optim_cases(out):
    n, steps = 29, 3
    sgd = dict(beta1=0.0, beta2=0.0, eps=0.0)
    adam = dict(momentum=0.0, dampening=0.0, nesterov=False)
    # (name, optimizer, hyperparameters)
    cases = [
        ("sgd momentum 0.9 wd 1e-4", "sgd",
         dict(lr=0.1, momentum=0.9, dampening=0.0, weight_decay=1e-4, nesterov=False, **sgd)),
        ("sgd nesterov momentum 0.9 wd 1e-4", "sgd",
         dict(lr=0.1, momentum=0.9, dampening=0.0, weight_decay=1e-4, nesterov=True, **sgd)),
        ("sgd momentum 0.9 dampening 0.2", "sgd",
         dict(lr=0.05, momentum=0.9, dampening=0.2, weight_decay=0.0, nesterov=False, **sgd)),
        ("sgd no momentum wd 1e-4", "sgd",
         dict(lr=0.1, momentum=0.0, dampening=0.0, weight_decay=1e-4, nesterov=False, **sgd)),
        ("adam wd 0.01", "adam",
         dict(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01, **adam)),
        ("adamw wd 0.01", "adamw",
         dict(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01, **adam)),
        ("adam betas (0.8, 0.99) eps 1e-6 no wd", "adam",
         dict(lr=0.02, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.0, **adam)),
    ]
    torch.manual_seed(7000)
    param0 = torch.randn(n, dtype=torch.float64)
    # Gradients of mixed magnitudes, as a network's are; one of them exactly 0 at step 0.
    grads = torch.randn(steps, n, dtype=torch.float64) * torch.logspace(-3, 1, n,
                                                                       dtype=torch.float64)
    grads[0, 3] = 0.0
    for name, optimizer, hp in cases:
        p = param0.clone().requires_grad_(True)
        if optimizer == "sgd":
            opt = torch.optim.SGD([p], lr=hp["lr"], momentum=hp["momentum"],
                                  dampening=hp["dampening"], weight_decay=hp["weight_decay"],
                                  nesterov=hp["nesterov"], foreach=False)
        else:
            cls = torch.optim.Adam if optimizer == "adam" else torch.optim.AdamW
            opt = cls([p], lr=hp["lr"], betas=(hp["beta1"], hp["beta2"]), eps=hp["eps"],
                      weight_decay=hp["weight_decay"], foreach=False)
        params, state1, state2 = [], [], []
        for s in range(steps):
            p.grad = grads[s].clone()
            opt.step()
            params.append(p.detach().clone())
            st = opt.state[p]
            if optimizer == "sgd":
                if hp["momentum"] != 0.0:
                    state1.append(st["momentum_buffer"].clone())
            else:
                state1.append(st["exp_avg"].clone())
                state2.append(st["exp_avg_sq"].clone())
        tensors = dict(param0=param0, grads=grads, params=torch.stack(params))
        if state1:
            tensors["state1"] = torch.stack(state1)
        if state2:
            tensors["state2"] = torch.stack(state2)
        out.add(name, dict(kind="optim", optimizer=optimizer, n=n, steps=steps, **hp), tensors)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "tests", "data")
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    out = CaseFile()
    batchnorm_cases(out)
    mse_cases(out)
    optim_cases(out)
    path = os.path.join(out_dir, "training.safetensors")
    meta = dict(out.metadata)
    meta["cases"] = str(out.count)
    meta["generator"] = "tools/make_training_fixtures.py"
    meta["torch"] = torch.__version__
    save_safetensors(path, {k: numpy(v) if isinstance(v, torch.Tensor) else v
                            for k, v in out.tensors.items()}, meta)
    print("wrote %s: %d cases, %d bytes" % (path, out.count, os.path.getsize(path)))


if __name__ == "__main__":
    main()
