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
from .settings import Settings

ENV_RESULTS = "DLHIST_RESULTS"
FIELDS = ("metric", "ours", "paper", "paper_source", "higher_is_better", "target", "reproduced", "headline", "asserted",
          "mode", "device", "seconds", "note")
OPTIONAL_FIELDS = ("sd", "n_seeds", "values")  # present when a claim was measured over several seeds

_state: dict = {"start": None, "device": None, "records": [], "mode": None}


def _device_label(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({os.cpu_count()} cores)"
    return device.type


def start(full: dict, smoke: dict | None = None, *, gpu: dict | None = None, seed: int = 0,
          device: str | None = None):
    """Begin a notebook run: choose settings and device, seed everything, start the clock, print the header.

    Returns ``(cfg, device)``. ``cfg`` holds the full or smoke values (smoke when ``DLHIST_SMOKE=1``); on a CUDA
    device at full settings, ``gpu`` overrides the full values (a topic's larger GPU size, ``cfg.gpu_size``).
    """
    dev = get_device(device)
    cfg = Settings(full, smoke, gpu=gpu, accelerator=dev.type == "cuda")
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


def seed_stats(values) -> dict:
    """``{"mean", "sd", "se", "n"}`` of per-seed values (sample standard deviation; sd = se = 0 for one value)."""
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("seed_stats needs at least one value")
    bad = [v for v in vals if not math.isfinite(v)]
    if bad:
        raise ValueError(f"per-seed values must be finite numbers, got {vals}")
    n = len(vals)
    mean = sum(vals) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1)) if n > 1 else 0.0
    return {"mean": mean, "sd": sd, "se": sd / math.sqrt(n), "n": n}


MIN_SEEDS = 3


def record(metric: str, ours, paper: float | None, paper_source: str, higher_is_better: bool, *,
           target: float | None = None, headline: bool = False, asserted: bool = True,
           reproduced: bool | None = None, note: str = "") -> dict:
    """Record one result beside the paper's number and decide, in code, whether the claim is reproduced.

    ours        our number, or a list of per-seed numbers (a relational claim: "X beats Y by ...").
    target      the threshold ``ours`` must reach (``>=`` when ``higher_is_better``, else ``<=``); defaults to
                ``paper``. It must be able to fail: never a value an untrained model reaches.
    headline    the topic's one headline claim: the paper's own key claim (exactly one per topic; the main
                README shows only these).
    asserted    whether ``finish()`` asserts it at full settings; ``False`` records a result that is only reported
                (a claim that did not reproduce, or a near-tie), and every table says so.
    reproduced  only for a claim that is not a threshold (computed from the run, never typed in).

    With per-seed values (at least 3 at full settings), the claim passes only beyond the noise: every seed is
    strictly beyond the target, or the mean is at least two standard errors beyond it. ``ours`` becomes the mean
    and the record keeps ``sd``, ``n_seeds`` and ``values``.
    """
    elapsed()  # raises if start() was not called
    values = None
    if isinstance(ours, (list, tuple)) or (hasattr(ours, "ndim") and ours.ndim > 0):  # a list, tensor or array
        values = [float(v) for v in ours]
        if not values:
            raise ValueError(f"{metric}: ours is an empty list of per-seed values")
        if len(values) < MIN_SEEDS and _state["mode"] == "full":
            raise ValueError(f"{metric}: a relational claim needs at least {MIN_SEEDS} seeds at full settings, "
                             f"got {len(values)}")
        stats = seed_stats(values)
        ours = stats["mean"]
    ours = float(ours)
    if not math.isfinite(ours):
        raise ValueError(f"{metric}: ours is {ours}, not a finite number")
    threshold = paper if target is None else target
    if reproduced is None:
        if threshold is None:
            raise ValueError(f"{metric}: with paper=None, pass target= or reproduced=")
        if values is None:
            reproduced = ours >= threshold if higher_is_better else ours <= threshold
        else:  # every seed strictly beyond the target (ties are not agreement), or the mean two SEs beyond it
            margin = (ours - threshold) if higher_is_better else (threshold - ours)
            strictly = (lambda v: v > threshold) if higher_is_better else (lambda v: v < threshold)
            reproduced = all(strictly(v) for v in values) or (stats["n"] > 1 and margin >= 2 * stats["se"] > 0)
    rec = {
        "metric": metric, "ours": round(ours, 6), "paper": paper, "paper_source": paper_source,
        "higher_is_better": bool(higher_is_better), "target": threshold, "reproduced": bool(reproduced),
        "headline": bool(headline), "asserted": bool(asserted),
        "mode": _state["mode"], "device": _device_label(_state["device"]), "seconds": round(elapsed(), 1),
        "note": note,
    }
    if values is not None:
        rec.update(sd=round(stats["sd"], 6), n_seeds=stats["n"], values=[round(v, 6) for v in values])
    _state["records"] = [r for r in _state["records"] if r["metric"] != metric] + [rec]
    mark = "reproduced" if rec["reproduced"] else "NOT reproduced"
    kind = "headline" if headline else ("asserted" if asserted else "reported, not asserted")
    print(f"{metric}: ours {_ours_text(rec)} vs paper {_num(paper)} -> {mark} ({kind})")
    return rec


def _ours_text(r: dict, markdown: bool = False) -> str:
    if r.get("n_seeds"):
        pm = "&plusmn;" if markdown else "+/-"
        return f"{_num(r['ours'])} {pm} {_num(r['sd'])} ({r['n_seeds']} seeds)"
    return _num(r["ours"])


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
    return None if _state["mode"] == "smoke" else Path.cwd() / "results.json"


def finish() -> None:
    """Print the results table and the wall time, save the records, and (full mode) assert the asserted claims.

    Every topic has exactly one headline claim (checked in both modes, so that CI catches a missing one). In smoke
    mode the claims are printed but not asserted: smoke settings only exercise the code. Returns None, so that a
    notebook's last cell shows the table and nothing else.
    """
    records = list(_state["records"])
    if not records:
        raise RuntimeError("finish() found no records: call dlhist.record(...) for each result first")
    headlines = [r["metric"] for r in records if r["headline"]]
    if len(headlines) != 1:
        raise ValueError(f"a topic has exactly one headline claim (record(..., headline=True)), the paper's key "
                         f"claim; this run recorded {len(headlines)}: {headlines}")
    total = elapsed()
    print(format_table([{"topic": "", **r} for r in records], show_topic=False))
    print(f"wall time {total:.1f}s on {_device_label(_state['device'])} ({_state['mode']} settings)")
    path = results_path()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(records, indent=2) + "\n")
        # under `dlhist run` the file is a temporary one that becomes the topic's results.json if the run succeeds
        print("results written to results.json" if _state["mode"] == "full" else "smoke results recorded")
    failed = [r["metric"] for r in records if r["asserted"] and not r["reproduced"]]
    if _state["mode"] == "full" and failed:
        raise AssertionError(f"asserted claims not reproduced at full settings: {failed}")
    elif failed:
        print(f"smoke settings: {len(failed)} claim(s) not reached, as expected at this size (not checked)")


def load(path: str | Path) -> list[dict]:
    """Read a ``results.json``, checking that every record has the required fields."""
    path = Path(path)
    data = json.loads(path.read_text())
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a list of records, got {type(data).__name__}")
    for i, r in enumerate(data):
        missing = [f for f in FIELDS if f != "note" and f not in r]
        if missing:
            raise ValueError(f"{path}: record {i} lacks {missing}")
    return data


def kind(r: dict) -> str:
    """headline, asserted, or reported (recorded but not asserted)."""
    return "headline" if r.get("headline") else "asserted" if r.get("asserted", True) else "reported"


def format_table(rows: list[dict], markdown: bool = False, show_topic: bool = True, show_kind: bool = True) -> str:
    """A table of result records (each may carry a ``topic`` key). ``ours`` shows mean +/- sd over seeds where
    there were several; ``kind`` says whether a row is the headline, asserted, or only reported."""
    head = (["topic"] if show_topic else []) + ["metric", "ours", "paper", "claim", "reproduced"] + \
        (["kind"] if show_kind else []) + ["time"]
    body = []
    for r in rows:
        target = r.get("target", r["paper"])
        claim = "-" if target is None else ("&ge; " if markdown else ">= ") + _num(target) if r["higher_is_better"] \
            else ("&le; " if markdown else "<= ") + _num(target)
        cells = ([r.get("topic", "")] if show_topic else []) + [
            r["metric"], _ours_text(r, markdown), _num(r["paper"]), claim, "yes" if r["reproduced"] else "no",
        ] + ([kind(r)] if show_kind else []) + [
            f"{r['seconds']:.0f}s ({r.get('mode', '?')}, {r.get('device', '?')})",
        ]
        body.append(cells)
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        lines += ["| " + " | ".join(str(x).replace("|", "\\|") for x in c) + " |" for c in body]  # "|" ends a cell
        return "\n".join(lines)
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    fmt = "  ".join("{:<%d}" % w for w in widths)
    return "\n".join([fmt.format(*head), fmt.format(*["-" * w for w in widths])] + [fmt.format(*c) for c in body])
