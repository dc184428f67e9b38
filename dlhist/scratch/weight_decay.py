"""Weight decay two ways: as an L2 penalty added to the loss (Krogh & Hertz 1991), and decoupled from the gradient
step (AdamW, Loshchilov & Hutter 2019).

``adam_update`` writes one Adam step on one tensor with either form of decay, to show where the decay goes. The
optimizers to train with are ``dlhist.scratch.optim.Adam`` (``weight_decay`` is L2) and ``dlhist.scratch.optim.AdamW``
(decoupled), built on the same rule; a test checks that the three agree.

For plain SGD the two are the same thing. For Adam they are not: the penalty's gradient ``wd * w`` passes through
Adam's per-weight normalisation, while AdamW shrinks every weight by the same factor outside it.
"""

from __future__ import annotations

import torch


def l2_penalty(params, wd: float) -> torch.Tensor:
    """``wd/2 * sum ||w||^2``; its gradient is ``wd * w``, exactly what ``torch.optim.SGD(weight_decay=wd)`` adds."""
    return wd / 2 * sum((p**2).sum() for p in params)


def adam_update(w, g, m, v, t: int, lr: float, betas=(0.9, 0.999), eps: float = 1e-8, wd: float = 0.0,
                decoupled: bool = False) -> None:
    """One Adam step on weight ``w`` with gradient ``g``, in place; ``m``, ``v`` are its moment buffers, ``t`` >= 1.

    decoupled=False  Adam + L2: the decay joins the gradient, so it is divided by sqrt(v) like the rest.
    decoupled=True   AdamW: shrink the weight by ``lr * wd`` first, then take the plain Adam step.
    """
    b1, b2 = betas
    if decoupled:
        w.mul_(1 - lr * wd)  # weight decay, decoupled from the adaptive step
    elif wd:
        g = g + wd * w  # L2 regularisation: the penalty's gradient
    m.mul_(b1).add_(g, alpha=1 - b1)  # first moment: running mean of gradients
    v.mul_(b2).addcmul_(g, g, value=1 - b2)  # second moment: running mean of squared gradients
    m_hat = m / (1 - b1**t)  # bias corrections for the zero initialisation
    v_hat = v / (1 - b2**t)
    w.addcdiv_(m_hat, v_hat.sqrt() + eps, value=-lr)

