import zipfile

import pytest

from dlhist.data import fetch
from dlhist.data.sentiment import leaks, load_movie_reviews, load_sst2


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
