"""The training loop every supervised notebook uses: ``fit``, ``evaluate``, ``compare`` and checkpoints.

``fit`` trains one model and returns a ``History`` (per step and per epoch). ``compare`` trains several
configurations under the same seed and returns their histories, so an ablation is one call.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .device import amp_dtype, autocast, get_device, seed_everything

Metric = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def accuracy(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Fraction of rows whose arg-max equals the target (class dimension 1, so it also works per pixel)."""
    return (output.argmax(dim=1) == target).float().mean()


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite: training stops rather than carry on with garbage."""


@dataclass
class History:
    """What ``fit`` recorded: ``steps`` (one dict per optimizer step) and ``epochs`` (one dict per epoch)."""

    name: str = ""
    steps: list[dict] = field(default_factory=list)
    epochs: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    def series(self, key: str, by_step: bool = False) -> tuple[list[float], list[float]]:
        """``(x, y)`` for ``key``: per step for ``loss``/``lr`` (x = step), else per epoch (x = epoch).

        ``by_step=True`` reads the evaluations that ``fit(..., eval_every=N)`` made every N steps (x = step).
        ``<name>_err`` is derived as ``1 - <name>_acc`` when not recorded itself.
        """
        if key.endswith("_err") and key not in self.keys() and key[:-4] + "_acc" in self.keys():
            xs, ys = self.series(key[:-4] + "_acc", by_step)
            return xs, [1 - y for y in ys]
        rows = self.steps if by_step or key in ("loss", "lr") else self.epochs
        pts = [(r["step" if rows is self.steps else "epoch"], r[key]) for r in rows if key in r]
        if not pts:
            raise KeyError(f"history {self.name!r} has no {key!r}; it has {self.keys()}")
        xs, ys = zip(*pts)
        return list(xs), list(ys)

    def keys(self) -> list[str]:
        keys = {k for r in self.steps + self.epochs for k in r}
        return sorted(keys - {"step", "epoch"})

    def last(self, key: str) -> float:
        return self.series(key)[1][-1]

    def best(self, key: str, higher_is_better: bool | None = None) -> float:
        """The best value of ``key``; higher is better unless the key is a loss or an error (or you say so)."""
        if higher_is_better is None:
            higher_is_better = not (key.endswith("loss") or key.endswith("_err"))
        ys = self.series(key)[1]
        return max(ys) if higher_is_better else min(ys)

    def first(self, key: str, target: float, higher_is_better: bool | None = None, by_step: bool = False):
        """The first step (per-step keys) or epoch at which ``key`` reaches ``target``; None if it never does.

        For "trains faster" claims: ``h.first("train_err", 0.25)`` is the epoch where training error first
        falls to 25%; ``h.first("val_acc", 0.97, by_step=True)`` the step where an ``eval_every`` evaluation first
        reaches 97% accuracy. Direction as in ``best``.
        """
        if higher_is_better is None:
            higher_is_better = not (key.endswith("loss") or key.endswith("_err"))
        for x, y in zip(*self.series(key, by_step)):
            if (y >= target) if higher_is_better else (y <= target):
                return x
        return None

    def to_dict(self) -> dict:
        return {"name": self.name, "steps": self.steps, "epochs": self.epochs, "seconds": self.seconds}


def _batches_to(batch, device):
    return tuple(t.to(device, non_blocking=True) if torch.is_tensor(t) else t for t in batch)


@torch.no_grad()
def evaluate(model: nn.Module, data: Iterable, loss_fn: Callable = F.cross_entropy,
             metrics: Mapping[str, Metric] | None = None, device=None, amp: bool = True) -> dict[str, float]:
    """Mean loss and metrics of ``model`` over ``data`` (an iterable of ``(x, y)`` batches), in eval mode."""
    metrics = {"acc": accuracy} if metrics is None else metrics
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    totals = {"loss": torch.zeros((), device=device), **{k: torch.zeros((), device=device) for k in metrics}}
    n = 0
    for batch in data:
        x, y = _batches_to(batch, device)[:2]
        with autocast(device, amp):
            out = model(x)
            loss = loss_fn(out, y)
        b = y.shape[0]
        totals["loss"] += loss.float() * b
        for k, fn in metrics.items():
            totals[k] += fn(out.float(), y).float() * b
        n += b
    model.train(was_training)
    if n == 0:
        raise ValueError("evaluate() got no batches")
    return {k: (v / n).item() for k, v in totals.items()}


def _make_optimizer(optimizer, model: nn.Module) -> torch.optim.Optimizer:
    if optimizer is None:
        return torch.optim.Adam(model.parameters(), lr=1e-3)
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    if callable(optimizer):
        return optimizer(model.parameters())
    raise TypeError(f"optimizer must be an Optimizer, a function of the parameters, or None; got {type(optimizer)}")


def cosine_schedule(warmup_steps: int = 0, final_fraction: float = 0.0):
    """A scheduler factory for ``fit``: linear warm-up, then cosine decay to ``final_fraction`` of the base LR."""

    def make(optimizer, total_steps):
        def factor(step):
            if step < warmup_steps:
                return (step + 1) / warmup_steps
            t = (step - warmup_steps) / max(1, total_steps - warmup_steps)
            return final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))

        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)

    return make


def fit(
    model: nn.Module,
    train: Iterable,
    epochs: int,
    *,
    optimizer=None,
    loss_fn: Callable = F.cross_entropy,
    val: Iterable | None = None,
    evals: Mapping[str, Iterable] | None = None,
    metrics: Mapping[str, Metric] | None = None,
    scheduler: Callable | None = None,
    clip_grad: float | None = None,
    amp: bool = True,
    device=None,
    eval_every: int | None = None,
    callback: Callable[[int, nn.Module], None] | None = None,
    verbose: int = 1,
    name: str = "",
) -> History:
    """Train ``model`` for ``epochs`` over ``train`` (an iterable of ``(x, y)`` batches) and return its History.

    optimizer   an Optimizer, a function ``params -> Optimizer`` (handy in ``compare``), or None for Adam(1e-3).
    val, evals  data evaluated after every epoch, recorded as ``val_loss``, ``val_acc``, ``<name>_loss``, ...
    metrics     ``{name: fn(output, target)}``; default ``{"acc": accuracy}``. Training batches give ``train_*``.
    scheduler   a function ``(optimizer, total_steps) -> LR scheduler``, stepped after every optimizer step
                (e.g. ``cosine_schedule()``).
    clip_grad   clip the global gradient norm to this value.
    amp         autocast on CUDA (bf16 where supported); ignored on CPU and MPS.
    eval_every  also evaluate every this many steps; recorded in ``history.steps``.
    callback    called as ``callback(step, model)`` after every optimizer step.
    verbose     -1: silent; 0: a progress bar and one line at the end; 1: also one line per epoch. Saved notebook
                outputs keep only the final lines (``dlhist run`` drops the bar's redraws).

    A NaN or infinite loss raises ``TrainingDiverged`` naming the step.
    """
    from tqdm.std import tqdm

    device = torch.device(device) if device is not None else get_device()
    model.to(device)
    metrics = {"acc": accuracy} if metrics is None else metrics
    evals = dict(evals or {})
    if val is not None:
        evals = {"val": val, **evals}
    opt = _make_optimizer(optimizer, model)
    steps_per_epoch = len(train) if hasattr(train, "__len__") else None
    total = steps_per_epoch * epochs if steps_per_epoch else None
    sched = scheduler(opt, total or epochs) if scheduler is not None else None
    scaler = torch.amp.GradScaler("cuda") if amp and amp_dtype(device) == torch.float16 else None
    history = History(name=name)
    label = f"{name}: " if name else ""
    bar = tqdm(total=total, disable=verbose < 0, leave=False, file=sys.stdout, mininterval=1.0, ncols=100,
               desc=name or "train")
    start = time.perf_counter()
    step = 0

    def run_evals(record: dict):
        for key, data in evals.items():
            for m, v in evaluate(model, data, loss_fn, metrics, device, amp).items():
                record[f"{key}_{m}"] = v

    for epoch in range(1, epochs + 1):
        model.train()
        sums = {"loss": torch.zeros((), device=device), **{k: torch.zeros((), device=device) for k in metrics}}
        pending: list[tuple[int, torch.Tensor, float]] = []
        seen = 0

        def flush():
            if not pending:
                return
            values = torch.stack([p[1] for p in pending]).tolist()
            for (s, _, lr), v in zip(pending, values):
                if not math.isfinite(v):
                    bar.close()
                    raise TrainingDiverged(
                        f"{label}loss is {v} at step {s} (epoch {epoch}); training stopped. "
                        f"Try a lower learning rate, gradient clipping, or check the inputs for NaNs."
                    )
                history.steps.append({"step": s, "epoch": epoch, "loss": v, "lr": lr})
            bar.set_postfix_str(f"loss {values[-1]:.4f}", refresh=False)
            pending.clear()

        for batch in train:
            x, y = _batches_to(batch, device)[:2]
            with autocast(device, amp):
                out = model(x)
                loss = loss_fn(out, y)
            opt.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.unscale_(opt)
            else:
                loss.backward()
            if clip_grad is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
            if scaler is not None:
                scaler.step(opt)
                scaler.update()
            else:
                opt.step()
            step += 1
            lr = opt.param_groups[0]["lr"]
            if sched is not None:
                sched.step()
            b = y.shape[0]
            seen += b
            detached = loss.detach().float()
            sums["loss"] += detached * b
            with torch.no_grad():
                for k, fn in metrics.items():
                    sums[k] += fn(out.detach().float(), y).float() * b
            pending.append((step, detached, lr))
            if len(pending) >= 50 or device.type == "cpu":
                flush()
            if callback is not None:
                callback(step, model)
            if eval_every and step % eval_every == 0:
                flush()
                run_evals(history.steps[-1])
                model.train()
            bar.update(1)
        flush()
        if seen == 0:
            raise ValueError("the training data gave no batches")
        record = {"epoch": epoch, "step": step, **{f"train_{k}": (v / seen).item() for k, v in sums.items()}}
        run_evals(record)
        record["seconds"] = time.perf_counter() - start
        history.epochs.append(record)
        if verbose >= 1:
            bar.write(f"{label}epoch {epoch}/{epochs}  " + _fmt(record))
    bar.close()
    history.seconds = time.perf_counter() - start
    if verbose == 0:
        print(f"{label}done in {history.seconds:.1f}s  " + _fmt(history.epochs[-1]), flush=True)
    return history


def _fmt(record: dict) -> str:
    parts = []
    for k, v in record.items():
        if k in ("epoch", "step", "seconds"):
            continue
        parts.append(f"{k} {v:.2%}" if k.endswith("acc") else f"{k} {v:.4f}")
    return "  ".join(parts) + f"  ({record['seconds']:.1f}s)" if "seconds" in record else "  ".join(parts)


def compare(
    configs: Mapping[str, Callable[[], nn.Module] | Mapping],
    *,
    seeds: int | Sequence[int] = 0,
    **fit_kwargs,
) -> dict[str, History | list[History]]:
    """Train several configurations with the same data, seed(s) and settings; return ``{name: History}``.

    Each value of ``configs`` is a model factory (``lambda: MLP(...)``) or a dict with ``model`` (the factory) and
    any ``fit`` argument to override for that run (``{"model": ..., "optimizer": ...}``). With a sequence of seeds,
    each name maps to a list of histories, one per seed. ``fit_kwargs`` go to every run (``train``, ``epochs``, ...).

        runs = compare({"relu": lambda: mlp(nn.ReLU), "tanh": lambda: mlp(nn.Tanh)}, train=tr, val=te, epochs=5)
    """
    seed_list = [seeds] if isinstance(seeds, int) else list(seeds)
    fit_kwargs.setdefault("verbose", 0)
    results: dict[str, list[History]] = {}
    for name, spec in configs.items():
        spec = {"model": spec} if callable(spec) else dict(spec)
        if "model" not in spec:
            raise ValueError(f"config {name!r} needs a 'model' factory; got keys {sorted(spec)}")
        factory = spec.pop("model")
        kwargs = {**fit_kwargs, **spec}
        for seed in seed_list:
            seed_everything(seed)
            model = factory()
            run_name = name if len(seed_list) == 1 else f"{name} (seed {seed})"
            hist = fit(model, name=run_name, **kwargs)
            hist.model = model  # keep the trained model for inspection
            results.setdefault(name, []).append(hist)
    return {k: (v[0] if isinstance(seeds, int) else v) for k, v in results.items()}


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def save_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    **meta) -> Path:
    """Save model (and optimizer) state plus plain metadata (numbers, strings, lists, dicts)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"model": model.state_dict(), "meta": meta}
    if optimizer is not None:
        state["optimizer"] = optimizer.state_dict()
    torch.save(state, path)
    return path


def load_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    map_location=None) -> dict:
    """Load a checkpoint written by ``save_checkpoint`` with ``weights_only=True``; returns its metadata."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    state = torch.load(path, map_location=map_location or "cpu", weights_only=True)
    model.load_state_dict(state["model"])
    if optimizer is not None:
        if "optimizer" not in state:
            raise KeyError(f"{path} holds no optimizer state")
        optimizer.load_state_dict(state["optimizer"])
    return state.get("meta", {})
