import pytest
import torch

from dlhist.data import elman


def seeded(seed):
    return torch.Generator().manual_seed(seed)


def test_every_third_bit_is_the_xor_of_the_two_before():
    bits = elman.temporal_xor(3000, generator=seeded(0)).long()
    assert bits.shape == (3000,) and set(bits.unique().tolist()) == {0, 1}
    assert torch.equal(bits[2::3], bits[0::3] ^ bits[1::3])
    assert 0.45 < bits[0::3].float().mean() < 0.55 and 0.45 < bits[1::3].float().mean() < 0.55
    # the free bits are independent coin flips: the XOR rule does not hold for the other alignments
    assert (bits[3::3] == bits[1:-2:3] ^ bits[2:-1:3]).float().mean() < 0.6
    mask = elman.predictable(3000)
    assert mask.sum() == 1000 and mask[2::3].all()


def test_batches_lengths_and_dtypes():
    batch = elman.temporal_xor(10, batch=4, generator=seeded(1), dtype=torch.float64)
    assert batch.shape == (4, 10) and batch.dtype == torch.float64
    assert torch.equal(batch[:, 2::3].long(), batch[:, 0:9:3].long() ^ batch[:, 1:9:3].long())
    assert not torch.equal(batch[0], batch[1])  # independent streams
    assert elman.temporal_xor(1, generator=seeded(0)).shape == (1,)


def test_xor_batches_predict_the_next_bit_and_restart_on_each_pass():
    batches = elman.XorBatches(4, 9, seed=3)
    (x, y), (x2, _) = [b for b, _ in zip(batches, range(2))]
    assert x.shape == (4, 9, 1) and y.shape == (4, 9)
    assert torch.equal(x[:, 1:, 0], y[:, :-1]) and not torch.equal(x, x2)
    stream = torch.cat([x[:, :, 0], y[:, -1:]], 1).long()[:, :9]
    assert torch.equal(stream[:, 2::3], stream[:, 0::3] ^ stream[:, 1::3])
    assert torch.equal(next(iter(batches))[0], x)  # a second pass starts the same stream again
    with pytest.raises(ValueError, match="batch_size"):
        elman.XorBatches(0, 9)


def test_seeds_reproduce():
    assert torch.equal(elman.temporal_xor(300, generator=seeded(5)), elman.temporal_xor(300, generator=seeded(5)))
    assert not torch.equal(elman.temporal_xor(300, generator=seeded(5)), elman.temporal_xor(300, generator=seeded(6)))
    a, b = elman.sentences(200, generator=seeded(5)), elman.sentences(200, generator=seeded(5))
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert not torch.equal(a.ids, elman.sentences(200, generator=seeded(6)).ids)


def is_instance_of(sentence, template):
    return len(sentence) == len(template) and all(w in elman.CATEGORIES[c] for w, c in zip(sentence, template))


def test_the_generator_only_emits_sentences_of_its_templates():
    stream = elman.sentences(5000, generator=seeded(0))
    sentences = elman.split(stream)
    assert len(sentences) == 5000
    for sentence, t in zip(sentences, stream.template.tolist()):
        assert is_instance_of(sentence, elman.TEMPLATES[t]), (sentence, elman.TEMPLATES[t])
    # every template, and every word of the lexicon, is used; templates are drawn about uniformly
    counts = torch.bincount(stream.template, minlength=16)
    assert len(elman.TEMPLATES) == 16 and counts.min() > 5000 / 16 * 0.75
    assert set(elman.decode(stream.ids)) == set(elman.WORDS)
    assert len(elman.WORDS) == 29 and len(elman.NOUNS) == 18 and len(elman.VERBS) == 11
    assert not elman.NOUNS & elman.VERBS
    # the stream is the sentences concatenated, with their positions
    assert stream.ids.shape == stream.sentence.shape == stream.position.shape
    assert stream.ids.shape[0] == sum(len(s) for s in sentences)
    assert torch.equal(stream.sentence, torch.sort(stream.sentence).values)
    assert (stream.position[1:] == torch.where(stream.sentence[1:] == stream.sentence[:-1],
                                               stream.position[:-1] + 1, torch.zeros_like(stream.position[1:]))).all()


def test_every_sentence_starts_with_a_noun_followed_by_a_verb():
    stream = elman.sentences(500, generator=seeded(2))
    for sentence in elman.split(stream):
        assert sentence[0] in elman.NOUNS and sentence[1] in elman.VERBS
        assert len(sentence) == 2 or sentence[2] in elman.NOUNS


def test_lexical_classes_cover_the_lexicon():
    classes = {w: elman.lexical_class(w) for w in elman.WORDS}
    assert all(c.startswith("noun") == (w in elman.NOUNS) for w, c in classes.items())
    assert classes["think"] == classes["sleep"] != classes["chase"] == classes["eat"]
    assert classes["man"] == classes["girl"] != classes["dog"] == classes["dragon"]
    assert classes["glass"] == classes["plate"] != classes["cookie"]
    with pytest.raises(ValueError, match="word"):
        elman.lexical_class("unicorn")


def test_impossible_arguments_name_the_argument():
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="length"):
            elman.temporal_xor(bad)
        with pytest.raises(ValueError, match="n_sentences"):
            elman.sentences(bad)
    with pytest.raises(ValueError, match="batch"):
        elman.temporal_xor(9, batch=0)
    with pytest.raises(ValueError, match="length"):
        elman.predictable(0)
    with pytest.raises(ValueError, match="ids"):
        elman.decode([0, 29])
