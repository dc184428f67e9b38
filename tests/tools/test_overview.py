"""The overview (OVERVIEW.md, images/tech-tree.png, PAPERS.md) against the data it is generated from: the curriculum's
prerequisites, the paper list against the topic READMEs, the essay's numbers against results.json; and
``dlhist overview`` on fake clones."""

import json
import re
from pathlib import Path

import pytest

from dlhist.tools import cli, curriculum, overview, papers

ROOT = curriculum.repo_root(Path(__file__).parent)
PATHS = [t.path for t in curriculum.TOPICS]


# --- the prerequisites -----------------------------------------------------------------------------------------------


def test_every_prerequisite_names_a_real_topic_and_the_graph_has_no_cycle():
    assert overview.requires_problems() == []
    assert any(t.requires for t in curriculum.TOPICS)
    roots = [t.path for t in curriculum.TOPICS if not t.requires]
    assert roots == ["01-deep-neural-networks/01-dnn"], f"only the perceptron should stand on nothing: {roots}"


def test_requires_problems_finds_unknown_topics_self_references_and_cycles():
    T = curriculum.Topic
    topics = [T("01-a", "01-x", "X", "P", requires=("01-a/02-y",)),
              T("01-a", "02-y", "Y", "P", requires=("01-a/03-z",)),
              T("01-a", "03-z", "Z", "P", requires=("01-a/01-x",)),
              T("01-a", "04-w", "W", "P", requires=("01-a/04-w",)),
              T("01-a", "05-v", "V", "P", requires=("02-nothing/01-x", "01-a/01-x", "01-a/01-x"))]
    problems = overview.requires_problems(topics)
    assert any(p.startswith("cycle: ") and "01-a/01-x" in p and "01-a/03-z" in p for p in problems), problems
    assert "01-a/04-w requires itself" in problems
    assert any("'02-nothing/01-x', which is no topic" in p for p in problems)
    assert "01-a/05-v names a prerequisite twice" in problems
    assert overview.requires_problems(topics[3:4]) == ["01-a/04-w requires itself"]


def test_depths_follow_the_longest_chain_of_prerequisites():
    d = overview.depths()
    assert d["01-deep-neural-networks/01-dnn"] == 0
    for t in curriculum.TOPICS:
        assert all(d[r] < d[t.path] for r in t.requires), t.path
    assert d["04-transformers/01-transformer"] > d["03-sequence-modeling/07-attention"]


@pytest.mark.parametrize("route", overview.ROUTES, ids=lambda r: r.key)
def test_reading_routes_name_real_topics_after_their_prerequisites(route):
    assert route.topics and set(route.topics) <= set(PATHS) and len(set(route.topics)) == len(route.topics)
    by_path = {t.path: t for t in curriculum.TOPICS}

    def ancestors(p, seen=None):
        seen = set() if seen is None else seen
        for r in by_path[p].requires:
            if r not in seen:
                seen.add(r)
                ancestors(r, seen)
        return seen

    for i, p in enumerate(route.topics):
        later = set(route.topics[i + 1:])
        assert not ancestors(p) & later, f"{route.key}: {p} comes before its prerequisites {ancestors(p) & later}"


def test_every_topic_has_a_label():
    assert list(overview.LABELS) == PATHS
    assert all(0 < len(label) <= 18 for label in overview.LABELS.values())


# --- the paper list --------------------------------------------------------------------------------------------------


def test_every_topic_has_citations_in_curriculum_order():
    assert list(papers.CITATIONS) == PATHS
    for path, cites in papers.CITATIONS.items():
        assert cites, f"{path} cites no paper"
        assert all(c == " ".join(c.split()) and c.strip() for c in cites), f"{path}: stray whitespace"


@pytest.mark.parametrize("topic", [t for t in curriculum.TOPICS if (ROOT / t.path / "README.md").exists()],
                         ids=lambda t: t.path)
def test_citations_equal_the_topic_readme_papers_section(topic):
    found = papers.readme_citations((ROOT / topic.path / "README.md").read_text())
    assert found is not None, f"{topic.path}/README.md has no '## Papers' section"
    data = list(papers.CITATIONS[topic.path])
    missing = [c for c in found if c not in data]
    extra = [c for c in data if c not in found]
    assert not missing and not extra, (f"{topic.path}: dlhist/tools/papers.py and the README's Papers section "
                                       f"differ; only in the README: {missing}; only in papers.py: {extra}")
    assert found == data, f"{topic.path}: same citations, different order"


def test_readme_citations_reads_items_and_their_continuation_lines():
    text = ("# T\n\n## Papers\n\n- A. B (2001). Title one. *Venue*.\n  https://x.org/1\n- C. D (2002). Two.\n"
            "  More. https://x.org/2 (note)\n\nData: not a paper, http://data.org\n\n## Next\n\n- not a paper\n")
    assert papers.readme_citations(text) == ["A. B (2001). Title one. *Venue*. https://x.org/1",
                                             "C. D (2002). Two. More. https://x.org/2 (note)"]
    assert papers.readme_citations("# T\n\nno papers\n") is None


def test_every_citation_has_a_link():
    for path, cites in papers.CITATIONS.items():
        for c in cites:
            links = papers.links(c)
            assert links and all(re.fullmatch(r"https?://\S+", u) for u in links), f"{path}: no link in {c!r}"


def test_extra_links_serve_only_citations_without_a_link_of_their_own():
    linkless = {papers.opening(c) for cs in papers.CITATIONS.values() for c in cs if not papers.URL.findall(c)}
    unused = set(papers.EXTRA_LINKS) - linkless
    assert not unused, f"EXTRA_LINKS entries no link-less citation uses (drop them): {sorted(unused)}"
    assert papers.links("Z. Z (1999). No link here.") == []


def test_each_topic_cites_the_first_author_of_every_paper_it_names():
    for t in curriculum.TOPICS:
        text = " ".join(papers.CITATIONS[t.path])
        for part in t.papers.split(";"):
            surname = part.split()[0].rstrip(",")
            assert surname in text, f"{t.path}: names {part.strip()!r} but cites no paper by {surname}"


def test_paper_list_lists_every_topic_and_every_citation_with_its_link():
    md = overview.paper_list_markdown(ROOT)
    flat = " ".join(md.split())
    for t in curriculum.TOPICS:
        head = f"{t.folder[:2]} · {t.title}"
        assert (f"### [{head}]({t.path}/)" in md) == (ROOT / t.path).is_dir(), t.path
        assert head in md
        for c in papers.CITATIONS[t.path]:
            assert c in flat, f"{t.path}: citation missing from the paper list: {c[:60]}"
            assert all(u in flat for u in papers.links(c))
    assert md.count("\n## ") == len(curriculum.SECTIONS)
    assert all(len(line) <= 120 or "http" in line for line in md.splitlines())


def test_papers_md_is_up_to_date():
    assert (ROOT / overview.PAPERS).read_text() == overview.paper_list_markdown(ROOT), "run `dlhist overview`"


# --- OVERVIEW.md ---------------------------------------------------------------------------------------------------


def test_overview_numbers_equal_what_the_results_files_give_now():
    text = (ROOT / overview.OVERVIEW).read_text()
    assert overview.render(text, lambda keys: overview.overview_numbers(ROOT, keys)) == text, (
        "OVERVIEW.md's generated numbers are out of date: run `dlhist overview`")


def test_overview_uses_every_generated_span_and_knows_every_key():
    keys = [m["key"] for m in overview.MARKER.finditer((ROOT / overview.OVERVIEW).read_text())]
    made = set(overview.overview_numbers(ROOT))
    assert set(keys) == made, f"unused: {sorted(made - set(keys))}; unknown: {sorted(set(keys) - made)}"
    assert len({q.key for q in overview.QUOTES}) == len(overview.QUOTES)


def test_overview_inline_spans_never_start_a_line():
    """A line that starts with an HTML comment opens an HTML block on GitHub and breaks the paragraph."""
    for line in (ROOT / overview.OVERVIEW).read_text().splitlines():
        if line.startswith("<!--"):
            assert re.fullmatch(r"<!-- overview:[a-z0-9:-]+:(start|end) -->", line), line


def _prose_numbers(text: str) -> list[str]:
    """Numbers in OVERVIEW.md outside generated spans, links, code and the allowed kinds (years, layer counts,
    filter sizes, section and topic numbers, R², 10 to the power of a generated exponent)."""
    text = overview.MARKER.sub(" ", text)
    text = re.sub(r"`[^`]*`", " ", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    allowed = [r"\b(19|20)\d\d(s|a|b)?\b", r"\b\d+[-\s]layers?\b", r"\b\d×\d\b", r"\b\d\d-[a-z]", r"R²", r"10<sup>",
               r"\b(Multi30k|word2vec|LeNet-5|SST-2|GPT-[23]|T5|bf16|fp16|float32)", r"\brank-\d+\b"]
    for pattern in allowed:
        text = re.sub(pattern, " ", text)
    return re.findall(r"[^\s]*\d[^\s]*", text)


def test_overview_types_no_number_by_hand():
    found = _prose_numbers((ROOT / overview.OVERVIEW).read_text())
    assert not found, f"numbers typed into OVERVIEW.md's prose (quote them from results.json instead): {found}"
    assert _prose_numbers("we measured 4.5 BLEU in 2017 with a 56-layer net") == ["4.5"]


def test_quotes_refuse_a_missing_metric_a_flipped_verdict_or_sign():
    q = overview.Quote("k", "01-a/01-x", "m", "ours+-", unit="points", absolute=True, sign=-1)
    rec = {"metric": "m", "ours": -2.5, "paper": None, "reproduced": True, "sd": 0.25, "n_seeds": 3}
    assert overview.quote_text(q, [rec]) == "2.5 ± 0.2 points over 3 seeds"
    assert overview.quote_text(overview.Quote("k", "t", "m", digits=3), [{**rec, "ours": 0.98}]) == "0.980"
    tiny = overview.Quote("k", "t", "m", "ours+-", digits=3)
    assert overview.quote_text(tiny, [{**rec, "ours": 0.984, "sd": 0.0004}]) == "0.984 ± 0.0004 over 3 seeds"
    with pytest.raises(cli.CliError, match="lacks"):
        overview.quote_text(q, [])
    with pytest.raises(cli.CliError, match="now did not reproduce"):
        overview.quote_text(q, [{**rec, "reproduced": False}])
    with pytest.raises(cli.CliError, match="other sign"):
        overview.quote_text(q, [{**rec, "ours": 2.5}])
    with pytest.raises(cli.CliError, match="no paper number"):
        overview.quote_text(overview.Quote("k", "t", "m", "paper"), [rec])
    with pytest.raises(cli.CliError, match="needs the sign"):
        overview.quote_text(overview.Quote("k", "t", "m", absolute=True), [rec])


def test_quotes_of_settings_counts_renamed_rows_and_small_numbers():
    rec = {"metric": "runs solved (%, 5 seeds)", "ours": 60.0, "paper": None, "reproduced": True,
           "note": "one seed, 3 epochs"}
    Q = overview.Quote
    assert overview.quote_text(Q("k", "t", "runs solved (%, 5 seeds)", "setting", pattern=r"(\d+) seeds"),
                               [{**rec, "reproduced": False}]) == "5"  # a setting relies on no verdict
    assert overview.quote_text(Q("k", "t", "x", "setting", pattern=r"(\d+) epochs", field="note",
                                 also=("runs solved (%, 5 seeds)",)), [rec]) == "3"
    assert overview.quote_text(Q("k", "t", "runs solved (%, 5 seeds)", "count", pattern=r"(\d+) seeds"),
                               [rec]) == "3"
    with pytest.raises(cli.CliError, match="not a whole number"):
        overview.quote_text(Q("k", "t", "runs solved (%, 5 seeds)", "count", pattern=r"(\d+) seeds"),
                            [{**rec, "ours": 50.0}])
    with pytest.raises(cli.CliError, match="no longer states the setting"):
        overview.quote_text(Q("k", "t", "runs solved (%, 5 seeds)", "setting", pattern=r"(\d+) images"), [rec])
    with pytest.raises(cli.CliError, match=r"'new name' \(or 'old name'\), which its results.json lacks"):
        overview.quote_text(Q("k", "t", "new name", also=("old name",)), [rec])
    tiny = {**rec, "metric": "m", "ours": 0.298023}
    assert overview.quote_text(Q("k", "t", "m", scale=1e-6, sci=True), [tiny]) == "3.0 × 10⁻⁷"
    assert overview.quote_text(Q("k", "t", "m", digits=0, scale=1e6, sci=True), [tiny]) == "3 × 10⁵"


def test_render_fills_spans_and_refuses_unknown_keys():
    text = "a <!-- overview:x:start -->old<!-- overview:x:end --> b\n<!-- overview:t:start -->\nold\n" \
           "<!-- overview:t:end -->\n"
    new = overview.render(text, lambda keys: {"x": "1.5", "t": "\n| a |\n"})
    assert new == "a <!-- overview:x:start -->1.5<!-- overview:x:end --> b\n<!-- overview:t:start -->\n| a |\n" \
                  "<!-- overview:t:end -->\n"
    assert overview.render("no spans", lambda keys: 1 / 0) == "no spans"
    with pytest.raises(cli.CliError, match=r"\['x'\]"):
        overview.render(text, lambda keys: {"t": ""})
    with pytest.raises(cli.CliError, match=r"\['nothing'\]"):
        overview.overview_numbers(ROOT, ["status", "nothing"])


# --- the tech tree ---------------------------------------------------------------------------------------------------


def test_tech_tree_png_is_up_to_date():
    assert overview.figure_digest(ROOT / overview.TREE) == overview.tree_digest(ROOT), "run `dlhist overview`"


def test_tech_tree_figure_writes_a_png_that_carries_its_digest(tmp_path):
    path = overview.tech_tree_figure(ROOT, tmp_path / "sub" / "tree.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert overview.figure_digest(path) == overview.tree_digest(ROOT)
    assert overview.figure_digest(tmp_path / "missing.png") is None


def test_tech_tree_layout_puts_prerequisites_to_the_left_and_keeps_nodes_apart():
    pos = overview.tree_layout()
    assert set(pos) == set(PATHS) and len(set(pos.values())) == len(pos)
    for t in curriculum.TOPICS:
        assert all(pos[r][0] < pos[t.path][0] for r in t.requires)


# --- statuses and times from results.json, and the command, on fake clones ------------------------------------------


def record(metric, ours, *, headline=False, reproduced=True, seconds=120.0):
    return {"metric": metric, "ours": ours, "paper": None, "paper_source": "", "higher_is_better": True,
            "target": 0.0, "reproduced": reproduced, "headline": headline, "asserted": reproduced, "mode": "full",
            "device": "cpu", "seconds": seconds, "note": ""}


DNN, GPT, LORA = "01-deep-neural-networks/01-dnn", "04-transformers/04-gpt", "04-transformers/05-lora"
FAKE_OVERVIEW = ("# Overview\n\nIntro. <!-- overview:status:start --><!-- overview:status:end --> More.\n\n"
                 "<!-- overview:route:transformers:start -->\n<!-- overview:route:transformers:end -->\n")


def make_clone(folder: Path) -> Path:
    """01-dnn reproduced (60 s), 04-gpt reproduced (240 s), 05-lora not reproduced (300 s), 04-u-net in progress."""
    folder.mkdir(parents=True)
    (folder / "README.md").write_text("# fake\n")
    (folder / "pyproject.toml").write_text('[project]\nname = "dlhist"\n')
    (folder / overview.OVERVIEW).write_text(FAKE_OVERVIEW)
    for path, recs in [(DNN, [record("h", 1.0, headline=True, seconds=60.0)]),
                       (GPT, [record("h", 1.0, headline=True, seconds=240.0), record("r", -1.0, reproduced=False)]),
                       (LORA, [record("h", -1.0, headline=True, reproduced=False, seconds=300.0)]),
                       ("01-deep-neural-networks/04-u-net", None)]:
        (folder / path).mkdir(parents=True)
        if recs is not None:
            (folder / path / "x.ipynb").write_text("{}")
            (folder / path / "results.json").write_text(json.dumps(recs))
    return folder


def test_statuses_and_run_times_come_from_results_json(tmp_path):
    clone = make_clone(tmp_path / "clone")
    states = overview.statuses(clone)
    assert states[DNN] == states[GPT] == "reproduced" and states[LORA] == "not reproduced"
    assert states["01-deep-neural-networks/04-u-net"] == "in progress"
    assert states["05-image-generation/01-gan"] == "planned"
    assert [n["status"] for n in overview.tree_data(clone) if n["topic"] == LORA] == ["not reproduced"]
    assert overview.status_sentence(clone) == ("Of the 33 topics, 3 have a committed full run: 2 reproduce their "
                                               "paper's key claim and 1 does not; 1 is in progress; 29 are planned.")
    assert overview.secondary_sentence(clone) == "1 of the 1"
    route = overview.route_table(clone, next(r for r in overview.ROUTES if r.key == "transformers"))
    assert "| 1 | [01-dnn](01-deep-neural-networks/01-dnn/) | Perceptron, backprop and the MLP | reproduced | 1 min |" \
        in route
    assert "| 2 | 01-transformer | The Transformer | planned | - |" in route
    assert route.endswith("| | **3 of 4 written** | | | **10 min** |")  # 60 + 240 + 300 seconds
    table = overview.not_reproduced_table(clone)
    assert table.count("\n| [") == 1 and "[05-lora](04-transformers/05-lora/)" in table
    assert overview.total_hours(clone) == "0.2"
    assert "| -1.00 | - |" in table  # the headline's own value, rounded as the prose rounds it
    before = overview.tree_digest(clone)
    (clone / LORA / "results.json").write_text(json.dumps([record("h", 1.0, headline=True)]))
    assert overview.tree_digest(clone) != before  # a status that changes redraws the tree
    # a headline that passed in the committed run but is not asserted is counted apart
    (clone / GPT / "results.json").write_text(json.dumps([{**record("h", 1.0, headline=True), "asserted": False}]))
    assert overview.status_sentence(clone) == (
        "Of the 33 topics, 3 have a committed full run: 2 reproduce their paper's key claim and 0 do not; 1 more "
        "(04-gpt) passed in its committed run but is not asserted, because it did not pass robustly; 1 is in "
        "progress; 29 are planned.")


def test_overview_command_writes_then_checks(tmp_path, capsys):
    clone = make_clone(tmp_path / "clone")
    assert cli.main(["overview", "--check", "--root", str(clone)]) == 1
    out = capsys.readouterr().out
    assert all(f"out of date: {p}" in out for p in (overview.OVERVIEW, overview.PAPERS, overview.TREE))
    assert (clone / overview.OVERVIEW).read_text() == FAKE_OVERVIEW and not (clone / overview.PAPERS).exists()
    assert cli.main(["overview", "--root", str(clone)]) == 0
    text = (clone / overview.OVERVIEW).read_text()
    assert "Of the 33 topics, 3 have a committed full run" in text and "**3 of 4 written**" in text
    assert "### [01 · Perceptron, backprop and the MLP](01-deep-neural-networks/01-dnn/)" in \
        (clone / overview.PAPERS).read_text()
    assert overview.figure_digest(clone / overview.TREE) == overview.tree_digest(clone)
    capsys.readouterr()
    assert cli.main(["overview", "--check", "--root", str(clone)]) == 0
    assert cli.main(["overview", "--root", str(clone)]) == 0
    assert "already up to date" in capsys.readouterr().out


def test_overview_command_names_what_is_missing(tmp_path, capsys, monkeypatch):
    clone = make_clone(tmp_path / "clone")
    (clone / overview.OVERVIEW).write_text("# Overview\n\n<!-- overview:mlp:start --><!-- overview:mlp:end -->\n")
    (clone / DNN / "results.json").write_text(json.dumps([record("another metric", 1.0, headline=True)]))
    assert cli.main(["overview", "--root", str(clone)]) == 1
    assert "MNIST test error (%), 784-800-10 MLP" in capsys.readouterr().err
    (clone / overview.OVERVIEW).unlink()
    assert cli.main(["overview", "--root", str(clone)]) == 1
    assert "OVERVIEW.md is missing" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)
    assert cli.main(["overview"]) == 2
    assert "cd into a clone" in capsys.readouterr().err
