import pytest
import torch

from dlhist import data
from dlhist.data import LengthBatches


def test_tensor_loader_covers_every_example_once():
    x, y = torch.arange(10).float().unsqueeze(1), torch.arange(10)
    loader = data.TensorLoader(x, y, batch_size=4, shuffle=True, seed=0)
    assert len(loader) == 3
    seen = torch.cat([b[1] for b in loader])
    assert sorted(seen.tolist()) == list(range(10))
    assert [len(b[1]) for b in data.TensorLoader(x, y, batch_size=4, drop_last=True)] == [4, 4]
    doubled = next(iter(data.TensorLoader(x, y, batch_size=3, transform=lambda t: 2 * t)))
    assert doubled[0].squeeze(1).tolist() == [0, 2, 4]


def test_shape_mismatches_name_the_shapes():
    with pytest.raises(ValueError, match=r"\(5, 2\).*\(4,\)"):
        data.TensorLoader(torch.zeros(5, 2), torch.zeros(4), batch_size=2)
    with pytest.raises(ValueError, match=r"x has shape \(5, 2\), y \(4,\)"):
        data.TensorData(torch.zeros(5, 2), torch.zeros(4))


def test_subset_is_fixed_by_seed():
    d = data.TensorData(torch.arange(100).float(), torch.arange(100))
    a, b = d.subset(10), d.subset(10)
    assert torch.equal(a.y, b.y) and len(a) == 10 and len(d.subset(None)) == 100


def test_length_batches_group_similar_lengths_and_cut_the_padding():
    lengths = torch.tensor([3, 9, 1, 7, 2, 8, 5, 4, 6, 10])
    x = (torch.arange(10)[None] < lengths[:, None]).long() * (torch.arange(10)[:, None] + 1)  # row i: i+1, then 0s
    y = torch.arange(10)
    grouped = LengthBatches(x, y, lengths=lengths, batch_size=3, shuffle=True, pool=10, seed=0)
    batches = list(grouped)
    assert len(grouped) == len(batches) == 4
    seen = torch.cat([b[1] for b in batches])
    assert sorted(seen.tolist()) == list(range(10))  # every row once
    for bx, by in batches:
        assert bx.shape[1] == lengths[by].max() and torch.equal(bx[:, 0], by + 1)  # cut to the longest row
    spans = sorted((lengths[by].max() - lengths[by].min()).item() for _, by in batches)
    assert spans == [0, 2, 2, 2]  # one pool sorted by length: lengths 1-3, 4-6, 7-9 and 10 share batches
    plain = list(LengthBatches(x, y, lengths=lengths, batch_size=4))
    assert [b[1].tolist() for b in plain] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    with pytest.raises(ValueError, match=r"one length in 1..10 per row of x \(10, 10\)"):
        LengthBatches(x, y, lengths=lengths + 1, batch_size=3)
