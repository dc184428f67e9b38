"""Datasets: download once, verify by checksum, cache, or take them from a local mirror; keep small ones on the device.

Where files come from, in order:

1. the cache, ``$DLHIST_DATA`` (default ``~/.cache/dlhist``);
2. each mirror folder in ``$DLHIST_MIRROR`` (one or more folders, separated by ``os.pathsep``), laid out like the
   cache (``MNIST/raw/...``, ``tinyshakespeare/input.txt``, ...); a file found there is checked and copied into the
   cache. This is how offline machines (CI, air-gapped clusters) use pre-fetched files;
3. the dataset's canonical public URL, unless ``DLHIST_OFFLINE=1``.

Every file is checked against the SHA-256 in ``checksums.sha256`` (shipped with the package) wherever it came from;
a mismatch refuses the file.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch

ENV_DATA = "DLHIST_DATA"
ENV_MIRROR = "DLHIST_MIRROR"
ENV_OFFLINE = "DLHIST_OFFLINE"


class DatasetNotFoundError(FileNotFoundError):
    """A dataset file is in neither the cache nor a mirror, and could not be downloaded."""


class ChecksumError(ValueError):
    """A file's SHA-256 differs from the one the registry expects: the file is refused."""


class UnknownDatasetError(ValueError):
    """A dataset name that the registry does not know."""


# ----------------------------------------------------------------------------------------------------- the registry

@dataclass(frozen=True)
class Remote:
    """One file of a dataset: where it lives in the cache, and where it can be downloaded from."""

    path: str  # relative to the cache / mirror root
    urls: tuple[str, ...]
    gunzip: bool = False  # the URL serves a .gz of the file
    member: str | None = None  # the URL serves a zip archive holding the file under this name


def _github(repo: str, path: str) -> str:
    return f"https://raw.githubusercontent.com/{repo}/HEAD/{path}"


def _idx_files(folder: str, bases: tuple[str, ...]) -> list[Remote]:
    names = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    return [Remote(f"{folder}/raw/{n}", tuple(b + n for b in bases)) for n in names]


def _build_registry() -> dict[str, list[Remote]]:
    reg = {
        "mnist": _idx_files("MNIST", ("https://ossci-datasets.s3.amazonaws.com/mnist/",
                                      "http://yann.lecun.com/exdb/mnist/")),
        "fashion-mnist": _idx_files("FashionMNIST", ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)),
        "tinyshakespeare": [Remote("tinyshakespeare/input.txt",
                                   (_github("karpathy/char-rnn", "data/tinyshakespeare/input.txt"),))],
        "multi30k": [
            Remote(f"multi30k/{split}.{lang}", (_github("multi30k/dataset", f"data/task1/raw/{split}.{lang}.gz"),),
                   gunzip=True)
            for split in ("train", "val", "test_2016_flickr") for lang in ("en", "de", "fr")
        ],
        "isbi2012": [
            Remote(f"isbi2012_membrane/{sub}/{i}.png", (_github("zhixuhao/unet", f"data/membrane/{sub}/{i}.png"),))
            for sub in ("train/image", "train/label", "test") for i in range(30)
        ],
        "sst2": [Remote(f"SST-2/{s}.tsv", ("https://dl.fbaipublicfiles.com/glue/data/SST-2.zip",),
                        member=f"SST-2/{s}.tsv") for s in ("train", "dev", "test")],
        "war-and-peace": [Remote("war_and_peace/war_and_peace.txt",
                                 (_github("shanekeane/monte-carlo-decryption", "data/war_and_peace.txt"),))],
        "word2vec-eval": [Remote(f"word2vec_eval/{n}", (_github("piskvorky/gensim", f"gensim/test/test_data/{n}"),))
                          for n in ("questions-words.txt", "wordsim353.tsv")],
    }
    for corpus in ("brown", "movie_reviews", "sentence_polarity"):
        reg[corpus] = [Remote(f"nltk_data/corpora/{corpus}.zip",
                              (_github("nltk/nltk_data", f"packages/corpora/{corpus}.zip"),))]
    return reg


DATASETS: dict[str, list[Remote]] = _build_registry()


def _load_checksums() -> dict[str, str]:
    text = resources.files("dlhist").joinpath("checksums.sha256").read_text()
    sums = {}
    for line in text.splitlines():
        if line.strip():
            digest, rel = line.split(maxsplit=1)
            sums[rel.strip().lstrip("*")] = digest
    return sums


CHECKSUMS: dict[str, str] = _load_checksums()


# ------------------------------------------------------------------------------------------------ cache and fetching

def data_dir() -> Path:
    """The cache folder: ``$DLHIST_DATA`` or ``~/.cache/dlhist``."""
    return Path(os.environ.get(ENV_DATA) or Path.home() / ".cache" / "dlhist").expanduser()


def mirrors() -> list[Path]:
    """The mirror folders named by ``$DLHIST_MIRROR`` (possibly none)."""
    raw = os.environ.get(ENV_MIRROR, "")
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _verify(path: Path, expected: str, origin: str) -> None:
    got = sha256(path)
    if got != expected:
        raise ChecksumError(
            f"refusing {path} ({origin}): its SHA-256 is {got}, but {expected} was expected. "
            f"The file is corrupt, truncated or a different version; delete it and fetch it again."
        )


def _offline() -> bool:
    return os.environ.get(ENV_OFFLINE, "").strip().lower() in {"1", "true", "yes", "on"}


def _download(remote: Remote, url: str, dest: Path) -> None:
    """Download ``url`` into ``dest`` atomically (via a temporary file in the same folder)."""
    from tqdm.std import tqdm

    dest.parent.mkdir(parents=True, exist_ok=True)
    request = urllib.request.Request(url, headers={"User-Agent": "dlhist"})
    with urllib.request.urlopen(request, timeout=60) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        buf = io.BytesIO()
        with tqdm(total=total, unit="B", unit_scale=True, desc=f"download {Path(remote.path).name}",
                  leave=False, mininterval=1.0) as bar:
            for block in iter(lambda: response.read(1 << 16), b""):
                buf.write(block)
                bar.update(len(block))
    payload = buf.getvalue()
    if remote.gunzip:
        payload = gzip.decompress(payload)
    if remote.member:
        with zipfile.ZipFile(io.BytesIO(payload)) as z:
            payload = z.read(remote.member)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".part-")
    with os.fdopen(fd, "wb") as f:
        f.write(payload)
    os.replace(tmp, dest)


def fetch_file(remote: Remote) -> Path:
    """Make one registry file present and verified in the cache; return its path there."""
    expected = CHECKSUMS.get(remote.path)
    if expected is None:
        raise UnknownDatasetError(f"no checksum registered for {remote.path!r}; add it to dlhist/checksums.sha256")
    target = data_dir() / remote.path
    if target.exists():
        _verify(target, expected, "cached copy")
        return target
    for mirror in mirrors():
        candidate = mirror / remote.path
        if candidate.exists():
            _verify(candidate, expected, f"mirror {mirror}")
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
            os.close(fd)
            shutil.copyfile(candidate, tmp)
            os.replace(tmp, target)
            return target
    errors = []
    if not _offline():
        for url in remote.urls:
            try:
                _download(remote, url, target)
            except (urllib.error.URLError, OSError, zipfile.BadZipFile, KeyError) as exc:
                errors.append(f"{url}: {exc}")
                continue
            try:
                _verify(target, expected, f"downloaded from {url}")
            except ChecksumError:
                target.unlink()
                raise
            return target
    looked = [str(target)] + [str(m / remote.path) for m in mirrors()]
    mirror_note = "" if mirrors() else f" (no mirror set: {ENV_MIRROR} is empty)"
    tried = "; ".join(errors) if errors else f"no download tried ({ENV_OFFLINE}=1)" if _offline() else ""
    raise DatasetNotFoundError(
        f"{remote.path} was not found. Looked in: {', '.join(looked)}{mirror_note}. Download: {tried}. "
        f"To fix: connect to the internet, or download {remote.urls[0]} to {target}, or set {ENV_MIRROR} to a "
        f"folder that holds {remote.path} (for example ../shared/data)."
    )


def _lookup(name: str) -> list[Remote]:
    key = name.lower().replace("_", "-")
    aliases = {"fashionmnist": "fashion-mnist", "fmnist": "fashion-mnist", "sst-2": "sst2", "isbi": "isbi2012",
               "isbi2012-membrane": "isbi2012", "movie-reviews": "movie_reviews",
               "sentence-polarity": "sentence_polarity"}
    key = aliases.get(key, key)
    if key not in DATASETS:
        raise UnknownDatasetError(f"unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}")
    return DATASETS[key]


def fetch(name: str) -> Path:
    """Make every file of dataset ``name`` present and verified in the cache; return the dataset's folder there.

    >>> text = (fetch("tinyshakespeare") / "input.txt").read_text()   # doctest: +SKIP
    """
    remotes = _lookup(name)
    for remote in remotes:
        fetch_file(remote)
    return data_dir() / Path(remotes[0].path).parts[0]


# ---------------------------------------------------------------------------------------- device-resident tensors

@dataclass
class TensorData:
    """A small dataset held as tensors: inputs ``x`` and targets ``y`` with the same first dimension."""

    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self):
        if self.x.shape[0] != self.y.shape[0]:
            raise ValueError(f"x and y differ in length: x has shape {tuple(self.x.shape)}, y {tuple(self.y.shape)}")

    def __len__(self) -> int:
        return self.x.shape[0]

    def to(self, device) -> TensorData:
        return TensorData(self.x.to(device), self.y.to(device))

    def subset(self, n: int | None, seed: int = 0) -> TensorData:
        """A random subset of ``n`` examples (the same one for the same seed); ``None`` keeps everything."""
        if n is None or n >= len(self):
            return self
        idx = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n].to(self.x.device)
        return TensorData(self.x[idx], self.y[idx])

    def loader(self, batch_size: int, shuffle: bool = False, **kwargs) -> TensorLoader:
        return TensorLoader(self.x, self.y, batch_size=batch_size, shuffle=shuffle, **kwargs)


class TensorLoader:
    """Batches of tensors that already live on the device: no worker processes, no per-sample transforms.

    ``transform`` (optional) is applied to each input batch on the device, e.g. a random shift for augmentation.
    """

    def __init__(self, *tensors: torch.Tensor, batch_size: int, shuffle: bool = False, drop_last: bool = False,
                 transform=None, seed: int | None = None):
        if not tensors:
            raise ValueError("TensorLoader needs at least one tensor")
        n = tensors[0].shape[0]
        if any(t.shape[0] != n for t in tensors):
            raise ValueError(f"tensors differ in their first dimension: {[tuple(t.shape) for t in tensors]}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, not {batch_size}")
        self.tensors, self.batch_size, self.shuffle, self.drop_last = tensors, batch_size, shuffle, drop_last
        self.transform = transform
        self.generator = torch.Generator().manual_seed(seed) if seed is not None else None

    def __len__(self) -> int:
        n = self.tensors[0].shape[0]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        n = self.tensors[0].shape[0]
        device = self.tensors[0].device
        order = torch.randperm(n, generator=self.generator).to(device) if self.shuffle else None
        stop = n - n % self.batch_size if self.drop_last else n
        for start in range(0, stop, self.batch_size):
            if order is None:
                batch = tuple(t[start:start + self.batch_size] for t in self.tensors)
            else:
                idx = order[start:start + self.batch_size]
                batch = tuple(t[idx] for t in self.tensors)
            if self.transform is not None:
                batch = (self.transform(batch[0]),) + batch[1:]
            yield batch


# ------------------------------------------------------------------------------------------- MNIST and Fashion-MNIST

MNIST_STATS = {"mnist": (0.1307, 0.3081), "fashion-mnist": (0.2860, 0.3530)}
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")


def load_mnist(name: str = "mnist", device=None, n_train: int | None = None, n_test: int | None = None,
               normalize: bool = True, flatten: bool = False) -> tuple[TensorData, TensorData]:
    """MNIST or Fashion-MNIST as device-resident tensors, read by torchvision's own dataset classes.

    Returns ``(train, test)``; ``x`` is float32 of shape (N, 1, 28, 28) (or (N, 784) with ``flatten``), scaled to
    [0, 1] and, with ``normalize``, standardised by the training set's mean and std; ``y`` is int64.
    ``n_train``/``n_test`` take a fixed random subset (smoke mode).
    """
    from torchvision import datasets as tvd

    key = _lookup(name)[0].path.split("/")[0]  # "MNIST" or "FashionMNIST"
    fetch(name)  # cache, mirror or download, all checksum-verified; torchvision then finds the files in place
    cls = tvd.MNIST if key == "MNIST" else tvd.FashionMNIST
    stats = MNIST_STATS["mnist" if key == "MNIST" else "fashion-mnist"]
    out = []
    for train, n in ((True, n_train), (False, n_test)):
        ds = cls(root=str(data_dir()), train=train, download=True)  # finds the verified files, extracts, no network
        x = ds.data.float().div_(255.0).unsqueeze(1)
        if normalize:
            x = (x - stats[0]) / stats[1]
        if flatten:
            x = x.flatten(1)
        out.append(TensorData(x, ds.targets.clone()).subset(n).to(device or "cpu"))
    return out[0], out[1]
