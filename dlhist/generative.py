"""How samples of an image generator are judged: FID, precision and recall, class agreement, Parzen windows.

Every measure works in the feature space of a small classifier that this repository trains itself on MNIST or
Fashion-MNIST (``train_judge``): no downloaded weights. Its numbers are therefore *not* comparable with published
Inception FIDs; what they are good for is comparing models here, beside the floor of the measure (the FID between
two halves of the real test set, ``real_floor``).

- ``fid(judge, real, fake)``: the Frechet distance of the features (Heusel et al. 2017), computed by torchmetrics'
  ``FrechetInceptionDistance`` with our network; ``frechet_distance`` is the from-scratch formula it is checked
  against.
- ``precision_recall(real, fake)``: the k-nearest-neighbour manifolds of Kynkaanniemi et al. (2019): precision is the
  fraction of samples inside the real data's manifold (quality), recall the fraction of real images inside the
  samples' manifold (coverage).
- ``scores(judge, ref, images)``: FID, precision and recall together, against a reference set drawn by
  ``real_halves`` (whose other half gives the floor of each).
- ``class_agreement(judge, images, labels)``: how often the judge sees the class a conditional model was asked for.
- ``parzen_log_likelihood``: the Parzen-window estimate of Goodfellow et al. (2014), Table 1, with its bandwidth
  chosen on validation images (``choose_parzen_sigma``); Theis et al. (2016) showed why it misleads.

Images are (N, 1, 28, 28) or (N, 784) tensors with values in [0, 1]; anything else is refused with its shape or range.
"""

from __future__ import annotations

import math
import operator
import time
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .data.images import MNIST_STATS, load_mnist
from .data.registry import data_dir
from .data.tensors import TensorLoader
from .device import seed_everything
from .train import fit

JUDGE_VERSION = 1  # bump when the judge's architecture or training changes: cached judges are keyed by it
N_FEATURES = 128


class Judge(nn.Module):
    """A small conv classifier for 28x28 images in [0, 1]: ``forward`` gives class logits, ``features`` the 128
    numbers before the last layer (the space FID and precision/recall are measured in)."""

    num_features = N_FEATURES  # read by torchmetrics' FrechetInceptionDistance
    image_shape = (1, 28, 28)

    def __init__(self, dataset: str = "mnist", n_classes: int = 10):
        super().__init__()
        self.dataset = dataset
        mean, std = MNIST_STATS[dataset]
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("std", torch.tensor(float(std)))
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 7 * 7, N_FEATURES),
        )
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(N_FEATURES, n_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = check_images(x, "the judge's input")
        return self.body((x - self.mean) / self.std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class _Features(nn.Module):
    """The judge seen as a feature extractor, the form torchmetrics' FID takes."""

    def __init__(self, judge: Judge):
        super().__init__()
        self.judge = judge
        self.num_features = judge.num_features

    def forward(self, x):
        return self.judge.features(x)


def _shape(judge) -> tuple[int, int, int]:
    return tuple(getattr(judge, "image_shape", (1, 28, 28)))


def check_images(x: torch.Tensor, what: str = "images", tol: float = 1e-4,
                 shape: tuple[int, int, int] = (1, 28, 28)) -> torch.Tensor:
    """Return ``x`` as (N, *shape) float after checking its shape and its range [0, 1]; refuse anything else.
    Grey 28x28 images may also come as (N, 784) or (N, 28, 28)."""
    if not torch.is_tensor(x):
        raise TypeError(f"{what} must be a tensor, got {type(x).__name__}")
    shape = tuple(shape)
    if shape == (1, 28, 28):
        if x.ndim == 2 and x.shape[1] == 784:
            x = x.view(-1, 1, 28, 28)
        elif x.ndim == 3 and tuple(x.shape[1:]) == (28, 28):
            x = x.unsqueeze(1)
    if x.ndim != 4 or tuple(x.shape[1:]) != shape:
        alt = " or (N, 784)" if shape == (1, 28, 28) else ""
        raise ValueError(f"{what} must have shape (N, {', '.join(map(str, shape))}){alt} to match the judge, "
                         f"got {tuple(x.shape)}")
    x = x.float()
    if x.numel():
        lo, hi = x.min().item(), x.max().item()
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo < -tol or hi > 1 + tol:
            raise ValueError(f"{what} must take values in [0, 1] (pixel intensities), got values from {lo:.4g} to "
                             f"{hi:.4g}; map a generator's [-1, 1] output with (x + 1) / 2")
    return x


def _cache_path(dataset: str, steps: int, seed: int, device: torch.device) -> Path:
    return data_dir() / "judges" / f"{dataset}-v{JUDGE_VERSION}-{steps}steps-seed{seed}-{device.type}.pt"


def train_judge(dataset: str = "mnist", *, steps: int = 1500, batch_size: int = 128, seed: int = 0, device=None,
                cache: bool = False, verbose: bool = True, n_test: int | None = None) -> Judge:
    """Train the judge on the dataset's 60,000 training images (Adam, ``steps`` steps) and print its test accuracy
    (on ``n_test`` random test images, or all of them).

    The judge's initial weights are drawn from the global random state at the call (which a notebook seeds at its
    start) and its data order from ``seed``, so a notebook run from the top trains the same judge every time.
    ``cache=True`` saves the trained weights under ``data_dir()/judges`` (keyed by dataset, version, steps, seed and
    device type) and loads them, with ``weights_only=True``, on later calls: quicker when running several notebooks,
    but the cached judge is the one trained by whichever notebook ran first, so that notebook's judge numbers may
    differ slightly from its committed run.
    """
    device = torch.device(device or "cpu")
    train, test = load_mnist(dataset, device=device, normalize=False, n_test=n_test)
    judge = Judge(dataset).to(device)
    path = _cache_path(dataset, steps, seed, device)
    start = time.perf_counter()
    if cache and path.exists():
        judge.load_state_dict(torch.load(path, map_location=device, weights_only=True))
        how = f"loaded from {path.name}"
    else:
        g = seed_everything(seed)
        judge.train()
        opt = torch.optim.Adam(judge.parameters(), lr=1e-3)
        n = len(train)
        order = torch.randperm(n, generator=g)
        for i in range(steps):
            j = (i * batch_size) % n
            if j + batch_size > n:
                order, j = torch.randperm(n, generator=g), 0
            idx = order[j:j + batch_size].to(device)
            loss = F.cross_entropy(judge(train.x[idx]), train.y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if cache:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            torch.save(judge.state_dict(), tmp)
            tmp.replace(path)
        how = f"trained for {steps} steps"
    judge.eval().requires_grad_(False)
    if verbose:
        acc = class_agreement(judge, test.x, test.y)
        print(f"judge ({dataset}): {how} in {time.perf_counter() - start:.1f}s, test accuracy {acc:.2%}")
    return judge


class CaptionJudge(nn.Module):
    """The judge of captioned images (``dlhist.data.captions``): a small conv net on (N, 3, 32, 32) images in [0, 1]
    that reads the class (``forward``, 10 logits) and the colour (``colour``, one logit per colour) from one set of
    128 features (``features``: the space FID is measured in). Trained on real captioned images only, never on a
    generator's output, and never used to train a generator."""

    num_features = N_FEATURES
    image_shape = (3, 32, 32)

    def __init__(self, n_classes: int = 10, n_colours: int = 6):
        super().__init__()
        self.n_classes = n_classes

        def conv(c_in, c_out):
            return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]

        self.body = nn.Sequential(*conv(3, 32), *conv(32, 64), *conv(64, 128), nn.Flatten(),
                                  nn.Linear(128 * 4 * 4, N_FEATURES))
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(N_FEATURES, n_classes + n_colours))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = check_images(x, "the judge's input", shape=self.image_shape)
        return self.body(x * 2 - 1)

    def both(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.head(self.features(x))
        return out[:, :self.n_classes], out[:, self.n_classes:]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.both(x)[0]

    def colour(self, x: torch.Tensor) -> torch.Tensor:
        return self.both(x)[1]


def train_caption_judge(train, test=None, *, steps: int = 1500, batch_size: int = 128, lr: float = 2e-3,
                        seed: int = 0, verbose: bool = True) -> CaptionJudge:
    """Train a ``CaptionJudge`` on a ``CaptionedSet`` (images, label, colour) with Adam: the sum of the class and
    colour cross-entropies, trained by ``dlhist.fit`` on shuffled passes. Initial weights from the global random
    state, data order from ``seed``. Prints the judge's class and colour accuracy on ``test`` (another
    CaptionedSet) when given. Returned in eval mode, frozen."""
    judge = CaptionJudge().to(train.images.device)
    start = time.perf_counter()

    def step(model, batch):
        images, label, colour = batch
        cls, col = model.both(images)
        return F.cross_entropy(cls, label) + F.cross_entropy(col, colour)

    data = TensorLoader(train.images, train.label, train.colour, batch_size=batch_size, shuffle=True,
                        drop_last=True, seed=seed)
    fit(judge, data, steps=steps, step=step, optimizer=lambda p: torch.optim.Adam(p, lr=lr), verbose=0)
    judge.eval().requires_grad_(False)
    if verbose:
        line = f"caption judge: trained for {steps} steps in {time.perf_counter() - start:.1f}s"
        if test is not None:
            acc = caption_agreement(judge, test.images, test.label, test.colour)
            line += f", test accuracy: class {acc['class']:.2%}, colour {acc['colour']:.2%}"
        print(line)
    return judge


@torch.no_grad()
def caption_agreement(judge: CaptionJudge, images: torch.Tensor, label: torch.Tensor, colour: torch.Tensor,
                      batch_size: int = 1000) -> dict[str, float]:
    """How often the judge sees the asked-for class, colour, and both, in ``images``: {"class", "colour", "both"}.
    A colour of -1 means "not asked for": those images count for "class" only."""
    images = check_images(images, "images", shape=judge.image_shape)
    n = len(images)
    if label.shape != (n,) or colour.shape != (n,):
        raise ValueError(f"label and colour must have shape ({n},), one per image; got {tuple(label.shape)} and "
                         f"{tuple(colour.shape)}")
    dev = next(judge.parameters()).device
    cls, col = zip(*(judge.both(images[i:i + batch_size].to(dev)) for i in range(0, n, batch_size)))
    cls_ok = torch.cat(cls).argmax(1).cpu() == label.cpu()
    col_ok = torch.cat(col).argmax(1).cpu() == colour.cpu()
    asked = colour.cpu() >= 0
    both = cls_ok & col_ok
    return {"class": cls_ok.float().mean().item(),
            "colour": col_ok[asked].float().mean().item() if asked.any() else float("nan"),
            "both": both[asked].float().mean().item() if asked.any() else float("nan")}


@torch.no_grad()
def features(judge: Judge, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The judge's features of ``images`` (N, 128), computed in batches."""
    images = check_images(images, shape=_shape(judge))
    dev = next(judge.parameters()).device
    return torch.cat([judge.features(images[i:i + batch_size].to(dev)) for i in range(0, len(images), batch_size)])


@torch.no_grad()
def class_agreement(judge: Judge, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
    """Fraction of ``images`` the judge assigns to ``labels`` (its test accuracy on real images)."""
    images = check_images(images, shape=_shape(judge))
    if labels.shape != (len(images),):
        raise ValueError(f"labels must have shape ({len(images)},), one per image, got {tuple(labels.shape)}")
    dev = next(judge.parameters()).device
    hits = sum((judge(images[i:i + batch_size].to(dev)).argmax(1).cpu() == labels[i:i + batch_size].cpu()).sum().item()
               for i in range(0, len(images), batch_size))
    return hits / len(images)


def frechet_distance(mu1: torch.Tensor, cov1: torch.Tensor, mu2: torch.Tensor, cov2: torch.Tensor) -> float:
    """The Frechet distance between N(mu1, cov1) and N(mu2, cov2), from scratch:

        ||mu1 - mu2||^2 + tr(cov1) + tr(cov2) - 2 tr((cov1^1/2 cov2 cov1^1/2)^1/2)

    The matrix square roots are taken by symmetric eigendecomposition (float64), with tiny negative eigenvalues
    from rounding clipped to 0."""
    mu1, mu2, cov1, cov2 = (t.double() for t in (mu1, mu2, cov1, cov2))
    if mu1.shape != mu2.shape or cov1.shape != cov2.shape or cov1.shape != (mu1.numel(), mu1.numel()):
        raise ValueError(f"shapes do not match: mu {tuple(mu1.shape)}, {tuple(mu2.shape)}; cov {tuple(cov1.shape)}, "
                         f"{tuple(cov2.shape)}")

    def sqrtm_psd(a):
        w, v = torch.linalg.eigh((a + a.T) / 2)
        return (v * w.clamp(min=0).sqrt()) @ v.T

    s1 = sqrtm_psd(cov1)
    cross = torch.linalg.eigvalsh(s1 @ cov2 @ s1).clamp(min=0).sqrt().sum()
    return ((mu1 - mu2).square().sum() + cov1.trace() + cov2.trace() - 2 * cross).item()


def mean_cov(feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and (unbiased) covariance of a (N, d) feature matrix, in float64."""
    f = feats.double()
    mu = f.mean(0)
    c = f - mu
    return mu, c.T @ c / (len(f) - 1)


def min_samples(judge: Judge | None = None) -> int:
    """The fewest images ``fid`` accepts: twice the feature dimension (below that the covariance is poorly
    estimated; FID is also biased upwards at small N, so compare only FIDs computed from the same N)."""
    return 2 * (judge.num_features if judge is not None else N_FEATURES)


def _check_count(n: int, what: str, judge: Judge) -> None:
    if n < min_samples(judge):
        raise ValueError(f"FID needs at least {min_samples(judge)} {what} images for a stable estimate in "
                         f"{judge.num_features} dimensions (use several thousand to compare models), got {n}")


def fid(judge: Judge, real: torch.Tensor, fake: torch.Tensor, batch_size: int = 1000) -> float:
    """FID between ``real`` and ``fake`` images in the judge's feature space, computed by torchmetrics."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    real = check_images(real, "real images", shape=_shape(judge))
    fake = check_images(fake, "generated images", shape=_shape(judge))
    _check_count(len(real), "real", judge)
    _check_count(len(fake), "generated", judge)
    dev = next(judge.parameters()).device
    metric = FrechetInceptionDistance(feature=_Features(judge), normalize=True).to(dev)
    with torch.no_grad():
        for images, is_real in ((real, True), (fake, False)):
            for i in range(0, len(images), batch_size):
                metric.update(images[i:i + batch_size].to(dev), real=is_real)
        return float(metric.compute())


def real_halves(real: torch.Tensor, n: int | None = None, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two disjoint random sets of ``n`` images of ``real`` (default: half each), drawn by a permutation seeded with
    ``seed``: the first is the reference that generated images are scored against, the second stands in for a
    perfect generator (``real_floor``). Random, not the first and second half: MNIST's test set has cleaner writers
    in its first half than in its second."""
    half = len(real) // 2 if n is None else operator.index(n)
    if half < 1:
        raise ValueError(f"each set needs at least one image, got n = {half} (from {len(real)} real images)")
    if 2 * half > len(real):
        raise ValueError(f"two disjoint sets of {half} images need {2 * half} real images, got {len(real)}")
    idx = torch.randperm(len(real), generator=torch.Generator().manual_seed(seed)).to(real.device)
    return real[idx[:half]], real[idx[half:2 * half]]


def real_floor(judge: Judge, real: torch.Tensor, n: int | None = None, seed: int = 0) -> float:
    """The FID between two disjoint random halves of ``real`` (``n`` images each, default half; ``real_halves``): the
    value a perfect generator would get with ``n`` samples, the floor every other FID is read against."""
    real = check_images(real, "real images", shape=_shape(judge))
    return fid(judge, *real_halves(real, n, seed))


class _Given(nn.Module):
    """Features already computed, passed through: lets torchmetrics' FID take the judge's features directly."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, x):
        return x


def _fid_of_features(real_feats: torch.Tensor, fake_feats: torch.Tensor, batch_size: int = 1000) -> float:
    """``fid`` from feature matrices, by the same torchmetrics computation (fed in the same batches)."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=_Given(real_feats.shape[1])).to(real_feats.device)
    for feats, is_real in ((real_feats, True), (fake_feats, False)):
        for i in range(0, len(feats), batch_size):
            metric.update(feats[i:i + batch_size], real=is_real)
    return float(metric.compute())


def scores(judge: Judge, ref: torch.Tensor, images: torch.Tensor, k: int = 3) -> dict[str, float]:
    """How generated ``images`` compare with real ``ref`` images in the judge's feature space: ``{"FID": ...,
    "precision": ..., "recall": ...}`` (``fid`` and ``precision_recall`` with ``k`` neighbours), each set's features
    computed once. Scoring the second set of ``real_halves`` gives the floor of all three: what real images get."""
    ref = check_images(ref, "real images", shape=_shape(judge))
    images = check_images(images, "generated images", shape=_shape(judge))
    _check_count(len(ref), "real", judge)
    _check_count(len(images), "generated", judge)
    real_feats, fake_feats = features(judge, ref), features(judge, images)
    p, r = precision_recall(real_feats, fake_feats, k=k)
    return {"FID": _fid_of_features(real_feats, fake_feats), "precision": p, "recall": r}


@torch.no_grad()
def _kth_neighbour_radius(feats: torch.Tensor, k: int, chunk: int = 2048) -> torch.Tensor:
    """Distance from each row to its k-th nearest other row."""
    out = []
    for i in range(0, len(feats), chunk):
        d = torch.cdist(feats[i:i + chunk], feats)
        out.append(d.kthvalue(k + 1, dim=1).values)  # the 1st smallest is the point itself (distance 0)
    return torch.cat(out)


@torch.no_grad()
def _coverage(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, chunk: int = 2048) -> float:
    """Fraction of ``points`` inside at least one ball (centre, radius)."""
    inside = 0
    for i in range(0, len(points), chunk):
        d = torch.cdist(points[i:i + chunk], centres)
        inside += (d <= radii[None, :]).any(dim=1).sum().item()
    return inside / len(points)


def precision_recall(real_feats: torch.Tensor, fake_feats: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019) from (N, d) feature matrices.

    Each set's manifold is the union of balls around its points, each reaching the point's k-th nearest neighbour
    in the same set (k = 3 as in the paper). Precision: fraction of generated points inside the real manifold.
    Recall: fraction of real points inside the generated manifold."""
    if real_feats.ndim != 2 or fake_feats.ndim != 2 or real_feats.shape[1] != fake_feats.shape[1]:
        raise ValueError(f"feature matrices must be (N, d) with the same d, got {tuple(real_feats.shape)} and "
                         f"{tuple(fake_feats.shape)}")
    if min(len(real_feats), len(fake_feats)) <= k:
        raise ValueError(f"k={k} nearest neighbours need more than {k} points in each set, got "
                         f"{len(real_feats)} real and {len(fake_feats)} generated")
    real_feats, fake_feats = real_feats.float(), fake_feats.float()
    precision = _coverage(fake_feats, real_feats, _kth_neighbour_radius(real_feats, k))
    recall = _coverage(real_feats, fake_feats, _kth_neighbour_radius(fake_feats, k))
    return precision, recall


# ------------------------------------------------------------------------------------------------- Parzen windows

@torch.no_grad()
def parzen_log_likelihood(samples: torch.Tensor, test: torch.Tensor, sigma: float, chunk: int = 500) -> torch.Tensor:
    """Log-density of each ``test`` image under an isotropic Gaussian kernel density estimate centred on ``samples``
    with bandwidth ``sigma`` (pixels in [0, 1], D = 784 dimensions), in nats:

        log p(x) = logsumexp_i(-||x - s_i||^2 / (2 sigma^2)) - log N - D/2 log(2 pi sigma^2)
    """
    if sigma <= 0:
        raise ValueError(f"the Parzen bandwidth sigma must be positive, got {sigma}")
    s = check_images(samples, "Parzen centres").flatten(1).double()
    t = check_images(test, "test images").flatten(1).double().to(s.device)
    d = s.shape[1]
    const = -math.log(len(s)) - d / 2 * math.log(2 * math.pi * sigma ** 2)
    out = []
    for i in range(0, len(t), chunk):
        d2 = torch.cdist(t[i:i + chunk], s).square()
        out.append(torch.logsumexp(-d2 / (2 * sigma ** 2), dim=1) + const)
    return torch.cat(out)


def choose_parzen_sigma(samples: torch.Tensor, val: torch.Tensor,
                        sigmas: Sequence[float] = (0.05, 0.08, 0.1, 0.13, 0.16, 0.2, 0.25, 0.3), *,
                        strict: bool = True) -> tuple[float, dict[float, float]]:
    """The bandwidth with the highest mean log-likelihood of the validation images (Goodfellow et al.'s cross
    validation), and the mean for every candidate. With ``strict``, a choice at the edge of the grid is refused
    (widen the grid); ``strict=False`` accepts it (for smoke runs of untrained models)."""
    scores = {float(s): parzen_log_likelihood(samples, val, s).mean().item() for s in sigmas}
    best = max(scores, key=scores.get)
    if strict and len(sigmas) > 2 and best in (min(scores), max(scores)):
        raise ValueError(f"the best Parzen bandwidth {best} is at the edge of the grid {sorted(scores)}; "
                         f"widen the grid so the choice is interior")
    return best, scores


@torch.no_grad()
def kmeans(x: torch.Tensor, k: int, iters: int = 20, seed: int = 0, chunk: int = 4096) -> torch.Tensor:
    """Lloyd's k-means on the rows of ``x`` (N, d); returns the k centroids (empty clusters keep their centroid)."""
    if not 1 <= k <= len(x):
        raise ValueError(f"k must be between 1 and the number of points {len(x)}, got {k}")
    x = x.flatten(1).float()
    g = torch.Generator().manual_seed(seed)
    c = x[torch.randperm(len(x), generator=g)[:k].to(x.device)].clone()
    for _ in range(iters):
        assign = torch.cat([torch.cdist(x[i:i + chunk], c).argmin(1) for i in range(0, len(x), chunk)])
        sums = torch.zeros_like(c).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=k).to(x.dtype)
        filled = counts > 0
        c[filled] = sums[filled] / counts[filled, None]
    return c
