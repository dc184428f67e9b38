"""CIFAR-10 as device tensors (an opt-in dataset for machines with internet), and one loader for the image sets.

CIFAR-10 is not in the offline mirror: ``load_cifar10`` downloads it once with torchvision (about 170 MB into the
cache, ``dlhist.data_dir()``), then converts it once to float tensors on the device, so that training batches it
with ``TensorLoader`` like MNIST. ``load_images(name, ...)`` picks MNIST, Fashion-MNIST or CIFAR-10 by name, so a
notebook can offer the dataset as a setting with one code path.
"""

from __future__ import annotations

import torch

from .data import FASHION_CLASSES, MNIST_STATS, TensorData, data_dir, load_mnist

CIFAR10_STATS = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))  # per-channel mean and std of the train set
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
STATS = {**MNIST_STATS, "cifar10": CIFAR10_STATS}  # the (mean, std) that load_images standardised with
CLASSES = {"mnist": tuple(str(d) for d in range(10)), "fashion-mnist": FASHION_CLASSES, "cifar10": CIFAR10_CLASSES}


def _to_tensors(ds, normalize: bool) -> TensorData:
    """A torchvision CIFAR dataset (``data``: N x 32 x 32 x 3 uint8, ``targets``: list) as (N, 3, 32, 32) floats."""
    x = torch.as_tensor(ds.data).permute(0, 3, 1, 2).float().div_(255.0).contiguous()
    if normalize:
        mean, std = (torch.tensor(s).view(1, 3, 1, 1) for s in CIFAR10_STATS)
        x = (x - mean) / std
    return TensorData(x, torch.as_tensor(ds.targets, dtype=torch.long))


def load_cifar10(device=None, n_train: int | None = None, n_test: int | None = None, normalize: bool = True,
                 root=None) -> tuple[TensorData, TensorData]:
    """CIFAR-10 (50,000 train and 10,000 test images, 32x32 RGB) as device tensors; downloads on first use.

    Needs the internet once (torchvision's ``CIFAR10(..., download=True)`` checks the archive's MD5); afterwards
    the cached copy in ``root`` (default ``dlhist.data_dir()``) is used. ``n_train``/``n_test`` take a fixed
    random subset. ``x`` is standardised per channel; ``y`` is int64.
    """
    from torchvision import datasets as tvd

    root = str(root or data_dir())
    out = []
    for train, n in ((True, n_train), (False, n_test)):
        ds = tvd.CIFAR10(root=root, train=train, download=True)
        out.append(_to_tensors(ds, normalize).subset(n).to(device or "cpu"))
    return out[0], out[1]


def load_images(name: str, device=None, n_train: int | None = None,
                n_test: int | None = None) -> tuple[TensorData, TensorData]:
    """``"mnist"`` and ``"fashion-mnist"`` (offline, from the mirror) or ``"cifar10"`` (downloads), as (N, C, H, W)."""
    key = name.lower().replace("_", "-")
    if key in ("cifar10", "cifar-10"):
        return load_cifar10(device=device, n_train=n_train, n_test=n_test)
    if key in ("mnist", "fashion-mnist"):
        return load_mnist(key, device=device, n_train=n_train, n_test=n_test)
    raise ValueError(f"unknown image dataset {name!r}; use 'mnist', 'fashion-mnist' or 'cifar10'")
