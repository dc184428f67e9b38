import zipfile

import pytest

from dlhist.data import fetch
from dlhist.data.sentiment import leaks, lexicon_score, load_movie_reviews, load_opinion_lexicon, load_sst2


def test_leaks_finds_whole_sentences_only():
    corpus = ["it was a film about nothing , and it showed . the end", "short one"]
    found = leaks(corpus, ["a film about nothing , and it showed", "a film about everything , and it showed",
                           "short one"])
    assert found == ["a film about nothing , and it showed"]  # "short one" is under min_words


def test_a_bad_split_is_named():
    with pytest.raises(ValueError, match="test split has no labels"):
        load_sst2("test")


def test_sst2_and_movie_reviews_from_the_mirror(mirror):
    train, train_labels = load_sst2("train")
    dev, dev_labels = load_sst2("dev")
    assert (len(train), len(dev)) == (67_349, 872) and set(dev_labels.tolist()) == {0, 1}
    assert len(train_labels) == len(train) and abs(dev_labels.float().mean().item() - 0.509) < 0.001
    reviews = load_movie_reviews()
    assert len(reviews) == 2_000 and reviews[0].startswith("plot : two teen couples")
    # The pre-training corpus must not contain the test set; the detector does find the corpus that does.
    assert leaks(reviews, dev) == []
    with zipfile.ZipFile(fetch("sentence_polarity") / "corpora" / "sentence_polarity.zip") as z:
        polarity = [z.read(n).decode("latin-1") for n in z.namelist() if n.endswith((".pos", ".neg"))]
    assert len(leaks(polarity, dev)) > 400


def test_opinion_lexicon_from_the_mirror(mirror):
    positive, negative = load_opinion_lexicon()
    assert (len(positive), len(negative)) == (2_006, 4_783)  # Hu & Liu's counts, as the mirror's manifest gives them
    assert "wonderful" in positive and "dull" in negative
    assert positive & negative == {"envious", "enviously", "enviousness"}  # listed on both sides by the authors
    assert lexicon_score("a wonderful , brilliant film", positive, negative) == 2
    assert lexicon_score("dull and lifeless", positive, negative) == -2


def test_no_sst2_dev_sentence_is_in_any_corpus_that_section_04_trains_on(mirror):
    """BERT, T5, LoRA and RLHF pre-train on the movie reviews and train labelers and reward models on SST-2 train:
    none may contain an SST-2 dev sentence, the test set of all four."""
    dev, _ = load_sst2("dev")
    train, _ = load_sst2("train")
    assert leaks(load_movie_reviews(), dev) == []
    assert leaks(train, dev) == []
