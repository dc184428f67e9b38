"""pytest setup for the whole repository: unit tests in tests/ and every topic notebook through nbval.

Notebooks run in smoke mode and never touch the network: data comes from the cache or from $DLHIST_MIRROR.
At the end, the time each notebook took is printed.
"""

import os
from collections import defaultdict

os.environ["DLHIST_SMOKE"] = "1"
os.environ["DLHIST_OFFLINE"] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")

_notebook_seconds = defaultdict(float)
_notebook_failed = set()


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _notebook_seconds[path] += report.duration
        if report.failed:
            _notebook_failed.add(path)


def pytest_terminal_summary(terminalreporter):
    if not _notebook_seconds:
        return
    tr = terminalreporter
    tr.section("notebook durations (smoke settings)")
    for path, seconds in sorted(_notebook_seconds.items(), key=lambda kv: -kv[1]):
        tr.write_line(f"{seconds:7.1f}s  {path}{'  FAILED' if path in _notebook_failed else ''}")
    tr.write_line(f"{sum(_notebook_seconds.values()):7.1f}s  total, {len(_notebook_seconds)} notebook(s)")
