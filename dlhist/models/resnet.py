"""The 6n+2-layer plain and residual networks of He et al.'s CIFAR-10 experiments, built from ``scratch.resnet``."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..scratch.resnet import Block


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
