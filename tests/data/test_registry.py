import gzip
import hashlib
import io
import os
import stat
import warnings
import zipfile
from pathlib import Path

import pytest
import torch

from dlhist import data
from dlhist.data import registry as D

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"  # the repository's sibling shared/


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


def test_mirror_checksum_mismatch_refuses_the_file(registry, monkeypatch):
    monkeypatch.setenv("DLHIST_OFFLINE", "1")  # no other source: the refusal is an error
    (registry["mirror"] / "toy").mkdir()
    (registry["mirror"] / "toy" / "toy.txt").write_bytes(b"tampered")
    with pytest.raises(D.ChecksumError, match="refus.*mirror"), pytest.warns(UserWarning, match="refusing"):
        D.fetch("toy")
    assert not (registry["cache"] / "toy" / "toy.txt").exists()
    assert not list((registry["cache"] / "toy").glob(".part-*"))


def test_corrupt_cache_is_refused(registry, monkeypatch):
    monkeypatch.setenv("DLHIST_OFFLINE", "1")
    (registry["cache"] / "toy").mkdir()
    (registry["cache"] / "toy" / "toy.txt").write_bytes(b"truncat")
    with pytest.raises(D.ChecksumError, match="cached copy"), pytest.warns(UserWarning, match="cached copy"):
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
    with pytest.raises(D.ChecksumError, match="downloaded from"), pytest.warns(UserWarning, match="downloaded from"):
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


@pytest.mark.skipif(not (SHARED / "MNIST").is_dir(), reason="no local MNIST mirror")
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_load_mnist_from_mirror(tmp_path, monkeypatch, name):
    monkeypatch.setenv("DLHIST_DATA", str(tmp_path))
    monkeypatch.setenv("DLHIST_MIRROR", str(SHARED))
    train, test = data.load_mnist(name, n_train=1000, n_test=500)
    assert train.x.shape == (1000, 1, 28, 28) and test.x.shape == (500, 1, 28, 28)
    assert train.x.dtype == torch.float32 and train.y.dtype == torch.int64
    assert abs(train.x.mean().item()) < 0.2 and 0.8 < train.x.std().item() < 1.2
    assert set(train.y.tolist()) == set(range(10))
    flat, _ = data.load_mnist(name, n_train=10, n_test=10, flatten=True, normalize=False)
    assert flat.x.shape == (10, 784) and flat.x.min() >= 0 and flat.x.max() <= 1
    assert os.listdir(tmp_path)  # cached for next time


# ------------------------------------------------------------------ every source is tried, bad copies are replaced

def _put(folder, payload):
    (folder / "toy").mkdir(parents=True, exist_ok=True)
    (folder / "toy" / "toy.txt").write_bytes(payload)
    return folder / "toy" / "toy.txt"


def test_corrupt_first_mirror_falls_through_to_the_next(registry, monkeypatch, tmp_path):
    monkeypatch.setenv("DLHIST_OFFLINE", "1")
    bad, good = _put(tmp_path / "m1", b"tampered"), _put(tmp_path / "m2", registry["payload"])
    monkeypatch.setenv("DLHIST_MIRROR", os.pathsep.join([str(tmp_path / "m1"), str(tmp_path / "m0"),
                                                         str(tmp_path / "m2")]))
    with pytest.warns(UserWarning, match=f"refusing mirror {bad}"):
        path = D.fetch_file(D.DATASETS["toy"][0])
    assert path.read_bytes() == registry["payload"] == good.read_bytes()
    assert bad.read_bytes() == b"tampered"  # mirrors are only read


def test_corrupt_mirror_falls_through_to_the_download(registry):
    _put(registry["mirror"], b"tampered")
    with pytest.warns(UserWarning, match="refusing mirror"):
        path = D.fetch_file(D.DATASETS["toy"][0])
    assert path.read_bytes() == registry["payload"]


@pytest.mark.parametrize("source", ["mirror", "download"])
@pytest.mark.parametrize("damage", [b"to be or not", b"", b"to be or not to be\nand more\n"])
def test_corrupt_cached_copy_is_replaced_from_a_good_source(registry, source, damage):
    cached = _put(registry["cache"], damage)
    if source == "mirror":
        _put(registry["mirror"], registry["payload"])
    with pytest.warns(UserWarning, match=f"cached copy {cached}.*replac"):
        path = D.fetch_file(D.DATASETS["toy"][0])
    assert path == cached and cached.read_bytes() == registry["payload"]
    assert not list(cached.parent.glob(".part-*"))
    assert D.fetch_file(D.DATASETS["toy"][0]).read_bytes() == registry["payload"]  # and now it is simply used


def test_no_good_source_names_every_place_tried_and_why(registry, monkeypatch, tmp_path):
    cached = _put(registry["cache"], b"truncat")
    bad = _put(tmp_path / "m1", b"tampered")
    missing = tmp_path / "m2" / "toy" / "toy.txt"
    monkeypatch.setenv("DLHIST_MIRROR", os.pathsep.join([str(tmp_path / "m1"), str(tmp_path / "m2")]))
    bad_url, gone_url = (registry["origin"] / "toy.txt.gz").as_uri(), (registry["origin"] / "gone.txt").as_uri()
    monkeypatch.setitem(D.DATASETS, "toy", [D.Remote("toy/toy.txt", (bad_url, gone_url))])
    with pytest.raises(D.ChecksumError) as err, pytest.warns(UserWarning):
        D.fetch("toy")
    msg = str(err.value)
    for place in (cached, bad, missing, bad_url, gone_url):
        assert str(place) in msg, (place, msg)
    assert msg.count("SHA-256") == 3 and "not there" in msg  # the cache, mirror 1 and the first URL; mirror 2
    assert "DLHIST_MIRROR" in msg
    assert cached.read_bytes() == b"truncat"  # refused, never used; left for inspection


def test_mirror_copy_is_verified_after_copying(registry, monkeypatch):
    """What lands in the cache is what was checked: a mirror file that changes during the copy is refused."""
    monkeypatch.setenv("DLHIST_OFFLINE", "1")
    src = _put(registry["mirror"], registry["payload"])
    real_copy = D.shutil.copyfileobj

    def racy_copy(fsrc, fdst, *args):
        src.write_bytes(b"changed under our feet")
        real_copy(open(src, "rb"), fdst)

    monkeypatch.setattr(D.shutil, "copyfileobj", racy_copy)
    with pytest.raises(D.ChecksumError), pytest.warns(UserWarning):
        D.fetch("toy")
    assert not (registry["cache"] / "toy" / "toy.txt").exists()


# ------------------------------------------------------------------------------------- the cache: writable, shared

@pytest.mark.parametrize("how", ["under-a-file", "permission"])
def test_unwritable_cache_says_to_set_dlhist_data(registry, monkeypatch, tmp_path, how):
    _put(registry["mirror"], registry["payload"])
    if how == "under-a-file":
        (tmp_path / "a-file").write_text("")
        cache = tmp_path / "a-file" / "cache"
    else:
        cache = registry["cache"]
        cache.chmod(0o555)
        if os.access(cache, os.W_OK):  # root ignores the mode: make the cache refuse the write anyway
            def refuse(path):
                raise PermissionError(13, "Permission denied", str(path))
            monkeypatch.setattr(D, "_new_file", refuse)
    monkeypatch.setenv("DLHIST_DATA", str(cache))
    try:
        with pytest.raises(D.CacheNotWritableError) as err:
            D.fetch("toy")
    finally:
        registry["cache"].chmod(0o755)
    msg = str(err.value)
    assert isinstance(err.value, PermissionError)
    assert str(cache) in msg and "DLHIST_DATA" in msg and "writable" in msg


@pytest.fixture(params=[0o022, 0o002])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


@pytest.mark.parametrize("source", ["mirror", "download", "replace"])
def test_cached_files_get_the_usual_mode(registry, umask, source):
    if source == "mirror":
        _put(registry["mirror"], registry["payload"])
    if source == "replace":
        _put(registry["cache"], b"bad").chmod(0o600)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = D.fetch_file(D.DATASETS["toy"][0])
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


# ---------------------------------------------------------------------------------------------------- DLHIST_OFFLINE

@pytest.mark.parametrize("value", ["1", "true", "YES", " on ", "True"])
def test_offline_values(registry, monkeypatch, value):
    monkeypatch.setenv("DLHIST_OFFLINE", value)
    with pytest.raises(D.DatasetNotFoundError, match="no download tried"):
        D.fetch("toy")


@pytest.mark.parametrize("value", ["0", "false", "No", "off", ""])
def test_online_values(registry, monkeypatch, value):
    monkeypatch.setenv("DLHIST_OFFLINE", value)
    assert (D.fetch("toy") / "toy.txt").read_bytes() == registry["payload"]


@pytest.mark.parametrize("value", ["2", "maybe", "offline", "-1"])
def test_unknown_offline_value_is_an_error(registry, monkeypatch, value):
    monkeypatch.setenv("DLHIST_OFFLINE", value)
    with pytest.raises(ValueError, match=f"DLHIST_OFFLINE={value!r}.*1.*0"):
        D.fetch("toy")
    assert not (registry["cache"] / "toy" / "toy.txt").exists()


# ------------------------------------------------------------------------- MNIST: extracted files match their .gz

def _idx(array: torch.Tensor) -> bytes:
    """``array`` (uint8) in the IDX format of the MNIST files."""
    header = bytes([0, 0, 0x08, array.dim()]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.numpy().tobytes()


@pytest.fixture
def fake_mnist(registry, monkeypatch):
    """A tiny MNIST (20 train, 10 test images of 28x28) served from file:// URLs, registered with its checksums."""
    g = torch.Generator().manual_seed(0)
    arrays = {"train": (torch.randint(0, 256, (20, 28, 28), generator=g, dtype=torch.uint8),
                        torch.arange(20, dtype=torch.uint8) % 10),
              "t10k": (torch.randint(0, 256, (10, 28, 28), generator=g, dtype=torch.uint8),
                       torch.arange(10, dtype=torch.uint8).flip(0))}
    remotes = []
    for prefix, (images, labels) in arrays.items():
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            name = f"{prefix}-{kind}-ubyte.gz"
            gz = gzip.compress(_idx(array))
            (registry["origin"] / name).write_bytes(gz)
            monkeypatch.setitem(D.CHECKSUMS, f"MNIST/raw/{name}", sha(gz))
            remotes.append(D.Remote(f"MNIST/raw/{name}", ((registry["origin"] / name).as_uri(),)))
    monkeypatch.setitem(D.DATASETS, "mnist", remotes)
    return dict(registry, arrays=arrays, raw=registry["cache"] / "MNIST" / "raw")


def _check_mnist(fake):
    train, test = data.load_mnist("mnist", normalize=False)
    for part, prefix in ((train, "train"), (test, "t10k")):
        images, labels = fake["arrays"][prefix]
        assert torch.equal(part.y, labels.long())
        assert torch.equal(part.x, images.float().div(255).unsqueeze(1))


def test_load_mnist_extracts_the_verified_archives(fake_mnist, umask):
    _check_mnist(fake_mnist)
    for gz in fake_mnist["raw"].glob("*.gz"):
        extracted = gz.with_suffix("")
        assert extracted.read_bytes() == gzip.decompress(gz.read_bytes())
        assert stat.S_IMODE(extracted.stat().st_mode) == 0o666 & ~umask
    assert not list(fake_mnist["raw"].glob(".part-*"))


@pytest.mark.parametrize("damage", ["flip-a-label", "truncate", "half-extracted-images", "extra-bytes", "empty"])
def test_load_mnist_repairs_a_damaged_extracted_file(fake_mnist, damage):
    _check_mnist(fake_mnist)
    raw = fake_mnist["raw"]
    victim = raw / ("train-labels-idx1-ubyte" if damage in ("flip-a-label", "truncate") else "train-images-idx3-ubyte")
    good = victim.read_bytes()
    bad = {"flip-a-label": good[:-1] + bytes([(good[-1] + 1) % 10]), "truncate": good[:-3],
           "half-extracted-images": good[:len(good) // 2], "extra-bytes": good + b"\0" * 28, "empty": b""}[damage]
    victim.write_bytes(bad)
    with pytest.warns(UserWarning, match=f"{victim.name}.*extract"):
        _check_mnist(fake_mnist)
    assert victim.read_bytes() == good


def test_load_mnist_ignores_stale_processed_files(fake_mnist):
    """torchvision prefers MNIST/processed/*.pt (its old format) when present: never read those unverified."""
    processed = fake_mnist["cache"] / "MNIST" / "processed"
    processed.mkdir(parents=True)
    for name in ("training.pt", "test.pt"):
        torch.save((torch.zeros(3, 28, 28, dtype=torch.uint8), torch.full((3,), 7)), processed / name)
    _check_mnist(fake_mnist)


def test_load_mnist_refuses_a_damaged_extracted_file_it_cannot_repair(fake_mnist, monkeypatch):
    _check_mnist(fake_mnist)
    victim = fake_mnist["raw"] / "t10k-labels-idx1-ubyte"
    victim.write_bytes(victim.read_bytes()[:-1] + b"\x09")

    def refuse(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(D, "_new_file", refuse)
    with pytest.raises(D.CacheNotWritableError, match="DLHIST_DATA"), pytest.warns(UserWarning):
        data.load_mnist("mnist")
