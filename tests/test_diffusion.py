"""Diffusion: schedules, the closed-form forward process, the posterior, L_simple, and the samplers checked on
Gaussian data, where the perfect noise predictor and the score are known in closed form."""

import math

import pytest
import torch
from torch import nn

from dlhist import diffusion as dif


def gaussian_oracle(schedule, m, s):
    """The exact noise predictor E[eps | x_t] for data x_0 ~ N(m, s^2) per coordinate: x_t = a x_0 + b eps is
    Gaussian jointly with eps, so E[eps | x_t] = b (x_t - a m) / (a^2 s^2 + b^2), a = sqrt(abar_t), b^2 = 1 - abar_t."""
    m, s = torch.as_tensor(m, dtype=torch.float64), torch.as_tensor(s, dtype=torch.float64)

    def model(x, t, y=None):
        abar = schedule.at("alpha_bar", t, x)
        a, b = abar.sqrt(), (1 - abar).sqrt()
        return b * (x - a * m.to(x)) / (abar * s.to(x) ** 2 + b ** 2)

    return model


# ------------------------------------------------------------------------------------------------------ schedules

def test_schedules_have_T_betas_and_a_decreasing_alpha_bar():
    for betas in (dif.linear_betas(1000), dif.cosine_betas(1000), dif.linear_betas(7, 0.05, 0.3)):
        sched = dif.Schedule(betas)
        T = len(betas)
        assert sched.T == len(sched) == T
        for name in ("betas", "alphas", "alpha_bar", "alpha_bar_prev", "posterior_variance"):
            assert getattr(sched, name).shape == (T,) and getattr(sched, name).dtype == torch.float64
        assert (sched.alpha_bar.diff() < 0).all() and 0 < sched.alpha_bar[-1] < sched.alpha_bar[0] < 1
        assert sched.alpha_bar_prev[0] == 1 and torch.equal(sched.alpha_bar_prev[1:], sched.alpha_bar[:-1])
    lin = dif.linear_betas(1000)
    assert lin[0].item() == pytest.approx(1e-4) and lin[-1].item() == pytest.approx(0.02)
    assert dif.Schedule(lin).alpha_bar[-1] < 1e-4  # DDPM's x_T is (almost) pure noise
    # the docstring's warning: far fewer steps with the same betas leave much of x_0 in x_T
    assert dif.Schedule.linear(100).alpha_bar[-1].item() == pytest.approx(0.36, abs=0.01)


def test_cosine_alpha_bar_is_the_closed_form():
    T, s = 100, 0.008
    f = lambda t: math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2
    sched = dif.Schedule.cosine(T)
    want = torch.tensor([f(t) / f(0) for t in range(1, T)], dtype=torch.float64)  # index i is step t = i + 1
    torch.testing.assert_close(sched.alpha_bar[:-1], want, rtol=1e-12, atol=0)
    assert sched.betas[-1].item() == 0.999  # f(T) = 0 would make the last beta 1: clipped
    assert (sched.betas[:-1] < 0.999).all()
    assert dif.cosine_betas(T, max_beta=0.5).max().item() == 0.5


def test_betas_outside_the_open_unit_interval_are_refused_by_index():
    with pytest.raises(ValueError, match=r"beta\[1\] = 1.2 does not"):
        dif.Schedule([0.1, 1.2, 0.3])
    with pytest.raises(ValueError, match=r"beta\[0\] = 0.0 does not \(2 of 3"):
        dif.Schedule([0.0, 0.5, -0.1])
    with pytest.raises(ValueError, match=r"beta\[2\] = nan"):
        dif.Schedule([0.1, 0.2, float("nan")])
    with pytest.raises(ValueError, match=r"beta\[0\] = 1.0"):
        dif.Schedule([1.0])
    with pytest.raises(ValueError, match=r"non-empty 1-D sequence, got shape \(0,\)"):
        dif.Schedule([])
    with pytest.raises(ValueError, match="positive integer, got 0"):
        dif.linear_betas(0)


def test_timesteps_are_checked():
    sched = dif.Schedule.linear(10)
    x = torch.zeros(3, 2)
    with pytest.raises(ValueError, match=r"timestep 10 is outside 0 \.\. 9"):
        sched.q_sample(x, torch.tensor([0, 10, 2]))
    with pytest.raises(ValueError, match=r"timestep -1 is outside"):
        sched.q_sample(x, -1)
    with pytest.raises(ValueError, match=r"shape \(3,\), got \(2,\)"):
        sched.q_sample(x, torch.tensor([1, 2]))
    with pytest.raises(TypeError, match="integer tensor"):
        sched.q_sample(x, torch.tensor([0.5, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"between 1 and T = 10, got 11"):
        sched.timesteps(11)


# ------------------------------------------------------------------------------------------ the forward process

def test_q_sample_is_the_step_by_step_chain_in_closed_form():
    sched = dif.Schedule.linear(50, beta_1=1e-3, beta_T=0.05)
    # exactly: x_t = c_t x_0 + N(0, v_t), with c_t = sqrt(alpha_t) c_{t-1} and v_t = alpha_t v_{t-1} + beta_t
    c, v = 1.0, 0.0
    for t in range(sched.T):
        c, v = math.sqrt(sched.alphas[t]) * c, sched.alphas[t].item() * v + sched.betas[t].item()
        assert c == pytest.approx(sched.alpha_bar[t].sqrt().item(), rel=1e-12)
        assert v == pytest.approx(1 - sched.alpha_bar[t].item(), rel=1e-12)
    # statistically: run the chain on many copies of x_0 and compare with one-shot draws at some steps
    g = torch.Generator().manual_seed(0)
    n = 200_000
    x0 = torch.full((n,), 1.5, dtype=torch.float64)
    x = x0.clone()
    for t in range(sched.T):
        x = sched.alphas[t].sqrt() * x + sched.betas[t].sqrt() * torch.randn(n, generator=g, dtype=torch.float64)
        if t in (0, 9, 49):
            direct = sched.q_sample(x0, t, torch.randn(n, generator=g, dtype=torch.float64))
            for a in (x, direct):  # both against the exact moments, within about 5 standard errors
                assert a.mean().item() == pytest.approx(1.5 * sched.alpha_bar[t].sqrt().item(), abs=0.01)
                assert a.var().item() == pytest.approx(1 - sched.alpha_bar[t].item(), rel=0.02, abs=1e-4)
    # and the formula itself, with broadcasting over image-shaped data
    x0, eps, t = torch.randn(4, 1, 3, 3), torch.randn(4, 1, 3, 3), torch.tensor([0, 5, 20, 49])
    ab = sched.alpha_bar[t].float().view(-1, 1, 1, 1)
    torch.testing.assert_close(sched.q_sample(x0, t, eps), ab.sqrt() * x0 + (1 - ab).sqrt() * eps)


def test_posterior_is_ddpm_eq7_and_bayes_rule():
    sched = dif.Schedule.cosine(20)
    x0, xt = torch.tensor([[0.7], [-1.2]], dtype=torch.float64), torch.tensor([[-0.3], [0.4]], dtype=torch.float64)
    t = torch.tensor([5, 12])
    mean, var = sched.posterior(x0, xt, t)
    assert var.shape == (2, 1)
    b, a, ab, abp = (v[t].view(-1, 1) for v in (sched.betas, sched.alphas, sched.alpha_bar, sched.alpha_bar_prev))
    torch.testing.assert_close(mean, abp.sqrt() * b / (1 - ab) * x0 + a.sqrt() * (1 - abp) / (1 - ab) * xt)
    torch.testing.assert_close(var, (1 - abp) / (1 - ab) * b)
    # Bayes on a grid: p(z | x_t, x_0) ~ q(z | x_0) q(x_t | z), with z = x_{t-1}
    for k in range(2):
        ti = t[k].item()
        z = torch.linspace(-6, 6, 200_001, dtype=torch.float64)
        log_p = (-(z - abp[k].sqrt() * x0[k]) ** 2 / (2 * (1 - abp[k]))
                 - (xt[k] - a[k].sqrt() * z) ** 2 / (2 * sched.betas[ti]))
        w = torch.softmax(log_p, 0)
        m = (w * z).sum()
        assert m.item() == pytest.approx(mean[k].item(), abs=1e-8)
        assert (w * (z - m) ** 2).sum().item() == pytest.approx(var[k].item(), rel=1e-6)
    # at t = 0 there is nothing left to guess: the posterior is x_0 itself
    mean0, var0 = sched.posterior(x0, xt, 0)
    torch.testing.assert_close(mean0, x0)
    assert (var0 == 0).all()


def test_predict_x0_and_eps_invert_q_sample():
    sched = dif.Schedule.cosine(100)
    shape = (5, 2, 4, 4)
    x0, eps = torch.randn(shape, dtype=torch.float64), torch.randn(shape, dtype=torch.float64)
    t = torch.tensor([0, 1, 50, 98, 99])
    xt = sched.q_sample(x0, t, eps)
    torch.testing.assert_close(sched.predict_eps(xt, t, x0), eps)
    torch.testing.assert_close(sched.predict_x0(xt, t, eps), x0)


def test_score_from_eps_is_the_score_of_the_noised_gaussian():
    sched = dif.Schedule.cosine(100)
    m, s = 0.8, 0.5
    t = torch.tensor([0, 10, 60, 99])
    x = torch.randn(4, 1, dtype=torch.float64).requires_grad_(True)
    ab = sched.alpha_bar[t].view(-1, 1)
    log_q = -(x - ab.sqrt() * m) ** 2 / (2 * (ab * s ** 2 + 1 - ab))  # x_t ~ N(sqrt(abar) m, abar s^2 + 1 - abar)
    (score,) = torch.autograd.grad(log_q.sum(), x)
    eps = gaussian_oracle(sched, m, s)(x.detach(), t)
    torch.testing.assert_close(dif.score_from_eps(eps, t, sched), score)


# ------------------------------------------------------------------------------------------------- the training loss

def test_simple_loss_is_a_scalar_that_an_exact_predictor_drives_to_zero():
    sched = dif.Schedule.linear(100, beta_1=0.01, beta_T=0.2)
    x0 = torch.full((64, 1, 4, 4), 0.3)
    net = nn.Conv2d(1, 1, 3, padding=1)
    loss = dif.simple_loss(lambda x, t: net(x), x0, sched)
    assert loss.dim() == 0 and loss.item() > 0
    loss.backward()
    assert net.weight.grad.abs().sum() > 0
    # data that is one point: eps = (x_t - sqrt(abar) x_0) / sqrt(1 - abar) exactly, so the loss vanishes
    oracle = lambda x, t: sched.predict_eps(x, t, x0)
    assert dif.simple_loss(oracle, x0, sched).item() < 1e-10
    # a generator makes it reproducible; labels go to the model; simple_step reads a (x, y) batch
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    model = lambda x, t: net(x)
    assert dif.simple_loss(model, x0, sched, generator=g1) == dif.simple_loss(model, x0, sched, generator=g2)
    seen = {}
    cond = lambda x, t, y: seen.setdefault("y", y) is not None and net(x)
    y = torch.arange(64)
    assert dif.simple_step(sched, conditional=True)(cond, (x0, y)).dim() == 0
    assert seen["y"] is y
    assert dif.simple_step(sched)(model, (x0, y)).dim() == 0
    with pytest.raises(ValueError, match=r"noise of the input's shape \(64, 1, 4, 4\), got \(64, 2, 4, 4\)"):
        dif.simple_loss(lambda x, t: torch.cat([x, x], 1), x0, sched)


# ------------------------------------------------------------------------------------------------------ sampling

@pytest.mark.parametrize("sampler, kw", [
    ("ddpm", dict(steps=100)),
    ("ddpm", dict(steps=100, var="large")),
    ("ddim", dict(steps=50)),
    ("ddim", dict(steps=100, eta=1.0)),
])
def test_samplers_with_the_exact_noise_predictor_return_the_data_distribution(sampler, kw):
    sched = dif.Schedule.cosine(1000)
    m, s = torch.tensor([1.0, -0.5]), torch.tensor([0.6, 1.2])
    g = torch.Generator().manual_seed(0)
    fn = dif.sample_ddpm if sampler == "ddpm" else dif.sample_ddim
    x = fn(gaussian_oracle(sched, m, s), sched, (20_000, 2), generator=g, **kw)
    torch.testing.assert_close(x.mean(0), m, atol=0.03, rtol=0)  # about 3.5 standard errors
    # with few steps the chain is a coarse discretisation: "small" variances lose 2-3 % of the spread at 50-100
    # steps (and 5 % at 20), "large" ones gain a little; the bias shrinks with more steps (next test)
    torch.testing.assert_close(x.std(0), s, atol=0, rtol=0.05)


def test_ddim_discretisation_error_shrinks_with_more_steps():
    sched = dif.Schedule.cosine(1000)
    m, s = torch.tensor([1.0, -0.5]), torch.tensor([0.6, 1.2])
    x_T = torch.randn(20_000, 2, generator=torch.Generator().manual_seed(0))
    err = {}
    for steps in (10, 40, 200):
        x = dif.sample_ddim(gaussian_oracle(sched, m, s), sched, x_T.shape, steps=steps, x_T=x_T)
        err[steps] = (x.std(0) / s - 1).abs().max().item()
    assert err[10] > err[40] > err[200] and err[200] < 0.015, err


def _algorithm_2(model, sched, shape, g, var):
    """DDPM Algorithm 2 written out, with 0-based t."""
    x = torch.randn(shape, generator=g)
    for t in reversed(range(sched.T)):
        b, a, ab = (v[t].item() for v in (sched.betas, sched.alphas, sched.alpha_bar))
        eps = model(x, torch.full((shape[0],), t))
        mean = (x - b / math.sqrt(1 - ab) * eps) / math.sqrt(a)
        sigma2 = sched.posterior_variance[t].item() if var == "small" else b
        x = mean + math.sqrt(sigma2) * torch.randn(shape, generator=g) if t > 0 else mean
    return x


@pytest.mark.parametrize("var", ["small", "large"])
def test_ddpm_on_all_steps_is_algorithm_2(var):
    sched = dif.Schedule.linear(30, beta_1=1e-3, beta_T=0.2)
    model = gaussian_oracle(sched, 0.5, 0.3)
    want = _algorithm_2(model, sched, (8, 3), torch.Generator().manual_seed(2), var)
    for steps in (None, 30):
        got = dif.sample_ddpm(model, sched, (8, 3), steps=steps, generator=torch.Generator().manual_seed(2), var=var)
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_respacing_keeps_alpha_bar_at_the_visited_steps():
    sched = dif.Schedule.cosine(1000)
    ts, sub = sched.respace(50)
    assert len(ts) == sub.T == 50 and ts[0] == 0 and ts[-1] == 999 and (ts.diff() > 0).all()
    torch.testing.assert_close(sub.alpha_bar, sched.alpha_bar[ts], rtol=1e-10, atol=0)
    # with every step kept, the recomputed betas are the original ones
    ab = sched.alpha_bar
    torch.testing.assert_close(1 - ab / torch.cat([torch.ones(1, dtype=ab.dtype), ab[:-1]]), sched.betas)
    assert sched.respace(1000)[1] is sched and sched.timesteps(1).tolist() == [999]
    # the model is called with the original timesteps, from T-1 down
    seen = []
    model = lambda x, t: seen.append(t[0].item()) or torch.zeros_like(x)
    dif.sample_ddim(model, sched, (2, 1), steps=5)
    assert seen == sched.timesteps(5).flip(0).tolist() == [999, 749, 500, 250, 0]


def test_ddim_eta_0_is_deterministic_and_eta_1_is_ddpm():
    sched = dif.Schedule.cosine(200)
    model = gaussian_oracle(sched, 0.5, 0.3)
    x_T = torch.randn(16, 2)
    a = dif.sample_ddim(model, sched, (16, 2), steps=20, x_T=x_T, generator=torch.Generator().manual_seed(0))
    b = dif.sample_ddim(model, sched, (16, 2), steps=20, x_T=x_T, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    ddim = dif.sample_ddim(model, sched, (16, 2), steps=20, eta=1.0, generator=torch.Generator().manual_seed(3))
    ddpm = dif.sample_ddpm(model, sched, (16, 2), steps=20, var="small", generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(ddim, ddpm, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="eta must be between 0 .* got -0.5"):
        dif.sample_ddim(model, sched, (16, 2), steps=20, eta=-0.5)


def test_classifier_guidance():
    sched = dif.Schedule.cosine(100)
    model = gaussian_oracle(sched, 0.0, 0.5)
    classifier = lambda x, t: torch.stack([x.sum(1), -x.sum(1)], 1)  # class 0: large coordinates
    y = torch.zeros(2000, dtype=torch.long)

    def run(fn, guidance, **kw):
        return fn(model, sched, (2000, 2), generator=torch.Generator().manual_seed(0), y=y, guidance=guidance, **kw)

    for fn, kw in ((dif.sample_ddpm, dict(steps=20)), (dif.sample_ddim, dict(steps=10))):
        plain = fn(model, sched, (2000, 2), generator=torch.Generator().manual_seed(0), **kw)
        assert torch.equal(run(fn, (classifier, 0.0), **kw), plain)  # scale 0: the same samples, bit for bit
        guided = run(fn, (classifier, 2.0), **kw)
        assert guided.mean() > plain.mean() + 0.1  # pushed towards class 0
    with pytest.raises(ValueError, match="scale must be a finite number >= 0, got -1.0"):
        run(dif.sample_ddpm, (classifier, -1.0))
    with pytest.raises(ValueError, match=r"pass y="):
        dif.sample_ddim(model, sched, (2, 2), steps=3, guidance=(classifier, 1.0))
    with pytest.raises(ValueError, match=r"a pair \(classifier, scale\)"):
        run(dif.sample_ddpm, 1.0)
    # the gradient is that of log p(y | x): here log_softmax of (u, -u), u = x1 + x2
    x, t = torch.randn(5, 2), torch.zeros(5, dtype=torch.long)
    u = x.sum(1, keepdim=True)
    torch.testing.assert_close(dif.classifier_gradient(classifier, x, t, y[:5]),
                               (2 * torch.sigmoid(-2 * u)).expand(5, 2))


def test_samplers_use_eval_mode_pass_labels_and_report_steps():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin, self.drop, self.labels = nn.Linear(3, 3), nn.Dropout(0.5), None

        def forward(self, x, t, y=None):
            assert not self.training and not torch.is_grad_enabled()
            self.labels = y
            return self.drop(self.lin(x))

    net, sched = Net().train(), dif.Schedule.cosine(50)
    y = torch.tensor([1, 2, 3, 4])
    steps = []
    x = dif.sample_ddpm(net, sched, (4, 3), steps=7, y=y, clip=1.0,
                        callback=lambda i, t, x, x0: steps.append((i, x0.abs().max().item())))
    assert net.training and x.shape == (4, 3) and torch.equal(net.labels, y)
    assert [i for i, _ in steps] == list(range(6, -1, -1)) and max(m for _, m in steps) <= 1.0
    with pytest.raises(ValueError, match=r"noise of the sample's shape \(4, 3\), got \(4, 1\)"):
        dif.sample_ddim(lambda x, t: x[:, :1], sched, (4, 3), steps=2)
    with pytest.raises(ValueError, match=r"one label per sample, shape \(4,\), got \(3,\)"):
        dif.sample_ddim(net, sched, (4, 3), steps=2, y=y[:3])


# ------------------------------------------------------------------------------------------- the variational bound

def _bytes(shape, seed=0):
    """8-bit data scaled to [-1, 1], as the bound's decoder expects."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, shape, generator=g).double() / 127.5 - 1


def test_vlb_terms_are_gaussian_kls_and_eq12_weighted_error_plus_a_constant():
    sched = dif.Schedule.linear(50, beta_1=0.01, beta_T=0.3)
    x0 = _bytes((6, 1, 3, 3))
    net = nn.Conv2d(1, 1, 3, padding=1).double()
    model = lambda x, t: net(x)  # noqa: E731
    t = torch.tensor([1, 2, 10, 25, 40, 49])
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    large, small = dif.reverse_variance(sched, "large"), dif.reverse_variance(sched, "small")
    assert torch.equal(large[1:], sched.betas[1:]) and torch.equal(small[1:], sched.posterior_variance[1:])
    assert large[0] == small[0] == sched.posterior_variance[1] > 0  # beta-tilde is 0 at the first step
    with pytest.raises(ValueError, match="at least 2 steps"):
        dif.reverse_variance(dif.Schedule([0.1]))
    for var in ("large", "small"):
        # t = 0 is the decoder: the mass on x0's bin of N(the x0 that eps implies, sigma_0^2)
        x_1 = sched.q_sample(x0, 0, noise)
        want = dif.discretized_gaussian_nll(x0, sched.predict_x0(x_1, 0, model(x_1, torch.zeros(6).long())),
                                            dif.reverse_variance(sched, var)[0]).flatten(1).sum(1)
        assert torch.allclose(dif.vlb_terms(model, x0, sched, 0, var, noise), want, rtol=1e-9)
        got = dif.vlb_terms(model, x0, sched, t, var, noise)
        x_t = sched.q_sample(x0, t, noise)
        eps = model(x_t, t)
        q_mean, q_var = sched.posterior(x0, x_t, t)
        p_mean, _ = sched.posterior(sched.predict_x0(x_t, t, eps), x_t, t)
        sigma2 = dif.reverse_variance(sched, var)[t].view(-1, 1, 1, 1)
        kl = torch.distributions.kl_divergence(torch.distributions.Normal(q_mean, q_var.sqrt().expand_as(q_mean)),
                                               torch.distributions.Normal(p_mean, sigma2.sqrt().expand_as(p_mean)))
        assert torch.allclose(got, kl.flatten(1).sum(1), rtol=1e-9)
        # Eq. 12: the same, as a weighted squared error in eps plus a term without the model in it
        b, a, abar = (sched.betas[t].view(-1, 1, 1, 1), sched.alphas[t].view(-1, 1, 1, 1),
                      sched.alpha_bar[t].view(-1, 1, 1, 1))
        weighted = (b ** 2 / (2 * sigma2 * a * (1 - abar)) * (noise - eps) ** 2).flatten(1).sum(1)
        const = (0.5 * (torch.log(sigma2 / q_var) + q_var / sigma2 - 1)).expand_as(x0).flatten(1).sum(1)
        assert torch.allclose(got, weighted + const, rtol=1e-9)
    with pytest.raises(ValueError, match="'small' .* or 'large'"):
        dif.reverse_variance(sched, "learned")


def test_the_decoder_is_ddpm_eq13_and_refuses_data_that_is_not_8_bit():
    x0 = torch.tensor([-1.0, -1 + 2 / 255, 0.2 - 0.2 % (2 / 255) - 1 / 255, 1.0], dtype=torch.float64)
    x0 = ((x0 + 1) * 127.5).round() / 127.5 - 1
    mean, var = torch.tensor([-0.9, -0.99, 0.1, 0.95], dtype=torch.float64), torch.tensor(0.01, dtype=torch.float64)
    normal = torch.distributions.Normal(mean, var.sqrt())
    edges_hi = torch.where(x0 > 0.999, torch.tensor(math.inf, dtype=torch.float64), x0 + 1 / 255)
    edges_lo = torch.where(x0 < -0.999, torch.tensor(-math.inf, dtype=torch.float64), x0 - 1 / 255)
    want = -torch.log(normal.cdf(edges_hi) - normal.cdf(edges_lo))
    assert torch.allclose(dif.discretized_gaussian_nll(x0, mean, var), want, rtol=1e-9)
    # the 256 bins' probabilities sum to 1
    grid = torch.arange(256, dtype=torch.float64) / 127.5 - 1
    p = torch.exp(-dif.discretized_gaussian_nll(grid, torch.tensor(0.3, dtype=torch.float64), var))
    assert p.sum().item() == pytest.approx(1.0, abs=1e-9)
    # far in a tail (z about -8 to -40) float32 still gives the float64 value, and a finite gradient
    x = torch.tensor([0.2, -0.5, 0.6]).double()
    x = ((x + 1) * 127.5).round() / 127.5 - 1
    m = torch.tensor([0.26, -0.6, 0.9], dtype=torch.float64)
    v = torch.tensor(0.0074 ** 2, dtype=torch.float64)
    ref = dif.discretized_gaussian_nll(x, m, v)
    from scipy.special import ndtr  # exact in the tails (torch's ndtr is 0.5 (1 + erf): 1e-3 off at z = -7.6)

    z_lo, z_hi = ((x - 1 / 255 - m) / v.sqrt()).numpy(), ((x + 1 / 255 - m) / v.sqrt()).numpy()
    mass = [ndtr(-a) - ndtr(-b) if a > 0 else ndtr(b) - ndtr(a) for a, b in zip(z_lo, z_hi)]
    assert ref[:2].tolist() == pytest.approx([-math.log(p) for p in mass[:2]], rel=1e-9)  # z about -8 and +13
    m32 = m.float().requires_grad_(True)
    got = dif.discretized_gaussian_nll(x.float(), m32, v.float())
    assert torch.allclose(got.double(), ref, rtol=1e-3) and ref[2] > 700
    got.sum().backward()
    assert torch.isfinite(m32.grad).all()
    assert torch.equal(m32.grad.sign(), (m - x).sign().float())  # the mean is pulled towards x0 from either side
    sched = dif.Schedule.linear(10, beta_1=0.01, beta_T=0.3)
    model = lambda x, t: torch.zeros_like(x)  # noqa: E731
    with pytest.raises(ValueError, match="8-bit data"):
        dif.vlb_terms(model, torch.full((2, 4), 0.001), sched, 0)
    with pytest.raises(ValueError, match=r"\[-1, 1\], got values from 0 to 2"):
        dif.vlb_terms(model, torch.tensor([[0.0, 2.0]]), sched, 0)


def test_prior_kl_is_torch_distributions():
    sched = dif.Schedule.linear(20, beta_1=0.01, beta_T=0.2)
    x0 = _bytes((3, 5))
    abar = sched.alpha_bar[-1]
    q = torch.distributions.Normal(abar.sqrt() * x0, (1 - abar).sqrt().expand_as(x0))
    want = torch.distributions.kl_divergence(q, torch.distributions.Normal(torch.zeros_like(x0), 1.0)).sum(1)
    assert torch.allclose(dif.prior_kl(x0, sched), want, rtol=1e-9)


def test_the_bound_of_an_exact_model_of_one_point_is_prior_plus_decoder_and_the_estimates_agree():
    sched = dif.Schedule.cosine(200)
    x0 = _bytes((1, 8)).expand(64, 8).contiguous()  # data that is one point: the exact eps predictor is known
    oracle = lambda x, t: sched.predict_eps(x, t, x0[: len(x)])  # noqa: E731
    bits = dif.nll_bound(oracle, x0, sched, var="small")
    # every KL term is 0 (the reverse step is the posterior itself), leaving L_T and the decoder's mass on x0's bin
    sigma2 = dif.reverse_variance(sched, "small")[0]
    want = (dif.prior_kl(x0, sched) + dif.discretized_gaussian_nll(x0, x0, sigma2).sum(1)) / (8 * math.log(2))
    assert bits.shape == (64,) and torch.allclose(bits, want, rtol=1e-6)
    # a model a little off has a worse bound; drawing t per example estimates the full sum (DDPM's linear schedule:
    # the cosine one's last beta of 0.999 gives its last term a weight of hundreds, too noisy for a quick check)
    sched = dif.Schedule.linear(200, beta_1=0.001, beta_T=0.05)
    oracle = lambda x, t: sched.predict_eps(x, t, x0[: len(x)])  # noqa: E731
    bits = dif.nll_bound(oracle, x0, sched, var="small")
    sigma2 = dif.reverse_variance(sched, "small")[0]
    off = lambda x, t: 0.5 * oracle(x, t)  # noqa: E731
    full = dif.nll_bound(off, x0, sched, var="small", generator=torch.Generator().manual_seed(0))
    est = dif.nll_bound(off, x0, sched, var="small", draws=2000, generator=torch.Generator().manual_seed(1))
    assert (full > bits + 0.5).all() and est.mean().item() == pytest.approx(full.mean().item(), rel=0.06)
    # the training loss is the same sum per dimension, in nats, without L_T
    g = torch.Generator().manual_seed(2)
    losses = torch.stack([dif.vlb_loss(off, x0, sched, var="small", generator=g) for _ in range(2000)])
    prior = dif.prior_kl(x0, sched).mean() / 8
    assert (losses.mean() + prior).item() / math.log(2) == pytest.approx(full.mean().item(), rel=0.06)
    # exactly: with the oracle every KL term is 0, so the loss is T / (64 * 8) times the decoder's nats of the
    # examples that drew t = 0 (replayed from the same generator)
    decoder = dif.discretized_gaussian_nll(x0, x0, sigma2).sum(1)[0].item()
    for seed in range(20):
        k = int((torch.randint(0, sched.T, (64,), generator=torch.Generator().manual_seed(seed)) == 0).sum())
        loss = dif.vlb_loss(oracle, x0, sched, var="small", generator=torch.Generator().manual_seed(seed)).item()
        assert loss == pytest.approx(k * sched.T * decoder / (64 * 8), rel=1e-9, abs=1e-12)
    with pytest.raises(ValueError, match="draws must be a positive integer"):
        dif.nll_bound(off, x0, sched, draws=0)


def test_vlb_step_trains_a_network_and_passes_labels():
    sched = dif.Schedule.linear(30, beta_1=0.01, beta_T=0.3)
    net = nn.Conv2d(1, 1, 3, padding=1)
    x0, y = _bytes((8, 1, 4, 4)).float(), torch.arange(8)
    loss = dif.vlb_step(sched)(lambda x, t: net(x), (x0, y))
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    assert net.weight.grad.abs().sum() > 0
    seen = {}
    cond = lambda x, t, y: seen.setdefault("y", y) is not None and net(x)  # noqa: E731
    dif.vlb_step(sched, conditional=True)(cond, (x0, y))
    assert seen["y"] is y
    # the decoder term (t = 0) of a model far off still gives a finite gradient
    net.zero_grad()
    terms = dif.vlb_terms(lambda x, t: 30 * net(x), x0, sched, torch.tensor([0, 0, 0, 0, 5, 10, 20, 29]))
    terms.sum().backward()
    assert torch.isfinite(terms).all() and torch.isfinite(net.weight.grad).all() and net.weight.grad.abs().sum() > 0
