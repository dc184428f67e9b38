"""Word-level corpora, a word vocabulary, and the standard evaluations of word vectors.

    sentences = load_corpus(("brown", "war-and-peace", "gutenberg"))  # lists of lower-case words
    vocab = WordVocab.build(sentences, min_count=5)                     # most frequent first
    ids, starts = vocab.encode_corpus(sentences)                       # one id stream, and where sentences start
    analogies(vectors, vocab, load_analogies())                         # 3CosAdd on Mikolov's questions-words.txt
    similarity(vectors, vocab, load_wordsim353())                       # Spearman's rho against human judgements

Tokens are lower-case runs of letters with inner apostrophes or hyphens ("don't", "well-known"), accents
removed; digits and punctuation are dropped. The Brown corpus is read from NLTK's zip (its tagged ``word/TAG``
tokens, one sentence a line); plain books are split into paragraphs at blank lines. ``gutenberg`` is the
public-domain books of ``dlhist.fetch("gutenberg")`` whose text is byte-identical to its canonical source.
"""

from __future__ import annotations

import re
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch

from .registry import fetch

TOKEN = re.compile(r"[a-z]+(?:['-][a-z]+)*")
GUTENBERG_BOOKS = (
    "austen-emma", "austen-persuasion", "austen-pride_and_prejudice", "austen-sense", "blake-poems", "carroll-alice",
    "chesterton-brown", "chesterton-thursday", "doyle-sherlock_holmes", "milton-paradise", "shakespeare-hamlet",
    "shakespeare-macbeth", "shelley-frankenstein", "stevenson-treasure_island", "timemachine", "whitman-leaves",
    "wilde-dorian_gray",
)
CORPORA = ("brown", "war-and-peace", "gutenberg")


def tokenize(text: str) -> list[str]:
    """Lower-case words of ``text`` (see the module docstring for what counts as a word); accents are dropped
    ("Yaroslávl" -> "yaroslavl"), so that a name is one word however a translator spelled it."""
    if not text.isascii():
        text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return TOKEN.findall(text.lower())


def _paragraphs(text: str) -> list[list[str]]:
    return [words for p in re.split(r"\n\s*\n", text) if (words := tokenize(p))]


def _brown() -> list[list[str]]:
    sentences = []
    with zipfile.ZipFile(fetch("brown") / "corpora" / "brown.zip") as z:
        for name in sorted(z.namelist()):
            if not re.fullmatch(r"brown/c[a-r]\d\d", name):
                continue  # README, CONTENTS, cats.txt
            for line in z.read(name).decode("utf-8").splitlines():
                words = [w for tok in line.split() for w in tokenize(tok.rsplit("/", 1)[0])]
                if words:
                    sentences.append(words)
    return sentences


def load_corpus(names: str | Sequence[str] = CORPORA) -> list[list[str]]:
    """The sentences (lists of words) of one or several corpora, in the order given: ``"brown"`` (NLTK's Brown
    corpus, 1.16M tokens), ``"war-and-peace"``, ``"gutenberg"`` (17 public-domain books), fetched and verified."""
    names = (names,) if isinstance(names, str) else tuple(names)
    sentences: list[list[str]] = []
    for name in names:
        if name == "brown":
            sentences += _brown()
        elif name == "war-and-peace":
            sentences += _paragraphs((fetch("war-and-peace") / "war_and_peace.txt").read_text(encoding="utf-8"))
        elif name == "gutenberg":
            folder = fetch("gutenberg")
            for book in GUTENBERG_BOOKS:
                sentences += _paragraphs((folder / f"{book}.txt").read_text(encoding="utf-8"))
        else:
            raise ValueError(f"unknown corpus {name!r}; known: {', '.join(CORPORA)}")
    return sentences


class WordVocab:
    """Words that occur at least ``min_count`` times, most frequent first (ties alphabetical), with their counts."""

    def __init__(self, counts: Counter, min_count: int = 5):
        if min_count < 1:
            raise ValueError(f"min_count must be at least 1, got {min_count}")
        kept = sorted(((w, c) for w, c in counts.items() if c >= min_count), key=lambda wc: (-wc[1], wc[0]))
        if not kept:
            raise ValueError(f"no word occurs {min_count} times or more (the corpus has {len(counts)} distinct words)")
        self.itos = [w for w, _ in kept]
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        self.counts = torch.tensor([c for _, c in kept], dtype=torch.float64)
        self.min_count = min_count

    @classmethod
    def build(cls, sentences: Iterable[Sequence[str]], min_count: int = 5) -> WordVocab:
        return cls(Counter(w for s in sentences for w in s), min_count)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, word: str) -> bool:
        return word in self.stoi

    def encode_corpus(self, sentences: Iterable[Sequence[str]]) -> tuple[torch.Tensor, torch.Tensor]:
        """One int64 stream of the ids of in-vocabulary words (rare words are dropped, as word2vec does) and the
        sentence index of each position (windows never cross a sentence)."""
        ids, sent = [], []
        for i, s in enumerate(sentences):
            kept = [self.stoi[w] for w in s if w in self.stoi]
            ids += kept
            sent += [i] * len(kept)
        if not ids:
            raise ValueError("no word of the corpus is in the vocabulary")
        return torch.tensor(ids), torch.tensor(sent)


# ----------------------------------------------------------------------------------------------------- evaluation

@dataclass(frozen=True)
class Analogy:
    section: str
    a: str
    b: str
    c: str
    d: str  # a is to b as c is to d


def load_analogies() -> list[Analogy]:
    """Mikolov et al.'s 19,544 analogy questions (``questions-words.txt``: 8,869 semantic, 10,675 syntactic, in 14
    sections), lower-cased."""
    out, section = [], ""
    text = (fetch("word2vec-eval") / "questions-words.txt").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line.startswith(":"):
            section = line[1:].strip()
        elif line.strip():
            a, b, c, d = line.lower().split()
            out.append(Analogy(section, a, b, c, d))
    return out


def is_semantic(section: str) -> bool:
    """The paper's split: the five ``gram*`` sections... are syntactic, the rest semantic."""
    return not section.startswith("gram")


def load_wordsim353() -> list[tuple[str, str, float]]:
    """WordSim-353 (Finkelstein et al. 2002): 353 word pairs with their mean human similarity (0-10), lower-cased."""
    text = (fetch("word2vec-eval") / "wordsim353.tsv").read_text(encoding="utf-8")
    rows = [line.split("\t") for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return [(a.lower(), b.lower(), float(s)) for a, b, s in rows]


def _unit(vectors: torch.Tensor) -> torch.Tensor:
    return vectors / vectors.norm(dim=1, keepdim=True).clamp(min=1e-12)


@dataclass
class AnalogyResult:
    accuracy: float  # over the questions answered
    correct: int
    answered: int  # questions whose four words are all in the restricted vocabulary
    total: int
    by_section: dict  # section -> (correct, answered)

    @property
    def coverage(self) -> float:
        return self.answered / self.total

    def split(self, semantic: bool) -> float:
        """Accuracy on the semantic (or syntactic) sections answered."""
        c = a = 0
        for section, (ci, ai) in self.by_section.items():
            if is_semantic(section) == semantic:
                c, a = c + ci, a + ai
        return c / a if a else float("nan")


@torch.no_grad()
def analogies(vectors: torch.Tensor, vocab: WordVocab, questions: Sequence[Analogy], restrict: int | None = 30_000,
              batch_size: int = 1024) -> AnalogyResult:
    """Answer "a is to b as c is to ?" with 3CosAdd (Mikolov et al. 2013): the word whose unit vector has the largest
    cosine with ``b - a + c`` (unit vectors), excluding a, b and c, among the ``restrict`` most frequent words (as
    word2vec's ``compute-accuracy`` and gensim do; ``None``: all). A question with a word outside those is skipped
    and counted in ``total`` but not in ``answered``: report the coverage beside the accuracy."""
    if vectors.dim() != 2 or len(vectors) != len(vocab):
        raise ValueError(f"vectors must be (len(vocab), dim) = ({len(vocab)}, dim), got {tuple(vectors.shape)}")
    if not questions:
        raise ValueError("no analogy questions given")
    n = len(vocab) if restrict is None else min(restrict, len(vocab))
    unit = _unit(vectors[:n].float())
    ok = [q for q in questions if all(vocab.stoi.get(w, n) < n for w in (q.a, q.b, q.c, q.d))]
    by_section = {s: [0, 0] for s in dict.fromkeys(q.section for q in questions)}
    correct = 0
    for i in range(0, len(ok), batch_size):
        chunk = ok[i:i + batch_size]
        idx = torch.tensor([[vocab.stoi[w] for w in (q.a, q.b, q.c, q.d)] for q in chunk], device=unit.device)
        query = unit[idx[:, 1]] - unit[idx[:, 0]] + unit[idx[:, 2]]
        scores = query @ unit.T
        scores.scatter_(1, idx[:, :3], float("-inf"))
        hit = (scores.argmax(1) == idx[:, 3]).tolist()
        for q, h in zip(chunk, hit):
            by_section[q.section][0] += h
            by_section[q.section][1] += 1
            correct += h
    if not ok:
        raise ValueError(f"none of the {len(questions)} analogy questions has all four words among the {n} most "
                         f"frequent words of the vocabulary: train on a larger corpus or raise restrict")
    return AnalogyResult(correct / len(ok), correct, len(ok), len(questions),
                         {s: tuple(v) for s, v in by_section.items()})


@torch.no_grad()
def similarity(vectors: torch.Tensor, vocab: WordVocab, pairs: Sequence[tuple[str, str, float]]) -> tuple[float, int]:
    """Spearman's rank correlation between the cosine of two words' vectors and the human score, over the pairs
    whose words are both in the vocabulary; returns (rho, number of pairs used)."""
    from scipy.stats import spearmanr

    if vectors.dim() != 2 or len(vectors) != len(vocab):
        raise ValueError(f"vectors must be (len(vocab), dim) = ({len(vocab)}, dim), got {tuple(vectors.shape)}")
    used = [(vocab.stoi[a], vocab.stoi[b], s) for a, b, s in pairs if a in vocab and b in vocab]
    if len(used) < 3:
        raise ValueError(f"only {len(used)} of the {len(pairs)} word pairs are in the vocabulary: too few to rank")
    unit = _unit(vectors.double())
    a, b, human = zip(*used)
    cos = (unit[list(a)] * unit[list(b)]).sum(1)
    return float(spearmanr(cos.cpu().numpy(), list(human)).statistic), len(used)
