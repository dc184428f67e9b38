"""Denoising diffusion: the forward noising process, its training loss and the samplers that run it backwards.

Ho, Jain & Abbeel (2020), DDPM: a fixed Markov chain adds Gaussian noise in T small steps,

    q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I),

and because Gaussians compose, any step has a closed form (``Schedule.q_sample``, Eq. 4):

    x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps,   abar_t = prod_{s<=t} (1 - beta_s),   eps ~ N(0, I).

A network ``model(x_t, t)`` learns to predict ``eps`` from ``x_t`` (``simple_loss``: L_simple, Algorithm 1); since
``x_0`` is then known given ``x_t`` and ``eps``, the true reverse step q(x_{t-1} | x_t, x_0) (``Schedule.posterior``,
Eq. 6-7) gives the learned one, and sampling walks the chain from pure noise down to t = 0 (``sample_ddpm``,
Algorithm 2). Predicting eps is predicting the score: grad log q(x_t) = -E[eps | x_t] / sqrt(1 - abar_t)
(``score_from_eps``; Song et al. 2021's view of the same model).

L_simple is a reweighting of the model's true variational bound (``vlb_terms``: DDPM Eq. 5, the decoder of Eq. 13),
which ``vlb_loss`` trains on directly and ``nll_bound`` evaluates in bits per dimension: DDPM's ablation, where the
bound gives the better likelihood (Table 1) and L_simple the better samples (Table 2).

Later papers change only the schedule and the sampler, never the training:

- Nichol & Dhariwal (2021): the cosine schedule (``cosine_betas``, Eq. 17) wastes fewer steps on almost pure noise;
  respacing (Section 4) samples on a subsequence of the timesteps with betas recomputed from abar
  (``Schedule.respace``), e.g. 50 of 1000 steps.
- Song, Meng & Ermon (2021), DDIM: a family of non-Markovian processes with the same marginals, hence the same
  trained model; ``eta = 0`` is a deterministic sampler that works with few steps (``sample_ddim``, Eq. 12), ``eta = 1``
  is DDPM again.
- Dhariwal & Nichol (2021): classifier guidance. A classifier trained on noisy images, ``classifier(x_t, t)``, pushes
  every step towards the class y: eps <- eps - scale * sqrt(1 - abar_t) * grad_x log p(y | x_t) (Algorithm 2, Eq. 14).

Conventions: timesteps are 0-based (``t = 0`` is the first noising step, ``T - 1`` the last); ``t`` is a LongTensor
with one index per example. Data are expected scaled to [-1, 1], as in DDPM. The schedule is kept in float64 and cast
to the data's dtype and device when used. A model is any callable ``model(x_t, t)`` (``model(x_t, t, y)`` for a
class-conditional one) returning a tensor of the shape of ``x_t``: the predicted noise.

    sched = Schedule(cosine_betas(1000))
    fit(net, loader, steps=20_000, step=simple_step(sched))      # or step=lambda m, b: simple_loss(m, b[0], sched)
    x = sample_ddim(net, sched, (64, 1, 28, 28), steps=50)        # or sample_ddpm(net, sched, shape, steps=250)
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

# --------------------------------------------------------------------------------------------------- the schedule


def linear_betas(T: int, beta_1: float = 1e-4, beta_T: float = 0.02) -> torch.Tensor:
    """DDPM's schedule: ``T`` betas rising linearly from ``beta_1`` to ``beta_T`` (float64).

    The defaults are the paper's for T = 1000; with far fewer steps abar_T stays well above 0 (T = 100: about 0.36), so
    x_T is not yet noise: scale both ends by 1000 / T (Nichol & Dhariwal's rule) or use ``cosine_betas``."""
    _check_T(T)
    return torch.linspace(beta_1, beta_T, T, dtype=torch.float64)


def cosine_betas(T: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Nichol & Dhariwal's cosine schedule (Eq. 17): abar_t = f(t) / f(0), f(t) = cos^2((t / T + s) / (1 + s) * pi/2),
    so that beta_t = 1 - abar_t / abar_{t-1}, clipped at ``max_beta`` (the last step would otherwise be 1: f(T) = 0).

    Index i of the result is the paper's step t = i + 1. The small offset ``s`` keeps the first betas from being
    vanishingly small."""
    _check_T(T)
    if not 0 < max_beta < 1:
        raise ValueError(f"max_beta must be in (0, 1), got {max_beta}")
    f = torch.cos((torch.arange(T + 1, dtype=torch.float64) / T + s) / (1 + s) * math.pi / 2) ** 2
    return (1 - f[1:] / f[:-1]).clamp(max=max_beta)


def _check_T(T) -> None:
    if not isinstance(T, int) or T < 1:
        raise ValueError(f"the number of diffusion steps T must be a positive integer, got {T!r}")


class Schedule:
    """A noise schedule: ``betas`` (T,) and everything derived from them, in float64 on the CPU.

    ``alphas = 1 - betas``, ``alpha_bar`` their cumulative products (abar_t: how much of x_0 is left in x_t),
    ``alpha_bar_prev`` the same shifted by one step (abar_{-1} = 1), ``posterior_variance`` beta-tilde of DDPM Eq. 7.
    Every method takes ``t`` as a LongTensor of per-example indices (or one int for all) and returns tensors on the
    device and in the dtype of the data it is given."""

    def __init__(self, betas: torch.Tensor | Sequence[float]):
        betas = torch.as_tensor(betas, dtype=torch.float64).detach().cpu()
        if betas.dim() != 1 or len(betas) == 0:
            raise ValueError(f"betas must be a non-empty 1-D sequence, got shape {tuple(betas.shape)}")
        bad = ~((betas > 0) & (betas < 1))  # also catches NaN
        if bad.any():
            i = int(bad.nonzero()[0])
            raise ValueError(f"every beta must lie in (0, 1); beta[{i}] = {betas[i].item()} does not "
                             f"({int(bad.sum())} of {len(betas)} are outside)")
        self.betas = betas
        self.alphas = 1 - betas
        self.alpha_bar = torch.cumprod(self.alphas, 0)
        self.alpha_bar_prev = torch.cat([torch.ones(1, dtype=torch.float64), self.alpha_bar[:-1]])
        self.posterior_variance = betas * (1 - self.alpha_bar_prev) / (1 - self.alpha_bar)
        # DDPM Eq. 7: the posterior mean is coef_x0 * x_0 + coef_xt * x_t
        self.posterior_coef_x0 = betas * self.alpha_bar_prev.sqrt() / (1 - self.alpha_bar)
        self.posterior_coef_xt = self.alphas.sqrt() * (1 - self.alpha_bar_prev) / (1 - self.alpha_bar)
        self._cache: dict = {}

    @classmethod
    def linear(cls, T: int = 1000, **kw) -> Schedule:
        """``Schedule(linear_betas(T, ...))``."""
        return cls(linear_betas(T, **kw))

    @classmethod
    def cosine(cls, T: int = 1000, **kw) -> Schedule:
        """``Schedule(cosine_betas(T, ...))``."""
        return cls(cosine_betas(T, **kw))

    @property
    def T(self) -> int:
        """The number of steps."""
        return len(self.betas)

    def __len__(self) -> int:
        return self.T

    def __repr__(self) -> str:
        return (f"Schedule(T={self.T}, beta {self.betas[0].item():.3g} .. {self.betas[-1].item():.3g}, "
                f"alpha_bar_T={self.alpha_bar[-1].item():.3g})")

    # helpers

    def check_t(self, t: torch.Tensor | int, n: int, device=None) -> torch.Tensor:
        """``t`` as a LongTensor of ``n`` indices on ``device`` (one int is repeated); refuses anything outside
        0 .. T-1 or of the wrong shape or dtype, naming it."""
        if isinstance(t, int):
            t = torch.full((n,), t, dtype=torch.long, device=device)
        if not isinstance(t, torch.Tensor) or t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
            raise TypeError(f"t must be an int or an integer tensor of timestep indices, got {t!r}")
        if t.dim() == 0:
            t = t.expand(n)
        if t.shape != (n,):
            raise ValueError(f"t must hold one timestep per example, shape ({n},), got {tuple(t.shape)}")
        lo, hi = int(t.min()), int(t.max())
        if lo < 0 or hi >= self.T:
            bad = lo if lo < 0 else hi
            raise ValueError(f"timestep {bad} is outside 0 .. {self.T - 1} (0-based, T = {self.T})")
        return t.to(device=device, dtype=torch.long) if device is not None else t.long()

    def at(self, name: str, t: torch.Tensor | int, x: torch.Tensor) -> torch.Tensor:
        """The schedule's tensor ``name`` (e.g. ``"alpha_bar"``) at timesteps ``t``, shaped (N, 1, ..., 1) to
        broadcast against ``x`` (N, ...), in x's dtype and on x's device."""
        key = (name, x.device, x.dtype)
        if key not in self._cache:  # cast on the CPU first: some devices (MPS) have no float64
            self._cache[key] = getattr(self, name).to(x.dtype).to(x.device)
        t = self.check_t(t, x.shape[0], x.device)
        return self._cache[key][t].view(-1, *[1] * (x.dim() - 1))

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor | int, noise: torch.Tensor | None = None) -> torch.Tensor:
        """A draw of x_t given x_0 in one step (DDPM Eq. 4): sqrt(abar_t) x_0 + sqrt(1 - abar_t) noise."""
        if noise is None:
            noise = torch.randn_like(x0)
        if noise.shape != x0.shape:
            raise ValueError(f"noise must have the shape of x0 {tuple(x0.shape)}, got {tuple(noise.shape)}")
        abar = self.at("alpha_bar", t, x0)
        return abar.sqrt() * x0 + (1 - abar).sqrt() * noise

    def posterior(self, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor | int
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance of q(x_{t-1} | x_t, x_0) (DDPM Eq. 6-7): where x_t came from, had x_0 been known.

            mean = sqrt(abar_{t-1}) beta_t / (1 - abar_t) x_0 + sqrt(alpha_t) (1 - abar_{t-1}) / (1 - abar_t) x_t
            var  = (1 - abar_{t-1}) / (1 - abar_t) beta_t      (shaped (N, 1, ..., 1); 0 at t = 0)"""
        if x0.shape != x_t.shape:
            raise ValueError(f"x0 and x_t must have the same shape, got {tuple(x0.shape)} and {tuple(x_t.shape)}")
        mean = self.at("posterior_coef_x0", t, x_t) * x0 + self.at("posterior_coef_xt", t, x_t) * x_t
        return mean, self.at("posterior_variance", t, x_t)

    def predict_x0(self, x_t: torch.Tensor, t: torch.Tensor | int, eps: torch.Tensor) -> torch.Tensor:
        """The x_0 that ``eps`` implies: Eq. 4 solved for x_0, (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)."""
        abar = self.at("alpha_bar", t, x_t)
        return (x_t - (1 - abar).sqrt() * eps) / abar.sqrt()

    def predict_eps(self, x_t: torch.Tensor, t: torch.Tensor | int, x0: torch.Tensor) -> torch.Tensor:
        """The noise that ``x0`` implies: Eq. 4 solved for eps, (x_t - sqrt(abar_t) x_0) / sqrt(1 - abar_t)."""
        abar = self.at("alpha_bar", t, x_t)
        return (x_t - abar.sqrt() * x0) / (1 - abar).sqrt()

    def timesteps(self, steps: int) -> torch.Tensor:
        """``steps`` timesteps spread evenly over 0 .. T-1, rounded, first and last included (one step: T-1):
        the subsequence a respaced sampler visits (Nichol & Dhariwal Section 4)."""
        if not isinstance(steps, int) or not 1 <= steps <= self.T:
            raise ValueError(f"steps must be an integer between 1 and T = {self.T}, got {steps!r}")
        if steps == 1:
            return torch.tensor([self.T - 1])
        return torch.linspace(0, self.T - 1, steps, dtype=torch.float64).round().long()

    def respace(self, steps: int) -> tuple[torch.Tensor, Schedule]:
        """The timesteps a ``steps``-step sampler visits, and the schedule of that shorter chain.

        Keeping abar at the visited steps fixes everything (Nichol & Dhariwal Section 4): beta_i = 1 - abar_{S_i} /
        abar_{S_{i-1}}. Index i of the new schedule is the original timestep ``timesteps[i]``, the one the model is
        called with. With steps == T the schedule is this one (up to rounding)."""
        ts = self.timesteps(steps)
        if steps == self.T:
            return ts, self
        abar = self.alpha_bar[ts]
        prev = torch.cat([torch.ones(1, dtype=torch.float64), abar[:-1]])
        return ts, Schedule(1 - abar / prev)


def score_from_eps(eps: torch.Tensor, t: torch.Tensor | int, schedule: Schedule) -> torch.Tensor:
    """The score grad_x log q(x_t) that a noise prediction implies: -eps / sqrt(1 - abar_t) (Tweedie's formula; an
    exact eps predictor E[eps | x_t] gives the exact score)."""
    return -eps / (1 - schedule.at("alpha_bar", t, eps)).sqrt()


# ------------------------------------------------------------------------------------------------------- training


def _randn(shape, generator: torch.Generator | None, device, dtype=None) -> torch.Tensor:
    """Standard normal noise; with a generator it is drawn on the generator's device, then moved (so a CPU generator
    such as ``seed_everything``'s gives the same numbers on every device)."""
    if generator is None:
        return torch.randn(shape, device=device, dtype=dtype)
    return torch.randn(shape, generator=generator, device=generator.device, dtype=dtype).to(device)


def simple_loss(model: Callable, x0: torch.Tensor, schedule: Schedule, y: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """DDPM's L_simple (Algorithm 1): draw t uniformly from 0 .. T-1 and eps ~ N(0, I) per example, noise x0 to x_t
    in closed form, and return the mean squared error between eps and ``model(x_t, t)`` (``model(x_t, t, y)`` when
    labels ``y`` are given). A scalar: ``dlhist.fit(step=...)`` can minimise it directly."""
    n = x0.shape[0]
    if generator is None:
        t = torch.randint(0, schedule.T, (n,), device=x0.device)
    else:
        t = torch.randint(0, schedule.T, (n,), generator=generator, device=generator.device).to(x0.device)
    eps = _randn(x0.shape, generator, x0.device, x0.dtype)
    x_t = schedule.q_sample(x0, t, eps)
    pred = model(x_t, t) if y is None else model(x_t, t, y)
    if pred.shape != eps.shape:
        raise ValueError(f"the model must predict noise of the input's shape {tuple(eps.shape)}, "
                         f"got {tuple(pred.shape)}")
    return F.mse_loss(pred, eps)


def simple_step(schedule: Schedule, conditional: bool = False) -> Callable:
    """A ``step`` for ``dlhist.fit``: ``fn(model, batch)`` -> ``simple_loss`` of the batch's images (``batch[0]``),
    passing the labels ``batch[1]`` to the model when ``conditional``."""

    def step(model, batch):
        x0 = batch[0] if isinstance(batch, (tuple, list)) else batch
        return simple_loss(model, x0, schedule, y=batch[1] if conditional else None)

    return step


def dropout_loss(model: Callable, x0: torch.Tensor, schedule: Schedule, p_uncond: float = 0.1,
                 generator: torch.Generator | None = None, **condition) -> torch.Tensor:
    """``simple_loss`` for a model that classifier-free guidance will steer (Ho & Salimans 2021, Algorithm 1): the
    condition of each example is dropped with probability ``p_uncond``, so one network learns both eps(x_t, t, c)
    and eps(x_t, t). The model is called as ``model(x_t, t, **condition, drop=drop)``, ``drop`` (N,) bool marking the
    examples to treat as unconditional (``dlhist.models.latent.CaptionDiffusion`` takes this form)."""
    if not 0.0 <= p_uncond <= 1.0:
        raise ValueError(f"p_uncond must be a probability, got {p_uncond}")
    if not condition:
        raise ValueError("dropout_loss needs the condition to drop, e.g. tokens=captions")
    n = x0.shape[0]
    if generator is None:
        u = torch.rand(n, device=x0.device)
    else:
        u = torch.rand(n, generator=generator, device=generator.device).to(x0.device)
    drop = u < p_uncond
    return simple_loss(lambda x, t: model(x, t, **condition, drop=drop), x0, schedule, generator=generator)


# ------------------------------------------------------------------------------------------- the variational bound

_VARS = ("small", "large")


def reverse_variance(schedule: Schedule, var: str = "large") -> torch.Tensor:
    """sigma_t^2 of the reverse steps p(x_{t-1} | x_t) = N(mu_theta, sigma_t^2 I), fixed, not learned (float64, (T,)).

    ``"large"``: beta_t, ``"small"``: beta-tilde_t (the posterior variance); DDPM Section 3.2 found both alike. At
    the first step (t = 0 here, the decoder) beta-tilde is 0, so both use beta-tilde of the next step there, as DDPM's
    code does (a variance of 0 would make the decoder's likelihood degenerate)."""
    if var not in _VARS:
        raise ValueError(f"var must be 'small' (beta-tilde) or 'large' (beta), got {var!r}")
    if schedule.T < 2:
        raise ValueError(f"the variational bound needs at least 2 steps, got T = {schedule.T}")
    v = (schedule.posterior_variance if var == "small" else schedule.betas).clone()
    v[0] = schedule.posterior_variance[1]
    return v


def _gaussian_kl(mean1, var1, mean2, var2):
    """KL(N(mean1, var1) || N(mean2, var2)) per element (the variances broadcast)."""
    return 0.5 * (torch.log(var2 / var1) + (var1 + (mean1 - mean2) ** 2) / var2 - 1)


def _check_bits(x0: torch.Tensor, bits: int = 8) -> None:
    """The bound's decoder is a likelihood of discrete data: 2^bits levels spread over [-1, 1] (one device sync)."""
    half = (2 ** bits - 1) / 2
    scaled = (x0.detach() + 1) * half
    lo, hi, off = torch.stack([x0.detach().min(), x0.detach().max(), (scaled - scaled.round()).abs().max()]).tolist()
    if not (-1 - 1e-6 <= lo and hi <= 1 + 1e-6):
        raise ValueError(f"the variational bound needs data in [-1, 1], got values from {lo:.4g} to {hi:.4g}")
    if off > 1e-3:
        raise ValueError(f"the variational bound's decoder needs {bits}-bit data ({2 ** bits} levels k / {half} - 1 in "
                         f"[-1, 1]); a value lies {off:.3g} of a level away from the nearest one")


def discretized_gaussian_nll(x0: torch.Tensor, mean: torch.Tensor, var: torch.Tensor, bits: int = 8) -> torch.Tensor:
    """-log P(x0) per element under DDPM's discrete decoder (Eq. 13): the mass N(mean, var) puts on x0's bin of width
    2 / (2^bits - 1), the outermost bins reaching to -inf and +inf.

    Computed in log space so that it stays exact (and its gradient finite) far in a tail, where the two CDF values
    would be equal in float32: a bin on one side of the mean is reflected to the left side, and log(Phi(b) - Phi(a))
    = log Phi(b) + log(1 - Phi(a) / Phi(b))."""
    half_bin = 1 / (2 ** bits - 1)
    std = var.sqrt()
    z_lo, z_hi = (x0 - half_bin - mean) / std, (x0 + half_bin - mean) / std
    reflect = z_lo > 0  # the whole bin above the mean: use the mirror image, below it
    a, b = torch.where(reflect, -z_hi, z_lo), torch.where(reflect, -z_lo, z_hi)
    straddle = b > 0  # the bin contains the mean: its mass is not small, subtract directly
    b_tail = b.clamp(max=0)
    a_tail = torch.minimum(a, b_tail - 2 * half_bin / std)
    la, lb = torch.special.log_ndtr(a_tail), torch.special.log_ndtr(b_tail)
    log_tail = lb + torch.log1p(-torch.exp(la - lb))
    log_mid = torch.log((torch.special.ndtr(b) - torch.special.ndtr(a)).clamp(min=1e-30))
    log_p = torch.where(straddle, log_mid, log_tail)
    log_p = torch.where(x0 < -1 + half_bin, torch.special.log_ndtr(z_hi), log_p)
    log_p = torch.where(x0 > 1 - half_bin, torch.special.log_ndtr(-z_lo), log_p)
    return -log_p


def vlb_terms(model: Callable, x0: torch.Tensor, schedule: Schedule, t: torch.Tensor | int, var: str = "large",
              noise: torch.Tensor | None = None, y: torch.Tensor | None = None) -> torch.Tensor:
    """One term of DDPM's variational bound per example (nats, summed over the example's dimensions, shape (N,)),
    at x_t drawn from x0 with ``noise`` (DDPM Eq. 5):

        t > 0   L_{t-1} = KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t))     (both Gaussian: exact)
        t = 0   L_0 = -log p(x_0 | x_1)                                     (the discrete decoder, Eq. 13)

    with p's mean from the model's noise prediction (Eq. 11: the posterior mean at the x_0 that eps implies) and its
    variance ``reverse_variance(schedule, var)``. With eps-prediction, L_{t-1} is Eq. 12's weighted squared error,
    beta_t^2 / (2 sigma_t^2 alpha_t (1 - abar_t)) ||eps - eps_theta||^2, plus a constant. The x_0 that eps implies
    is not clipped (DDPM's evaluation code clips it to [-1, 1] by default; both give a bound)."""
    _check_bits(x0)
    return _vlb_terms(model, x0, schedule, t, var, noise, y)


def _vlb_terms(model, x0, schedule, t, var, noise, y):
    """``vlb_terms`` without the check of the data (done once per call of ``nll_bound``, not once per t)."""
    t = schedule.check_t(t, x0.shape[0], x0.device)
    if noise is None:
        noise = torch.randn_like(x0)
    x_t = schedule.q_sample(x0, t, noise)
    eps = model(x_t, t) if y is None else model(x_t, t, y)
    if eps.shape != x0.shape:
        raise ValueError(f"the model must predict noise of the input's shape {tuple(x0.shape)}, "
                         f"got {tuple(eps.shape)}")
    mean, _ = schedule.posterior(schedule.predict_x0(x_t, t, eps), x_t, t)
    key = ("reverse_variance", var, x0.device, x0.dtype)
    if key not in schedule._cache:
        schedule._cache[key] = reverse_variance(schedule, var).to(x0.dtype).to(x0.device)
    sigma2 = schedule._cache[key][t].view(-1, *[1] * (x0.dim() - 1))
    q_mean, q_var = schedule.posterior(x0, x_t, t)
    first = (t == 0).view(-1, *[1] * (x0.dim() - 1))
    kl = _gaussian_kl(q_mean, torch.where(first, sigma2, q_var), mean, sigma2)  # q_var is 0 at t = 0: not used there
    decoder = discretized_gaussian_nll(x0, mean, sigma2)
    return torch.where(first, decoder, kl).flatten(1).sum(1)


def prior_kl(x0: torch.Tensor, schedule: Schedule) -> torch.Tensor:
    """L_T = KL(q(x_T | x_0) || N(0, I)) per example (nats, summed over dimensions): the bound's one term with no
    parameter in it, small when abar_T is near 0."""
    abar = schedule.at("alpha_bar", schedule.T - 1, x0)
    return _gaussian_kl(abar.sqrt() * x0, 1 - abar, torch.zeros_like(x0), torch.ones_like(x0)).flatten(1).sum(1)


def vlb_loss(model: Callable, x0: torch.Tensor, schedule: Schedule, var: str = "large", y: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """DDPM's true variational bound as a training loss (the "L, fixed isotropic Sigma" rows of Table 2): the sum
    over t of ``vlb_terms``, estimated from one uniformly drawn t per example (T times the mean term), in nats per
    dimension, without the constant L_T. Its expectation plus ``prior_kl`` per dimension is the bound. Compared with
    ``simple_loss`` it weights the steps near the data far more (on DDPM's linear schedule, with sigma_t^2 = beta_t,
    Eq. 12's factor is about 55 times larger at the paper's t = 2, index 1 here, than at its smallest, near the
    paper's t = 350)."""
    n = x0.shape[0]
    if generator is None:
        t = torch.randint(0, schedule.T, (n,), device=x0.device)
    else:
        t = torch.randint(0, schedule.T, (n,), generator=generator, device=generator.device).to(x0.device)
    noise = _randn(x0.shape, generator, x0.device, x0.dtype)
    return vlb_terms(model, x0, schedule, t, var, noise, y).mean() * schedule.T / x0[0].numel()


def vlb_step(schedule: Schedule, var: str = "large", conditional: bool = False) -> Callable:
    """A ``step`` for ``dlhist.fit`` that minimises ``vlb_loss`` (as ``simple_step`` does ``simple_loss``)."""

    def step(model, batch):
        x0 = batch[0] if isinstance(batch, (tuple, list)) else batch
        return vlb_loss(model, x0, schedule, var, y=batch[1] if conditional else None)

    return step


@torch.no_grad()
def nll_bound(model: Callable, x0: torch.Tensor, schedule: Schedule, var: str = "large", draws: int | None = None,
              batch_size: int = 500, generator: torch.Generator | None = None) -> torch.Tensor:
    """DDPM's bound on -log p(x_0) per example, in bits per dimension (shape (N,)): L_T + sum of ``vlb_terms``
    over t. ``draws=None`` sums all T terms (T network calls per example, exact up to the noise of one draw of x_t per
    term); ``draws=k`` estimates the sum from k uniformly drawn t per example (T times their mean), unbiased. The
    model runs in eval mode."""
    if draws is not None and (not isinstance(draws, int) or draws < 1):
        raise ValueError(f"draws must be a positive integer or None (every t), got {draws!r}")
    _check_bits(x0)
    out = []
    with _eval_mode(model):
        for i in range(0, len(x0), batch_size):
            x = x0[i:i + batch_size]
            n = len(x)
            total = prior_kl(x, schedule).double()
            if draws is None:
                for t in range(schedule.T):
                    noise = _randn(x.shape, generator, x.device, x.dtype)
                    total += _vlb_terms(model, x, schedule, t, var, noise, None).double()
            else:
                acc = torch.zeros(n, dtype=torch.float64, device=x.device)
                for _ in range(draws):
                    if generator is None:
                        t = torch.randint(0, schedule.T, (n,), device=x.device)
                    else:
                        t = torch.randint(0, schedule.T, (n,), generator=generator, device=generator.device)
                    acc += _vlb_terms(model, x, schedule, t.to(x.device), var,
                                      _randn(x.shape, generator, x.device, x.dtype), None).double()
                total += acc / draws * schedule.T
            out.append(total / (x[0].numel() * math.log(2)))
    return torch.cat(out)


# ------------------------------------------------------------------------------------------------------- sampling


def classifier_free(model: Callable, scale: float, **condition) -> Callable:
    """Classifier-free guidance (Ho & Salimans 2021), in the form latent diffusion uses (Rombach et al. 2022,
    Section 4.3.1): a callable ``eps(x_t, t)`` for the samplers,

        eps = eps(x_t, t, no condition) + scale * (eps(x_t, t, condition) - eps(x_t, t, no condition)),

    where ``model(x_t, t)`` is the unconditional prediction and ``model(x_t, t, **condition)`` the conditional one
    (one network, trained with its condition dropped now and then). ``scale = 1`` is the plain conditional model,
    ``scale = 0`` the unconditional one, ``scale > 1`` pushes samples towards what the condition makes likelier.
    (Ho & Salimans write the same with w = scale - 1.)"""
    scale = float(scale)
    if not scale >= 0 or math.isinf(scale):
        raise ValueError(f"the guidance scale must be a finite number >= 0, got {scale}")
    if not condition:
        raise ValueError("classifier_free needs the condition to guide towards, e.g. tokens=captions")

    def eps(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if scale == 1.0:
            return model(x, t, **condition)
        uncond = model(x, t)
        if scale == 0.0:
            return uncond
        return uncond + scale * (model(x, t, **condition) - uncond)

    return eps


def classifier_gradient(classifier: Callable, x_t: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """grad_x log p(y | x_t) of a noise-aware classifier ``classifier(x_t, t)`` -> logits, one gradient per example
    (the log-probabilities are summed over the batch: each example's depends only on its own x)."""
    with torch.enable_grad():
        x = x_t.detach().requires_grad_(True)
        logp = F.log_softmax(classifier(x, t).float(), dim=-1)
        chosen = logp.gather(1, y.view(-1, 1)).sum()
        return torch.autograd.grad(chosen, x)[0].to(x_t.dtype)


def _check_guidance(guidance, y, n):
    if guidance is None:
        return None
    if not isinstance(guidance, (tuple, list)) or len(guidance) != 2 or not callable(guidance[0]):
        raise ValueError(f"guidance must be a pair (classifier, scale), got {guidance!r}")
    classifier, scale = guidance
    scale = float(scale)
    if not scale >= 0 or math.isinf(scale):
        raise ValueError(f"the guidance scale must be a finite number >= 0, got {scale}")
    if y is None:
        raise ValueError("classifier guidance needs the classes to steer towards: pass y= (one label per sample)")
    return classifier, scale


def _device(model, generator, x_T, device):
    if device is not None:
        return torch.device(device)
    if x_T is not None:
        return x_T.device
    if isinstance(model, nn.Module):
        p = next(model.parameters(), None)
        if p is not None:
            return p.device
    return generator.device if generator is not None else torch.device("cpu")


@contextmanager
def _eval_mode(*modules):
    """Put the nn.Modules among ``modules`` in eval mode (dropout off) for sampling, then restore their modes."""
    mods = [m for m in modules if isinstance(m, nn.Module)]
    modes = [m.training for m in mods]
    try:
        for m in mods:
            m.eval()
        yield
    finally:
        for m, mode in zip(mods, modes):
            m.train(mode)


class _Sampler:
    """What DDPM and DDIM sampling share: the checks, the start, the loop over the respaced timesteps and the guided
    noise prediction."""

    def __init__(self, model, schedule, shape, steps, generator, y, guidance, x_T, device, progress):
        if not isinstance(schedule, Schedule):
            raise TypeError(f"schedule must be a Schedule, got {type(schedule).__name__}")
        shape = tuple(shape)
        self.model, self.schedule, self.generator = model, schedule, generator
        self.ts, self.sub = schedule.respace(schedule.T if steps is None else steps)
        self.device = _device(model, generator, x_T, device)
        n = shape[0]
        if y is not None:
            y = torch.as_tensor(y, device=self.device).long()
            if y.shape != (n,):
                raise ValueError(f"y must hold one label per sample, shape ({n},), got {tuple(y.shape)}")
        self.y = y
        self.guidance = _check_guidance(guidance, y, n)
        if x_T is not None:
            if tuple(x_T.shape) != shape:
                raise ValueError(f"x_T must have the shape {shape}, got {tuple(x_T.shape)}")
            self.x_T = x_T.to(self.device)
        else:
            self.x_T = _randn(shape, generator, self.device)
        self.progress = progress

    def loop(self):
        """Yields (i, t, x_0 prediction, eps prediction) for i = S-1 .. 0; the caller sets ``self.x``."""
        from tqdm.std import tqdm

        self.x = self.x_T
        n = self.x.shape[0]
        classifier = self.guidance[0] if self.guidance else None
        with _eval_mode(self.model, classifier), tqdm(total=len(self.ts), disable=not self.progress, leave=False,
                                                      file=sys.stdout, mininterval=1.0, ncols=100) as bar:
            for i in reversed(range(len(self.ts))):
                t = torch.full((n,), int(self.ts[i]), dtype=torch.long, device=self.device)
                eps = self.eps(self.x, t)
                yield i, t, eps
                bar.update()

    def eps(self, x, t):
        """The model's noise prediction, shifted by classifier guidance (Dhariwal & Nichol Eq. 14, eps form)."""
        with torch.no_grad():
            eps = self.model(x, t) if self.y is None or self.guidance else self.model(x, t, self.y)
        if eps.shape != x.shape:
            raise ValueError(f"the model must predict noise of the sample's shape {tuple(x.shape)}, "
                             f"got {tuple(eps.shape)}")
        if self.guidance:
            classifier, scale = self.guidance
            grad = classifier_gradient(classifier, x, t, self.y)
            eps = eps - scale * (1 - self.schedule.at("alpha_bar", t, x)).sqrt() * grad
        return eps

    def noise(self):
        return _randn(self.x.shape, self.generator, self.device, self.x.dtype)


def sample_ddpm(model: Callable, schedule: Schedule, shape: Sequence[int], steps: int | None = None,
                generator: torch.Generator | None = None, y: torch.Tensor | None = None,
                guidance: tuple[Callable, float] | None = None, *, var: str = "small", clip: float | None = None,
                x_T: torch.Tensor | None = None, device=None, progress: bool = False,
                callback: Callable | None = None) -> torch.Tensor:
    """Ancestral sampling (DDPM Algorithm 2): from x_T ~ N(0, I), step by step to x_0, each step a draw from
    N(mean, sigma^2 I) with the mean of the posterior q(x_{t-1} | x_t, x_0) at the x_0 the model's eps implies,

        x_{t-1} = 1 / sqrt(alpha_t) (x_t - beta_t / sqrt(1 - abar_t) eps(x_t, t)) + sigma_t z     (no z at the end)

    steps     visit only this many of the T timesteps, evenly spread (Nichol & Dhariwal's respacing: the betas of
              the shorter chain are recomputed from abar); None: all T.
    var       sigma_t^2: ``"small"`` the posterior variance beta-tilde (the right one for a single x_0, and the only
              one of the two that stays good with few steps), ``"large"`` beta_t (right for x_0 ~ N(0, I)); DDPM
              found both alike at T = 1000.
    y         labels: passed to the model, ``model(x, t, y)``, unless ``guidance`` is given, where they are the
              classes the classifier steers towards and the model is called as ``model(x, t)`` (wrap a conditional
              model, ``lambda x, t: net(x, t, y)``, to guide it too).
    guidance  ``(classifier, scale)``: classifier guidance, ``classifier(x_t, t)`` -> logits; scale 0 changes
              nothing, negative scales are refused.
    clip      clamp each x_0 prediction to [-clip, clip] (1.0 for images in [-1, 1], as DDPM's code does).
    x_T       the starting noise (default: drawn from ``generator``); ``device`` defaults to the model's.
    callback  called as ``callback(i, t, x_t, x0_pred)`` at every step (i counts down to 0): to show the chain.

    Runs without gradients (except through the classifier) and with the model in eval mode; returns x_0.
    """
    if var not in ("small", "large"):
        raise ValueError(f"var must be 'small' (beta-tilde) or 'large' (beta), got {var!r}")
    s = _Sampler(model, schedule, shape, steps, generator, y, guidance, x_T, device, progress)
    for i, t, eps in s.loop():
        x0 = _predict_x0(s, i, eps, clip, callback, t)
        mean, post_var = s.sub.posterior(x0, s.x, i)
        if i > 0:
            sigma2 = post_var if var == "small" else s.sub.at("betas", i, s.x)
            s.x = mean + sigma2.sqrt() * s.noise()
        else:
            s.x = mean
    return s.x


def sample_ddim(model: Callable, schedule: Schedule, shape: Sequence[int], steps: int, eta: float = 0.0,
                generator: torch.Generator | None = None, y: torch.Tensor | None = None,
                guidance: tuple[Callable, float] | None = None, *, clip: float | None = None,
                x_T: torch.Tensor | None = None, device=None, progress: bool = False,
                callback: Callable | None = None) -> torch.Tensor:
    """DDIM sampling (Song et al. 2021, Eq. 12) on ``steps`` evenly spread timesteps: predict x_0 from eps, then
    re-noise it to the previous visited step with the *same* eps,

        x_prev = sqrt(abar_prev) x0_pred + sqrt(1 - abar_prev - sigma^2) eps + sigma z,
        sigma  = eta sqrt((1 - abar_prev) / (1 - abar_t)) sqrt(1 - abar_t / abar_prev).

    ``eta = 0``: deterministic (the same x_T always gives the same x_0, whatever the generator); ``eta = 1``: DDPM's
    ancestral sampler with sigma^2 = beta-tilde (``sample_ddpm(var="small")``, the same draws from the same
    generator). The other arguments are those of ``sample_ddpm``."""
    eta = float(eta)
    if not 0 <= eta <= 1:
        raise ValueError(f"eta must be between 0 (deterministic DDIM) and 1 (DDPM), got {eta}")
    s = _Sampler(model, schedule, shape, steps, generator, y, guidance, x_T, device, progress)
    for i, t, eps in s.loop():
        x0 = _predict_x0(s, i, eps, clip, callback, t)
        if clip is not None:  # keep eps consistent with the clipped x_0
            eps = s.sub.predict_eps(s.x, i, x0)
        abar, abar_prev = s.sub.alpha_bar[i].item(), s.sub.alpha_bar_prev[i].item()
        sigma = eta * math.sqrt((1 - abar_prev) / (1 - abar) * (1 - abar / abar_prev))
        x = math.sqrt(abar_prev) * x0 + math.sqrt(max(1 - abar_prev - sigma ** 2, 0.0)) * eps
        s.x = x + sigma * s.noise() if i > 0 and sigma > 0 else x
    return s.x


def _predict_x0(s: _Sampler, i, eps, clip, callback, t):
    x0 = s.sub.predict_x0(s.x, i, eps)
    if clip is not None:
        x0 = x0.clamp(-clip, clip)
    if callback is not None:
        callback(i, t, s.x, x0)
    return x0
