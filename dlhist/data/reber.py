"""The Reber grammar and the embedded Reber grammar, as single strings and as a continual stream, seeded, as tensors.

The Reber grammar (Reber 1967) is a small finite-state automaton over the seven symbols ``B T S X P V E``: a string
starts with ``B``, wanders through the graph below (every branch taken with probability 1/2) and ends with ``E``::

    node 0 -B-> 1;  1 -T-> 2,  1 -P-> 3;  2 -S-> 2,  2 -X-> 4;  3 -T-> 3,  3 -V-> 5;
    4 -X-> 3,  4 -S-> 6;  5 -P-> 4,  5 -V-> 6;  6 -E-> end

The *embedded* Reber grammar (Hochreiter & Schmidhuber 1997, Experiment 1) wraps one Reber string in an outer
frame: ``B``, then ``T`` or ``P``, then the Reber string, then the *same* ``T`` or ``P`` again, then ``E``
(``BT<reber>TE`` or ``BP<reber>PE``). Predicting the symbol after the inner ``E`` needs the symbol seen right after
the first ``B``, a dozen or more steps back. The *continual* embedded Reber grammar (Gers, Schmidhuber & Cummins
2000) concatenates embedded strings into one endless stream with no marker a network could reset on, other than the
symbols themselves: ``...TE BP...PE BT...TE B...``.

What a network predicts is the *set* of legal next symbols, so every sequence comes with ``legal``: for each
position, which of the seven symbols may follow the symbols up to and including it (two of them where the grammar
branches, one elsewhere). ``long_range`` marks the positions whose next symbol is the closing ``T``/``P`` (the
input there is the inner ``E``): the one prediction that needs the long-term memory.

Shapes: ``symbols`` holds indices into ``SYMBOLS`` (long); ``legal`` is bool with a last dimension of 7. A single
string is ``(L,)``; a stream is time-major, ``(length, batch)``, like ``nn.LSTM``'s default input.
Randomness comes from a ``torch.Generator`` (one uniform number per emitted symbol), so a seed reproduces a string
or a stream exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import torch

SYMBOLS = "BTSXPVE"
INDEX = {s: i for i, s in enumerate(SYMBOLS)}
N_SYMBOLS = len(SYMBOLS)

# The Reber graph: node -> its outgoing edges (symbol, next node); None ends the string.
REBER_GRAPH = {
    0: (("B", 1),),
    1: (("T", 2), ("P", 3)),
    2: (("S", 2), ("X", 4)),
    3: (("T", 3), ("V", 5)),
    4: (("X", 3), ("S", 6)),
    5: (("P", 4), ("V", 6)),
    6: (("E", None),),
}

_END = -1


def _plain_automaton() -> list[tuple[tuple[int, int], ...]]:
    """The Reber grammar: state k is node k of the graph."""
    return [tuple((INDEX[s], _END if nxt is None else nxt) for s, nxt in REBER_GRAPH[k]) for k in range(7)]


# Embedded grammar: state 0 before the outer B, 1 after it, 2 + 7 * branch + node inside the Reber string (branch 0
# after an outer T, 1 after an outer P), 16 + branch after the inner E (the closing T or P is due), 18 after it.
_OUTER_START, _OUTER_B, _CLOSE, _OUTER_END = 0, 1, 16, 18


def _embedded_automaton(continual: bool) -> list[tuple[tuple[int, int], ...]]:
    states: list[tuple[tuple[int, int], ...]] = [()] * 19
    states[_OUTER_START] = ((INDEX["B"], _OUTER_B),)
    states[_OUTER_B] = ((INDEX["T"], 2), (INDEX["P"], 2 + 7))
    for branch in (0, 1):
        for node, edges in REBER_GRAPH.items():
            states[2 + 7 * branch + node] = tuple(
                (INDEX[s], _CLOSE + branch if nxt is None else 2 + 7 * branch + nxt) for s, nxt in edges)
        states[_CLOSE + branch] = ((INDEX["TP"[branch]], _OUTER_END),)
    states[_OUTER_END] = ((INDEX["E"], _OUTER_START if continual else _END),)
    return states


_AUTOMATA = {"plain": _plain_automaton(), "embedded": _embedded_automaton(False),
             "continual": _embedded_automaton(True)}


def _legal_table(states) -> torch.Tensor:
    """``(n_states + 1, 7)`` bool: the symbols each state may emit; the last row (the end) emits nothing."""
    table = torch.zeros(len(states) + 1, N_SYMBOLS, dtype=torch.bool)
    for k, edges in enumerate(states):
        for sym, _ in edges:
            table[k, sym] = True
    return table


_LEGAL = {name: _legal_table(states) for name, states in _AUTOMATA.items()}
_LONG_RANGE_STATES = (_CLOSE, _CLOSE + 1)


class Sequence(NamedTuple):
    """Symbols (indices into ``SYMBOLS``), the legal next symbols after each one, and the long-range positions."""

    symbols: torch.Tensor
    legal: torch.Tensor
    long_range: torch.Tensor


def _check_positive(**values: int) -> None:
    for name, v in values.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")


def _generator(generator: torch.Generator | None) -> torch.Generator:
    if generator is None:
        return torch.Generator().manual_seed(int(torch.randint(0, 2**62, (1,)).item()))
    if generator.device.type != "cpu":
        raise ValueError(f"generator must be a CPU torch.Generator (strings are drawn on the CPU), got one on "
                         f"{generator.device}")
    return generator


def _step(states, state: int, u: float) -> tuple[int, int]:
    edges = states[state]
    return edges[min(int(u * len(edges)), len(edges) - 1)]


def _sequence(symbols: list[int], after: list[int], kind: str, device) -> Sequence:
    """Tensors from emitted symbols and the automaton state after each (``_END`` indexes the table's last row)."""
    sym = torch.tensor(symbols, dtype=torch.long)
    state = torch.tensor(after, dtype=torch.long)
    legal = _LEGAL[kind][state]
    long_range = (state == _LONG_RANGE_STATES[0]) | (state == _LONG_RANGE_STATES[1])
    return Sequence(sym.to(device), legal.to(device), long_range.to(device))


def reber_string(*, embedded: bool = True, generator: torch.Generator | None = None, device=None) -> Sequence:
    """One string of the embedded (default) or the plain Reber grammar, from ``B`` to the final ``E``.

    ``legal[t]`` holds the symbols that may follow ``symbols[: t + 1]``; after the final ``E``, none. For a plain
    Reber string ``long_range`` is all False.
    """
    kind = "embedded" if embedded else "plain"
    states, g = _AUTOMATA[kind], _generator(generator)
    symbols, after, state = [], [], 0
    while state != _END:
        for u in torch.rand(32, generator=g).tolist():
            sym, state = _step(states, state, u)
            symbols.append(sym)
            after.append(state)
            if state == _END:
                break
    return _sequence(symbols, after, kind, device)


def reber_strings(n: int, *, embedded: bool = True, generator: torch.Generator | None = None,
                  device=None) -> list[Sequence]:
    """``n`` independent strings (see ``reber_string``), drawn one after the other from the same generator."""
    _check_positive(n=n)
    g = _generator(generator)
    return [reber_string(embedded=embedded, generator=g, device=device) for _ in range(n)]


class _Walker:
    """``batch`` independent continual streams, each continuing where the last call left it."""

    def __init__(self, batch: int, generator: torch.Generator):
        self.states = [_OUTER_START] * batch
        self.generator = generator

    def __call__(self, length: int, device=None) -> Sequence:
        table = _AUTOMATA["continual"]
        batch = len(self.states)
        # time-major draws, so that consecutive calls give the same symbols as one long call
        uniforms = torch.rand(length, batch, generator=self.generator).t().tolist()
        symbols, after = [], []
        for b, us in enumerate(uniforms):
            state, syms, afts = self.states[b], [], []
            for u in us:
                sym, state = _step(table, state, u)
                syms.append(sym)
                afts.append(state)
            self.states[b] = state
            symbols.append(syms)
            after.append(afts)
        seq = _sequence(symbols, after, "continual", None)  # (batch, length)
        return Sequence(*(t.transpose(0, 1).contiguous().to(device) for t in seq))


def continual_stream(length: int, batch: int = 1, *, generator: torch.Generator | None = None,
                     device=None) -> Sequence:
    """``batch`` independent continual embedded Reber streams of ``length`` symbols, time-major: ``symbols`` is
    ``(length, batch)``, ``legal`` ``(length, batch, 7)``.

    Each stream starts at the beginning of a string (its first symbol is ``B``) and may stop anywhere, mid-string.
    After each string's final ``E`` the only legal symbol is ``B``: the next string follows at once.
    """
    _check_positive(length=length, batch=batch)
    return _Walker(batch, _generator(generator))(length, device)


class Chunk(NamedTuple):
    """A chunk of ``ContinualReber``: one-hot inputs ``x`` ``(T, B, 7)``, the legal next symbols as float targets
    ``y`` ``(T, B, 7)``, and the long-range positions ``(T, B)``."""

    x: torch.Tensor
    y: torch.Tensor
    long_range: torch.Tensor


class ContinualReber:
    """``batch_size`` endless continual embedded Reber streams, cut into consecutive chunks of ``chunk_length``
    symbols for truncated backpropagation through time: chunk k+1 of a stream continues chunk k exactly (mid-string
    where the cut falls), so a model that carries its state across chunks sees one unbroken stream. Iterating
    again continues the same streams. Use with ``fit(steps=...)``.
    """

    def __init__(self, batch_size: int, chunk_length: int, *, seed: int = 0, device=None):
        _check_positive(batch_size=batch_size, chunk_length=chunk_length)
        self.batch_size, self.chunk_length, self.device = batch_size, chunk_length, device
        self._walk = _Walker(batch_size, torch.Generator().manual_seed(seed))

    def __iter__(self) -> Iterator[Chunk]:
        while True:
            seq = self._walk(self.chunk_length, self.device)
            yield Chunk(one_hot(seq.symbols), seq.legal.float(), seq.long_range)


def one_hot(symbols: torch.Tensor) -> torch.Tensor:
    """Float one-hot codes of symbol indices, with a last dimension of 7."""
    return torch.nn.functional.one_hot(symbols, N_SYMBOLS).float()


def to_string(symbols: torch.Tensor) -> str:
    """The letters of a 1-D tensor of symbol indices: ``to_string(s.symbols) == "BTBTXSETE"``."""
    if symbols.dim() != 1:
        raise ValueError(f"symbols must be 1-D to become a string, got shape {tuple(symbols.shape)}")
    return "".join(SYMBOLS[i] for i in symbols.tolist())


def from_string(text: str) -> torch.Tensor:
    """Symbol indices of a string of the letters ``BTSXPVE``."""
    bad = sorted(set(text) - set(SYMBOLS))
    if bad:
        raise ValueError(f"text holds letters outside {SYMBOLS}: {bad}")
    return torch.tensor([INDEX[c] for c in text], dtype=torch.long)


def legal_sets(legal: torch.Tensor) -> list[str]:
    """The legal next symbols of each row of a ``(L, 7)`` mask, as strings (``["TP", "B", ...]``)."""
    return ["".join(SYMBOLS[i] for i in range(N_SYMBOLS) if row[i]) for row in legal.tolist()]
