"""Variational autoencoders (Kingma & Welling 2013), their wake-sleep baseline (Hinton et al. 1995) and the VQ-VAE
(van den Oord et al. 2017), from scratch.

A latent-variable model ``p(x, z) = p(x|z) p(z)`` with an encoder ``q(z|x)`` that guesses the latent of an image.
Whatever ``q`` is, the evidence lower bound (ELBO) holds for every x:

    log p(x) >= ELBO(x) = E_q(z|x)[log p(x|z)] - KL(q(z|x) || p(z))

AEVB maximises it over the decoder and the encoder together by gradient ascent. The trick that makes the gradient
through the sampling step exist is the reparameterisation ``z = mu + sigma * eps, eps ~ N(0, I)``: the noise is an
input, so ``z`` is a differentiable function of ``mu`` and ``sigma``. With a Gaussian ``q`` and ``p(z) = N(0, I)`` the
KL term has a closed form (the paper's Appendix B), so only the reconstruction term is estimated by sampling.

    model = MLPVAE()                                   # the paper's MNIST model: 784-500-20, tanh, Bernoulli pixels
    fit(model, loader, epochs=10, loss_fn=None)        # forward(x) returns {"loss": -ELBO, "recon": ..., "kl": ...}
    iw_log_likelihood(model, x, k=500)                 # a tighter estimate of log p(x) (Burda et al. 2015)
    fit(model, loader, epochs=10, step={"wake": wake_step, "sleep": sleep_step},
        optimizer={"wake": lambda m: Adam(m.decoder_parameters()), "sleep": lambda m: Adam(m.encoder_parameters())})

Wake-sleep trains the same two networks without the reparameterisation: the wake phase fits the decoder to latents
drawn from the encoder (no gradient through them), the sleep phase fits the encoder to "dreams" drawn from the
decoder. The sleep phase minimises KL(p || q) rather than the ELBO's KL(q || p), so it optimises no single bound.

The VQ-VAE replaces the Gaussian latent by a grid of discrete codes: each encoder output is snapped to its nearest
codebook vector, gradients are copied straight through the snap, and the codebook follows the encoder outputs
assigned to it as exponential moving averages (``VectorQuantizer``). ``ConvVAE`` and ``VQVAE`` share one conv
encoder/decoder (28 -> 14 -> 7 -> 14 -> 28) so that they differ only in the latent. Every ``nelbo`` is in nats per
image: an upper bound on ``-log p(x)``; ``bits_per_dim`` converts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

LOG_2PI = math.log(2 * math.pi)


def _per_example_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum over every dimension but the first (the batch): one number per example."""
    return t.reshape(t.shape[0], -1).sum(1)


def _same_shape(a: torch.Tensor, b: torch.Tensor, names: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{names} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A sample ``z = mu + exp(logvar / 2) * eps`` of N(mu, diag exp(logvar)), eps ~ N(0, I): differentiable in
    ``mu`` and ``logvar`` because the randomness enters as an input (Kingma & Welling, Section 2.4)."""
    _same_shape(mu, logvar, "mu and logvar")
    if generator is None:
        eps = torch.randn_like(mu)
    else:
        eps = torch.randn(mu.shape, generator=generator, device=generator.device, dtype=mu.dtype).to(mu.device)
    return mu + torch.exp(0.5 * logvar) * eps


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)) per example, in closed form (the paper's Appendix B):
    ``1/2 sum_j (mu_j^2 + sigma_j^2 - 1 - log sigma_j^2)``, summed over every latent dimension (all but the first)."""
    _same_shape(mu, logvar, "mu and logvar")
    return 0.5 * _per_example_sum(mu.pow(2) + logvar.exp() - 1 - logvar)


def log_q(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag exp(logvar)) per example: ``-1/2 sum_j (log 2 pi + logvar_j + (z_j - mu_j)^2 / sigma_j^2)``.
    ``mu`` and ``logvar`` may broadcast against ``z``."""
    return -0.5 * _per_example_sum(LOG_2PI + logvar + (z - mu).pow(2) * torch.exp(-logvar))


def log_prior(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) per example: the VAE's prior p(z)."""
    return -0.5 * _per_example_sum(LOG_2PI + z.pow(2))


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log p(x|z) per example for Bernoulli pixels with probabilities sigmoid(logits), summed over pixels.
    ``x`` in [0, 1] (binary, or grey levels read as probabilities: then it is a cross-entropy, not a likelihood)."""
    _same_shape(logits, x, "logits and x")
    return _per_example_sum(F.binary_cross_entropy_with_logits(logits, x, reduction="none"))


def bits_per_dim(nats_per_image, n_dims: int = 784):
    """Nats per image -> bits per dimension (pixel): divide by ``n_dims * ln 2``."""
    return nats_per_image / (n_dims * math.log(2))


class GaussianVAE(nn.Module):
    """What every VAE here shares: ``encoder(x)`` gives ``mu`` and ``logvar`` stacked along dimension 1, ``decoder(z)``
    gives Bernoulli logits, the prior is N(0, I). Subclasses set ``encoder``, ``decoder``, ``x_shape`` (one image)
    and ``latent_shape`` (one latent)."""

    encoder: nn.Module
    decoder: nn.Module
    x_shape: tuple[int, ...]
    latent_shape: tuple[int, ...]

    def _images(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` reshaped to (N, *x_shape): (N, 784) and (N, 1, 28, 28) are the same images."""
        if x.ndim < 2 or math.prod(x.shape[1:]) != math.prod(self.x_shape):
            raise ValueError(f"{type(self).__name__} expects images of shape (N, *{self.x_shape}) or with as many "
                             f"values per image ({math.prod(self.x_shape)}), got {tuple(x.shape)}")
        return x.reshape(x.shape[0], *self.x_shape)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The parameters ``(mu, logvar)`` of q(z|x), each (N, *latent_shape)."""
        mu, logvar = self.encoder(self._images(x)).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The logits of p(x|z), (N, *x_shape): pixel probabilities are their sigmoid."""
        return self.decoder(z)

    def elbo(self, x: torch.Tensor) -> torch.Tensor:
        """The ELBO per example, in nats, with one reparameterised sample (the paper's estimator B, L = 1)."""
        x = self._images(x)
        mu, logvar = self.encode(x)
        return -bernoulli_nll(self.decode(reparameterize(mu, logvar)), x) - gaussian_kl(mu, logvar)

    def nelbo(self, x: torch.Tensor) -> torch.Tensor:
        """The negative ELBO per example (nats per image): an upper bound on -log p(x)."""
        return -self.elbo(x)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Mean negative ELBO of the batch and its two parts (nats per image). Labels ``y``, if the loader gives
        them, are ignored."""
        x = self._images(x)
        mu, logvar = self.encode(x)
        recon = bernoulli_nll(self.decode(reparameterize(mu, logvar)), x).mean()
        kl = gaussian_kl(mu, logvar).mean()
        return {"loss": recon + kl, "recon": recon, "kl": kl}

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` latents z ~ p(z) = N(0, I), (n, *latent_shape), on the model's device."""
        p = next(self.parameters())
        device = generator.device if generator is not None else p.device
        return torch.randn((n, *self.latent_shape), generator=generator, device=device, dtype=p.dtype).to(p.device)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` new images: pixel probabilities sigmoid(decode(z)) for z ~ p(z), (n, *x_shape)."""
        return torch.sigmoid(self.decode(self.sample_prior(n, generator)))

    def encoder_parameters(self):
        """The parameters of q(z|x) (what the sleep phase trains)."""
        return self.encoder.parameters()

    def decoder_parameters(self):
        """The parameters of p(x|z) (what the wake phase trains)."""
        return self.decoder.parameters()


class MLPVAE(GaussianVAE):
    """The paper's MNIST model (Section 5): one hidden layer of tanh units in the encoder and in the decoder, a
    Gaussian q(z|x) with a diagonal covariance and Bernoulli pixels. Parameters start at PyTorch's default
    initialisation (the paper drew them from N(0, 0.01))."""

    def __init__(self, n_in: int = 784, n_hidden: int = 500, n_latent: int = 20):
        super().__init__()
        for name, v in (("n_in", n_in), ("n_hidden", n_hidden), ("n_latent", n_latent)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        self.x_shape, self.latent_shape = (n_in,), (n_latent,)
        self.encoder = nn.Sequential(nn.Linear(n_in, n_hidden), nn.Tanh(), nn.Linear(n_hidden, 2 * n_latent))
        self.decoder = nn.Sequential(nn.Linear(n_latent, n_hidden), nn.Tanh(), nn.Linear(n_hidden, n_in))


def _batch_images(batch) -> torch.Tensor:
    """The images of a batch: the batch itself, or the first tensor of a tuple/list ``(x, y, ...)``."""
    if isinstance(batch, (tuple, list)):
        batch = batch[0]
    if not torch.is_tensor(batch):
        raise TypeError(f"expected a tensor of images or a tuple (x, ...), got {type(batch).__name__}")
    return batch


def wake_step(model: GaussianVAE, batch) -> torch.Tensor:
    """Wake phase: z ~ q(z|x) drawn *without* a gradient path to the encoder, then the decoder learns to explain
    x from it: loss ``-log p(x|z) - log p(z)`` (mean per image). Only the decoder gets gradients."""
    x = model._images(_batch_images(batch))
    with torch.no_grad():
        z = reparameterize(*model.encode(x))
    return (bernoulli_nll(model.decode(z), x) - log_prior(z)).mean()


def sleep_step(model: GaussianVAE, batch) -> torch.Tensor:
    """Sleep phase: dream z ~ p(z) and x ~ Bernoulli(sigmoid(decode(z))) (sampled pixels), then the encoder learns
    to recover that z from that x: loss ``-log q(z|x)`` (mean per dream). The batch gives only the number of dreams;
    only the encoder gets gradients."""
    n = _batch_images(batch).shape[0]
    with torch.no_grad():
        z = model.sample_prior(n)
        x = torch.bernoulli(torch.sigmoid(model.decode(z)))
    return -log_q(z, *model.encode(x)).mean()


@torch.no_grad()
def iw_log_likelihood(model: GaussianVAE, x: torch.Tensor, k: int = 500, chunk: int = 4096,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """An importance-sampled estimate of log p(x) per example (nats), as Burda et al. (2015) evaluate VAEs:

        log p(x) ~= log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x),   z_i ~ q(z|x)

    computed as a log-mean-exp. Its expectation is a lower bound that rises with ``k`` toward log p(x); ``k = 1`` is
    the ELBO. At most ``chunk`` (example, sample) pairs go through the decoder at once, so memory is bounded."""
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k (samples per example) must be a positive integer, got {k!r}")
    if not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be a positive integer, got {chunk!r}")
    x = model._images(x)
    n_block = max(1, min(x.shape[0], chunk // k))  # examples per pass
    s_block = max(1, min(k, chunk // n_block))  # samples per pass
    out = []
    for start in range(0, x.shape[0], n_block):
        xb = x[start:start + n_block]
        nb = xb.shape[0]
        mu, logvar = model.encode(xb)
        log_w = []
        for s in range(0, k, s_block):
            sb = min(s_block, k - s)
            mu_s = mu.unsqueeze(1).expand(nb, sb, *mu.shape[1:]).reshape(nb * sb, *mu.shape[1:])
            lv_s = logvar.unsqueeze(1).expand(nb, sb, *mu.shape[1:]).reshape(nb * sb, *mu.shape[1:])
            x_s = xb.unsqueeze(1).expand(nb, sb, *xb.shape[1:]).reshape(nb * sb, *xb.shape[1:])
            z = reparameterize(mu_s, lv_s, generator)
            lw = -bernoulli_nll(model.decode(z), x_s) + log_prior(z) - log_q(z, mu_s, lv_s)
            log_w.append(lw.reshape(nb, sb))
        out.append(torch.logsumexp(torch.cat(log_w, 1), 1) - math.log(k))
    return torch.cat(out)


def code_perplexity(indices: torch.Tensor, n_codes: int) -> torch.Tensor:
    """exp(entropy) of the average code usage in ``indices``: ``n_codes`` when every code is used equally often,
    1 when a single code is used; the "effective number of codes"."""
    p = torch.bincount(indices.reshape(-1), minlength=n_codes).float() / indices.numel()
    return torch.exp(-(p * torch.log(p.clamp(min=1e-12))).sum())


class VectorQuantizer(nn.Module):
    """The VQ-VAE bottleneck (van den Oord et al. 2017) with the EMA codebook of its Appendix A.1.

    ``forward(z_e)`` for encoder outputs (N, dim, H, W) (any number of spatial dimensions, none included) returns
    ``(z_q, indices, commitment_loss)``:

    - ``indices`` (N, H, W): the nearest code ``argmin_i ||z_e - e_i||^2`` at every position;
    - ``z_q``: those codes, (N, dim, H, W), passed on with the straight-through estimator ``z_e + sg(e - z_e)``:
      the forward value is ``e``, the gradient w.r.t. ``z_e`` is the identity (the decoder's gradient is copied
      to the encoder as if there were no quantisation);
    - ``commitment_loss = beta * ||z_e - sg(e)||^2``, summed per example over channels and positions and averaged
      over the batch (the paper's Equation 3, per image), which keeps the encoder near its codes.

    The codebook is not a parameter: in training mode, after quantising, it follows the encoder outputs assigned to
    each code (Equations 6-8, decay gamma):

        N_i <- gamma N_i + (1 - gamma) n_i                   (n_i: outputs assigned to code i in this batch)
        m_i <- gamma m_i + (1 - gamma) sum_j z_e,j            (over those outputs)
        e_i <- m_i / N~_i,   N~_i = (N_i + eps) / (sum_k N_k + K eps) * sum_k N_k   (Laplace smoothing: never 0)

    ``cluster_size`` (N) and ``embed_sum`` (m) start as if each code had been chosen once at its initial position
    (N = 1, m = e), so a code nobody uses stays put instead of jumping to 0 (its N then decays, and the smoothing
    slowly pulls it toward the origin). ``perplexity`` holds the last batch's ``code_perplexity``.

    ``restart_dead=True`` (off by default; not in the paper) moves every code whose count N has decayed below
    ``dead_threshold`` (assignments per batch, as an EMA) to a random encoder output of the current batch, with
    N = 1: a common remedy for codebook collapse, where a few codes take every output and the rest never learn.
    """

    def __init__(self, n_codes: int, dim: int, decay: float = 0.99, eps: float = 1e-5, beta: float = 0.25,
                 restart_dead: bool = False, dead_threshold: float = 1.0):
        super().__init__()
        if not isinstance(n_codes, int) or n_codes < 1 or not isinstance(dim, int) or dim < 1:
            raise ValueError(f"n_codes and dim must be positive integers, got n_codes={n_codes!r}, dim={dim!r}")
        if not 0 <= decay < 1:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        self.n_codes, self.dim, self.decay, self.eps, self.beta = n_codes, dim, decay, eps, beta
        self.restart_dead, self.dead_threshold = restart_dead, dead_threshold
        codebook = torch.empty(n_codes, dim).uniform_(-1 / n_codes, 1 / n_codes)
        self.register_buffer("codebook", codebook)
        self.register_buffer("cluster_size", torch.ones(n_codes))
        self.register_buffer("embed_sum", codebook.clone())
        self.perplexity = torch.tensor(float("nan"))

    def _flat(self, z_e: torch.Tensor) -> torch.Tensor:
        """(N, dim, *spatial) -> (N * prod(spatial), dim), one row per position."""
        if z_e.ndim < 2 or z_e.shape[1] != self.dim:
            raise ValueError(f"VectorQuantizer(n_codes={self.n_codes}, dim={self.dim}) expects (N, {self.dim}, H, W) "
                             f"(channel dimension {self.dim}), got {tuple(z_e.shape)}")
        return z_e.movedim(1, -1).reshape(-1, self.dim).to(self.codebook.dtype)

    @torch.no_grad()
    def nearest(self, z_e: torch.Tensor) -> torch.Tensor:
        """The index of the nearest code at every position, (N, *spatial); no update."""
        with torch.autocast(z_e.device.type, enabled=False):  # distances in full precision, even under AMP
            flat = self._flat(z_e)
            d = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.codebook.T + self.codebook.pow(2).sum(1)
            return d.argmin(1).reshape(z_e.shape[0], *z_e.shape[2:])

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """The codes of ``indices`` (N, *spatial) as a map (N, dim, *spatial)."""
        return self.codebook[indices].movedim(-1, 1)

    @torch.no_grad()
    def _ema_update(self, flat: torch.Tensor, indices: torch.Tensor) -> None:
        counts = torch.bincount(indices, minlength=self.n_codes).to(flat.dtype)
        sums = torch.zeros_like(self.embed_sum).index_add_(0, indices, flat)
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.embed_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        total = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.eps) / (total + self.n_codes * self.eps) * total
        self.codebook.copy_(self.embed_sum / smoothed.unsqueeze(1))
        if self.restart_dead:
            dead = (self.cluster_size < self.dead_threshold).nonzero().squeeze(1)
            if len(dead):
                pick = torch.randint(flat.shape[0], (len(dead),), device=flat.device)
                self.codebook[dead] = flat[pick]
                self.embed_sum[dead] = flat[pick]
                self.cluster_size[dead] = 1.0

    def forward(self, z_e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        indices = self.nearest(z_e)
        e = self.lookup(indices).to(z_e.dtype)
        commitment = self.beta * _per_example_sum((z_e - e.detach()).pow(2)).mean()
        z_q = z_e + (e - z_e).detach()  # straight-through: forward e, backward identity
        self.perplexity = code_perplexity(indices, self.n_codes).detach()
        if self.training:
            with torch.autocast(z_e.device.type, enabled=False):
                self._ema_update(self._flat(z_e.detach()), indices.reshape(-1))
        return z_q, indices, commitment

    def extra_repr(self) -> str:
        return (f"n_codes={self.n_codes}, dim={self.dim}, decay={self.decay}, beta={self.beta}, "
                f"restart_dead={self.restart_dead}")


def conv_encoder(out_channels: int, channels: Sequence[int] = (32, 64)) -> nn.Sequential:
    """28x28x1 -> 7x7x``out_channels``: two stride-2 4x4 convolutions (28 -> 14 -> 7) with ReLUs, then a 3x3
    convolution to the latent's channels (no activation)."""
    c1, c2 = channels
    return nn.Sequential(nn.Conv2d(1, c1, 4, 2, 1), nn.ReLU(), nn.Conv2d(c1, c2, 4, 2, 1), nn.ReLU(),
                         nn.Conv2d(c2, out_channels, 3, 1, 1))


def conv_decoder(in_channels: int, channels: Sequence[int] = (32, 64)) -> nn.Sequential:
    """7x7x``in_channels`` -> 28x28x1 logits: the encoder mirrored, with stride-2 4x4 transposed convolutions."""
    c1, c2 = channels
    return nn.Sequential(nn.Conv2d(in_channels, c2, 3, 1, 1), nn.ReLU(), nn.ConvTranspose2d(c2, c1, 4, 2, 1),
                         nn.ReLU(), nn.ConvTranspose2d(c1, 1, 4, 2, 1))


class ConvVAE(GaussianVAE):
    """A convolutional VAE for 28x28 images: a Gaussian latent of shape (latent_channels, 7, 7), Bernoulli pixels,
    the same encoder/decoder as ``VQVAE``."""

    def __init__(self, latent_channels: int = 8, channels: Sequence[int] = (32, 64)):
        super().__init__()
        self.x_shape, self.latent_shape = (1, 28, 28), (latent_channels, 7, 7)
        self.encoder = conv_encoder(2 * latent_channels, channels)
        self.decoder = conv_decoder(latent_channels, channels)


class VQVAE(nn.Module):
    """A VQ-VAE for 28x28 images: a 7x7 grid of codes from a codebook of ``n_codes`` vectors of size ``dim``,
    Bernoulli pixels, the same encoder/decoder as ``ConvVAE``.

    Training minimises ``-log p(x|z_q) + beta ||z_e - sg(e)||^2`` (the codebook term of the paper's Equation 3 is
    replaced by the EMA updates). With q(z|x) one-hot and a uniform prior over the K^49 grids, the KL term of the
    ELBO is the constant ``49 log K``, so ``nelbo(x) = -log p(x|z_q) + 49 log K`` nats bounds -log p(x) (the paper's
    bound, before a PixelCNN prior is fitted to the codes).
    """

    def __init__(self, n_codes: int = 64, dim: int = 16, beta: float = 0.25, decay: float = 0.99,
                 channels: Sequence[int] = (32, 64), restart_dead: bool = False):
        super().__init__()
        self.x_shape, self.grid = (1, 28, 28), (7, 7)
        self.encoder = conv_encoder(dim, channels)
        self.vq = VectorQuantizer(n_codes, dim, decay=decay, beta=beta, restart_dead=restart_dead)
        self.decoder = conv_decoder(dim, channels)

    _images = GaussianVAE._images

    @property
    def prior_nats(self) -> float:
        """KL(q(z|x) || uniform) = log(K^49) = 49 log K nats: the price of the code grid in the bound."""
        return math.prod(self.grid) * math.log(self.vq.n_codes)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code indices of ``x``, (N, 7, 7); no codebook update."""
        return self.vq.nearest(self.encoder(self._images(x)))

    def decode(self, z_q: torch.Tensor) -> torch.Tensor:
        """Logits (N, 1, 28, 28) from a map of codes (N, dim, 7, 7)."""
        return self.decoder(z_q)

    def decode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """Logits (N, 1, 28, 28) from code indices (N, 7, 7)."""
        return self.decoder(self.vq.lookup(indices))

    def nelbo(self, x: torch.Tensor) -> torch.Tensor:
        """-log p(x|z_q) + 49 log K per example (nats per image); no codebook update."""
        x = self._images(x)
        return bernoulli_nll(self.decode_indices(self.encode(x)), x) + self.prior_nats

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The training loss (reconstruction NLL + commitment, per image), its parts and the code perplexity.
        Updates the codebook in training mode. Labels ``y`` are ignored."""
        x = self._images(x)
        z_q, _, commit = self.vq(self.encoder(x))
        recon = bernoulli_nll(self.decoder(z_q), x).mean()
        return {"loss": recon + commit, "recon": recon, "commit": commit, "perplexity": self.vq.perplexity}

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Pixel probabilities for ``n`` grids of codes drawn uniformly: what the uniform prior of the bound
        generates (poor images; the paper fits a PixelCNN prior over the codes instead)."""
        device = generator.device if generator is not None else self.vq.codebook.device
        idx = torch.randint(self.vq.n_codes, (n, *self.grid), generator=generator, device=device)
        return torch.sigmoid(self.decode_indices(idx.to(self.vq.codebook.device)))


__all__ = ["ConvVAE", "GaussianVAE", "MLPVAE", "VQVAE", "VectorQuantizer", "bernoulli_nll", "bits_per_dim",
           "code_perplexity", "conv_decoder", "conv_encoder", "gaussian_kl", "iw_log_likelihood", "log_prior",
           "log_q", "reparameterize", "sleep_step", "wake_step"]
