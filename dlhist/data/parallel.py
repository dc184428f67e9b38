"""Parallel corpora for translation: Multi30k, and batches of variable-length sentence pairs with padding masks.

    pairs = load_multi30k("train", src="en", tgt="fr")            # [(english, french), ...], 29,000 pairs
    tok = BPETokenizer.train([s for p in pairs for s in p], 4000)  # one vocabulary for both languages
    data = encode_pairs(pairs, tok, max_len=64)                    # token ids, BOS/EOS added to the target
    for batch in PairBatches(data, batch_size=64, shuffle=True):   # dicts of padded tensors
        batch["src"], batch["src_mask"], batch["tgt_in"], batch["tgt_out"]

Multi30k (Elliott et al. 2016): English descriptions of Flickr30k images with German and French translations;
29,000 training pairs, 1,014 for validation, 1,000 in the 2016 test set.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .registry import fetch
from .tokenizer import BOS, EOS, PAD, BPETokenizer

SPLITS = {"train": "train", "val": "val", "test": "test_2016_flickr"}
LANGUAGES = ("en", "de", "fr")


def load_multi30k(split: str = "train", src: str = "en", tgt: str = "fr") -> list[tuple[str, str]]:
    """Sentence pairs of one split of Multi30k (fetched, checksummed and cached), stripped of surrounding space."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; Multi30k has {', '.join(SPLITS)}")
    for lang in (src, tgt):
        if lang not in LANGUAGES:
            raise ValueError(f"unknown language {lang!r}; Multi30k has {', '.join(LANGUAGES)}")
    folder = fetch("multi30k")
    lines = {lang: (folder / f"{SPLITS[split]}.{lang}").read_text(encoding="utf-8").splitlines()
             for lang in (src, tgt)}
    if len(lines[src]) != len(lines[tgt]):
        raise ValueError(f"Multi30k {split}: {len(lines[src])} {src} lines against {len(lines[tgt])} {tgt} lines")
    return [(a.strip(), b.strip()) for a, b in zip(lines[src], lines[tgt])]


def encode_pairs(pairs: Sequence[tuple[str, str]], tokenizer: BPETokenizer, max_len: int | None = None,
                 reverse_source: bool = False) -> list[tuple[list[int], list[int]]]:
    """Token ids of each pair: the source as it is (reversed with ``reverse_source``, Sutskever et al.'s trick),
    the target between BOS and EOS. A pair longer than ``max_len`` tokens on either side is an error that names
    it; filter long pairs first if that is what you want."""
    out = []
    for i, (s, t) in enumerate(pairs):
        try:
            src = tokenizer.encode(s, max_len=max_len)
            tgt = tokenizer.encode(t, bos=True, eos=True, max_len=max_len)
        except ValueError as exc:
            raise ValueError(f"pair {i}: {exc}") from None
        out.append((src[::-1] if reverse_source else src, tgt))
    return out


def pad(seqs: Sequence[Sequence[int]], value: int = PAD) -> torch.Tensor:
    """``(N, longest)`` int64 tensor of the sequences, padded at the end with ``value``."""
    if not seqs:
        raise ValueError("pad needs at least one sequence")
    out = torch.full((len(seqs), max(len(s) for s in seqs)), value, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = torch.as_tensor(s, dtype=torch.long)
    return out


def make_batch(pairs: Sequence[tuple[list[int], list[int]]], device=None) -> dict:
    """A padded batch: ``src`` (B, S) with ``src_mask`` (True at real tokens), the decoder's input ``tgt_in``
    (BOS, y_1, ..., y_n) and its target ``tgt_out`` (y_1, ..., y_n, EOS), padded with PAD (ignore it in the loss:
    ``F.cross_entropy(..., ignore_index=PAD)``)."""
    src = pad([p[0] for p in pairs])
    tgt = pad([p[1] for p in pairs])
    batch = {"src": src, "src_mask": src != PAD, "tgt_in": tgt[:, :-1], "tgt_out": tgt[:, 1:]}
    return {k: v.to(device) for k, v in batch.items()} if device is not None else batch


class PairBatches:
    """Batches of encoded pairs for ``dlhist.fit``. With ``shuffle``, pairs are shuffled every pass, then grouped
    into pools of ``pool`` batches sorted by source length, so that a batch holds sentences of similar lengths and
    little padding (the batches themselves are then shuffled)."""

    def __init__(self, pairs: Sequence[tuple[list[int], list[int]]], batch_size: int, shuffle: bool = False,
                 pool: int = 50, device=None, generator: torch.Generator | None = None):
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if not pairs:
            raise ValueError("PairBatches got no pairs")
        self.pairs, self.batch_size, self.shuffle, self.pool = list(pairs), batch_size, shuffle, pool
        self.device, self.generator = device, generator

    def __len__(self) -> int:
        return math.ceil(len(self.pairs) / self.batch_size)

    def __iter__(self):
        n, b = len(self.pairs), self.batch_size
        if not self.shuffle:
            order = list(range(n))
            chunks = [order[i:i + b] for i in range(0, n, b)]
        else:
            order = torch.randperm(n, generator=self.generator).tolist()
            chunks = []
            for start in range(0, n, b * self.pool):
                block = sorted(order[start:start + b * self.pool], key=lambda i: len(self.pairs[i][0]))
                chunks += [block[i:i + b] for i in range(0, len(block), b)]
            chunks = [chunks[i] for i in torch.randperm(len(chunks), generator=self.generator).tolist()]
        for idx in chunks:
            yield make_batch([self.pairs[i] for i in idx], self.device)


__all__ = ["BOS", "EOS", "PAD", "load_multi30k", "encode_pairs", "pad", "make_batch", "PairBatches"]
