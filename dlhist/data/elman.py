"""Elman's (1990) prediction tasks, generated from a seeded ``torch.Generator``: the temporal XOR stream and the
sentence generator of simple two- and three-word sentences.

- ``temporal_xor(length, batch)``: a stream of bits in which every third bit is the exclusive OR of the two before
  it, ``(a, b, a ^ b, c, d, c ^ d, ...)``, the first two of each triple drawn at random (Elman 1990, "Exclusive-OR").
  Only the third bit of each triple can be predicted from the past; ``predictable(length)`` marks those bits.
  ``XorBatches(batch_size, length)`` streams fresh batches of (bits, next bits) for ``fit(..., steps=...)``.
- ``sentences(n_sentences)``: Elman's sentence generator ("Discovering lexical classes from word order", Tables 3
  and 4): each sentence picks one of 16 templates uniformly, then one word uniformly from each slot's category.
  The sentences are concatenated into one stream of word ids with no marker between sentences, as in the paper.
  ``decode(ids)`` gives the words back.
- ``lexical_class(word)``: the finer classes that the paper's cluster tree of the hidden states (Figure 7) shows:
  nouns that are human, animal, food, breakable or other inanimate; verbs that never, sometimes or always take a
  direct object (read off the templates).

The lexicon is a reconstruction. The paper's Table 3 names twelve categories with example words and its Figure 7
shows the 29 words of the lexicon, but which word belongs to which category is not fully listed; here the animate
nouns include the humans and the aggressors, and the inanimate nouns include the breakables and the foods.
``TEMPLATES`` are the 16 templates of Table 4 over those categories.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

CATEGORIES: dict[str, tuple[str, ...]] = {
    "NOUN-HUM": ("man", "woman", "boy", "girl"),
    "NOUN-ANIM": ("cat", "mouse", "dog", "lion", "dragon", "monster", "man", "woman", "boy", "girl"),
    "NOUN-INANIM": ("book", "rock", "car", "glass", "plate", "cookie", "bread", "sandwich"),
    "NOUN-AGRESS": ("dragon", "monster", "lion"),
    "NOUN-FRAG": ("glass", "plate"),
    "NOUN-FOOD": ("cookie", "bread", "sandwich"),
    "VERB-INTRAN": ("think", "sleep", "exist"),
    "VERB-TRAN": ("see", "chase", "like"),
    "VERB-AGPAT": ("move", "break"),
    "VERB-PERCEPT": ("smell", "see"),
    "VERB-DESTROY": ("break", "smash"),
    "VERB-EAT": ("eat",),
}

TEMPLATES: tuple[tuple[str, ...], ...] = (
    ("NOUN-HUM", "VERB-EAT", "NOUN-FOOD"),
    ("NOUN-HUM", "VERB-PERCEPT", "NOUN-INANIM"),
    ("NOUN-HUM", "VERB-DESTROY", "NOUN-FRAG"),
    ("NOUN-HUM", "VERB-INTRAN"),
    ("NOUN-HUM", "VERB-TRAN", "NOUN-HUM"),
    ("NOUN-HUM", "VERB-AGPAT", "NOUN-INANIM"),
    ("NOUN-HUM", "VERB-AGPAT"),
    ("NOUN-ANIM", "VERB-EAT", "NOUN-FOOD"),
    ("NOUN-ANIM", "VERB-TRAN", "NOUN-ANIM"),
    ("NOUN-ANIM", "VERB-AGPAT", "NOUN-INANIM"),
    ("NOUN-ANIM", "VERB-AGPAT"),
    ("NOUN-INANIM", "VERB-AGPAT"),
    ("NOUN-AGRESS", "VERB-DESTROY", "NOUN-FRAG"),
    ("NOUN-AGRESS", "VERB-EAT", "NOUN-HUM"),
    ("NOUN-AGRESS", "VERB-EAT", "NOUN-ANIM"),
    ("NOUN-AGRESS", "VERB-EAT", "NOUN-FOOD"),
)

# the 29 words, nouns first, in the order they first appear in CATEGORIES
WORDS: tuple[str, ...] = tuple(dict.fromkeys(w for c in CATEGORIES for w in CATEGORIES[c] if c.startswith("NOUN"))) \
    + tuple(dict.fromkeys(w for c in CATEGORIES for w in CATEGORIES[c] if c.startswith("VERB")))
INDEX: dict[str, int] = {w: i for i, w in enumerate(WORDS)}
NOUNS: frozenset[str] = frozenset(w for c, ws in CATEGORIES.items() if c.startswith("NOUN") for w in ws)
VERBS: frozenset[str] = frozenset(w for c, ws in CATEGORIES.items() if c.startswith("VERB") for w in ws)


def _check_count(name: str, value, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer of at least {minimum}, got {value!r}")


def _device(generator: torch.Generator | None, device) -> torch.device:
    if generator is not None:
        return generator.device
    return torch.device(device) if device is not None else torch.device("cpu")


def temporal_xor(length: int, batch: int | None = None, *, generator: torch.Generator | None = None, device=None,
                 dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A temporal XOR stream of ``length`` bits, shape ``(length,)``, or ``(batch, length)`` independent streams.

    Bits come in triples ``(a, b, a ^ b)`` with ``a`` and ``b`` fair coin flips, starting at a triple boundary; a
    ``length`` that is not a multiple of three cuts the last triple short.
    """
    _check_count("length", length)
    if batch is not None:
        _check_count("batch", batch)
    device = _device(generator, device)
    triples = -(-length // 3)
    pairs = torch.randint(0, 2, (batch or 1, triples, 2), generator=generator, device=device)
    bits = torch.cat([pairs, pairs[..., :1] ^ pairs[..., 1:]], dim=-1).reshape(batch or 1, 3 * triples)
    bits = bits[:, :length].to(dtype)
    return bits if batch is not None else bits[0]


def predictable(length: int, device=None) -> torch.Tensor:
    """Which bits of a ``length``-bit temporal XOR stream are determined by the past: every third bit."""
    _check_count("length", length)
    return torch.arange(length, device=device) % 3 == 2


class XorBatches:
    """An endless, seeded stream of next-bit prediction batches on fresh temporal XOR streams: inputs ``x`` of shape
    ``(batch_size, length, 1)`` (bits 0 .. length-1) and targets ``y`` of shape ``(batch_size, length)`` (bits 1 ..
    length). Each iteration starts the same stream again, so every run of ``fit(..., steps=...)`` sees the same
    batches."""

    def __init__(self, batch_size: int, length: int, *, seed: int = 0, dtype: torch.dtype = torch.float32):
        _check_count("batch_size", batch_size)
        _check_count("length", length)
        self.batch_size, self.length, self.seed, self.dtype = batch_size, length, seed, dtype

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed)
        while True:
            bits = temporal_xor(self.length + 1, self.batch_size, generator=generator, dtype=self.dtype)
            yield bits[:, :-1, None], bits[:, 1:]


class Sentences(NamedTuple):
    """Sentences concatenated into one stream of word ids (indices into ``WORDS``), no marker between sentences.

    ``sentence[i]`` and ``position[i]`` say which sentence word ``i`` belongs to and where in it (0, 1 or 2);
    ``template[s]`` is the index into ``TEMPLATES`` that produced sentence ``s``.
    """

    ids: torch.Tensor
    sentence: torch.Tensor
    position: torch.Tensor
    template: torch.Tensor


def sentences(n_sentences: int, *, generator: torch.Generator | None = None, device=None) -> Sentences:
    """``n_sentences`` sentences of Elman's generator: a template uniformly among the 16, then a word uniformly
    from each slot's category. Elman generated 10,000 sentences (27,354 words)."""
    _check_count("n_sentences", n_sentences)
    device = _device(generator, device)
    widest = max(len(ws) for ws in CATEGORIES.values())
    table = torch.zeros(len(TEMPLATES), 3, widest, dtype=torch.long)  # word ids of each template's slot
    sizes = torch.zeros(len(TEMPLATES), 3, dtype=torch.long)  # number of words in each slot, 0 for no slot
    for t, slots in enumerate(TEMPLATES):
        for s, category in enumerate(slots):
            words = CATEGORIES[category]
            table[t, s, : len(words)] = torch.tensor([INDEX[w] for w in words])
            sizes[t, s] = len(words)
    table, sizes = table.to(device), sizes.to(device)
    template = torch.randint(0, len(TEMPLATES), (n_sentences,), generator=generator, device=device)
    u = torch.rand(n_sentences, 3, generator=generator, device=device, dtype=torch.float64)
    size = sizes[template]  # (n, 3)
    choice = (u * size).long().clamp(max=widest - 1)
    words = table[template[:, None], torch.arange(3, device=device), choice]  # (n, 3)
    present = size > 0
    positions = torch.arange(3, device=device).expand(n_sentences, 3)
    rows = torch.arange(n_sentences, device=device)[:, None].expand(n_sentences, 3)
    return Sentences(words[present], rows[present], positions[present], template)


def lexical_class(word: str) -> str:
    """The word's class at the leaves of Elman's tree: ``"noun: human"``, ``"noun: animal"``, ``"noun: food"``,
    ``"noun: breakable"``, ``"noun: other inanimate"``, ``"verb: no object"``, ``"verb: optional object"`` or
    ``"verb: object required"`` (whether the templates that use the verb have two words, three, or both)."""
    if word not in INDEX:
        raise ValueError(f"word {word!r} is not in the lexicon of {len(WORDS)} words")
    if word in NOUNS:
        for category, name in (("NOUN-HUM", "human"), ("NOUN-ANIM", "animal"), ("NOUN-FOOD", "food"),
                               ("NOUN-FRAG", "breakable")):
            if word in CATEGORIES[category]:
                return f"noun: {name}"
        return "noun: other inanimate"
    lengths = {len(t) for t in TEMPLATES if word in CATEGORIES[t[1]]}
    return "verb: " + ("object required" if lengths == {3} else "no object" if lengths == {2} else "optional object")


def decode(ids) -> list[str]:
    """The words of a sequence of word ids."""
    ids = ids.tolist() if torch.is_tensor(ids) else list(ids)
    bad = [i for i in ids if not 0 <= i < len(WORDS)]
    if bad:
        raise ValueError(f"ids must be word indices in [0, {len(WORDS)}), got {bad[:5]}")
    return [WORDS[i] for i in ids]


def split(stream: Sentences) -> list[tuple[str, ...]]:
    """The stream cut back into its sentences, as tuples of words."""
    out: list[list[str]] = [[] for _ in range(stream.template.shape[0])]
    for word, s in zip(decode(stream.ids), stream.sentence.tolist()):
        out[s].append(word)
    return [tuple(s) for s in out]
