"""Synthetic sequence tasks, generated on the device from a seeded ``torch.Generator``.

- ``adding_problem(n, min_length)``: Hochreiter & Schmidhuber's adding problem (1997, Section 5, Experiment 4), as
  the paper generates it. Each step is a pair (value, marker): values uniform in [-1, 1]; exactly two steps are
  marked with 1.0, one among the first ten (value X1) and one among the first ``min_length / 2 - 1`` still unmarked
  steps (X2); the first and the final step carry the marker -1 unless marked; every other marker is 0. Lengths are
  uniform in ``[min_length, min_length + min_length // 10]``; the target, given only at the end, is
  ``0.5 + (X1 + X2) / 4``. A marked first step has its value set to zero (the paper: "in the rare case where the
  first pair of the sequence gets marked, we set X1 to zero"; we apply it to whichever mark lands there).
  A sequence counts as processed correctly when the absolute error at its end is below 0.04.
- ``AddingBatches(batch_size, min_length, seed=...)``: an endless, seeded stream of fresh adding-problem batches,
  for ``fit(..., steps=...)``.
- ``adding_wrong(prediction, target)``: the paper's criterion, which sequences are wrong.
- ``reversal_pairs(n, lengths, symbols)``: an order-dependent translation task for sequence-to-sequence models:
  random symbol strings and their reversals, as (source ids, target ids with BOS and EOS) pairs for
  ``dlhist.data.parallel.PairBatches``; symbol ids start after the tokenizer's special ids.
- ``cipher_sequences(n, pairs, distinct)``: in-context learning of a substitution cipher. Each sequence draws a fresh
  random one-to-one map from ``letters`` plain letters to as many cipher letters and shows ``pairs`` (plain,
  cipher) examples of it, the plain letters drawn from a few ``distinct`` ones so that they repeat. Nothing about a
  map can be learned by gradient descent: a model can only read it off its context.

Sequences of different lengths share one tensor, zero-padded after their end: ``x`` is ``(n, max_length, 2)``
(batch first), ``y`` is ``(n,)`` and ``lengths`` is ``(n,)``; a causal model reads its output at step
``lengths - 1``, where the padding cannot have reached it.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

ADDING_TOLERANCE = 0.04  # the paper's criterion: a sequence is wrong if the absolute error at its end is >= 0.04


class Sequences(NamedTuple):
    """A batch of variable-length sequences: inputs ``x`` (batch first, zero-padded), targets ``y``, ``lengths``."""

    x: torch.Tensor
    y: torch.Tensor
    lengths: torch.Tensor


def adding_problem(n: int, min_length: int, *, variable_length: bool = True, generator: torch.Generator | None = None,
                   device=None, dtype: torch.dtype = torch.float32) -> Sequences:
    """``n`` sequences of the 1997 adding problem with minimal length ``min_length`` (the paper's T).

    ``variable_length=False`` gives every sequence exactly ``min_length`` steps (for measurements at a fixed lag).
    ``generator`` (a ``torch.Generator`` on ``device``) makes the draw reproducible.
    """
    if n < 1:
        raise ValueError(f"n must be positive, got {n}")
    if min_length < 12:
        raise ValueError(f"min_length must be at least 12 (X1 is among the first ten steps, the last step ends the "
                         f"sequence), got {min_length}")
    if generator is not None:
        device = generator.device
    device = torch.device(device) if device is not None else torch.device("cpu")
    extra = min_length // 10 if variable_length else 0
    kw = dict(generator=generator, device=device)
    lengths = min_length + torch.randint(0, extra + 1, (n,), **kw)
    max_length = min_length + extra
    values = torch.rand(n, max_length, generator=generator, device=device, dtype=dtype) * 2 - 1
    first = torch.randint(0, 10, (n,), **kw)  # X1: one of the first ten steps
    r = torch.randint(0, min_length // 2 - 1, (n,), **kw)  # X2: the r-th still unmarked step among the first T/2
    second = r + (r >= first).long()
    steps = torch.arange(max_length, device=device)
    inside = steps < lengths[:, None]
    markers = torch.zeros(n, max_length, device=device, dtype=dtype)
    markers[:, 0] = -1
    markers[steps == (lengths[:, None] - 1)] = -1
    rows = torch.arange(n, device=device)
    markers[rows, first] = 1
    markers[rows, second] = 1
    values[:, 0] = torch.where(markers[:, 0] == 1, torch.zeros_like(values[:, 0]), values[:, 0])
    values = values * inside
    y = 0.5 + (values[rows, first] + values[rows, second]) / 4
    return Sequences(torch.stack([values, markers], dim=-1), y, lengths)


def adding_wrong(prediction: torch.Tensor, target: torch.Tensor, tol: float = ADDING_TOLERANCE) -> torch.Tensor:
    """Which sequences are wrong by the paper's criterion: absolute error at the end of at least ``tol``."""
    return (prediction.reshape(target.shape) - target).abs() >= tol


class AddingBatches:
    """An endless stream of fresh adding-problem batches (``Sequences``), as the paper trained: every sequence is
    new. Each iteration starts the same seeded stream again, so two models trained on ``AddingBatches(..., seed=s)``
    see the same sequences in the same order. Use with ``fit(..., steps=...)``."""

    def __init__(self, batch_size: int, min_length: int, *, seed: int = 0, device=None,
                 dtype: torch.dtype = torch.float32):
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        adding_problem(1, min_length)  # refuses a bad min_length now rather than at the first batch
        self.batch_size, self.min_length, self.seed, self.dtype = batch_size, min_length, seed, dtype
        self.device = torch.device(device) if device is not None else torch.device("cpu")

    def __iter__(self):
        generator = torch.Generator(device=self.device).manual_seed(self.seed)
        while True:
            yield adding_problem(self.batch_size, self.min_length, generator=generator, dtype=self.dtype)


def reversal_pairs(n: int, lengths: tuple[int, int] = (8, 24), symbols: int = 20, *, first_id: int = 4,
                   bos: int = 1, eos: int = 2, generator: torch.Generator | None = None
                   ) -> list[tuple[list[int], list[int]]]:
    """``n`` pairs (source, BOS + reversed source + EOS); lengths uniform in ``lengths`` (inclusive), symbols
    uniform among ``symbols`` ids starting at ``first_id``."""
    lo, hi = lengths
    if not 1 <= lo <= hi:
        raise ValueError(f"lengths must satisfy 1 <= min <= max, got {lengths}")
    if symbols < 2:
        raise ValueError(f"a reversal task needs at least 2 symbols, got {symbols}")
    size = torch.randint(lo, hi + 1, (n,), generator=generator).tolist()
    out = []
    for k in size:
        src = (torch.randint(0, symbols, (k,), generator=generator) + first_id).tolist()
        out.append((src, [bos] + src[::-1] + [eos]))
    return out


class CipherBatch(NamedTuple):
    x: torch.Tensor  # (n, 2 * pairs) token ids: plain letter, cipher letter, plain letter, ...
    y: torch.Tensor  # (n, 2 * pairs) the next token at cipher-letter predictions, -1 (ignored) elsewhere
    shots: torch.Tensor  # (n, 2 * pairs) at a prediction, how often its plain letter was shown before; -1 elsewhere
    unseen: torch.Tensor  # (n, 2 * pairs) at a prediction, how many cipher letters are not yet in the context


def cipher_sequences(n: int, pairs: int = 24, distinct: int | tuple[int, int] = (2, 12), *, letters: int = 26,
                     generator: torch.Generator | None = None) -> CipherBatch:
    """``n`` sequences of ``pairs`` (plain, cipher) examples of a fresh random substitution per sequence.

    Plain letters have ids ``0..letters-1``, cipher letters ``letters..2*letters-1`` (vocabulary ``2 * letters``).
    Each sequence uses ``distinct`` plain letters (an int, or a range drawn per sequence), each example one of them
    at random. Model inputs are ``x[:, :-1]``; targets ``y[:, 1:]`` ask, after each plain letter, for its cipher
    letter. The best possible answer is exact lookup once a letter has been shown (``shots >= 1``); before that, a
    guess among the ``unseen`` cipher letters (accuracy ``1 / unseen``).
    """
    lo, hi = (distinct, distinct) if isinstance(distinct, int) else distinct
    if not 1 <= lo <= hi <= letters:
        raise ValueError(f"distinct must lie in [1, letters={letters}], got {distinct}")
    maps = torch.rand(n, letters, generator=generator).argsort(1)  # a random permutation per sequence
    order = torch.rand(n, letters, generator=generator).argsort(1)  # which plain letters the sequence uses
    k = torch.randint(lo, hi + 1, (n, 1), generator=generator)
    slot = (torch.rand(n, pairs, generator=generator) * k).long()  # uniform over the sequence's k letters
    plain = order.gather(1, slot)
    cipher = maps.gather(1, plain) + letters
    x = torch.stack([plain, cipher], 2).flatten(1)
    earlier = (plain[:, :, None] == plain[:, None, :]).tril(-1)  # [i, t, s]: letter t was shown before, at s
    seen = earlier.sum(2)
    first = (seen == 0).long()  # a letter's first showing
    unseen = letters - (first.cumsum(1) - first)  # one-to-one: each letter shown uses up one cipher letter
    y = torch.full_like(x, -1)
    y[:, 1::2] = cipher
    shots = torch.full_like(x, -1)
    shots[:, 1::2] = seen
    unseen_full = torch.full_like(x, -1)
    unseen_full[:, 1::2] = unseen
    return CipherBatch(x, y, shots, unseen_full)


class CipherBatches:
    """An endless, seeded stream of fresh ``cipher_sequences`` batches as ``(inputs, targets)`` for a language model
    (``GPT.forward(idx, targets)``, ``fit(..., loss_fn=None, steps=...)``): every sequence has a new cipher."""

    def __init__(self, batch_size: int, pairs: int = 24, distinct: int | tuple[int, int] = (2, 12), *,
                 letters: int = 26, seed: int = 0):
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        cipher_sequences(1, pairs, distinct, letters=letters)  # refuses bad settings now, not at the first batch
        self.batch_size, self.pairs, self.distinct, self.letters, self.seed = batch_size, pairs, distinct, letters, seed

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed)
        while True:
            b = cipher_sequences(self.batch_size, self.pairs, self.distinct, letters=self.letters, generator=generator)
            yield b.x[:, :-1], b.y[:, 1:]
