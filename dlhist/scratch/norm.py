"""Batch normalization (Ioffe & Szegedy 2015) and layer normalization (Ba, Kiros & Hinton 2016), from scratch.

Both standardise activations, ``x_hat = (x - mean) / sqrt(var + eps)``, then rescale them with a learned gain and
bias, ``y = gamma * x_hat + beta``. They differ only in *which* numbers the mean and variance are taken over:

- batch norm: per feature (channel), over the examples of the mini-batch (and every spatial position);
  at inference it uses running averages of those statistics instead, so it behaves differently in train and eval;
- layer norm: per example, over its own features; the same computation in training and at inference.

Functional forms (``batch_norm``, ``layer_norm``), the hand-derived backward pass of batch norm
(``batch_norm_backward``), and ``nn.Module`` forms (``BatchNorm``, ``LayerNorm``) that match ``nn.BatchNorm1d``/
``nn.BatchNorm2d`` and ``nn.LayerNorm``. ``tests/test_scratch_norm.py`` checks them against PyTorch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def _per_channel(x: torch.Tensor) -> tuple[list[int], list[int]]:
    """The dimensions batch norm averages over (all but the channel dimension 1) and the shape of a statistic."""
    dims = [0] + list(range(2, x.ndim))
    shape = [1, x.shape[1]] + [1] * (x.ndim - 2)
    return dims, shape


def batch_norm(x: torch.Tensor, running_mean: torch.Tensor | None = None, running_var: torch.Tensor | None = None,
               weight: torch.Tensor | None = None, bias: torch.Tensor | None = None, training: bool = True,
               momentum: float = 0.1, eps: float = 1e-5) -> torch.Tensor:
    """Batch normalization of ``x`` of shape (N, C) or (N, C, *spatial), one mean and variance per channel C.

    training  normalise with the mini-batch's own statistics (biased variance, as in the paper's Algorithm 1) and,
              if running buffers are given, update them in place: ``running = (1 - momentum) * running +
              momentum * batch_statistic``, with the *unbiased* variance (what PyTorch stores).
    eval      normalise with the running statistics: a fixed affine map of each example, independent of the batch.
    """
    dims, shape = _per_channel(x)
    if training:
        n = x.numel() // x.shape[1]  # values per channel
        if n < 2:
            raise ValueError(f"batch norm needs more than 1 value per channel when training, got {tuple(x.shape)}")
        mean = x.mean(dims)
        var = x.var(dims, unbiased=False)
        if running_mean is not None and running_var is not None:
            with torch.no_grad():
                running_mean.mul_(1 - momentum).add_(momentum * mean)
                running_var.mul_(1 - momentum).add_(momentum * var * n / (n - 1))
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch norm in eval mode needs the running statistics")
        mean, var = running_mean, running_var
    y = (x - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + eps)
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


def batch_norm_backward(dy: torch.Tensor, x: torch.Tensor, weight: torch.Tensor | None = None, eps: float = 1e-5):
    """Gradients of training-mode batch norm by hand: returns ``(dx, dweight, dbias)`` given ``dy = dL/dy``.

    The mean and variance depend on every example, so each input's gradient has three terms (Ioffe & Szegedy,
    Section 3); they collapse to ``dx = gamma / sqrt(var + eps) * (dy - mean(dy) - x_hat * mean(dy * x_hat))``,
    means taken per channel over the batch.
    """
    dims, shape = _per_channel(x)
    mean = x.mean(dims, keepdim=True)
    inv_std = 1 / torch.sqrt(x.var(dims, unbiased=False, keepdim=True) + eps)
    x_hat = (x - mean) * inv_std
    gamma = weight.reshape(shape) if weight is not None else torch.ones(shape, dtype=x.dtype, device=x.device)
    dx_hat = dy * gamma
    dx = inv_std * (dx_hat - dx_hat.mean(dims, keepdim=True) - x_hat * (dx_hat * x_hat).mean(dims, keepdim=True))
    return dx, (dy * x_hat).sum(dims), dy.sum(dims)


def layer_norm(x: torch.Tensor, normalized_shape: int | Sequence[int], weight: torch.Tensor | None = None,
               bias: torch.Tensor | None = None, eps: float = 1e-5) -> torch.Tensor:
    """Layer normalization: each example standardised over its last ``len(normalized_shape)`` dimensions.

    No running statistics and no train/eval difference: the statistics of an example are computed from that
    example alone, whatever the batch holds (batch size 1 included).
    """
    normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if tuple(x.shape[x.ndim - len(normalized_shape):]) != normalized_shape:
        raise ValueError(f"input of shape {tuple(x.shape)} does not end in normalized_shape {normalized_shape}")
    dims = tuple(range(-len(normalized_shape), 0))
    mean = x.mean(dims, keepdim=True)
    var = x.var(dims, unbiased=False, keepdim=True)
    y = (x - mean) / torch.sqrt(var + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


class BatchNorm(nn.Module):
    """``nn.BatchNorm1d``/``nn.BatchNorm2d`` from scratch: channel dimension 1, any number of spatial dimensions."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features)) if affine else None  # gamma
        self.bias = nn.Parameter(torch.zeros(num_features)) if affine else None  # beta
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim < 2 or x.shape[1] != self.num_features:
            raise ValueError(f"expected input (N, {self.num_features}, ...), got {tuple(x.shape)}")
        return batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, self.training,
                          self.momentum, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.weight is not None}"


class LayerNorm(nn.Module):
    """``nn.LayerNorm`` from scratch: a gain and a bias per normalised feature, statistics per example."""

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5, elementwise_affine: bool = True):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape, self.eps = shape, eps
        self.weight = nn.Parameter(torch.ones(shape)) if elementwise_affine else None  # g (gain)
        self.bias = nn.Parameter(torch.zeros(shape)) if elementwise_affine else None  # b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.weight is not None}"
