import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlhist.scratch.dropout import Dropout, dropout, max_norm_, mc_predict


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
@pytest.mark.parametrize("shape", [(200_000,), (400, 500), (50, 40, 100)])
def test_inverted_dropout_statistics_match_F_dropout(p, shape):
    torch.manual_seed(0)
    x = torch.rand(shape) + 0.5  # strictly positive, so zeros mark dropped units
    ours, ref = dropout(x, p, training=True), F.dropout(x, p, training=True)
    n, sd = x.numel(), math.sqrt(p * (1 - p) / x.numel())
    for out in (ours, ref):
        kept = out != 0
        assert abs(kept.float().mean().item() - (1 - p)) < 5 * sd  # keep probability 1-p
        torch.testing.assert_close(out[kept], x[kept] / (1 - p))  # survivors scaled by 1/(1-p)
        mean_sd = math.sqrt((x**2).mean().item() * p / (1 - p) / n)  # sd of the mean of x * mask / (1-p)
        assert abs(out.mean().item() - x.mean().item()) < 5 * mean_sd  # expectation preserved
    # ours and PyTorch's keep fractions agree with each other too
    assert abs((ours != 0).float().mean() - (ref != 0).float().mean()).item() < 8 * sd


@pytest.mark.parametrize("p", [0.0, 0.3, 0.5])
def test_eval_mode_is_identity_and_paper_form_is_weight_scaling(p):
    x = torch.randn(64, 33)
    ours, ref = Dropout(p).eval(), nn.Dropout(p).eval()
    assert torch.equal(ours(x), x) and torch.equal(ref(x), x)
    torch.testing.assert_close(Dropout(p, inverted=False).eval()(x), x * (1 - p))


def test_paper_form_is_inverted_form_times_keep_probability():
    x = torch.randn(300, 300)
    torch.manual_seed(1)
    a = dropout(x, 0.4, training=True, inverted=True)
    torch.manual_seed(1)
    b = dropout(x, 0.4, training=True, inverted=False)
    torch.testing.assert_close(b, a * 0.6)


def test_gradient_flows_only_through_kept_units():
    torch.manual_seed(0)
    x = torch.randn(100, 100, requires_grad=True)
    out = dropout(x, 0.5, training=True)
    out.sum().backward()
    kept = out.detach() != 0
    assert torch.equal(x.grad[kept], torch.full_like(x.grad[kept], 2.0))
    assert torch.equal(x.grad[~kept], torch.zeros_like(x.grad[~kept]))


def test_bad_probability_is_refused():
    with pytest.raises(ValueError):
        dropout(torch.ones(3), 1.0)


@pytest.mark.parametrize("seed", [0, 1])
def test_max_norm_matches_torch_renorm_and_skips_output_layer(seed):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(20, 30), nn.ReLU(), nn.Linear(30, 30), nn.ReLU(), nn.Linear(30, 5))
    with torch.no_grad():
        for m in net:
            if isinstance(m, nn.Linear):
                m.weight.mul_(torch.rand(m.weight.shape[0], 1) * 6)  # some rows above the limit, some below
    before = [m.weight.clone() for m in net if isinstance(m, nn.Linear)]
    max_norm_(net, 1.5)
    after = [m.weight for m in net if isinstance(m, nn.Linear)]
    for b, a in zip(before[:-1], after[:-1]):
        torch.testing.assert_close(a, torch.renorm(b, p=2, dim=0, maxnorm=1.5))
        assert a.norm(dim=1).max() <= 1.5 + 1e-5
        small = b.norm(dim=1) <= 1.5
        assert torch.equal(a[small], b[small])  # rows inside the ball are untouched
    assert torch.equal(after[-1], before[-1])


def test_mc_predict_averages_masks_and_restores_modes():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(10, 50), nn.ReLU(), Dropout(0.5), nn.Linear(50, 4)).eval()
    x = torch.randn(8, 10)
    one = mc_predict(net, x, samples=1)
    many = mc_predict(net, x, samples=2000)
    assert not net.training and not net[2].training
    torch.testing.assert_close(one.sum(1), torch.ones(8))
    assert not torch.allclose(one, torch.softmax(net(x), 1))  # masks were sampled
    # averaging over many masks converges to the mean prediction, close to weight scaling for this small net
    assert (many - torch.softmax(net(x), 1)).abs().max() < 0.15
    net.train()
    mc_predict(net, x, samples=3)
    assert net.training and net[2].training
