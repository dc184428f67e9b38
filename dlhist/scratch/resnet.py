"""Plain and residual networks for CIFAR-sized images (He, Zhang, Ren & Sun 2015, section 4.2).

The 6n+2 architecture: a 3x3 convolution, then three stages of ``n`` blocks of two 3x3 convolutions each, with
``widths`` channels (16, 32, 64 in the paper) and feature maps halved at the start of stages 2 and 3, then global
average pooling and a linear layer: ``6n + 2`` weighted layers. Batch norm follows every convolution, before the ReLU.
A *plain* block is two such layers stacked. A *residual* block adds its input to the second layer's output, before
the last ReLU: ``y = relu(F(x) + shortcut(x))``. The shortcut is option A of the paper: the identity, and where the
shape changes, the identity subsampled by 2 with the new channels filled with zeros (no extra parameters).
"""

from __future__ import annotations

from collections.abc import Sequence

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


class CifarNet(nn.Module):
    """The 6n+2-layer plain or residual network of the paper's CIFAR-10 experiments.

    depth        6n + 2: 20, 32, 44, 56, 110 in the paper.
    widths       channels of the three stages (the paper: 16, 32, 64).
    stem_stride  stride of the first convolution: 1 in the paper; 2 quarters the cost of every later layer.
    zero_init    set the last BN's scale in every block to zero, so each residual block starts as the identity.
    """

    def __init__(self, depth: int, residual: bool = True, widths: Sequence[int] = (16, 32, 64), in_channels: int = 3,
                 num_classes: int = 10, stem_stride: int = 1, zero_init: bool = False):
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"depth must be 6n + 2 with n >= 1 (20, 32, 44, 56, 110, ...), not {depth}")
        n = (depth - 2) // 6
        self.depth, self.residual = depth, residual
        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, stem_stride, 1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU())
        blocks, c_in = [], widths[0]
        for stage, c_out in enumerate(widths):
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(Block(c_in, c_out, stride, residual))
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(c_in, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")  # He et al. 2015b
        if zero_init:
            for b in self.blocks:
                nn.init.zeros_(b.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(x))
        return self.head(x.mean(dim=(2, 3)))  # global average pooling, then the classifier

    def weighted_layers(self) -> list[nn.Module]:
        """The 6n + 2 layers with weights, input to output: the stem conv, every block conv, the classifier."""
        convs = [m for b in self.blocks for m in (b.conv1, b.conv2)]
        return [self.stem[0], *convs, self.head]


def layer_grad_norms(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """The gradient norm of each weighted layer's weight (input to output) for one batch of cross-entropy loss."""
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    norms = [m.weight.grad.norm().item() for m in model.weighted_layers()]
    model.zero_grad(set_to_none=True)
    return norms
