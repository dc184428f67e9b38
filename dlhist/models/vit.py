"""The Vision Transformer (Dosovitskiy et al. 2020): an image as a sequence of patches, read by the shared encoder.

    model = ViT(image_size=28, patch=4, channels=1, num_classes=10, d_model=64, n_heads=4, layers=4)
    logits = model(images)                              # (B, 10) from (B, 1, 28, 28)
    logits, weights = model(images, return_attention=True)  # weights: one (B, heads, 1 + N, 1 + N) per layer
    mean_attention_distance(weights[0], model.grid, model.patch)   # (heads,) pixels, the paper's Figure 7 (right)

The image is cut into non-overlapping ``patch`` x ``patch`` squares, each flattened and projected linearly to
``d_model`` (a convolution with stride ``patch`` computes exactly that); a learned class token is put in front,
learned position embeddings are added, and pre-norm encoder layers with GELU (``dlhist.models.transformer``,
Section 3.1 of the paper) follow. The class token's final state, layer-normalised, goes through a linear head.
"""

from __future__ import annotations

import torch
from torch import nn

from .transformer import EncoderLayer


class PatchEmbedding(nn.Module):
    """(B, C, H, W) images -> (B, N, d_model) patch vectors, N = (H / patch) * (W / patch), row by row."""

    def __init__(self, image_size: int, patch: int, channels: int, d_model: int):
        super().__init__()
        if image_size % patch:
            raise ValueError(f"image_size {image_size} is not a multiple of the patch size {patch}")
        self.image_size, self.patch, self.channels = image_size, patch, channels
        self.proj = nn.Conv2d(channels, d_model, patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        expected = (self.channels, self.image_size, self.image_size)
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"images must be (batch, {', '.join(map(str, expected))}), got {tuple(x.shape)}")
        return self.proj(x).flatten(2).transpose(1, 2)


class ViT(nn.Module):
    def __init__(self, image_size: int = 28, patch: int = 4, channels: int = 1, num_classes: int = 10,
                 d_model: int = 64, n_heads: int = 4, layers: int = 4, d_ff: int | None = None,
                 dropout: float = 0.0):
        super().__init__()
        self.patches = PatchEmbedding(image_size, patch, channels, d_model)
        self.patch, self.grid = patch, image_size // patch
        self.cls = nn.Parameter(torch.zeros(1, 1, d_model))
        self.pos = nn.Parameter(torch.randn(1, 1 + self.grid ** 2, d_model) * 0.02)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(EncoderLayer(d_model, n_heads, d_ff or 4 * d_model, dropout, norm_first=True,
                                                 activation=nn.GELU) for _ in range(layers))
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, images: torch.Tensor, return_attention: bool = False):
        x = self.patches(images)
        x = self.drop(torch.cat([self.cls.expand(len(x), -1, -1), x], 1) + self.pos)
        weights = []
        for block in self.blocks:
            if return_attention:
                weights.append(_attention_weights(block, x))
            x = block(x)
        logits = self.head(self.norm(x[:, 0]))
        return (logits, weights) if return_attention else logits


def _attention_weights(block: EncoderLayer, x: torch.Tensor) -> torch.Tensor:
    """The softmax weights (B, heads, L, L) that ``block``'s self-attention computes for its input ``x``."""
    attn, h = block.attn, block.res1.norm(x)
    q, k = attn._heads(attn.q_proj(h)), attn._heads(attn.k_proj(h))
    return torch.softmax(q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5, -1)


def mean_attention_distance(weights: torch.Tensor, grid: int, patch: int) -> torch.Tensor:
    """Per head, the distance in pixels between a patch and the patches it attends to, weighted by attention and
    averaged over patches and images (Dosovitskiy et al., Figure 7 right; the class token is left out).
    ``weights``: (B, heads, 1 + grid^2, 1 + grid^2)."""
    n = grid * grid
    if weights.dim() != 4 or weights.shape[-1] != 1 + n or weights.shape[-2] != 1 + n:
        raise ValueError(f"weights must be (batch, heads, {1 + n}, {1 + n}) for a {grid}x{grid} grid, "
                         f"got {tuple(weights.shape)}")
    rows, cols = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
    centres = torch.stack([rows.flatten(), cols.flatten()], 1).float() * patch
    distance = torch.cdist(centres, centres).to(weights.device)  # (n, n) pixels between patch centres
    w = weights[:, :, 1:, 1:]
    w = w / w.sum(-1, keepdim=True)  # the share of each patch's attention that goes to patches
    return (w * distance).sum(-1).mean((0, 2))
