import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlhist.scratch.optim import SGD, AdaGrad, Adam, AdamW, RMSProp


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


# Two parameter groups, weights and biases, each with options of its own (the usual "no decay on biases" recipe and
# more): (ours, torch's twin, the defaults, the options of the bias group).
GROUPED = {
    "sgd": (SGD, torch.optim.SGD, dict(lr=0.1), dict(lr=0.03)),
    "momentum-wd": (SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9, weight_decay=1e-2),
                    dict(momentum=0.5, weight_decay=0.0)),
    "nesterov-vs-plain": (SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True),
                          dict(lr=0.2, momentum=0.0, nesterov=False)),
    "plain-vs-nesterov": (SGD, torch.optim.SGD, dict(lr=0.05), dict(momentum=0.8, nesterov=True, weight_decay=0.1)),
    "adagrad": (AdaGrad, torch.optim.Adagrad, dict(lr=0.05, weight_decay=1e-2), dict(lr=0.2, eps=1e-3, weight_decay=0)),
    "rmsprop": (RMSProp, torch.optim.RMSprop, dict(lr=1e-2, weight_decay=1e-2),
                dict(lr=3e-2, alpha=0.9, eps=1e-4, weight_decay=0.0)),
    "adam": (Adam, torch.optim.Adam, dict(lr=1e-2, weight_decay=1e-2),
             dict(lr=3e-2, betas=(0.5, 0.99), eps=1e-4, weight_decay=0.0)),
    "adamw": (AdamW, torch.optim.AdamW, dict(lr=1e-2), dict(weight_decay=0.0)),
    "adamw-all": (AdamW, torch.optim.AdamW, dict(lr=1e-2, weight_decay=0.1),
                  dict(lr=5e-2, betas=(0.8, 0.95), eps=1e-3, weight_decay=0.5)),
}


def _groups(net, bias_options):
    weights = [p for name, p in net.named_parameters() if name.endswith("weight")]
    biases = [p for name, p in net.named_parameters() if name.endswith("bias")]
    return [{"params": weights}, {"params": biases, **bias_options}]


@pytest.mark.parametrize("name", list(GROUPED))
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-6)])
def test_parameter_groups_keep_their_own_options(name, dtype, tol):
    ours_cls, ref_cls, defaults, bias_options = GROUPED[name]
    ours_net, ref_net = _net((6, 16, 3), 0, dtype), _net((6, 16, 3), 0, dtype)
    opts = [ours_cls(_groups(ours_net, bias_options), **defaults), ref_cls(_groups(ref_net, bias_options), **defaults)]
    g = torch.Generator().manual_seed(5)
    for _ in range(10):
        x, y = torch.randn(32, 6, generator=g, dtype=dtype), torch.randint(0, 3, (32,), generator=g)
        for model, opt in zip((ours_net, ref_net), opts):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
    for (pname, a), b in zip(ours_net.named_parameters(), ref_net.parameters()):
        assert (a - b).abs().max().item() < tol, f"{name}: {pname} differs from torch.optim's"


def test_per_group_options_are_read_at_every_step():
    """Changing a group's option between steps (as a scheduler does with lr) changes the next step, like torch."""
    for ours_cls, ref_cls, key, value in [(SGD, torch.optim.SGD, "momentum", 0.3), (Adam, torch.optim.Adam, "eps", 1.0),
                                          (AdamW, torch.optim.AdamW, "weight_decay", 0.5),
                                          (RMSProp, torch.optim.RMSprop, "alpha", 0.5),
                                          (AdaGrad, torch.optim.Adagrad, "lr", 0.5)]:
        ps = [torch.ones(3, dtype=torch.float64, requires_grad=True) for _ in range(2)]
        opts = [ours_cls([ps[0]], lr=0.1, **({"momentum": 0.9} if ours_cls is SGD else {})),
                ref_cls([ps[1]], lr=0.1, **({"momentum": 0.9} if ours_cls is SGD else {}))]
        for step in range(4):
            for p, opt in zip(ps, opts):
                if step == 2:
                    opt.param_groups[0][key] = value
                p.grad = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64) * (step + 1)
                opt.step()
        torch.testing.assert_close(ps[0], ps[1], rtol=0, atol=1e-12, msg=f"{ours_cls.__name__} {key}")


BAD = [
    (SGD, dict(lr=-0.1), "learning rate"),
    (SGD, dict(lr=0.1, momentum=-0.5), "momentum"),
    (SGD, dict(lr=0.1, weight_decay=-1e-4), "weight_decay"),
    (SGD, dict(lr=0.1, nesterov=True), "Nesterov"),
    (SGD, dict(lr=0.1, momentum=0.0, nesterov=True), "Nesterov"),
    (AdaGrad, dict(lr=-1e-2), "learning rate"),
    (AdaGrad, dict(eps=-1e-10), "eps"),
    (AdaGrad, dict(weight_decay=-1.0), "weight_decay"),
    (RMSProp, dict(lr=-1e-2), "learning rate"),
    (RMSProp, dict(eps=-1e-8), "eps"),
    (RMSProp, dict(alpha=-0.1), "alpha"),
    (RMSProp, dict(weight_decay=-1.0), "weight_decay"),
    (Adam, dict(lr=-1e-3), "learning rate"),
    (Adam, dict(eps=-1e-8), "eps"),
    (Adam, dict(betas=(1.0, 0.999)), "beta"),
    (Adam, dict(betas=(0.9, 1.0)), "beta"),
    (Adam, dict(betas=(-0.1, 0.999)), "beta"),
    (Adam, dict(weight_decay=-1e-2), "weight_decay"),
    (AdamW, dict(lr=-1e-3), "learning rate"),
    (AdamW, dict(eps=-1e-8), "eps"),
    (AdamW, dict(betas=(0.9, 1.5)), "beta"),
    (AdamW, dict(weight_decay=-1e-2), "weight_decay"),
]


@pytest.mark.parametrize("cls,options,match", BAD, ids=[f"{c.__name__}-{'-'.join(o)}" for c, o, _ in BAD])
def test_invalid_hyperparameters_raise_like_torch(cls, options, match):
    p = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match=match):
        cls([p], **options)
    ref = {SGD: torch.optim.SGD, AdaGrad: torch.optim.Adagrad, RMSProp: torch.optim.RMSprop, Adam: torch.optim.Adam,
           AdamW: torch.optim.AdamW}[cls]
    with pytest.raises(ValueError):  # torch.optim refuses the same options
        ref([p], **{"lr": 0.1, **options})


@pytest.mark.parametrize("cls,options,match", BAD[:3] + BAD[5:6] + BAD[14:15] + BAD[-1:])
def test_invalid_options_of_one_group_raise_too(cls, options, match):
    a, b = torch.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match=match):
        cls([{"params": [a]}, {"params": [b], **options}], lr=0.1)
    opt = cls([a], lr=0.1)
    with pytest.raises(ValueError, match=match):
        opt.add_param_group({"params": [b], **options})
    assert len(opt.param_groups) == 1  # the refused group is not kept
