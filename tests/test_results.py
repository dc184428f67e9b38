import json

import pytest
import torch

from dlhist import results as R


@pytest.fixture
def full(monkeypatch, tmp_path):
    monkeypatch.setenv("DLHIST_SMOKE", "0")
    monkeypatch.delenv("DLHIST_RESULTS", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_full_run_writes_results_json_with_required_fields(full):
    cfg, dev = R.start(full=dict(epochs=3), smoke=dict(epochs=1), device="cpu")
    assert cfg.epochs == 3 and dev.type == "cpu"
    R.record("test error (%)", ours=1.4, paper=1.6, paper_source="Table 2", higher_is_better=False, headline=True)
    R.record("speed-up", ours=3.0, paper=6.0, paper_source="Fig. 1", higher_is_better=True, target=1.0)
    R.record("a near-tie", ours=0.9, paper=None, paper_source="Fig. 2", higher_is_better=True, target=1.0,
             asserted=False)
    R.finish()  # the unasserted row does not fail the run
    recs = R.load(full / "results.json")
    assert [r["reproduced"] for r in recs] == [True, True, False]
    assert [R.kind(r) for r in recs] == ["headline", "asserted", "reported"]
    assert recs[0]["mode"] == "full" and recs[0]["device"].startswith("cpu") and recs[0]["paper"] == 1.6
    assert set(R.FIELDS) <= set(recs[0])


def test_full_run_asserts_an_unreproduced_claim(full):
    R.start(full={}, device="cpu")
    R.record("test error (%)", ours=2.0, paper=1.6, paper_source="Table 2", higher_is_better=False, headline=True)
    with pytest.raises(AssertionError, match="test error"):
        R.finish()


def test_smoke_run_writes_nothing_and_does_not_assert(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("DLHIST_SMOKE", "1")
    monkeypatch.delenv("DLHIST_RESULTS", raising=False)
    monkeypatch.chdir(tmp_path)
    R.start(full=dict(epochs=3), smoke=dict(epochs=1), device="cpu")
    R.record("acc", ours=0.1, paper=0.9, paper_source="x", higher_is_better=True, headline=True)
    R.finish()
    assert not (tmp_path / "results.json").exists()
    assert "not checked" in capsys.readouterr().out


def test_results_env_redirects_the_file(monkeypatch, tmp_path):
    monkeypatch.setenv("DLHIST_SMOKE", "1")
    monkeypatch.setenv("DLHIST_RESULTS", str(tmp_path / "out" / "r.json"))
    R.start(full={}, device="cpu")
    R.record("acc", ours=0.95, paper=0.9, paper_source="x", higher_is_better=True, headline=True)
    R.finish()
    assert json.loads((tmp_path / "out" / "r.json").read_text())[0]["mode"] == "smoke"


def test_record_errors(full):
    R._state["start"] = None
    with pytest.raises(RuntimeError, match="start"):
        R.record("x", ours=1, paper=1, paper_source="", higher_is_better=True)
    R.start(full={}, device="cpu")
    with pytest.raises(ValueError, match="finite"):
        R.record("x", ours=float("nan"), paper=1, paper_source="", higher_is_better=True)
    with pytest.raises(ValueError, match="target"):
        R.record("x", ours=1, paper=None, paper_source="", higher_is_better=True)
    with pytest.raises(ValueError, match="finite"):
        R.record("x", ours=[1.0, float("inf"), 2.0], paper=1, paper_source="", higher_is_better=True)
    with pytest.raises(RuntimeError, match="no records"):
        R.finish()


def test_load_rejects_incomplete_records(tmp_path):
    (tmp_path / "r.json").write_text(json.dumps([{"metric": "x"}]))
    with pytest.raises(ValueError, match="lacks"):
        R.load(tmp_path / "r.json")


def test_format_table():
    row = {"topic": "01/01-dnn", "metric": "err", "ours": 1.41, "paper": 1.6, "reproduced": True, "seconds": 60,
           "mode": "full", "device": "cpu", "higher_is_better": False, "target": 1.6}
    text = R.format_table([row])
    assert "01/01-dnn" in text and "1.41" in text and "yes" in text and "<= 1.6" in text
    md = R.format_table([row], markdown=True)
    assert md.splitlines()[1].startswith("|---") and md.count("\n") == 2
    piped = R.format_table([{**row, "metric": "|a - b| (points)"}], markdown=True).splitlines()[2]
    assert "\\|a - b\\|" in piped and piped.count(" | ") == md.splitlines()[2].count(" | ")  # still 7 cells


def test_exactly_one_headline_in_both_modes(full, monkeypatch):
    for smoke in ("0", "1"):
        monkeypatch.setenv("DLHIST_SMOKE", smoke)
        R.start(full={}, device="cpu")
        R.record("a", ours=1, paper=1, paper_source="", higher_is_better=True)
        with pytest.raises(ValueError, match="exactly one headline.*recorded 0"):
            R.finish()
        R.record("a", ours=1, paper=1, paper_source="", higher_is_better=True, headline=True)
        R.record("b", ours=1, paper=1, paper_source="", higher_is_better=True, headline=True)
        with pytest.raises(ValueError, match=r"recorded 2: \['a', 'b'\]"):
            R.finish()


def test_seed_stats():
    s = R.seed_stats([1.0, 2.0, 3.0])
    assert s["mean"] == 2.0 and s["sd"] == 1.0 and s["n"] == 3 and s["se"] == pytest.approx(1 / 3 ** 0.5)
    assert R.seed_stats([5.0])["sd"] == 0.0
    with pytest.raises(ValueError, match="finite"):
        R.seed_stats([1.0, float("nan")])


def test_several_seeds_pass_only_beyond_the_noise(full):
    R.start(full={}, device="cpu")
    # every seed beyond the target: passes
    r = R.record("all agree", ours=[1.2, 1.1, 1.3], paper=None, paper_source="", higher_is_better=True, target=1.0)
    assert r["reproduced"] and r["n_seeds"] == 3 and r["ours"] == pytest.approx(1.2) and r["sd"] == pytest.approx(0.1)
    # the mean is beyond the target, but by less than two standard errors and one seed disagrees: fails
    r = R.record("noise", ours=[1.5, 0.8, 1.0], paper=None, paper_source="", higher_is_better=True, target=1.0)
    assert not r["reproduced"]
    # the mean is beyond by more than two standard errors though one seed is not: passes
    vals = [1.30, 1.32, 1.28, 1.31, 0.99, 1.29, 1.30, 1.33]
    assert R.record("clear", ours=vals, paper=None, paper_source="", higher_is_better=True, target=1.0)["reproduced"]
    # lower is better works the same way
    assert R.record("low", ours=[0.5, 0.6, 0.4], paper=None, paper_source="", higher_is_better=False,
                    target=1.0)["reproduced"]
    with pytest.raises(ValueError, match="at least 3 seeds"):
        R.record("two", ours=[1.2, 1.3], paper=None, paper_source="", higher_is_better=True, target=1.0)


def test_seeds_in_tables(full):
    R.start(full={}, device="cpu")
    r = R.record("ratio", ours=[1.2, 1.1, 1.3], paper=None, paper_source="", higher_is_better=True, target=1.0,
                 headline=True)
    assert "1.2 +/- 0.1 (3 seeds)" in R.format_table([r])
    assert "1.2 &plusmn; 0.1 (3 seeds)" in R.format_table([r], markdown=True)
    assert "headline" in R.format_table([r]) and "kind" not in R.format_table([r], show_kind=False)


def test_ties_are_not_agreement_and_arrays_are_per_seed_values(full):
    import numpy as np

    R.start(full={}, device="cpu")
    assert not R.record("X beats Y", ours=[0.0, 0.0, 0.0], paper=None, paper_source="", higher_is_better=True,
                        target=0.0)["reproduced"]
    r = R.record("arr", ours=np.array([1.1, 1.2, 1.3]), paper=None, paper_source="", higher_is_better=True, target=1)
    assert r["reproduced"] and r["n_seeds"] == 3
    r = R.record("tensor", ours=torch.tensor([1.1, 1.2, 1.3]), paper=None, paper_source="", higher_is_better=True,
                 target=1)
    assert r["n_seeds"] == 3
