import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlhist import check
from dlhist.scratch.rtrl import SimpleRecurrentNet, bptt, rtrl


def problem(t=6, b=3, m=4, n=5, o=3, loss="mse", seed=0):
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = check.perturb_(SimpleRecurrentNet(m, n, o).double(), scale=0.3, seed=seed)
    x = torch.randn(t, b, m, generator=g, dtype=torch.float64)
    if loss == "mse":
        target = torch.randn(t, b, o, generator=g, dtype=torch.float64)
    else:
        target = torch.randint(0, o, (t, b), generator=g)
    return net, x, target


def autograd(net, x, target, loss, h0=None):
    net.zero_grad(set_to_none=True)
    y = net(x, h0)
    value = F.mse_loss(y, target) if loss == "mse" else F.cross_entropy(y.reshape(-1, y.shape[-1]),
                                                                         target.reshape(-1))
    value.backward()
    return value.detach(), {k: p.grad for k, p in net.named_parameters()}


def relative_difference(ours: dict, ref: dict) -> float:
    """The largest difference between two sets of gradients, relative to the largest gradient entry."""
    return check.max_diff(list(ours.values()), list(ref.values())) / max(g.abs().max().item() for g in ref.values())


@pytest.mark.parametrize("method", [bptt, rtrl])
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
@pytest.mark.parametrize("shape", [dict(t=1, b=1), dict(t=7, b=3), dict(t=12, b=2, m=1, n=8, o=2)])
def test_hand_written_gradients_equal_autograd(method, loss, shape):
    net, x, target = problem(loss=loss, **shape)
    ref_value, ref = autograd(net, x, target, loss)
    value, grads = method(net, x, target, loss)
    assert list(grads) == list(ref)
    assert all(grads[k].shape == ref[k].shape for k in ref)
    assert abs(value.item() - ref_value.item()) < 1e-12
    assert relative_difference(grads, ref) < 1e-8


@pytest.mark.parametrize("method", [bptt, rtrl])
def test_a_given_initial_state_is_a_constant(method):
    net, x, target = problem(t=5, b=2)
    h0 = torch.randn(2, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    _, ref = autograd(net, x, target, "mse", h0)
    _, grads = method(net, x, target, "mse", h0)
    assert relative_difference(grads, ref) < 1e-8


def test_rtrl_and_bptt_agree_on_a_long_sequence():
    net, x, target = problem(t=60, b=2, m=2, n=6, o=2, loss="cross_entropy", seed=1)
    v1, g1 = bptt(net, x, target, "cross_entropy")
    v2, g2 = rtrl(net, x, target, "cross_entropy")
    assert abs(v1.item() - v2.item()) < 1e-12 and relative_difference(g2, g1) < 1e-8


def test_the_network_is_nn_rnn_with_a_read_out():
    net, x, _ = problem()
    ref = nn.RNN(4, 5).double()
    with torch.no_grad():
        for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(ref, f"{k}_l0").copy_(getattr(net.cell, k))
    states, _ = ref(x)
    assert check.max_diff(net(x), net.readout(states)) < 1e-12


def test_errors_name_the_argument():
    net, x, target = problem()
    with pytest.raises(ValueError, match="loss must be one of"):
        bptt(net, x, target, "l1")
    with pytest.raises(ValueError, match=r"x must have shape \(T, B, 4\)"):
        rtrl(net, x[0], target)
    with pytest.raises(ValueError, match=r"target must have shape \(6, 3\)"):
        rtrl(net, x, target, "cross_entropy")
    with pytest.raises(ValueError, match="h0 must have shape"):
        bptt(net, x, target, h0=torch.zeros(1, 5, dtype=torch.float64))
