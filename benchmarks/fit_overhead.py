"""How much slower is ``dlhist.fit`` than a bare PyTorch loop? Prints the ratio of wall times (target: <= 1.05).

The model and data are 01-dnn's: a 784-800-10 MLP on MNIST, batches of 128 from device-resident tensors, SGD with
Nesterov momentum and a cosine schedule. Both loops do the same optimizer steps; ``fit`` also keeps its history
(loss and learning rate per step, training loss and accuracy per epoch), checks every loss for NaN and draws its
progress bar. Runs alternate (bare, fit, bare, fit, ...) and the medians are compared, so that a machine whose speed
drifts affects both alike. Each run is timed on the wall clock and in processor time (the CPU seconds this process
used); on a machine that other jobs share, the processor-time ratio is the one to read (with ``--threads 1``).

    python benchmarks/fit_overhead.py               # 60,000 images, 1 epoch per run, 5 runs each
    python benchmarks/fit_overhead.py --n 10000 --repeats 3
    python benchmarks/fit_overhead.py --threads 1       # on a shared machine: read the processor-time ratio
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
    start, cpu = time.perf_counter(), time.process_time()
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
    return time.perf_counter() - start, time.process_time() - cpu


def with_fit(train, epochs, device):
    torch.manual_seed(0)
    model = mlp()
    start, cpu = time.perf_counter(), time.process_time()
    dlhist.fit(model, train, epochs, optimizer=make_optimizer, scheduler=dlhist.cosine_schedule(), device=device,
               verbose=-1)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, time.process_time() - cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=None, help="training images (default: all 60,000)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = dlhist.get_device(args.device)
    print(dlhist.describe(device))
    data, _ = dlhist.load_mnist(device=device, n_train=args.n, n_test=100)
    train = data.loader(128, shuffle=True, seed=0)
    bare(train, 1, device)  # warm-up: allocator, kernels, thread pool
    times = {"bare": ([], []), "fit": ([], [])}  # (wall, processor) seconds per run
    for _ in range(args.repeats):
        for name, run in (("bare", bare), ("fit", with_fit)):
            wall, cpu = run(train, args.epochs, device)
            times[name][0].append(wall)
            times[name][1].append(cpu)
    for i, clock in enumerate(("wall clock", "processor time")):
        for k, ts in times.items():
            print(f"{k:>4}, {clock}: median {statistics.median(ts[i]):.3f}s ({', '.join(f'{t:.3f}' for t in ts[i])})")
        ratio = statistics.median(times["fit"][i]) / statistics.median(times["bare"][i])
        print(f"fit / bare loop, {clock}: {ratio:.3f} ({'within' if ratio <= 1.05 else 'ABOVE'} the 1.05 target)")


if __name__ == "__main__":
    main()
