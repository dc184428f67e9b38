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


def test_smoke_values_must_be_of_the_full_values_kind():
    """Before: Settings(full=dict(epochs=20), smoke=dict(epochs="1")) was accepted; range(cfg.epochs) failed later."""
    with pytest.raises(TypeError, match=r"epochs='1' \(full: 20\)"):
        Settings(full=dict(epochs=20), smoke=dict(epochs="1"), mode="smoke")
    with pytest.raises(TypeError, match="amp=1"):
        Settings(full=dict(amp=True), smoke=dict(amp=1), mode="smoke")
    cfg = Settings(full=dict(lr=0.1, n=None, widths=(32, 800), name="a", grid={"a": 1}),
                   smoke=dict(lr=1, n=2_000, widths=[32], name="b", grid={"a": 2}), mode="smoke")
    assert (cfg.lr, cfg.n, cfg.widths, cfg.name, cfg.grid) == (1, 2_000, [32], "b", {"a": 2})


@pytest.mark.parametrize("name", ["mode", "smoke", "items", "keys", "values", "get", "update"])
def test_settings_that_attributes_would_shadow_are_refused(name):
    """Before: Settings(full=dict(mode="fast")) silently gave cfg.mode == "full", and cfg.items was a method."""
    with pytest.raises(KeyError, match="reserved"):
        Settings(full={name: 1}, mode="full")
    cfg = Settings(full=dict(lr=0.1), mode="full")
    with pytest.raises(KeyError, match="reserved"):
        setattr(cfg, name, 1)
    cfg.lr = 0.2
    assert cfg["lr"] == 0.2


def test_a_float_smoke_value_for_an_integer_setting_is_refused():
    with pytest.raises(TypeError, match="epochs=0.5"):
        Settings(full=dict(epochs=20), smoke=dict(epochs=0.5), mode="smoke")


def test_gpu_size_overrides_full_only_on_an_accelerator_at_full_settings():
    full, smoke, gpu = dict(epochs=1, n_train=20_000), dict(n_train=256), dict(epochs=10, n_train=None)
    on_cpu = Settings(full, smoke, gpu=gpu, mode="full")
    on_gpu = Settings(full, smoke, gpu=gpu, mode="full", accelerator=True)
    smoke_on_gpu = Settings(full, smoke, gpu=gpu, mode="smoke", accelerator=True)
    assert (on_cpu.epochs, on_cpu.n_train, on_cpu.gpu_size) == (1, 20_000, False)
    assert (on_gpu.epochs, on_gpu.n_train, on_gpu.gpu_size) == (10, None, True)
    assert "GPU size" in repr(on_gpu)
    assert (smoke_on_gpu.epochs, smoke_on_gpu.n_train, smoke_on_gpu.gpu_size) == (1, 256, False)
    assert not Settings(full, mode="full", accelerator=True).gpu_size  # no GPU size declared: the full one runs
    with pytest.raises(KeyError, match=r"gpu settings \['lr'\] are not in the full settings"):
        Settings(full, gpu=dict(lr=0.1))
    with pytest.raises(TypeError, match="gpu settings of another type"):
        Settings(full, gpu=dict(epochs="ten"))
