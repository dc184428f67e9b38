"""Plots in one consistent style: training curves of several runs, image grids, weights and filters."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

STYLE = {
    "figure.figsize": (6.4, 4.0),
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "image.cmap": "gray",
}


def style():
    """A context manager applying dlhist's plot style (``use_style`` applies it for the whole session)."""
    return plt.rc_context(STYLE)


_styled = False


def use_style() -> None:
    """Apply dlhist's plot style to the whole session, so that axes and legends added by hand match. Every
    plotting function here calls it on first use."""
    global _styled
    if not _styled:
        plt.rcParams.update(STYLE)
        _styled = True


def _axes(ax, figsize=None):
    use_style()
    if ax is not None:
        return ax.figure, ax
    with style():
        fig, ax = plt.subplots(figsize=figsize)
    return fig, ax


def _apply_style(ax):
    for k, v in (("top", False), ("right", False)):
        ax.spines[k].set_visible(v)
    ax.grid(True, alpha=0.3)


def plot(x, ys, labels: Sequence[str] | None = None, *, xlabel: str = "", ylabel: str = "", title: str = "",
         logx: bool = False, logy: bool = False, ax=None, styles: Sequence[str] | None = None):
    """d2l-style quick line plot: ``ys`` is one series or a list of series, all over ``x``."""
    ys = [ys] if np.ndim(ys[0]) == 0 else ys
    fig, ax = _axes(ax)
    with style():
        for i, y in enumerate(ys):
            fmt = styles[i] if styles else "-"
            ax.plot(x, _np(y), fmt, label=labels[i] if labels else None)
        _finish(ax, xlabel, ylabel, title, logx, logy, bool(labels))
    return ax


def _np(v):
    if torch.is_tensor(v):
        return v.detach().float().cpu().numpy()
    return np.asarray(v)


def _finish(ax, xlabel, ylabel, title, logx, logy, legend):
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    if legend:
        ax.legend()
    _apply_style(ax)


def plot_curves(runs: Mapping, key: str = "val_acc", *, ax=None, title: str = "", ylabel: str | None = None,
                logy: bool = False, smooth: int = 1, percent: bool | None = None):
    """One curve per run for ``key`` (``"loss"`` per step, ``"val_acc"`` per epoch, ...).

    ``runs`` maps a label to a History or a list of Histories (several seeds: the median is drawn, with the
    min-max band). ``smooth`` > 1 applies a moving average, useful for per-step losses.
    """
    fig, ax = _axes(ax)
    percent = key.endswith("acc") or key.endswith("err") if percent is None else percent
    xlabel = "step"
    with style():
        for label, run in runs.items():
            hists = run if isinstance(run, (list, tuple)) else [run]
            series = [h.series(key) for h in hists]
            xlabel = "epoch" if key not in ("loss", "lr") and any(key in r for r in hists[0].epochs) else "step"
            n = min(len(s[1]) for s in series)
            x = np.asarray(series[0][0][:n])
            ys = np.stack([np.asarray(s[1][:n], dtype=float) for s in series]) * (100 if percent else 1)
            if smooth > 1 and n >= smooth:
                kernel = np.ones(smooth) / smooth
                ys = np.stack([np.convolve(y, kernel, mode="valid") for y in ys])
                x = x[smooth - 1:]
            line, = ax.plot(x, np.median(ys, axis=0), label=label)
            if len(hists) > 1:
                ax.fill_between(x, ys.min(0), ys.max(0), color=line.get_color(), alpha=0.2, linewidth=0)
        _finish(ax, xlabel, ylabel if ylabel is not None else key + (" (%)" if percent else ""), title, False, logy,
                True)
    return ax


def show_images(images, labels: Sequence | None = None, *, ncols: int = 8, scale: float = 1.2, title: str = "",
                cmap: str = "gray", normalize: bool = True, vrange: tuple[float, float] | None = None):
    """A grid of images: a tensor (N, C, H, W) or (N, H, W), or a list of such arrays; optional titles.

    By default (``normalize``) each grey image is stretched to its own minimum and maximum. ``vrange=(lo, hi)``
    shows every image on that one fixed scale instead, e.g. ``(0, 1)`` for pixel intensities a generator made, so
    that a faint sample looks faint."""
    use_style()
    imgs = [_np(i) for i in images]
    n = len(imgs)
    if n == 0:
        raise ValueError("show_images got no images")
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    with style():
        fig, axes = plt.subplots(nrows, ncols, figsize=(scale * ncols, scale * nrows + (0.3 if title else 0)),
                                 squeeze=False)
        for i, ax in enumerate(axes.flat):
            ax.axis("off")
            if i >= n:
                continue
            img = imgs[i]
            if img.ndim == 3 and img.shape[0] in (1, 3):
                img = img.transpose(1, 2, 0)
            if img.ndim == 3 and img.shape[2] == 1:
                img = img[..., 0]
            if vrange is None and normalize and img.ndim == 2:
                lo, hi = img.min(), img.max()
                img = (img - lo) / (hi - lo + 1e-12)
            vmin, vmax = vrange if vrange is not None else ((0, 1) if normalize else (None, None))
            ax.imshow(img, cmap=cmap if img.ndim == 2 else None, vmin=vmin, vmax=vmax)
            if labels is not None:
                ax.set_title(str(labels[i]), fontsize=8)
        if title:
            fig.suptitle(title)
        fig.tight_layout()
    return fig


def show_filters(weight: torch.Tensor, *, shape: tuple[int, int] | None = None, ncols: int = 8, title: str = "",
                 max_filters: int = 64):
    """Weights as pictures: conv kernels (out, in, kH, kW) show their first input channel; rows of a linear layer
    (out, in_features) are reshaped to ``shape`` (e.g. (28, 28) for MNIST). A diverging map: red +, blue -."""
    use_style()
    w = weight.detach().float().cpu()
    if w.ndim == 4:
        w = w[:, 0]
    elif w.ndim == 2:
        if shape is None:
            side = int(math.isqrt(w.shape[1]))
            if side * side != w.shape[1]:
                raise ValueError(f"cannot reshape rows of {w.shape[1]} features to a square; pass shape=")
            shape = (side, side)
        if shape[0] * shape[1] != w.shape[1]:
            raise ValueError(f"shape {shape} does not match rows of {w.shape[1]} features (weight {tuple(w.shape)})")
        w = w.reshape(-1, *shape)
    else:
        raise ValueError(f"expected a conv weight (out, in, kH, kW) or a linear weight (out, in); got {tuple(w.shape)}")
    w = w[:max_filters]
    ncols = min(ncols, len(w))
    nrows = math.ceil(len(w) / ncols)
    with style():
        fig, axes = plt.subplots(nrows, ncols, figsize=(1.0 * ncols, 1.0 * nrows + (0.3 if title else 0)),
                                 squeeze=False)
        for i, ax in enumerate(axes.flat):
            ax.axis("off")
            if i < len(w):
                lim = float(w[i].abs().max()) + 1e-12
                ax.imshow(w[i].numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim)
        if title:
            fig.suptitle(title)
        fig.tight_layout()
    return fig


def subplots(nrows: int = 1, ncols: int = 1, **kwargs):
    """``plt.subplots`` in dlhist's style (figsize grows with the grid unless given)."""
    use_style()
    kwargs.setdefault("figsize", (5.0 * ncols, 3.6 * nrows))
    kwargs.setdefault("squeeze", False)
    with style():
        fig, axes = plt.subplots(nrows, ncols, **kwargs)
    return fig, axes


def repo_root(start: Path | None = None) -> Path | None:
    """The dlhist repository that holds the working directory (its ``pyproject.toml`` names dlhist), or None."""
    here = (start or Path.cwd()).resolve()
    for cand in (here, *here.parents):
        project = cand / "pyproject.toml"
        if project.is_file() and 'name = "dlhist"' in project.read_text():
            return cand
    return None


def save_figure(fig, name: str):
    """Save ``fig`` as ``images/<name>`` in the repository that holds the working directory, for the main README,
    in full mode only (a smoke run never overwrites committed figures). Outside a clone (Colab) it does nothing."""
    from .settings import is_smoke

    if is_smoke():
        return None
    root = repo_root()
    if root is None:
        return None
    path = root / "images" / name
    path.parent.mkdir(exist_ok=True)
    fig.savefig(path, bbox_inches="tight", dpi=100)
    return path


def show_source(obj) -> None:
    """Show the source code of a function or class: as a highlighted code block in Jupyter, as text elsewhere."""
    import inspect

    src = inspect.getsource(obj).rstrip()
    where = f"{obj.__module__}.{obj.__qualname__}"
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display(Markdown(f"`{where}`\n```python\n{src}\n```"))
    else:
        print(f"# {where}\n{src}")
