import json

import pytest

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
    R.record("test error (%)", ours=1.4, paper=1.6, paper_source="Table 2", higher_is_better=False)
    R.record("speed-up", ours=3.0, paper=6.0, paper_source="Fig. 1", higher_is_better=True, target=1.0)
    R.finish()
    recs = R.load(full / "results.json")
    assert [r["reproduced"] for r in recs] == [True, True]
    assert recs[0]["mode"] == "full" and recs[0]["device"].startswith("cpu") and recs[0]["paper"] == 1.6
    assert set(R.FIELDS) <= set(recs[0])


def test_full_run_asserts_an_unreproduced_claim(full):
    R.start(full={}, device="cpu")
    R.record("test error (%)", ours=2.0, paper=1.6, paper_source="Table 2", higher_is_better=False)
    with pytest.raises(AssertionError, match="test error"):
        R.finish()


def test_smoke_run_writes_nothing_and_does_not_assert(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("DLHIST_SMOKE", "1")
    monkeypatch.delenv("DLHIST_RESULTS", raising=False)
    monkeypatch.chdir(tmp_path)
    R.start(full=dict(epochs=3), smoke=dict(epochs=1), device="cpu")
    R.record("acc", ours=0.1, paper=0.9, paper_source="x", higher_is_better=True)
    R.finish()
    assert not (tmp_path / "results.json").exists()
    assert "not checked" in capsys.readouterr().out


def test_results_env_redirects_the_file(monkeypatch, tmp_path):
    monkeypatch.setenv("DLHIST_SMOKE", "1")
    monkeypatch.setenv("DLHIST_RESULTS", str(tmp_path / "out" / "r.json"))
    R.start(full={}, device="cpu")
    R.record("acc", ours=0.95, paper=0.9, paper_source="x", higher_is_better=True)
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
