"""Linear probes: how much of a label a frozen representation makes linearly readable.

A probe is multinomial logistic regression with an L2 penalty, fitted to convergence by L-BFGS on standardised
features (each feature scaled by its mean and spread on the probe's training set), as CLIP's linear-probe
evaluation (Radford et al. 2021, Appendix A.3, with scikit-learn's L-BFGS logistic regression) and BERT-style
feature probes do. The features are never trained: only the probe's weights and biases are.

    predictions = linear_probe(train_features, train_labels, test_features, l2=1e-2)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def probe_objective(w: torch.Tensor, b: torch.Tensor, x: torch.Tensor, y: torch.Tensor, l2: float) -> torch.Tensor:
    """Mean cross-entropy of the logits ``x @ w + b`` plus ``l2`` times the squared weights (biases unpenalised)."""
    return F.cross_entropy(x @ w + b, y) + l2 * (w ** 2).sum()


def fit_probe(train_x: torch.Tensor, train_y: torch.Tensor, *, l2: float = 1e-2, n_classes: int | None = None,
              max_iter: int = 500) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(w, b, mu, sd)`` (float64) of a logistic regression fitted on ``(train_x - mu) / sd`` with integer labels
    ``train_y``; ``n_classes`` defaults to the largest label plus one."""
    if train_x.dim() != 2:
        raise ValueError(f"train_x must be (N, D) features, got {tuple(train_x.shape)}")
    if train_y.shape != train_x.shape[:1]:
        raise ValueError(f"train_y {tuple(train_y.shape)} must hold one label per row of train_x "
                         f"{tuple(train_x.shape)}")
    if l2 < 0:
        raise ValueError(f"the L2 penalty must be >= 0, got {l2}")
    n_classes = int(train_y.max()) + 1 if n_classes is None else n_classes
    train_x, train_y = train_x.detach().double().cpu(), train_y.cpu()
    mu, sd = train_x.mean(0), train_x.std(0, unbiased=False) + 1e-6
    x = (train_x - mu) / sd
    w = torch.zeros(x.shape[1], n_classes, dtype=torch.double, requires_grad=True)
    b = torch.zeros(n_classes, dtype=torch.double, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=max_iter, tolerance_grad=1e-9, tolerance_change=1e-12,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = probe_objective(w, b, x, train_y, l2)
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return w.detach(), b.detach(), mu, sd


def linear_probe(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, *, l2: float = 1e-2,
                 n_classes: int | None = None, max_iter: int = 500) -> torch.Tensor:
    """Class predictions for ``test_x`` (M, D) from a probe (``fit_probe``) fitted on ``train_x`` (N, D) and
    ``train_y`` (N,)."""
    if test_x.dim() != 2 or train_x.dim() != 2 or train_x.shape[1] != test_x.shape[1]:
        raise ValueError(f"features must be (N, D) and (M, D) with the same D, got {tuple(train_x.shape)} and "
                         f"{tuple(test_x.shape)}")
    w, b, mu, sd = fit_probe(train_x, train_y, l2=l2, n_classes=n_classes, max_iter=max_iter)
    return (((test_x.detach().double().cpu() - mu) / sd) @ w + b).argmax(1)


__all__ = ["fit_probe", "linear_probe", "probe_objective"]
