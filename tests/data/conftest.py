from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"  # the data mirror beside the repository


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A fresh, empty cache filled offline from the shared data mirror (the test is skipped without the mirror)."""
    if not SHARED.is_dir():
        pytest.skip(f"no local data mirror at {SHARED}")
    monkeypatch.setenv("DLHIST_DATA", str(tmp_path))
    monkeypatch.setenv("DLHIST_MIRROR", str(SHARED))
    monkeypatch.setenv("DLHIST_OFFLINE", "1")
