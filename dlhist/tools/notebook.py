"""Notebook tooling: the shared header cells (Colab badge, setup), cleaning saved outputs, headless execution,
and converting percent-format sources. Repo tooling: never imported by the kernel side of dlhist.

The repository URL lives here and only here (``REPO``); ``dlhist headers`` writes it into every notebook.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = "dlhist/dlhist"  # GitHub owner/name: the one place to change it
BRANCH = "main"

BADGE_MARK = "colab-badge.svg"
SETUP_MARK = "google.colab"


def badge_source(rel_path: str) -> str:
    url = f"https://colab.research.google.com/github/{REPO}/blob/{BRANCH}/{rel_path}"
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"


def setup_source() -> str:
    return (
        "# Setup. On Colab this installs dlhist from GitHub; locally, run `pip install -e .` once in the repo root.\n"
        "import sys\n"
        "\n"
        "if \"google.colab\" in sys.modules:\n"
        "    import subprocess\n"
        "\n"
        f"    pkg = \"dlhist @ git+https://github.com/{REPO}@{BRANCH}\"\n"
        "    subprocess.run([sys.executable, \"-m\", \"pip\", \"install\", \"-q\", pkg], check=True)"
    )


def sync_headers(nb, rel_path: str) -> bool:
    """Rewrite the badge cell and the setup cell of ``nb`` from the templates; True if anything changed."""
    changed = False
    for cell in nb.cells:
        src = cell.source
        if cell.cell_type == "markdown" and BADGE_MARK in src:
            new = badge_source(rel_path)
        elif cell.cell_type == "code" and SETUP_MARK in src and "pip" in src:
            new = setup_source()
        else:
            continue
        if src != new:
            cell.source = new
            changed = True
    return changed


def header_problems(nb, rel_path: str) -> list[str]:
    """What differs from the conventions' header: title first, then badge, then setup cell."""
    cells = nb.cells
    problems = []
    if len(cells) < 3:
        return ["fewer than three cells"]
    if cells[0].cell_type != "markdown" or not cells[0].source.lstrip().startswith("# "):
        problems.append("cell 0 is not a markdown '# Title' with a one-line summary")
    if cells[1].cell_type != "markdown" or cells[1].source != badge_source(rel_path):
        problems.append("cell 1 is not the Open-in-Colab badge (run `dlhist headers`)")
    if cells[2].cell_type != "code" or cells[2].source != setup_source():
        problems.append("cell 2 is not the setup cell (run `dlhist headers`)")
    return problems


_CR = re.compile(r"[^\n]*\r(?!\n)")
# one tqdm bar segment, with its description: "net:  12%|####      | 1167/9380 [00:01<00:07, 1166.88it/s, loss 0.1]"
_BAR = re.compile(r"(?:[^\s|\]]+:\s*)?\d+%\|[^|]*\|\s*\d+/\d*\s*\[[^\]\n]*\]?")


def clean_text(text: str) -> str:
    """What a terminal would show, minus progress bars: text overwritten by carriage returns is dropped, and so
    are tqdm bar segments left in a line (a bar whose redraws were split across output messages)."""
    text = _CR.sub("", text.replace("\r\n", "\n"))
    lines = []
    for line in text.split("\n"):
        if _BAR.search(line):
            line = _BAR.sub("", line)
            if not line.strip():
                continue
        lines.append(line)
    return "\n".join(lines)


def clean(nb) -> None:
    """Tidy saved outputs in place: collapse progress-bar redraws, drop empty streams and timing metadata."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        merged = []  # first merge consecutive stream messages: a bar's redraws may span several of them
        for out in cell.get("outputs", []):
            if (out.output_type == "stream" and merged and merged[-1].output_type == "stream"
                    and merged[-1].name == out.name):
                merged[-1].text += out.text
            else:
                merged.append(out)
        outputs = []
        for out in merged:
            if out.output_type == "stream":
                out.text = re.sub(r"\n{3,}", "\n\n", clean_text(out.text))
                if not out.text.strip():
                    continue
            outputs.append(out)
        cell.outputs = outputs


def execute(path: Path, *, smoke: bool, results: Path | None, timeout: int = 1800, progress: bool = True):
    """Run a notebook top to bottom in its own folder with a fresh kernel; return ``(notebook, seconds)``.

    Raises ``nbclient.exceptions.CellExecutionError`` (with the failing cell and traceback) on an error.
    """
    import nbformat
    from nbclient import NotebookClient
    from tqdm.std import tqdm

    nb = nbformat.read(path, as_version=4)
    env_backup = {k: os.environ.get(k) for k in ("DLHIST_SMOKE", "DLHIST_RESULTS", "MPLBACKEND")}
    os.environ["DLHIST_SMOKE"] = "1" if smoke else "0"
    # the kernel draws figures inline, whatever the shell says: MPLBACKEND=Agg (as CI sets it) would silently drop
    # every figure from the saved outputs
    os.environ.pop("MPLBACKEND", None)
    if results is not None:
        os.environ["DLHIST_RESULTS"] = str(results)
    else:
        os.environ.pop("DLHIST_RESULTS", None)
    code_cells = sum(1 for c in nb.cells if c.cell_type == "code")
    bar = tqdm(total=code_cells, desc=path.parent.name, unit="cell", disable=not progress, file=sys.stdout,
               leave=False, ncols=90)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}},
                            on_cell_executed=lambda cell, **_: bar.update(1) if cell.cell_type == "code" else None)
    start = time.perf_counter()
    try:
        client.execute(stderr=subprocess.DEVNULL)  # cell errors come back through Jupyter, not the kernel's stderr
    finally:
        bar.close()
        for k, v in env_backup.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    seconds = time.perf_counter() - start
    clean(nb)
    return nb, seconds


def from_percent(text: str):
    """Build a notebook from percent-format source (``# %%`` code cells, ``# %% [markdown]`` markdown cells).

    An authoring aid: write a topic as a script, convert it, then execute it with ``dlhist run``.
    """
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                   "language_info": {"name": "python"}}
    blocks = re.split(r"^# %%(.*)$", text, flags=re.M)
    for header, body in zip(blocks[1::2], blocks[2::2]):
        body = body.strip("\n")
        if "[markdown]" in header:
            lines = [ln[2:] if ln.startswith("# ") else ln.lstrip("#") for ln in body.split("\n")]
            nb.cells.append(nbformat.v4.new_markdown_cell("\n".join(lines).strip("\n")))
        else:
            nb.cells.append(nbformat.v4.new_code_cell(body))
    return nb
