"""Image datasets as device tensors: MNIST, Fashion-MNIST, CIFAR-10 and the ISBI 2012 EM membrane stack.

- ``load_mnist(name)`` reads MNIST or Fashion-MNIST (offline, from the cache or a mirror, checksum-verified).
- ``load_cifar10`` downloads CIFAR-10 once with torchvision (about 170 MB into the cache; it is not in the offline
  mirror), then converts it once to float tensors, so that training batches it with ``TensorLoader`` like MNIST.
- ``load_images(name, ...)`` picks one of the three by name, so a notebook can offer the dataset as a setting with
  one code path; ``CLASSES`` and ``STATS`` give the class names and the (mean, std) each was standardised with.
- ``load_isbi2012`` and ``load_isbi2012_test`` read the ISBI 2012 membrane slices (U-Net); ``read_png`` one PNG.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .registry import _lookup, data_dir, extract_gz, fetch
from .tensors import TensorData

# ------------------------------------------------------------------------------------------- MNIST and Fashion-MNIST

MNIST_STATS = {"mnist": (0.1307, 0.3081), "fashion-mnist": (0.2860, 0.3530)}
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")


def _mnist_raw_files(name: str) -> dict[str, Path]:
    """The four raw IDX files of MNIST or Fashion-MNIST, by name (``"train-images-idx3-ubyte"``, ...).

    The ``.gz`` files come verified from the registry (cache, mirror or download); each is decompressed beside it
    by ``extract_gz``, which checks an extracted copy against its archive every time and extracts it again if it
    is damaged or half written, so the files read below are exactly the verified ones.
    """
    remotes = _lookup(name)
    fetch(name)
    return {Path(r.path).stem: extract_gz(data_dir() / r.path) for r in remotes}


def load_mnist(name: str = "mnist", device=None, n_train: int | None = None, n_test: int | None = None,
               normalize: bool = True, flatten: bool = False) -> tuple[TensorData, TensorData]:
    """MNIST or Fashion-MNIST as device-resident tensors, read by torchvision's IDX readers from verified files.

    Returns ``(train, test)``; ``x`` is float32 of shape (N, 1, 28, 28) (or (N, 784) with ``flatten``), scaled to
    [0, 1] and, with ``normalize``, standardised by the training set's mean and std; ``y`` is int64.
    ``n_train``/``n_test`` take a fixed random subset (smoke mode). The raw files are read directly, never
    torchvision's ``processed/*.pt`` (which its dataset classes prefer when present, unverified).
    """
    from torchvision.datasets.mnist import read_image_file, read_label_file

    key = _lookup(name)[0].path.split("/")[0]  # "MNIST" or "FashionMNIST"
    raw = _mnist_raw_files(name)  # cache, mirror or download, all checksum-verified, then checked extraction
    stats = MNIST_STATS["mnist" if key == "MNIST" else "fashion-mnist"]
    out = []
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        x = read_image_file(str(raw[f"{prefix}-images-idx3-ubyte"])).float().div_(255.0).unsqueeze(1)
        y = read_label_file(str(raw[f"{prefix}-labels-idx1-ubyte"]))
        if normalize:
            x = (x - stats[0]) / stats[1]
        if flatten:
            x = x.flatten(1)
        out.append(TensorData(x, y.long()).subset(n).to(device or "cpu"))
    return out[0], out[1]


# ------------------------------------------------------------------------------------------------------- CIFAR-10

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


# ------------------------------------------------------------------------------------------ ISBI 2012 EM membranes

def read_png(path: str | Path) -> torch.Tensor:
    """One 8-bit grey PNG as a uint8 tensor ``(H, W)``."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as im:
        return torch.from_numpy(np.array(im.convert("L"), dtype=np.uint8))


def load_isbi2012(device=None, held_out: int = 5, n_train: int | None = None,
                  normalize: bool = True) -> tuple[TensorData, TensorData]:
    """The 30 labelled slices of the ISBI 2012 EM stack as ``(train, held_out)`` tensors on ``device``.

    The official test slices have no public labels, so the last ``held_out`` slices of the labelled stack are held
    out as a contiguous block (neighbouring slices of a serial-section stack look alike, so a random split would
    leak). ``n_train`` keeps only the first slices of the rest (smoke mode). ``x`` is float32 ``(N, 1, 512, 512)``
    scaled to [0, 1] and, with ``normalize``, standardised by the training slices' mean and std; ``y`` is int64
    ``(N, 512, 512)``: ``CELL`` (1) where the label PNG is white, ``MEMBRANE`` (0) where it is black.
    """
    root = fetch("isbi2012")
    n = 30
    if not 0 < held_out < n:
        raise ValueError(f"held_out must be between 1 and {n - 1}, not {held_out}")
    x = torch.stack([read_png(root / "train" / "image" / f"{i}.png") for i in range(n)]).unsqueeze(1)
    y = torch.stack([read_png(root / "train" / "label" / f"{i}.png") for i in range(n)])
    x = x.float().div_(255.0)
    y = (y > 127).long()  # white = cell interior
    tr, te = slice(0, n - held_out), slice(n - held_out, n)
    if n_train is not None:
        tr = slice(0, min(n_train, n - held_out))
    if normalize:
        mean, std = x[tr].mean(), x[tr].std()
        x = (x - mean) / std
    device = device or "cpu"
    return TensorData(x[tr], y[tr]).to(device), TensorData(x[te], y[te]).to(device)


def load_isbi2012_test(device=None, normalize_like: tuple[float, float] | None = None) -> torch.Tensor:
    """The 30 unlabelled official test slices, float32 ``(30, 1, 512, 512)`` in [0, 1] (or standardised)."""
    root = fetch("isbi2012")
    x = torch.stack([read_png(root / "test" / f"{i}.png") for i in range(30)]).unsqueeze(1).float().div_(255.0)
    if normalize_like is not None:
        x = (x - normalize_like[0]) / normalize_like[1]
    return x.to(device or "cpu")


# ----------------------------------------------------------------------------------------- the border-weighted loss
