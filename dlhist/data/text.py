"""Character-level text for language models: a vocabulary, encoding, sequence batches, loss and sampling.

    vocab, train, val = load_chars("tinyshakespeare", seq_len=128, device=device)
    model(train.x[:8])                    # a character model maps ids (B, T) to logits (B, T, V)
    loss = char_loss(logits, train.y[:8])  # mean cross-entropy in nats; bits per character = loss / ln 2

``train``/``val`` are ``TensorData`` of non-overlapping windows (``x`` a window of ids, ``y`` the same window shifted
by one character), so ``train.loader(batch_size, shuffle=True)`` feeds ``dlhist.fit`` directly.
``random_windows``/``window_batches`` sample windows at random starts of a long token sequence instead.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
import torch.nn.functional as F

from .registry import fetch
from .tensors import TensorData

TEXT_FILES = {"tinyshakespeare": "input.txt", "war-and-peace": "war_and_peace.txt"}


class Vocab:
    """The characters of a text, each mapped to an integer id (sorted, so the mapping is reproducible)."""

    def __init__(self, chars: Iterable[str]):
        self.itos = sorted(set(chars))
        self.stoi = {c: i for i, c in enumerate(self.itos)}

    @classmethod
    def from_text(cls, text: str) -> Vocab:
        return cls(text)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> torch.Tensor:
        """int64 ids of ``text``; a character outside the vocabulary is an error, not silently dropped."""
        try:
            return torch.tensor([self.stoi[c] for c in text], dtype=torch.long)
        except KeyError as exc:
            raise ValueError(f"character {exc.args[0]!r} is not in the vocabulary of {len(self)} characters") from None

    def decode(self, ids) -> str:
        ids = ids.tolist() if torch.is_tensor(ids) else ids
        return "".join(self.itos[i] for i in ids)

    def __repr__(self) -> str:
        return f"Vocab({len(self)} characters: {''.join(self.itos)!r})"


def load_text(name: str = "tinyshakespeare") -> str:
    """The text of a registered corpus (fetched, checksum-verified and cached by ``dlhist.fetch``)."""
    if name not in TEXT_FILES:
        raise ValueError(f"unknown text corpus {name!r}; known: {', '.join(sorted(TEXT_FILES))}")
    return (fetch(name) / TEXT_FILES[name]).read_text(encoding="utf-8")


def sequences(ids: torch.Tensor, seq_len: int, stride: int | None = None) -> TensorData:
    """Windows of ``seq_len`` ids as inputs ``x`` and the next-character targets ``y`` (``x`` shifted by one).

    ``stride`` defaults to ``seq_len`` (non-overlapping windows); the tail that does not fill a window is dropped.
    """
    stride = stride or seq_len
    if seq_len < 1 or stride < 1:
        raise ValueError(f"seq_len and stride must be positive, got {seq_len} and {stride}")
    n = (len(ids) - 1 - seq_len) // stride + 1
    if n < 1:
        raise ValueError(f"a text of {len(ids)} characters is too short for windows of {seq_len} + 1")
    starts = torch.arange(n) * stride
    idx = starts[:, None] + torch.arange(seq_len + 1)
    windows = ids[idx]
    return TensorData(windows[:, :-1].contiguous(), windows[:, 1:].contiguous())


def random_windows(ids: torch.Tensor, batch: int, context: int, generator: torch.Generator | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch`` windows of ``context + 1`` consecutive ids from random starts, as inputs ``x`` (batch, context)
    and next-token targets ``y``: how a language model is fed from one long text (nanoGPT's ``get_batch``)."""
    if len(ids) < context + 2:
        raise ValueError(f"a text of {len(ids)} tokens is too short for windows of {context} + 1")
    starts = torch.randint(0, len(ids) - context - 1, (batch,), generator=generator)
    windows = ids[starts.to(ids.device)[:, None] + torch.arange(context + 1, device=ids.device)]
    return windows[:, :-1], windows[:, 1:]


def window_batches(ids: torch.Tensor, batch: int, context: int, steps: int, seed: int = 0
                   ) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``steps`` batches of ``random_windows`` drawn with one generator seeded by ``seed``: the same batches for
    the same seed, so runs that differ only in the model see the same data in the same order."""
    g = torch.Generator().manual_seed(seed)
    return [random_windows(ids, batch, context, g) for _ in range(steps)]


def split(ids: torch.Tensor, val_fraction: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """A contiguous split: the first ``1 - val_fraction`` of the text to train on, the rest held out."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    cut = int(len(ids) * (1 - val_fraction))
    return ids[:cut], ids[cut:]


def load_chars(name: str = "tinyshakespeare", seq_len: int = 128, val_fraction: float = 0.1, device=None,
               n_train: int | None = None, n_val: int | None = None) -> tuple[Vocab, TensorData, TensorData]:
    """A character corpus as ``(vocab, train, val)`` windows on the device; ``n_train``/``n_val`` keep a fixed
    random subset of the windows (smoke mode)."""
    text = load_text(name)
    vocab = Vocab.from_text(text)
    train_ids, val_ids = split(vocab.encode(text), val_fraction)
    train = sequences(train_ids, seq_len).subset(n_train).to(device or "cpu")
    val = sequences(val_ids, seq_len).subset(n_val, seed=1).to(device or "cpu")
    return vocab, train, val


def char_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy (nats per character) of logits (B, T, V) against target ids (B, T)."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def char_accuracy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Fraction of positions whose most likely next character is the right one (a ``fit`` metric)."""
    return (logits.argmax(-1) == targets).float().mean()


def bits_per_char(nats: float) -> float:
    """Cross-entropy in nats per character -> bits per character."""
    return nats / math.log(2)


@torch.no_grad()
def sample(model, vocab: Vocab, prompt: str, length: int, *, temperature: float = 1.0, context: int | None = None,
           generator: torch.Generator | None = None) -> str:
    """Continue ``prompt`` by ``length`` characters, drawing each from the model's softmax at ``temperature``.

    The model sees the last ``context`` characters (all of them if None) and must map ids (1, T) to logits
    (1, T, V). Simple rather than fast: a recurrent model is re-run over its context for every new character.
    """
    if not prompt:
        raise ValueError("sample needs a non-empty prompt")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    ids = vocab.encode(prompt).to(device)
    for _ in range(length):
        window = ids if context is None else ids[-context:]
        logits = model(window[None])[0, -1].float()
        if temperature <= 0:
            nxt = logits.argmax()[None]
        else:
            probs = torch.softmax(logits / temperature, dim=-1).cpu()
            nxt = torch.multinomial(probs, 1, generator=generator).to(device)
        ids = torch.cat([ids, nxt])
    model.train(was_training)
    return vocab.decode(ids)
