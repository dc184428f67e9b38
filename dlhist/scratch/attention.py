"""Attention, from scratch: the additive attention of Bahdanau, Cho & Bengio (2014).

    attn = AdditiveAttention(query_size=H, key_size=2 * H, hidden=A)
    keys = attn.project_keys(encoder_outputs)            # (B, S, A), once per source sentence
    context, weights = attn(s_prev, encoder_outputs, src_mask, keys)   # (B, 2H), (B, S)

Bahdanau et al., Section 3.1 and Appendix A.1.2: the score of source position j for the decoder state s_{i-1} is
e_ij = v^T tanh(W s_{i-1} + U h_j), the weights are a softmax over j, a_ij = exp(e_ij) / sum_k exp(e_ik), and the
context is the weighted mean c_i = sum_j a_ij h_j. ``U h_j`` does not depend on i, so it is computed once per
sentence; padded positions (``mask`` False) get zero weight.
"""

from __future__ import annotations

import torch
from torch import nn


class AdditiveAttention(nn.Module):
    def __init__(self, query_size: int, key_size: int, hidden: int):
        super().__init__()
        self.W = nn.Linear(query_size, hidden, bias=False)
        self.U = nn.Linear(key_size, hidden)
        self.v = nn.Linear(hidden, 1, bias=False)

    def project_keys(self, keys: torch.Tensor) -> torch.Tensor:
        """U h_j for every source position: (B, S, key_size) -> (B, S, hidden)."""
        return self.U(keys)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor | None = None,
                projected: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """query (B, Q), keys (B, S, K), mask (B, S) True at real positions, ``projected`` the keys'
        ``project_keys`` if already computed -> context (B, K) and weights (B, S), each row summing to one."""
        if query.dim() != 2 or keys.dim() != 3 or query.shape[0] != keys.shape[0]:
            raise ValueError(f"query (B, Q) and keys (B, S, K) expected, got {tuple(query.shape)} and "
                             f"{tuple(keys.shape)}")
        if mask is not None and mask.shape != keys.shape[:2]:
            raise ValueError(f"mask {tuple(mask.shape)} does not match keys {tuple(keys.shape)}: expected "
                             f"{tuple(keys.shape[:2])}")
        if projected is None:
            projected = self.project_keys(keys)
        scores = self.v(torch.tanh(self.W(query)[:, None] + projected)).squeeze(-1)  # (B, S): e_ij
        if mask is not None:
            if not mask.any(1).all():
                raise ValueError("a row of the mask has no real position to attend to")
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        return torch.bmm(weights[:, None], keys).squeeze(1), weights


__all__ = ["AdditiveAttention"]
