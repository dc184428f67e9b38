"""The Transformer (Vaswani et al. 2017): positional encodings, encoder and decoder layers, and the
encoder-decoder for translation, on ``dlhist.scratch.attention.MultiHeadAttention``.

    model = Transformer(vocab_size=len(tok), d_model=128, n_heads=4, layers=3, positions="sinusoidal")
    out = model(**batch)                     # batch from dlhist.data.parallel: {"loss", "nll", "tokens"}
    dlhist.translation.translate(model, pairs, tok)      # greedy or beam, through encode() and step()

Section 3: each encoder layer is self-attention then a position-wise feed-forward network, each wrapped as
``LayerNorm(x + Dropout(sublayer(x)))`` (post-norm, the paper's; ``norm_first=True`` gives the pre-norm of later
models, ``x + sublayer(LayerNorm(x))``). Decoder layers add attention over the encoder's output between the two and
mask their self-attention causally. Embeddings are scaled by sqrt(d_model) and shared between source, target and
the output layer (one joint BPE vocabulary; Section 3.4). Attention has no notion of order, so positions are added
to the embeddings: fixed sinusoids (Section 3.5), learned vectors (Table 3, row E), or nothing (``"none"``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..scratch.attention import MultiHeadAttention

POSITIONS = ("sinusoidal", "learned", "none")


def sinusoidal_positions(length: int, d_model: int) -> torch.Tensor:
    """(length, d_model): PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d))."""
    if d_model % 2:
        raise ValueError(f"sinusoidal positions need an even d_model, got {d_model}")
    pos = torch.arange(length, dtype=torch.float)[:, None]
    freq = torch.exp(-math.log(10000.0) * torch.arange(0, d_model, 2, dtype=torch.float) / d_model)
    pe = torch.zeros(length, d_model)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * freq), torch.cos(pos * freq)
    return pe


class Positions(nn.Module):
    """Position vectors added to token embeddings: ``kind`` is "sinusoidal", "learned" or "none". Learned vectors
    start as Gaussian noise of standard deviation ``std``."""

    def __init__(self, kind: str, max_len: int, d_model: int, std: float = 0.02):
        super().__init__()
        if kind not in POSITIONS:
            raise ValueError(f"positions must be one of {POSITIONS}, got {kind!r}")
        self.kind, self.max_len = kind, max_len
        if kind == "learned":
            self.table = nn.Parameter(torch.randn(max_len, d_model) * std)
        else:
            self.register_buffer("table", sinusoidal_positions(max_len, d_model) * (kind == "sinusoidal"),
                                 persistent=False)

    def forward(self, length: int, offset: int = 0) -> torch.Tensor:
        if offset + length > self.max_len:
            raise ValueError(f"a sequence of {offset + length} positions is longer than the model's max_len "
                             f"{self.max_len}")
        return self.table[offset:offset + length]


class FeedForward(nn.Sequential):
    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0, activation: type[nn.Module] = nn.ReLU):
        super().__init__(nn.Linear(d_model, d_ff), activation(), nn.Dropout(dropout), nn.Linear(d_ff, d_model))


class _Residual(nn.Module):
    """``LayerNorm(x + Dropout(f(x)))`` (post-norm) or ``x + Dropout(f(LayerNorm(x)))`` (pre-norm)."""

    def __init__(self, d_model: int, dropout: float, norm_first: bool):
        super().__init__()
        self.norm, self.drop, self.norm_first = nn.LayerNorm(d_model), nn.Dropout(dropout), norm_first

    def forward(self, x, f):
        if self.norm_first:
            return x + self.drop(f(self.norm(x)))
        return self.norm(x + self.drop(f(x)))


class EncoderLayer(nn.Module):
    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.1, norm_first: bool = False,
                 activation: type[nn.Module] = nn.ReLU):
        super().__init__()
        self.attn = MultiHeadAttention(d_model, n_heads, dropout=dropout)
        self.ff = FeedForward(d_model, d_ff, dropout, activation)
        self.res1, self.res2 = (_Residual(d_model, dropout, norm_first) for _ in range(2))

    def forward(self, x, key_padding_mask=None):
        x = self.res1(x, lambda h: self.attn(h, key_padding_mask=key_padding_mask))
        return self.res2(x, self.ff)


class DecoderLayer(nn.Module):
    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.1, norm_first: bool = False):
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, n_heads, dropout=dropout)
        self.cross_attn = MultiHeadAttention(d_model, n_heads, dropout=dropout)
        self.ff = FeedForward(d_model, d_ff, dropout)
        self.res1, self.res2, self.res3 = (_Residual(d_model, dropout, norm_first) for _ in range(3))

    def forward(self, x, memory, memory_mask=None):
        x = self.res1(x, lambda h: self.self_attn(h, causal=True))
        x = self.res2(x, lambda h: self.cross_attn(h, memory, key_padding_mask=memory_mask))
        return self.res3(x, self.ff)


class Transformer(nn.Module):
    """The encoder-decoder of Vaswani et al. (2017) for translation, with one shared vocabulary.

    ``forward`` returns the label-smoothed training loss (Section 5.4), the plain cross-entropy ``nll`` (for
    perplexity) and the number of target tokens; ``encode``/``step`` decode one token at a time (the decoder is
    rerun over the prefix, which at these lengths costs little).
    """

    state_batch_dim = 0

    def __init__(self, vocab_size: int, d_model: int = 128, n_heads: int = 4, layers: int = 3, d_ff: int = 512,
                 dropout: float = 0.1, positions: str = "sinusoidal", max_len: int = 256,
                 label_smoothing: float = 0.1, norm_first: bool = False, pad: int = 0):
        super().__init__()
        self.pad, self.d_model, self.label_smoothing = pad, d_model, label_smoothing
        self.embed = nn.Embedding(vocab_size, d_model, padding_idx=pad)
        nn.init.normal_(self.embed.weight, std=d_model ** -0.5)  # times sqrt(d_model): unit-variance inputs
        # learned positions start at the sinusoids' scale (variance 1/2), next to token inputs of variance 1
        self.positions = Positions(positions, max_len, d_model, std=math.sqrt(0.5))
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.ModuleList(EncoderLayer(d_model, n_heads, d_ff, dropout, norm_first) for _ in range(layers))
        self.decoder = nn.ModuleList(DecoderLayer(d_model, n_heads, d_ff, dropout, norm_first) for _ in range(layers))
        self.final_norm = nn.LayerNorm(d_model) if norm_first else nn.Identity()

    def _embed(self, tokens: torch.Tensor) -> torch.Tensor:
        if tokens.numel() and (tokens.min() < 0 or tokens.max() >= self.embed.num_embeddings):
            raise ValueError(f"token ids must lie in [0, {self.embed.num_embeddings}), got "
                             f"{tokens.min().item()}..{tokens.max().item()}")
        return self.drop(self.embed(tokens) * math.sqrt(self.d_model) + self.positions(tokens.shape[1]))

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor) -> dict:
        if src.shape != src_mask.shape:
            raise ValueError(f"src {tuple(src.shape)} and src_mask {tuple(src_mask.shape)} differ in shape")
        if not src_mask.any(1).all():
            raise ValueError("an empty source sentence (no real token in src_mask) cannot be encoded")
        x = self._embed(src)
        for layer in self.encoder:
            x = layer(x, src_mask)
        memory = self.final_norm(x)
        return {"memory": memory, "src_mask": src_mask,
                "prefix": torch.empty(src.shape[0], 0, dtype=torch.long, device=src.device)}

    def decode(self, state: dict, tgt_in: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        """Logits (B, T, V) for every position of ``tgt_in`` (B, T), each seeing only the tokens before it
        (``last_only``: the last position's, (B, 1, V), all that decoding needs)."""
        x = self._embed(tgt_in)
        for layer in self.decoder:
            x = layer(x, state["memory"], state["src_mask"])
        return self.final_norm(x[:, -1:] if last_only else x) @ self.embed.weight.T

    def forward(self, src, src_mask, tgt_in, tgt_out) -> dict:
        logits = self.decode(self.encode(src, src_mask), tgt_in).flatten(0, 1)
        target = tgt_out.flatten()
        loss = F.cross_entropy(logits, target, ignore_index=self.pad, label_smoothing=self.label_smoothing)
        nll = F.cross_entropy(logits, target, ignore_index=self.pad) if self.label_smoothing else loss
        return {"loss": loss, "nll": nll.detach(), "tokens": (tgt_out != self.pad).sum().float()}

    def step(self, prev: torch.Tensor, state: dict):
        prefix = torch.cat([state["prefix"], prev[:, None]], 1)
        logits = self.decode(state, prefix, last_only=True)[:, -1]
        return logits, {**state, "prefix": prefix}
