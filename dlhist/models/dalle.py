"""DALL-E (Ramesh et al. 2021) at the size of a captioned digit: one decoder-only Transformer over a caption's tokens
followed by an image's code indices, so that drawing an image is writing its codes one by one after the caption.

    vq = VQAutoencoder(n_codes=512)                             # images <-> 8x8 grids of codes (dlhist.models.latent)
    seq = joint_sequences(tokens, vq.encode(images), len(vocab))   # (N, text_len + 64): codes shifted past the words
    gpt = GPT(len(vocab) + vq.n_codes, context=seq.shape[1])
    fit(gpt, batches, step=lambda m, b: dalle_loss(m, b[0], text_len))
    codes = generate(gpt, prompts, vq.grid, len(vocab), candidates=8)   # (N, 8, 8, 8)
    best = rerank(scores)                                       # scores (N, 8), e.g. a CLIP's caption-image similarity

The paper's transformer models both kinds of token in one stream and weights the text cross-entropy by 1/8 and the
image cross-entropy by 7/8, each normalised by its number of tokens (``dalle_loss``). At sampling time it draws many
images per caption and keeps the ones a contrastive model (CLIP) scores highest for the caption (the more candidates
reranked, the better the samples); ``generate`` draws the candidates, with the package's key-value cache, and
``rerank`` picks the best of each row of scores.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .gpt import GPT


def joint_sequences(text: torch.Tensor, codes: torch.Tensor, text_vocab: int) -> torch.Tensor:
    """One sequence per image: its caption's token ids (N, text_len), then its code indices (N, *grid) flattened and
    shifted by ``text_vocab``, so that words and codes share one vocabulary of ``text_vocab + n_codes`` ids."""
    if text.dim() != 2 or codes.dim() < 2 or text.shape[0] != codes.shape[0]:
        raise ValueError(f"text must be (N, text_len) and codes (N, *grid) for the same N, got {tuple(text.shape)} "
                         f"and {tuple(codes.shape)}")
    if text.numel() and (text.min() < 0 or text.max() >= text_vocab):
        raise ValueError(f"text token ids must lie in 0 .. {text_vocab - 1}, got {text.min().item()} .. "
                         f"{text.max().item()}")
    if codes.numel() and codes.min() < 0:
        raise ValueError(f"code indices must be >= 0, got {codes.min().item()}")
    return torch.cat([text.long(), codes.flatten(1).long() + text_vocab], 1)


def dalle_loss(model: GPT, seq: torch.Tensor, text_len: int, text_weight: float = 1 / 8,
               pad_id: int | None = 0) -> dict[str, torch.Tensor]:
    """The paper's objective on joint sequences (N, text_len + image_len): next-token cross-entropy, averaged
    separately over the caption's tokens (from the second on, ``pad_id`` targets ignored) and over the image codes
    (all of them, the first predicted from the caption's last position), then ``text_weight * text + (1 -
    text_weight) * image``. Returns {"loss", "text", "image"}."""
    if not 0.0 <= text_weight <= 1.0:
        raise ValueError(f"text_weight must be in [0, 1], got {text_weight}")
    if seq.dim() != 2 or not 1 <= text_len < seq.shape[1]:
        raise ValueError(f"seq must be (N, text_len + image_len) with text_len={text_len} < its length, got "
                         f"{tuple(seq.shape)}")
    logits = model(seq[:, :-1])
    targets = seq[:, 1:]
    per_token = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), reduction="none").view_as(targets)
    text_t, image_t = per_token[:, :text_len - 1], per_token[:, text_len - 1:]
    if text_len > 1:
        real = torch.ones_like(text_t, dtype=torch.bool) if pad_id is None else targets[:, :text_len - 1] != pad_id
        text = (text_t * real).sum() / real.sum().clamp(min=1)
    else:
        text = per_token.new_zeros(())
    image = image_t.mean()
    return {"loss": text_weight * text + (1 - text_weight) * image, "text": text, "image": image}


@torch.no_grad()
def generate(model: GPT, text: torch.Tensor, grid: Sequence[int], text_vocab: int, *, candidates: int = 1,
             temperature: float = 1.0, top_k: int | None = None,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw ``candidates`` code grids for each caption (N, text_len): (N, candidates, *grid) code indices. Words
    are never drawn where codes belong (their ids are suppressed); ``temperature`` and ``top_k`` as in
    ``GPT.generate``."""
    if candidates < 1:
        raise ValueError(f"candidates must be at least 1, got {candidates}")
    n_image = math.prod(grid)
    prompts = text.repeat_interleave(candidates, 0)
    out = model.generate(prompts, n_image, temperature=temperature, top_k=top_k, generator=generator,
                         suppress=range(text_vocab))
    return (out[:, text.shape[1]:] - text_vocab).view(text.shape[0], candidates, *grid)


def rerank(scores: torch.Tensor) -> torch.Tensor:
    """For scores (N, candidates), higher is better (a CLIP's similarity of each candidate to its caption), the index
    of the best candidate of each row, (N,)."""
    if scores.dim() != 2:
        raise ValueError(f"scores must be (captions, candidates), got {tuple(scores.shape)}")
    return scores.argmax(1)
