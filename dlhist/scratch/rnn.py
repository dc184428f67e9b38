"""Recurrent cells from scratch: the simple (Elman) RNN, the LSTM (with or without a forget gate) and the GRU.

Each cell maps one time step, ``(x_t, state) -> state``, with the parameter names and gate order of PyTorch's
``nn.RNNCell``/``nn.LSTMCell``/``nn.GRUCell`` (``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``), so that a
state_dict moves between the two and ``tests/scratch/test_rnn.py`` can check them against ``nn.RNN``/``nn.LSTM``/
``nn.GRU``. ``Recurrent(cell)`` runs a cell over a sequence; ``last_step(outputs, lengths)`` reads each padded
sequence's output at its own end.

Shapes: ``x_t`` is ``(B, input_size)``; ``h`` is ``(B, hidden_size)``; an LSTM's state is the pair ``(h, c)``.

- Elman 1990: ``h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``.
- Hochreiter & Schmidhuber 1997: the memory cell ``c`` is a constant error carousel,
  ``c_t = f_t * c_{t-1} + i_t * g_t`` and ``h_t = o_t * tanh(c_t)``, with input gate ``i``, output gate ``o`` and
  candidate ``g``. The 1997 cell had no forget gate (``f_t = 1``, Gers et al. added it in 2000): ``forget_gate=False``.
- Cho et al. 2014: the GRU's reset gate ``r`` and update gate ``z``,
  ``n_t = tanh(W_in x_t + b_in + r_t * (W_hn h_{t-1} + b_hn))``, ``h_t = (1 - z_t) * n_t + z_t * h_{t-1}``. This is
  PyTorch's (and cuDNN's) form, with the reset gate applied after the recurrent matrix; the published paper applies
  it before, ``W_hn (r_t * h_{t-1})``; the two agree when ``r = 1``.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class _Cell(nn.Module):
    gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True):
        super().__init__()
        if input_size < 1 or hidden_size < 1:
            raise ValueError(f"input_size and hidden_size must be positive, got {input_size} and {hidden_size}")
        self.input_size, self.hidden_size = input_size, hidden_size
        g = self.gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(g, input_size))
        self.weight_hh = nn.Parameter(torch.empty(g, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(g)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(g)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's initialisation: every weight and bias uniform in (-1/sqrt(H), 1/sqrt(H))."""
        bound = 1 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def _check(self, x: torch.Tensor) -> None:
        if x.dim() != 2 or x.shape[1] != self.input_size:
            raise ValueError(f"{type(self).__name__} expects x_t of shape (batch, {self.input_size}), "
                             f"got {tuple(x.shape)}")

    def _check_state(self, x: torch.Tensor, *states: torch.Tensor) -> None:
        want = (x.shape[0], self.hidden_size)
        for name, s in zip(("h", "c"), states):
            if tuple(s.shape) != want:
                raise ValueError(f"{type(self).__name__}: the state {name} must have shape (batch, hidden) = {want} "
                                 f"for x_t of shape {tuple(x.shape)}, got {tuple(s.shape)}")

    def _affine(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        gi = x @ self.weight_ih.t()
        gh = h @ self.weight_hh.t()
        if self.bias_ih is not None:
            gi, gh = gi + self.bias_ih, gh + self.bias_hh
        return gi, gh

    def initial_state(self, batch: int, like: torch.Tensor):
        return like.new_zeros(batch, self.hidden_size)


class RNNCell(_Cell):
    """Elman's simple recurrent cell, ``h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``."""

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        self._check(x)
        h = self.initial_state(x.shape[0], x) if h is None else h
        self._check_state(x, h)
        gi, gh = self._affine(x, h)
        return torch.tanh(gi + gh)


class LSTMCell(_Cell):
    """The LSTM cell; state ``(h, c)``. Gate rows in PyTorch's order: input, forget, cell candidate, output.

    ``forget_gate=False`` is the 1997 cell: the forget gate is held at 1 (its rows stay in the weights, unused), so
    the cell state only ever adds ``i * g``: the constant error carousel, which also means nothing resets it.
    """

    gates = 4

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, forget_gate: bool = True):
        super().__init__(input_size, hidden_size, bias)
        self.forget_gate = forget_gate

    def initial_state(self, batch: int, like: torch.Tensor):
        z = like.new_zeros(batch, self.hidden_size)
        return z, z

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None):
        self._check(x)
        h, c = self.initial_state(x.shape[0], x) if state is None else state
        self._check_state(x, h, c)
        gi, gh = self._affine(x, h)
        i, f, g, o = (gi + gh).chunk(4, dim=1)
        i, o, g = torch.sigmoid(i), torch.sigmoid(o), torch.tanh(g)
        c = (torch.sigmoid(f) * c if self.forget_gate else c) + i * g
        return o * torch.tanh(c), c


class GRUCell(_Cell):
    """The gated recurrent unit; gate rows in PyTorch's order: reset, update, new."""

    gates = 3

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        self._check(x)
        h = self.initial_state(x.shape[0], x) if h is None else h
        self._check_state(x, h)
        gi, gh = self._affine(x, h)
        ir, iz, in_ = gi.chunk(3, dim=1)
        hr, hz, hn = gh.chunk(3, dim=1)
        r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
        n = torch.tanh(in_ + r * hn)  # reset after the recurrent matrix, as PyTorch does (Cho et al.: before it)
        return (1 - z) * n + z * h


class Recurrent(nn.Module):
    """Runs a cell over a sequence: ``x`` of shape ``(T, B, input)`` (or ``(B, T, input)`` with ``batch_first``)
    to the hidden states of every step, same layout, and the final state. One layer, one direction, like
    ``nn.RNN``/``nn.LSTM``/``nn.GRU`` with their defaults, except that states are ``(B, H)`` (PyTorch's carry a
    leading layer dimension, ``(1, B, H)``)."""

    def __init__(self, cell: _Cell, batch_first: bool = False):
        super().__init__()
        self.cell, self.batch_first = cell, batch_first

    def forward(self, x: torch.Tensor, state=None):
        if x.dim() != 3:
            raise ValueError(f"Recurrent expects a 3-D sequence ({'B, T' if self.batch_first else 'T, B'}, "
                             f"input), got shape {tuple(x.shape)}")
        steps = x.unbind(1 if self.batch_first else 0)
        if not steps:
            raise ValueError(f"Recurrent got a sequence of length 0 (shape {tuple(x.shape)})")
        outputs = []
        for x_t in steps:
            state = self.cell(x_t, state)
            outputs.append(state[0] if isinstance(state, tuple) else state)
        return torch.stack(outputs, 1 if self.batch_first else 0), state


def last_step(outputs: torch.Tensor, lengths: torch.Tensor, batch_first: bool = True) -> torch.Tensor:
    """Each sequence's output at its own last real step, ``(B, H)``, from the outputs ``(B, T, H)`` (or
    ``(T, B, H)``) of a batch padded at the end, and ``lengths`` ``(B,)``. A causal layer's output there has not
    seen the padding. Lengths that do not fit the outputs (a batch that was never padded to one length, lengths of
    another batch) are an error that names the shapes."""
    if outputs.dim() != 3:
        raise ValueError(f"last_step expects outputs of shape ({'B, T' if batch_first else 'T, B'}, H), "
                         f"got {tuple(outputs.shape)}")
    b, t = (outputs.shape[0], outputs.shape[1]) if batch_first else (outputs.shape[1], outputs.shape[0])
    if lengths.shape != (b,) or lengths.is_floating_point():
        raise ValueError(f"lengths must be integers of shape (batch,) = ({b},) for outputs "
                         f"{tuple(outputs.shape)}, got {lengths.dtype} of shape {tuple(lengths.shape)}")
    if len(lengths) and (int(lengths.min()) < 1 or int(lengths.max()) > t):
        raise ValueError(f"lengths run from {int(lengths.min())} to {int(lengths.max())}, but the outputs "
                         f"{tuple(outputs.shape)} have {t} steps: pad every sequence of the batch to the longest "
                         f"one, and pass the lengths of this batch")
    rows = torch.arange(b, device=outputs.device)
    idx = lengths.to(outputs.device) - 1
    return outputs[rows, idx] if batch_first else outputs[idx, rows]


def forget_rows(lstm: nn.LSTM) -> slice:
    """The forget-gate rows of ``nn.LSTM``'s stacked weights (PyTorch's gate order: input, forget, candidate,
    output)."""
    return slice(lstm.hidden_size, 2 * lstm.hidden_size)


def hold_forget_gate_open(lstm: nn.LSTM, bias: float = 40.0) -> nn.LSTM:
    """Make a one-layer ``nn.LSTM`` compute the 1997 cell, fast: its forget gate held at ``sigmoid(bias)``, which is
    exactly 1.0 in float32 and float64 for ``bias=40``, and its forget-gate rows never trained (zero weights, and a
    gradient hook that zeroes their gradient). Equals ``LSTMCell(..., forget_gate=False)`` (tested)."""
    if lstm.num_layers != 1 or lstm.bidirectional or lstm.proj_size:
        raise ValueError("hold_forget_gate_open expects a one-layer, one-direction nn.LSTM without projections")
    rows = forget_rows(lstm)

    def zero_forget_rows(grad):
        grad = grad.clone()
        grad[rows] = 0
        return grad

    with torch.no_grad():
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_hh_l0"):
            getattr(lstm, name)[rows] = 0
        lstm.bias_ih_l0[rows] = bias
    for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
        getattr(lstm, name).register_hook(zero_forget_rows)
    return lstm
