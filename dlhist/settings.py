"""Full vs smoke settings: one declaration, one code path.

A notebook declares both in one call::

    cfg = Settings(full=dict(epochs=20, n_train=None), smoke=dict(epochs=1, n_train=2_000))

Smoke mode (``DLHIST_SMOKE=1``) takes the smoke values; everything else comes from ``full``. Smoke exists only so
that CI executes every cell quickly; the full values reproduce the paper's claim.
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


class Settings(dict):
    """The settings of one notebook: a dict whose keys are also attributes (``cfg.epochs``).

    ``smoke`` may only override keys that ``full`` declares, so a typo cannot create a setting that full mode
    silently lacks. ``smoke=None`` forces ``mode`` regardless of the environment (useful in tests).
    """

    def __init__(self, full: dict, smoke: dict | None = None, *, mode: str | None = None):
        smoke = dict(smoke or {})
        unknown = sorted(set(smoke) - set(full))
        if unknown:
            raise KeyError(f"smoke settings {unknown} are not in the full settings {sorted(full)}")
        chosen = mode or globals()["mode"]()
        if chosen not in ("full", "smoke"):
            raise ValueError(f"mode must be 'full' or 'smoke', not {chosen!r}")
        super().__init__(full)
        if chosen == "smoke":
            self.update(smoke)
        object.__setattr__(self, "mode", chosen)

    @property
    def smoke(self) -> bool:
        return self.mode == "smoke"

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"no setting {key!r}; the settings are {sorted(self)}") from None

    def __setattr__(self, key, value):
        self[key] = value

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={v!r}" for k, v in self.items())
        return f"Settings[{self.mode}]({body})"
