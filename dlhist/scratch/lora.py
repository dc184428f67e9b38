"""Low-rank adaptation, LoRA (Hu et al. 2021): fine-tune a frozen weight W through a rank-r update (alpha/r) B A.

    lora = LoRALinear(model.blocks[0].attn.q_proj, r=4, alpha=8)   # W frozen; A (r, in) random, B (out, r) zero
    n = add_lora(model, r=4, targets=("q_proj", "v_proj"))        # freeze the model, adapt every such Linear
    merge_lora(model)                                             # W <- W + (alpha/r) B A: plain Linears again

``LoRALinear(x) = x W^T + b + (alpha / r) (x A^T) B^T``. B starts at zero, so the adapted model starts as the
pre-trained one; A is Gaussian (Section 4.1 of the paper). Only A and B train: ``r (in + out)`` numbers per layer
instead of ``in * out``. ``merged()`` folds the update into the weight, so a deployed model pays no extra matmul.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, r: int, alpha: float | None = None, dropout: float = 0.0):
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise TypeError(f"LoRA adapts an nn.Linear, got {type(base).__name__}")
        limit = min(base.in_features, base.out_features)
        if not isinstance(r, int) or not 1 <= r <= limit:
            raise ValueError(f"LoRA rank r={r!r} must be an integer in 1..min(in_features, out_features) = "
                             f"min({base.in_features}, {base.out_features}) = {limit} for a weight of shape "
                             f"{tuple(base.weight.shape)}")
        self.base, self.r = base, r
        self.alpha = float(r if alpha is None else alpha)
        self.scale = self.alpha / r
        for p in base.parameters():
            p.requires_grad_(False)
        w = base.weight
        self.A = nn.Parameter(torch.randn(r, base.in_features, device=w.device, dtype=w.dtype)
                              / math.sqrt(base.in_features))
        self.B = nn.Parameter(torch.zeros(base.out_features, r, device=w.device, dtype=w.dtype))
        self.drop = nn.Dropout(dropout)

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    def delta(self) -> torch.Tensor:
        """The update (alpha/r) B A, shaped like the weight (out, in)."""
        return self.scale * (self.B @ self.A)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.scale * (self.drop(x) @ self.A.T) @ self.B.T

    @torch.no_grad()
    def merged(self) -> nn.Linear:
        """A plain Linear with weight W + (alpha/r) B A and the base's bias: the same function, one matmul."""
        w = self.base.weight
        out = nn.Linear(self.in_features, self.out_features, bias=self.base.bias is not None, device=w.device,
                        dtype=w.dtype)
        out.weight.copy_(w + self.delta())
        if self.base.bias is not None:
            out.bias.copy_(self.base.bias)
        return out

    def extra_repr(self) -> str:
        return f"r={self.r}, alpha={self.alpha:g}"


def add_lora(model: nn.Module, r: int, alpha: float | None = None, targets: Sequence[str] = ("q_proj", "v_proj"),
             dropout: float = 0.0) -> int:
    """Freeze every parameter of ``model`` and replace each ``nn.Linear`` whose attribute name is in ``targets``
    by a ``LoRALinear``; return how many were adapted (an error if none). Unfreeze a new head afterwards."""
    for p in model.parameters():
        p.requires_grad_(False)
    found = [(parent, name) for parent in model.modules() for name, child in parent.named_children()
             if name in targets and isinstance(child, nn.Linear)]
    if not found:
        raise ValueError(f"no nn.Linear named {list(targets)} in {type(model).__name__}")
    for parent, name in found:
        setattr(parent, name, LoRALinear(getattr(parent, name), r, alpha, dropout))
    return len(found)


def merge_lora(model: nn.Module) -> int:
    """Replace every ``LoRALinear`` in ``model`` by its merged Linear; return how many were merged."""
    found = [(parent, name) for parent in model.modules() for name, child in parent.named_children()
             if isinstance(child, LoRALinear)]
    for parent, name in found:
        setattr(parent, name, getattr(parent, name).merged())
    return len(found)


__all__ = ["LoRALinear", "add_lora", "merge_lora"]
