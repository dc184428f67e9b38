import pytest
import torch
import torch.nn.functional as F

from dlhist.scratch.moe import MoE, NoisyTopKGate, cv


def test_cv_is_std_over_mean():
    assert cv(torch.tensor([1.0, 1.0, 1.0])) == 0
    assert cv(torch.tensor([2.0, 0.0])) == pytest.approx(1.0)
    # all the load on 2 of 16 experts: CV = sqrt(7)
    assert cv(torch.tensor([1.0, 1.0] + [0.0] * 14)) == pytest.approx(7 ** 0.5)


def test_gate_keeps_the_top_k_and_equals_a_softmax_when_k_is_everything():
    torch.manual_seed(0)
    gate = NoisyTopKGate(6, 5, k=2).eval()
    with torch.no_grad():
        gate.w_gate.normal_()
    x = torch.randn(10, 6)
    g, importance, load = gate(x)
    assert ((g > 0).sum(1) == 2).all() and torch.allclose(g.sum(1), torch.ones(10))
    logits = x @ gate.w_gate
    assert (g.argmax(1) == logits.argmax(1)).all()
    torch.testing.assert_close(importance, g.sum(0))
    assert load.sum() == 20  # eval: counts, k per input
    full = NoisyTopKGate(6, 5, k=5).eval()
    with torch.no_grad():
        full.w_gate.copy_(gate.w_gate)
    torch.testing.assert_close(full(x)[0], F.softmax(logits, dim=1))
    with pytest.raises(ValueError, match="k must be between 1 and n_experts = 5"):
        NoisyTopKGate(6, 5, k=6)
    with pytest.raises(ValueError, match=r"\(N, 6\)"):
        gate(torch.randn(3, 7))


def test_smooth_load_is_the_probability_of_staying_in_the_top_k_under_fresh_noise():
    """P(x, i) against a Monte Carlo estimate: redraw only expert i's noise, count how often it is in the top k."""
    torch.manual_seed(0)
    gate = NoisyTopKGate(4, 6, k=2).train()
    with torch.no_grad():
        gate.w_gate.normal_()
        gate.w_noise.normal_(0, 0.5)
    x = torch.randn(1, 4)
    torch.manual_seed(1)
    _, _, load = gate(x)  # the smooth estimate, for this draw of the noise
    torch.manual_seed(1)
    clean = x @ gate.w_gate
    std = F.softplus(x @ gate.w_noise) + gate.min_noise
    h = clean + torch.randn_like(clean) * std  # the same draw as inside the gate
    draws = 100_000
    for i in range(6):
        hs = h.repeat(draws, 1)
        hs[:, i] = clean[0, i] + torch.randn(draws) * std[0, i]
        in_top = (hs.topk(2, dim=1).indices == i).any(1).float().mean()
        assert load[i].item() == pytest.approx(in_top.item(), abs=0.01)


def test_moe_runs_k_experts_per_input_and_its_losses_reach_the_gate():
    torch.manual_seed(0)
    moe = MoE(8, 5, n_experts=4, k=2, hidden=16)
    x = torch.randn(3, 7, 8)
    y = moe(x)
    assert y.shape == (3, 7, 5)
    # the output is the gate-weighted sum of the chosen experts, computed densely here
    moe.eval()
    y = moe(x)
    flat = x.reshape(-1, 8)
    g, _, _ = moe.gate(flat)
    dense = sum(g[:, i:i + 1] * moe.experts.expert(i, flat) for i in range(4))
    torch.testing.assert_close(y.reshape(-1, 5), dense)
    moe.train()
    (moe(x).sum() + moe.aux_loss).backward()
    assert moe.gate.w_gate.grad.abs().sum() > 0 and moe.gate.w_noise.grad.abs().sum() > 0
    no_aux = MoE(8, 5, n_experts=4, k=2, w_importance=0, w_load=0)
    no_aux(x)
    assert no_aux.aux_loss == 0
