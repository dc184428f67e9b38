"""Dropout (Srivastava et al. 2014): random masks in training, weight scaling or Monte-Carlo averaging at test time,
and the max-norm constraint that goes with it.

``p`` is the probability of *dropping* a unit, as in PyTorch (the paper's ``p`` is the probability of *keeping* one).
"""

from __future__ import annotations

import torch
from torch import nn


def dropout(x: torch.Tensor, p: float, training: bool = True, inverted: bool = True) -> torch.Tensor:
    """Zero each element of ``x`` with probability ``p``.

    inverted=True   (PyTorch's form) training scales the kept units by 1/(1-p); evaluation is the identity.
    inverted=False  (the paper's form) training keeps units unscaled; evaluation multiplies by the keep probability
                    1-p, the "weight scaling" rule (here applied to the activations, which is the same thing).
    Either way the expected training output equals the evaluation output.
    """
    if not 0 <= p < 1:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    keep = 1 - p
    if not training or p == 0:
        return x if inverted else x * keep
    mask = torch.rand_like(x) < keep  # each unit survives with probability 1-p
    return x * mask / keep if inverted else x * mask


class Dropout(nn.Module):
    """``dropout`` as a layer: active in ``model.train()``, weight scaling (or identity) in ``model.eval()``."""

    def __init__(self, p: float = 0.5, inverted: bool = True):
        super().__init__()
        self.p, self.inverted = p, inverted

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training, self.inverted)

    def extra_repr(self) -> str:
        return f"p={self.p}, inverted={self.inverted}"


@torch.no_grad()
def mc_predict(model: nn.Module, x: torch.Tensor, samples: int) -> torch.Tensor:
    """Monte-Carlo model averaging: the mean softmax over ``samples`` random dropout masks (section 7.5).

    Every other layer stays in evaluation mode; only the dropout layers keep sampling masks.
    """
    was_training = model.training
    model.eval()
    drops = [m for m in model.modules() if isinstance(m, (Dropout, nn.Dropout))]
    for m in drops:
        m.train()
    try:
        probs = sum(torch.softmax(model(x), dim=1) for _ in range(samples)) / samples
    finally:
        model.train(was_training)
        if not was_training:
            for m in drops:
                m.eval()
    return probs


@torch.no_grad()
def max_norm_(model: nn.Module, c: float) -> None:
    """Project every hidden unit's incoming weight vector onto the ball of radius ``c``: w <- w * min(1, c/|w|).

    Applied after each optimizer step to every Linear layer except the last (the output layer), as in section 5.1.
    """
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)][:-1]
    for layer in linears:
        norms = layer.weight.norm(dim=1, keepdim=True)  # one row per hidden unit
        layer.weight.mul_(torch.clamp(c / (norms + 1e-12), max=1.0))
