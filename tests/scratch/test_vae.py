import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from dlhist import data, train
from dlhist.scratch.vae import (
    MLPVAE,
    VQVAE,
    ConvVAE,
    VectorQuantizer,
    bernoulli_nll,
    bits_per_dim,
    code_perplexity,
    gaussian_kl,
    iw_log_likelihood,
    log_prior,
    log_q,
    reparameterize,
    sleep_step,
    wake_step,
)


def _gaussian(shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(shape, generator=g, dtype=torch.float64)
    logvar = torch.randn(shape, generator=g, dtype=torch.float64)
    return mu, logvar


@pytest.mark.parametrize("shape", [(5, 3), (4, 2, 7, 7)])
def test_kl_log_q_and_bernoulli_nll_match_torch_distributions(shape):
    mu, logvar = _gaussian(shape)
    q = Normal(mu, (0.5 * logvar).exp())
    p = Normal(torch.zeros_like(mu), torch.ones_like(mu))
    per_example = lambda t: t.reshape(shape[0], -1).sum(1)
    torch.testing.assert_close(gaussian_kl(mu, logvar), per_example(kl_divergence(q, p)), rtol=0, atol=1e-12)
    z = q.sample()
    torch.testing.assert_close(log_q(z, mu, logvar), per_example(q.log_prob(z)), rtol=0, atol=1e-12)
    torch.testing.assert_close(log_prior(z), per_example(p.log_prob(z)), rtol=0, atol=1e-12)
    logits, x = mu * 3, (logvar > 0).double()
    expected = per_example(F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="none"))
    torch.testing.assert_close(bernoulli_nll(logits, x), expected, rtol=0, atol=1e-10)
    with pytest.raises(ValueError, match=r"logits and x must have the same shape, got \(5, 3\) and \(5, 4\)"):
        bernoulli_nll(torch.zeros(5, 3), torch.zeros(5, 4))
    with pytest.raises(ValueError, match=r"mu and logvar .* \(2, 3\) and \(2, 2\)"):
        gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 2))


def test_reparameterised_samples_have_the_right_moments_and_gradients():
    mu = torch.tensor([1.0, -2.0, 0.5], requires_grad=True)
    logvar = torch.tensor([0.0, math.log(4.0), math.log(0.25)], requires_grad=True)
    g = torch.Generator().manual_seed(0)
    z = reparameterize(mu.expand(20000, 3), logvar.expand(20000, 3), generator=g)
    torch.testing.assert_close(z.mean(0), mu.detach(), rtol=0, atol=0.05)
    torch.testing.assert_close(z.var(0), logvar.detach().exp(), rtol=0.05, atol=0)
    z.sum().backward()
    assert torch.allclose(mu.grad, torch.full((3,), 20000.0))  # dz/dmu = 1
    eps = (z.detach() - mu.detach()) / (0.5 * logvar.detach()).exp()
    torch.testing.assert_close(logvar.grad, (0.5 * (0.5 * logvar.detach()).exp() * eps).sum(0))  # dz/dlogvar


def test_mlp_vae_is_the_papers_architecture_and_accepts_flat_or_square_images():
    model = MLPVAE()
    assert sum(p.numel() for p in model.encoder_parameters()) == 784 * 500 + 500 + 500 * 40 + 40
    assert sum(p.numel() for p in model.decoder_parameters()) == 20 * 500 + 500 + 500 * 784 + 784
    x = (torch.rand(3, 1, 28, 28) > 0.5).float()
    torch.manual_seed(0)
    out = model(x)
    torch.manual_seed(0)
    torch.testing.assert_close(out["loss"], model(x.reshape(3, 784))["loss"])
    torch.testing.assert_close(out["loss"], out["recon"] + out["kl"])
    assert model.elbo(x).shape == (3,) and model.sample(4).shape == (4, 784)
    assert model.sample(2, torch.Generator().manual_seed(1)).equal(model.sample(2, torch.Generator().manual_seed(1)))
    with pytest.raises(ValueError, match=r"MLPVAE expects images of shape .*\(784,\).* got \(3, 100\)"):
        model(torch.zeros(3, 100))


def test_importance_sampling_tightens_the_elbo_toward_the_exact_likelihood():
    torch.manual_seed(0)
    model = MLPVAE(n_in=6, n_hidden=8, n_latent=1).double()  # 1-d latent: log p(x) by quadrature
    x = (torch.rand(5, 6, dtype=torch.float64) > 0.5).double()
    with torch.no_grad():
        z = torch.linspace(-10, 10, 4001, dtype=torch.float64).unsqueeze(1)
        log_joint = -torch.stack([bernoulli_nll(model.decode(z), xi.expand(len(z), 6)) for xi in x]) + log_prior(z)
        exact = torch.logsumexp(log_joint, 1) + math.log(20 / 4000)
        elbo = model.elbo(x.repeat(4000, 1)).reshape(4000, 5).mean(0)
    g = torch.Generator().manual_seed(0)
    iw1 = iw_log_likelihood(model, x.repeat(4000, 1), k=1, generator=g).reshape(4000, 5).mean(0)
    iw50 = iw_log_likelihood(model, x, k=50, generator=g)
    iw2000 = iw_log_likelihood(model, x, k=2000, chunk=64, generator=g)  # several passes per example
    assert (elbo < exact).all()
    torch.testing.assert_close(iw1, elbo, rtol=0, atol=0.1)  # k = 1 is the ELBO
    assert iw1.mean() < iw50.mean() <= exact.mean() + 0.05
    torch.testing.assert_close(iw2000, exact, rtol=0, atol=0.05)


def test_wake_trains_only_the_decoder_and_sleep_only_the_encoder():
    torch.manual_seed(0)
    model = MLPVAE(n_in=12, n_hidden=8, n_latent=2)
    x = (torch.rand(16, 12) > 0.5).float()
    for fn, trained, frozen in ((wake_step, model.decoder_parameters, model.encoder_parameters),
                                (sleep_step, model.encoder_parameters, model.decoder_parameters)):
        model.zero_grad(set_to_none=True)
        fn(model, (x, torch.zeros(16))).backward()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in trained())
        assert all(p.grad is None for p in frozen())
    h = train.fit(model, data.TensorLoader(x, batch_size=8), steps=4, step={"wake": wake_step, "sleep": sleep_step},
                  optimizer={"wake": lambda m: torch.optim.Adam(m.decoder_parameters()),
                             "sleep": lambda m: torch.optim.Adam(m.encoder_parameters())}, device="cpu", verbose=-1)
    assert {"loss_wake", "loss_sleep"} <= set(h.keys())


def test_a_vae_trained_for_a_few_dozen_steps_lowers_its_negative_elbo():
    torch.manual_seed(0)
    prototypes = (torch.rand(4, 32) > 0.5).float()
    x = prototypes[torch.randint(4, (256,))]
    x = torch.where(torch.rand_like(x) < 0.05, 1 - x, x)  # 5% of pixels flipped
    model = MLPVAE(n_in=32, n_hidden=32, n_latent=2)
    h = train.fit(model, data.TensorLoader(x, batch_size=32, shuffle=True, seed=0), steps=48, loss_fn=None,
                  optimizer=lambda p: torch.optim.Adam(p, lr=1e-2), device="cpu", verbose=-1)
    first, last = h.epochs[0]["train_loss"], h.epochs[-1]["train_loss"]
    assert last < 0.7 * first and {"recon", "kl"} <= set(h.keys())
    assert h.steps[-1]["loss"] < 32 * math.log(2)  # better than coin flips


def test_vector_quantizer_picks_the_nearest_code_and_passes_gradients_straight_through():
    torch.manual_seed(0)
    vq = VectorQuantizer(5, 3).eval()
    with torch.no_grad():
        vq.codebook.normal_()
    before = vq.codebook.clone()
    z_e = torch.randn(2, 3, 4, 4, requires_grad=True)
    z_q, idx, commit = vq(z_e)
    flat = z_e.detach().movedim(1, -1).reshape(-1, 3)
    assert idx.shape == (2, 4, 4) and idx.reshape(-1).equal(torch.cdist(flat, vq.codebook).argmin(1))
    torch.testing.assert_close(z_q, vq.codebook[idx].movedim(-1, 1))
    torch.testing.assert_close(commit, 0.25 * ((z_e - z_q) ** 2).sum() / 2)  # summed per image, batch mean
    g = torch.randn_like(z_e)
    (grad,) = torch.autograd.grad((z_q * g).sum(), z_e)
    torch.testing.assert_close(grad, g, rtol=0, atol=0)  # straight-through: the identity
    assert vq.codebook.equal(before), "eval mode must not update the codebook"
    with pytest.raises(ValueError, match=r"dim=3\) expects \(N, 3, H, W\) .* got \(2, 5, 4, 4\)"):
        vq(torch.randn(2, 5, 4, 4))


def test_ema_update_matches_a_hand_computed_step_on_two_codes():
    vq = VectorQuantizer(2, 2, decay=0.9, eps=1e-5)
    with torch.no_grad():
        vq.codebook.copy_(torch.tensor([[0.0, 0.0], [10.0, 10.0]]))
        vq.embed_sum.copy_(vq.codebook)  # m = N e with N = 1, as at construction
    z_e = torch.tensor([[1.0, 1.0], [2.0, 0.0], [9.0, 9.0]]).T.reshape(1, 2, 1, 3)
    z_q, idx, _ = vq(z_e)
    assert idx.tolist() == [[[0, 0, 1]]]
    torch.testing.assert_close(z_q, torch.tensor([[0.0, 0.0], [0.0, 0.0], [10.0, 10.0]]).T.reshape(1, 2, 1, 3))
    n = torch.tensor([0.9 + 0.1 * 2, 0.9 + 0.1 * 1])  # N <- 0.9 N + 0.1 n_i
    m = torch.tensor([[0.1 * 3, 0.1 * 1], [0.9 * 10 + 0.1 * 9, 0.9 * 10 + 0.1 * 9]])  # m <- 0.9 m + 0.1 sum
    smoothed = (n + 1e-5) / (n.sum() + 2e-5) * n.sum()
    torch.testing.assert_close(vq.cluster_size, n)
    torch.testing.assert_close(vq.embed_sum, m)
    torch.testing.assert_close(vq.codebook, m / smoothed.unsqueeze(1))


def test_perplexity_counts_the_codes_in_use_and_dead_codes_can_be_restarted():
    assert code_perplexity(torch.arange(8).repeat(3), 8).item() == pytest.approx(8)
    assert code_perplexity(torch.full((10,), 3), 8).item() == pytest.approx(1)
    vq = VectorQuantizer(4, 2)
    vq(vq.codebook.clone().reshape(1, 4, 2).movedim(-1, 1))  # each code's own vector: uniform use
    assert vq.perplexity.item() == pytest.approx(4)
    torch.manual_seed(0)
    vq = VectorQuantizer(4, 2, restart_dead=True, dead_threshold=0.995)
    z_e = 5 + 0.1 * torch.randn(1, 2, 8, 8)  # far from every initial code: one code takes all 64
    vq(z_e)
    assert vq.perplexity.item() == pytest.approx(1)
    flat = z_e.movedim(1, -1).reshape(-1, 2)
    assert all(torch.isclose(flat, c).all(1).any() for c in vq.codebook[vq.cluster_size == 1])
    assert (vq.cluster_size == 1).sum() == 3  # the unused ones (N = 0.99) moved onto encoder outputs


@pytest.mark.parametrize("cls", [ConvVAE, VQVAE])
def test_conv_models_share_the_encoder_decoder_and_report_nats_per_image(cls):
    torch.manual_seed(0)
    model = cls(channels=(4, 8))
    x = (torch.rand(3, 784) > 0.5).float()
    out = model(x, torch.zeros(3))
    out["loss"].backward()
    assert all(p.grad is not None for p in model.encoder.parameters())  # through the quantiser for the VQ-VAE
    assert model.encoder[-1].out_channels == (2 * 8 if cls is ConvVAE else 16)  # mu and logvar, or codes
    assert model.nelbo(x).shape == (3,) and model.sample(2).shape == (2, 1, 28, 28)
    if cls is VQVAE:
        assert set(out) == {"loss", "recon", "commit", "perplexity"}
        assert model.encode(x).shape == (3, 7, 7) and model.prior_nats == pytest.approx(49 * math.log(64))
        model.eval()
        torch.testing.assert_close(model.nelbo(x).mean(), model(x)["recon"] + 49 * math.log(64))
    else:
        assert set(out) == {"loss", "recon", "kl"} and model.encode(x)[0].shape == (3, 8, 7, 7)
    assert bits_per_dim(784 * math.log(2)) == pytest.approx(1.0)


def test_a_vq_vae_lowers_its_loss_in_a_few_steps():
    torch.manual_seed(0)
    x = (torch.rand(4, 1, 28, 28) > 0.7).float()[torch.randint(4, (64,))]
    model = VQVAE(n_codes=8, dim=4, channels=(4, 8), restart_dead=True)
    h = train.fit(model, data.TensorLoader(x, batch_size=16, shuffle=True, seed=0), steps=40, loss_fn=None,
                  optimizer=lambda p: torch.optim.Adam(p, lr=1e-2), device="cpu", verbose=-1)
    assert h.epochs[-1]["train_loss"] < 0.9 * h.epochs[0]["train_loss"]
    assert "perplexity" in h.keys()
