import pickle

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlhist import data, train


def blobs(n=400, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.randn(n, 2, generator=g) + 3 * (2 * y.float() - 1).unsqueeze(1)
    return data.TensorData(x, y)


def model():
    return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))


def test_fit_learns_and_records_history():
    d = blobs()
    h = train.fit(model(), d.loader(32, shuffle=True), 3, val=d.loader(100), device="cpu", verbose=0,
                  optimizer=lambda p: torch.optim.SGD(p, lr=0.1))
    assert len(h.epochs) == 3 and len(h.steps) == 3 * 13
    assert h.last("val_acc") > 0.95 and h.steps[-1]["loss"] < h.steps[0]["loss"]
    assert {"loss", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "seconds"} <= set(h.keys())
    xs, ys = h.series("val_acc")
    assert xs == [1, 2, 3] and h.best("val_acc") == max(ys)
    assert h.series("val_err")[1] == [1 - y for y in ys] and h.best("val_err") == 1 - max(ys)
    assert h.best("train_loss") == min(h.series("train_loss")[1])
    assert h.first("val_acc", 0.0) == 1 and h.first("val_acc", 2.0) is None
    assert h.first("loss", h.steps[0]["loss"]) == 1 and h.first("val_err", 1.0) == 1
    with pytest.raises(KeyError, match="has no 'bleu'"):
        h.series("bleu")


def test_eval_every_series_and_first_by_step():
    d = blobs()
    h = train.fit(model(), d.loader(32, shuffle=True), 2, val=d.loader(100), eval_every=5, device="cpu",
                  verbose=-1, optimizer=lambda p: torch.optim.SGD(p, lr=0.1))
    xs, ys = h.series("val_acc", by_step=True)
    assert xs == [5, 10, 15, 20, 25] and len(ys) == 5  # 13 steps per epoch, an evaluation every 5
    assert h.series("val_acc")[0] == [1, 2]  # by epoch unless asked
    assert h.series("val_err", by_step=True)[1] == [1 - y for y in ys]
    level = sorted(ys)[2]
    assert h.first("val_acc", level, by_step=True) == next(x for x, y in zip(xs, ys) if y >= level)
    assert h.first("val_acc", 2.0, by_step=True) is None


def test_nan_loss_stops_training_with_a_message():
    d = blobs()

    def bad_loss(out, y):
        return F.cross_entropy(out, y) * float("nan")

    with pytest.raises(train.TrainingDiverged, match=r"loss is nan at step 1 \(epoch 1\)"):
        train.fit(model(), d.loader(32), 1, loss_fn=bad_loss, device="cpu", verbose=-1)


def test_compare_is_reproducible_and_takes_overrides():
    d = blobs()
    runs = train.compare(
        {"a": model, "b": model, "sgd": {"model": model, "optimizer": lambda p: torch.optim.SGD(p, lr=0.01)}},
        train=d.loader(32, shuffle=True), epochs=2, device="cpu", verbose=-1)
    assert runs["a"].series("loss") == runs["b"].series("loss")  # same seed, same data order: same run
    assert runs["sgd"].series("loss") != runs["a"].series("loss")
    multi = train.compare({"a": model}, seeds=[0, 1], train=d.loader(32, shuffle=True), epochs=1, device="cpu",
                          verbose=-1)
    assert len(multi["a"]) == 2 and multi["a"][0].series("loss") != multi["a"][1].series("loss")
    with pytest.raises(ValueError, match="needs a 'model'"):
        train.compare({"x": {"optimizer": None}}, train=d.loader(32), epochs=1)


def test_schedule_clipping_eval_every_and_callback():
    d = blobs()
    calls = []
    h = train.fit(model(), d.loader(40), 2, device="cpu", verbose=-1, val=d.loader(200),
                  optimizer=lambda p: torch.optim.SGD(p, lr=1.0), scheduler=train.cosine_schedule(warmup_steps=2),
                  clip_grad=0.5, eval_every=5, callback=lambda step, m: calls.append(step))
    lrs = [s["lr"] for s in h.steps]
    assert lrs[0] == pytest.approx(0.5) and lrs[1] == pytest.approx(1.0) and lrs[-1] < 0.05
    assert calls == list(range(1, 21))
    assert [s["step"] for s in h.steps if "val_acc" in s] == [5, 10, 15, 20]


def test_evaluate_and_accuracy_are_exact():
    out = torch.tensor([[2.0, 1.0], [0.0, 3.0], [5.0, 1.0], [0.0, 1.0]])
    y = torch.tensor([0, 1, 1, 1])
    assert train.accuracy(out, y).item() == 0.75
    m = nn.Identity()
    m.register_parameter("dummy", nn.Parameter(torch.zeros(1)))
    res = train.evaluate(m, data.TensorLoader(out, y, batch_size=3), device="cpu")
    assert res["acc"] == pytest.approx(0.75) and res["loss"] == pytest.approx(F.cross_entropy(out, y).item())


def test_bad_optimizer_argument():
    with pytest.raises(TypeError, match="optimizer"):
        train.fit(model(), blobs().loader(32), 1, optimizer="adam", device="cpu")


def test_checkpoint_round_trip_uses_weights_only(tmp_path):
    m = model()
    opt = torch.optim.Adam(m.parameters())
    path = train.save_checkpoint(tmp_path / "ck.pt", m, opt, epoch=3, note="x")
    m2 = model()
    opt2 = torch.optim.Adam(m2.parameters())
    assert train.load_checkpoint(path, m2, opt2) == {"epoch": 3, "note": "x"}
    assert all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), m2.state_dict().values()))
    # a pickle that would run code on load is refused
    torch.save({"model": m.state_dict(), "evil": train.History()}, tmp_path / "evil.pt")
    with pytest.raises(pickle.UnpicklingError):
        train.load_checkpoint(tmp_path / "evil.pt", model())
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train.load_checkpoint(tmp_path / "none.pt", model())


def test_count_parameters():
    assert train.count_parameters(nn.Linear(784, 800)) == 784 * 800 + 800
