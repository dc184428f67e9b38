import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlhist.scratch.optim import Adam, AdamW
from dlhist.scratch.weight_decay import adam_update, l2_penalty


def _net(seed, n_in, dtype=torch.float64):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(n_in, 16), nn.Tanh(), nn.Linear(16, 3)).to(dtype)


def _train(net, opt, x, y, steps, extra_loss=None):
    for _ in range(steps):
        loss = F.cross_entropy(net(x), y)
        if extra_loss is not None:
            loss = loss + extra_loss(net)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return [p.detach().clone() for p in net.parameters()]


@pytest.mark.parametrize("seed,n_in,wd", [(0, 5, 1e-2), (1, 12, 0.3), (2, 1, 1e-4)])
def test_l2_penalty_gradient_is_sgd_weight_decay(seed, n_in, wd):
    x, y = torch.randn(20, n_in, dtype=torch.float64), torch.randint(0, 3, (20,))
    net_a, net_b = _net(seed, n_in), _net(seed, n_in)
    # the gradient of the penalty alone is wd * w
    grads = torch.autograd.grad(l2_penalty(net_a.parameters(), wd), list(net_a.parameters()))
    for g, p in zip(grads, net_a.parameters()):
        torch.testing.assert_close(g, wd * p, rtol=0, atol=1e-15)
    # SGD with momentum on loss + penalty follows SGD(weight_decay=wd) on the loss, step for step
    a = _train(net_a, torch.optim.SGD(net_a.parameters(), lr=0.1, momentum=0.9), x, y, 10,
               extra_loss=lambda n: l2_penalty(n.parameters(), wd))
    b = _train(net_b, torch.optim.SGD(net_b.parameters(), lr=0.1, momentum=0.9, weight_decay=wd), x, y, 10)
    for pa, pb in zip(a, b):
        torch.testing.assert_close(pa, pb, rtol=0, atol=1e-12)


@pytest.mark.parametrize("decoupled", [False, True])
@pytest.mark.parametrize("seed,n_in,lr,wd", [(0, 5, 1e-2, 0.1), (3, 8, 3e-3, 1e-3), (7, 2, 0.1, 0.5)])
def test_hand_adam_matches_torch(decoupled, seed, n_in, lr, wd):
    x, y = torch.randn(32, n_in, dtype=torch.float64), torch.randint(0, 3, (32,))
    ours_net, ref_net = _net(seed, n_in), _net(seed, n_in)
    ref_cls = torch.optim.AdamW if decoupled else torch.optim.Adam
    ours_cls = AdamW if decoupled else Adam
    ours = _train(ours_net, ours_cls(ours_net.parameters(), lr=lr, weight_decay=wd), x, y, 25)
    ref = _train(ref_net, ref_cls(ref_net.parameters(), lr=lr, weight_decay=wd), x, y, 25)
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


def test_adam_l2_and_adamw_differ_but_agree_without_decay():
    torch.manual_seed(0)
    w0, g = torch.randn(50, dtype=torch.float64), torch.randn(50, dtype=torch.float64) * torch.logspace(-3, 1, 50)
    outs = {}
    for decoupled in (False, True):
        for wd in (0.0, 0.1):
            w, m, v = w0.clone(), torch.zeros(50, dtype=torch.float64), torch.zeros(50, dtype=torch.float64)
            for t in range(1, 4):
                adam_update(w, g, m, v, t, lr=1e-2, wd=wd, decoupled=decoupled)
            outs[decoupled, wd] = w
    torch.testing.assert_close(outs[False, 0.0], outs[True, 0.0], rtol=0, atol=0)
    assert (outs[False, 0.1] - outs[True, 0.1]).abs().max() > 1e-4
    # AdamW shrinks every weight by the same factor; with L2, weights with large gradients are barely decayed
    big = g.abs() > 1
    shrink_w = (outs[True, 0.1] - outs[True, 0.0]).abs()
    shrink_l2 = (outs[False, 0.1] - outs[False, 0.0]).abs()
    assert shrink_l2[big].mean() < shrink_w[big].mean()


def test_float32_training_matches_torch_adamw():
    torch.manual_seed(0)
    x, y = torch.randn(64, 10), torch.randint(0, 3, (64,))
    a_net, b_net = _net(4, 10, torch.float32), _net(4, 10, torch.float32)
    a = _train(a_net, AdamW(a_net.parameters(), lr=1e-3, weight_decay=1e-2), x, y, 50)
    b = _train(b_net, torch.optim.AdamW(b_net.parameters(), lr=1e-3, weight_decay=1e-2), x, y, 50)
    for pa, pb in zip(a, b):
        torch.testing.assert_close(pa, pb, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("decoupled", [False, True])
def test_adam_update_is_the_optimizers_rule(decoupled):
    """The one-tensor ``adam_update`` and the optimizers of dlhist.scratch.optim take the same steps."""
    torch.manual_seed(1)
    w0 = torch.randn(20, dtype=torch.float64)
    grads = [torch.randn(20, dtype=torch.float64) for _ in range(5)]
    w, m, v = w0.clone(), torch.zeros_like(w0), torch.zeros_like(w0)
    p = w0.clone().requires_grad_()
    opt = (AdamW if decoupled else Adam)([p], lr=0.05, weight_decay=0.3)
    for t, g in enumerate(grads, 1):
        adam_update(w, g, m, v, t, lr=0.05, wd=0.3, decoupled=decoupled)
        p.grad = g.clone()
        opt.step()
        torch.testing.assert_close(p.detach(), w, rtol=0, atol=1e-12)


def test_adamw_no_decay_on_biases_follows_the_hand_rule_and_torch():
    """The usual recipe, a group of biases with ``weight_decay=0``: biases take plain Adam steps, weights AdamW's."""
    torch.manual_seed(2)
    w0, b0 = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, dtype=torch.float64)
    grads = [(torch.randn(4, 3, dtype=torch.float64), torch.randn(4, dtype=torch.float64)) for _ in range(10)]
    hand = {"w": (w0.clone(), torch.zeros_like(w0), torch.zeros_like(w0)),
            "b": (b0.clone(), torch.zeros_like(b0), torch.zeros_like(b0))}
    ours = [w0.clone().requires_grad_(), b0.clone().requires_grad_()]
    ref = [w0.clone().requires_grad_(), b0.clone().requires_grad_()]
    opts = [cls([{"params": [ps[0]]}, {"params": [ps[1]], "weight_decay": 0.0}], lr=0.05, weight_decay=0.3)
            for cls, ps in ((AdamW, ours), (torch.optim.AdamW, ref))]
    for t, (gw, gb) in enumerate(grads, 1):
        w, m, v = hand["w"]
        adam_update(w, gw, m, v, t, lr=0.05, wd=0.3, decoupled=True)
        b, m, v = hand["b"]
        adam_update(b, gb, m, v, t, lr=0.05, wd=0.0, decoupled=True)
        for ps, opt in zip((ours, ref), opts):
            ps[0].grad, ps[1].grad = gw.clone(), gb.clone()
            opt.step()
    for p, r, h in zip(ours, ref, (hand["w"][0], hand["b"][0])):
        torch.testing.assert_close(p.detach(), r.detach(), rtol=0, atol=1e-12)
        torch.testing.assert_close(p.detach(), h, rtol=0, atol=1e-12)


def test_adamw_state_dict_round_trip_keeps_each_groups_decay():
    p, q = torch.ones(3, requires_grad=True), torch.ones(3, requires_grad=True)
    opt = AdamW([{"params": [p]}, {"params": [q], "weight_decay": 0.0}], lr=0.1, weight_decay=0.5)
    state = opt.state_dict()
    assert [g["weight_decay"] for g in state["param_groups"]] == [0.5, 0.0]
    fresh = AdamW([{"params": [p]}, {"params": [q]}], lr=0.1)
    fresh.load_state_dict(state)
    assert [g["weight_decay"] for g in fresh.param_groups] == [0.5, 0.0]
