"""How much slower is ``dlhist.fit`` than a bare PyTorch loop? Prints the ratio of wall times (target: <= 1.05).

The model and data are 01-dnn's: a 784-800-10 MLP on MNIST, batches of 128 from device-resident tensors, SGD with
Nesterov momentum and a cosine schedule. Both loops do the same optimizer steps; ``fit`` also keeps its history
(loss and learning rate per step, training loss and accuracy per epoch), checks every loss for NaN and draws its
progress bar. Runs alternate (bare, fit, bare, fit, ...) and the medians are compared, so that a machine whose speed
drifts affects both alike.

    python benchmarks/fit_overhead.py               # 60,000 images, 1 epoch per run, 5 runs each
    python benchmarks/fit_overhead.py --n 10000 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

import dlhist


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 800), nn.ReLU(), nn.Linear(800, 10))


def make_optimizer(params):
    return torch.optim.SGD(params, lr=0.05, momentum=0.9, nesterov=True)


def bare(train, epochs, device):
    torch.manual_seed(0)
    model = mlp().to(device)
    opt = make_optimizer(model.parameters())
    sched = dlhist.cosine_schedule()(opt, len(train) * epochs)
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for x, y in train:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, model


def with_fit(train, epochs, device):
    torch.manual_seed(0)
    model = mlp()
    start = time.perf_counter()
    dlhist.fit(model, train, epochs, optimizer=make_optimizer, scheduler=dlhist.cosine_schedule(), device=device,
               verbose=-1)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, model


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=None, help="training images (default: all 60,000)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default=None)
    args = parser.parse_args()
    device = dlhist.get_device(args.device)
    print(dlhist.describe(device))
    data, _ = dlhist.load_mnist(device=device, n_train=args.n, n_test=100)
    train = data.loader(128, shuffle=True, seed=0)
    bare(train, 1, device)  # warm-up: allocator, kernels, thread pool
    times = {"bare": [], "fit": []}
    for _ in range(args.repeats):
        t, m_bare = bare(train, args.epochs, device)
        times["bare"].append(t)
        t, m_fit = with_fit(train, args.epochs, device)
        times["fit"].append(t)
    for k, ts in times.items():
        print(f"{k:>4}: median {statistics.median(ts):.3f}s over {len(ts)} runs ({', '.join(f'{t:.3f}' for t in ts)})")
    ratio = statistics.median(times["fit"]) / statistics.median(times["bare"])
    print(f"fit / bare loop: {ratio:.3f} ({'within' if ratio <= 1.05 else 'ABOVE'} the 1.05 target)")


if __name__ == "__main__":
    main()
