import subprocess
import sys

import pytest
import torch

from dlhist import device as D


def test_default_device_is_available():
    dev = D.get_device()
    assert dev.type in ("cuda", "mps", "cpu")
    torch.zeros(1, device=dev)


def test_override_argument_and_environment(monkeypatch):
    assert D.get_device("cpu") == torch.device("cpu")
    monkeypatch.setenv("DLHIST_DEVICE", "cpu")
    assert D.get_device() == torch.device("cpu")


def test_unknown_device_is_an_error(monkeypatch):
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        D.get_device("tpu")
    monkeypatch.setenv("DLHIST_DEVICE", "gpu")
    with pytest.raises(ValueError, match="DLHIST_DEVICE"):
        D.get_device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_missing_cuda_is_an_error_not_a_fallback():
    with pytest.raises(RuntimeError, match="cuda"):
        D.get_device("cuda")


def test_seed_everything_repeats_all_generators():
    import random

    import numpy as np

    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    D.seed_everything(123)
    a = draw()
    D.seed_everything(123)
    assert draw() == a
    D.seed_everything(124)
    assert draw() != a


def test_autocast_is_a_no_op_on_cpu():
    assert D.amp_dtype("cpu") is None
    x = torch.randn(4, 4)
    with D.autocast("cpu"):
        y = x @ x
    assert y.dtype == torch.float32


def test_describe_names_device_and_versions():
    line = D.describe("cpu")
    assert line.startswith("device cpu (") and torch.__version__ in line and "\n" not in line


def test_import_does_not_touch_cuda():
    code = "import dlhist, torch, sys; print(torch.cuda.is_initialized(), 'torchvision' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]
