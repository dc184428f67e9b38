"""dlhist.cifar without the network: a fake torchvision CIFAR10 stands in for the real download."""

import numpy as np
import pytest
import torch

from dlhist.data import images as cifar


class FakeCIFAR10:
    calls: list = []

    def __init__(self, root, train, download):
        FakeCIFAR10.calls.append((root, train, download))
        n = 20 if train else 8
        rng = np.random.default_rng(0 if train else 1)
        self.data = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
        self.targets = [int(t) for t in rng.integers(0, 10, size=n)]


@pytest.fixture
def fake(monkeypatch, tmp_path):
    import torchvision.datasets

    FakeCIFAR10.calls = []
    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR10)
    return tmp_path


def test_load_cifar10_converts_once_to_standardised_tensors(fake):
    train, test = cifar.load_cifar10(root=fake, n_test=5)
    assert train.x.shape == (20, 3, 32, 32) and test.x.shape == (5, 3, 32, 32)
    assert train.x.dtype == torch.float32 and train.y.dtype == torch.long
    assert [c[1:] for c in FakeCIFAR10.calls] == [(True, True), (False, True)]
    raw = FakeCIFAR10(fake, True, True)
    mean, std = (torch.tensor(s).view(1, 3, 1, 1) for s in cifar.CIFAR10_STATS)
    expected = (torch.as_tensor(raw.data).permute(0, 3, 1, 2).float() / 255 - mean) / std
    torch.testing.assert_close(train.x, expected)  # channel order (N, C, H, W) and the per-channel statistics
    assert train.y.tolist() == raw.targets
    plain, _ = cifar.load_cifar10(root=fake, normalize=False)
    assert 0 <= plain.x.min() and plain.x.max() <= 1


def test_load_images_dispatches(fake, monkeypatch):
    train, _ = cifar.load_images("CIFAR10", n_train=4)
    assert train.x.shape == (4, 3, 32, 32)
    seen = {}
    monkeypatch.setattr(cifar, "load_mnist", lambda name, **kw: seen.setdefault(name, kw))
    cifar.load_images("fashion-mnist", n_train=3)
    assert seen == {"fashion-mnist": {"device": None, "n_train": 3, "n_test": None}}
    with pytest.raises(ValueError, match="unknown image dataset"):
        cifar.load_images("imagenet")
    assert len(cifar.CLASSES["cifar10"]) == len(cifar.CLASSES["fashion-mnist"]) == 10
    assert set(cifar.STATS) == set(cifar.CLASSES) and cifar.STATS["cifar10"] == cifar.CIFAR10_STATS
