"""Polyphonic music as piano rolls, and the negative log-likelihood per time step used to compare models of it.

    rolls = load_chorales()                                   # JSB Chorales: rolls.train / .valid / .test
    train = RollBatches(rolls.train, batch_size=8, shuffle=True)   # (x, y) batches that feed ``dlhist.fit``
    loss = frame_nll(model(x), y)                             # nats per time step, padding ignored
    nll_per_step(model, RollBatches(rolls.test))              # the measure of Boulanger-Lewandowski et al. 2012

A piece is a sequence of time steps; each step is the set of MIDI pitches sounding then (a chord, possibly empty).
As a piano roll it is a ``(T, P)`` float tensor of 0s and 1s, one column per pitch of ``rolls.pitches`` (lowest
first). A model reads the steps before ``t`` and gives one logit per pitch for step ``t``: the pitches are independent
Bernoulli variables given the past, so the log-likelihood of step ``t`` is ``-BCE(logits_t, v_t)`` summed over the
pitches. Boulanger-Lewandowski, Bengio & Vincent (ICML 2012) report the log-likelihood *per time step*: the total
over every step of every piece of a split, divided by the number of steps; Chung et al. (2014, Table 2) report the
negative of that. ``frame_nll`` and ``nll_per_step`` compute it.

Batches: ``x`` is the roll delayed by one step (a silent first step, then ``v_1 .. v_{T-1}``), ``y`` the roll itself,
so ``model(x)[:, t]`` predicts ``y[:, t]`` from the steps before ``t`` only, the first step included. Pieces of
different lengths are padded at the end, ``x`` with zeros and ``y`` with ``PAD``; a causal model's outputs at the
real steps do not depend on the padding, and the losses skip padded steps.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from .registry import fetch

PAD = -1.0  # the target value of a padded time step
SPLITS = ("train", "valid", "test")
CHORALE_FILE = "jsb-chorales-quarter.json"  # Boulanger-Lewandowski's split and quarter-note resolution


@dataclass
class PianoRolls:
    """The pieces of a data set as piano rolls, per split, and the pitches their columns stand for."""

    train: list[torch.Tensor]
    valid: list[torch.Tensor]
    test: list[torch.Tensor]
    pitches: range

    def __getitem__(self, split: str) -> list[torch.Tensor]:
        if split not in SPLITS:
            raise KeyError(f"no split {split!r}; the splits are {', '.join(SPLITS)}")
        return getattr(self, split)

    def steps(self, split: str) -> int:
        """The number of time steps in a split (what an NLL per time step divides by)."""
        return sum(len(r) for r in self[split])

    def __repr__(self) -> str:
        sizes = ", ".join(f"{s} {len(self[s])} pieces / {self.steps(s):,} steps" for s in SPLITS)
        return f"PianoRolls({sizes}; pitches {self.pitches.start}..{self.pitches.stop - 1})"


def read_pieces(path: str | Path) -> dict[str, list[list[list[int]]]]:
    """A JSON file of ``{"train"|"valid"|"test": [piece, ...]}``, each piece a list of time steps, each step a list
    of MIDI pitch numbers (the layout of Boulanger-Lewandowski's pickles, kept by the JSON copies)."""
    data = json.loads(Path(path).read_text())
    missing = [s for s in SPLITS if s not in data]
    if missing:
        raise ValueError(f"{path} lacks the split(s) {missing}; it has {sorted(data)}")
    return {s: data[s] for s in SPLITS}


def pitch_range(pieces: Iterable[Sequence[Sequence[int]]]) -> range:
    """The pitches from the lowest to the highest that sound anywhere in ``pieces``, as a ``range``."""
    notes = [int(p) for piece in pieces for step in piece for p in step]
    if not notes:
        raise ValueError("the pieces hold no notes at all")
    return range(min(notes), max(notes) + 1)


def piano_roll(piece: Sequence[Sequence[int]], pitches: range) -> torch.Tensor:
    """One piece as a ``(T, len(pitches))`` float tensor: 1 where a pitch sounds at a step, else 0."""
    roll = torch.zeros(len(piece), len(pitches))
    for t, step in enumerate(piece):
        for p in step:
            p = int(p)
            if p not in pitches:
                raise ValueError(f"pitch {p} at step {t} is outside the range {pitches.start}..{pitches.stop - 1}")
            roll[t, p - pitches.start] = 1.0
    return roll


def load_rolls(path: str | Path, pitches: range | None = None) -> PianoRolls:
    """The pieces of a JSON file as piano rolls; ``pitches`` defaults to the range found in all three splits."""
    pieces = read_pieces(path)
    pitches = pitches or pitch_range(p for s in SPLITS for p in pieces[s])
    return PianoRolls(*[[piano_roll(p, pitches) for p in pieces[s]] for s in SPLITS], pitches=pitches)


def load_chorales(pitches: range | None = None) -> PianoRolls:
    """JSB Chorales (229 / 76 / 77 chorales, one step per quarter note), fetched, verified and cached by
    ``dlhist.fetch("jsb-chorales")``; the pitches found there are MIDI 43..96 (54 columns)."""
    return load_rolls(fetch("jsb-chorales") / CHORALE_FILE, pitches)


def pad(rolls: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and targets ``(N, T_max, P)`` for a list of rolls: ``x`` each roll delayed by one step (a silent
    first step), zero-padded; ``y`` each roll, padded with ``PAD``."""
    if not rolls:
        raise ValueError("pad needs at least one roll")
    n_pitches = {r.shape[1] for r in rolls}
    if len(n_pitches) != 1:
        raise ValueError(f"rolls with different numbers of pitches: {sorted(n_pitches)}")
    t_max, p = max(len(r) for r in rolls), n_pitches.pop()
    x = torch.zeros(len(rolls), t_max, p)
    y = torch.full((len(rolls), t_max, p), PAD)
    for i, r in enumerate(rolls):
        x[i, 1:len(r)] = r[:-1]
        y[i, :len(r)] = r
    return x, y


class RollBatches:
    """Batches ``(x, y)`` of whole pieces (see ``pad``), each cut to the longest piece in it.

    ``batch_size=None`` puts every piece in one batch (evaluation). With ``shuffle`` the order changes every pass,
    drawn from ``generator`` (default: torch's global generator, which ``dlhist.seed_everything`` seeds). The padded
    tensors are built once, on ``device``.

    ``repeat=True`` makes the batches endless (pass after pass) and without a length: ``dlhist.fit`` then needs
    ``steps=`` and treats the whole budget as one epoch, so its end-of-epoch evaluation runs once, not after each
    of the many short passes over a small data set (use ``eval_every`` for curves).
    """

    def __init__(self, rolls: Sequence[torch.Tensor], batch_size: int | None = None, shuffle: bool = False,
                 device=None, generator: torch.Generator | None = None, repeat: bool = False):
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be positive (or None for one batch), got {batch_size}")
        self.x, self.y = pad(rolls)
        self.x, self.y = self.x.to(device or "cpu"), self.y.to(device or "cpu")
        self.lengths = torch.tensor([len(r) for r in rolls])
        self.batch_size = batch_size or len(rolls)
        self.shuffle, self.generator, self.repeat = shuffle, generator, repeat

    @property
    def steps(self) -> int:
        """The number of real (not padded) time steps."""
        return int(self.lengths.sum())

    def __len__(self) -> int:
        if self.repeat:
            raise TypeError("endless RollBatches (repeat=True) have no length: give dlhist.fit a steps= budget")
        return math.ceil(len(self.lengths) / self.batch_size)

    def _one_pass(self):
        n = len(self.lengths)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        for idx in order.split(self.batch_size):
            t = int(self.lengths[idx].max())
            idx = idx.to(self.x.device)
            yield self.x[idx, :t], self.y[idx, :t]

    def __iter__(self):
        yield from self._one_pass()
        while self.repeat:
            yield from self._one_pass()


def frame_nll(logits: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Negative log-likelihood of the targets ``y`` (0/1, ``PAD`` for padded steps) under independent Bernoulli
    pitches with these logits, summed over the pitches: per real time step (``"mean"``) or in total (``"sum"``)."""
    if logits.shape != y.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and targets {tuple(y.shape)} differ in shape")
    real = y[..., 0] != PAD
    per_step = F.binary_cross_entropy_with_logits(logits.float(), y.clamp(min=0).float(), reduction="none").sum(-1)
    total = per_step[real].sum()
    if reduction == "sum":
        return total
    if reduction == "mean":
        return total / real.sum().clamp(min=1)
    raise ValueError(f"reduction must be 'mean' or 'sum', not {reduction!r}")


@torch.no_grad()
def nll_per_step(model, batches: Iterable) -> float:
    """The NLL per time step of ``model`` (inputs ``x`` -> logits of the same shape) over all ``(x, y)`` batches: the
    total over every real step, divided by the number of steps, in eval mode (Boulanger-Lewandowski et al. 2012;
    Chung et al. 2014)."""
    was_training = model.training
    model.eval()
    total, steps = 0.0, 0
    try:
        for x, y in batches:
            total += frame_nll(model(x), y, reduction="sum").item()
            steps += int((y[..., 0] != PAD).sum())
    finally:
        model.train(was_training)
    if steps == 0:
        raise ValueError("nll_per_step got no time steps")
    return total / steps


def bernoulli_nll(train: Sequence[torch.Tensor], rolls: Sequence[torch.Tensor]) -> float:
    """NLL per time step of a model with no memory: each pitch sounds with its frequency in ``train`` (add-one
    smoothed, so that a pitch never seen in training costs a finite amount), whatever came before. The baseline any
    sequence model must beat."""
    counts = torch.stack([r.sum(0) for r in train]).sum(0)
    steps = sum(len(r) for r in train)
    p = (counts + 1) / (steps + 2)
    stacked = torch.cat(list(rolls))
    nll = -(stacked * p.log() + (1 - stacked) * (1 - p).log()).sum()
    return nll.item() / len(stacked)
