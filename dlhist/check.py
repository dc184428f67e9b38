"""Twin checks: a from-scratch piece against its PyTorch (or library) twin, one helper for notebooks and tests.

    d = check.module_diff(LayerNorm(64), nn.LayerNorm(64), torch.randn(4, 10, 64))   # outputs and all gradients
    d = check.function_diff(gelu, F.gelu, torch.randn(100))
    d = check.recurrent_diff(Recurrent(LSTMCell(5, 8)), nn.LSTM(5, 8), torch.randn(20, 3, 5))  # every step, state
    check.report({"LayerNorm (4, 10, 64)": d}, tol=1e-10, twin="nn.LayerNorm")       # prints each difference
    check.passed({"LayerNorm (4, 10, 64)": d}, tol=1e-10, twin="nn.LayerNorm")       # prints True/False, asserts

Checks run in float64 by default, so a tolerance of about 1e-10 separates "the same computation" from "a bug".
``report`` prints the measured differences (they depend on the BLAS, so never in an output that nbval compares);
``passed`` prints only pass/fail lines (safe under ``# NBVAL_CHECK_OUTPUT``) and raises if any check failed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn


def max_diff(ours, reference) -> float:
    """The largest absolute difference between two tensors, or two equally shaped sequences of tensors."""
    if torch.is_tensor(ours) or torch.is_tensor(reference):
        if not (torch.is_tensor(ours) and torch.is_tensor(reference)):
            raise TypeError(f"compare a tensor with a tensor, not {type(ours).__name__} with "
                            f"{type(reference).__name__}")
        if ours.shape != reference.shape:
            raise ValueError(f"shapes differ: ours {tuple(ours.shape)}, reference {tuple(reference.shape)}")
        if ours.numel() == 0:
            return 0.0
        a, b = ours.detach().double(), reference.detach().double()
        if (a.isnan() != b.isnan()).any():
            return math.inf  # a NaN on one side only is the largest difference there is
        same = (a == b) | (a.isnan() & b.isnan())  # equal infinities and NaN in both places agree
        return (a - b).abs().masked_fill(same, 0.0).max().item()
    ours, reference = list(ours), list(reference)
    if len(ours) != len(reference):
        raise ValueError(f"ours has {len(ours)} tensors, the reference {len(reference)}")
    return _max(max_diff(a, b) for a, b in zip(ours, reference))


def _max(values) -> float:
    """The largest of ``values``, where a NaN counts as the largest (Python's ``max`` would drop it)."""
    out = 0.0
    for v in values:
        if math.isnan(v) or v > out:
            out = math.inf if math.isnan(v) else v
    return out


def _outputs(out) -> list[torch.Tensor]:
    if torch.is_tensor(out):
        return [out]
    flat = []
    for o in out:
        flat += _outputs(o) if not torch.is_tensor(o) else [o]
    return flat


def function_diff(ours: Callable, reference: Callable, *inputs: torch.Tensor, grad: bool = True,
                  seed: int = 0) -> float:
    """Largest difference of outputs and (with ``grad``) of the gradients with respect to floating-point inputs,
    for a random upstream gradient. Inputs are used as given (pass float64 for tight tolerances)."""
    g = torch.Generator().manual_seed(seed)
    xs_a = [x.detach().clone().requires_grad_(grad and x.is_floating_point()) for x in inputs]
    xs_b = [x.detach().clone().requires_grad_(grad and x.is_floating_point()) for x in inputs]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        out_a = _outputs(ours(*xs_a))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        out_b = _outputs(reference(*xs_b))
    diff = max_diff(out_a, out_b)
    if grad:
        leaves = [i for i, x in enumerate(xs_a) if x.requires_grad]
        if leaves:
            dys = [torch.randn(o.shape, generator=g, dtype=o.dtype).to(o.device) for o in out_a]
            ga = torch.autograd.grad(out_a, [xs_a[i] for i in leaves], dys, allow_unused=True)
            gb = torch.autograd.grad(out_b, [xs_b[i] for i in leaves], dys, allow_unused=True)
            for a, b in zip(ga, gb):
                if (a is None) != (b is None):
                    raise ValueError("one implementation's output does not depend on an input the other's does")
                if a is not None:
                    diff = _max([diff, max_diff(a, b)])
    return diff


def copy_state(ours: nn.Module, reference: nn.Module, names: Mapping[str, str] | None = None) -> None:
    """Copy the reference's parameters and buffers into ``ours``. ``names`` maps our names to the reference's where
    they differ; every one of our entries must be matched, or the error lists both sets of names."""
    names = dict(names or {})
    ref_state = reference.state_dict()
    mine = ours.state_dict()
    missing = [k for k in mine if names.get(k, k) not in ref_state]
    if missing:
        raise KeyError(f"no reference entry for our {missing}; the reference has {sorted(ref_state)} "
                       f"(pass names={{ours: reference}} to map them)")
    ours.load_state_dict({k: ref_state[names.get(k, k)].clone() for k in mine})


def perturb_(module: nn.Module, scale: float = 0.1, seed: int = 0) -> nn.Module:
    """Add small random noise to every floating-point parameter, so that default initial values (ones, zeros)
    cannot hide a bug in a check."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            if p.is_floating_point():
                p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype).to(p.device))
    return module


def module_diff(ours: nn.Module, reference: nn.Module, *inputs: torch.Tensor, batches: int = 1,
                modes: Sequence[str] = ("train", "eval"), names: Mapping[str, str] | None = None,
                dtype: torch.dtype | None = torch.float64, seed: int = 0, grad: bool = True) -> float:
    """Largest difference between two modules with the same state: outputs, gradients (inputs and parameters)
    and buffers (running statistics), in each of ``modes``.

    The reference is perturbed, then its state is copied into ours (``names`` maps differing names). ``inputs``
    are one batch; with ``batches > 1`` further random batches of the same shapes follow in training mode, so
    that running statistics accumulate. Both modules are converted to ``dtype`` (float64 by default) in place, and
    both forwards of a step see the same random numbers (dropout masks agree). If one side's output needs gradients
    and the other's does not (a detached implementation), that is an error.
    """
    if dtype is not None:
        ours, reference = ours.to(dtype), reference.to(dtype)
        inputs = tuple(x.to(dtype) if x.is_floating_point() else x for x in inputs)
    perturb_(reference, seed=seed)
    copy_state(ours, reference, names)
    g = torch.Generator().manual_seed(seed + 1)
    names = dict(names or {})
    ref_params = dict(reference.named_parameters())
    pairs = [(p, ref_params[names.get(k, k)]) for k, p in ours.named_parameters()]
    diff = 0.0
    for mode in modes:
        ours.train(mode == "train")
        reference.train(mode == "train")
        for b in range(batches if mode == "train" else 1):
            xs = inputs if b == 0 else tuple(
                torch.randn(x.shape, generator=g, dtype=x.dtype).to(x.device) if x.is_floating_point() else x
                for x in inputs)
            for m in (ours, reference):
                m.zero_grad(set_to_none=True)
            xa = [x.detach().clone().requires_grad_(grad and x.is_floating_point()) for x in xs]
            xb = [x.detach().clone().requires_grad_(grad and x.is_floating_point()) for x in xs]
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed + 100 + b)
                out_a = _outputs(ours(*xa))
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed + 100 + b)
                out_b = _outputs(reference(*xb))
            diff = _max([diff, max_diff(out_a, out_b)])
            needs = [any(o.requires_grad for o in out) for out in (out_a, out_b)]
            if grad and needs[0] != needs[1]:
                raise ValueError(f"{'our' if needs[1] else 'the reference'} output does not depend on any "
                                 f"parameter or input with a gradient, while the other's does (a detached output?)")
            if grad and needs[0]:
                dys = [torch.randn(o.shape, generator=g, dtype=o.dtype).to(o.device) for o in out_a]
                torch.autograd.backward(out_a, dys)
                torch.autograd.backward(out_b, dys)
                for a, b_ in zip(xa, xb):
                    if a.grad is not None or b_.grad is not None:
                        diff = _max([diff, max_diff(_grad(a), _grad(b_))])
                for pa, pb in pairs:
                    if pa.grad is not None or pb.grad is not None:
                        diff = _max([diff, max_diff(_grad(pa), _grad(pb))])
            ref_buffers = dict(reference.named_buffers())
            for k, buf in ours.named_buffers():
                if buf.is_floating_point():
                    diff = _max([diff, max_diff(buf, ref_buffers[names.get(k, k)])])
    return diff


class _Flat(nn.Module):
    """A recurrent module's outputs and final state as one flat tuple, each state as ``(B, H)``."""

    def __init__(self, rnn: nn.Module):
        super().__init__()
        self.rnn = rnn

    def forward(self, x):
        out, state = self.rnn(x)
        states = state if isinstance(state, tuple) else (state,)
        return (out, *(s.reshape(s.shape[-2:]) for s in states))


_RNN_WEIGHTS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def recurrent_diff(ours: nn.Module, reference: nn.Module, x: torch.Tensor, **kwargs) -> float:
    """``module_diff`` for a one-layer recurrent module: our ``scratch.rnn.Recurrent(cell)`` against ``nn.RNN``,
    ``nn.LSTM`` or ``nn.GRU`` on the sequence ``x``, comparing every step's output, the final state (ours is
    ``(B, H)``, PyTorch's ``(1, B, H)``) and all gradients. The cell's ``weight_ih``... map to PyTorch's
    ``weight_ih_l0``...; ``kwargs`` go to ``module_diff``."""
    names = {f"rnn.cell.{k}": f"rnn.{k}_l0" for k in _RNN_WEIGHTS}
    return module_diff(_Flat(ours), _Flat(reference), x, names=names, **kwargs)


def _grad(t: torch.Tensor) -> torch.Tensor:
    return t.grad if t.grad is not None else torch.zeros_like(t)


def report(checks: Mapping[str, float], *, twin: str = "PyTorch") -> None:
    """Print each check's largest difference (for the reader; the numbers depend on the BLAS)."""
    width = max(map(len, checks), default=0)
    for name, d in checks.items():
        print(f"{name:<{width}}  largest difference to {twin}: {d:.1e}")


def passed(checks: Mapping[str, float], tol: float, *, twin: str = "PyTorch") -> None:
    """Print whether each check is within ``tol`` (stable output, safe to compare), and raise if one is not."""
    width = max(map(len, checks), default=0)
    for name, d in checks.items():
        print(f"{name:<{width}}  matches {twin} (to {tol:.0e}): {d <= tol}")
    failed = [name for name, d in checks.items() if not d <= tol]
    if failed:
        raise AssertionError(f"differs from {twin} by more than {tol:.0e}: "
                             + ", ".join(f"{n} ({checks[n]:.1e})" for n in failed))

