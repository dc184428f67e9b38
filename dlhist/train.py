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
        """``(x, y)`` for ``key``: per step for keys only steps have (``loss``, ``lr``, ``loss_d``, ...; x = step),
        else per epoch (x = epoch).

        ``by_step=True`` reads the evaluations that ``fit(..., eval_every=N)`` made every N steps (x = step).
        ``<name>_err`` is derived as ``1 - <name>_acc`` when not recorded itself.
        """
        if key.endswith("_err") and key not in self.keys() and key[:-4] + "_acc" in self.keys():
            xs, ys = self.series(key[:-4] + "_acc", by_step)
            return xs, [1 - y for y in ys]
        per_step = by_step or key in ("loss", "lr") or not any(key in r for r in self.epochs)
        rows = self.steps if per_step else self.epochs
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


def to_device(batch, device):
    """Move a batch to ``device``: a tensor, or tuples, lists and dicts of tensors (other values pass through)."""
    if torch.is_tensor(batch):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(v, device) for v in batch) if not hasattr(batch, "_fields") else \
            type(batch)(*(to_device(v, device) for v in batch))
    return batch


def batch_size(batch) -> int:
    """The number of examples in a batch: the first dimension of its first tensor."""
    if torch.is_tensor(batch):
        return batch.shape[0] if batch.dim() else 1
    values = batch.values() if isinstance(batch, Mapping) else batch if isinstance(batch, (tuple, list)) else ()
    for v in values:
        if torch.is_tensor(v) or isinstance(v, (Mapping, tuple, list)):
            try:
                return batch_size(v)
            except ValueError:
                continue
    raise ValueError(f"cannot tell the batch size of a {type(batch).__name__}: it holds no tensor")


def call_model(model: nn.Module, batch):
    """``model(*batch)`` for a tuple or list, ``model(**batch)`` for a dict, ``model(batch)`` for a tensor: how a
    model that computes its own loss (``forward(x, targets) -> loss``) is called by ``fit`` and ``evaluate``."""
    if isinstance(batch, Mapping):
        return model(**batch)
    if isinstance(batch, (tuple, list)):
        return model(*batch)
    return model(batch)


def _split_loss(result, where: str) -> tuple[torch.Tensor, dict]:
    """A step's result, a scalar loss or a dict with a ``"loss"`` entry and other scalars to log."""
    if isinstance(result, Mapping):
        if "loss" not in result:
            raise ValueError(f"{where} returned a dict without a 'loss' entry; it has {sorted(result)}")
        extras = {k: v for k, v in result.items() if k != "loss"}
        clash = sorted(set(extras) & RESERVED_LOGS)
        if clash:
            raise ValueError(f"{where} returned {clash}, names the history uses itself; rename them")
        result = result["loss"]
    else:
        extras = {}
    if not torch.is_tensor(result) or result.dim() != 0:
        shape = tuple(result.shape) if torch.is_tensor(result) else type(result).__name__
        raise ValueError(f"{where} must return a scalar loss tensor (or a dict with one under 'loss'); got {shape}")
    return result, extras


RESERVED_LOGS = {"step", "epoch", "lr", "seconds"}


def _default_metrics(metrics, loss_fn, supervised: bool) -> dict:
    """Accuracy by default for a classifier (cross-entropy); nothing by default for other losses. Metrics need
    supervised outputs: with ``loss_fn=None`` or ``step=`` they are an error, not silently ignored."""
    if not supervised:
        if metrics:
            raise ValueError("metrics= need supervised batches and loss_fn; a step function or a model that returns "
                             "its own loss logs extra values by returning a dict ({'loss': ..., 'name': value})")
        return {}
    if metrics is not None:
        return dict(metrics)
    is_ce = loss_fn is F.cross_entropy or isinstance(loss_fn, nn.CrossEntropyLoss)
    return {"acc": accuracy} if is_ce else {}


def _phase_key(phase: str, key: str) -> str:
    """The name a value is logged under: ``loss``, ``kl`` with one optimizer; ``loss_d``, ``d_kl`` with several."""
    if phase == "":
        return key
    return f"loss_{phase}" if key == "loss" else f"{phase}_{key}"


def _supervised(batch):
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        kind = type(batch).__name__ if not isinstance(batch, (tuple, list)) else f"{len(batch)}-tuple"
        raise ValueError(f"a supervised batch is (inputs, targets, ...), got a {kind}; for a model that computes "
                         f"its own loss pass loss_fn=None, or pass step=fn(model, batch)")
    return batch[0], batch[1]


@torch.no_grad()
def evaluate(model: nn.Module, data: Iterable, loss_fn: Callable | None = F.cross_entropy,
             metrics: Mapping[str, Metric] | None = None, device=None, amp: bool = True,
             step: Callable | Mapping[str, Callable] | None = None) -> dict[str, float]:
    """Mean loss and metrics of ``model`` over ``data``, in eval mode, weighted by batch size.

    Supervised (the default): batches ``(x, y, ...)``, ``loss_fn(model(x), y)`` and ``metrics`` (default accuracy).
    ``loss_fn=None``: the model computes its own loss from the batch (see ``call_model``); ``step=fn(model, batch)``:
    any objective. Both may return a dict whose other scalars are averaged too. A dict of steps (a GAN's phases)
    gives ``loss_<phase>`` for each, as ``fit`` logs them. Runs under ``torch.no_grad()``.
    """
    try:
        device = torch.device(device) if device is not None else next(model.parameters()).device
    except StopIteration:
        raise ValueError("evaluate() cannot tell the device of a model without parameters; pass device=") from None
    supervised = step is None and loss_fn is not None
    metrics = _default_metrics(metrics, loss_fn, supervised)
    phases = _phases(step, loss_fn)
    was_training = model.training
    model.eval()
    totals: dict[str, torch.Tensor] = {}
    n = 0
    try:
        for batch in data:
            batch = to_device(batch, device)
            b = batch_size(batch)
            with autocast(device, amp):
                if supervised:
                    x, y = _supervised(batch)
                    out = model(x)
                    values = {"loss": loss_fn(out, y)}
                else:
                    values = {}
                    for name, fn in phases.items():
                        loss, extras = _split_loss(fn(model, batch), "the step" if name == "" else f"step {name!r}")
                        values[_phase_key(name, "loss")] = loss
                        values.update({_phase_key(name, k): v for k, v in extras.items()})
            for k, v in values.items():
                totals[k] = totals.get(k, 0.0) + torch.as_tensor(v, device=device).detach().float() * b
            for k, fn in metrics.items():
                totals[k] = totals.get(k, 0.0) + fn(out.float(), y).float() * b
            n += b
    finally:
        model.train(was_training)
    if n == 0:
        raise ValueError("evaluate() got no batches")
    return {k: (v / n).item() for k, v in totals.items()}


def _phases(step, loss_fn) -> dict[str, Callable]:
    """The training phases: ``{"": fn}`` for one optimizer, ``{name: fn}`` in order for several."""
    if step is None:
        if loss_fn is None:
            return {"": lambda model, batch: call_model(model, batch)}
        return {}
    if isinstance(step, Mapping):
        if not step:
            raise ValueError("step={} holds no phases")
        return dict(step)
    if callable(step):
        return {"": step}
    raise TypeError(f"step must be a function (model, batch) -> loss, or a dict of them; got {type(step).__name__}")


def _make_optimizer(optimizer, model: nn.Module) -> torch.optim.Optimizer:
    if optimizer is None:
        return torch.optim.Adam(model.parameters(), lr=1e-3)
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    if callable(optimizer):
        return optimizer(model.parameters())
    raise TypeError(f"optimizer must be an Optimizer, a function of the parameters, or None; got {type(optimizer)}")


def _make_optimizers(optimizer, model: nn.Module, phases: dict) -> dict[str, torch.optim.Optimizer]:
    """One optimizer per phase. With several phases, ``optimizer`` is a dict with the same names whose values are
    Optimizers or functions of the *model* (each phase optimizes its own part, e.g. ``m.generator.parameters()``)."""
    names = list(phases) or [""]
    if names == [""]:
        if isinstance(optimizer, Mapping):
            raise TypeError("a dict of optimizers needs a dict of steps with the same names (step={name: fn})")
        return {"": _make_optimizer(optimizer, model)}
    if not isinstance(optimizer, Mapping) or list(optimizer) != names:
        got = list(optimizer) if isinstance(optimizer, Mapping) else type(optimizer).__name__
        raise ValueError(f"step has phases {names}: pass optimizer={{name: ...}} with the same names in the same "
                         f"order, got {got}")
    opts = {}
    for name, o in optimizer.items():
        if isinstance(o, torch.optim.Optimizer):
            opts[name] = o
        elif callable(o):
            opts[name] = o(model)
        else:
            raise TypeError(f"optimizer {name!r} must be an Optimizer or a function of the model, got {type(o)}")
    return opts


def _length(data) -> int | None:
    try:
        return len(data)
    except TypeError:  # an IterableDataset's DataLoader, a generator: no length
        return None


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


def adamw(model: nn.Module, lr: float, weight_decay: float = 0.1, **kwargs) -> torch.optim.AdamW:
    """AdamW (Loshchilov & Hutter 2019) that decays weight matrices and embeddings only (parameters with two or more
    dimensions), not biases, LayerNorm gains or scalars such as CLIP's temperature, as GPT-2/3 and CLIP train.
    ``kwargs`` go to ``torch.optim.AdamW`` (``betas``, ``eps``, ``fused``)."""
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters")
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr, **kwargs)


def inverse_sqrt_schedule(warmup_steps: int):
    """A scheduler factory for ``fit``: the Transformer's schedule (Vaswani et al. 2017, Section 5.3), linear
    warm-up to the optimizer's LR over ``warmup_steps``, then decay as 1/sqrt(step). The paper's
    ``d_model^-0.5 * min(step^-0.5, step * warmup^-1.5)`` is this with a peak LR of ``(d_model * warmup)^-0.5``."""
    if warmup_steps < 1:
        raise ValueError(f"warmup_steps must be at least 1, got {warmup_steps}")

    def make(optimizer, total_steps):
        def factor(step):
            s = step + 1
            return min(s / warmup_steps, math.sqrt(warmup_steps / s))

        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)

    return make


def fit(
    model: nn.Module,
    train: Iterable,
    epochs: int | None = None,
    *,
    steps: int | None = None,
    optimizer=None,
    loss_fn: Callable | None = F.cross_entropy,
    step: Callable | Mapping[str, Callable] | None = None,
    val: Iterable | None = None,
    evals: Mapping[str, Iterable] | None = None,
    metrics: Mapping[str, Metric] | None = None,
    scheduler: Callable | None = None,
    clip_grad: float | None = None,
    amp: bool = True,
    device=None,
    eval_every: int | None = None,
    callback: Callable[[int, nn.Module], bool | None] | None = None,
    until: Callable[[dict], bool] | None = None,
    checkpoint: str | Path | None = None,
    verbose: int = 1,
    name: str = "",
) -> History:
    """Train ``model`` on the batches of ``train`` and return its History: one loop for every kind of model.

    What a step computes:
      supervised (default)  batches ``(x, y, ...)``, loss ``loss_fn(model(x), y)``; ``metrics`` on ``(model(x), y)``.
      ``loss_fn=None``      the model computes its own loss: ``model(*batch)`` (``model(**batch)`` for a dict batch)
                            returns a scalar, or a dict with ``"loss"`` and other scalars to log (a VAE's parts).
      ``step=fn``           ``fn(model, batch)`` returns the loss (or such a dict): any objective (diffusion, ...).
      ``step={"d": fd, "g": fg}`` with ``optimizer={"d": ..., "g": ...}``: several optimizers, one phase each, in
                            order (a GAN: the discriminator, then the generator); each phase's loss is logged as
                            ``loss_<name>``. Dict optimizers are Optimizers or functions of the model.
    How long: ``epochs`` passes over ``train``, or a budget of ``steps`` optimizer steps (for loaders without a
    length, such as an ``IterableDataset`` or an endless generator, ``steps`` is required; passes over the data are
    repeated as needed). With both, training stops at whichever comes first.

    optimizer   an Optimizer, a function ``params -> Optimizer`` (handy in ``compare``), or None for Adam(1e-3).
    val, evals  data evaluated after every epoch (and at the end of a step budget): ``val_loss``, ``val_acc``, ...
    metrics     ``{name: fn(output, target)}``, supervised only; default ``{"acc": accuracy}`` with cross-entropy,
                none with other losses; train batches give ``train_*``.
    scheduler   a function ``(optimizer, total_steps) -> LR scheduler``, stepped after every optimizer step
                (e.g. ``cosine_schedule()``); needs a known number of steps.
    clip_grad   clip the global gradient norm (of the phase's parameters) to this value.
    amp         autocast on CUDA (bf16 where supported); ignored on CPU and MPS.
    eval_every  also evaluate every this many steps; recorded in ``history.steps``.
    callback    called as ``callback(step, model)`` after every optimizer step; returning ``True`` stops training
                there, after the epoch's record.
    until       called with each epoch's record (``{"epoch", "step", "train_loss", "train_acc", "val_acc", ...}``)
                once it is complete; returning ``True`` ends training after that epoch: "until the training error
                reaches 25%" is ``until=lambda r: r["train_acc"] >= 0.75``. The history ends at that epoch.
    checkpoint  a path: model and optimizer state(s) saved there after every epoch (``load_checkpoint`` reads it).
    verbose     -1: silent; 0: a progress bar and one line at the end; 1: also one line per epoch. Saved notebook
                outputs keep only the final lines (``dlhist run`` drops the bar's redraws).

    A NaN or infinite loss raises ``TrainingDiverged`` naming the step.
    """
    from tqdm.std import tqdm

    if epochs is None and steps is None:
        raise ValueError("fit needs epochs= (passes over the data) or steps= (a budget of optimizer steps)")
    for arg, v in (("epochs", epochs), ("steps", steps)):
        if v is not None and (not isinstance(v, int) or v < 1):
            raise ValueError(f"{arg} must be a positive integer, not {v!r}")
    device = torch.device(device) if device is not None else get_device()
    model.to(device)
    supervised = step is None and loss_fn is not None
    phases = _phases(step, loss_fn)
    metrics = _default_metrics(metrics, loss_fn, supervised)
    evals = dict(evals or {})
    if val is not None:
        evals = {"val": val, **evals}
    opts = _make_optimizers(optimizer, model, phases)
    multi = len(opts) > 1
    steps_per_epoch = _length(train)
    if steps_per_epoch is None and steps is None:
        raise ValueError(f"the training data ({type(train).__name__}) has no length, so epochs cannot be counted: "
                         f"pass steps= (a budget of optimizer steps)")
    total = steps if steps is not None else steps_per_epoch * epochs
    if steps is not None and epochs is not None and steps_per_epoch is not None:
        total = min(steps, steps_per_epoch * epochs)
    scheds = {k: scheduler(o, total) for k, o in opts.items()} if scheduler is not None else {}
    scalers = {k: torch.amp.GradScaler("cuda") for k in opts} if amp and amp_dtype(device) == torch.float16 else {}
    history = History(name=name)
    label = f"{name}: " if name else ""
    bar = tqdm(total=total, disable=verbose < 0, leave=False, file=sys.stdout, mininterval=1.0, ncols=100,
               desc=name or "train")
    start = time.perf_counter()
    step_no = 0
    epoch = 0
    loss_keys = [f"loss_{k}" for k in opts] if multi else ["loss"]
    param_lists = {k: [p for g in o.param_groups for p in g["params"]] for k, o in opts.items()}

    def run_evals(record: dict):
        for key, data in evals.items():
            for m, v in evaluate(model, data, loss_fn, metrics, device, amp, step).items():
                record[f"{key}_{m}"] = v

    def backward_step(key: str, loss: torch.Tensor):
        opt = opts[key]
        opt.zero_grad(set_to_none=True)
        scaler = scalers.get(key)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
        else:
            loss.backward()
        if clip_grad is not None:
            nn.utils.clip_grad_norm_(param_lists[key], clip_grad)
        if scaler is not None:
            scaler.step(opt)
            scaler.update()
        else:
            opt.step()

    stop = False
    while not stop and (epochs is None or epoch < epochs) and (steps is None or step_no < steps):
        epoch += 1
        model.train()
        sums: dict[str, float] = {}
        weights: dict[str, int] = {}
        pending: list[tuple[int, dict, dict, float, int]] = []  # step, logged, metrics, lr, batch size
        seen = 0

        def flush():
            """Bring the pending steps' values to the host (one transfer on a GPU), check them, record them."""
            if not pending:
                return
            flat = [v for p in pending for d in (p[1], p[2]) for v in d.values()]
            values = [float(v) for v in flat] if device.type == "cpu" else torch.stack(flat).tolist()
            i = 0
            for s, logged, measured, lr, b in pending:
                rec = {"step": s, "epoch": epoch}
                for d in (logged, measured):
                    for k in d:
                        v = values[i]
                        i += 1
                        if d is logged:
                            if k in loss_keys and not math.isfinite(v):
                                bar.close()
                                raise TrainingDiverged(
                                    f"{label}{k} is {v} at step {s} (epoch {epoch}); training stopped. "
                                    f"Try a lower learning rate, gradient clipping, or check the inputs for NaNs."
                                )
                            rec[k] = v
                        sums[k] = sums.get(k, 0.0) + v * b
                        weights[k] = weights.get(k, 0) + b
                rec["lr"] = lr
                history.steps.append(rec)
            bar.set_postfix_str(f"{loss_keys[0]} {history.steps[-1][loss_keys[0]]:.4f}", refresh=False)
            pending.clear()

        for batch in train:
            batch = to_device(batch, device)
            logged: dict[str, torch.Tensor] = {}
            measured: dict[str, torch.Tensor] = {}
            if supervised:
                x, y = _supervised(batch)
                with autocast(device, amp):
                    out = model(x)
                    loss = loss_fn(out, y)
                backward_step("", loss)
                logged["loss"] = loss.detach()
                b = y.shape[0]
                if metrics:
                    with torch.no_grad():
                        out = out.detach().float()
                        for k, fn in metrics.items():
                            measured[k] = fn(out, y).float()
            else:
                b = batch_size(batch)
                for key, fn in phases.items():
                    where = "the step" if key == "" else f"step {key!r}"
                    with autocast(device, amp):
                        loss, extras = _split_loss(fn(model, batch), where)
                    backward_step(key, loss)
                    logged[_phase_key(key, "loss")] = loss.detach().float()
                    for k, v in extras.items():
                        logged[_phase_key(key, k)] = torch.as_tensor(v).detach().float().to(device)
            step_no += 1
            lr = next(iter(opts.values())).param_groups[0]["lr"]
            for sched in scheds.values():
                sched.step()
            seen += b
            pending.append((step_no, logged, measured, lr, b))
            if len(pending) >= 50 or device.type == "cpu":
                flush()
            if callback is not None and callback(step_no, model) is True:
                stop = True
            if eval_every and step_no % eval_every == 0:
                flush()
                run_evals(history.steps[-1])
                model.train()
            bar.update(1)
            if stop or (steps is not None and step_no >= steps):
                break
        flush()
        if seen == 0:
            bar.close()
            if epoch > 1:
                raise ValueError(f"the training data gave no batches on pass {epoch}, after {step_no} steps: a "
                                 f"generator can be iterated only once. Pass a re-iterable loader, an endless "
                                 f"generator, or a steps= budget no longer than the data")
            raise ValueError("the training data gave no batches")
        record = {"epoch": epoch, "step": step_no, **{f"train_{k}": v / weights[k] for k, v in sums.items()}}
        run_evals(record)
        record["seconds"] = time.perf_counter() - start
        history.epochs.append(record)
        if checkpoint is not None:
            save_checkpoint(checkpoint, model, opts if multi else opts[""], epoch=epoch, step=step_no)
        if verbose >= 1:
            of = f"/{epochs}" if epochs is not None else f" (step {step_no}/{total})"
            bar.write(f"{label}epoch {epoch}{of}  " + _fmt(record))
        if until is not None and until(record) is True:
            stop = True
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


def _plain(value, where: str):
    """Metadata as the plain types that ``torch.load(weights_only=True)`` accepts, or a clear error."""
    import numpy as np

    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if torch.is_tensor(value):
        return value.detach().cpu()
    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise TypeError(f"checkpoint metadata {where} is a {type(value).__name__}, which a weights_only load cannot "
                    f"read back; store numbers, strings, paths, tensors, lists or dicts of them")


def save_checkpoint(path: str | Path, model: nn.Module,
                    optimizer: torch.optim.Optimizer | Mapping[str, torch.optim.Optimizer] | None = None,
                    **meta) -> Path:
    """Save model (and optimizer) state plus metadata, converted to plain types so that ``load_checkpoint`` (with
    ``weights_only=True``) reads back exactly what was saved: numbers (NumPy scalars included), strings, paths (as
    strings), tensors, and lists and dicts of them (a ``Settings`` becomes a dict, a tuple a list)."""
    path = Path(path)
    plain = {k: _plain(v, k) for k, v in meta.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"dlhist_checkpoint": 1, "model": model.state_dict(), "meta": plain}
    if isinstance(optimizer, Mapping):  # several optimizers (a GAN's): each state under its phase name
        state["optimizers"] = {k: o.state_dict() for k, o in optimizer.items()}
    elif optimizer is not None:
        state["optimizer"] = optimizer.state_dict()
    torch.save(state, path)
    return path


def load_checkpoint(path: str | Path, model: nn.Module,
                    optimizer: torch.optim.Optimizer | Mapping[str, torch.optim.Optimizer] | None = None,
                    map_location=None) -> dict:
    """Load a checkpoint written by ``save_checkpoint`` with ``weights_only=True``; returns its metadata.

    A file that is not such a checkpoint (a text file, a bare tensor, a bare ``state_dict``) is refused with an
    error that says what it holds; a pickle that would run code on load raises ``pickle.UnpicklingError``.
    """
    import pickle

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location=map_location or "cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported global" in str(exc):
            raise  # a pickle with arbitrary objects: refused, as it should be
        raise ValueError(f"{path} is not a checkpoint (not a file torch.save wrote): {exc}") from None
    except (RuntimeError, EOFError, OSError) as exc:
        raise ValueError(f"{path} is not a checkpoint (not a file torch.save wrote, or a truncated one): "
                         f"{exc}") from None
    if not isinstance(state, dict) or "model" not in state or "meta" not in state:
        if torch.is_tensor(state):
            what = f"a bare tensor of shape {tuple(state.shape)}"
        elif isinstance(state, dict) and state and all(torch.is_tensor(v) for v in state.values()):
            what = ("a bare state_dict; load it with model.load_state_dict(torch.load(path, weights_only=True))")
        else:
            what = f"a {type(state).__name__}" + (f" with keys {sorted(map(str, state))[:8]}"
                                                  if isinstance(state, dict) else "")
        raise ValueError(f"{path} is not a checkpoint written by dlhist.save_checkpoint: it holds {what}")
    model.load_state_dict(state["model"])
    if isinstance(optimizer, Mapping):
        saved = state.get("optimizers", {})
        if set(saved) != set(optimizer):
            raise KeyError(f"{path} holds optimizer states for {sorted(saved)}, not for {sorted(optimizer)}")
        for k, o in optimizer.items():
            o.load_state_dict(saved[k])
    elif optimizer is not None:
        if "optimizer" not in state:
            raise KeyError(f"{path} holds no optimizer state" + (" (it holds several: pass a dict of optimizers)"
                                                               if "optimizers" in state else ""))
        optimizer.load_state_dict(state["optimizer"])
    return state.get("meta", {})
