"""The repository against its own conventions: topic folders, notebook headers, results and the README table."""

import json

import nbformat
import pytest

from dlhist import cli, curriculum, notebook, results

ROOT = curriculum.repo_root()
FOLDERS = sorted(p for s in curriculum.SECTIONS for p in (ROOT / s).glob("[0-9][0-9]-*") if p.is_dir())


def test_sections_exist_and_topics_are_unique():
    paths = [t.path for t in curriculum.TOPICS]
    assert len(paths) == len(set(paths)) == 33
    assert {t.section for t in curriculum.TOPICS} == set(curriculum.SECTIONS)
    assert FOLDERS, "no topic folders"


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_topic_folder_is_listed_and_complete(folder):
    rel = folder.relative_to(ROOT).as_posix()
    assert rel in {t.path for t in curriculum.TOPICS}, f"{rel} is not listed in dlhist/curriculum.py"
    readme = folder / "README.md"
    assert readme.exists(), f"{rel} has no README.md"
    assert "http" in readme.read_text(), f"{rel}/README.md links no paper"
    notebooks = list(folder.glob("*.ipynb"))
    assert len(notebooks) == 1, f"{rel} should hold exactly one notebook, found {notebooks}"
    nb = nbformat.read(notebooks[0], as_version=4)
    assert notebook.header_problems(nb, notebooks[0].relative_to(ROOT).as_posix()) == []
    sources = "\n".join(c.source for c in nb.cells)
    assert "dlhist.start(" in sources and "dlhist.finish(" in sources


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_committed_results_come_from_a_full_run(folder):
    path = folder / "results.json"
    if not path.exists():
        pytest.skip("no full-run results yet")
    for r in results.load(path):
        assert r["mode"] == "full", f"{path}: {r['metric']} comes from a {r['mode']} run"
        assert isinstance(r["reproduced"], bool)
        target = r.get("target", r["paper"])
        if target is not None and r["paper"] is not None:  # the recorded verdict matches the numbers
            ok = r["ours"] >= target if r["higher_is_better"] else r["ours"] <= target
            assert ok == r["reproduced"] or "reproduced" in r.get("note", ""), r


def test_readme_results_table_matches_results_files():
    assert cli.readme_table(ROOT) in (ROOT / "README.md").read_text(), "run `dlhist readme`"


def test_resolve_targets():
    present = curriculum.resolve(ROOT, ["all"])
    assert present and all((ROOT / t.path).is_dir() for t in present)
    first = present[0]
    assert curriculum.resolve(ROOT, [first.folder]) == [first]
    assert first in curriculum.resolve(ROOT, [first.section])
    assert curriculum.resolve(ROOT, [str(ROOT / first.path) + "/"]) == [first]
    with pytest.raises(SystemExit, match="no topic matches"):
        curriculum.resolve(ROOT, ["99-nothing"])


def test_list_command(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "01-deep-neural-networks" in out and "planned" in out


def test_status(tmp_path):
    t = curriculum.Topic("01-x", "01-y", "T", "P")
    assert curriculum.status(tmp_path, t) == "planned"
    (tmp_path / t.path).mkdir(parents=True)
    assert curriculum.status(tmp_path, t) == "in progress"
    (tmp_path / t.path / "n.ipynb").write_text("{}")
    (tmp_path / t.path / "results.json").write_text(json.dumps([{"reproduced": False}]))
    assert curriculum.status(tmp_path, t) == "not reproduced"
