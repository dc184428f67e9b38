
import pytest
import torch

from dlhist.data.parallel import PairBatches, encode_pairs, load_multi30k, make_batch, pad
from dlhist.data.tokenizer import BOS, EOS, PAD, BPETokenizer

PAIRS = [("A dog runs.", "Un chien court."), ("Two men are talking in the street.", "Deux hommes parlent dans la rue."),
         ("A girl.", "Une fille."), ("A man rides a horse on the beach.", "Un homme monte un cheval sur la plage.")]


@pytest.fixture(scope="module")
def tok():
    return BPETokenizer.train([s for p in PAIRS for s in p] * 5, vocab_size=320)


def test_batches_pad_and_shift_the_target(tok):
    data = encode_pairs(PAIRS, tok)
    assert data[0][1][0] == BOS and data[0][1][-1] == EOS and BOS not in data[0][0]
    b = make_batch(data[:2])
    assert b["src"].shape[0] == 2 and (b["src_mask"] == (b["src"] != PAD)).all()
    assert (b["tgt_in"][:, 0] == BOS).all()
    torch.testing.assert_close(b["tgt_in"][:, 1:], b["tgt_out"][:, :-1])  # teacher forcing: shifted by one
    short = len(data[0][1]) - 1
    assert (b["tgt_out"][0, short:] == PAD).all() and b["tgt_out"][0, short - 1] == EOS
    assert tok.decode(b["src"][1].tolist()) == PAIRS[1][0]
    rev = encode_pairs(PAIRS, tok, reverse_source=True)
    assert rev[1][0] == data[1][0][::-1] and rev[1][1] == data[1][1]


def test_long_pairs_are_named_not_cut(tok):
    longest = max(len(tok.encode(t, bos=True, eos=True)) for _, t in PAIRS)
    with pytest.raises(ValueError, match=rf"pair 3: the text needs {longest} tokens, more than max_len={longest - 1}"):
        encode_pairs(PAIRS, tok, max_len=longest - 1)
    with pytest.raises(ValueError, match="at least one"):
        pad([])


def test_pair_batches_cover_every_pair_once_per_pass(tok):
    data = encode_pairs(PAIRS * 10, tok)
    batches = PairBatches(data, batch_size=3, shuffle=True, pool=2, generator=torch.Generator().manual_seed(0))
    seen = sum(b["src"].shape[0] for b in batches)
    assert len(batches) == 14 and seen == 40
    with pytest.raises(ValueError, match="positive"):
        PairBatches(data, batch_size=0)


def test_multi30k_splits_and_no_test_sentence_in_training(mirror):
    train = load_multi30k("train", "en", "fr")
    test = load_multi30k("test", "en", "fr")
    val = load_multi30k("val", "en", "de")
    assert (len(train), len(val), len(test)) == (29_000, 1_014, 1_000)
    assert train[0] == ("Two young, White males are outside near many bushes.",
                        "Deux jeunes hommes blancs sont dehors près de buissons.")
    # the leak check: no test sentence, in any language, appears in the training data
    for lang in ("en", "de", "fr"):
        seen = {s for s, _ in load_multi30k("train", lang, "en")}
        assert not [s for s, _ in load_multi30k("test", lang, "en") if s in seen]
    # validation: one English caption of 1,014 is also a training caption (with another translation)
    seen_en = {s for s, _ in train}
    assert sum(s in seen_en for s, _ in val) == 1
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        load_multi30k("dev")
    with pytest.raises(ValueError, match="unknown language 'es'"):
        load_multi30k("train", "en", "es")
