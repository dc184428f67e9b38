"""The U-Net of Ronneberger, Fischer & Brox 2015, narrowed for a CPU: a contracting path, an expanding path, and
skip connections that carry each level's features across.

Differences from the paper, all stated in 01-deep-neural-networks/04-u-net: padded 3x3 convolutions (the output is
as large as the input, no overlap-tile stitching), batch norm after each convolution, widths set by ``channels``
(the paper: 64 ... 1024). ``skip=False`` removes the skip connections and nothing else: the up-convolutions then keep
all their channels, so that each decoder block receives as many channels as with the skips.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def block(c_in: int, c_out: int) -> nn.Sequential:
    """Two 3x3 convolutions, each followed by batch norm and ReLU: one level of either path."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """``channels`` per level, top to bottom (one max-pooling between levels); input ``(N, in_channels, H, W)`` with
    H and W divisible by ``2 ** (len(channels) - 1)``; output logits ``(N, n_classes, H, W)``."""

    def __init__(self, channels: Sequence[int] = (16, 32, 64, 128), skip: bool = True, n_classes: int = 2,
                 in_channels: int = 1):
        super().__init__()
        channels = tuple(channels)
        self.skip = skip
        self.down = nn.ModuleList(block(c_in, c) for c_in, c in zip((in_channels,) + channels[:-1], channels))
        ups = channels[:0:-1]  # the channels coming up from below, bottom first
        self.up = nn.ModuleList(nn.ConvTranspose2d(c, c // 2 if skip else c, 2, stride=2) for c in ups)
        self.dec = nn.ModuleList(block(c, c // 2) for c in ups)
        self.head = nn.Conv2d(channels[0], n_classes, 1)
        self._factor = 2 ** (len(channels) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[-1] % self._factor or x.shape[-2] % self._factor:
            raise ValueError(f"UNet expects (N, C, H, W) with H and W divisible by {self._factor}; "
                             f"got shape {tuple(x.shape)}")
        skips = []
        for down in self.down[:-1]:  # contracting path
            x = down(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.down[-1](x)  # the bottom: the widest context, the lowest resolution
        for up, dec in zip(self.up, self.dec):  # expanding path
            x, s = up(x), skips.pop()
            x = dec(torch.cat([s, x], 1) if self.skip else x)
        return self.head(x)
