from collections import Counter

import pytest
import torch

from dlhist.data import words
from dlhist.data.words import Analogy, WordVocab, analogies, similarity, tokenize


def test_tokenize_keeps_lower_case_words_with_inner_apostrophes_and_hyphens():
    assert tokenize("Don't stop -- the well-known 3 cats' 'tail'!") == ["don't", "stop", "the", "well-known", "cats",
                                                                      "tail"]
    assert tokenize("") == [] and tokenize("123 ...") == []
    assert tokenize("Prince Bolkónski left Yaroslávl") == ["prince", "bolkonski", "left", "yaroslavl"]


def test_vocab_orders_by_frequency_and_drops_rare_words():
    sentences = [["b", "a", "b"], ["c", "a", "b", "d"]]
    vocab = WordVocab.build(sentences, min_count=2)
    assert vocab.itos == ["b", "a"] and vocab.counts.tolist() == [3, 2] and "c" not in vocab
    ids, sent = vocab.encode_corpus(sentences)
    assert ids.tolist() == [0, 1, 0, 1, 0] and sent.tolist() == [0, 0, 0, 1, 1]
    with pytest.raises(ValueError, match="no word occurs 9 times"):
        WordVocab.build(sentences, min_count=9)
    with pytest.raises(ValueError, match="min_count"):
        WordVocab(Counter(), 0)


def toy_vectors():
    # man, woman, king, queen, apple: queen = king - man + woman exactly
    vocab = WordVocab(Counter({"man": 9, "woman": 8, "king": 7, "queen": 6, "apple": 5}), 1)
    v = torch.tensor([[1.0, 0, 0], [1, 1, 0], [1, 0, 1], [1, 1, 1], [0, 0, -1]])
    return vocab, v


def test_analogies_answer_by_3cosadd_and_report_coverage():
    vocab, v = toy_vectors()
    qs = [Analogy("royal", "man", "woman", "king", "queen"), Analogy("gram", "man", "king", "woman", "queen"),
          Analogy("royal", "man", "woman", "king", "prince")]  # "prince": not in the vocabulary, skipped
    r = analogies(v, vocab, qs)
    assert (r.correct, r.answered, r.total) == (2, 2, 3) and r.accuracy == 1.0
    assert r.coverage == pytest.approx(2 / 3) and r.split(semantic=True) == 1.0
    # a query word is never the answer: "man : man :: king : king" is wrong, though king is closest to the query
    assert analogies(v, vocab, [Analogy("x", "man", "man", "king", "king")]).accuracy == 0.0
    # restricting to the 3 most frequent words leaves no answerable question: a clear error
    with pytest.raises(ValueError, match="none of the 3 analogy questions"):
        analogies(v, vocab, qs, restrict=3)
    with pytest.raises(ValueError, match=r"\(5, dim\)"):
        analogies(v[:4], vocab, qs)


def test_similarity_is_spearmans_rho_over_known_pairs():
    vocab, v = toy_vectors()
    pairs = [("king", "queen", 9.0), ("man", "woman", 7.0), ("king", "apple", 1.0), ("man", "unicorn", 5.0)]
    rho, used = similarity(v, vocab, pairs)
    cos = torch.nn.functional.cosine_similarity
    assert used == 3
    assert cos(v[2], v[3], dim=0) > cos(v[0], v[1], dim=0) > cos(v[2], v[4], dim=0) and rho == pytest.approx(1.0)
    with pytest.raises(ValueError, match="only 1 of the 2"):
        similarity(v, vocab, [("king", "queen", 1.0), ("x", "y", 2.0)])


def test_evaluation_sets_from_the_mirror(mirror):
    qs = words.load_analogies()
    assert len(qs) == 19_544  # Mikolov et al. 2013a: 8,869 semantic and 10,675 syntactic questions
    assert sum(words.is_semantic(q.section) for q in qs) == 8_869
    assert qs[0] == Analogy("capital-common-countries", "athens", "greece", "baghdad", "iraq")
    pairs = words.load_wordsim353()
    assert len(pairs) == 353 and pairs[0] == ("love", "sex", 6.77)


def test_corpora_from_the_mirror(mirror):
    brown = words.load_corpus("brown")
    assert len(brown) > 50_000 and 900_000 < sum(map(len, brown)) < 1_161_192  # punctuation dropped
    assert brown[0][:4] == ["the", "fulton", "county", "grand"]
    books = words.load_corpus("gutenberg")
    assert sum(map(len, books)) > 1_000_000
    with pytest.raises(ValueError, match="unknown corpus 'wiki'"):
        words.load_corpus(["brown", "wiki"])
