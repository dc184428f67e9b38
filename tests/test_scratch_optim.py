import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlhist.scratch.optim import SGD, AdaGrad, Adam, RMSProp


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: one thread is faster, and much faster on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


PAIRS = {
    "adam": (lambda p: Adam(p, lr=1e-2), lambda p: torch.optim.Adam(p, lr=1e-2)),
    "adam-betas-wd": (lambda p: Adam(p, lr=3e-3, betas=(0.8, 0.9999), eps=1e-6, weight_decay=1e-2),
                      lambda p: torch.optim.Adam(p, lr=3e-3, betas=(0.8, 0.9999), eps=1e-6, weight_decay=1e-2)),
    "nesterov": (lambda p: SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
                 lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)),
    "momentum": (lambda p: SGD(p, lr=0.05, momentum=0.5), lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.5)),
    "sgd": (lambda p: SGD(p, lr=0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
    "adagrad": (lambda p: AdaGrad(p, lr=0.05, weight_decay=1e-3),
                lambda p: torch.optim.Adagrad(p, lr=0.05, weight_decay=1e-3)),
    "rmsprop": (lambda p: RMSProp(p, lr=1e-3), lambda p: torch.optim.RMSprop(p, lr=1e-3)),
}


def _net(shape, seed, dtype, dropout=0.0):
    n_in, hidden, n_out = shape
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, n_out)).to(dtype)


def _run_pair(make_ours, make_ref, shape=(6, 16, 3), seed=0, steps=100, dtype=torch.float64, schedule=False,
              dropout=0.0, train=True):
    """Train two copies of one net on the same batches, one per optimizer; the largest parameter gap seen."""
    ours, ref = _net(shape, seed, dtype, dropout), _net(shape, seed, dtype, dropout)
    ours.train(train)
    ref.train(train)
    opts = [make_ours(ours.parameters()), make_ref(ref.parameters())]
    scheds = [torch.optim.lr_scheduler.LambdaLR(o, lambda t: 1 / math.sqrt(t + 1)) for o in opts] if schedule else []
    g = torch.Generator().manual_seed(seed + 100)
    worst = 0.0
    for step in range(steps):
        x = torch.randn(32, shape[0], generator=g, dtype=dtype)
        y = torch.randint(0, shape[2], (32,), generator=g)
        for model, opt in zip((ours, ref), opts):
            torch.manual_seed(1000 + step)  # the same dropout mask for both copies
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
        for s in scheds:
            s.step()
        worst = max(worst, max((a - b).abs().max().item() for a, b in zip(ours.parameters(), ref.parameters())))
    return worst


@pytest.mark.parametrize("name", list(PAIRS))
@pytest.mark.parametrize("shape,seed", [((6, 16, 3), 0), ((20, 7, 5), 1), ((1, 3, 2), 2)])
def test_matches_torch_in_float64(name, shape, seed):
    assert _run_pair(*PAIRS[name], shape=shape, seed=seed, steps=50) < 1e-12


@pytest.mark.parametrize("name", ["adam", "nesterov", "adagrad"])
def test_matches_torch_in_float32_with_schedule_and_dropout(name):
    assert _run_pair(*PAIRS[name], dtype=torch.float32, steps=200, schedule=True, dropout=0.3) < 1e-6
    assert _run_pair(*PAIRS[name], dtype=torch.float32, steps=50, train=False) < 1e-6


def test_a_wrong_rule_is_caught():
    # The comparison can fail: a different momentum or no bias correction is far from torch's Adam.
    assert _run_pair(lambda p: Adam(p, lr=1e-2, betas=(0.85, 0.999)), PAIRS["adam"][1], steps=5) > 1e-4
    assert _run_pair(lambda p: Adam(p, lr=1e-2, bias_correction=False), PAIRS["adam"][1], steps=5) > 1e-4


@pytest.mark.parametrize("beta2", [0.99, 0.999, 0.9999])
def test_bias_correction_first_step(beta2):
    """Step 1 moves each coordinate by lr * sign(g) when corrected, by lr * (1-b1)/sqrt(1-b2) * sign(g) when not."""
    g = torch.tensor([3.0, -0.2, 1e-3], dtype=torch.float64)
    for corrected, size in ((True, 1.0), (False, 0.1 / math.sqrt(1 - beta2))):
        p = torch.zeros(3, dtype=torch.float64, requires_grad=True)
        opt = Adam([p], lr=0.01, betas=(0.9, beta2), eps=0.0, bias_correction=corrected)
        p.grad = g.clone()
        opt.step()
        torch.testing.assert_close(p.detach(), -0.01 * size * g.sign(), rtol=1e-12, atol=0)


def test_uncorrected_adam_matches_its_formula_over_steps():
    torch.manual_seed(0)
    grads = torch.randn(50, 4, dtype=torch.float64)
    p = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    opt = Adam([p], lr=0.01, betas=(0.9, 0.99), bias_correction=False)
    m = v = torch.zeros(4, dtype=torch.float64)
    want = torch.zeros(4, dtype=torch.float64)
    for gr in grads:
        p.grad = gr.clone()
        opt.step()
        m, v = 0.9 * m + 0.1 * gr, 0.99 * v + 0.01 * gr**2
        want = want - 0.01 * m / (v.sqrt() + 1e-8)
    torch.testing.assert_close(p.detach(), want, rtol=1e-12, atol=1e-14)


def test_closure_skipped_grads_and_validation():
    a, b = torch.ones(2, requires_grad=True), torch.ones(2, requires_grad=True)
    opt = Adam([a, b], lr=0.1)
    loss = opt.step(lambda: (a**2).sum().backward() or (a**2).sum())
    assert loss.item() == pytest.approx(2.0)
    assert torch.equal(b.detach(), torch.ones(2)) and not torch.equal(a.detach(), torch.ones(2))
    with pytest.raises(ValueError):
        Adam([a], betas=(0.9, 1.0))
    with pytest.raises(ValueError):
        SGD([a], lr=0.1, nesterov=True)
