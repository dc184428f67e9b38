import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlhist.data import text


def test_vocab_round_trip_and_sorted_ids():
    v = text.Vocab.from_text("hello world")
    assert len(v) == 8 and v.itos == sorted(set("hello world"))
    ids = v.encode("low hello")
    assert ids.dtype == torch.long and v.decode(ids) == "low hello"
    assert v.decode(ids.tolist()) == "low hello"
    with pytest.raises(ValueError, match="not in the vocabulary"):
        v.encode("xyz")


def test_sequences_are_shifted_windows():
    ids = torch.arange(20)
    d = text.sequences(ids, seq_len=4)
    assert d.x.shape == d.y.shape == (4, 4)  # 19 usable targets -> 4 full windows of 4
    assert torch.equal(d.x[1], torch.tensor([4, 5, 6, 7])) and torch.equal(d.y[1], torch.tensor([5, 6, 7, 8]))
    assert torch.equal(d.x[:, 1:], d.y[:, :-1])
    overlapping = text.sequences(ids, seq_len=4, stride=2)
    assert len(overlapping) == 8 and torch.equal(overlapping.x[1], torch.tensor([2, 3, 4, 5]))
    last = text.sequences(ids, seq_len=19)
    assert len(last) == 1 and last.y[0, -1] == 19
    with pytest.raises(ValueError, match="too short"):
        text.sequences(ids, seq_len=20)


def test_split_is_contiguous():
    ids = torch.arange(100)
    tr, va = text.split(ids, 0.1)
    assert torch.equal(torch.cat([tr, va]), ids) and len(va) == 10
    with pytest.raises(ValueError):
        text.split(ids, 1.5)


def test_loss_accuracy_and_bits_per_char():
    logits = torch.randn(3, 5, 7)
    y = torch.randint(0, 7, (3, 5))
    torch.testing.assert_close(text.char_loss(logits, y), F.cross_entropy(logits.transpose(1, 2), y))
    perfect = F.one_hot(y, 7).float() * 10
    assert text.char_accuracy(perfect, y).item() == 1.0
    assert text.bits_per_char(math.log(2)) == pytest.approx(1.0)
    uniform = torch.zeros(2, 4, 8)
    assert text.bits_per_char(text.char_loss(uniform, torch.zeros(2, 4, dtype=torch.long)).item()) == pytest.approx(3)


class _Bigram(nn.Module):
    def __init__(self, v):
        super().__init__()
        self.table = nn.Embedding(v, v)

    def forward(self, x):
        return self.table(x)


def test_sample_continues_the_prompt_with_the_models_choice():
    v = text.Vocab.from_text("ab")
    model = _Bigram(len(v))
    with torch.no_grad():  # a -> b, b -> a, deterministically
        model.table.weight.copy_(torch.tensor([[-9.0, 9.0], [9.0, -9.0]]))
    assert text.sample(model, v, "a", 5, temperature=0) == "ababab"
    out = text.sample(model, v, "ba", 4, temperature=1.0, context=1, generator=torch.Generator().manual_seed(0))
    assert out == "baba" + "ba" and model.training


def test_tiny_shakespeare_windows(monkeypatch, tmp_path):
    path = tmp_path / "tinyshakespeare"
    path.mkdir()
    (path / "input.txt").write_text("First Citizen:\nBefore we proceed any further, hear me speak.\n" * 20)
    monkeypatch.setattr(text, "fetch", lambda name: path)
    vocab, train, val = text.load_chars(seq_len=16, val_fraction=0.2)
    assert vocab.decode(train.x[0]) + vocab.decode(train.y[0][-1:]) == "First Citizen:\nBe"
    assert train.x.shape[1] == val.x.shape[1] == 16 and len(train) >= 3 * len(val) > 0
    _, small, _ = text.load_chars(seq_len=16, n_train=3)
    assert len(small) == 3
    with pytest.raises(ValueError, match="unknown text corpus"):
        text.load_text("nope")


def test_random_windows_are_shifted_slices_of_the_text_and_repeat_for_a_seed():
    ids = torch.arange(100)
    x, y = text.random_windows(ids, batch=6, context=8, generator=torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (6, 8) and torch.equal(x[:, 1:], y[:, :-1])
    assert torch.equal(x, x[:, :1] + torch.arange(8)) and (y[:, -1] <= 99).all()  # consecutive ids, inside the text
    a, b = text.window_batches(ids, 4, 8, steps=3, seed=1), text.window_batches(ids, 4, 8, steps=3, seed=1)
    assert len(a) == 3 and all(torch.equal(p[0], q[0]) for p, q in zip(a, b))
    assert not torch.equal(a[0][0], a[1][0])
    with pytest.raises(ValueError, match="too short for windows of 99"):
        text.random_windows(ids, 2, 99)
