import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlhist.data import music

PIECES = {
    "train": [[[60, 64], [62], []], [[59, 62, 67]]],
    "valid": [[[60], [61], [60], [58]]],
    "test": [[[57, 64], [60]]],
}


@pytest.fixture
def toy(tmp_path):
    path = tmp_path / "toy.json"
    path.write_text(json.dumps(PIECES))
    return path


def test_piano_roll_marks_the_sounding_pitches():
    roll = music.piano_roll([[60, 64], [62], []], range(58, 66))
    assert roll.shape == (3, 8) and roll.dtype == torch.float32
    assert roll[0].nonzero().flatten().tolist() == [2, 6] and roll[1].nonzero().flatten().tolist() == [4]
    assert roll[2].sum() == 0  # a silent step is an all-zero row
    with pytest.raises(ValueError, match="pitch 70 at step 0 is outside the range 58..65"):
        music.piano_roll([[70]], range(58, 66))


def test_load_rolls_uses_the_range_of_all_splits(toy):
    rolls = music.load_rolls(toy)
    assert rolls.pitches == range(57, 68)  # 57 only in test, 67 only in train
    assert [len(rolls[s]) for s in music.SPLITS] == [2, 1, 1] and rolls.steps("train") == 4
    assert rolls.valid[0][:, 61 - 57].tolist() == [0, 1, 0, 0]
    assert "train 2 pieces / 4 steps" in repr(rolls) and "57..67" in repr(rolls)
    assert music.load_rolls(toy, pitches=range(50, 70)).train[0].shape == (3, 20)
    with pytest.raises(KeyError, match="no split 'dev'"):
        rolls["dev"]
    bad = toy.parent / "bad.json"
    bad.write_text(json.dumps({"train": []}))
    with pytest.raises(ValueError, match="lacks the split"):
        music.read_pieces(bad)


def test_pad_delays_inputs_by_one_step_and_pads_targets():
    a, b = torch.eye(3)[[0, 1, 2]], torch.eye(3)[[2]]
    x, y = music.pad([a, b])
    assert x.shape == y.shape == (2, 3, 3)
    assert torch.equal(x[0], torch.cat([torch.zeros(1, 3), a[:-1]])) and torch.equal(y[0], a)
    assert torch.equal(x[1], torch.zeros(3, 3))  # a one-step piece is predicted from silence alone
    assert torch.equal(y[1, 0], b[0]) and (y[1, 1:] == music.PAD).all()
    with pytest.raises(ValueError, match="different numbers of pitches"):
        music.pad([torch.zeros(2, 3), torch.zeros(2, 4)])


def test_batches_cover_every_piece_once_cut_to_their_longest():
    rolls = [torch.full((n, 2), float(n % 2)) for n in (5, 2, 7, 3, 4)]
    batches = music.RollBatches(rolls, batch_size=2)
    assert len(batches) == 3 and batches.steps == 21
    shapes = [tuple(x.shape) for x, _ in batches]
    assert shapes == [(2, 5, 2), (2, 7, 2), (1, 4, 2)]
    real = sum(int((y[..., 0] != music.PAD).sum()) for _, y in batches)
    assert real == 21
    whole = music.RollBatches(rolls)
    assert len(whole) == 1 and next(iter(whole))[0].shape == (5, 7, 2)
    g = torch.Generator().manual_seed(0)
    shuffled = music.RollBatches(rolls, batch_size=1, shuffle=True, generator=g)
    seen = sorted(int((y[0, :, 0] != music.PAD).sum()) for _, y in shuffled)
    assert seen == [2, 3, 4, 5, 7]
    with pytest.raises(ValueError, match="batch_size"):
        music.RollBatches(rolls, batch_size=0)


def test_endless_batches_have_no_length_and_feed_a_step_budget():
    import dlhist

    rolls = [(torch.rand(n, 3) < 0.5).float() for n in (4, 6, 5)]
    endless = music.RollBatches(rolls, batch_size=2, shuffle=True, repeat=True)
    with pytest.raises(TypeError, match="steps="):
        len(endless)
    first = [y.shape[0] for _, (_, y) in zip(range(7), endless)]
    assert first == [2, 1, 2, 1, 2, 1, 2]  # pass after pass, each of 3 pieces in batches of 2
    torch.manual_seed(0)
    model = _Causal(3)
    h = dlhist.fit(model, endless, steps=5, loss_fn=music.frame_nll, metrics={}, val=music.RollBatches(rolls),
                   verbose=-1, device="cpu")
    assert len(h.steps) == 5 and len(h.epochs) == 1  # the budget is one epoch: evaluated once at the end
    assert h.epochs[0]["val_loss"] == pytest.approx(music.nll_per_step(model, music.RollBatches(rolls)), rel=1e-5)


def test_frame_nll_sums_over_pitches_and_averages_over_real_steps():
    logits = torch.randn(2, 3, 4)
    y = torch.randint(0, 2, (2, 3, 4)).float()
    y[1, 2] = music.PAD  # one padded step
    real = torch.ones(2, 3, dtype=torch.bool)
    real[1, 2] = False
    per_step = F.binary_cross_entropy_with_logits(logits, y.clamp(min=0), reduction="none").sum(-1)
    torch.testing.assert_close(music.frame_nll(logits, y), per_step[real].mean())
    torch.testing.assert_close(music.frame_nll(logits, y, reduction="sum"), per_step[real].sum())
    # logits of 0: every pitch costs log 2
    assert music.frame_nll(torch.zeros(1, 2, 5), torch.zeros(1, 2, 5)).item() == pytest.approx(5 * math.log(2))
    with pytest.raises(ValueError, match="differ in shape"):
        music.frame_nll(logits, y[:, :2])
    with pytest.raises(ValueError, match="reduction"):
        music.frame_nll(logits, y, reduction="none")


class _Causal(nn.Module):
    """A GRU and a read-out: outputs at a step depend only on the inputs up to it."""

    def __init__(self, p):
        super().__init__()
        self.rnn, self.out = nn.GRU(p, 6, batch_first=True), nn.Linear(6, p)

    def forward(self, x):
        return self.out(self.rnn(x)[0])


def test_nll_per_step_does_not_depend_on_batching_or_padding():
    torch.manual_seed(0)
    rolls = [(torch.rand(n, 5) < 0.3).float() for n in (6, 2, 9, 4)]
    model = _Causal(5)
    one = music.nll_per_step(model, music.RollBatches(rolls))
    each = music.nll_per_step(model, music.RollBatches(rolls, batch_size=1))
    by_hand = sum(music.frame_nll(model(x), y, "sum").item() for x, y in music.RollBatches(rolls, 1)) / 21
    assert one == pytest.approx(each, rel=1e-5) and each == pytest.approx(by_hand, rel=1e-6)
    assert model.training  # restored


def test_bernoulli_baseline():
    train = [torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 0.0]])]  # pitch 0 in 2 of 3 steps, pitch 1 never
    p0, p1 = 3 / 5, 1 / 5  # add-one smoothing
    test = [torch.tensor([[1.0, 1.0]])]
    assert music.bernoulli_nll(train, test) == pytest.approx(-math.log(p0) - math.log(p1))
    test2 = [torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 0.0]])]
    want = (-math.log(1 - p0) - math.log(1 - p1) - math.log(p0) - math.log(1 - p1)) / 2
    assert music.bernoulli_nll(train, test2) == pytest.approx(want)


def test_jsb_chorales_from_the_mirror(mirror):
    rolls = music.load_chorales()
    assert [len(rolls[s]) for s in music.SPLITS] == [229, 76, 77]  # Boulanger-Lewandowski's split
    assert rolls.pitches == range(43, 97)
    assert sum(rolls.steps(s) for s in music.SPLITS) == 23_134
    assert all(r.sum(1).max() <= 4 for r in rolls.train)  # four voices at most
    first = rolls.train[0][0].nonzero().flatten() + 43
    assert first.tolist() == [60, 72, 79, 88]
