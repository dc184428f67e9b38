"""Activation functions from scratch: ReLU (Nair & Hinton 2010; Glorot et al. 2011), ELU (Clevert et al. 2016) and
GELU (Hendrycks & Gimpel 2016), exact and tanh-approximated, with their derivatives written out by hand.

Each function is a plain tensor expression, so autograd differentiates it; the ``*_grad`` functions give the same
derivatives in closed form. ``tests/test_scratch_activations.py`` checks values and gradients against
``F.relu``, ``F.elu`` and ``F.gelu`` (``approximate="none"`` and ``"tanh"``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
GELU_TANH_COEF = 0.044715


def relu(x: torch.Tensor) -> torch.Tensor:
    """max(0, x): the identity for positive inputs, an exact zero otherwise; NaN stays NaN, as in ``torch.relu``.

    The test is ``x <= 0`` rather than ``x > 0``: every comparison with NaN is false, so NaN falls on the identity
    branch and propagates (and so does its gradient), instead of being silently replaced by 0.
    """
    return torch.where(x <= 0, torch.zeros_like(x), x)


def relu_grad(x: torch.Tensor) -> torch.Tensor:
    """0 where x <= 0 (PyTorch also takes 0 at x = 0), else 1; 1 at NaN too, like autograd through ``torch.relu``."""
    return (~(x <= 0)).to(x.dtype)


def elu(x: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """x for x > 0, alpha * (exp(x) - 1) otherwise: ReLU with a smooth negative saturation at -alpha.

    The inner ``where`` feeds exp() only non-positive values: exp() of a large input on the branch the outer
    ``where`` discards would be inf, and its gradient 0 * inf a NaN in the backward pass. Both test ``x <= 0`` so
    that NaN takes the identity branch: NaN out, and gradient 1, exactly like ``F.elu``.
    """
    return torch.where(x <= 0, alpha * torch.expm1(torch.where(x <= 0, x, 0.0)), x)


def elu_grad(x: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """alpha * exp(x) for x <= 0, else 1 (NaN included, as in PyTorch's ELU backward)."""
    return torch.where(x <= 0, alpha * torch.exp(torch.where(x <= 0, x, 0.0)), torch.ones_like(x))


def normal_cdf(x: torch.Tensor) -> torch.Tensor:
    """Phi(x) = P(X <= x) for X ~ N(0, 1), through the error function."""
    return 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


def normal_pdf(x: torch.Tensor) -> torch.Tensor:
    """phi(x), the standard normal density."""
    return torch.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def gelu(x: torch.Tensor) -> torch.Tensor:
    """The exact GELU, x * Phi(x): the input weighted by the probability that a standard normal is below it."""
    return x * normal_cdf(x)


def gelu_grad(x: torch.Tensor) -> torch.Tensor:
    """d/dx [x Phi(x)] = Phi(x) + x phi(x)."""
    return normal_cdf(x) + x * normal_pdf(x)


def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    """The paper's tanh approximation, 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    return 0.5 * x * (1.0 + torch.tanh(SQRT_2_OVER_PI * (x + GELU_TANH_COEF * x**3)))


def gelu_tanh_grad(x: torch.Tensor) -> torch.Tensor:
    """Product and chain rule on the tanh approximation: 0.5 (1 + t) + 0.5 x (1 - t^2) u'(x)."""
    t = torch.tanh(SQRT_2_OVER_PI * (x + GELU_TANH_COEF * x**3))
    du = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_TANH_COEF * x**2)
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du


def gelu_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """The paper's cheaper approximation, x * sigmoid(1.702 x) (no PyTorch twin; compare it with ``gelu``)."""
    return x * torch.sigmoid(1.702 * x)


class Activation(nn.Module):
    """Wrap one of the functions above as a layer, e.g. ``mlp(sizes, lambda: Activation(gelu))``."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor]):
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)

    def extra_repr(self) -> str:
        return self.fn.__name__
