"""Two exact gradients of a simple recurrent network, written out by hand: backpropagation through time (BPTT) and
real-time recurrent learning (RTRL, Williams & Zipser 1989).

The network is Elman's simple recurrent network with a linear read-out (``SimpleRecurrentNet``),

    a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh,    h_t = tanh(a_t),    y_t = W_ho h_t + b_o,

with a loss averaged over every step and example, as PyTorch's losses average: ``"mse"`` (``F.mse_loss(y,
target)``, targets shaped like ``y``) or ``"cross_entropy"`` (``F.cross_entropy`` of the logits ``y_t`` against
class indices, targets of shape ``(T, B)``). Sequences are time first: ``x`` is ``(T, B, input_size)``.

- ``bptt``: run the whole sequence forward, keep every state, then send the error backwards through time,
  ``dL/da_t = (dL/dy_t W_ho + dL/da_{t+1} W_hh) * (1 - h_t^2)``. Cost per step O(n^2) for n hidden units; memory
  grows with the length of the sequence.
- ``rtrl``: carry forward the sensitivities ``P_t = dh_t/dtheta`` of every hidden unit to every recurrent
  parameter, ``P_t = (1 - h_t^2) * (W_hh P_{t-1} + da_t/dtheta|direct)``, and add ``dL_t/dh_t P_t`` to the gradient
  as soon as step t's error is known. Nothing is stored about the past, so it can learn while the network runs, but
  ``P`` holds n x n(n + m + 2) numbers and the product ``W_hh P`` costs O(n^4) per step.

Both return ``(loss, grads)``, with ``grads`` keyed by the names of ``net.named_parameters()``; the initial state
``h0`` (zeros by default) is a constant.
"""

from __future__ import annotations

import torch
from torch import nn

from .rnn import Recurrent, RNNCell

LOSSES = ("mse", "cross_entropy")


class SimpleRecurrentNet(nn.Module):
    """Elman's simple recurrent network: an ``RNNCell`` run over the sequence and a linear read-out at every step,
    ``(T, B, input_size) -> (T, B, output_size)``."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int):
        super().__init__()
        self.cell = RNNCell(input_size, hidden_size)
        self.readout = nn.Linear(hidden_size, output_size)

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
        states, _ = Recurrent(self.cell)(x, h0)
        return self.readout(states)


def _check(net: SimpleRecurrentNet, x: torch.Tensor, target: torch.Tensor, loss: str) -> None:
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    if x.dim() != 3 or x.shape[2] != net.cell.input_size:
        raise ValueError(f"x must have shape (T, B, {net.cell.input_size}), got {tuple(x.shape)}")
    want = (*x.shape[:2], net.readout.out_features) if loss == "mse" else tuple(x.shape[:2])
    if tuple(target.shape) != want:
        raise ValueError(f"with loss={loss!r} the target must have shape {want}, got {tuple(target.shape)}")


def _output_error(y: torch.Tensor, target: torch.Tensor, loss: str, count: int):
    """The summed loss of some outputs and its gradient with respect to them, each divided by ``count`` (the
    number of terms in the mean over the whole sequence)."""
    if loss == "mse":
        diff = y - target
        return (diff ** 2).sum() / count, 2 * diff / count
    logp = torch.log_softmax(y, dim=-1)
    onehot = torch.zeros_like(y).scatter_(-1, target.unsqueeze(-1), 1.0)
    return -(logp * onehot).sum() / count, (logp.exp() - onehot) / count


def _terms(x: torch.Tensor, net: SimpleRecurrentNet, loss: str) -> int:
    T, B = x.shape[:2]
    return T * B * (net.readout.out_features if loss == "mse" else 1)


def _parameters(net: SimpleRecurrentNet):
    c, r = net.cell, net.readout
    return (c.weight_ih.detach(), c.weight_hh.detach(), c.bias_ih.detach(), c.bias_hh.detach(),
            r.weight.detach(), r.bias.detach())


def _initial(x: torch.Tensor, n: int, h0: torch.Tensor | None) -> torch.Tensor:
    if h0 is None:
        return x.new_zeros(x.shape[1], n)
    if tuple(h0.shape) != (x.shape[1], n):
        raise ValueError(f"h0 must have shape (B, hidden) = {(x.shape[1], n)}, got {tuple(h0.shape)}")
    return h0.detach()


def bptt(net: SimpleRecurrentNet, x: torch.Tensor, target: torch.Tensor, loss: str = "mse",
         h0: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Loss and gradients by backpropagation through time: forward over the whole sequence, then backwards."""
    _check(net, x, target, loss)
    W_ih, W_hh, b_ih, b_hh, W_ho, b_o = _parameters(net)
    x = x.detach()
    states = [_initial(x, W_hh.shape[0], h0)]
    for x_t in x:  # forward, keeping every state
        states.append(torch.tanh(x_t @ W_ih.T + b_ih + states[-1] @ W_hh.T + b_hh))
    h = torch.stack(states[1:])  # (T, B, n)
    value, dy = _output_error(h @ W_ho.T + b_o, target, loss, _terms(x, net, loss))
    grads = {"readout.weight": torch.einsum("tbo,tbn->on", dy, h), "readout.bias": dy.sum((0, 1))}
    dh_out = dy @ W_ho  # dL/dh_t through the read-out at step t, (T, B, n)
    g_ih, g_hh, g_b = torch.zeros_like(W_ih), torch.zeros_like(W_hh), torch.zeros_like(b_ih)
    carry = torch.zeros_like(states[0])  # dL/dh_t through h_{t+1}, ..., h_T
    for t in reversed(range(x.shape[0])):
        da = (dh_out[t] + carry) * (1 - h[t] ** 2)  # dL/da_t
        g_ih += da.T @ x[t]
        g_hh += da.T @ states[t]  # states[t] is h_{t-1}
        g_b += da.sum(0)
        carry = da @ W_hh
    grads.update({"cell.weight_ih": g_ih, "cell.weight_hh": g_hh, "cell.bias_ih": g_b, "cell.bias_hh": g_b.clone()})
    return value, {k: grads[k] for k, _ in net.named_parameters()}


def rtrl(net: SimpleRecurrentNet, x: torch.Tensor, target: torch.Tensor, loss: str = "mse",
         h0: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Loss and gradients by real-time recurrent learning: one forward pass that carries the sensitivities
    ``P[b, k, p] = dh_k / dtheta_p`` of every hidden unit to every recurrent parameter (``theta`` = the flattened
    ``W_ih, W_hh, b_ih, b_hh``) and adds each step's gradient as soon as the step's target is seen."""
    _check(net, x, target, loss)
    W_ih, W_hh, b_ih, b_hh, W_ho, b_o = _parameters(net)
    x = x.detach()
    T, B, m = x.shape
    n = W_hh.shape[0]
    count = _terms(x, net, loss)
    eye = torch.eye(n, dtype=x.dtype, device=x.device)
    h = _initial(x, n, h0)
    P = x.new_zeros(B, n, n * m + n * n + 2 * n)  # the initial state does not depend on theta
    g_theta = x.new_zeros(P.shape[2])
    g_ho, g_o = torch.zeros_like(W_ho), torch.zeros_like(b_o)
    value = x.new_zeros(())
    for t in range(T):
        h_prev = h
        h = torch.tanh(x[t] @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh)
        # the direct effect of theta on a_k at this step: da_k/dW_ih[i, j] = [k = i] x_j,
        # da_k/dW_hh[i, j] = [k = i] h_prev_j, da_k/db_ih[i] = da_k/db_hh[i] = [k = i]
        direct = torch.cat([(eye[:, :, None] * x[t][:, None, None, :]).reshape(B, n, n * m),
                            (eye[:, :, None] * h_prev[:, None, None, :]).reshape(B, n, n * n),
                            eye.expand(B, n, n), eye.expand(B, n, n)], dim=2)
        P = (1 - h ** 2)[:, :, None] * (W_hh @ P + direct)  # the indirect effect through h_prev: O(n^4)
        step_value, dy = _output_error(h @ W_ho.T + b_o, target[t], loss, count)
        value = value + step_value
        g_theta += torch.einsum("bk,bkp->p", dy @ W_ho, P)  # dL_t/dh_t times dh_t/dtheta
        g_ho += dy.T @ h
        g_o += dy.sum(0)
    g_ih, g_hh, g_bih, g_bhh = g_theta.split([n * m, n * n, n, n])
    grads = {"cell.weight_ih": g_ih.reshape(n, m), "cell.weight_hh": g_hh.reshape(n, n), "cell.bias_ih": g_bih,
             "cell.bias_hh": g_bhh, "readout.weight": g_ho, "readout.bias": g_o}
    return value, {k: grads[k] for k, _ in net.named_parameters()}
