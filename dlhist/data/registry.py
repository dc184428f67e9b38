"""The dataset registry: download once, verify by checksum, cache, or take the files from a local mirror.

Where files come from, in order:

1. the cache, ``$DLHIST_DATA`` (default ``~/.cache/dlhist``);
2. each mirror folder in ``$DLHIST_MIRROR`` (one or more folders, separated by ``os.pathsep``), laid out like the
   cache (``MNIST/raw/...``, ``tinyshakespeare/input.txt``, ...); a file found there is checked and copied into the
   cache. This is how offline machines (CI, air-gapped clusters) use pre-fetched files;
3. the dataset's canonical public URL, unless ``DLHIST_OFFLINE`` is 1 (or true, yes, on; 0, false, no, off or
   empty allow downloads, and any other value is an error).

Every file is checked against the SHA-256 in ``checksums.sha256`` (shipped with the package) wherever it came from;
a mismatch refuses the file, with a warning, and the next source is tried: a damaged cached copy is replaced from a
good mirror or download. Only when no source has a good copy is there an error, naming every place tried and why
each was refused. Files enter the cache atomically (written beside it, then renamed), readable by the other users
of a shared cache (mode 0o666 less the umask), and a cache that cannot be written raises ``CacheNotWritableError``,
which says to point ``DLHIST_DATA`` at a writable folder. ``extract_gz`` decompresses a verified ``.gz`` next to
it, checked byte for byte against the archive every time (MNIST's raw files, which torchvision reads).
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import os
import secrets
import shutil
import urllib.error
import urllib.request
import warnings
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

ENV_DATA = "DLHIST_DATA"
ENV_MIRROR = "DLHIST_MIRROR"
ENV_OFFLINE = "DLHIST_OFFLINE"


class DatasetNotFoundError(FileNotFoundError):
    """A dataset file is in neither the cache nor a mirror, and could not be downloaded."""


class ChecksumError(ValueError):
    """A file's SHA-256 differs from the one the registry expects: the file is refused."""


class UnknownDatasetError(ValueError):
    """A dataset name that the registry does not know."""


class CacheNotWritableError(PermissionError):
    """The cache folder cannot be written (permissions, a read-only disk, ...): set ``DLHIST_DATA`` elsewhere."""


# ----------------------------------------------------------------------------------------------------- the registry

@dataclass(frozen=True)
class Remote:
    """One file of a dataset: where it lives in the cache, and where it can be downloaded from."""

    path: str  # relative to the cache / mirror root
    urls: tuple[str, ...]
    gunzip: bool = False  # the URL serves a .gz of the file
    member: str | None = None  # the URL serves a zip archive holding the file under this name


def _github(repo: str, path: str) -> str:
    return f"https://raw.githubusercontent.com/{repo}/HEAD/{path}"


def _github_at(repo_commit: str, path: str) -> str:
    """A file at a fixed commit: ``owner/name/commit``."""
    return f"https://raw.githubusercontent.com/{repo_commit}/{path}"


def _idx_files(folder: str, bases: tuple[str, ...]) -> list[Remote]:
    names = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    return [Remote(f"{folder}/raw/{n}", tuple(b + n for b in bases)) for n in names]


def _build_registry() -> dict[str, list[Remote]]:
    reg = {
        "mnist": _idx_files("MNIST", ("https://ossci-datasets.s3.amazonaws.com/mnist/",
                                      "http://yann.lecun.com/exdb/mnist/")),
        "fashion-mnist": _idx_files("FashionMNIST", ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)),
        "tinyshakespeare": [Remote("tinyshakespeare/input.txt",
                                   (_github("karpathy/char-rnn", "data/tinyshakespeare/input.txt"),))],
        "multi30k": [
            Remote(f"multi30k/{split}.{lang}", (_github("multi30k/dataset", f"data/task1/raw/{split}.{lang}.gz"),),
                   gunzip=True)
            for split in ("train", "val", "test_2016_flickr") for lang in ("en", "de", "fr")
        ],
        "isbi2012": [
            Remote(f"isbi2012_membrane/{sub}/{i}.png", (_github("zhixuhao/unet", f"data/membrane/{sub}/{i}.png"),))
            for sub in ("train/image", "train/label", "test") for i in range(30)
        ],
        "sst2": [Remote(f"SST-2/{s}.tsv", ("https://dl.fbaipublicfiles.com/glue/data/SST-2.zip",),
                        member=f"SST-2/{s}.tsv") for s in ("train", "dev", "test")],
        "war-and-peace": [Remote("war_and_peace/war_and_peace.txt",
                                 (_github("shanekeane/monte-carlo-decryption", "data/war_and_peace.txt"),))],
        "word2vec-eval": [Remote(f"word2vec_eval/{n}", (_github("piskvorky/gensim", f"gensim/test/test_data/{n}"),))
                          for n in ("questions-words.txt", "wordsim353.tsv")],
        "jsb-chorales": [Remote("jsb_chorales/jsb-chorales-quarter.json",
                                (_github("czhuang/JSB-Chorales-dataset", "jsb-chorales-quarter.json"),))],
    }
    nltk_2008 = "nltk/nltk/4dc39fbf"  # the 2008 tree, when nltk_data/ was still in the code repository
    books = {b: (_github_at(nltk_2008, f"nltk_data/corpora/gutenberg/{b}.txt"),) for b in (
        "austen-emma", "austen-persuasion", "austen-sense", "blake-poems", "chesterton-brown", "chesterton-thursday",
        "milton-paradise", "shakespeare-hamlet", "shakespeare-macbeth", "whitman-leaves")}
    books["carroll-alice"] = (_github_at("celsofaf/AIND-NLP/8cdbb6e6", "carroll-alice.txt"),)
    books["timemachine"] = ("http://d2l-data.s3-accelerate.amazonaws.com/timemachine.txt",
                            _github_at("d2l-ai/d2l-zh/5918a8b9", "data/timemachine.txt"))
    project_gutenberg = {"austen-pride_and_prejudice": (1342, "041e5208"), "doyle-sherlock_holmes": (1661, "4583fe51"),
                         "shelley-frankenstein": (84, "8bd92d5e"), "wilde-dorian_gray": (174, "c8192e55"),
                         "stevenson-treasure_island": (120, "e89155f2")}  # Project Gutenberg's own repositories
    for book, (n, commit) in project_gutenberg.items():
        books[book] = (_github_at(f"gutenbergbooks/{n}/{commit}", f"{n}-0.txt"),)
    reg["gutenberg"] = [Remote(f"gutenberg/{b}.txt", urls) for b, urls in sorted(books.items())]
    for corpus in ("brown", "movie_reviews", "opinion_lexicon", "sentence_polarity"):
        reg[corpus] = [Remote(f"nltk_data/corpora/{corpus}.zip",
                              (_github("nltk/nltk_data", f"packages/corpora/{corpus}.zip"),))]
    return reg


DATASETS: dict[str, list[Remote]] = _build_registry()


def _load_checksums() -> dict[str, str]:
    text = resources.files("dlhist.data").joinpath("checksums.sha256").read_text()
    sums = {}
    for line in text.splitlines():
        if line.strip():
            digest, rel = line.split(maxsplit=1)
            sums[rel.strip().lstrip("*")] = digest
    return sums


CHECKSUMS: dict[str, str] = _load_checksums()


# ------------------------------------------------------------------------------------------------ cache and fetching

def data_dir() -> Path:
    """The cache folder: ``$DLHIST_DATA`` or ``~/.cache/dlhist``."""
    return Path(os.environ.get(ENV_DATA) or Path.home() / ".cache" / "dlhist").expanduser()


def mirrors() -> list[Path]:
    """The mirror folders named by ``$DLHIST_MIRROR`` (possibly none)."""
    raw = os.environ.get(ENV_MIRROR, "")
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _mismatch(path: Path, expected: str) -> str | None:
    """Why ``path`` is not the expected file (its SHA-256 differs, or it cannot be read), or None if it is."""
    try:
        got = sha256(path)
    except OSError as exc:
        return f"unreadable ({exc})"
    if got != expected:
        return (f"its SHA-256 is {got}, but {expected} was expected (the file is corrupt, truncated or a different "
                f"version)")
    return None


_OFFLINE_YES = {"1", "true", "yes", "on"}
_OFFLINE_NO = {"", "0", "false", "no", "off"}


def _offline() -> bool:
    """Whether ``$DLHIST_OFFLINE`` forbids downloads: 1/true/yes/on do, 0/false/no/off or empty (or unset) do not."""
    raw = os.environ.get(ENV_OFFLINE, "")
    value = raw.strip().lower()
    if value in _OFFLINE_YES:
        return True
    if value in _OFFLINE_NO:
        return False
    raise ValueError(f"{ENV_OFFLINE}={raw!r} is not understood: set it to 1 (or true, yes, on) to work offline, "
                     f"or to 0 (or false, no, off, or leave it empty) to allow downloads")


# ---------------------------------------------------------------------------------------------- writing the cache

def _not_writable(folder: Path, exc: OSError) -> CacheNotWritableError:
    setting = os.environ.get(ENV_DATA)
    now = f"it is {setting!r}" if setting else "it is not set, so ~/.cache/dlhist is used"
    return CacheNotWritableError(
        f"cannot write into the dataset cache folder {folder}: {exc}. Set {ENV_DATA} to a writable folder "
        f"(for example export {ENV_DATA}=/tmp/dlhist-data; {now})."
    )


def _new_file(path: Path) -> int:
    """Create ``path`` (which must not exist) for writing, with the mode a plain ``open()`` gives: 0o666 less the
    umask. (``tempfile.mkstemp`` would give 0o600, and the file would be unreadable to others sharing the cache.)"""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)


def _write_atomically(target: Path, fill: Callable, expected: str | None = None, origin: str = "") -> None:
    """Make ``target`` the bytes that ``fill(f)`` writes to a binary file, in one step.

    ``fill`` writes a temporary file beside ``target``; it is then checked against the SHA-256 ``expected`` (if
    given: what lands in the cache is what was checked), and renamed over ``target``, so no reader ever sees a
    half-written file. A mismatch raises ``ChecksumError`` naming ``origin`` and leaves ``target`` as it was; a
    cache folder that cannot be written raises ``CacheNotWritableError``.
    """
    tmp = target.parent / f".part-{target.name}-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = _new_file(tmp)
    except OSError as exc:
        raise _not_writable(target.parent, exc) from exc
    try:
        with os.fdopen(fd, "wb") as f:
            fill(f)
        problem = _mismatch(tmp, expected) if expected else None
        if problem:
            raise ChecksumError(f"refusing {origin}: {problem}")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _gunzip_chunks(gz: Path):
    with gzip.open(gz, "rb") as f:
        yield from iter(lambda: f.read(1 << 20), b"")


def extract_gz(gz: Path) -> Path:
    """The file that the (verified) ``name.gz`` decompresses to, ``name`` beside it, guaranteed to match it.

    An extracted copy already there is compared with the gunzip of the archive, byte for byte (through its size
    and SHA-256); a damaged or half-extracted copy is extracted again, atomically, with a warning, and never used.
    """
    gz = Path(gz)
    out = gz.with_suffix("")
    h, size = hashlib.sha256(), 0
    for chunk in _gunzip_chunks(gz):
        h.update(chunk)
        size += len(chunk)
    if out.exists():
        if out.stat().st_size == size and _mismatch(out, h.hexdigest()) is None:
            return out
        warnings.warn(f"{out} does not match {gz.name} (damaged or half extracted): extracting it again",
                      stacklevel=2)

    def gunzip_into(f):
        for chunk in _gunzip_chunks(gz):
            f.write(chunk)

    _write_atomically(out, gunzip_into, h.hexdigest(), f"the extraction of {gz}")
    return out


# ---------------------------------------------------------------------------------------------------- fetching

_DOWNLOAD_ERRORS = (OSError, ValueError, EOFError, zlib.error, zipfile.BadZipFile, KeyError,
                    http.client.HTTPException)  # URLError and BadGzipFile are OSErrors, a missing zip member a KeyError


def _download(remote: Remote, url: str) -> bytes:
    """The bytes of ``remote`` from ``url``, decompressed (``gunzip``) or taken from a zip (``member``) if need be."""
    from tqdm.std import tqdm

    request = urllib.request.Request(url, headers={"User-Agent": "dlhist"})
    with urllib.request.urlopen(request, timeout=60) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        buf = io.BytesIO()
        with tqdm(total=total, unit="B", unit_scale=True, desc=f"download {Path(remote.path).name}",
                  leave=False, mininterval=1.0) as bar:
            for block in iter(lambda: response.read(1 << 16), b""):
                buf.write(block)
                bar.update(len(block))
    payload = buf.getvalue()
    if remote.gunzip:
        payload = gzip.decompress(payload)
    if remote.member:
        with zipfile.ZipFile(io.BytesIO(payload)) as z:
            payload = z.read(remote.member)
    return payload


def _install(target: Path, fill: Callable, expected: str, origin: str, refused: list[str]) -> bool:
    """Write ``target`` from one source, checked; False (the refusal noted in ``refused``, and warned) if bad."""
    try:
        _write_atomically(target, fill, expected, origin)
        return True
    except CacheNotWritableError:
        raise
    except (ChecksumError, OSError) as exc:
        why = str(exc) if isinstance(exc, ChecksumError) else f"refusing {origin}: it could not be copied ({exc})"
        refused.append(why)
        warnings.warn(f"{why}; trying the next source, if any", stacklevel=3)
        return False


def _copy_from(source: Path) -> Callable:
    def fill(f):
        with open(source, "rb") as src:
            shutil.copyfileobj(src, f)
    return fill


def _no_good_copy(remote: Remote, target: Path, refused: list[str]) -> Exception:
    """The error when no source had a good copy: every place tried, why each was refused, and how to fix it."""
    corrupt = any("SHA-256" in why for why in refused)  # some copy was found, but it was not the right file
    kind = ChecksumError if corrupt else DatasetNotFoundError
    return kind(
        f"no good copy of {remote.path} was found. Tried: {'; '.join(refused)}. To fix: connect to the internet "
        f"(and leave {ENV_OFFLINE} unset), or download {remote.urls[0]} to {target}, or set {ENV_MIRROR} to a "
        f"folder that holds a good {remote.path} (for example ../shared/data)."
    )


def fetch_file(remote: Remote) -> Path:
    """Make one registry file present and verified in the cache; return its path there.

    Sources, in order: the cache, each mirror, each URL; the first good one wins. A bad copy anywhere is refused
    with a warning and the next source tried, so a damaged cached copy is replaced by a good one.
    """
    expected = CHECKSUMS.get(remote.path)
    if expected is None:
        raise UnknownDatasetError(f"no checksum registered for {remote.path!r}; add it to dlhist/data/checksums.sha256")
    offline = _offline()
    target = data_dir() / remote.path
    refused: list[str] = []
    if not target.exists():
        refused.append(f"cache {target}: not there")
    elif (problem := _mismatch(target, expected)) is None:
        return target
    else:
        refused.append(f"refusing the cached copy {target}: {problem}")
        warnings.warn(f"refusing the cached copy {target}: {problem}; replacing it from a mirror or a download",
                      stacklevel=2)
    for mirror in mirrors():
        candidate = mirror / remote.path
        if not candidate.is_file():
            refused.append(f"mirror {candidate}: not there")
        elif _install(target, _copy_from(candidate), expected, f"mirror {candidate}", refused):
            return target
    if not mirrors():
        refused.append(f"no mirror set ({ENV_MIRROR} is empty)")
    if offline:
        refused.append(f"no download tried ({ENV_OFFLINE}={os.environ.get(ENV_OFFLINE)})")
        raise _no_good_copy(remote, target, refused)
    for url in remote.urls:
        try:
            payload = _download(remote, url)
        except _DOWNLOAD_ERRORS as exc:
            refused.append(f"download {url}: {exc}")
            continue
        if _install(target, lambda f, payload=payload: f.write(payload), expected, f"the copy downloaded from {url}",
                    refused):
            return target
    raise _no_good_copy(remote, target, refused)


def _lookup(name: str) -> list[Remote]:
    key = name.lower().replace("_", "-")
    aliases = {"fashionmnist": "fashion-mnist", "fmnist": "fashion-mnist", "sst-2": "sst2", "isbi": "isbi2012",
               "isbi2012-membrane": "isbi2012", "movie-reviews": "movie_reviews", "opinion-lexicon": "opinion_lexicon",
               "sentence-polarity": "sentence_polarity"}
    key = aliases.get(key, key)
    if key not in DATASETS:
        raise UnknownDatasetError(f"unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}")
    return DATASETS[key]


def fetch(name: str) -> Path:
    """Make every file of dataset ``name`` present and verified in the cache; return the dataset's folder there.

    >>> text = (fetch("tinyshakespeare") / "input.txt").read_text()   # doctest: +SKIP
    """
    remotes = _lookup(name)
    for remote in remotes:
        fetch_file(remote)
    return data_dir() / Path(remotes[0].path).parts[0]
