"""A GPT-2-style decoder-only Transformer (Radford et al. 2019): the package's language model.

    model = GPT(vocab_size=65, context=128, d_model=128, n_heads=4, layers=4)
    out = model(x, targets=y)                      # {"loss": mean cross-entropy}: dlhist.fit(..., loss_fn=None)
    logits = model(x)                              # (B, T, V)
    clf = GPTClassifier(model, n_classes=2)        # a linear head on the state at each sequence's last token
    model.generate(prompt_ids, 200, temperature=0.8, top_k=20)     # with a key-value cache

GPT-2's choices, after nanoGPT: learned positions, pre-norm blocks ``x + attn(LN(x))`` and ``x + mlp(LN(x))`` with a
final LayerNorm, GELU in a 4x-wide MLP, causal multi-head attention (``dlhist.scratch.attention``, PyTorch's fused
kernel underneath), the output layer tied to the token embeddings, weights drawn from N(0, 0.02) and the residual
projections scaled down by 1/sqrt(2 * layers). Generation keeps each layer's keys and values (the KV cache), so
each new token costs one position's work instead of a pass over the whole prefix; ``use_cache=False`` recomputes,
and gives the same tokens. ``mlp=False`` builds an attention-only model (Elhage et al. 2021; Olsson et al. 2022),
the smallest in which in-context copying can be studied; ``positions="rotary"`` replaces the learned position
vectors by rotary embeddings in every attention layer (Su et al. 2021; used by most language models since 2022).
``causal=False`` lets every position attend to every other: the same stack is then a bidirectional encoder, BERT's
(``dlhist.models.bert``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..scratch.attention import MultiHeadAttention
from .transformer import FeedForward


class Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0, mlp: bool = True, rotary: bool = False,
                 causal: bool = True):
        super().__init__()
        self.causal = causal
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = MultiHeadAttention(d_model, n_heads, dropout=dropout, rotary=rotary)
        if mlp:
            self.ln2 = nn.LayerNorm(d_model)
            self.mlp = FeedForward(d_model, 4 * d_model, activation=nn.GELU)  # the Transformer's, with GELU
        self.has_mlp = mlp
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, cache: dict | None = None, real: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.drop(self.attn(self.ln1(x), causal=self.causal, cache=cache, key_padding_mask=real))
        return x + self.drop(self.mlp(self.ln2(x))) if self.has_mlp else x


class GPT(nn.Module):
    def __init__(self, vocab_size: int, context: int = 128, d_model: int = 128, n_heads: int = 4, layers: int = 4,
                 dropout: float = 0.0, mlp: bool = True, positions: str = "learned", causal: bool = True):
        super().__init__()
        if positions not in ("learned", "rotary"):
            raise ValueError(f"positions must be 'learned' or 'rotary', got {positions!r}")
        self.vocab_size, self.context, self.causal = vocab_size, context, causal
        self.tok = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Embedding(context, d_model) if positions == "learned" else None
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(d_model, n_heads, dropout, mlp, positions == "rotary", causal)
                                    for _ in range(layers))
        self.ln_f = nn.LayerNorm(d_model)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * layers) if name.endswith(("out_proj.weight", "mlp.3.weight")) else 0.02
                nn.init.normal_(p, std=std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def non_embedding_parameters(self) -> int:
        """Parameters outside the token and position embeddings (Kaplan et al.'s N)."""
        return sum(p.numel() for n, p in self.named_parameters() if not n.startswith(("tok.", "pos.")))

    def hidden(self, idx: torch.Tensor, caches: list[dict] | None = None, real: torch.Tensor | None = None
               ) -> torch.Tensor:
        """The final (layer-normed) states (B, T, d_model) for token ids (B, T): what the output layer reads, and
        what a classifier or reward head on top of the language model reads. ``real`` (B, T), True at real tokens,
        keeps padding out of attention; a causal model needs it only for padding placed before real tokens."""
        if idx.dim() != 2:
            raise ValueError(f"idx must be (batch, time) token ids, got shape {tuple(idx.shape)}")
        offset = caches[0]["k"].shape[2] if caches and "k" in caches[0] else 0
        length = offset + idx.shape[1]
        if length > self.context:
            raise ValueError(f"{length} positions ({offset} cached + {idx.shape[1]} new) exceed the model's "
                             f"context of {self.context}")
        if idx.numel() and (idx.min() < 0 or idx.max() >= self.vocab_size):
            raise ValueError(f"token ids must lie in [0, {self.vocab_size}), got {idx.min().item()}.."
                             f"{idx.max().item()}")
        x = self.tok(idx)
        if self.pos is not None:
            x = x + self.pos(torch.arange(offset, length, device=idx.device))
        x = self.drop(x)
        if real is not None and real.shape != idx.shape:
            raise ValueError(f"real {tuple(real.shape)} must have the shape of idx {tuple(idx.shape)}")
        for i, block in enumerate(self.blocks):
            x = block(x, caches[i] if caches else None, real)
        return self.ln_f(x)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, caches: list[dict] | None = None):
        """Logits (B, T, V) for token ids (B, T), or ``{"loss"}`` with ``targets`` (B, T) (-1 is ignored).
        ``caches``, one dict per layer, hold the keys and values of earlier calls (see ``generate``)."""
        logits = self.hidden(idx, caches) @ self.tok.weight.T
        if targets is None:
            return logits
        if targets.shape != idx.shape:
            raise ValueError(f"targets {tuple(targets.shape)} must have the shape of idx {tuple(idx.shape)}")
        return {"loss": F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-1)}

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                 generator: torch.Generator | None = None, use_cache: bool = True,
                 suppress: Sequence[int] = ()) -> torch.Tensor:
        """Continue ``idx`` (B, T) by ``new_tokens`` tokens drawn from the softmax at ``temperature`` (0: the most
        likely token), among the ``top_k`` most likely if given, never one of the ``suppress`` ids (e.g. a start
        token). With the cache, prompt plus new tokens must fit in the context; without it, the model sees the last
        ``context`` tokens at every step."""
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        if not self.causal:
            raise ValueError("a bidirectional model (causal=False) sees the future and cannot generate left to right")
        if use_cache and idx.shape[1] + new_tokens > self.context:
            raise ValueError(f"{idx.shape[1]} prompt + {new_tokens} new tokens exceed the context of {self.context}"
                             "; generate with use_cache=False to slide a window over longer text")
        was_training = self.training
        self.eval()
        caches = [{} for _ in self.blocks] if use_cache else None
        logits = self(idx if use_cache else idx[:, -self.context:], caches=caches)[:, -1]
        out = idx
        banned = torch.tensor(list(suppress), dtype=torch.long, device=idx.device)
        for step in range(new_tokens):
            if banned.numel():
                logits = logits.index_fill(-1, banned, float("-inf"))
            if temperature == 0:
                nxt = logits.argmax(-1, keepdim=True)
            else:
                scaled = logits.float() / temperature
                if top_k is not None:
                    kth = scaled.topk(min(top_k, scaled.shape[-1]), dim=-1).values[:, -1:]
                    scaled = scaled.masked_fill(scaled < kth, float("-inf"))
                nxt = torch.multinomial(torch.softmax(scaled, -1), 1, generator=generator)
            out = torch.cat([out, nxt], 1)
            if step < new_tokens - 1:
                logits = (self(nxt, caches=caches) if use_cache else self(out[:, -self.context:]))[:, -1]
        self.train(was_training)
        return out


class GPTClassifier(nn.Module):
    """A linear head on a GPT's final states: the state at each sequence's last real token (``pool="last"``,
    Radford et al. 2018's recipe: with causal attention that state has read the whole sequence), the mean of the
    states of its real tokens (``pool="mean"``) or the state at the first token (``pool="first"``, BERT's [CLS]
    recipe, for a bidirectional model).

    ``forward(idx)`` takes token ids (B, T) padded at the end with ``pad_id`` and returns logits (B, n_classes);
    ``lengths`` may be given instead of being read off the padding. Padding never changes the answer: causal
    attention keeps it out of the real tokens' states, and a bidirectional model is given a padding mask."""

    def __init__(self, gpt: GPT, n_classes: int, pad_id: int = 0, pool: str = "last"):
        super().__init__()
        if pool not in ("last", "mean", "first"):
            raise ValueError(f"pool must be 'last', 'mean' or 'first', got {pool!r}")
        self.gpt, self.pad_id, self.pool = gpt, pad_id, pool
        self.head = nn.Linear(gpt.tok.embedding_dim, n_classes)

    def features(self, idx: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if lengths is None:
            lengths = (idx != self.pad_id).sum(1)
        if lengths.shape != idx.shape[:1] or (lengths < 1).any() or (lengths > idx.shape[1]).any():
            raise ValueError(f"lengths {tuple(lengths.shape)} must give one length in 1..{idx.shape[1]} per row of "
                             f"idx {tuple(idx.shape)}")
        idx = idx[:, :int(lengths.max())]  # columns that are padding in every row: not computed
        real = torch.arange(idx.shape[1], device=idx.device) < lengths[:, None]
        h = self.gpt.hidden(idx, real=None if self.gpt.causal else real)
        if self.pool == "last":
            return h[torch.arange(idx.shape[0], device=idx.device), lengths - 1]
        if self.pool == "first":
            return h[:, 0]
        return (h * real[..., None]).sum(1) / lengths[:, None]

    def forward(self, idx: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.features(idx, lengths))
