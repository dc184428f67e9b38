"""The repository against its own conventions: topic folders, notebook headers, results and the README tables;
and the tooling that keeps them (``dlhist list``, ``dlhist readme``, finding the clone) on fake clones."""

import json
import re
from pathlib import Path

import nbformat
import pytest

from dlhist import results
from dlhist.tools import cli, curriculum, notebook

ROOT = curriculum.repo_root(Path(__file__).parent)  # this clone, wherever pytest was started
FOLDERS = sorted(p for s in curriculum.SECTIONS for p in (ROOT / s).glob("[0-9][0-9]-*") if p.is_dir())


def test_sections_exist_and_topics_are_unique():
    paths = [t.path for t in curriculum.TOPICS]
    assert len(paths) == len(set(paths)) == 33
    assert {t.section for t in curriculum.TOPICS} == set(curriculum.SECTIONS)
    assert FOLDERS, "no topic folders"


def test_every_topic_has_title_papers_and_a_one_line_claim():
    for t in curriculum.TOPICS:
        assert re.fullmatch(r"\d\d-[a-z0-9-]+", t.folder) and t.section in curriculum.SECTIONS, t
        assert t.title and t.papers, t
        assert t.claim and "\n" not in t.claim and len(t.claim) <= 110, f"{t.path}: claim must be one short line"
    numbers = [(t.section, t.folder[:2]) for t in curriculum.TOPICS]
    assert len(numbers) == len(set(numbers)), "two topics share a number in one section"


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_topic_folder_is_listed_and_complete(folder):
    rel = folder.relative_to(ROOT).as_posix()
    assert rel in {t.path for t in curriculum.TOPICS}, f"{rel} is not listed in dlhist/tools/curriculum.py"
    readme = folder / "README.md"
    assert readme.exists(), f"{rel} has no README.md"
    assert "http" in readme.read_text(), f"{rel}/README.md links no paper"
    notebooks = list(folder.glob("*.ipynb"))
    assert len(notebooks) == 1, f"{rel} should hold exactly one notebook, found {notebooks}"
    nb = nbformat.read(notebooks[0], as_version=4)
    assert notebook.header_problems(nb, notebooks[0].relative_to(ROOT).as_posix()) == []
    sources = "\n".join(c.source for c in nb.cells)
    assert "dlhist.start(" in sources and "dlhist.finish(" in sources


def _verdict(r: dict) -> bool:
    """The verdict that results.record computes from the recorded numbers (per-seed values: beyond the noise)."""
    target = r.get("target", r["paper"])
    beyond = (lambda v: v >= target) if r["higher_is_better"] else (lambda v: v <= target)
    if not r.get("values"):
        return beyond(r["ours"])
    stats = results.seed_stats(r["values"])
    margin = (stats["mean"] - target) if r["higher_is_better"] else (target - stats["mean"])
    return all(beyond(v) for v in r["values"]) or (stats["n"] > 1 and margin >= 2 * stats["se"] > 0)


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_committed_results_come_from_a_full_run(folder):
    path = folder / "results.json"
    if not path.exists():
        pytest.skip("no full-run results yet")
    records = results.load(path)
    headlines = [r["metric"] for r in records if r["headline"]]
    assert len(headlines) == 1, f"{path}: exactly one headline claim expected, found {headlines}"
    for r in records:
        assert r["mode"] == "full", f"{path}: {r['metric']} comes from a {r['mode']} run"
        assert isinstance(r["reproduced"], bool) and isinstance(r["asserted"], bool)
        assert r["reproduced"] or not r["asserted"], f"{path}: {r['metric']} is asserted but not reproduced"
        if r.get("n_seeds"):
            assert r["n_seeds"] == len(r["values"]) >= results.MIN_SEEDS, r
        target = r.get("target", r["paper"])
        if target is not None and r["paper"] is not None:  # the recorded verdict matches the numbers
            assert _verdict(r) == r["reproduced"] or "reproduced" in r.get("note", ""), r


def test_readme_results_tables_match_results_files():
    stale = cli.readme_updates(ROOT)
    assert not stale, f"run `dlhist readme`: out of date: {sorted(p.relative_to(ROOT).as_posix() for p in stale)}"


# --- the README's curriculum table against TOPICS ---------------------------------------------------------------

LINK = re.compile(r"\[(?P<label>[^\]]+)\]\((?P<link>[^)]+)\)")


def _norm(label: str) -> str:
    return label.strip().lower().replace("-", " ")


def curriculum_problems(readme: str, root: Path) -> list[str]:
    """What is wrong with the README's "## Curriculum" table: every topic in order, each exactly once, linked
    (to its folder) exactly when its folder exists; a planned (unlinked) topic is named "NN folder name"."""
    if "\n## Curriculum\n" not in readme:
        return ["README.md has no '## Curriculum' section"]
    text = readme.split("\n## Curriculum\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| section ")]
    problems, listed = [], []
    by_number = {s[:2]: s for s in curriculum.SECTIONS}
    for line in rows:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 2:
            problems.append(f"not a two-column row: {line}")
            continue
        m = LINK.fullmatch(cells[0])
        label = m["label"] if m else cells[0]
        section = by_number.get(label[:2])
        if section is None or _norm(label[3:]) != _norm(curriculum.SECTIONS[section]):
            problems.append(f"unknown section {cells[0]!r}")
            continue
        if bool(m) != (root / section).is_dir() or (m and m["link"] != f"{section}/"):
            problems.append(f"{section}: link the section exactly when its folder exists ({cells[0]})")
        topics = {t.folder: t for t in curriculum.TOPICS if t.section == section}
        for item in cells[1].split(" · "):
            m = LINK.fullmatch(item.strip())
            if m:
                path = m["link"].rstrip("/")
                topic = next((t for t in topics.values() if t.path == path), None)
                if topic is None or not m["label"].startswith(topic.folder[:2] + " "):
                    problems.append(f"{section}: {item!r} links no topic of the section, or its number is wrong")
                    continue
                if not (root / topic.path).is_dir():
                    problems.append(f"{topic.path}: linked, but its folder does not exist")
            else:
                topic = next((t for t in topics.values() if _norm(t.folder) == _norm(item)), None)
                if topic is None:
                    problems.append(f"{section}: {item!r} names no topic (a planned one reads 'NN folder name')")
                    continue
                if (root / topic.path).is_dir():
                    problems.append(f"{topic.path}: its folder exists, so link it")
            listed.append(topic.path)
    expected = [t.path for t in curriculum.TOPICS]
    problems += [f"{p}: missing from the README's curriculum table" for p in expected if p not in listed]
    problems += [f"{p}: listed {listed.count(p)} times" for p in set(listed) if listed.count(p) > 1]
    if not problems and listed != expected:
        problems.append("the README's curriculum table is not in curriculum order")
    return problems


def test_readme_curriculum_table_lists_every_topic():
    assert curriculum_problems((ROOT / "README.md").read_text(), ROOT) == []


def test_readme_curriculum_check_catches_missing_and_extra_topics():
    readme = (ROOT / "README.md").read_text()
    assert any("03-sequence-modeling/08-mixture-of-experts: missing" in p
               for p in curriculum_problems(readme.replace(
                   " · [08 mixture of experts](03-sequence-modeling/08-mixture-of-experts/)", ""), ROOT))
    assert any("'09 text CNN' names no topic" in p
               for p in curriculum_problems(readme.replace("08-mixture-of-experts/) |", "08-mixture-of-experts/) · "
                                                           "09 text CNN |"), ROOT))
    cnn = "[02 CNN/LeNet](01-deep-neural-networks/02-cnn/) ·"
    assert cnn in readme
    assert any("listed 2 times" in p
               for p in curriculum_problems(readme.replace(cnn, f"{cnn} {cnn}"), ROOT))


def test_resolve_targets():
    present = curriculum.resolve(ROOT, ["all"])
    assert present and all((ROOT / t.path).is_dir() for t in present)
    first = present[0]
    assert curriculum.resolve(ROOT, [first.folder]) == [first]
    assert first in curriculum.resolve(ROOT, [first.section])
    assert curriculum.resolve(ROOT, [str(ROOT / first.path) + "/"]) == [first]
    with pytest.raises(SystemExit, match="no topic matches"):
        curriculum.resolve(ROOT, ["99-nothing"])


def test_list_command(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "01-deep-neural-networks" in out and "planned" in out
    assert all(t.folder in out and t.claim in out for t in curriculum.TOPICS)


def test_status(tmp_path):
    t = curriculum.Topic("01-x", "01-y", "T", "P")
    assert curriculum.status(tmp_path, t) == "planned"
    (tmp_path / t.path).mkdir(parents=True)
    assert curriculum.status(tmp_path, t) == "in progress"
    (tmp_path / t.path / "n.ipynb").write_text("{}")
    (tmp_path / t.path / "results.json").write_text(json.dumps([{"reproduced": False}]))
    assert curriculum.status(tmp_path, t) == "not reproduced"
    # the headline and every asserted claim decide; a claim that is only reported does not
    head, reported = record("h", 2.0, headline=True), record("r", 0.5, asserted=False)
    (tmp_path / t.path / "results.json").write_text(json.dumps([reported, head]))
    assert curriculum.status(tmp_path, t) == "reproduced"
    head_failed = record("h", 0.5, headline=True, asserted=False)
    (tmp_path / t.path / "results.json").write_text(json.dumps([head_failed, record("a", 2.0)]))
    assert curriculum.status(tmp_path, t) == "not reproduced"


# --- fake clones ---------------------------------------------------------------------------------------------------


def record(metric: str, ours: float, *, headline=False, asserted=True, values=None, target=1.0) -> dict:
    """A results.json record with the fields that results.record writes (target: higher is better)."""
    r = {"metric": metric, "ours": ours, "paper": 1.0, "paper_source": "Table 1", "higher_is_better": True,
         "target": target, "reproduced": ours >= target, "headline": headline, "asserted": asserted,
         "mode": "full", "device": "cpu (2 cores)", "seconds": 42.0, "note": ""}
    if values:
        r.update(sd=results.seed_stats(values)["sd"], n_seeds=len(values), values=values)
    return r


DNN, RELU, RES = (next(t for t in curriculum.TOPICS if t.folder == f) for f in ("01-dnn", "02-relu", "03-residuals"))
MAIN_README = f"# fake\n\n## Results\n\n{cli.README_START}\nold table\n{cli.README_END}\n\n## Curriculum\n\nkept\n"
RES_README = (f"# 03\n\nNotes.\n\n{cli.TOPIC_HEADING}\n\n{cli.README_START}\nstale\n{cli.README_END}\n\n"
              "## After\n\nkept\n")


def make_clone(folder: Path) -> Path:
    """A clone with three topic folders: 01-dnn (headline over 3 seeds, plus a reported claim that failed),
    03-residuals (README with markers already) and 02-relu (no notebook, no results: in progress)."""
    folder.mkdir(parents=True)
    (folder / "README.md").write_text(MAIN_README)
    (folder / "pyproject.toml").write_text('[project]\nname = "dlhist"\n')
    for t, readme, recs in [
        (DNN, "# 01 · fake\n\nNotes.\n", [record("reported claim", 0.5, asserted=False),
                                          record("headline claim", 1.6, headline=True, values=[1.5, 1.6, 1.7])]),
        (RES, RES_README, [record("residual headline", 2.0, headline=True)]),
        (RELU, "# 02 · relu\n", None),
    ]:
        (folder / t.path).mkdir(parents=True)
        (folder / t.path / "README.md").write_text(readme)
        if recs is not None:
            nbformat.write(nbformat.v4.new_notebook(), folder / t.path / f"{t.folder}.ipynb")
            (folder / t.path / "results.json").write_text(json.dumps(recs, indent=2))
    return folder


def test_repo_root_is_the_clone_of_the_working_directory(tmp_path, monkeypatch):
    a, b = make_clone(tmp_path / "a"), make_clone(tmp_path / "b")
    monkeypatch.chdir(a / DNN.path)
    assert curriculum.repo_root() == a.resolve()
    monkeypatch.chdir(b)
    assert curriculum.repo_root() == b.resolve()
    assert curriculum.repo_root(a / DNN.section) == a.resolve()


def test_repo_root_outside_a_clone_says_where_it_looked(tmp_path, monkeypatch):
    nowhere = tmp_path / "nowhere" / "deeper"
    (nowhere / DNN.section).mkdir(parents=True)  # a section folder alone (no README.md, pyproject.toml) is no clone
    monkeypatch.chdir(nowhere)
    with pytest.raises(FileNotFoundError) as err:
        curriculum.repo_root()
    assert str(nowhere.resolve()) in str(err.value) and "cd into a clone" in str(err.value)
    assert "--root" in str(err.value)


COMMANDS = [["list"], ["run", "02-relu"], ["results"], ["readme"], ["headers"]]


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: a[0])
def test_every_command_outside_a_clone_fails_clearly(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert str(tmp_path.resolve()) in err and "cd into a clone" in err and "--root" in err
    assert cli.main([*argv, "--root", str(tmp_path / "missing")]) == 2
    assert "no such folder" in capsys.readouterr().err


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: a[0])
def test_every_command_accepts_root(argv, tmp_path, monkeypatch, capsys):
    clone = make_clone(tmp_path / "clone")
    monkeypatch.chdir(make_clone(tmp_path / "other"))  # --root wins over the clone of the working directory
    assert cli.main([*argv, "--root", str(clone)]) == 0
    out = capsys.readouterr().out
    if argv[0] in ("list", "results"):
        assert "headline claim" in out
    assert (tmp_path / "other" / "README.md").read_text() == MAIN_README
    assert ((clone / "README.md").read_text() != MAIN_README) == (argv[0] == "readme")


def test_readme_writes_the_clone_it_runs_in(tmp_path, monkeypatch):
    real = (ROOT / "README.md").read_text()
    a, b = make_clone(tmp_path / "a"), make_clone(tmp_path / "b")
    monkeypatch.chdir(b / RES.path)
    assert cli.main(["readme"]) == 0
    assert "headline claim" in (b / "README.md").read_text()
    assert (a / "README.md").read_text() == MAIN_README and (ROOT / "README.md").read_text() == real


def test_readme_tables(tmp_path, capsys):
    clone = make_clone(tmp_path / "clone")
    assert cli.main(["readme", "--root", str(clone)]) == 0
    main = (clone / "README.md").read_text()
    table = main.split(cli.README_START)[1].split(cli.README_END)[0].strip().splitlines()
    assert table[0] == "| topic | metric | ours | paper | claim | reproduced | time |"  # no kind column
    assert len(table) == 4  # header, rule, one headline row per topic with results
    assert f"| {DNN.path} | headline claim | 1.6 &plusmn; 0.1 (3 seeds) |" in main
    assert f"| {RES.path} | residual headline |" in main and "reported claim" not in main
    assert main.endswith("## Curriculum\n\nkept\n") and "old table" not in main
    # a topic README without markers gets the full table in a new section at its end
    dnn = (clone / DNN.path / "README.md").read_text()
    assert dnn.startswith("# 01 · fake\n\nNotes.\n\n" + cli.TOPIC_HEADING + "\n")
    full = dnn.split(cli.README_START)[1].split(cli.README_END)[0]
    assert "| metric | ours | paper | claim | reproduced | kind | time |" in full
    assert "| reported claim | 0.5 |" in full and "| no | reported |" in full and "| yes | headline |" in full
    assert dnn.endswith(cli.README_END + "\n")
    # a topic README with markers is updated in place
    res = (clone / RES.path / "README.md").read_text()
    assert "stale" not in res and "residual headline" in res and res.endswith("## After\n\nkept\n")
    assert res.count(cli.TOPIC_HEADING) == 1
    assert (clone / RELU.path / "README.md").read_text() == "# 02 · relu\n"  # no results: left alone
    # a second run changes nothing
    assert cli.readme_updates(clone) == {}
    capsys.readouterr()
    assert cli.main(["readme", "--root", str(clone)]) == 0
    assert "already up to date" in capsys.readouterr().out


@pytest.mark.parametrize("broken", ["no headline", "two headlines", "old fields"])
def test_readme_refuses_results_without_one_headline(broken, tmp_path, capsys):
    clone = make_clone(tmp_path / "clone")
    path = clone / RES.path / "results.json"
    recs = json.loads(path.read_text())
    if broken == "no headline":
        recs[0]["headline"] = False
    elif broken == "two headlines":
        recs.append(record("another", 2.0, headline=True))
    else:
        del recs[0]["headline"], recs[0]["asserted"]
    path.write_text(json.dumps(recs))
    assert cli.main(["readme", "--root", str(clone)]) == 1
    err = capsys.readouterr().err
    assert RES.path in err and ("headline" in err or "lacks" in err)
    assert (clone / "README.md").read_text() == MAIN_README  # nothing written
    assert "Every recorded result" not in (clone / DNN.path / "README.md").read_text()


def test_list_shows_the_whole_course_with_claims_and_headlines(tmp_path, capsys):
    clone = make_clone(tmp_path / "clone")
    assert cli.main(["list", "--root", str(clone)]) == 0
    out = capsys.readouterr().out
    for t in curriculum.TOPICS:
        line = next(line for line in out.splitlines() if line.startswith(f"  {t.folder} "))
        state = {DNN: "reproduced", RES: "reproduced", RELU: "in progress"}.get(t, "planned")
        assert re.match(rf"  {t.folder} +{state} +{re.escape(t.title)} \({re.escape(t.papers)}\)$", line), line
        assert f"claim: {t.claim}" in out
    assert "headline claim: 1.6 +/- 0.1 (3 seeds) vs paper 1 (reproduced)" in out
    assert "reported claim" not in out  # the headline record, not the first one
    assert "33 topics: 2 reproduced, 0 not reproduced, 1 in progress, 30 planned" in out
