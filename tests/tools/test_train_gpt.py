"""The GPT training script: two processes equal one with the same global batch; resuming continues exactly."""

import subprocess
import sys

import pytest
import torch

from dlhist.tools import train_gpt

TINY = ["--context", "16", "--d-model", "16", "--heads", "2", "--layers", "2", "--batch-size", "8", "--steps", "6",
        "--warmup", "2", "--lr", "3e-3", "--eval-every", "3", "--eval-batches", "2", "--log-every", "2",
        "--sample", "0", "--quiet", "--device", "cpu"]


@pytest.fixture(scope="module")
def text(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "text.txt"
    g = torch.Generator().manual_seed(0)
    words = ["the ", "cat ", "sat ", "on ", "a ", "mat. ", "dogs ", "run ", "é "]
    path.write_text("".join(words[i] for i in torch.randint(0, len(words), (4000,), generator=g).tolist()),
                    encoding="utf-8")
    return path


def weights(out):
    return torch.load(out / "ckpt.pt", weights_only=True)["model"]


def run(args, nproc=1):
    launcher = [sys.executable, "-m", "dlhist.tools.train_gpt"] if nproc == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
        "-m", "dlhist.tools.train_gpt"]
    done = subprocess.run(launcher + args, capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_two_processes_and_accumulation_equal_one_process(text, tmp_path):
    common = TINY + ["--text-file", str(text)]
    run(common + ["--out", str(tmp_path / "one")])
    run(common + ["--out", str(tmp_path / "two")], nproc=2)
    run(common + ["--out", str(tmp_path / "accum"), "--grad-accum", "4"])
    one = weights(tmp_path / "one")
    assert not torch.equal(one["tok.weight"], train_gpt.GPT(**train_gpt.model_config(
        train_gpt.parse_args(common))).state_dict()["tok.weight"])  # training moved the weights
    for other in ("two", "accum"):
        for name, w in weights(tmp_path / other).items():
            torch.testing.assert_close(w, one[name], rtol=0, atol=1e-5, msg=f"{other}: {name}")
    log = (tmp_path / "two" / "log.jsonl").read_text().splitlines()
    assert '"val_loss"' in log[0] and '"tokens_per_s"' in log[-1]


def test_resume_continues_exactly(text, tmp_path):
    common = TINY + ["--text-file", str(text), "--ckpt-every", "100"]
    train_gpt.main(common + ["--out", str(tmp_path / "straight")])
    train_gpt.main(common + ["--out", str(tmp_path / "resumed"), "--stop-at", "2"])
    assert torch.load(tmp_path / "resumed" / "ckpt.pt", weights_only=True)["step"] == 2
    result = train_gpt.main(common + ["--out", str(tmp_path / "resumed"), "--resume"])
    assert result["step"] == 5
    straight = weights(tmp_path / "straight")
    for name, w in weights(tmp_path / "resumed").items():
        assert torch.equal(w, straight[name]), name


def test_bad_settings_are_named(text, tmp_path):
    common = TINY + ["--text-file", str(text), "--out", str(tmp_path)]
    train_gpt.main(common + ["--stop-at", "0"])
    with pytest.raises(ValueError, match="d_model=16 there, 32 here"):
        train_gpt.main(common[:common.index("--d-model")] + ["--d-model", "32"]
                       + common[common.index("--d-model") + 2:] + ["--resume"])
    with pytest.raises(ValueError, match="--batch-size 8 must divide evenly into 1 processes x 3"):
        train_gpt.main(common + ["--grad-accum", "3"])
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        train_gpt.main(common[:-1] + [str(tmp_path / "empty"), "--resume"])
    with pytest.raises(ValueError, match="too few for windows"):
        train_gpt.main(common + ["--context", "4000"])
