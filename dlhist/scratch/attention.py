"""Attention, from scratch: the additive attention of Bahdanau, Cho & Bengio (2014), and the scaled dot-product
and multi-head attention of Vaswani et al. (2017).

    attn = AdditiveAttention(query_size=H, key_size=2 * H, hidden=A)
    keys = attn.project_keys(encoder_outputs)            # (B, S, A), once per source sentence
    context, weights = attn(s_prev, encoder_outputs, src_mask, keys)   # (B, 2H), (B, S)

Bahdanau et al., Section 3.1 and Appendix A.1.2: the score of source position j for the decoder state s_{i-1} is
e_ij = v^T tanh(W s_{i-1} + U h_j), the weights are a softmax over j, a_ij = exp(e_ij) / sum_k exp(e_ik), and the
context is the weighted mean c_i = sum_j a_ij h_j. ``U h_j`` does not depend on i, so it is computed once per
sentence; padded positions (``mask`` False) get zero weight.

    out = scaled_dot_product_attention(q, k, v, mask=None, causal=False)   # softmax(q k^T / sqrt(d)) v
    mha = MultiHeadAttention(d_model=128, n_heads=4)
    y = mha(x)                                    # self-attention, (B, L, 128)
    y = mha(x, memory, key_padding_mask=src_mask) # attention over another sequence (the decoder over the encoder)
    y = mha(x, causal=True)                       # each position sees itself and the past only

Vaswani et al., Section 3.2: Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V; multi-head attention projects the
queries, keys and values h times with different matrices, attends in each head and projects the concatenation.
Masks are boolean and True where attention is allowed, as in ``F.scaled_dot_product_attention``.
``scaled_dot_product_attention`` is the written-out version, checked against PyTorch's fused kernel (which
``MultiHeadAttention`` uses unless ``fused=False``) in ``tests/scratch/test_attention.py``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
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


def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None,
                                 causal: bool = False, return_weights: bool = False):
    """softmax(q k^T / sqrt(d) + masking) v for q (..., Lq, d), k (..., Lk, d), v (..., Lk, dv). ``mask`` is
    boolean, broadcastable to (..., Lq, Lk), True where query i may attend to key j; ``causal`` also forbids keys
    after the query (j > i + Lk - Lq, so that a query at the end of a cached sequence sees everything before it).
    A query that may attend to nothing gets NaN, as in PyTorch: mask padding in the keys, not whole rows."""
    if k.shape[-2] != v.shape[-2] or q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q {tuple(q.shape)}, k {tuple(k.shape)} and v {tuple(v.shape)} do not fit: q and k need "
                         f"the same last size, k and v the same length")
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., Lq, Lk)
    if mask is not None:
        try:
            torch.broadcast_shapes(mask.shape, scores.shape)
        except RuntimeError:
            raise ValueError(f"mask {tuple(mask.shape)} does not broadcast to the scores "
                             f"{tuple(scores.shape)} (..., Lq, Lk)") from None
        scores = scores.masked_fill(~mask, float("-inf"))
    if causal:
        lq, lk = scores.shape[-2:]
        future = torch.ones(lq, lk, dtype=torch.bool, device=q.device).triu(lk - lq + 1)
        scores = scores.masked_fill(future, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    out = weights @ v
    return (out, weights) if return_weights else out


def rotary(x: torch.Tensor, offset: int = 0, base: float = 10000.0) -> torch.Tensor:
    """Rotary position embedding (Su et al. 2021) of queries or keys ``x`` (B, h, L, d), at positions
    ``offset .. offset + L - 1``: dimension pairs (i, i + d/2) are rotated by the angle ``position * base^(-2i/d)``.
    The dot product of a rotated query and key then depends on their positions only through their difference."""
    d = x.shape[-1]
    if d % 2:
        raise ValueError(f"rotary positions need an even head dimension, got {d}")
    freq = base ** (-torch.arange(0, d // 2, device=x.device, dtype=torch.float32) * 2 / d)
    angle = torch.arange(offset, offset + x.shape[-2], device=x.device, dtype=torch.float32)[:, None] * freq
    cos, sin = angle.cos().to(x.dtype), angle.sin().to(x.dtype)
    x1, x2 = x[..., : d // 2], x[..., d // 2:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], -1)


def _append(cache: dict, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Append new keys and values (B, h, L, d) to a generation cache and return all of them so far. They are
    written into buffers that double when full, so a step copies only its own position (concatenating the whole
    history at every step was 80% of the time of sampling 600 sequences of 84 tokens). ``cache["k"]`` and
    ``cache["v"]`` are views of everything cached."""
    n, new = (cache["k"].shape[2] if "k" in cache else 0), k.shape[2]
    if "k_buf" not in cache or n + new > cache["k_buf"].shape[2]:
        size = max(2 * (n + new), 16)
        k_buf, v_buf = k.new_empty(*k.shape[:2], size, k.shape[3]), v.new_empty(*v.shape[:2], size, v.shape[3])
        if n:
            k_buf[:, :, :n], v_buf[:, :, :n] = cache["k"], cache["v"]
        cache["k_buf"], cache["v_buf"] = k_buf, v_buf
    cache["k_buf"][:, :, n:n + new], cache["v_buf"][:, :, n:n + new] = k, v
    cache["k"], cache["v"] = cache["k_buf"][:, :, :n + new], cache["v_buf"][:, :, :n + new]
    return cache["k"], cache["v"]


class MultiHeadAttention(nn.Module):
    """Multi-head attention (Vaswani et al. 2017, Section 3.2.2) on batch-first sequences (B, L, d_model).

    ``forward(x, memory=None, key_padding_mask=None, attn_mask=None, causal=False, cache=None)``: queries from
    ``x``, keys and values from ``memory`` (default: ``x``, self-attention). ``key_padding_mask`` (B, Lk) is True
    at real keys; ``attn_mask`` (Lq, Lk) or (B, Lq, Lk) is True where attention is allowed. ``cache``, a dict, makes
    self-attention incremental for generation: the keys and values of earlier calls are kept in it and the new
    ones appended, so each call passes only the new positions. ``rotary=True`` rotates queries and keys by their
    positions (``rotary``; self-attention only), so that attention sees relative positions.
    """

    def __init__(self, d_model: int, n_heads: int, bias: bool = True, dropout: float = 0.0, fused: bool = True,
                 rotary: bool = False):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.d_model, self.n_heads, self.dropout, self.fused, self.rotary = d_model, n_heads, dropout, fused, rotary
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (self.n_heads, -1)).transpose(1, 2)  # (B, L, d) -> (B, h, L, d/h)

    def forward(self, x: torch.Tensor, memory: torch.Tensor | None = None,
                key_padding_mask: torch.Tensor | None = None, attn_mask: torch.Tensor | None = None,
                causal: bool = False, cache: dict | None = None) -> torch.Tensor:
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"x must be (batch, length, {self.d_model}), got {tuple(x.shape)}")
        memory = x if memory is None else memory
        if memory.dim() != 3 or memory.shape[0] != x.shape[0] or memory.shape[-1] != self.d_model:
            raise ValueError(f"memory must be ({x.shape[0]}, length, {self.d_model}), got {tuple(memory.shape)}")
        q, k, v = self._heads(self.q_proj(x)), self._heads(self.k_proj(memory)), self._heads(self.v_proj(memory))
        if self.rotary:
            if memory is not x:
                raise ValueError("rotary positions are for self-attention; pass no memory")
            offset = cache["k"].shape[2] if cache is not None and "k" in cache else 0
            q, k = rotary(q, offset), rotary(k, offset)
        if cache is not None:
            k, v = _append(cache, k, v)
        lq, lk = q.shape[2], k.shape[2]
        mask = None
        if key_padding_mask is not None:
            if key_padding_mask.shape != (x.shape[0], lk):
                raise ValueError(f"key_padding_mask {tuple(key_padding_mask.shape)} must be (batch, keys) = "
                                 f"{(x.shape[0], lk)}")
            mask = key_padding_mask[:, None, None, :]
        if attn_mask is not None:
            if attn_mask.shape not in ((lq, lk), (x.shape[0], lq, lk)):
                raise ValueError(f"attn_mask {tuple(attn_mask.shape)} must be (queries, keys) = {(lq, lk)} or "
                                 f"(batch, queries, keys) = {(x.shape[0], lq, lk)}")
            am = attn_mask if attn_mask.dim() == 2 else attn_mask[:, None]
            mask = am if mask is None else mask & am
        if causal:
            future = torch.ones(lq, lk, dtype=torch.bool, device=x.device).triu(lk - lq + 1)
            mask = ~future if mask is None else mask & ~future
        dropout = self.dropout if self.training else 0.0
        if self.fused:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
        else:
            out, w = scaled_dot_product_attention(q, k, v, mask, return_weights=True)
            if dropout:
                out = F.dropout(w, dropout) @ v
        return self.out_proj(out.transpose(1, 2).flatten(2))


__all__ = ["AdditiveAttention", "MultiHeadAttention", "rotary", "scaled_dot_product_attention"]
