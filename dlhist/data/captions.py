"""A captioned image set built from real MNIST and Fashion-MNIST glyphs: the stand-in for an image-caption corpus.

No small, cleanly licensed image-caption set is available offline, so CLIP, DALL-E and latent diffusion are taught
on this one. Each image is a black ``canvas`` x ``canvas`` RGB square
holding one real glyph, tinted one of six colours (the corners of the RGB cube: red, green, blue, yellow, magenta,
cyan; white is kept out, for a distribution-shift test), scaled to one of two sizes and pushed against one of four
sides. Two more attributes are *measured* from the glyph's pixels, in the spirit of Morpho-MNIST (Castro et al.
2019), so that captions carry information that labels do not:

- stroke thickness: the width of the rectangle with the ink's area and edge length (about ``2 * area / edge``: a
  stroke of width w and length L >> w has area wL and an edge 2L long), on the 28 x 28 glyph binarised at 0.5;
  *thin* or *thick* against the median of its class over the first 10,000 training glyphs (the same thresholds
  for both splits);
- slant (digits only) from second moments of the ink: the shear ``-cov(x, y) / var(y)`` (y grows downwards) as an
  angle; *left-leaning* below -10 degrees, *right-leaning* above +10, *upright* between.

Captions come from eight templates with synonyms and word orders ("a small red seven on the left", "red 7, small,
left side", "at the top, a big blue digit two", "trainers in blue", "the small bag on the right is cyan", ...). The
class is always named; the colour most of the time (``KEEP``); the other attributes now and then. With ``noise``,
that fraction of captions has one non-class attribute word swapped for a wrong value (``noisy`` marks them). The
vocabulary is closed (93 words for both datasets; 96 tokens with padding, start and end) and built from the word
lists below, not from data, so train and test share it; ``CaptionVocab`` is its word-level tokenizer.

Held-out compositions: ten (class, colour) pairs (``HELD_OUT``; every class keeps five colours in training and every
colour eight or nine classes) are never rendered in the ``"train"`` split, nor named by any train caption (noise
never creates one). The ``"test"`` split draws from the test images and either all pairs or, with
``only_held_out=True``, only the held-out ones. ``prompt`` writes the zero-shot template "a photo of a red 7",
whose words "photo" and "of" never occur in a training caption.

    train = make_captioned("mnist", 20_000, "train", seed=0, noise=0.1)
    test = make_captioned("mnist", 2_000, "test", seed=1, only_held_out=True)
    vocab = CaptionVocab()
    ids = vocab.encode(train.captions, MAX_LEN)                 # (N, 20): <bos> words <eos> <pad>...
    texts = [prompt(c, k) for c in range(10) for k in range(len(COLOURS))]  # 60 zero-shot prompts
    white = render(glyphs, torch.ones(n, 3), size, position)   # plain white glyphs: the distribution shift
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

SOURCES = ("mnist", "fashion-mnist")
SPLITS = ("train", "test")
ATTRIBUTES = ("label", "colour", "size", "position", "thickness", "slant")

COLOURS = ("red", "green", "blue", "yellow", "magenta", "cyan")
COLOUR_RGB = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0], [1.0, 0.0, 1.0],
                           [0.0, 1.0, 1.0]])
SIZES = ("small", "large")
POSITIONS = ("left", "right", "top", "bottom")
THICKNESS = ("thin", "thick")
SLANTS = ("left", "upright", "right")
SLANT_DEGREES = 10.0  # |angle| above this is a slant
MEDIAN_OF = 10_000  # thin/thick splits at each class's median stroke over this many first training glyphs

DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
FASHION_NAMES = ("t-shirt", "trousers", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                 "ankle boot")
CLASS_NAMES = {"mnist": DIGIT_NAMES, "fashion-mnist": FASHION_NAMES}

# (class, colour) ids never shown in training: each class once, each colour once or twice
HELD_OUT: tuple[tuple[int, int], ...] = ((0, 3), (1, 5), (2, 0), (3, 4), (4, 1), (5, 2), (6, 5), (7, 0), (8, 2),
                                         (9, 3))
# how often a train or test caption names each attribute (the class always)
KEEP = {"colour": 0.85, "size": 0.5, "position": 0.6, "thickness": 0.3, "slant": 0.3}

# ---------------------------------------------------------------------------------------------------- the words

COLOUR_WORDS = (("red",), ("green",), ("blue",), ("yellow",), ("magenta", "purple"), ("cyan", "turquoise"))
SIZE_WORDS = (("small", "little", "tiny"), ("large", "big", "huge"))
THICKNESS_WORDS = (("thin", "slim"), ("thick", "bold", "heavy"))
SLANT_WORDS = (("left-leaning", "backslanted"), ("upright", "straight"), ("right-leaning", "italic"))
POSITION_PHRASES = (("on the left", "at the left", "on the left side", "to the left"),
                    ("on the right", "at the right", "on the right side", "to the right"),
                    ("at the top", "on top", "near the top"),
                    ("at the bottom", "on the bottom", "near the bottom"))
POSITION_SHORT = (("left", "left side"), ("right", "right side"), ("top", "top side"), ("bottom", "bottom side"))
NUMERALS = tuple(str(d) for d in range(10))
# each Fashion-MNIST class: its phrases, each with True where the noun is plural (no article: "trainers in blue")
FASHION_WORDS: tuple[tuple[tuple[str, bool], ...], ...] = (
    (("t-shirt", False), ("tee", False)),
    (("trousers", True), ("pants", True), ("jeans", True)),
    (("pullover", False), ("sweater", False), ("jumper", False)),
    (("dress", False), ("gown", False)),
    (("coat", False), ("jacket", False)),
    (("sandal", False), ("sandals", True)),
    (("shirt", False), ("blouse", False)),
    (("sneaker", False), ("trainer", False), ("trainers", True)),
    (("bag", False), ("handbag", False), ("purse", False)),
    (("ankle boot", False), ("boot", False), ("boots", True)),
)
FILLER = ("a", "an", "the", "on", "at", "to", "near", "side", "in", "that", "is", "are", "and", "there", "digit",
          "number", ",")
MAX_LEN = 20  # every caption and prompt fits in 20 tokens with <bos> and <eos> (the longest takes 18)
PROMPT = "a photo of {}"  # the zero-shot template: "photo" and "of" are in no training template
PROMPT_ONLY = ("photo", "of")


def _tokens(text: str) -> list[str]:
    """Words and commas, lower case: ``"red 7, small"`` -> ``["red", "7", ",", "small"]``."""
    return re.findall(r"[^\s,]+|,", text.lower())


def _join(tokens: Sequence[str]) -> str:
    return " ".join(tokens).replace(" ,", ",")


def _attribute_words(source: str) -> dict[str, tuple[tuple[str, ...], ...]]:
    """Every attribute's words by value id (multi-word phrases whole), for one source."""
    classes = (tuple((n, d) for n, d in zip(DIGIT_NAMES, NUMERALS)) if source == "mnist"
               else tuple(tuple(p for p, _ in w) for w in FASHION_WORDS))
    words = {"label": classes, "colour": COLOUR_WORDS, "size": SIZE_WORDS, "thickness": THICKNESS_WORDS,
             "position": POSITION_SHORT}
    if source == "mnist":
        words["slant"] = SLANT_WORDS
    return words


@functools.cache
def _word_table(source: str) -> dict[str, tuple[str, int]]:
    """The attribute and value each meaningful word names (``"7"`` -> ("label", 7), ``"left"`` -> ("position", 0))."""
    table: dict[str, tuple[str, int]] = {}
    for attr, values in _attribute_words(source).items():
        for value, phrases in enumerate(values):
            for phrase in phrases:
                for word in _tokens(phrase):
                    if word not in ("side",):
                        table[word] = (attr, value)
    return table


def read_caption(caption: str, source: str = "mnist") -> dict[str, int]:
    """The attribute ids a caption names, e.g. ``{"label": 7, "colour": 0, "position": 0}`` for "a red 7 on the
    left": what a generator was *asked* for (a noisy caption names a wrong value, unlike the image's attributes)."""
    _check_source(source)
    table = _word_table(source)
    return {attr: value for attr, value in (table[w] for w in _tokens(caption) if w in table)}


# ---------------------------------------------------------------------------------------------------- tokenizer

class CaptionVocab:
    """The closed word-level vocabulary of the captions and prompts of both datasets, built from the word lists
    (not from data): ``<pad>`` = 0, ``<bos>`` = 1, ``<eos>`` = 2, then the words in sorted order."""

    PAD, BOS, EOS = 0, 1, 2
    SPECIALS = ("<pad>", "<bos>", "<eos>")

    def __init__(self):
        words = set(FILLER) | set(PROMPT_ONLY) | set(NUMERALS) | set(DIGIT_NAMES)
        for source in SOURCES:
            for values in _attribute_words(source).values():
                words |= {w for phrases in values for p in phrases for w in _tokens(p)}
        for phrases in POSITION_PHRASES:
            words |= {w for p in phrases for w in _tokens(p)}
        self.itos = list(self.SPECIALS) + sorted(words)
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def tokens(self, caption: str) -> list[int]:
        """The ids of one caption's words (no marks); an empty or unknown-word caption raises ``ValueError``."""
        words = _tokens(caption)
        if not words:
            raise ValueError(f"empty caption {caption!r}: a caption needs at least one word")
        unknown = [w for w in words if w not in self.stoi]
        if unknown:
            raise ValueError(f"unknown word {unknown[0]!r} in caption {caption!r}; the vocabulary is closed "
                             f"({len(self)} tokens, see CaptionVocab().itos)")
        return [self.stoi[w] for w in words]

    def encode(self, captions: str | Sequence[str], max_len: int | None = None, bos: bool = True,
               eos: bool = True) -> torch.Tensor:
        """int64 ids ``(N, max_len)``: ``<bos>``, the words, ``<eos>``, then ``<pad>`` (0). ``max_len=None`` fits
        the longest caption; a caption longer than ``max_len`` raises ``ValueError`` (never cut silently)."""
        if isinstance(captions, str):
            captions = [captions]
        rows = [[self.BOS] * bos + self.tokens(c) + [self.EOS] * eos for c in captions]
        if not rows:
            raise ValueError("no captions to encode")
        longest = max(len(r) for r in rows)
        max_len = longest if max_len is None else max_len
        if longest > max_len:
            c = captions[max(range(len(rows)), key=lambda i: len(rows[i]))]
            raise ValueError(f"caption {c!r} needs {longest} tokens with its marks, more than max_len={max_len}")
        out = torch.full((len(rows), max_len), self.PAD, dtype=torch.long)
        for i, r in enumerate(rows):
            out[i, :len(r)] = torch.tensor(r)
        return out

    def decode(self, ids: torch.Tensor | Sequence[int]) -> str | list[str]:
        """The text of one row of ids (a string) or of a batch (a list); stops at ``<eos>``, skips ``<pad>`` and
        ``<bos>``."""
        ids = torch.as_tensor(ids)
        if ids.dim() == 2:
            return [self.decode(row) for row in ids]
        words = []
        for i in ids.tolist():
            if i == self.EOS:
                break
            if i not in (self.PAD, self.BOS):
                words.append(self.itos[i])
        return _join(words)


# ------------------------------------------------------------------------------------------------------ captions

def _article(plural: bool, next_word: str) -> list[str]:
    if plural:
        return []
    vowel = (next_word[0] in "aeiou" and next_word != "one") or next_word == "8"
    return ["an" if vowel else "a"]


def _class_phrase(source: str, label: int, rng: random.Random) -> tuple[list[str], bool]:
    if source == "mnist":
        word = DIGIT_NAMES[label] if rng.random() < 0.5 else NUMERALS[label]
        prefix = rng.choice(([], [], [], ["digit"], ["number"]))
        return prefix + [word], False
    phrase, plural = rng.choice(FASHION_WORDS[label])
    return phrase.split(), plural


def _and_list(items: list[list[str]]) -> list[str]:
    out: list[str] = []
    for i, item in enumerate(items):
        if i:
            out.append("and" if i == len(items) - 1 else ",")
        out += item
    return out


def _sentence(template: int, cls: list[str], plural: bool, adj: dict[str, str], pos: list[str] | None,
              short_pos: list[str] | None, rng: random.Random) -> list[str] | None:
    """One of eight templates; ``None`` where it needs a part the caption omits (the caller falls back to 0)."""
    pre = [adj[k] for k in ("size", "thickness", "slant") if k in adj]
    colour = [adj["colour"]] if "colour" in adj else []
    be = "are" if plural else "is"
    pos = pos or []

    def np(words: list[str], article: bool = True) -> list[str]:
        return (_article(plural, words[0]) if article else []) + words

    if template == 0:  # a small red seven on the left
        return np(pre + colour + cls) + pos
    if template == 1:  # red 7, small, left side
        items = [[w] for w in pre] + ([short_pos] if short_pos else [])
        rng.shuffle(items)
        out = colour + cls
        for item in items:
            out += [","] + item
        return out
    if template == 2 and colour:  # a small seven in red at the top; trainers in blue
        return np(pre + cls) + ["in"] + colour + pos
    if template == 3 and pos:  # at the top, a big blue digit two
        return pos + [","] + np(pre + colour + cls)
    if template == 4 and (pre or colour):  # a seven on the left that is red and small
        adjectives = [[w] for w in colour + pre]
        return np(cls) + pos + ["that", be] + _and_list(adjectives)
    if template == 5:  # there is a thin red 7 at the bottom
        return ["there", be] + np(pre + colour + cls) + pos
    if template == 6 and colour:  # the small seven on the left is red
        return ["the"] + pre + cls + pos + [be] + colour
    if template == 7:  # big blue digit two at the top
        return pre + colour + cls + pos
    return None


N_TEMPLATES = 8


def write_captions(label: torch.Tensor, colour: torch.Tensor, size: torch.Tensor, position: torch.Tensor,
                   thickness: torch.Tensor, slant: torch.Tensor | None = None, *, source: str = "mnist",
                   seed: int = 0, noise: float = 0.0, held_out: Iterable[tuple[int, int]] = HELD_OUT,
                   keep: dict[str, float] | None = None) -> tuple[list[str], torch.Tensor]:
    """Captions for images with these attribute ids (one 1-D tensor each), and a bool tensor marking the noisy ones.

    Each caption names the class and, with the probabilities in ``keep`` (default ``KEEP``), the other attributes
    (no slant when ``slant`` is None). A fraction ``noise`` of captions has one named non-class attribute swapped
    for a wrong value (a caption naming only its class then gets a wrong colour); a swapped colour never makes a
    pair in ``held_out``. Deterministic given ``seed``; call again with another seed for fresh captions of the
    same images (caption augmentation).
    """
    _check_source(source)
    if not 0.0 <= noise <= 1.0:
        raise ValueError(f"noise must be a fraction in [0, 1], got {noise}")
    unknown = set(keep or {}) - set(KEEP)
    if unknown or any(not 0 <= p <= 1 for p in (keep or {}).values()):
        raise ValueError(f"keep must map attributes among {tuple(KEEP)} to probabilities in [0, 1], got {keep}")
    keep = {**KEEP, **(keep or {})}
    held = _check_held_out(held_out)
    n_classes = len(CLASS_NAMES[source])
    values = {"label": label, "colour": colour, "size": size, "position": position, "thickness": thickness}
    if slant is not None:
        values["slant"] = slant
    sizes = {"label": n_classes, "colour": len(COLOURS), "size": len(SIZES), "position": len(POSITIONS),
             "thickness": len(THICKNESS), "slant": len(SLANTS)}
    for name, t in values.items():
        if t.shape != label.shape or t.dim() != 1:
            raise ValueError(f"{name} has shape {tuple(t.shape)}; every attribute needs shape {tuple(label.shape)}")
        if t.numel() and (t.min() < 0 or t.max() >= sizes[name]):
            raise ValueError(f"{name} ids must lie in [0, {sizes[name]}), got {t.min().item()}..{t.max().item()}")
    rows = {k: v.tolist() for k, v in values.items()}
    rng = random.Random(seed)
    captions, noisy = [], []
    for i in range(len(rows["label"])):
        c = rows["label"][i]
        named = {k: rows[k][i] for k in values if k != "label" and rng.random() < keep[k]}
        was_noisy = False
        if noise and rng.random() < noise:
            choices = [k for k in named if k != "colour" or _wrong_colours(c, named[k], held)]
            if not choices and "colour" not in named and _wrong_colours(c, rows["colour"][i], held):
                named["colour"] = rows["colour"][i]
                choices = ["colour"]
            if choices:
                k = rng.choice(choices)
                wrong = (_wrong_colours(c, named[k], held) if k == "colour"
                         else [v for v in range(sizes[k]) if v != named[k]])
                named[k] = rng.choice(wrong)
                was_noisy = True
        cls, plural = _class_phrase(source, c, rng)
        adj = {k: rng.choice(words[named[k]]) for k, words in
               (("colour", COLOUR_WORDS), ("size", SIZE_WORDS), ("thickness", THICKNESS_WORDS),
                ("slant", SLANT_WORDS)) if k in named}
        pos = _tokens(rng.choice(POSITION_PHRASES[named["position"]])) if "position" in named else None
        short = (_tokens(rng.choice(POSITION_SHORT[named["position"]] + POSITION_PHRASES[named["position"]]))
                 if "position" in named else None)
        words = _sentence(rng.randrange(N_TEMPLATES), cls, plural, adj, pos, short, rng)
        if words is None:
            words = _sentence(0, cls, plural, adj, pos, short, rng)
        captions.append(_join(words))
        noisy.append(was_noisy)
    return captions, torch.tensor(noisy, dtype=torch.bool)


def _wrong_colours(label: int, colour: int, held: frozenset[tuple[int, int]]) -> list[int]:
    return [k for k in range(len(COLOURS)) if k != colour and (label, k) not in held]


def prompt(class_id: int, colour_id: int | None = None, source: str = "mnist", *, template: str = PROMPT,
           numeral: bool = True) -> str:
    """The zero-shot text for a class (and colour): ``"a photo of a red 7"``, ``"a photo of an ankle boot"``.

    The default template's words "photo" and "of" occur in no training caption, so it tests transfer to a new
    phrasing (CLIP's "A photo of a {label}."). ``numeral`` writes digits as "7" rather than "seven"; Fashion-MNIST
    classes take their first name (``FASHION_NAMES``). ``template`` is any format string with one ``{}``.
    """
    _check_source(source)
    n_classes = len(CLASS_NAMES[source])
    if not 0 <= class_id < n_classes:
        raise ValueError(f"class_id {class_id} is out of range for {source} (0..{n_classes - 1})")
    if colour_id is not None and not 0 <= colour_id < len(COLOURS):
        raise ValueError(f"colour_id {colour_id} is out of range (0..{len(COLOURS) - 1}: {', '.join(COLOURS)})")
    if template.count("{}") != 1:
        raise ValueError(f"template {template!r} must hold exactly one '{{}}' for the object")
    if source == "mnist":
        cls, plural = [NUMERALS[class_id] if numeral else DIGIT_NAMES[class_id]], False
    else:
        phrase, plural = FASHION_WORDS[class_id][0]
        cls = phrase.split()
    words = ([COLOURS[colour_id]] if colour_id is not None else []) + cls
    return template.format(_join(_article(plural, words[0]) + words))


# ------------------------------------------------------------------------------------------ glyphs and rendering

def _check_source(source: str) -> None:
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; use one of {SOURCES}")


def _check_held_out(held_out: Iterable[tuple[int, int]]) -> frozenset[tuple[int, int]]:
    pairs = []
    for pair in held_out:
        try:
            c, k = (int(v) for v in pair)
        except (TypeError, ValueError):
            c = k = -1
        if not (0 <= c < 10 and 0 <= k < len(COLOURS)):
            raise ValueError(f"held-out pair {pair!r} must be (class 0..9, colour 0..{len(COLOURS) - 1})")
        pairs.append((c, k))
    held = frozenset(pairs)
    for c in range(10):
        if all((c, k) in held for k in range(len(COLOURS))):
            raise ValueError(f"held_out holds every colour of class {c}: it would never appear in training")
    for k in range(len(COLOURS)):
        if all((c, k) in held for c in range(10)):
            raise ValueError(f"held_out holds colour {COLOURS[k]!r} with every class: it would never appear in "
                             "training")
    return held


def measure(glyphs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Stroke thickness in pixels and slant in degrees (positive: the top leans right) of grey glyphs ``(N, H, W)``,
    uint8 or float in [0, 1]; float32 ``(N,)`` each, vectorised (in chunks, to stay in cache).

    The thickness is the width of the rectangle with the ink's area A and edge length P (ink above half intensity,
    4-neighbour edges): ``w = (P/2 - sqrt(P^2/4 - 4A)) / 2``, exact for a bar and about ``2A/P`` for a long stroke,
    whose edge runs along both its sides (Morpho-MNIST divides the area by the skeleton's length instead)."""
    if glyphs.dim() != 3:
        raise ValueError(f"glyphs must have shape (N, H, W), got {tuple(glyphs.shape)}")
    h, w = glyphs.shape[1:]
    ys, xs = torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32)
    strokes, slants = [], []
    for part in glyphs.split(8192):
        ink = (part > 127 if part.dtype == torch.uint8 else part > 0.5).to(torch.uint8)
        edges = ((ink[:, 1:] ^ ink[:, :-1]).flatten(1).sum(1, dtype=torch.int32)
                 + (ink[:, :, 1:] ^ ink[:, :, :-1]).flatten(1).sum(1, dtype=torch.int32))
        # the width of the rectangle with this area and perimeter: w + L = P / 2 and w * L = A
        area, half = ink.flatten(1).sum(1, dtype=torch.int32).float(), edges.float() / 2
        strokes.append((half - (half.square() - 4 * area).clamp(min=0).sqrt()) / 2)
        x = part.float()  # the moments are ratios: the intensity scale does not matter
        by_row, by_col = x.sum(2), x.sum(1)
        mass = by_row.sum(1).clamp(min=1e-6)
        my, mx = by_row @ ys / mass, by_col @ xs / mass
        vy = by_row @ ys.square() / mass - my.square()
        cxy = (x @ xs) @ ys / mass - mx * my
        slants.append(torch.rad2deg(torch.atan(-cxy / vy.clamp(min=1e-6))))
    return torch.cat(strokes), torch.cat(slants)


def _read_idx(path, dims: int) -> torch.Tensor:
    """An IDX file of unsigned bytes (MNIST's format: magic 0x0000080N, N big-endian sizes, then the data), read
    without torchvision, whose import alone costs seconds."""
    data = Path(path).read_bytes()
    if data[:4] != bytes((0, 0, 8, dims)):
        raise ValueError(f"{path} is not an IDX file of {dims}-D unsigned bytes (magic {data[:4].hex()})")
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return torch.frombuffer(bytearray(data[4 + 4 * dims:]), dtype=torch.uint8).view(shape)


@functools.lru_cache(maxsize=2)
def _source(source: str) -> dict[str, torch.Tensor]:
    """Both splits of a source as uint8 glyphs (read straight from the verified IDX files, never as floats), their
    labels, and the per-class median stroke of the first ``MEDIAN_OF`` training glyphs; read once per process."""
    from .images import _mnist_raw_files

    raw = _mnist_raw_files(source)
    out: dict[str, torch.Tensor] = {}
    for split, prefix in zip(SPLITS, ("train", "t10k")):
        out[f"{split}_x"] = _read_idx(raw[f"{prefix}-images-idx3-ubyte"], 3)
        out[f"{split}_y"] = _read_idx(raw[f"{prefix}-labels-idx1-ubyte"], 1).long()
    stroke, labels = measure(out["train_x"][:MEDIAN_OF])[0], out["train_y"][:MEDIAN_OF]
    out["median_stroke"] = torch.stack([stroke[labels == c].median() for c in range(10)])
    return out


def load_glyphs(source: str = "mnist", split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """The 28 x 28 glyphs of a split as uint8 ``(N, 28, 28)`` and their labels (int64), cached in memory."""
    _check_source(source)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    s = _source(source)
    return s[f"{split}_x"], s[f"{split}_y"]


def tile_sizes(canvas: int) -> tuple[int, int]:
    """The side of a small and a large glyph on a ``canvas`` (16 and 24 on 32): the 28 x 28 glyph tile, margins
    included, scaled to half and three quarters of the canvas, so that even a large one moves 4 pixels off
    centre towards its side (a 28-pixel tile would move 2)."""
    return canvas // 2, canvas * 3 // 4


def render(glyphs: torch.Tensor, colour: torch.Tensor, size: torch.Tensor, position: torch.Tensor,
           canvas: int = 32) -> torch.Tensor:
    """Tinted glyphs on a black canvas: float32 ``(N, 3, canvas, canvas)`` in [0, 1].

    ``glyphs`` are grey ``(N, 28, 28)`` (uint8, or float in [0, 1]); ``colour`` is colour ids ``(N,)`` or RGB
    ``(N, 3)`` floats (``torch.ones(n, 3)`` for plain white); ``size`` and ``position`` are ids. Each glyph tile is
    resized (bilinear with antialiasing) to ``tile_sizes(canvas)[size]`` and placed against its side (left, right,
    top, bottom), centred along the other axis, always whole inside the canvas.
    """
    if canvas < 16:
        raise ValueError(f"canvas must be at least 16 pixels, got {canvas}")
    if glyphs.dim() == 4 and glyphs.shape[1] == 1:
        glyphs = glyphs[:, 0]
    if glyphs.dim() != 3:
        raise ValueError(f"glyphs must have shape (N, 28, 28), got {tuple(glyphs.shape)}")
    n = glyphs.shape[0]
    g = glyphs.float().div(255.0) if glyphs.dtype == torch.uint8 else glyphs.float()
    if colour.dim() == 1:
        if colour.numel() and (colour.min() < 0 or colour.max() >= len(COLOURS)):
            raise ValueError(f"colour ids must lie in [0, {len(COLOURS)}), got {colour.min().item()}.."
                             f"{colour.max().item()}")
        rgb = COLOUR_RGB.to(g.device)[colour]
    else:
        rgb = colour.float()
    for name, t, k in (("size", size, len(SIZES)), ("position", position, len(POSITIONS)), ("rgb", rgb, None)):
        if t.shape[0] != n:
            raise ValueError(f"{name} has {t.shape[0]} rows for {n} glyphs")
        if k is not None and t.numel() and (t.min() < 0 or t.max() >= k):
            raise ValueError(f"{name} ids must lie in [0, {k}), got {t.min().item()}..{t.max().item()}")
    out = torch.zeros(n, 1, canvas, canvas, device=g.device)
    for s, side in enumerate(tile_sizes(canvas)):
        chosen = (size == s).nonzero().squeeze(1)
        if not len(chosen):
            continue
        tiles = F.interpolate(g[chosen, None], size=(side, side), mode="bilinear", antialias=True,
                              align_corners=False).clamp_(0, 1)
        far, mid = canvas - side, (canvas - side) // 2
        for p, (top, left) in enumerate(((mid, 0), (mid, far), (0, mid), (far, mid))):
            here = position[chosen] == p
            out[chosen[here], :, top:top + side, left:left + side] = tiles[here]
    return out * rgb[:, :, None, None]


# -------------------------------------------------------------------------------------------- the captioned set

@dataclass
class CaptionedSet:
    """Images, their attribute ids (int64 ``(N,)`` each; ``slant`` is None for Fashion-MNIST), measures and
    captions. ``index`` is each glyph's row in its split (``load_glyphs``), ``noisy`` marks captions with a wrong
    attribute word, ``is_held_out`` the images whose (class, colour) pair is held out."""

    source: str
    split: str
    images: torch.Tensor
    label: torch.Tensor
    colour: torch.Tensor
    size: torch.Tensor
    position: torch.Tensor
    thickness: torch.Tensor
    slant: torch.Tensor | None
    stroke: torch.Tensor  # measured stroke width in pixels of the 28 x 28 glyph
    angle: torch.Tensor  # measured slant in degrees (positive leans right)
    captions: list[str]
    noisy: torch.Tensor
    is_held_out: torch.Tensor
    index: torch.Tensor

    def __len__(self) -> int:
        return self.images.shape[0]

    def attributes(self) -> dict[str, torch.Tensor]:
        """The attribute ids by name (``ATTRIBUTES``; no slant for Fashion-MNIST)."""
        out = {name: getattr(self, name) for name in ATTRIBUTES}
        return {k: v for k, v in out.items() if v is not None}

    def describe(self, i: int) -> dict[str, str]:
        """Image ``i``'s attributes by name, e.g. ``{"label": "seven", "colour": "red", ...}``, and its caption."""
        names = {"label": CLASS_NAMES[self.source], "colour": COLOURS, "size": SIZES, "position": POSITIONS,
                 "thickness": THICKNESS, "slant": SLANTS}
        out = {k: names[k][int(v[i])] for k, v in self.attributes().items()}
        return {**out, "caption": self.captions[i]}


def _draw(pool: torch.Tensor, n: int, g: torch.Generator) -> torch.Tensor:
    """``n`` rows of ``pool`` without replacement while it lasts (then a fresh permutation, and so on)."""
    parts, left = [], n
    while left > 0:
        perm = pool[torch.randperm(len(pool), generator=g)[:left]]
        parts.append(perm)
        left -= len(perm)
    return torch.cat(parts)


def make_captioned(source: str = "mnist", n: int = 10_000, split: str = "train", *, seed: int, canvas: int = 32,
                   held_out: Iterable[tuple[int, int]] = HELD_OUT, only_held_out: bool = False,
                   noise: float = 0.0, keep: dict[str, float] | None = None, device=None) -> CaptionedSet:
    """``n`` captioned images from the ``split`` glyphs of ``source`` (``"mnist"`` or ``"fashion-mnist"``).

    Colours are drawn uniformly from those allowed for each glyph's class: in ``"train"`` never a ``held_out``
    pair; in ``"test"`` any pair or, with ``only_held_out``, only held-out pairs (from the classes that have one).
    Sizes and positions are uniform. Glyphs are drawn without replacement while the split lasts. Deterministic given
    ``seed``. See the module docstring for the captions, ``noise`` and ``keep``.
    """
    _check_source(source)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise ValueError(f"n must be a positive number of images, got {n!r}")
    if not 0.0 <= noise <= 1.0:
        raise ValueError(f"noise must be a fraction in [0, 1], got {noise}")
    held = _check_held_out(held_out)
    if only_held_out and split != "test":
        raise ValueError(f"only_held_out=True needs split='test' (held-out pairs are never trained on), got {split!r}")
    if only_held_out and not held:
        raise ValueError("only_held_out=True with an empty held_out: there is no pair to draw")
    if canvas < 16:
        raise ValueError(f"canvas must be at least 16 pixels, got {canvas}")

    s = _source(source)
    g = torch.Generator().manual_seed(seed)
    is_held = torch.zeros(10, len(COLOURS), dtype=torch.bool)
    for c, k in held:
        is_held[c, k] = True
    allowed = ~is_held if split == "train" else is_held if only_held_out else torch.ones_like(is_held)
    labels = s[f"{split}_y"]
    pool = torch.arange(len(labels))
    if only_held_out:
        pool = pool[is_held.any(1)[labels]]
    index = _draw(pool, n, g)
    label = labels[index]
    colour = torch.multinomial(allowed[label].float(), 1, generator=g).squeeze(1)
    size = torch.randint(len(SIZES), (n,), generator=g)
    position = torch.randint(len(POSITIONS), (n,), generator=g)
    glyphs = s[f"{split}_x"][index]
    stroke, angle = measure(glyphs)
    thickness = (stroke > s["median_stroke"][label]).long()
    slant = None
    if source == "mnist":
        slant = 1 + (angle > SLANT_DEGREES).long() - (angle < -SLANT_DEGREES).long()
    images = render(glyphs, colour, size, position, canvas)
    captions, noisy = write_captions(label, colour, size, position, thickness, slant, source=source, seed=seed,
                                     noise=noise, held_out=held, keep=keep)
    device = device or "cpu"
    return CaptionedSet(source=source, split=split, images=images.to(device), label=label.to(device),
                        colour=colour.to(device), size=size.to(device), position=position.to(device),
                        thickness=thickness.to(device), slant=None if slant is None else slant.to(device),
                        stroke=stroke.to(device), angle=angle.to(device), captions=captions, noisy=noisy.to(device),
                        is_held_out=is_held[label, colour].to(device), index=index.to(device))
