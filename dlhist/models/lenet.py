"""LeNet as most courses teach it today (after LeCun et al. 1998): two 5x5 convolutions with max-pooling, three
fully connected layers, ReLU. The 1998 original (scaled tanh, trainable subsampling, C3's connection table) is built
step by step in 01-deep-neural-networks/02-cnn."""

from __future__ import annotations

from torch import nn


def lenet(in_channels: int = 1, n_classes: int = 10, pad_value: float = 0.0) -> nn.Sequential:
    """The modern LeNet for 28x28 images: pad to 32x32 with ``pad_value`` (the background's value after
    standardisation), conv 6@5x5, pool, conv 16@5x5, pool, then 120, 84 and ``n_classes`` units (61,706 weights)."""
    return nn.Sequential(
        nn.ConstantPad2d(2, pad_value),
        nn.Conv2d(in_channels, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, n_classes),
    )
