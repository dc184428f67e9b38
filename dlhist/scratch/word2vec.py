"""Skip-gram with negative sampling (Mikolov et al. 2013a, 2013b), from scratch, and the count-based baselines.

The corpus is one stream of word ids ``ids`` with the sentence index of each position ``sentence`` (windows never
cross a sentence).

- ``keep_probability(counts, t)``: frequent-word subsampling (2013b, Section 2.3). The paper discards a word of
  frequency ``f`` with probability ``1 - sqrt(t / f)``; word2vec.c, and gensim after it, keep it with probability
  ``(sqrt(f / t) + 1) * t / f``, which is what we use, so that our runs and gensim's train on the same pairs.
- ``skipgram_pairs``: every (center, context) pair of one pass: each kept center draws a window ``b`` uniform in
  ``1..window`` (word2vec's "reduced window", which weights near words more) and pairs with the kept words up to
  ``b`` positions away on either side, in the same sentence. Subsampling happens first, so it also widens windows.
- ``NoiseTable``: negatives are drawn from the unigram distribution raised to the 3/4 power, through a table of
  word ids as word2vec.c does (a draw is one random index).
- ``SkipGram``: input vectors ``v`` (uniform in +-0.5/dim) and output vectors ``u`` (zeros), as word2vec.c.
  For a pair (c, o) and K negatives n_k the loss is ``-log s(u_o . v_c) - sum_k log s(-u_{n_k} . v_c)`` (2013b,
  eq. 4). ``forward`` returns the sum over the batch, so plain SGD with learning rate ``lr`` gives every pair the
  update word2vec.c gives it, at the same ``lr`` (0.025, decayed linearly to 0.0001 of it). word2vec.c applies
  them one after another; a batch applies them at once, so a word that fills a large share of a batch (``the`` in a
  tiny vocabulary) gets one huge step: keep batches small against the most frequent word's count, or subsample.
- ``phrase_scores``: the bigram score ``(count(ab) - delta) / (count(a) count(b))`` of 2013b, Section 4.
- ``cooccurrence_rows``, ``ppmi``: windowed co-occurrence counts of chosen words, and their positive pointwise
  mutual information, the count-based baselines word vectors are compared with.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn


def keep_probability(counts: torch.Tensor, t: float | None) -> torch.Tensor:
    """The probability of keeping each occurrence of each word (``t=None`` or 0: keep every word)."""
    if t is None or t == 0:
        return torch.ones_like(counts, dtype=torch.float64)
    if t < 0:
        raise ValueError(f"the subsampling threshold t must be positive (or 0/None for none), got {t}")
    f = counts.double() / counts.sum()
    return (((f / t).sqrt() + 1) * t / f).clamp(max=1.0)


def skipgram_pairs(ids: torch.Tensor, sentence: torch.Tensor, window: int, keep: torch.Tensor | None = None,
                   generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One pass's (center, context) id pairs, int64, in corpus order (see the module docstring)."""
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    if ids.shape != sentence.shape or ids.dim() != 1:
        raise ValueError(f"ids and sentence must be 1-D and of one shape, got {tuple(ids.shape)} and "
                         f"{tuple(sentence.shape)}")
    if keep is not None:
        kept = torch.rand(len(ids), generator=generator, dtype=torch.float64) < keep[ids]
        ids, sentence = ids[kept], sentence[kept]
    b = torch.randint(1, window + 1, (len(ids),), generator=generator)
    centers, contexts = [], []
    for d in range(1, window + 1):
        # pairs (i, i + d) and (i + d, i), each valid if it is within that center's own window and sentence
        same = sentence[:-d] == sentence[d:]
        fwd = same & (b[:-d] >= d)  # center i, context i + d
        bwd = same & (b[d:] >= d)  # center i + d, context i
        centers += [ids[:-d][fwd], ids[d:][bwd]]
        contexts += [ids[d:][fwd], ids[:-d][bwd]]
    return torch.cat(centers), torch.cat(contexts)


class NoiseTable:
    """Draws negatives from ``counts ** power`` (normalised) via a table of ``size`` word ids, as word2vec.c does."""

    def __init__(self, counts: torch.Tensor, power: float = 0.75, size: int = 10_000_000):
        p = counts.double() ** power
        self.probs = p / p.sum()
        reps = (self.probs * size).round().long().clamp(min=1)  # every word can be drawn
        self.table = torch.repeat_interleave(torch.arange(len(counts)), reps)

    def sample(self, shape, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        idx = torch.randint(len(self.table), shape, generator=generator)
        return self.table[idx].to(device or "cpu")


class SkipGram(nn.Module):
    """Skip-gram's two embedding tables; ``forward(center, context, negatives)`` returns the batch's summed loss
    and the mean loss per pair (``negatives`` ``(B, K)``; a negative equal to its pair's context is ignored, as in
    word2vec.c). ``sparse=True`` gives sparse gradients, so an SGD step touches only the rows of the batch."""

    def __init__(self, vocab_size: int, dim: int, sparse: bool = True):
        super().__init__()
        self.inp = nn.Embedding(vocab_size, dim, sparse=sparse)
        self.out = nn.Embedding(vocab_size, dim, sparse=sparse)
        with torch.no_grad():
            self.inp.weight.uniform_(-0.5 / dim, 0.5 / dim)
            self.out.weight.zero_()

    @property
    def vectors(self) -> torch.Tensor:
        """The word vectors: the input embeddings (word2vec.c saves these)."""
        return self.inp.weight.detach()

    def forward(self, center: torch.Tensor, context: torch.Tensor, negatives: torch.Tensor) -> dict:
        if center.shape != context.shape or center.dim() != 1 or negatives.shape[0] != center.shape[0]:
            raise ValueError(f"center and context must be (B,) and negatives (B, K); got {tuple(center.shape)}, "
                             f"{tuple(context.shape)} and {tuple(negatives.shape)}")
        v = self.inp(center)  # (B, d)
        u = self.out(torch.cat([context[:, None], negatives], 1))  # (B, 1 + K, d)
        s = torch.bmm(u, v[:, :, None]).squeeze(-1)  # (B, 1 + K)
        real = (negatives != context[:, None]).to(s.dtype)
        loss = -F.logsigmoid(s[:, 0]).sum() - (F.logsigmoid(-s[:, 1:]) * real).sum()
        return {"loss": loss, "nats_per_pair": loss.detach() / len(center)}


class SkipGramBatches:
    """``epochs`` passes of skip-gram pairs, each pass drawn afresh (subsampling and windows), shuffled within the
    pass, in batches ``(center, context, negatives)`` for ``dlhist.fit(model, batches, epochs=1, loss_fn=None)``.

    ``pairs`` counts every pair trained on: the training work that subsampling cuts."""

    def __init__(self, ids: torch.Tensor, sentence: torch.Tensor, noise: NoiseTable, *, window: int = 5,
                 negatives: int = 5, keep: torch.Tensor | None = None, epochs: int = 1, batch_size: int = 1024,
                 seed: int = 0, device=None):
        if negatives < 1 or batch_size < 1 or epochs < 1:
            raise ValueError(f"negatives, batch_size and epochs must be positive, got {negatives}, {batch_size}, "
                             f"{epochs}")
        self.g = torch.Generator().manual_seed(seed)
        passes = []
        for _ in range(epochs):
            c, o = skipgram_pairs(ids, sentence, window, keep, self.g)
            order = torch.randperm(len(c), generator=self.g)
            passes.append(torch.stack([c[order], o[order]]).int())
        self.data = torch.cat(passes, 1)
        self.noise, self.k, self.batch_size = noise, negatives, batch_size
        self.device = device or "cpu"
        self.pairs = self.data.shape[1]
        if self.pairs == 0:
            raise ValueError("the corpus gave no skip-gram pairs (every sentence shorter than two kept words?)")

    def __len__(self) -> int:
        return math.ceil(self.pairs / self.batch_size)

    def __iter__(self):
        data = self.data.to(self.device)
        for i in range(0, self.pairs, self.batch_size):
            c, o = data[:, i:i + self.batch_size].long()
            yield c, o, self.noise.sample((len(c), self.k), self.g, self.device)


def linear_decay(floor: float = 1e-4):
    """word2vec's learning-rate schedule: from the initial rate down to ``floor`` times it, linearly; for
    ``fit(..., scheduler=linear_decay())``."""
    def make(optimizer, total_steps):
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(floor, 1 - s / max(total_steps, 1)))
    return make


def phrase_scores(sentences: Iterable[Sequence[str]], delta: float = 5.0, min_count: int = 5) -> list:
    """Bigrams ``a b`` by the score ``(count(ab) - delta) / (count(a) count(b))`` of Mikolov et al. (2013b, eq. 6),
    highest first, as ``[((a, b), score, count(ab)), ...]``; ``delta`` discounts rare pairs, and bigrams seen fewer
    than ``min_count`` times are left out. Multiply by the number of words to make the score independent of the
    corpus size (as gensim does); the order is the same."""
    unigrams, bigrams = Counter(), Counter()
    for s in sentences:
        unigrams.update(s)
        bigrams.update(zip(s, s[1:]))
    out = [((a, b), (n - delta) / (unigrams[a] * unigrams[b]), n) for (a, b), n in bigrams.items() if n >= min_count]
    return sorted(out, key=lambda x: -x[1])


def cooccurrence_rows(ids: torch.Tensor, sentence: torch.Tensor, rows: torch.Tensor, vocab_size: int,
                      window: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """Co-occurrence counts within ``window`` words (same sentence) of the words ``rows``, ``(len(rows), V)``, and
    every word's total count as a context, ``(V,)`` (for PPMI)."""
    slot = torch.full((vocab_size,), -1, dtype=torch.long)
    slot[rows] = torch.arange(len(rows))
    counts = torch.zeros(len(rows) * vocab_size, dtype=torch.float64)
    totals = torch.zeros(vocab_size, dtype=torch.float64)
    for d in range(1, window + 1):
        same = sentence[:-d] == sentence[d:]
        for center, context in ((ids[:-d][same], ids[d:][same]), (ids[d:][same], ids[:-d][same])):
            totals += torch.bincount(context, minlength=vocab_size).double()
            s = slot[center]
            hit = s >= 0
            counts.index_add_(0, s[hit] * vocab_size + context[hit], torch.ones(int(hit.sum()), dtype=torch.float64))
    return counts.view(len(rows), vocab_size), totals


def ppmi(counts: torch.Tensor, row_totals: torch.Tensor, col_totals: torch.Tensor, total: float) -> torch.Tensor:
    """Positive pointwise mutual information ``max(0, log P(w, c) / (P(w) P(c)))`` of co-occurrence counts."""
    with torch.no_grad():
        pmi = torch.log(counts * total / (row_totals[:, None] * col_totals[None, :]).clamp(min=1e-300))
    return pmi.clamp(min=0).nan_to_num(0.0, posinf=0.0, neginf=0.0)
