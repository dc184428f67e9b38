"""CLIP (Radford et al. 2021): an image encoder and a text encoder trained so that an image and its caption map to
nearby unit vectors, and the predictive baseline it was compared with, a bag-of-words predictor.

    clip = CLIP(ConvEncoder(64), TextEncoder(len(vocab), 64))
    clip = caption_clip(len(vocab))                           # the same, at the size 05-clip and 06-dall-e train
    loss = clip(images, tokens)["loss"]                       # dlhist.fit(clip, batches, loss_fn=None, ...)
    scores = clip.scores(images, vocab.encode(prompts))       # (N images, P prompts): zero-shot classification
    bow = BagOfWords(ConvEncoder(len(vocab)), len(vocab))     # the same image encoder, predicting caption words

The contrastive loss (Section 2.3, Figure 3): in a batch of N (image, caption) pairs, the N x N cosine similarities,
scaled by a learned temperature, are the logits of two N-way classifications, each image choosing its caption among
the batch's captions and each caption its image; the loss is the mean of the two cross-entropies. The temperature is
learned as a log-scale, initialised to 1/0.07 and clipped at 100 (Section 2.5). A zero-shot classifier needs no
training: embed one prompt per class ("a photo of a {class}") and pick the prompt most similar to the image.

``BagOfWords`` is Figure 2's middle curve: the image encoder's output is a distribution over the vocabulary, trained
to match the caption's words (their bag, normalised; order ignored). It scores a prompt by the mean log-probability of
its words, which makes it a zero-shot classifier too, with the same encoder and budget as the contrastive model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .gpt import GPT, GPTClassifier


def clip_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, logit_scale: torch.Tensor | float) -> torch.Tensor:
    """The symmetric contrastive loss of a batch of matched pairs: row i of ``image_emb`` (N, D) belongs with row i
    of ``text_emb`` (N, D). Both are L2-normalised here; ``logit_scale`` is the inverse temperature (not its log)."""
    if image_emb.dim() != 2 or image_emb.shape != text_emb.shape:
        raise ValueError(f"image_emb {tuple(image_emb.shape)} and text_emb {tuple(text_emb.shape)} must both be "
                         "(N, D), one row per matched pair")
    if image_emb.shape[0] < 2:
        raise ValueError("a contrastive batch needs at least 2 pairs (each pair's negatives are the others)")
    logits = F.normalize(image_emb, dim=-1) @ F.normalize(text_emb, dim=-1).T * logit_scale
    target = torch.arange(len(logits), device=logits.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


class ConvEncoder(nn.Module):
    """A small conv net for ``image_size`` x ``image_size`` images: three 3x3 conv + ReLU + 2x2 max-pool stages of
    ``width``, 2 ``width`` and 4 ``width`` channels, then a hidden layer of ``hidden`` units and a linear output of
    ``out_dim``."""

    def __init__(self, out_dim: int, width: int = 32, channels: int = 3, image_size: int = 32, hidden: int = 256):
        super().__init__()
        if image_size % 8:
            raise ValueError(f"image_size must be a multiple of 8 (three 2x2 poolings), got {image_size}")
        self.channels, self.image_size = channels, image_size
        stages, c_in = [], channels
        for c in (width, 2 * width, 4 * width):
            stages += [nn.Conv2d(c_in, c, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            c_in = c
        self.net = nn.Sequential(*stages, nn.Flatten(), nn.Linear(c_in * (image_size // 8) ** 2, hidden), nn.ReLU(),
                                 nn.Linear(hidden, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1:] != (self.channels, self.image_size, self.image_size):
            raise ValueError(f"images must have shape (N, {self.channels}, {self.image_size}, {self.image_size}), "
                             f"got {tuple(x.shape)}")
        return self.net(x)


class TextEncoder(GPTClassifier):
    """A causal Transformer (the package's GPT) over caption tokens, read at each caption's last real token (CLIP's
    [EOS] token: with causal attention that state has read the whole caption) and projected linearly to
    ``out_dim``. Captions are padded at the end with ``pad_id``."""

    def __init__(self, vocab_size: int, out_dim: int, d_model: int = 64, n_heads: int = 4, layers: int = 2,
                 context: int = 32, pad_id: int = 0):
        super().__init__(GPT(vocab_size, context=context, d_model=d_model, n_heads=n_heads, layers=layers), out_dim,
                         pad_id=pad_id, pool="last")


class CLIP(nn.Module):
    """Image and text encoders whose outputs (of the same size) are compared by cosine similarity; ``forward``
    returns ``{"loss", "temperature"}`` for ``dlhist.fit(..., loss_fn=None)``."""

    def __init__(self, image_encoder: nn.Module, text_encoder: nn.Module, temperature: float = 0.07,
                 max_scale: float = 100.0):
        super().__init__()
        if not 0 < temperature < 1:
            raise ValueError(f"the initial temperature must lie in (0, 1), got {temperature}")
        self.image, self.text, self.max_scale = image_encoder, text_encoder, max_scale
        self.log_scale = nn.Parameter(torch.tensor(math.log(1 / temperature)))

    def scale(self) -> torch.Tensor:
        return self.log_scale.clamp(max=math.log(self.max_scale)).exp()

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.image(images), dim=-1)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text(tokens), dim=-1)

    def forward(self, images: torch.Tensor, tokens: torch.Tensor) -> dict:
        if images.shape[0] != tokens.shape[0]:
            raise ValueError(f"{images.shape[0]} images against {tokens.shape[0]} captions: the pairs must match")
        scale = self.scale()
        loss = clip_loss(self.image(images), self.text(tokens), scale)
        return {"loss": loss, "temperature": (1 / scale).detach()}

    @torch.no_grad()
    def scores(self, images: torch.Tensor, prompts: torch.Tensor) -> torch.Tensor:
        """Cosine similarity of every image (N) with every tokenised prompt (P): (N, P)."""
        return self.encode_image(images) @ self.encode_text(prompts).T


def caption_clip(vocab_size: int, dim: int = 64, width: int = 24, text_len: int = 20, d_model: int = 64,
                 n_heads: int = 4, layers: int = 2) -> CLIP:
    """The CLIP of the captioned images (``dlhist.data.captions``, 32x32 RGB, captions of ``text_len`` tokens):
    a ``ConvEncoder`` of ``width`` and a 2-layer ``TextEncoder``, both to ``dim`` numbers. 05-clip trains it;
    06-dall-e trains the same one to rerank its samples."""
    return CLIP(ConvEncoder(dim, width=width),
                TextEncoder(vocab_size, dim, d_model=d_model, n_heads=n_heads, layers=layers, context=text_len))


class BagOfWords(nn.Module):
    """CLIP's predictive baseline: ``image_encoder`` (with ``vocab_size`` outputs) predicts the caption's words as
    a distribution; the loss is the cross-entropy to the caption's normalised bag of words (tokens in ``ignore``,
    padding and start and end marks, left out)."""

    def __init__(self, image_encoder: nn.Module, vocab_size: int, ignore: Sequence[int] = (0, 1, 2)):
        super().__init__()
        self.image, self.vocab_size = image_encoder, vocab_size
        self.register_buffer("keep", torch.ones(vocab_size), persistent=False)
        self.keep[list(ignore)] = 0.0

    def bags(self, tokens: torch.Tensor) -> torch.Tensor:
        """Each caption's words as a distribution over the vocabulary (N, V): counts over the kept tokens, summed
        to one."""
        if tokens.numel() and (tokens.min() < 0 or tokens.max() >= self.vocab_size):
            raise ValueError(f"token ids must lie in [0, {self.vocab_size}), got {tokens.min().item()}.."
                             f"{tokens.max().item()}")
        counts = torch.zeros(tokens.shape[0], self.vocab_size, device=tokens.device)
        counts.scatter_add_(1, tokens, torch.ones_like(tokens, dtype=counts.dtype))
        counts = counts * self.keep
        total = counts.sum(1, keepdim=True)
        if (total == 0).any():
            raise ValueError("a caption with no word (only padding and marks) has no bag of words")
        return counts / total

    def forward(self, images: torch.Tensor, tokens: torch.Tensor) -> dict:
        if images.shape[0] != tokens.shape[0]:
            raise ValueError(f"{images.shape[0]} images against {tokens.shape[0]} captions: the pairs must match")
        log_p = F.log_softmax(self.image(images), -1)
        return {"loss": -(self.bags(tokens) * log_p).sum(1).mean()}

    @torch.no_grad()
    def scores(self, images: torch.Tensor, prompts: torch.Tensor) -> torch.Tensor:
        """The mean log-probability of each prompt's words under each image's prediction: (N, P)."""
        return F.log_softmax(self.image(images), -1) @ self.bags(prompts).T


@torch.no_grad()
def zero_shot(model: nn.Module, images: torch.Tensor, prompts: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The index of the best-scoring prompt for each image (``model.scores``), in batches, in eval mode."""
    was_training = model.training
    model.eval()
    try:
        return torch.cat([model.scores(x, prompts).argmax(1) for x in images.split(batch_size)])
    finally:
        model.train(was_training)


__all__ = ["BagOfWords", "CLIP", "ConvEncoder", "TextEncoder", "caption_clip", "clip_loss", "zero_shot"]
