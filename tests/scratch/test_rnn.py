import pytest
import torch
from torch import nn

from dlhist import check
from dlhist.scratch.rnn import GRUCell, LSTMCell, Recurrent, RNNCell


def sequence(t=7, b=3, n=5, seed=0):
    return torch.randn(t, b, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("ours, twin", [(RNNCell, nn.RNN), (LSTMCell, nn.LSTM), (GRUCell, nn.GRU)])
@pytest.mark.parametrize("batch_first", [False, True])
def test_cells_match_pytorch_outputs_states_and_gradients(ours, twin, batch_first):
    x = sequence()
    if batch_first:
        x = x.transpose(0, 1).contiguous()
    mine = Recurrent(ours(5, 4), batch_first=batch_first)
    assert check.recurrent_diff(mine, twin(5, 4, batch_first=batch_first), x) < 1e-12


def test_lstm_1997_is_pytorchs_lstm_with_the_forget_gate_held_open():
    """Without a forget gate, f = 1: nn.LSTM gives the same with zero forget weights and a large forget bias."""
    torch.manual_seed(0)
    x = sequence().float()
    ref = nn.LSTM(5, 4)
    with torch.no_grad():
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_hh_l0"):
            getattr(ref, name)[4:8] = 0
        ref.bias_ih_l0[4:8] = 30.0  # sigmoid(30) is 1.0 in float32
    mine = LSTMCell(5, 4, forget_gate=False)
    mine.load_state_dict({k: getattr(ref, f"{k}_l0") for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")})
    out, (h, c) = Recurrent(mine)(x)
    out_ref, (h_ref, c_ref) = ref(x)
    assert check.max_diff([out, h, c[None]], [out_ref, h_ref[0], c_ref]) < 1e-6
    # the constant error carousel: with f = 1 the cell state is the running sum of i * g
    step = LSTMCell(5, 4, forget_gate=False)
    h0, c0 = torch.zeros(3, 4), torch.randn(3, 4)
    _, c1 = step(torch.zeros(3, 5), (h0, c0))
    gi, gh = step._affine(torch.zeros(3, 5), h0)
    i, _, g, _ = (gi + gh).chunk(4, dim=1)
    torch.testing.assert_close(c1, c0 + torch.sigmoid(i) * torch.tanh(g))


def test_shape_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"x_t of shape \(batch, 5\), got \(3, 6\)"):
        GRUCell(5, 4)(torch.zeros(3, 6))
    with pytest.raises(ValueError, match=r"3-D sequence \(T, B, input\), got shape \(3, 5\)"):
        Recurrent(RNNCell(5, 4))(torch.zeros(3, 5))
    with pytest.raises(ValueError, match=r"state h must have shape \(batch, hidden\) = \(3, 4\).*got \(1, 3, 4\)"):
        RNNCell(5, 4)(torch.zeros(3, 5), torch.zeros(1, 3, 4))
    with pytest.raises(ValueError, match=r"state c must have shape"):
        LSTMCell(5, 4)(torch.zeros(3, 5), (torch.zeros(3, 4), torch.zeros(3, 5)))
    with pytest.raises(ValueError, match="positive"):
        LSTMCell(0, 4)


def test_hold_forget_gate_open_is_the_1997_cell_and_stays_open():
    from dlhist.scratch.rnn import forget_rows, hold_forget_gate_open

    x = sequence()
    # module_diff perturbs the reference's parameters; the held-open gate's pre-activation stays near 40
    assert check.recurrent_diff(Recurrent(LSTMCell(5, 4, forget_gate=False)),
                                hold_forget_gate_open(nn.LSTM(5, 4)), x) < 1e-12
    lstm = hold_forget_gate_open(nn.LSTM(5, 4))
    opt = torch.optim.SGD(lstm.parameters(), lr=0.5)
    for _ in range(3):
        opt.zero_grad()
        lstm(torch.randn(6, 2, 5))[0].pow(2).sum().backward()
        opt.step()
    rows = forget_rows(lstm)
    assert not lstm.weight_ih_l0[rows].any() and not lstm.weight_hh_l0[rows].any()
    assert (lstm.bias_ih_l0[rows] == 40).all() and not lstm.bias_hh_l0[rows].any()
    with pytest.raises(ValueError, match="one-layer"):
        hold_forget_gate_open(nn.LSTM(5, 4, num_layers=2))


def test_last_step_reads_each_sequences_end_and_refuses_lengths_that_do_not_fit():
    from dlhist.scratch.rnn import last_step

    out = torch.arange(2 * 5 * 3.0).reshape(2, 5, 3)  # (B, T, H)
    lengths = torch.tensor([5, 2])
    torch.testing.assert_close(last_step(out, lengths), torch.stack([out[0, 4], out[1, 1]]))
    torch.testing.assert_close(last_step(out.transpose(0, 1), lengths, batch_first=False), last_step(out, lengths))
    with pytest.raises(ValueError, match=r"outputs \(2, 5, 3\) have 5 steps"):
        last_step(out, torch.tensor([6, 2]))  # a batch that was never padded to its longest sequence
    with pytest.raises(ValueError, match=r"shape \(batch,\) = \(2,\).*shape \(3,\)"):
        last_step(out, torch.tensor([5, 2, 1]))
    with pytest.raises(ValueError, match="lengths run from 0"):
        last_step(out, torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="integers"):
        last_step(out, torch.tensor([5.0, 2.0]))
