"""Device choice, seeding, mixed precision and a one-line hardware description.

Nothing here touches CUDA at import time: every CUDA query happens inside a function call.
"""

from __future__ import annotations

import contextlib
import os
import platform
import random

import numpy as np
import torch

ENV_DEVICE = "DLHIST_DEVICE"
_KNOWN = ("cuda", "mps", "cpu")


def get_device(override: str | None = None) -> torch.device:
    """Return the best available device: cuda, then mps, then cpu.

    ``override`` (or the environment variable ``DLHIST_DEVICE``) forces one, e.g. ``"cpu"`` or ``"cuda:1"``.
    Asking for a device this machine does not have is an error, not a silent fallback.
    """
    name = override or os.environ.get(ENV_DEVICE, "").strip()
    if name:
        kind = name.split(":")[0]
        if kind not in _KNOWN:
            origin = "argument" if override else ENV_DEVICE
            raise ValueError(f"unknown device {name!r} (from {origin}); use one of {_KNOWN}")
        if kind == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device {name!r} was asked for, but torch.cuda.is_available() is False on this machine")
        if kind == "mps" and not _mps_available():
            raise RuntimeError(f"device {name!r} was asked for, but MPS is not available on this machine")
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python's ``random``, NumPy and torch (all devices) in one call; returns a CPU generator seeded alike."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device, lazily
    return torch.Generator().manual_seed(seed)


def amp_dtype(device: torch.device | str) -> torch.dtype | None:
    """The autocast dtype on ``device``: bf16 on CUDA cards that support it, fp16 on older ones, else None."""
    device = torch.device(device)
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(device: torch.device | str, enabled: bool = True):
    """Mixed-precision context on CUDA (bf16 where supported); a no-op context on CPU and MPS."""
    dtype = amp_dtype(device) if enabled else None
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=dtype)


def describe(device: torch.device | str | None = None) -> str:
    """One line describing the hardware and software, for the top of a notebook."""
    device = torch.device(device) if device is not None else get_device()
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        hw = f"cuda ({props.name}, {props.total_memory / 2**30:.0f} GiB)"
    elif device.type == "mps":
        hw = f"mps (Apple {platform.machine()})"
    else:
        cpu = platform.processor() or platform.machine()
        hw = f"cpu ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads, {cpu})"
    return f"device {hw} | torch {torch.__version__} | python {platform.python_version()}"
