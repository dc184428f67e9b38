"""Optimizers from scratch: SGD with (Nesterov) momentum, AdaGrad, RMSProp, Adam (Kingma & Ba 2014) and AdamW.

Each is a small ``torch.optim.Optimizer`` subclass that writes its update rule out in a few lines, so it plugs into
``dlhist.fit`` and learning-rate schedulers like PyTorch's own. ``tests/scratch/test_optim.py`` checks every one
against its PyTorch twin step by step. ``weight_decay`` is classic L2 regularisation: ``wd * p`` is added to the
gradient (as in PyTorch's ``Adam``); ``AdamW`` decouples it (Loshchilov & Hutter 2019).

As in ``torch.optim``, every option is a default that a parameter group may override (``[{"params": weights},
{"params": biases, "weight_decay": 0.0}]``), and each step reads the options of each group afresh, so schedulers
and hand edits of ``opt.param_groups`` take effect. Invalid options (a negative learning rate, ``eps``, momentum or
weight decay, betas outside [0, 1), Nesterov without momentum) raise ``ValueError``, for the defaults and for every
group added.
"""

from __future__ import annotations

import torch
from torch.optim import Optimizer


def _check_at_least(group: dict, key: str, what: str, low: float = 0.0) -> None:
    if key in group and not group[key] >= low:  # "not >=" also refuses NaN
        raise ValueError(f"Invalid {what}: {group[key]} (it must be >= {low}); fix {key}={group[key]!r}")


def _check_betas(group: dict) -> None:
    for i, beta in enumerate(group.get("betas", ())):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {beta}; betas must lie in [0, 1), got "
                             f"{tuple(group['betas'])}")


def _check_nesterov(group: dict) -> None:
    if group.get("nesterov") and not group.get("momentum", 0) > 0:
        raise ValueError(f"Nesterov momentum needs momentum > 0, got momentum={group.get('momentum', 0)}; "
                         "set momentum (e.g. 0.9) or nesterov=False")


def _check_options(group: dict) -> None:
    """Refuse the options ``torch.optim`` refuses, with ``ValueError`` naming the option and its value."""
    _check_at_least(group, "lr", "learning rate")
    for key in ("eps", "momentum", "weight_decay", "alpha"):
        _check_at_least(group, key, f"{key} value")
    _check_betas(group)
    _check_nesterov(group)


class _Scratch(Optimizer):
    """Shared plumbing: validation of every group's options, the closure, and the loop over parameters that have a
    gradient. ``weight_decay`` is L2 (added to the gradient) unless a subclass sets ``decoupled_decay``."""

    decoupled_decay = False

    def add_param_group(self, param_group: dict) -> None:
        super().add_param_group(param_group)  # fills in the defaults the group does not set
        try:
            _check_options(self.param_groups[-1])
        except ValueError:
            self.param_groups.pop()  # a refused group is not kept
            raise

    def _params(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    grad = p.grad
                    if group["weight_decay"] and not self.decoupled_decay:
                        grad = grad.add(p, alpha=group["weight_decay"])  # L2: d/dp (wd/2 |p|^2) = wd * p
                    yield group, p, grad, self.state[p]

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group, p, grad, state in self._params():
            self.update(group, p, grad, state)
        return loss

    def update(self, group, p, grad, state):  # pragma: no cover - each subclass defines its rule
        raise NotImplementedError


class SGD(_Scratch):
    """SGD with momentum; ``nesterov=True`` looks ahead along the velocity (Sutskever et al. 2013's form).

    v <- mu v + g;   p <- p - lr (g + mu v)  (Nesterov)   or   p <- p - lr v  (classical momentum)
    """

    def __init__(self, params, lr: float, momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay))

    def update(self, group, p, grad, state):
        mu = group["momentum"]
        if mu:
            if "velocity" not in state:
                state["velocity"] = grad.clone()  # the first step starts the velocity at the gradient
            else:
                state["velocity"].mul_(mu).add_(grad)
            v = state["velocity"]
            grad = grad.add(v, alpha=mu) if group["nesterov"] else v
        p.add_(grad, alpha=-group["lr"])


class AdaGrad(_Scratch):
    """AdaGrad (Duchi, Hazan & Singer 2011): each coordinate's step shrinks with its sum of squared gradients.

    s <- s + g^2;   p <- p - lr g / (sqrt(s) + eps)
    """

    def __init__(self, params, lr: float = 0.01, eps: float = 1e-10, weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, eps=eps, weight_decay=weight_decay))

    def update(self, group, p, grad, state):
        if "sum_sq" not in state:
            state["sum_sq"] = torch.zeros_like(p)
        s = state["sum_sq"]
        s.addcmul_(grad, grad)
        p.addcdiv_(grad, s.sqrt().add_(group["eps"]), value=-group["lr"])


class RMSProp(_Scratch):
    """RMSProp (Tieleman & Hinton 2012): AdaGrad with a moving average of squared gradients instead of a sum.

    s <- alpha s + (1 - alpha) g^2;   p <- p - lr g / (sqrt(s) + eps)
    """

    def __init__(self, params, lr: float = 0.01, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay))

    def update(self, group, p, grad, state):
        if "mean_sq" not in state:
            state["mean_sq"] = torch.zeros_like(p)
        s = state["mean_sq"]
        s.mul_(group["alpha"]).addcmul_(grad, grad, value=1 - group["alpha"])
        p.addcdiv_(grad, s.sqrt().add_(group["eps"]), value=-group["lr"])


class Adam(_Scratch):
    """Adam (Kingma & Ba 2014, Algorithm 1): moving averages of the gradient and its square, bias-corrected.

    m <- b1 m + (1 - b1) g              first moment (momentum)
    v <- b2 v + (1 - b2) g^2            second raw moment (per-coordinate scale)
    m_hat = m / (1 - b1^t),  v_hat = v / (1 - b2^t)    undo the bias towards the zero initialisation
    p <- p - lr m_hat / (sqrt(v_hat) + eps)

    ``bias_correction=False`` skips the two divisions (m_hat = m, v_hat = v): the ablation of the paper's section 6.4.
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, bias_correction: bool = True):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      bias_correction=bias_correction))

    def update(self, group, p, grad, state):
        b1, b2 = group["betas"]
        if not state:
            state["t"], state["m"], state["v"] = 0, torch.zeros_like(p), torch.zeros_like(p)
        state["t"] += 1
        t, m, v = state["t"], state["m"], state["v"]
        m.mul_(b1).add_(grad, alpha=1 - b1)
        v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        if group["bias_correction"]:
            m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        else:
            m_hat, v_hat = m, v
        p.addcdiv_(m_hat, v_hat.sqrt().add_(group["eps"]), value=-group["lr"])


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019), like ``torch.optim.AdamW``.

    p <- p (1 - lr wd), then the plain Adam step: the decay stays out of m and v, so every weight shrinks by the same
    factor, however large its gradients. (In ``Adam``, ``weight_decay`` is L2: it joins the gradient.) Each group's
    own ``weight_decay`` and ``lr`` are used, so ``{"params": biases, "weight_decay": 0.0}`` leaves biases undecayed.
    """

    decoupled_decay = True  # weight_decay shrinks the weights here, and never joins the gradient

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:  # a state dict saved before the decay moved into each group's weight_decay
            if "decoupled_decay" in group:
                group["weight_decay"] = group.pop("decoupled_decay")

    def update(self, group, p, grad, state):
        p.mul_(1 - group["lr"] * group["weight_decay"])  # shrink the weight, outside the adaptive step
        super().update(group, p, grad, state)
