"""The perceptron (Rosenblatt 1958) and a one-hidden-layer network with hand-written backpropagation (1986)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def train_perceptron(X: torch.Tensor, t: torch.Tensor, epochs: int = 25, lr: float = 1.0):
    """Rosenblatt's rule, one example at a time. Returns ``(w, b, mistakes)``, mistakes counted per epoch."""
    w, b = torch.zeros(X.shape[1]), torch.zeros(())
    mistakes = []
    for _ in range(epochs):
        errors = 0
        for x, target in zip(X, t):
            y = float(w @ x + b > 0)
            if y != target:  # learn only from mistakes
                w += lr * (target - y) * x
                b += lr * (target - y)
                errors += 1
        mistakes.append(errors)
    return w, b, mistakes


class HandMLP:
    """A one-hidden-layer tanh network with a softmax output, whose gradients are written out by hand."""

    def __init__(self, n_in: int, n_hidden: int, n_out: int, generator=None, dtype=torch.float64):
        self.W1 = torch.randn(n_in, n_hidden, generator=generator, dtype=dtype) / n_in**0.5
        self.b1 = torch.zeros(n_hidden, dtype=dtype)
        self.W2 = torch.randn(n_hidden, n_out, generator=generator, dtype=dtype) / n_hidden**0.5
        self.b2 = torch.zeros(n_out, dtype=dtype)

    def params(self) -> list[torch.Tensor]:
        return [self.W1, self.b1, self.W2, self.b2]

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        self.X = X
        self.h = torch.tanh(X @ self.W1 + self.b1)
        return self.h @ self.W2 + self.b2

    def loss_and_grads(self, X: torch.Tensor, t: torch.Tensor):
        """Mean cross-entropy and the gradients of every parameter, by the chain rule, output to input."""
        z = self.forward(X)
        p = torch.softmax(z, dim=1)
        loss = -torch.log(p[torch.arange(len(t)), t]).mean()
        dz = (p - F.one_hot(t, z.shape[1]).to(p.dtype)) / len(t)  # dL/dz for softmax + cross-entropy
        dW2, db2 = self.h.T @ dz, dz.sum(0)
        da = (dz @ self.W2.T) * (1 - self.h**2)  # back through tanh: tanh' = 1 - tanh^2
        dW1, db1 = self.X.T @ da, da.sum(0)
        return loss, [dW1, db1, dW2, db2]

    def step(self, grads: list[torch.Tensor], lr: float) -> None:
        """Plain gradient descent."""
        for p, g in zip(self.params(), grads):
            p -= lr * g
