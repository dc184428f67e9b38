import math

import pytest
import torch

from dlhist.scratch.word2vec import (
    NoiseTable,
    SkipGram,
    SkipGramBatches,
    cooccurrence_rows,
    keep_probability,
    phrase_scores,
    ppmi,
    skipgram_pairs,
)


def test_keep_probability_is_word2vecs_formula_and_spares_rare_words():
    counts = torch.tensor([1e6, 1e4, 10.0])
    f = counts / counts.sum()
    keep = keep_probability(counts, 1e-3)
    torch.testing.assert_close(keep[0], ((f[0] / 1e-3).sqrt() + 1) * 1e-3 / f[0], check_dtype=False)
    assert keep[0] < keep[1] <= keep[2] == 1.0  # frequent words are dropped most, rare ones never
    # the paper's discard probability 1 - sqrt(t / f) keeps sqrt(t / f); word2vec.c keeps a little more
    assert math.sqrt(1e-3 / f[0]) < keep[0] < math.sqrt(1e-3 / f[0]) + 1e-3 / f[0] + 1e-12
    assert (keep_probability(counts, None) == 1).all() and (keep_probability(counts, 0) == 1).all()
    with pytest.raises(ValueError, match="positive"):
        keep_probability(counts, -1e-4)


def brute_pairs(ids, sentence, b):
    out = []
    for i in range(len(ids)):
        for j in range(max(0, i - b[i]), min(len(ids), i + b[i] + 1)):
            if j != i and sentence[j] == sentence[i]:
                out.append((int(ids[i]), int(ids[j])))
    return sorted(out)


@pytest.mark.parametrize("window", [1, 3, 5])
def test_skipgram_pairs_are_every_pair_of_each_centers_reduced_window_within_its_sentence(window):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 50, (200,), generator=g)
    sentence = torch.arange(200) // 17
    seed = 3
    c, o = skipgram_pairs(ids, sentence, window, generator=torch.Generator().manual_seed(seed))
    b = torch.randint(1, window + 1, (200,), generator=torch.Generator().manual_seed(seed)).tolist()
    assert sorted(zip(c.tolist(), o.tolist())) == brute_pairs(ids.tolist(), sentence.tolist(), b)


def test_subsampling_drops_frequent_words_before_the_windows_are_drawn():
    ids = torch.tensor([0, 1] * 500)
    sentence = torch.zeros(1000, dtype=torch.long)
    keep = torch.tensor([0.0, 1.0])  # word 0 always dropped: the 1s become neighbours
    c, o = skipgram_pairs(ids, sentence, 2, keep, torch.Generator().manual_seed(0))
    assert len(c) > 0 and (c == 1).all() and (o == 1).all()
    with pytest.raises(ValueError, match="same shape|one shape"):
        skipgram_pairs(ids, sentence[:10], 2)
    with pytest.raises(ValueError, match="window"):
        skipgram_pairs(ids, sentence, 0)


def test_noise_table_draws_the_unigram_distribution_to_the_three_quarters():
    counts = torch.tensor([1000.0, 100.0, 10.0, 1.0])
    noise = NoiseTable(counts, size=100_000)
    p = counts ** 0.75 / (counts ** 0.75).sum()
    draws = noise.sample((200_000,), torch.Generator().manual_seed(0))
    freq = torch.bincount(draws, minlength=4).double() / len(draws)
    torch.testing.assert_close(freq, p.double(), atol=5e-3, rtol=0)


def test_skipgram_gradient_is_word2vecs_update():
    """One SGD step on the summed loss equals word2vec.c's per-pair update (for pairs with distinct words)."""
    torch.manual_seed(0)
    m = SkipGram(10, 4, sparse=False)
    with torch.no_grad():
        m.out.weight.normal_()
    v0, u0 = m.inp.weight.detach().clone(), m.out.weight.detach().clone()
    c, o, neg = torch.tensor([1]), torch.tensor([2]), torch.tensor([[3, 4]])
    m(c, o, neg)["loss"].backward()
    lr = 0.025
    # word2vec.c: g = (label - sigmoid(u . v)) * lr; neu1e += g * u; u += g * v; then v += neu1e
    neu1e = torch.zeros(4)
    u_new = u0.clone()
    for target, label in ((2, 1.0), (3, 0.0), (4, 0.0)):
        g = (label - torch.sigmoid(u0[target] @ v0[1])) * lr
        neu1e += g * u0[target]
        u_new[target] += g * v0[1]
    torch.testing.assert_close(v0[1] - lr * m.inp.weight.grad[1], v0[1] + neu1e)
    torch.testing.assert_close(u0 - lr * m.out.weight.grad, u_new)


def test_skipgram_ignores_a_negative_equal_to_the_context_and_checks_shapes():
    m = SkipGram(10, 4)
    a = m(torch.tensor([1]), torch.tensor([2]), torch.tensor([[2, 3]]))["loss"]
    b = m(torch.tensor([1]), torch.tensor([2]), torch.tensor([[3]]))["loss"]
    torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match=r"\(B, K\)"):
        m(torch.tensor([1, 2]), torch.tensor([2]), torch.tensor([[3]]))


def test_skipgram_batches_count_pairs_and_train_through_fit():
    import dlhist

    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 20, (500,), generator=g)
    sentence = torch.arange(500) // 25
    counts = torch.bincount(ids, minlength=20).double()
    batches = SkipGramBatches(ids, sentence, NoiseTable(counts), window=2, epochs=2, batch_size=64)
    assert len(batches) == math.ceil(batches.pairs / 64)
    sub = SkipGramBatches(ids, sentence, NoiseTable(counts), window=2, epochs=2, batch_size=64,
                          keep=keep_probability(counts, 1e-2))
    assert sub.pairs < batches.pairs
    model = SkipGram(20, 8)
    h = dlhist.fit(model, batches, epochs=1, loss_fn=None, optimizer=torch.optim.SGD(model.parameters(), lr=0.025),
                   verbose=-1)
    assert math.isfinite(h.series("loss")[1][-1]) and "nats_per_pair" in h.keys()


def test_phrase_score_prefers_words_that_occur_together():
    # "new york" always together; "of the" just as often, but both words are everywhere
    sentences = [["new", "york"]] * 10 + [["of", "the"]] * 10 + [["the", "city", "of", "paris"]] * 20
    scores = {pair: s for pair, s, _ in phrase_scores(sentences, delta=1, min_count=2)}
    assert max(scores, key=scores.get) == ("new", "york")
    assert scores[("new", "york")] == pytest.approx((10 - 1) / (10 * 10))
    assert scores[("of", "the")] == pytest.approx((10 - 1) / (30 * 30))


def test_cooccurrence_rows_and_ppmi_against_brute_force():
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 6, (300,), generator=g)
    sentence = torch.arange(300) // 30
    rows = torch.tensor([0, 4])
    counts, totals = cooccurrence_rows(ids, sentence, rows, 6, window=2)
    brute = torch.zeros(2, 6, dtype=torch.float64)
    brute_tot = torch.zeros(6, dtype=torch.float64)
    for i in range(300):
        for j in range(max(0, i - 2), min(300, i + 3)):
            if j != i and sentence[i] == sentence[j]:
                brute_tot[ids[j]] += 1
                for r, w in enumerate(rows.tolist()):
                    if ids[i] == w:
                        brute[r, ids[j]] += 1
    torch.testing.assert_close(counts, brute)
    torch.testing.assert_close(totals, brute_tot)
    p = ppmi(counts, counts.sum(1), totals, float(totals.sum()))
    expected = torch.log(counts * totals.sum() / (counts.sum(1, keepdim=True) * totals)).clamp(min=0)
    torch.testing.assert_close(p, expected.nan_to_num(0.0, neginf=0.0))


def test_skipgram_learns_what_gensims_word2vec_learns_on_a_planted_corpus():
    """The twin check: on a corpus where words of one class share their contexts, our skip-gram and gensim's
    (word2vec.c's algorithm), trained with the same settings, both put each word next to its classmates."""
    gensim = pytest.importorskip("gensim")
    import dlhist
    from dlhist.data.words import WordVocab

    g = torch.Generator().manual_seed(0)
    classes = {"animal": ["cat", "dog", "horse", "cow", "sheep"], "food": ["bread", "rice", "soup", "meat", "fish"],
               "place": ["city", "town", "farm", "house", "field"]}
    verbs = {"animal": "runs", "food": "tastes", "place": "lies"}

    def pick(words):
        return words[int(torch.randint(len(words), (1,), generator=g))]

    sentences = []
    for _ in range(3000):
        kind = list(classes)[int(torch.randint(3, (1,), generator=g))]
        sentences.append(["the", pick(classes[kind]), verbs[kind], "near", "the", pick(classes["place"])])
    vocab = WordVocab.build(sentences, 1)
    ids, sent = vocab.encode_corpus(sentences)
    # small batches: a third of this corpus is "the", and a batch sums the updates of all its pairs at once
    batches = SkipGramBatches(ids, sent, NoiseTable(vocab.counts), window=2, epochs=5, batch_size=16, seed=0)
    torch.manual_seed(0)
    ours = SkipGram(len(vocab), 16)
    dlhist.fit(ours, batches, epochs=1, loss_fn=None, optimizer=torch.optim.SGD(ours.parameters(), lr=0.025),
               verbose=-1)
    ref = gensim.models.Word2Vec(sentences, vector_size=16, window=2, min_count=1, sg=1, hs=0, negative=5, sample=0,
                                 epochs=5, workers=1, seed=0)
    theirs = torch.tensor(ref.wv.vectors)[[ref.wv.key_to_index[w] for w in vocab.itos]]

    def classmate_rate(vectors):
        unit = vectors / vectors.norm(dim=1, keepdim=True)
        hits = total = 0
        for members in classes.values():
            for w in members:
                sims = unit @ unit[vocab.stoi[w]]
                sims[vocab.stoi[w]] = -2
                best = vocab.itos[int(sims.argmax())]
                hits += best in members
                total += 1
        return hits / total

    assert classmate_rate(ours.vectors) >= 0.9 and classmate_rate(theirs) >= 0.9
