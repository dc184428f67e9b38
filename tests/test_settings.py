import pytest

from dlhist.settings import Settings, is_smoke, mode


def test_full_and_smoke_values(monkeypatch):
    monkeypatch.setenv("DLHIST_SMOKE", "0")
    cfg = Settings(full=dict(epochs=20, n=None), smoke=dict(epochs=1))
    assert (cfg.mode, cfg.epochs, cfg.n, cfg.smoke) == ("full", 20, None, False)
    monkeypatch.setenv("DLHIST_SMOKE", "1")
    cfg = Settings(full=dict(epochs=20, n=None), smoke=dict(epochs=1))
    assert (cfg.mode, cfg.epochs, cfg.n, cfg.smoke) == ("smoke", 1, None, True)
    assert is_smoke() and mode() == "smoke"


def test_smoke_keys_must_exist_in_full():
    with pytest.raises(KeyError, match="epochz"):
        Settings(full=dict(epochs=20), smoke=dict(epochz=1))


def test_unclear_environment_value_is_an_error(monkeypatch):
    monkeypatch.setenv("DLHIST_SMOKE", "maybe")
    with pytest.raises(ValueError, match="DLHIST_SMOKE"):
        is_smoke()


def test_forced_mode_and_attribute_errors():
    cfg = Settings(full=dict(lr=0.1), smoke=dict(lr=1.0), mode="full")
    assert cfg.lr == 0.1 and "full" in repr(cfg)
    with pytest.raises(AttributeError, match="no setting 'epochs'"):
        _ = cfg.epochs
    with pytest.raises(ValueError):
        Settings(full={}, mode="quick")
