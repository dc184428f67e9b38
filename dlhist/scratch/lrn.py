"""Local response normalisation (Krizhevsky, Sutskever & Hinton 2012, section 3.3), written from scratch.

Each activation is divided by a power of the summed squares of its neighbours *across channels* at the same
position, a form of lateral inhibition: a channel that fires strongly damps the channels next to it.

    b[c] = a[c] / (k + alpha / size * sum_{c' in window(c)} a[c']^2) ** beta

``window(c)`` runs from ``c - size // 2`` to ``c + (size - 1) // 2``, clipped to the existing channels. This is
PyTorch's convention (``nn.LocalResponseNorm``), which divides ``alpha`` by ``size``; the paper writes the sum
without that division, so the paper's ``alpha = 1e-4`` is PyTorch's ``alpha = size * 1e-4`` (see ``from_paper``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def local_response_norm(x: torch.Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 1.0) -> torch.Tensor:
    """LRN over dimension 1 (channels) of ``x`` of shape (N, C, ...), with PyTorch's meaning of the arguments."""
    if x.ndim < 3:
        raise ValueError(f"expected (N, C, ...) with at least 3 dimensions, got shape {tuple(x.shape)}")
    if size < 1:
        raise ValueError(f"size must be positive, not {size}")
    channels = x.shape[1]
    squares = x * x
    # Zero channels before and after, so that every channel has a full window; the zeros add nothing to the sum.
    pad = [0, 0] * (x.ndim - 2) + [size // 2, (size - 1) // 2]
    padded = F.pad(squares, pad)
    window_sum = sum(padded[:, i:i + channels] for i in range(size))  # channel c sums padded[c .. c + size - 1]
    return x / (k + alpha / size * window_sum) ** beta


class LocalResponseNorm(nn.Module):
    """A module around ``local_response_norm``; a drop-in twin of ``torch.nn.LocalResponseNorm``."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    @classmethod
    def from_paper(cls, n: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0) -> LocalResponseNorm:
        """The paper's constants (k=2, n=5, alpha=1e-4, beta=0.75), converted to PyTorch's scaling of alpha."""
        return cls(size=n, alpha=alpha * n, beta=beta, k=k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"size={self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
