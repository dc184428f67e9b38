"""Sentiment data: SST-2 (labelled sentences) and NLTK's movie reviews (unlabelled text for pre-training).

    train_sents, train_labels = load_sst2("train")   # 67,349 phrases, labels 0 (negative) / 1 (positive)
    dev_sents, dev_labels = load_sst2("dev")         # 872 sentences: GLUE's dev set, our test set (test has no labels)
    reviews = load_movie_reviews()                   # 2,000 full reviews (Pang & Lee 2004), one string each
    positive, negative = load_opinion_lexicon()      # Hu & Liu (2004): 2,006 positive and 4,783 negative words
    leaks(reviews, dev_sents)                        # the dev sentences that occur verbatim in the reviews: none

Both are lower-cased and tokenized with spaces around punctuation, so a tokenizer trained on the reviews sees SST-2
text in the same form. SST-2 (Socher et al. 2013) comes from Rotten Tomatoes snippets; the movie reviews are IMDb
reviews, a different source. NLTK's ``sentence_polarity`` corpus is *not* loaded here: it holds most SST-2 dev
sentences verbatim, so a model pre-trained on it would have seen the test set.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable, Sequence

import torch

from .registry import fetch

SPLITS = ("train", "dev")


def load_sst2(split: str = "train") -> tuple[list[str], torch.Tensor]:
    """The sentences of an SST-2 split and their labels (int64, 1 = positive). ``split`` is ``"train"`` or
    ``"dev"``; GLUE's test split has no labels, so the dev split serves as the test set."""
    if split not in SPLITS:
        raise ValueError(f"SST-2 split must be one of {SPLITS} (GLUE's test split has no labels), got {split!r}")
    path = fetch("sst2") / f"{split}.tsv"
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0].split("\t") != ["sentence", "label"]:
        raise ValueError(f"{path} does not start with the header 'sentence<TAB>label' of GLUE's SST-2")
    sentences, labels = [], []
    for n, line in enumerate(lines[1:], start=2):
        sentence, sep, label = line.rpartition("\t")
        if not sep or label not in ("0", "1"):
            raise ValueError(f"{path}, line {n}: expected 'sentence<TAB>0|1', got {line[:80]!r}")
        sentences.append(sentence.strip())
        labels.append(int(label))
    return sentences, torch.tensor(labels)


def load_movie_reviews() -> list[str]:
    """The 2,000 reviews of NLTK's ``movie_reviews`` corpus (1,000 negative then 1,000 positive), one string each,
    lines joined by spaces."""
    with zipfile.ZipFile(fetch("movie_reviews") / "corpora" / "movie_reviews.zip") as z:
        names = sorted(n for n in z.namelist() if re.fullmatch(r"movie_reviews/(neg|pos)/cv\d+_\d+\.txt", n))
        return [" ".join(z.read(n).decode("utf-8").split()) for n in names]


def load_opinion_lexicon() -> tuple[frozenset[str], frozenset[str]]:
    """The positive and negative words of Hu & Liu's (2004) opinion lexicon (NLTK's ``opinion_lexicon``), lower
    case: a judge of sentiment that no model here was trained on."""
    with zipfile.ZipFile(fetch("opinion_lexicon") / "corpora" / "opinion_lexicon.zip") as z:
        def words(name: str) -> frozenset[str]:
            lines = z.read(f"opinion_lexicon/{name}-words.txt").decode("latin-1").splitlines()
            return frozenset(w.strip().lower() for w in lines if w.strip() and not w.startswith(";"))
        return words("positive"), words("negative")


def lexicon_score(text: str, positive: frozenset[str], negative: frozenset[str]) -> int:
    """Positive minus negative lexicon words in ``text`` (split on whitespace): a crude, transparent judge."""
    words = text.lower().split()
    return sum(w in positive for w in words) - sum(w in negative for w in words)


def _normal(text: str) -> str:
    return " ".join(text.split())


def leaks(corpus: Iterable[str], sentences: Sequence[str], min_words: int = 6) -> list[str]:
    """The ``sentences`` (of at least ``min_words`` words; shorter ones occur anywhere by chance) that appear
    verbatim, up to whitespace, inside any text of ``corpus``: the test for a pre-training corpus that has seen the
    evaluation set."""
    haystack = "\n".join(_normal(t) for t in corpus)
    return [s for s in sentences if len(s.split()) >= min_words and _normal(s) in haystack]


__all__ = ["leaks", "lexicon_score", "load_movie_reviews", "load_opinion_lexicon", "load_sst2"]
