"""Image segmentation: U-Net's border-weighted loss, elastic deformation, and the metrics of the ISBI 2012 challenge.

Everything works on tensors that live on the device. The data (``dlhist.data.load_isbi2012``) lives with the other
datasets.

Conventions. Images ``x`` are float32 ``(N, 1, H, W)``; label maps are int64 ``(N, H, W)`` with ``MEMBRANE = 0``
(black in the label PNGs) and ``CELL = 1`` (white). For training, ``targets(labels, weights)`` stacks a label map
and a per-pixel weight map into one float tensor ``(N, 2, H, W)``, so that ``dlhist.fit`` can carry both as ``y``;
the loss and every metric here accept that stacked form as well as a plain label map.

- the paper's loss weights: ``connected_components``, ``two_nearest``, ``unet_weights``, ``targets``,
  ``weighted_cross_entropy``
- augmentation: ``RandomCrops`` (random crops, flips, rotations and elastic deformation in one ``grid_sample``)
- metrics: ``pixel_error``, ``isbi_pixel_error``, ``iou``, ``dice``, ``boundary_error``, ``rand_error``
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MEMBRANE, CELL = 0, 1


def _run_offsets(mask: torch.Tensor, big: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``run * big`` for the forward and the (flipped) backward sweeps along the last dimension of ``mask``."""
    gaps = (~mask).int()
    return gaps.cumsum(-1, dtype=torch.int32) * big, gaps.flip(-1).cumsum(-1, dtype=torch.int32) * big


def _run_max(lab: torch.Tensor, mask: torch.Tensor, offsets: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Along the last dimension, give every run of ``mask`` pixels the largest ``lab`` value in that run.

    Two cumulative maxima do it: ``run * big + lab`` (``offsets``, with ``big`` above every label) only grows from
    one run to the next, so its running maximum never carries a value across a background pixel; the forward sweep
    sees a run's start up to each pixel, the backward sweep the rest of the run.
    """
    fwd, back = offsets
    ahead = (fwd + lab).cummax(-1).values - fwd
    behind = ((back + lab.flip(-1)).cummax(-1).values - back).flip(-1)
    return torch.where(mask, torch.maximum(ahead, behind), lab)


def connected_components(mask: torch.Tensor) -> torch.Tensor:
    """Label the 4-connected components of a boolean mask ``(..., H, W)``; 0 stays background.

    Each image's components get distinct positive labels (not consecutive). Every pixel starts with its own index;
    then, alternately along rows and columns, each unbroken run of foreground pixels takes the largest label in it,
    until nothing changes. A whole run is updated at once, so a few sweeps suffice even for long, winding cells.
    """
    mask = mask.bool()
    h, w = mask.shape[-2:]
    big = h * w + 1
    if big * (max(h, w) + 1) >= 2**31:
        raise ValueError(f"images of {h}x{w} are too large for int32 labels")
    lab = (torch.arange(1, h * w + 1, device=mask.device, dtype=torch.int32).reshape(h, w) * mask).contiguous()
    mask_t = mask.transpose(-1, -2).contiguous()
    rows, cols = _run_offsets(mask, big), _run_offsets(mask_t, big)
    while True:
        new = _run_max(lab, mask, rows)
        new = _run_max(new.transpose(-1, -2).contiguous(), mask_t, cols).transpose(-1, -2).contiguous()
        if torch.equal(new, lab):
            return lab.long()
        lab = new


def _dilate(t: torch.Tensor, step: int) -> torch.Tensor:
    """Grey dilation (maximum) of ``(N, H, W)`` by a 3x3 square on odd steps and a 3x3 cross on even steps.

    Alternating the two grows octagons, whose radius after ``r`` steps is within about 8% of a Euclidean disc's.
    """
    t4 = t.unsqueeze(1)
    if step % 2:
        out = F.max_pool2d(t4, 3, 1, 1)
    else:
        out = torch.maximum(F.max_pool2d(t4, (1, 3), 1, (0, 1)), F.max_pool2d(t4, (3, 1), 1, (1, 0)))
    return out.squeeze(1)


def two_nearest(cells: torch.Tensor, max_dist: int = 15) -> tuple[torch.Tensor, torch.Tensor]:
    """Distances ``(d1, d2)`` from every pixel to the nearest and the second-nearest cell, up to ``max_dist``.

    ``cells`` is a label map ``(N, H, W)`` (0 = background, e.g. from ``connected_components``). Grow a disc
    around every pixel one step at a time and track the largest and the smallest cell label inside it: ``d1`` is
    the radius at which the disc first holds a cell (0 inside a cell), ``d2`` the radius at which it first holds
    two different cells (largest label != smallest label). Discs are octagons (``_dilate``), so the distances
    are integers within about 8% of Euclidean ones; beyond ``max_dist`` they are ``inf``.
    """
    inside = cells > 0
    top = cells.max().float() + 1
    hi = torch.where(inside, cells.float(), -1.0)  # the largest label in the disc (-1: none yet)
    lo = torch.where(inside, cells.float(), top)  # the smallest label in the disc (top: none yet)
    inf = float("inf")
    d1 = torch.where(inside, 0.0, inf)
    d2 = torch.full_like(d1, inf)
    for r in range(1, int(max_dist) + 1):
        hi, lo = _dilate(hi, r), -_dilate(-lo, r)
        d1 = torch.where(d1.isinf() & (hi > 0), float(r), d1)
        d2 = torch.where(d2.isinf() & (hi > 0) & (hi != lo), float(r), d2)
    return d1, d2


def unet_weights(labels: torch.Tensor, w0: float = 10.0, sigma: float = 5.0,
                 class_freq: tuple[float, float] | None = None) -> torch.Tensor:
    """The U-Net weight map, ``w(x) = w_c(x) + w0 * exp(-(d1(x) + d2(x))^2 / (2 sigma^2))`` (paper, eq. 2).

    ``labels`` is ``(N, H, W)`` with ``MEMBRANE``/``CELL``. ``w_c`` balances the class frequencies
    (``1 / (2 f_c)``, so it averages to 1; ``class_freq`` gives ``(f_membrane, f_cell)``, else they are counted
    here). ``d1``, ``d2`` are the distances to the nearest and second-nearest cell; the border term is added on
    membrane pixels only, so it is largest on thin membranes squeezed between two cells.
    """
    membrane = labels == MEMBRANE
    if class_freq is None:
        f_mem = membrane.float().mean().item()
        class_freq = (f_mem, 1.0 - f_mem)
    wc = torch.where(membrane, 0.5 / max(class_freq[0], 1e-6), 0.5 / max(class_freq[1], 1e-6))
    if w0 == 0:
        return wc
    d1, d2 = two_nearest(connected_components(~membrane), max_dist=math.ceil(3 * sigma))
    border = w0 * torch.exp(-((d1 + d2) ** 2) / (2 * sigma**2))
    return wc + torch.where(membrane, border, 0.0)


def targets(labels: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Stack a label map ``(N, H, W)`` and a weight map (default: all ones) into one float ``(N, 2, H, W)``."""
    weights = torch.ones_like(labels, dtype=torch.float32) if weights is None else weights
    return torch.stack([labels.float(), weights.float()], 1)


def _split(target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    if target.dim() == 4:  # stacked (N, 2, H, W)
        return target[:, 0].long(), target[:, 1]
    return target.long(), None


def weighted_cross_entropy(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Pixel-wise softmax cross-entropy weighted by the weight map, averaged over pixels (paper, eq. 1).

    ``output`` is logits ``(N, C, H, W)``; ``target`` a stacked ``(N, 2, H, W)`` (label, weight) or a label map.
    """
    label, weight = _split(target)
    ce = F.cross_entropy(output, label, reduction="none")
    return ce.mean() if weight is None else (weight * ce).mean()


# ----------------------------------------------------------------------------------------------------- augmentation

class RandomCrops:
    """Batches of augmented training crops for ``dlhist.fit``: ``steps`` batches per epoch.

    ``x`` ``(N, 1, H, W)`` images and ``y`` ``(N, K, H, W)`` targets (e.g. from ``targets``). Each crop comes from a
    random image at a random position, with a random rotation (any angle) and mirror, and an elastic deformation:
    random displacements on a coarse ``grid x grid`` mesh with std ``elastic`` pixels, smoothly (bicubically)
    interpolated to every pixel, as in the paper. All of it is one sampling grid, so one ``F.grid_sample`` call per
    batch makes the crops (bilinear for images, nearest for targets); outside the image the data is mirrored.
    With ``seed``, two loaders built alike give the same crops (fair comparisons).
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, *, batch_size: int, crop: int, steps: int,
                 rotate: bool = True, flip: bool = True, elastic: float = 10.0, grid: int = 3, seed: int = 0):
        if x.shape[0] != y.shape[0] or x.shape[-2:] != y.shape[-2:]:
            raise ValueError(f"x {tuple(x.shape)} and y {tuple(y.shape)} do not match")
        self.x, self.y = x, y
        self.batch_size, self.crop, self.steps = batch_size, crop, steps
        self.rotate, self.flip, self.elastic, self.grid = rotate, flip, elastic, grid
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return self.steps

    def __iter__(self):
        for _ in range(self.steps):
            yield self.sample()

    def sampling_grid(self, n: int) -> torch.Tensor:
        """Pixel coordinates ``(n, S, S, 2)`` (x, y) in the source image of each crop's pixels.

        Every random number is drawn whether or not its augmentation is on, so that samplers with the same seed
        and different augmentations cut their crops at the same places.
        """
        g, s = self.generator, self.crop
        h, w = self.x.shape[-2:]
        mirror = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0).view(n, 1, 1)
        angle = (torch.rand(n, generator=g) * 2 * math.pi).view(n, 1, 1)
        coarse = torch.randn(n, 2, self.grid, self.grid, generator=g) * self.elastic
        cx = (s - 1) / 2 + torch.rand(n, generator=g) * (w - s)
        cy = (s - 1) / 2 + torch.rand(n, generator=g) * (h - s)
        r = torch.linspace(-(s - 1) / 2, (s - 1) / 2, s)
        v, u = torch.meshgrid(r, r, indexing="ij")  # v: rows, u: columns, centred on the crop
        u, v = u.expand(n, s, s), v.expand(n, s, s)
        if self.flip:
            u = u * mirror
        if self.rotate:
            u, v = u * torch.cos(angle) - v * torch.sin(angle), u * torch.sin(angle) + v * torch.cos(angle)
        if self.elastic > 0:  # smooth displacements: a coarse random grid, bicubically interpolated
            fine = F.interpolate(coarse, size=(s, s), mode="bicubic", align_corners=True)
            u, v = u + fine[:, 0], v + fine[:, 1]
        return torch.stack([u + cx.view(n, 1, 1), v + cy.view(n, 1, 1)], -1)

    def sample(self):
        n = self.batch_size
        idx = torch.randint(0, self.x.shape[0], (n,), generator=self.generator)
        h, w = self.x.shape[-2:]
        pix = self.sampling_grid(n)
        norm = torch.stack([pix[..., 0] / (w - 1), pix[..., 1] / (h - 1)], -1) * 2 - 1
        norm = norm.to(self.x.device)
        idx = idx.to(self.x.device)
        xb = F.grid_sample(self.x[idx], norm, mode="bilinear", padding_mode="reflection", align_corners=True)
        yb = F.grid_sample(self.y[idx], norm, mode="nearest", padding_mode="reflection", align_corners=True)
        return xb, yb


# ---------------------------------------------------------------------------------------------------------- metrics

def _pred_label(output: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted and true label maps ``(N, H, W)`` from logits ``(N, C, H, W)`` or a label map, and a target."""
    pred = output.argmax(1) if output.dim() == 4 else output.long()
    return pred, _split(target)[0]


def pixel_error(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Fraction of pixels whose predicted class is wrong (misclassified pixels; for the ISBI 2012 challenge's own
    "pixel error", see ``isbi_pixel_error``)."""
    pred, label = _pred_label(output, target)
    return (pred != label).float().mean()


def isbi_pixel_error(prob_cell: torch.Tensor, target: torch.Tensor, thresholds: int = 11) -> torch.Tensor:
    """The ISBI 2012 challenge's pixel error: ``1 -`` the best F-score of the thresholded probability map.

    ``prob_cell`` is P(cell) per pixel, ``(N, H, W)``; the challenge's submissions were exactly such maps (1 meaning
    "certainly not membrane"). For each of ``thresholds`` levels evenly spaced from 0 to 1 (the challenge's script
    uses 0.0, 0.1, ..., 1.0), pixels above the level are predicted cell; with cells as the positive class over all
    pixels, ``F = 2 TP / (2 TP + FP + FN)``, and the error is ``1 - max F``. Unlike the fraction of misclassified
    pixels, it ignores correctly found membrane pixels (true negatives), counts the cell pixels twice in its
    denominator (``2 TP``) and picks its own threshold, so it is smaller: about 0.6 times the misclassified fraction
    when about four pixels in five are cell. Source: the challenge's evaluation page ("1 - the maximal F-score of
    pixel similarity") and the Fiji script it links (``PixelError.getPixelErrorMaximalFScore(0.0, 1.0, 0.1)`` in
    Trainable Weka Segmentation).
    """
    label = _split(target)[0]
    if prob_cell.shape != label.shape:
        raise ValueError(f"isbi_pixel_error: P(cell) of shape {tuple(prob_cell.shape)} does not match the labels' "
                         f"{tuple(label.shape)}")
    truth = (label == CELL).flatten()
    p = prob_cell.flatten()
    best = torch.zeros((), device=p.device)
    for t in torch.linspace(0.0, 1.0, thresholds).tolist():
        pred = p > t
        tp = (pred & truth).sum()
        wrong = (pred != truth).sum()
        if tp > 0:
            best = torch.maximum(best, (2 * tp / (2 * tp + wrong)).float())
    return 1 - best


def iou(output: torch.Tensor, target: torch.Tensor, cls: int = MEMBRANE) -> torch.Tensor:
    """Intersection over union of class ``cls`` (default: membrane), pooled over the batch; 1 if both are empty."""
    pred, label = _pred_label(output, target)
    p, t = pred == cls, label == cls
    union = (p | t).sum()
    return (p & t).sum() / union if union > 0 else torch.ones((), device=pred.device)


def dice(output: torch.Tensor, target: torch.Tensor, cls: int = MEMBRANE) -> torch.Tensor:
    """Dice coefficient ``2 |P & T| / (|P| + |T|)`` of class ``cls``, pooled over the batch; 1 if both are empty."""
    pred, label = _pred_label(output, target)
    p, t = pred == cls, label == cls
    total = p.sum() + t.sum()
    return 2 * (p & t).sum() / total if total > 0 else torch.ones((), device=pred.device)


def boundary_band(labels: torch.Tensor, width: int = 2) -> torch.Tensor:
    """Pixels within ``width`` pixels (chessboard distance) of a place where the label changes."""
    lab = labels.float().unsqueeze(1)
    edge = (F.max_pool2d(lab, 3, 1, 1) != -F.max_pool2d(-lab, 3, 1, 1)).float()
    return F.max_pool2d(edge, 2 * width + 1, 1, width).squeeze(1) > 0


def boundary_error(output: torch.Tensor, target: torch.Tensor, width: int = 2) -> torch.Tensor:
    """Pixel error restricted to the band of ``width`` pixels around the true membrane edges: blurry boundaries
    show up here first."""
    pred, label = _pred_label(output, target)
    band = boundary_band(label, width)
    return (pred != label)[band].float().mean() if band.any() else torch.zeros((), device=pred.device)


def rand_error(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Foreground-restricted Rand error, ``1 - V_Rand`` (Arganda-Carreras et al. 2015), averaged over images.

    Both maps are turned into cells (connected components of ``CELL`` pixels). Only pixels inside a true cell
    count; there, predicted membrane pixels are singletons. With ``p_ij`` the joint distribution of (predicted,
    true) cell over those pixels, ``V_Rand = sum p_ij^2 / (0.5 sum_i s_i^2 + 0.5 sum_j t_j^2)``, where ``s``
    and ``t`` are its marginals. 0 means the same cells; merges and splits both raise it.
    """
    pred, label = _pred_label(output, target)
    errors = []
    for p, t in zip(pred, label):
        pc, tc = connected_components(p == CELL).flatten(), connected_components(t == CELL).flatten()
        keep = tc > 0
        pc, tc = pc[keep], tc[keep]
        single = pc == 0
        pc = torch.where(single, -torch.arange(1, pc.numel() + 1, device=pc.device), pc)  # singletons
        _, pi = torch.unique(pc, return_inverse=True)
        _, ti = torch.unique(tc, return_inverse=True)
        n = float(pc.numel())
        if n == 0:
            errors.append(torch.zeros((), device=pred.device))
            continue
        nt = int(ti.max()) + 1
        joint = torch.bincount(pi * nt + ti).double()
        s = torch.bincount(pi).double()
        tt = torch.bincount(ti).double()
        v = (joint**2).sum() / (0.5 * (s**2).sum() + 0.5 * (tt**2).sum())
        errors.append((1 - v).float())
    return torch.stack(errors).mean()
