"""Small model builders shared by several notebooks."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import nn


def mlp(sizes: Sequence[int], activation: Callable[[], nn.Module] = nn.ReLU, *, dropout: float = 0.0,
        input_dropout: float = 0.0, norm: Callable[[int], nn.Module] | None = None, flatten: bool = True,
        init: Callable[[nn.Linear], None] | None = None) -> nn.Sequential:
    """A multilayer perceptron ``sizes[0] -> sizes[1] -> ... -> sizes[-1]``.

    Each hidden layer is Linear, then ``norm(width)`` if given (batch norm goes before the non-linearity, as in
    Ioffe & Szegedy), then ``activation()``, then Dropout(``dropout``) if positive. ``input_dropout`` drops input
    pixels (Srivastava et al. use 0.2). ``init(linear)`` re-initialises each Linear layer. The output layer is a
    plain Linear (logits).

        mlp([784, 800, 10])                       # the 01-dnn network
        mlp([784] + [100] * 3 + [10], nn.Sigmoid, norm=nn.BatchNorm1d)
    """
    if len(sizes) < 2:
        raise ValueError(f"an MLP needs at least an input and an output size, got {list(sizes)}")
    layers: list[nn.Module] = [nn.Flatten()] if flatten else []
    if input_dropout > 0:
        layers.append(nn.Dropout(input_dropout))
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        linear = nn.Linear(n_in, n_out)
        if init is not None:
            init(linear)
        layers.append(linear)
        if i < len(sizes) - 2:
            if norm is not None:
                layers.append(norm(n_out))
            layers.append(activation())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)
