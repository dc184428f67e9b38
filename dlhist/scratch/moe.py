"""The sparsely-gated mixture-of-experts layer (Shazeer et al. 2017), from scratch.

A gate picks ``k`` of ``n_experts`` feed-forward experts for each input; only those run, and their outputs are mixed
with the gate's weights. Section 2.1 (noisy top-k gating):

    H(x)_i = (x W_g)_i + StandardNormal() * Softplus((x W_noise)_i)        (noise in training only)
    G(x)   = Softmax(KeepTopK(H(x), k))                                    (zero outside the top k)
    y      = sum_i G(x)_i E_i(x)

Without help the gate favours the experts it already favours (they get trained more, so they get chosen more).
Appendix A adds two losses, each the squared coefficient of variation (CV = std / mean) of a per-expert total over
the batch ``X``:

    Importance(X)_i = sum_x G(x)_i,                          L_importance = w_importance * CV(Importance(X))^2
    P(x, i) = Phi(((x W_g)_i - kth_excluding(H(x), k, i)) / Softplus((x W_noise)_i))
    Load(X)_i = sum_x P(x, i),                               L_load = w_load * CV(Load(X))^2

``P(x, i)`` is the probability that expert ``i`` would be in the top k if only its own noise were drawn again: a
smooth estimate of how many inputs the expert receives, which, unlike the count itself, has a gradient.
``kth_excluding(H(x), k, i)`` is the k-th largest component of ``H(x)`` among the other experts. Both gate matrices
start at zero (equal gates and equal noise: the paper's remedy for an imbalance at the start).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def cv(x: torch.Tensor) -> torch.Tensor:
    """Coefficient of variation, std / mean, of the entries of ``x`` (population std; 0 for a constant vector)."""
    x = x.float()
    return x.std(correction=0) / x.mean().clamp(min=1e-10)


class NoisyTopKGate(nn.Module):
    """``forward(x)`` for ``x`` of shape ``(N, d)`` returns the gates ``(N, n_experts)`` (k nonzero per row, summing
    to 1), the importance and the load of each expert ``(n_experts,)``. In training with noise the load is the smooth
    estimate ``sum_x P(x, i)``; otherwise it is the number of inputs sent to each expert."""

    def __init__(self, d_in: int, n_experts: int, k: int = 2, noisy: bool = True, min_noise: float = 1e-2):
        super().__init__()
        if not 1 <= k <= n_experts:
            raise ValueError(f"k must be between 1 and n_experts = {n_experts}, got {k}")
        self.k, self.n_experts, self.noisy, self.min_noise = k, n_experts, noisy, min_noise
        self.w_gate = nn.Parameter(torch.zeros(d_in, n_experts))
        self.w_noise = nn.Parameter(torch.zeros(d_in, n_experts))

    def forward(self, x: torch.Tensor):
        if x.dim() != 2 or x.shape[1] != self.w_gate.shape[0]:
            raise ValueError(f"the gate expects inputs of shape (N, {self.w_gate.shape[0]}), got {tuple(x.shape)}")
        clean = x @ self.w_gate
        noisy = self.noisy and self.training
        if noisy:
            noise_std = F.softplus(x @ self.w_noise) + self.min_noise
            logits = clean + torch.randn_like(clean) * noise_std
        else:
            logits = clean
        m = min(self.k + 1, self.n_experts)
        top, top_idx = logits.topk(m, dim=1)
        gates = torch.zeros_like(logits).scatter(1, top_idx[:, :self.k], F.softmax(top[:, :self.k], dim=1))
        importance = gates.sum(0)
        if noisy and self.k < self.n_experts:
            # kth_excluding(H(x), k, i): the (k+1)-th largest value for an expert in the top k, the k-th otherwise
            in_top = torch.zeros_like(logits, dtype=torch.bool).scatter(1, top_idx[:, :self.k], True)
            threshold = torch.where(in_top, top[:, self.k:self.k + 1], top[:, self.k - 1:self.k])
            normal = torch.distributions.Normal(torch.zeros((), device=x.device), torch.ones((), device=x.device))
            load = normal.cdf((clean - threshold) / noise_std).sum(0)
        else:
            load = (gates > 0).sum(0).to(x.dtype)
        return gates, importance, load


class Experts(nn.Module):
    """``n`` feed-forward experts, each ``d_in -> hidden (ReLU) -> d_out``, stored as stacked weights."""

    def __init__(self, n: int, d_in: int, hidden: int, d_out: int):
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(n, d_in, hidden) / d_in ** 0.5)
        self.b1 = nn.Parameter(torch.zeros(n, hidden))
        self.w2 = nn.Parameter(torch.randn(n, hidden, d_out) / hidden ** 0.5)
        self.b2 = nn.Parameter(torch.zeros(n, d_out))

    def expert(self, i: int, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x @ self.w1[i] + self.b1[i]) @ self.w2[i] + self.b2[i]


class MoE(nn.Module):
    """A sparsely-gated mixture of ``n_experts`` experts, ``k`` active per input, over the last dimension of any
    input (applied at every position of a sequence at once, as the paper's Figure 1). ``forward`` returns the mixed
    output and keeps, for the step, ``aux_loss`` (add it to the training loss), ``importance`` and ``load``.

    Each input runs only through its k experts: a loop over the experts gathers the inputs routed to each one, so
    the compute per input is that of k experts, whatever ``n_experts`` is.
    """

    def __init__(self, d_in: int, d_out: int, n_experts: int = 16, k: int = 2, hidden: int = 64,
                 w_importance: float = 0.1, w_load: float = 0.1, noisy: bool = True):
        super().__init__()
        self.gate = NoisyTopKGate(d_in, n_experts, k, noisy)
        self.experts = Experts(n_experts, d_in, hidden, d_out)
        self.w_importance, self.w_load, self.d_out = w_importance, w_load, d_out
        self.aux_loss = self.importance = self.load = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        flat = x.reshape(-1, shape[-1])
        gates, importance, load = self.gate(flat)
        y = flat.new_zeros(len(flat), self.d_out)
        for i in range(gates.shape[1]):
            rows = gates[:, i].nonzero().squeeze(1)
            if len(rows):
                y.index_add_(0, rows, gates[rows, i, None] * self.experts.expert(i, flat[rows]))
        self.aux_loss = self.w_importance * cv(importance) ** 2 + self.w_load * cv(load) ** 2
        self.importance, self.load = importance.detach(), load.detach()
        return y.reshape(*shape[:-1], self.d_out)
