import itertools

import pytest
import torch

from dlhist.data.synthetic import AddingBatches, adding_problem, adding_wrong


def draw(n=4000, t=100, seed=0, **kw):
    return adding_problem(n, t, generator=torch.Generator().manual_seed(seed), **kw)


def test_adding_problem_follows_the_paper():
    x, y, lengths = draw()
    n, t_max, _ = x.shape
    assert x.shape == (4000, 110, 2) and y.shape == lengths.shape == (4000,)
    assert lengths.min() == 100 and lengths.max() == 110  # lengths between T and T + T/10, all of them drawn
    values, markers = x[..., 0], x[..., 1]
    steps = torch.arange(t_max)
    inside = steps < lengths[:, None]
    assert (values.abs() <= 1).all() and not values[~inside].any() and not markers[~inside].any()
    marked = markers == 1
    assert (marked.sum(1) == 2).all()  # exactly two marks
    first_mark = marked.float().argmax(1)
    last_mark = t_max - 1 - marked.flip(1).float().argmax(1)
    assert first_mark.max() <= 9 and last_mark.max() <= 100 // 2 - 1  # X1 among the first ten, X2 in the first T/2
    # markers -1 at the first (unless marked) and the final step, 0 elsewhere
    ends = markers[torch.arange(n), lengths - 1]
    assert (ends == -1).all()
    assert ((markers[:, 0] == -1) | (markers[:, 0] == 1)).all()
    assert ((markers == -1).sum(1) == 2 - marked[:, 0].long()).all()
    assert (values[marked[:, 0], 0] == 0).all()  # a marked first step has its value set to zero
    # target 0.5 + (X1 + X2) / 4, in [0, 1]
    torch.testing.assert_close(y, 0.5 + (values * marked).sum(1) / 4)
    assert y.min() >= 0 and y.max() <= 1
    # every position a mark may take is taken: the first mark on the first ten, the second over the first T/2
    assert set(first_mark.tolist()) == set(range(10))
    assert set(torch.where(marked)[1].tolist()) == set(range(50))


def test_adding_problem_is_seeded_and_can_have_a_fixed_length():
    a, b = draw(seed=1), draw(seed=1)
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert not torch.equal(a.x, draw(seed=2).x)
    fixed = draw(n=50, t=30, variable_length=False)
    assert fixed.x.shape == (50, 30, 2) and (fixed.lengths == 30).all()
    assert draw(n=3, dtype=torch.float64).x.dtype == torch.float64


def test_constant_predictor_is_mostly_wrong():
    """Predicting the mean 0.5 is right only when |X1 + X2| < 0.16: about 15% of the sequences."""
    _, y, _ = draw(n=20_000)
    wrong = adding_wrong(torch.full_like(y, 0.5), y).float().mean().item()
    assert 0.82 < wrong < 0.87
    assert not adding_wrong(y.clone(), y).any() and adding_wrong(y + 0.05, y).all()


def test_adding_batches_stream_fresh_batches_and_restart_from_the_seed():
    stream = AddingBatches(8, 20, seed=0)
    first, second = itertools.islice(iter(stream), 2)
    assert first.x.shape[0] == 8 and not torch.equal(first.x[:, :20], second.x[:, :20])
    assert all(torch.equal(u, v) for u, v in zip(next(iter(stream)), first))  # a new pass starts the same stream
    assert not torch.equal(next(iter(AddingBatches(8, 20, seed=1))).x[:, :20], first.x[:, :20])


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="at least 12"):
        adding_problem(4, 10)
    with pytest.raises(ValueError, match="positive"):
        adding_problem(0, 100)
    with pytest.raises(ValueError, match="positive"):
        AddingBatches(0, 100)
    with pytest.raises(ValueError, match="at least 12"):
        AddingBatches(8, 11)


def test_reversal_pairs():
    from dlhist.data.synthetic import reversal_pairs

    pairs = reversal_pairs(200, (3, 6), symbols=5, generator=torch.Generator().manual_seed(0))
    assert len(pairs) == 200
    assert {len(s) for s, _ in pairs} == {3, 4, 5, 6}
    for src, tgt in pairs:
        assert tgt == [1] + src[::-1] + [2] and all(4 <= t < 9 for t in src)
    with pytest.raises(ValueError, match="lengths must satisfy"):
        reversal_pairs(5, (4, 2))


def test_cipher_sequences_follow_one_map_per_sequence():
    from dlhist.data.synthetic import CipherBatches, cipher_sequences

    b = cipher_sequences(200, pairs=20, distinct=(2, 6), generator=torch.Generator().manual_seed(0))
    assert b.x.shape == b.y.shape == b.shots.shape == (200, 40)
    plain, cipher = b.x[:, 0::2], b.x[:, 1::2]
    assert plain.max() < 26 <= cipher.min() and cipher.max() < 52
    for i in range(200):  # one-to-one within a sequence, and at most 6 plain letters
        pairs = set(zip(plain[i].tolist(), cipher[i].tolist()))
        assert len({p for p, _ in pairs}) == len({c for _, c in pairs}) == len(pairs) <= 6
    assert torch.equal(b.y[:, 1::2], cipher) and (b.y[:, 0::2] == -1).all()
    # shots count earlier showings of the same plain letter; unseen counts cipher letters not yet shown
    i, t = 0, 19
    assert b.shots[i, 2 * t + 1] == (plain[i, :t] == plain[i, t]).sum()
    assert b.unseen[i, 2 * t + 1] == 26 - len(set(plain[i, :t].tolist()))
    assert (b.shots[:, 1] == 0).all() and (b.unseen[:, 1] == 26).all()
    maps_differ = (cipher[:, 0] - 26 != cipher[:, 0].roll(1) - 26) | (plain[:, 0] != plain[:, 0].roll(1))
    assert maps_differ.float().mean() > 0.9
    x, y = next(iter(CipherBatches(4, pairs=5, seed=1)))
    assert x.shape == y.shape == (4, 9) and torch.equal(x, next(iter(CipherBatches(4, pairs=5, seed=1)))[0])
    with pytest.raises(ValueError, match="distinct must lie in"):
        cipher_sequences(1, 4, distinct=30)
