import json

import pytest

from dlhist.data.tokenizer import BOS, EOS, SPECIALS, BPETokenizer, pretokenize

TEXT = ["A man in a blue shirt is standing on a ladder.", "Two men are playing soccer in the park.",
        "A woman is riding a bicycle down the street.", "The men are standing near the ladder."] * 20


@pytest.fixture(scope="module")
def tok():
    return BPETokenizer.train(TEXT, vocab_size=300)


def test_round_trip_is_exact_for_any_text(tok):
    for s in ["A man is standing.", "", " ", "naïve café — 東京 🙂", "Zwei Männer spielen Fußball.", "a\n\tb  c",
              "don't", "1,234.5%"]:
        assert tok.decode(tok.encode(s)) == s


def test_training_learns_frequent_words_as_single_tokens_and_is_deterministic(tok):
    assert len(tok) == 300 and len(tok.merges) == 300 - len(SPECIALS) - 256
    assert len(tok.encode(" standing")) == 1 and tok.token(tok.encode(" standing")[0]) == " standing"
    assert BPETokenizer.train(TEXT, vocab_size=300).merges == tok.merges
    # unseen text still encodes, at more tokens per character
    assert len(tok.encode(" xylophone")) > len(tok.encode(" standing"))


def test_merges_are_applied_in_the_order_learned():
    t = BPETokenizer.train(["aaab"] * 10 + ["ab"] * 3, vocab_size=262)
    # first merge: (a, a) is the most frequent pair (20) before (a, b) (13)
    a = 4 + ord("a")
    assert t.merges[0] == (a, a)
    assert t.decode(t.encode("aaab")) == "aaab"


def test_special_tokens_and_limits(tok):
    ids = tok.encode("A man.", bos=True, eos=True)
    assert ids[0] == BOS and ids[-1] == EOS and tok.decode(ids) == "A man."
    assert tok.encode("", bos=True, eos=True) == [BOS, EOS]
    with pytest.raises(ValueError, match=r"needs \d+ tokens, more than max_len=3"):
        tok.encode("A man in a blue shirt is standing on a ladder.", max_len=3)
    with pytest.raises(ValueError, match="outside this tokenizer's vocabulary of 300"):
        tok.decode([5, 300])
    with pytest.raises(TypeError, match="expects a str"):
        tok.encode(None)
    with pytest.raises(ValueError, match="at least 260"):
        BPETokenizer.train(TEXT, vocab_size=100)
    with pytest.raises(ValueError, match="empty text"):
        BPETokenizer.train(["", ""], vocab_size=300)


def test_save_load_and_foreign_files(tok, tmp_path):
    path = tmp_path / "bpe.json"
    tok.save(path)
    again = BPETokenizer.load(path)
    assert again.merges == tok.merges and again.encode("Two men.") == tok.encode("Two men.")
    other = tmp_path / "hf.json"
    other.write_text(json.dumps({"model": {"type": "BPE", "vocab": {}, "merges": []}}))
    with pytest.raises(ValueError, match="written by another tokenizer"):
        BPETokenizer.load(other)
    broken = tmp_path / "broken.json"
    broken.write_text("not json")
    with pytest.raises(ValueError, match="not JSON"):
        BPETokenizer.load(broken)


def test_pretokenizer_keeps_leading_spaces_and_splits_punctuation():
    assert pretokenize("A man's hat, 42 times!") == ["A", " man", "'s", " hat", ",", " 42", " times", "!"]
    assert "".join(pretokenize("naïve  café\n")) == "naïve  café\n"


def test_fingerprint_identifies_the_merges(tok, tmp_path):
    fp = tok.fingerprint
    assert len(fp) == 12 and int(fp, 16) >= 0
    tok.save(tmp_path / "bpe.json")
    assert BPETokenizer.load(tmp_path / "bpe.json").fingerprint == fp
    assert BPETokenizer(tok.merges[:-1]).fingerprint != fp
    with pytest.raises(AttributeError):
        tok.fingerprint = "0" * 12
