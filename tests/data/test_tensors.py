import pytest
import torch

from dlhist import data


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
