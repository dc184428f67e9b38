"""Full vs smoke settings: one declaration, one code path.

A notebook declares both in one call::

    cfg = Settings(full=dict(epochs=20, n_train=None), smoke=dict(epochs=1, n_train=2_000))

Smoke mode (``DLHIST_SMOKE=1``) takes the smoke values; everything else comes from ``full``. Smoke exists only so
that CI executes every cell quickly; the full values reproduce the paper's claim.

A topic whose claim needs more data or steps than ten CPU minutes allow also declares a GPU size: ``gpu=dict(...)``
overrides ``full`` at full settings when the notebook runs on a CUDA GPU (``dlhist.start`` passes
``accelerator=True`` there). It is the same code path with larger numbers; ``cfg.gpu_size`` says which size ran.
"""

from __future__ import annotations

import os

ENV_SMOKE = "DLHIST_SMOKE"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def is_smoke() -> bool:
    """True when the environment variable ``DLHIST_SMOKE`` asks for smoke settings."""
    value = os.environ.get(ENV_SMOKE, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{ENV_SMOKE}={os.environ[ENV_SMOKE]!r} is not understood; use 1 (smoke) or 0 (full)")


def mode() -> str:
    """``"smoke"`` or ``"full"``."""
    return "smoke" if is_smoke() else "full"


RESERVED = frozenset(name for name in dir(dict) if not name.startswith("_")) | {"mode", "smoke", "gpu_size"}


def _same_kind(full_value, smoke_value) -> bool:
    """Whether a smoke value may stand in for a full one: same type, an int for a float, any value for None,
    any sequence for a sequence (never a string for a number, nor a bool for an int)."""
    if full_value is None or smoke_value is None:
        return True
    if isinstance(full_value, bool) or isinstance(smoke_value, bool):
        return isinstance(full_value, bool) and isinstance(smoke_value, bool)
    if isinstance(full_value, float):
        return isinstance(smoke_value, (int, float))
    if isinstance(full_value, int):
        return isinstance(smoke_value, int)
    if isinstance(full_value, str) or isinstance(smoke_value, str):
        return isinstance(full_value, str) and isinstance(smoke_value, str)
    if isinstance(full_value, (list, tuple)):
        return isinstance(smoke_value, (list, tuple))
    return isinstance(smoke_value, type(full_value)) or isinstance(full_value, type(smoke_value))


class Settings(dict):
    """The settings of one notebook: a dict whose keys are also attributes (``cfg.epochs``).

    ``smoke`` may only override keys that ``full`` declares, with a value of the same kind, so that a typo cannot
    create a setting that full mode silently lacks. Names that would hide a dict method or the ``mode``/``smoke``
    attributes (``items``, ``keys``, ``mode``, ...) are refused. ``mode=`` forces the mode regardless of the
    environment (useful in tests); otherwise ``DLHIST_SMOKE`` decides, here and nowhere else.
    """

    def __init__(self, full: dict, smoke: dict | None = None, *, gpu: dict | None = None, mode: str | None = None,
                 accelerator: bool = False):
        smoke, gpu = dict(smoke or {}), dict(gpu or {})
        reserved = sorted(set(full) & RESERVED)
        if reserved:
            raise KeyError(f"setting name(s) {reserved} are reserved (dict methods or Settings attributes); "
                           f"rename them, e.g. {reserved[0]}_")
        for name, other in (("smoke", smoke), ("gpu", gpu)):
            unknown = sorted(set(other) - set(full))
            if unknown:
                raise KeyError(f"{name} settings {unknown} are not in the full settings {sorted(full)}")
            wrong = [f"{k}={other[k]!r} (full: {full[k]!r})" for k in other if not _same_kind(full[k], other[k])]
            if wrong:
                raise TypeError(f"{name} settings of another type than the full ones: {', '.join(wrong)}")
        chosen = mode or globals()["mode"]()
        if chosen not in ("full", "smoke"):
            raise ValueError(f"mode must be 'full' or 'smoke', not {chosen!r}")
        super().__init__(full)
        gpu_size = chosen == "full" and accelerator and bool(gpu)
        if chosen == "smoke":
            self.update(smoke)
        elif gpu_size:
            self.update(gpu)
        object.__setattr__(self, "_mode", chosen)
        object.__setattr__(self, "_gpu_size", gpu_size)

    @property
    def mode(self) -> str:
        """``"full"`` or ``"smoke"``."""
        return self._mode

    @property
    def gpu_size(self) -> bool:
        """True when the GPU size ran: full settings on a CUDA device, with ``gpu`` overrides declared."""
        return self._gpu_size

    @property
    def smoke(self) -> bool:
        """True at smoke settings: notebooks test this (``if cfg.smoke``), never the environment."""
        return self._mode == "smoke"

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"no setting {key!r}; the settings are {sorted(self)}") from None

    def __setattr__(self, key, value):
        if key in RESERVED:
            raise KeyError(f"setting name {key!r} is reserved")
        self[key] = value

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={v!r}" for k, v in self.items())
        return f"Settings[{self.mode}{', GPU size' if self.gpu_size else ''}]({body})"
