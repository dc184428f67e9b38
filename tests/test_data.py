import gzip
import hashlib
import io
import os
import zipfile
from pathlib import Path

import pytest
import torch

from dlhist import data as D

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """A throw-away cache, mirror and registry entry 'toy' with known bytes."""
    cache, mirror, origin = tmp_path / "cache", tmp_path / "mirror", tmp_path / "origin"
    for p in (cache, mirror, origin):
        p.mkdir()
    monkeypatch.setenv("DLHIST_DATA", str(cache))
    monkeypatch.setenv("DLHIST_MIRROR", str(mirror))
    monkeypatch.delenv("DLHIST_OFFLINE", raising=False)
    payload = b"to be or not to be\n"
    (origin / "toy.txt").write_bytes(payload)
    (origin / "toy.txt.gz").write_bytes(gzip.compress(payload))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("pack/toy.txt", payload)
    (origin / "pack.zip").write_bytes(buf.getvalue())
    monkeypatch.setitem(D.CHECKSUMS, "toy/toy.txt", sha(payload))
    monkeypatch.setitem(D.DATASETS, "toy", [D.Remote("toy/toy.txt", ((origin / "toy.txt").as_uri(),))])
    return dict(cache=cache, mirror=mirror, origin=origin, payload=payload)


def test_every_registered_file_has_a_checksum():
    for name, remotes in D.DATASETS.items():
        for r in remotes:
            assert r.path in D.CHECKSUMS, (name, r.path)
            assert all(u.startswith(("https://", "http://")) for u in r.urls), r.urls


def test_unknown_dataset_names_the_known_ones():
    with pytest.raises(D.UnknownDatasetError, match="tinyshakespeare"):
        D.fetch("imagenet")


def test_mirror_file_is_verified_and_cached(registry):
    (registry["mirror"] / "toy").mkdir()
    (registry["mirror"] / "toy" / "toy.txt").write_bytes(registry["payload"])
    folder = D.fetch("toy")
    assert folder == registry["cache"] / "toy"
    assert (folder / "toy.txt").read_bytes() == registry["payload"]


def test_mirror_checksum_mismatch_refuses_the_file(registry):
    (registry["mirror"] / "toy").mkdir()
    (registry["mirror"] / "toy" / "toy.txt").write_bytes(b"tampered")
    with pytest.raises(D.ChecksumError, match="refusing .*mirror"):
        D.fetch("toy")
    assert not (registry["cache"] / "toy" / "toy.txt").exists()


def test_corrupt_cache_is_refused(registry):
    (registry["cache"] / "toy").mkdir()
    (registry["cache"] / "toy" / "toy.txt").write_bytes(b"truncat")
    with pytest.raises(D.ChecksumError, match="cached copy"):
        D.fetch("toy")


def test_download_when_not_mirrored(registry):
    path = D.fetch_file(D.DATASETS["toy"][0])
    assert path.read_bytes() == registry["payload"]
    assert not list(path.parent.glob(".part-*"))


@pytest.mark.parametrize("kind", ["gunzip", "zip"])
def test_download_of_compressed_sources(registry, monkeypatch, kind):
    o = registry["origin"]
    remote = (D.Remote("toy/toy.txt", ((o / "toy.txt.gz").as_uri(),), gunzip=True) if kind == "gunzip"
              else D.Remote("toy/toy.txt", ((o / "pack.zip").as_uri(),), member="pack/toy.txt"))
    assert D.fetch_file(remote).read_bytes() == registry["payload"]


def test_downloaded_checksum_mismatch_is_refused_and_removed(registry, monkeypatch):
    monkeypatch.setitem(D.CHECKSUMS, "toy/toy.txt", "0" * 64)
    with pytest.raises(D.ChecksumError, match="downloaded from"):
        D.fetch("toy")
    assert not (registry["cache"] / "toy" / "toy.txt").exists()


def test_missing_everywhere_says_where_it_looked_and_how_to_fix(registry, monkeypatch):
    monkeypatch.setitem(D.DATASETS, "toy", [D.Remote("toy/toy.txt", ((registry["origin"] / "gone.txt").as_uri(),))])
    with pytest.raises(D.DatasetNotFoundError) as err:
        D.fetch("toy")
    msg = str(err.value)
    assert str(registry["cache"] / "toy" / "toy.txt") in msg and str(registry["mirror"]) in msg
    assert "DLHIST_MIRROR" in msg and "gone.txt" in msg


def test_offline_without_mirror(registry, monkeypatch):
    monkeypatch.setenv("DLHIST_OFFLINE", "1")
    monkeypatch.delenv("DLHIST_MIRROR")
    with pytest.raises(D.DatasetNotFoundError, match="no mirror set.*no download tried"):
        D.fetch("toy")


def test_tensor_loader_covers_every_example_once():
    x, y = torch.arange(10).float().unsqueeze(1), torch.arange(10)
    loader = D.TensorLoader(x, y, batch_size=4, shuffle=True, seed=0)
    assert len(loader) == 3
    seen = torch.cat([b[1] for b in loader])
    assert sorted(seen.tolist()) == list(range(10))
    assert [len(b[1]) for b in D.TensorLoader(x, y, batch_size=4, drop_last=True)] == [4, 4]
    doubled = next(iter(D.TensorLoader(x, y, batch_size=3, transform=lambda t: 2 * t)))
    assert doubled[0].squeeze(1).tolist() == [0, 2, 4]


def test_shape_mismatches_name_the_shapes():
    with pytest.raises(ValueError, match=r"\(5, 2\).*\(4,\)"):
        D.TensorLoader(torch.zeros(5, 2), torch.zeros(4), batch_size=2)
    with pytest.raises(ValueError, match=r"x has shape \(5, 2\), y \(4,\)"):
        D.TensorData(torch.zeros(5, 2), torch.zeros(4))


def test_subset_is_fixed_by_seed():
    d = D.TensorData(torch.arange(100).float(), torch.arange(100))
    a, b = d.subset(10), d.subset(10)
    assert torch.equal(a.y, b.y) and len(a) == 10 and len(d.subset(None)) == 100


@pytest.mark.skipif(not (SHARED / "MNIST").is_dir(), reason="no local MNIST mirror")
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_load_mnist_from_mirror(tmp_path, monkeypatch, name):
    monkeypatch.setenv("DLHIST_DATA", str(tmp_path))
    monkeypatch.setenv("DLHIST_MIRROR", str(SHARED))
    train, test = D.load_mnist(name, n_train=1000, n_test=500)
    assert train.x.shape == (1000, 1, 28, 28) and test.x.shape == (500, 1, 28, 28)
    assert train.x.dtype == torch.float32 and train.y.dtype == torch.int64
    assert abs(train.x.mean().item()) < 0.2 and 0.8 < train.x.std().item() < 1.2
    assert set(train.y.tolist()) == set(range(10))
    flat, _ = D.load_mnist(name, n_train=10, n_test=10, flatten=True, normalize=False)
    assert flat.x.shape == (10, 784) and flat.x.min() >= 0 and flat.x.max() <= 1
    assert os.listdir(tmp_path)  # cached for next time
