"""The U-Net of Ronneberger, Fischer & Brox 2015, narrowed for a CPU: a contracting path, an expanding path, and
skip connections that carry each level's features across.

Differences from the paper, all stated in 01-deep-neural-networks/04-u-net: padded 3x3 convolutions (the output is
as large as the input, no overlap-tile stitching), batch norm after each convolution, widths set by ``channels``
(the paper: 64 ... 1024). ``skip=False`` removes the skip connections and nothing else: the up-convolutions then keep
all their channels, so that each decoder block receives as many channels as with the skips.

``TimeUNet`` is the same shape put to another use, the noise predictor of diffusion models (Ho et al. 2020): its
blocks also receive the timestep (``timestep_embedding``), normalise with GroupNorm and are residual.
``TimeClassifier`` is its down half with a classifier head, for classifier guidance (Dhariwal & Nichol 2021).
``CrossAttention`` lets a ``TimeUNet`` read a sequence, a caption's token states, at chosen levels: the conditioning
of latent diffusion (Rombach et al. 2022, Section 3.3).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..scratch.attention import MultiHeadAttention


def block(c_in: int, c_out: int) -> nn.Sequential:
    """Two 3x3 convolutions, each followed by batch norm and ReLU: one level of either path."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """``channels`` per level, top to bottom (one max-pooling between levels); input ``(N, in_channels, H, W)`` with
    H and W divisible by ``2 ** (len(channels) - 1)``; output logits ``(N, n_classes, H, W)``."""

    def __init__(self, channels: Sequence[int] = (16, 32, 64, 128), skip: bool = True, n_classes: int = 2,
                 in_channels: int = 1):
        super().__init__()
        channels = tuple(channels)
        self.skip = skip
        self.down = nn.ModuleList(block(c_in, c) for c_in, c in zip((in_channels,) + channels[:-1], channels))
        ups = channels[:0:-1]  # the channels coming up from below, bottom first
        self.up = nn.ModuleList(nn.ConvTranspose2d(c, c // 2 if skip else c, 2, stride=2) for c in ups)
        self.dec = nn.ModuleList(block(c, c // 2) for c in ups)
        self.head = nn.Conv2d(channels[0], n_classes, 1)
        self._factor = 2 ** (len(channels) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[-1] % self._factor or x.shape[-2] % self._factor:
            raise ValueError(f"UNet expects (N, C, H, W) with H and W divisible by {self._factor}; "
                             f"got shape {tuple(x.shape)}")
        skips = []
        for down in self.down[:-1]:  # contracting path
            x = down(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.down[-1](x)  # the bottom: the widest context, the lowest resolution
        for up, dec in zip(self.up, self.dec):  # expanding path
            x, s = up(x), skips.pop()
            x = dec(torch.cat([s, x], 1) if self.skip else x)
        return self.head(x)


# ------------------------------------------------------------------------------------ the U-Net of diffusion models

def timestep_embedding(t: torch.Tensor | int, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """The Transformer's sinusoidal position encoding, applied to diffusion timesteps: (N,) -> (N, dim).

    Half the features are sin(t w_i), the other half cos(t w_i), with frequencies w_i = max_period^(-i / (dim/2))
    from 1 down to about 1 / max_period: nearby steps get similar embeddings, distant ones different, and every
    integer t a distinct one. (The Transformer interleaves sin and cos; concatenating them is the same up to order.)"""
    if dim < 2 or dim % 2:
        raise ValueError(f"the embedding dimension must be even and at least 2, got {dim}")
    t = torch.as_tensor(t)
    if t.dim() == 0:
        t = t.view(1)
    if t.dim() != 1:
        raise ValueError(f"timesteps must be a 1-D tensor (one per example), got shape {tuple(t.shape)}")
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


def _groups(c: int) -> int:
    """GroupNorm groups for ``c`` channels: 8 (DDPM uses 32) or fewer, each of at least 4 channels where possible."""
    return next((g for g in (8, 4, 2) if c % g == 0 and c // g >= 4), 1)


class TimeBlock(nn.Module):
    """DDPM's residual block, tiny: GroupNorm, SiLU, 3x3 conv; plus the time embedding, projected to one bias per
    channel; GroupNorm, SiLU, (dropout), 3x3 conv; plus the input (through a 1x1 conv when the width changes)."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, dropout: float = 0.0):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(_groups(c_in), c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2, self.conv2 = nn.GroupNorm(_groups(c_out), c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.dropout = nn.Dropout(dropout)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(F.silu(emb))[:, :, None, None]  # "which step is this": the same shift at every pixel
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return h + self.skip(x)


class CrossAttention(nn.Module):
    """Latent diffusion's conditioning layer (Rombach et al. 2022, Section 3.3), small: every pixel of a feature map
    (N, C, H, W) is a query; the keys and values are projections of a context sequence (N, L, context_dim), a
    caption's token states, so each pixel takes what it needs from the words:

        Attention(Q, K, V) = softmax(Q K^T / sqrt(d)) V,   Q = W_Q norm(h),  K = W_K ctx,  V = W_V ctx.

    GroupNorm, the package's ``MultiHeadAttention`` (the context projected to C channels first), an output
    projection initialised to zero (the block starts as the identity, as in the paper's code), and a residual
    connection. ``mask`` (N, L) is True at real tokens. The paper's "spatial transformer" also has self-attention and
    a feed-forward layer around it; this keeps only the part that conditions."""

    def __init__(self, channels: int, context_dim: int, n_heads: int = 4):
        super().__init__()
        if channels % n_heads:
            raise ValueError(f"channels={channels} is not divisible by n_heads={n_heads}")
        self.context_dim = context_dim
        self.norm = nn.GroupNorm(_groups(channels), channels)
        self.context = nn.Linear(context_dim, channels)
        self.attn = MultiHeadAttention(channels, n_heads)
        nn.init.zeros_(self.attn.out_proj.weight)
        nn.init.zeros_(self.attn.out_proj.bias)

    def forward(self, h: torch.Tensor, context: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        n, c, hh, ww = h.shape
        if context.dim() != 3 or context.shape[0] != n or context.shape[-1] != self.context_dim:
            raise ValueError(f"the context must be ({n}, length, {self.context_dim}): one sequence of "
                             f"{self.context_dim}-vectors per image; got {tuple(context.shape)}")
        q = self.norm(h).flatten(2).transpose(1, 2)  # (N, H*W, C): one query per pixel
        out = self.attn(q, self.context(context), key_padding_mask=mask)
        return h + out.transpose(1, 2).reshape(n, c, hh, ww)


class _TimeNet(nn.Module):
    """What TimeUNet and TimeClassifier share: the timestep embedding (sinusoid + MLP), the stem, the input checks."""

    def __init__(self, channels: Sequence[int], time_dim: int, in_channels: int):
        super().__init__()
        self.channels = tuple(channels)
        if not self.channels or any(not isinstance(c, int) or c < 1 for c in self.channels):
            raise ValueError(f"channels must be positive integers, one per level, got {channels!r}")
        self.time_dim = time_dim
        self.time_mlp = nn.Sequential(nn.Linear(time_dim, time_dim), nn.SiLU(), nn.Linear(time_dim, time_dim))
        self.stem = nn.Conv2d(in_channels, self.channels[0], 3, padding=1)
        self._factor = 2 ** (len(self.channels) - 1)

    def _embed(self, x: torch.Tensor, t: torch.Tensor | int) -> torch.Tensor:
        name = type(self).__name__
        if x.dim() != 4 or x.shape[-1] % self._factor or x.shape[-2] % self._factor:
            raise ValueError(f"{name} expects (N, C, H, W) with H and W divisible by {self._factor}; "
                             f"got shape {tuple(x.shape)}")
        t = torch.as_tensor(t, device=x.device)
        if t.dim() == 0:
            t = t.expand(x.shape[0])
        if t.shape != (x.shape[0],):
            raise ValueError(f"{name} needs one timestep per image, shape ({x.shape[0]},), got {tuple(t.shape)}")
        return self.time_mlp(timestep_embedding(t, self.time_dim).to(x.dtype))


class TimeUNet(_TimeNet):
    """A small time-conditioned U-Net, the noise predictor of DDPM at MNIST size: ``forward(x_t, t)`` -> eps, the
    shape of ``x_t``.

    ``channels`` per level, top to bottom (28 -> 14 -> 7 for three levels on MNIST, 8 -> 4 -> 2 on 8x8 latents);
    each level one ``TimeBlock`` on the way down and one on the way up, joined by skip connections, strided 3x3
    convolutions down and transposed 2x2 ones up, a second block at the bottom. ``t`` (LongTensor (N,) or one int)
    is embedded by ``timestep_embedding`` and an MLP, and added inside every block. Differences from DDPM's network
    (35.7M parameters, CIFAR-10): one block per level instead of two, no self-attention, transposed convolutions
    instead of nearest-neighbour upsampling + conv.
    The default widths keep a training step (batch 128, 28x28, forward and backward) near 0.1 s on 2 CPU cores;
    ``(16, 32, 64)`` is about twice as slow, and the cost grows with the square of the width.

    ``n_classes``: also a class-conditional model, ``forward(x_t, t, y)``; the label embedding is added to the time
    embedding. Label ``n_classes`` (``null_class``), or ``y=None``, means "no class": train with labels randomly
    replaced by it to get one network that is both conditional and unconditional (classifier-free guidance).

    ``context_dim``: also a sequence-conditional model, ``forward(x_t, t, context=states, mask=real_tokens)``, with a
    ``CrossAttention`` after the block of each level in ``attention_levels`` (0 = the top, full resolution; default:
    the bottom level only), on the way down and on the way up, and after the middle block. ``context=None`` is "no
    caption": a learned null context of one vector (what classifier-free guidance's unconditional prediction reads).
    """

    def __init__(self, channels: Sequence[int] = (8, 16, 32), time_dim: int = 64, n_classes: int | None = None,
                 in_channels: int = 1, dropout: float = 0.0, context_dim: int | None = None,
                 attention_levels: Sequence[int] = (), n_heads: int = 4):
        super().__init__(channels, time_dim, in_channels)
        ch = self.channels
        self.context_dim, self.attention_levels = context_dim, tuple(attention_levels)
        if context_dim is None and self.attention_levels:
            raise ValueError("attention_levels needs a context_dim (the size of the vectors attended to)")
        if any(not 0 <= lv < len(ch) for lv in self.attention_levels):
            raise ValueError(f"attention_levels must lie in 0 .. {len(ch) - 1}, got {attention_levels!r}")
        if context_dim is not None:
            levels = self.attention_levels or (len(ch) - 1,)
            self.attention_levels = tuple(levels)
            self.attn_down = nn.ModuleDict({str(lv): CrossAttention(ch[lv], context_dim, n_heads) for lv in levels})
            self.attn_up = nn.ModuleDict({str(lv): CrossAttention(ch[lv], context_dim, n_heads)
                                          for lv in levels if lv < len(ch) - 1})
            self.attn_mid = CrossAttention(ch[-1], context_dim, n_heads)
            self.null_context = nn.Parameter(torch.randn(1, 1, context_dim) * 0.02)
        self.n_classes = n_classes
        if n_classes is not None:
            if not isinstance(n_classes, int) or n_classes < 1:
                raise ValueError(f"n_classes must be a positive integer or None, got {n_classes!r}")
            self.label_emb = nn.Embedding(n_classes + 1, time_dim)  # the last row: no class
        self.down = nn.ModuleList(TimeBlock(c_in, c, time_dim, dropout) for c_in, c in zip(ch[:1] + ch[:-1], ch))
        self.downsample = nn.ModuleList(nn.Conv2d(c, c, 3, stride=2, padding=1) for c in ch[:-1])
        self.mid = TimeBlock(ch[-1], ch[-1], time_dim, dropout)
        self.upsample = nn.ModuleList(nn.ConvTranspose2d(c, c, 2, stride=2) for c in ch[:0:-1])
        self.up = nn.ModuleList(TimeBlock(c_below + c, c, time_dim, dropout)
                                for c_below, c in zip(ch[:0:-1], ch[-2::-1]))
        self.head = nn.Sequential(nn.GroupNorm(_groups(ch[0]), ch[0]), nn.SiLU(), nn.Conv2d(ch[0], in_channels, 3,
                                                                                              padding=1))

    @property
    def null_class(self) -> int | None:
        """The label that means "no class" (``n_classes``), for classifier-free guidance."""
        return self.n_classes

    def _context(self, x: torch.Tensor, context: torch.Tensor | None, mask: torch.Tensor | None):
        if self.context_dim is None:
            if context is not None:
                raise ValueError("this TimeUNet takes no context (context_dim=None) but was given one")
            return None, None
        if context is None:
            return self.null_context.expand(x.shape[0], 1, -1).to(x.dtype), None
        if mask is not None and mask.shape != context.shape[:2]:
            raise ValueError(f"the context mask must be (batch, length) = {tuple(context.shape[:2])}, "
                             f"got {tuple(mask.shape)}")
        return context, mask

    def _attend(self, where: str, level: int, h, ctx, mask):
        if ctx is None:
            return h
        table = None if where == "mid" else getattr(self, f"attn_{where}")
        attn = self.attn_mid if table is None else table[str(level)] if str(level) in table else None
        return h if attn is None else attn(h, ctx, mask)

    def forward(self, x: torch.Tensor, t: torch.Tensor | int, y: torch.Tensor | None = None,
                context: torch.Tensor | None = None, mask: torch.Tensor | None = None) -> torch.Tensor:
        emb = self._embed(x, t)
        ctx, mask = self._context(x, context, mask)
        if self.n_classes is None:
            if y is not None:
                raise ValueError("this TimeUNet is unconditional (n_classes=None) but was given labels y")
        else:
            if y is None:
                y = torch.full((x.shape[0],), self.n_classes, dtype=torch.long, device=x.device)
            if y.shape != (x.shape[0],):
                raise ValueError(f"y must hold one label per image, shape ({x.shape[0]},), got {tuple(y.shape)}")
            lo, hi = int(y.min()), int(y.max())
            if lo < 0 or hi > self.n_classes:
                raise ValueError(f"label {lo if lo < 0 else hi} is outside 0 .. {self.n_classes} "
                                 f"({self.n_classes} = no class)")
            emb = emb + self.label_emb(y)
        h = self.stem(x)
        skips = []
        for i, block in enumerate(self.down):  # down: 28 -> 14 -> 7
            h = self._attend("down", i, block(h, emb), ctx, mask)
            if i < len(self.downsample):
                skips.append(h)
                h = self.downsample[i](h)
        h = self._attend("mid", -1, self.mid(h, emb), ctx, mask)
        for i, (upsample, block) in enumerate(zip(self.upsample, self.up)):  # up: 7 -> 14 -> 28, with the skips
            h = self._attend("up", len(self.channels) - 2 - i, block(torch.cat([skips.pop(), upsample(h)], 1), emb),
                             ctx, mask)
        return self.head(h)


class TimeClassifier(_TimeNet):
    """A noise-aware classifier for classifier guidance (Dhariwal & Nichol 2021): ``forward(x_t, t)`` -> logits
    (N, n_classes), trained on noised images x_t at random t so that grad_x log p(y | x_t) is meaningful at every
    step. The down half of ``TimeUNet`` (the same blocks and time embedding), then GroupNorm, SiLU, global average
    pooling and a linear layer (the paper pools with attention)."""

    def __init__(self, channels: Sequence[int] = (16, 32, 64), time_dim: int = 64, n_classes: int = 10,
                 in_channels: int = 1):
        super().__init__(channels, time_dim, in_channels)
        ch = self.channels
        self.blocks = nn.ModuleList(TimeBlock(c_in, c, time_dim) for c_in, c in zip(ch[:1] + ch[:-1], ch))
        self.downsample = nn.ModuleList(nn.Conv2d(c, c, 3, stride=2, padding=1) for c in ch[:-1])
        self.head = nn.Sequential(nn.GroupNorm(_groups(ch[-1]), ch[-1]), nn.SiLU(), nn.AdaptiveAvgPool2d(1),
                                  nn.Flatten(), nn.Linear(ch[-1], n_classes))

    def forward(self, x: torch.Tensor, t: torch.Tensor | int) -> torch.Tensor:
        emb = self._embed(x, t)
        h = self.stem(x)
        for i, block in enumerate(self.blocks):
            h = block(h, emb)
            if i < len(self.downsample):
                h = self.downsample[i](h)
        return self.head(h)
