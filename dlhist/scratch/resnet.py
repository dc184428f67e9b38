"""The plain and the residual block of He, Zhang, Ren & Sun 2015 (section 4.2), with the option-A shortcut.

The networks built from these blocks live in ``dlhist.models.resnet`` (``CifarNet``).

The 6n+2 architecture: a 3x3 convolution, then three stages of ``n`` blocks of two 3x3 convolutions each, with
``widths`` channels (16, 32, 64 in the paper) and feature maps halved at the start of stages 2 and 3, then global
average pooling and a linear layer: ``6n + 2`` weighted layers. Batch norm follows every convolution, before the ReLU.
A *plain* block is two such layers stacked. A *residual* block adds its input to the second layer's output, before
the last ReLU: ``y = relu(F(x) + shortcut(x))``. The shortcut is option A of the paper: the identity, and where the
shape changes, the identity subsampled by 2 with the new channels filled with zeros (no extra parameters).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ShortcutA(nn.Module):
    """Option A: identity; when the block halves the map and widens the channels, subsample and zero-pad."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        if out_channels < in_channels:
            raise ValueError(f"option A can only add channels, not go from {in_channels} to {out_channels}")
        self.extra, self.stride = out_channels - in_channels, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]  # keep every stride-th pixel: a 1x1 "conv" of stride 2
        if self.extra:
            x = F.pad(x, (0, 0, 0, 0, 0, self.extra))  # zeros for the new channels (pad dim 1 at its end)
        return x


class Block(nn.Module):
    """Two 3x3 conv + batch-norm layers (the paper's Figure 2). ``residual=False`` gives the plain twin."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, residual: bool = True):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = ShortcutA(in_channels, out_channels, stride) if residual else None

    def residual_branch(self, x: torch.Tensor) -> torch.Tensor:
        """F(x): conv, BN, ReLU, conv, BN."""
        return self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.residual_branch(x)
        if self.shortcut is not None:
            out = out + self.shortcut(x)  # the only difference between a plain and a residual block
        return F.relu(out)
