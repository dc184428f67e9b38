import json
import os

import nbformat
import pytest

from dlhist.tools import cli, curriculum, notebook


def test_clean_text_keeps_what_a_terminal_shows():
    assert notebook.clean_text("a\rb\rc\n") == "c\n"
    assert notebook.clean_text("epoch 1\n 10%|#\r 50%|###\r\r         \rdone\n") == "epoch 1\ndone\n"
    assert notebook.clean_text("x\r\ny\n") == "x\ny\n"


def test_clean_merges_streams_before_dropping_bars():
    out = nbformat.v4.new_output
    cell = nbformat.v4.new_code_cell("fit()")
    cell.outputs = [out("stream", name="stdout", text="net:   0%|   | 0/90 [00:00<?, ?it/s]"),
                    out("stream", name="stdout", text="\rnet:  50%|#  | 45/90 [00:01<00:01, 45it/s, loss 0.1]"),
                    out("stream", name="stdout", text="\r\r          \rnet: done in 2.0s\n"),
                    out("stream", name="stdout", text="net:  10%|   | 9/90 [00:00<00:01]net:  20%|  | 18/90 [00:01<\n"),
                    out("stream", name="stdout", text="b:  99%|#| 89/90 [00:01<00:00, 9it/s, loss 0.1]b: done\n"),
                    out("stream", name="stderr", text="warning\n")]
    nb = nbformat.v4.new_notebook(cells=[cell])
    notebook.clean(nb)
    assert [(o.name, o.text) for o in nb.cells[0].outputs] == [("stdout", "net: done in 2.0s\nb: done\n"),
                                                                ("stderr", "warning\n")]
    notebook.clean(nb)  # idempotent
    assert len(nb.cells[0].outputs) == 2


def test_from_percent_and_headers():
    nb = notebook.from_percent("# %% [markdown]\n# # Title\n# One line.\n\n# %%\nx = 1\n")
    assert [c.cell_type for c in nb.cells] == ["markdown", "code"]
    assert nb.cells[0].source == "# Title\nOne line." and nb.cells[1].source == "x = 1"
    nbformat.validate(nb)
    nb.cells[1:1] = [nbformat.v4.new_markdown_cell("colab-badge.svg old"),
                     nbformat.v4.new_code_cell("import sys\nif 'google.colab' in sys.modules: pip")]
    assert notebook.header_problems(nb, "a/b/c.ipynb")
    assert notebook.sync_headers(nb, "a/b/c.ipynb")
    assert notebook.header_problems(nb, "a/b/c.ipynb") == []
    assert "a/b/c.ipynb" in nb.cells[1].source and notebook.REPO in nb.cells[2].source


TINY = """# %% [markdown]
# # Tiny
# A test notebook.

# %%
import dlhist
cfg, device = dlhist.start(full=dict(n=100), smoke=dict(n=1))
for i in range(3):
    print(f"\\r{i}", end="")
print()

# %%
dlhist.record("n", ours=cfg.n, paper=50, paper_source="nowhere", higher_is_better=True, headline=True)
dlhist.finish()
"""


@pytest.fixture
def tiny_repo(tmp_path):
    topic = tmp_path / "01-deep-neural-networks" / "01-dnn"
    topic.mkdir(parents=True)
    nbformat.write(notebook.from_percent(TINY), topic / "tiny.ipynb")
    return tmp_path, topic


def test_run_smoke_prints_table_and_writes_nothing(tiny_repo, capsys, monkeypatch):
    root, topic = tiny_repo
    before = (topic / "tiny.ipynb").read_text()
    assert cli.main(["run", "01-dnn", "--smoke", "--quiet", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "01-deep-neural-networks/01-dnn: ok" in out and "smoke" in out and "no" in out
    assert (topic / "tiny.ipynb").read_text() == before and not (topic / "results.json").exists()
    assert os.environ["DLHIST_SMOKE"] == "1"  # restored for the rest of the session


def test_run_full_writes_outputs_and_results(tiny_repo, capsys):
    root, topic = tiny_repo
    assert cli.main(["run", "all", "--quiet", "--root", str(root)]) == 0
    nb = nbformat.read(topic / "tiny.ipynb", as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "full settings" in text and "\r" not in text
    assert [c.execution_count for c in nb.cells if c.cell_type == "code"] == [1, 2]
    assert json.loads((topic / "results.json").read_text())[0]["reproduced"] is True


def test_figures_are_kept_even_when_the_shell_sets_a_non_interactive_backend(tiny_repo, monkeypatch):
    """Before: with MPLBACKEND=Agg in the environment (as CI sets it), `dlhist run` saved notebooks without figures."""
    root, topic = tiny_repo
    nb = nbformat.read(topic / "tiny.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()"))
    nbformat.write(nb, topic / "tiny.ipynb")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    assert cli.main(["run", "all", "--quiet", "--root", str(root)]) == 0
    nb = nbformat.read(topic / "tiny.ipynb", as_version=4)
    assert any("image/png" in o.get("data", {}) for o in nb.cells[-1].outputs)
    import os

    assert os.environ["MPLBACKEND"] == "Agg"  # the caller's environment is restored


def test_run_reports_a_failing_notebook(tiny_repo, capsys):
    root, topic = tiny_repo
    nb = nbformat.read(topic / "tiny.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("raise ValueError('broken on purpose')"))
    nbformat.write(nb, topic / "tiny.ipynb")
    before = (topic / "tiny.ipynb").read_text()
    assert cli.main(["run", "--smoke", "--quiet", "--root", str(root)]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "broken on purpose" in out
    # a failed full run writes neither the notebook nor results.json (finish() ran before the failing cell)
    assert cli.main(["run", "--quiet", "--root", str(root)]) == 1
    assert (topic / "tiny.ipynb").read_text() == before and not (topic / "results.json").exists()


def test_headers_of_the_real_notebooks_are_in_sync():
    root = curriculum.repo_root()
    for t in curriculum.TOPICS:
        nb_path = curriculum.notebook_of(root, t)
        if nb_path is not None:
            nb = nbformat.read(nb_path, as_version=4)
            assert not notebook.sync_headers(nb, nb_path.relative_to(root).as_posix()), nb_path
