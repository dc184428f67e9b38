"""A notebook's headline results: start the clock, record each claim against the paper, save ``results.json``.

In a notebook::

    cfg, device = dlhist.start(full=dict(epochs=20), smoke=dict(epochs=1))   # prints device, settings, date
    ...
    dlhist.record("test error (%)", ours=1.41, paper=1.6, paper_source="Table 2", higher_is_better=False)
    dlhist.finish()   # prints the table; full mode: writes results.json and asserts every claim

Where results go: ``$DLHIST_RESULTS`` if set (``dlhist run`` sets it), else ``results.json`` in the working
directory (the topic folder) in full mode, and nowhere in smoke mode: a smoke run never overwrites committed results.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import time
from pathlib import Path

import torch

from . import __version__
from .device import describe, get_device, seed_everything
from .settings import Settings, is_smoke

ENV_RESULTS = "DLHIST_RESULTS"
FIELDS = ("metric", "ours", "paper", "paper_source", "higher_is_better", "target", "reproduced", "mode", "device",
          "seconds", "note")

_state: dict = {"start": None, "device": None, "records": [], "mode": None}


def _device_label(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({os.cpu_count()} cores)"
    return device.type


def start(full: dict, smoke: dict | None = None, *, seed: int = 0, device: str | None = None):
    """Begin a notebook run: choose settings and device, seed everything, start the clock, print the header.

    Returns ``(cfg, device)``. ``cfg`` holds the full or smoke values (smoke when ``DLHIST_SMOKE=1``).
    """
    cfg = Settings(full, smoke)
    dev = get_device(device)
    seed_everything(seed)
    _state.update(start=time.perf_counter(), device=dev, records=[], mode=cfg.mode)
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"dlhist {__version__} | {cfg.mode} settings | seed {seed} | {now}")
    print(describe(dev))
    print(cfg)
    return cfg, dev


def elapsed() -> float:
    """Seconds since ``start()``."""
    if _state["start"] is None:
        raise RuntimeError("call dlhist.start(...) at the top of the notebook first")
    return time.perf_counter() - _state["start"]


def record(metric: str, ours: float, paper: float | None, paper_source: str, higher_is_better: bool, *,
           target: float | None = None, reproduced: bool | None = None, note: str = "") -> dict:
    """Record one headline result beside the paper's number and decide whether the claim is reproduced.

    The claim is ``ours >= target`` (or ``<=`` when lower is better), where ``target`` defaults to ``paper``.
    For a relational claim ("ReLU trains faster than tanh") pass the measured ratio as ``ours`` and the threshold
    as ``target`` (e.g. 1.0), or pass ``reproduced`` computed from the run. The paper's number stays beside ours.
    """
    elapsed()  # raises if start() was not called
    ours = float(ours)
    if not math.isfinite(ours):
        raise ValueError(f"{metric}: ours is {ours}, not a finite number")
    threshold = paper if target is None else target
    if reproduced is None:
        if threshold is None:
            raise ValueError(f"{metric}: with paper=None, pass target= or reproduced=")
        reproduced = ours >= threshold if higher_is_better else ours <= threshold
    rec = {
        "metric": metric, "ours": round(ours, 6), "paper": paper, "paper_source": paper_source,
        "higher_is_better": bool(higher_is_better), "target": threshold, "reproduced": bool(reproduced),
        "mode": _state["mode"], "device": _device_label(_state["device"]), "seconds": round(elapsed(), 1),
        "note": note,
    }
    _state["records"] = [r for r in _state["records"] if r["metric"] != metric] + [rec]
    mark = "reproduced" if rec["reproduced"] else "NOT reproduced"
    print(f"{metric}: ours {_num(ours)} vs paper {_num(paper)} -> {mark}")
    return rec


def _num(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return str(v)
    v = float(v)
    return f"{v:.4g}" if abs(v) < 1e5 else f"{v:.3e}"


def results_path() -> Path | None:
    """Where ``finish()`` writes: ``$DLHIST_RESULTS``, else ``./results.json`` in full mode, else None."""
    env = os.environ.get(ENV_RESULTS, "").strip()
    if env:
        return Path(env)
    return None if is_smoke() else Path.cwd() / "results.json"


def finish(check: bool = True) -> None:
    """Print the results table and the wall time, save the records, and (full mode) assert every claim.

    In smoke mode the claims are printed but not asserted: smoke settings only exercise the code. Returns None, so
    that a notebook's last cell shows the table and nothing else.
    """
    records = list(_state["records"])
    if not records:
        raise RuntimeError("finish() found no records: call dlhist.record(...) for each headline result first")
    total = elapsed()
    print(format_table([{"topic": "", **r} for r in records], show_topic=False))
    print(f"wall time {total:.1f}s on {_device_label(_state['device'])} ({_state['mode']} settings)")
    path = results_path()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(records, indent=2) + "\n")
        # under `dlhist run` the file is a temporary one that becomes the topic's results.json if the run succeeds
        print("results written to results.json" if _state["mode"] == "full" else "smoke results recorded")
    if check:
        failed = [r["metric"] for r in records if not r["reproduced"]]
        if _state["mode"] == "full":
            assert not failed, f"claims not reproduced at full settings: {failed}"
        elif failed:
            print(f"smoke settings: {len(failed)} claim(s) not reached, as expected at this size (not checked)")


def load(path: str | Path) -> list[dict]:
    """Read a ``results.json``, checking that every record has the required fields."""
    path = Path(path)
    data = json.loads(path.read_text())
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a list of records, got {type(data).__name__}")
    for i, r in enumerate(data):
        missing = [f for f in ("metric", "ours", "paper", "paper_source", "higher_is_better", "reproduced", "mode",
                               "device", "seconds") if f not in r]
        if missing:
            raise ValueError(f"{path}: record {i} lacks {missing}")
    return data


def format_table(rows: list[dict], markdown: bool = False, show_topic: bool = True) -> str:
    """A table of result records (each may carry a ``topic`` key)."""
    head = (["topic"] if show_topic else []) + ["metric", "ours", "paper", "claim", "reproduced", "time"]
    body = []
    for r in rows:
        target = r.get("target", r["paper"])
        claim = "-" if target is None else ("&ge; " if markdown else ">= ") + _num(target) if r["higher_is_better"] \
            else ("&le; " if markdown else "<= ") + _num(target)
        cells = ([r.get("topic", "")] if show_topic else []) + [
            r["metric"], _num(r["ours"]), _num(r["paper"]), claim, "yes" if r["reproduced"] else "no",
            f"{r['seconds']:.0f}s ({r.get('mode', '?')}, {r.get('device', '?')})",
        ]
        body.append(cells)
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        lines += ["| " + " | ".join(c) + " |" for c in body]
        return "\n".join(lines)
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    fmt = "  ".join("{:<%d}" % w for w in widths)
    return "\n".join([fmt.format(*head), fmt.format(*["-" * w for w in widths])] + [fmt.format(*c) for c in body])
