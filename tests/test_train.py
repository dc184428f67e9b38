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


# ------------------------------------------------------------------------------------ one loop for every kind of model

def test_supervised_fit_is_bit_identical_to_a_bare_loop():
    d = blobs()

    def run_bare():
        torch.manual_seed(0)
        m = model()
        opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
        loader = d.loader(32, shuffle=True, seed=1)
        for _ in range(2):
            for x, y in loader:
                loss = F.cross_entropy(m(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        return m

    bare = run_bare()
    torch.manual_seed(0)
    m = model()
    train.fit(m, d.loader(32, shuffle=True, seed=1), 2, device="cpu", verbose=-1,
              optimizer=lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9))
    assert all(torch.equal(a, b) for a, b in zip(bare.state_dict().values(), m.state_dict().values()))


class TinyLM(nn.Module):
    """A bigram language model whose forward(idx, targets) returns the loss, as nanoGPT's does."""

    def __init__(self, vocab=8):
        super().__init__()
        self.emb = nn.Embedding(vocab, vocab)

    def forward(self, idx, targets):
        logits = self.emb(idx)
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten())


def cyclic_tokens(n=64, t=12, vocab=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    start = torch.randint(0, vocab, (n, 1), generator=g)
    seq = (start + torch.arange(t + 1)) % vocab  # the next token is always the current one plus one
    return data.TensorData(seq[:, :-1], seq[:, 1:])


def test_a_model_that_computes_its_own_loss_trains():
    d = cyclic_tokens()
    h = train.fit(TinyLM(), d.loader(16, shuffle=True), 5, loss_fn=None, val=d.loader(64), device="cpu",
                  verbose=-1, optimizer=lambda p: torch.optim.Adam(p, lr=0.1))
    assert h.steps[-1]["loss"] < 0.5 * h.steps[0]["loss"]
    assert h.last("val_loss") < 0.5 and "train_acc" not in h.keys()  # accuracy is for supervised outputs only


class TinyVAE(nn.Module):
    def __init__(self, d=4, z=2):
        super().__init__()
        self.enc, self.dec = nn.Linear(d, 2 * z), nn.Linear(z, d)

    def forward(self, x):
        mu, logvar = self.enc(x).chunk(2, dim=1)
        zs = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        recon = ((self.dec(zs) - x) ** 2).sum(1).mean()
        kl = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(1).mean()
        return {"loss": recon + kl, "recon": recon, "kl": kl}


def test_a_model_returning_a_dict_of_losses_logs_each_part():
    torch.manual_seed(0)
    x = torch.randn(256, 2) @ torch.randn(2, 4) * 2
    loader = data.TensorLoader(x, batch_size=32, shuffle=True, seed=0)  # batches are 1-tuples
    h = train.fit(TinyVAE(), loader, 20, loss_fn=None, val=data.TensorLoader(x, batch_size=256), device="cpu",
                  verbose=-1, optimizer=lambda p: torch.optim.Adam(p, lr=0.02))
    assert {"loss", "recon", "kl", "train_recon", "train_kl", "val_loss", "val_recon"} <= set(h.keys())
    assert h.epochs[-1]["train_loss"] < 0.5 * h.epochs[0]["train_loss"]
    assert h.epochs[-1]["train_loss"] == pytest.approx(h.epochs[-1]["train_recon"] + h.epochs[-1]["train_kl"])


def test_a_step_function_trains_any_objective():
    """A diffusion-style objective: predict the noise added to the data at a random noise level."""
    torch.manual_seed(0)
    x = torch.randn(512, 2) * 0.1 + torch.tensor([2.0, -1.0])
    net = nn.Sequential(nn.Linear(3, 32), nn.ReLU(), nn.Linear(32, 2))

    def noise_loss(m, batch):
        x0 = batch[0]
        t = torch.rand(x0.shape[0], 1)
        eps = torch.randn_like(x0)
        xt = (1 - t).sqrt() * x0 + t.sqrt() * eps
        return F.mse_loss(m(torch.cat([xt, t], 1)), eps)

    h = train.fit(net, data.TensorLoader(x, batch_size=64, shuffle=True, seed=0), 15, step=noise_loss,
                  device="cpu", verbose=-1)
    first, last = h.epochs[0]["train_loss"], h.epochs[-1]["train_loss"]
    assert last < 0.7 * first


class TinyGAN(nn.Module):
    def __init__(self):
        super().__init__()
        self.generator = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
        self.discriminator = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1))


def test_two_optimizers_a_gan_on_2d_gaussians():
    torch.manual_seed(0)
    real = torch.randn(1024, 2) * 0.2 + torch.tensor([3.0, 3.0])
    gan = TinyGAN()
    bce = F.binary_cross_entropy_with_logits

    def d_step(m, batch):
        x = batch[0]
        fake = m.generator(torch.randn(x.shape[0], 2)).detach()
        d_real, d_fake = m.discriminator(x), m.discriminator(fake)
        return {"loss": bce(d_real, torch.ones_like(d_real)) + bce(d_fake, torch.zeros_like(d_fake)),
                "real_score": torch.sigmoid(d_real).mean()}

    def g_step(m, batch):
        d_fake = m.discriminator(m.generator(torch.randn(batch[0].shape[0], 2)))
        return bce(d_fake, torch.ones_like(d_fake))  # the non-saturating loss

    def distance():
        with torch.no_grad():
            return (gan.generator(torch.randn(2000, 2)).mean(0) - real.mean(0)).norm().item()

    before = distance()
    h = train.fit(gan, data.TensorLoader(real, batch_size=64, shuffle=True, seed=0), 30,
                  step={"d": d_step, "g": g_step}, device="cpu", verbose=-1,
                  optimizer={"d": lambda m: torch.optim.Adam(m.discriminator.parameters(), lr=2e-3),
                             "g": lambda m: torch.optim.Adam(m.generator.parameters(), lr=2e-3)})
    assert {"loss_d", "loss_g", "d_real_score", "train_loss_d", "train_loss_g"} <= set(h.keys())
    assert "loss" not in h.keys()
    assert len(h.series("loss_g")[1]) == 30 * 16  # per step, with no by_step needed
    assert distance() < 0.3 * before  # the generator moved its samples onto the data
    with pytest.raises(ValueError, match="same names"):
        train.fit(TinyGAN(), data.TensorLoader(real, batch_size=64), 1, step={"d": d_step, "g": g_step},
                  optimizer={"g": None, "d": None}, device="cpu", verbose=-1)
    with pytest.raises(TypeError, match="dict of steps"):
        train.fit(TinyGAN(), data.TensorLoader(real, batch_size=64), 1, step=d_step, device="cpu", verbose=-1,
                  optimizer={"d": lambda m: torch.optim.Adam(m.discriminator.parameters())})


class MaskedMean(nn.Module):
    """Classifies padded sequences from the mean of their unpadded embeddings."""

    def __init__(self, vocab=10):
        super().__init__()
        self.emb = nn.Embedding(vocab, 8, padding_idx=0)
        self.out = nn.Linear(8, 2)

    def forward(self, tokens, mask, labels):
        e = (self.emb(tokens) * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
        return F.cross_entropy(self.out(e), labels)


def padded_batches(n_batches=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    for _ in range(n_batches):
        lengths = torch.randint(1, 7, (8,), generator=g)
        labels = torch.randint(0, 2, (8,), generator=g)
        tokens = torch.randint(1, 5, (8, 6), generator=g) + 5 * labels.unsqueeze(1)  # class 1 uses tokens 6-9
        mask = (torch.arange(6) < lengths.unsqueeze(1)).float()
        yield {"tokens": tokens.clamp(max=9) * mask.long(), "mask": mask, "labels": labels}


def test_dict_batches_of_padded_sequences_with_masks():
    batches = list(padded_batches())
    h = train.fit(MaskedMean(), batches, 10, loss_fn=None, device="cpu", verbose=-1, val=batches[:4],
                  optimizer=lambda p: torch.optim.Adam(p, lr=0.05))
    assert h.epochs[-1]["train_loss"] < 0.3 * h.epochs[0]["train_loss"] and h.last("val_loss") < 0.2


class Stream(torch.utils.data.IterableDataset):
    def __init__(self, n=200):
        self.n = n

    def __iter__(self):
        g = torch.Generator().manual_seed(0)
        for _ in range(self.n):
            y = torch.randint(0, 2, (), generator=g)
            yield torch.randn(2, generator=g) + 3 * (2 * y.float() - 1), y


def test_loaders_without_length_take_a_step_budget():
    loader = torch.utils.data.DataLoader(Stream(), batch_size=20)  # len() raises TypeError
    with pytest.raises(ValueError, match="no length.*steps="):
        train.fit(model(), loader, 2, device="cpu", verbose=-1)
    h = train.fit(model(), loader, steps=25, device="cpu", verbose=-1, val=blobs().loader(100),
                  optimizer=lambda p: torch.optim.SGD(p, lr=0.1))
    assert h.steps[-1]["step"] == 25 and len(h.epochs) == 3  # 10 batches per pass: passes of 10, 10 and 5 steps
    assert h.last("val_acc") > 0.95

    def endless():
        d = blobs()
        while True:
            yield from d.loader(32, shuffle=True)

    h = train.fit(model(), endless(), steps=30, device="cpu", verbose=-1)
    assert len(h.steps) == 30 and len(h.epochs) == 1
    with pytest.raises(ValueError, match="epochs= .* or steps="):
        train.fit(model(), endless(), device="cpu", verbose=-1)


def test_scheduler_spans_the_step_budget_of_a_loader_without_length():
    """Before: the epoch count was passed as the number of steps, so the LR reached 0 after a few steps."""
    loader = torch.utils.data.DataLoader(Stream(1000), batch_size=10)
    h = train.fit(model(), loader, steps=40, device="cpu", verbose=-1, scheduler=train.cosine_schedule(),
                  optimizer=lambda p: torch.optim.SGD(p, lr=0.1))
    lrs = [s["lr"] for s in h.steps]
    assert lrs[0] == pytest.approx(0.1) and lrs[19] == pytest.approx(0.05, abs=0.005) and lrs[-1] > 0
    d = blobs()  # with epochs and a length, the budget is the shorter of the two
    h = train.fit(model(), d.loader(40), 5, steps=12, device="cpu", verbose=-1, scheduler=train.cosine_schedule())
    assert len(h.steps) == 12 and h.steps[-1]["lr"] > 0 and len(h.epochs) == 2


def test_step_errors_are_clear():
    d = blobs()
    with pytest.raises(ValueError, match="scalar loss"):
        train.fit(model(), d.loader(32), 1, step=lambda m, b: m(b[0]), device="cpu", verbose=-1)
    with pytest.raises(ValueError, match="without a 'loss' entry"):
        train.fit(model(), d.loader(32), 1, step=lambda m, b: {"l": m(b[0]).sum()}, device="cpu", verbose=-1)
    with pytest.raises(ValueError, match="supervised batch"):
        train.fit(model(), [torch.zeros(4, 2)], 1, device="cpu", verbose=-1)
    with pytest.raises(ValueError, match="positive integer"):
        train.fit(model(), d.loader(32), 0, device="cpu", verbose=-1)


def test_nan_in_a_gan_phase_names_the_phase():
    gan = TinyGAN()
    with pytest.raises(train.TrainingDiverged, match="loss_g is nan at step 1"):
        train.fit(gan, [(torch.zeros(4, 2),)], 1, device="cpu", verbose=-1,
                  step={"d": lambda m, b: m.discriminator(b[0]).mean(),
                        "g": lambda m, b: m.generator(b[0]).mean() * float("nan")},
                  optimizer={"d": lambda m: torch.optim.SGD(m.discriminator.parameters(), lr=0.1),
                             "g": lambda m: torch.optim.SGD(m.generator.parameters(), lr=0.1)})


def test_fit_writes_a_checkpoint_every_epoch(tmp_path):
    d = blobs()
    m = model()
    train.fit(m, d.loader(32), 2, device="cpu", verbose=-1, checkpoint=tmp_path / "ck.pt")
    m2 = model()
    assert train.load_checkpoint(tmp_path / "ck.pt", m2) == {"epoch": 2, "step": 26}
    assert all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), m2.state_dict().values()))


def test_evaluate_a_model_without_parameters():
    with pytest.raises(ValueError, match="without parameters; pass device="):
        train.evaluate(nn.Identity(), [(torch.zeros(2, 2), torch.zeros(2, dtype=torch.long))])
    res = train.evaluate(nn.Identity(), [(torch.tensor([[1.0, 0.0]]), torch.tensor([0]))], device="cpu")
    assert res["acc"] == 1.0


def test_what_saves_must_load(tmp_path):
    from pathlib import Path

    import numpy as np

    from dlhist.settings import Settings

    m = model()
    meta = {"cfg": Settings({"epochs": 3, "widths": (1, 2)}, mode="full"), "acc": np.float32(0.5),
            "n": np.int64(7), "where": Path("/tmp/x"), "curve": [1.0, 2.0]}
    path = train.save_checkpoint(tmp_path / "m.pt", m, **meta)
    back = train.load_checkpoint(path, model())
    assert back == {"cfg": {"epochs": 3, "widths": [1, 2]}, "acc": 0.5, "n": 7, "where": "/tmp/x",
                    "curve": [1.0, 2.0]}
    with pytest.raises(TypeError, match="metadata bad is a object"):
        train.save_checkpoint(tmp_path / "b.pt", m, bad=object())


def test_files_that_are_not_checkpoints_are_refused_with_a_reason(tmp_path):
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    with pytest.raises(ValueError, match="not a checkpoint"):
        train.load_checkpoint(tmp_path / "notes.txt", model())
    torch.save(torch.zeros(3), tmp_path / "t.pt")
    with pytest.raises(ValueError, match=r"bare tensor of shape \(3,\)"):
        train.load_checkpoint(tmp_path / "t.pt", model())
    torch.save(model().state_dict(), tmp_path / "sd.pt")
    with pytest.raises(ValueError, match="bare state_dict"):
        train.load_checkpoint(tmp_path / "sd.pt", model())


# ------------------------------------------------------------------------------------- found by review, each fixed

def test_values_logged_on_some_steps_only_average_over_those_steps():
    calls = {"n": 0}

    def step(m, batch):
        calls["n"] += 1
        loss = F.cross_entropy(m(batch[0]), batch[1])
        return {"loss": loss, "kl": torch.tensor(1.0)} if calls["n"] % 2 else {"loss": loss}

    h = train.fit(model(), blobs().loader(40), 1, step=step, device="cpu", verbose=-1)
    assert h.epochs[0]["train_kl"] == 1.0 and sum("kl" in s for s in h.steps) == 5


def test_logged_names_that_the_history_uses_are_refused():
    with pytest.raises(ValueError, match=r"\['step'\], names the history uses"):
        train.fit(model(), blobs().loader(40), 1, device="cpu", verbose=-1,
                  step=lambda m, b: {"loss": F.cross_entropy(m(b[0]), b[1]), "step": 99})


def test_a_one_shot_generator_with_a_longer_budget_says_why():
    batches = (b for b in blobs().loader(40))  # 10 batches, once
    with pytest.raises(ValueError, match="on pass 2, after 10 steps: a generator can be iterated only once"):
        train.fit(model(), batches, steps=15, device="cpu", verbose=-1)


def test_accuracy_by_default_only_for_classifiers_and_metrics_need_supervised_batches():
    x = torch.randn(64, 2)
    reg = data.TensorData(x, x.sum(1, keepdim=True))
    h = train.fit(nn.Linear(2, 1), reg.loader(16), 1, loss_fn=F.mse_loss, val=reg.loader(64), device="cpu",
                  verbose=-1)
    assert "train_acc" not in h.keys() and "val_acc" not in h.keys() and "val_loss" in h.keys()
    with pytest.raises(ValueError, match="metrics= need supervised batches"):
        train.fit(TinyLM(), cyclic_tokens().loader(16), 1, loss_fn=None, metrics={"acc": train.accuracy},
                  device="cpu", verbose=-1)


def test_gradient_clipping_sees_only_the_optimized_parameters():
    """A frozen part's stale gradients must not count toward the clipped norm (before, they shrank every step)."""
    heads = []
    for stale in (False, True):
        torch.manual_seed(0)
        net = model()
        if stale:
            net[0].weight.grad = torch.full_like(net[0].weight, 1e6)  # not in the optimizer, never zeroed by it
        train.fit(net, blobs().loader(40), 1, device="cpu", verbose=-1, clip_grad=1.0,
                  optimizer=lambda p, net=net: torch.optim.SGD(net[2].parameters(), lr=0.1))
        heads.append(net[2].weight.detach().clone())
    assert torch.equal(heads[0], heads[1])


def test_several_optimizer_checkpoints_restore_each_optimizer(tmp_path):
    real = torch.randn(128, 2) + 3
    step = {"d": lambda m, b: m.discriminator(b[0]).mean(), "g": lambda m, b: m.generator(b[0]).pow(2).mean()}
    opt = {"d": lambda m: torch.optim.Adam(m.discriminator.parameters()),
           "g": lambda m: torch.optim.Adam(m.generator.parameters())}
    gan = TinyGAN()
    h = train.fit(gan, data.TensorLoader(real, batch_size=32), 1, step=step, optimizer=opt, device="cpu",
                  verbose=-1, checkpoint=tmp_path / "gan.pt", val=data.TensorLoader(real, batch_size=64))
    assert {"val_loss_d", "val_loss_g"} <= set(h.keys())  # evaluation names its values as training does
    gan2 = TinyGAN()
    opts = {"d": torch.optim.Adam(gan2.discriminator.parameters()), "g": torch.optim.Adam(gan2.generator.parameters())}
    assert train.load_checkpoint(tmp_path / "gan.pt", gan2, opts) == {"epoch": 1, "step": 4}
    w = gan2.generator[0].weight
    assert w in opts["g"].state and opts["g"].state[w]["step"].item() == 4  # Adam's moments are back, keyed right
    with pytest.raises(KeyError, match="holds optimizer states for"):
        train.load_checkpoint(tmp_path / "gan.pt", TinyGAN(), {"d": opts["d"]})
    with pytest.raises(KeyError, match="pass a dict of optimizers"):
        train.load_checkpoint(tmp_path / "gan.pt", TinyGAN(), opts["d"])


def test_adamw_decays_matrices_and_embeddings_but_not_biases_or_norm_gains():
    model = nn.Sequential(nn.Embedding(5, 4), nn.Linear(4, 3), nn.LayerNorm(3))
    opt = train.adamw(model, lr=1e-3, weight_decay=0.2, betas=(0.9, 0.95))
    decay, rest = opt.param_groups
    assert {id(p) for p in decay["params"]} == {id(model[0].weight), id(model[1].weight)}
    assert decay["weight_decay"] == 0.2 and rest["weight_decay"] == 0.0 and rest["betas"] == (0.9, 0.95)
    assert len(rest["params"]) == 3  # the linear bias, the LayerNorm gain and bias
    with pytest.raises(ValueError, match="weight_decay"):
        train.adamw(model, lr=1e-3, weight_decay=-1)
    with pytest.raises(ValueError, match="no trainable"):
        train.adamw(nn.Sequential(nn.Linear(2, 2)).requires_grad_(False), lr=1e-3)


def test_a_callback_that_returns_true_stops_training_after_that_step():
    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    x, y = torch.randn(64, 4), torch.randint(2, (64,))
    loader = data.TensorLoader(x, y, batch_size=8)
    h = train.fit(model, loader, epochs=5, callback=lambda step, m: step == 11, verbose=-1, device="cpu")
    assert [r["step"] for r in h.steps][-1] == 11 and len(h.epochs) == 2 and h.epochs[-1]["step"] == 11
    h = train.fit(model, loader, epochs=2, callback=lambda step, m: 1, verbose=-1, device="cpu")  # truthy, not True
    assert len(h.steps) == 16


def test_until_ends_training_after_the_first_epoch_whose_record_says_so():
    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    x = torch.randn(64, 4)
    y = (x[:, 0] > 0).long()  # learnable: the training accuracy rises over the epochs
    loader = data.TensorLoader(x, y, batch_size=8)
    seen = []

    def until(record):
        seen.append(dict(record))
        return record["epoch"] == 3

    h = train.fit(model, loader, epochs=10, until=until, val=loader, verbose=-1, device="cpu",
                  optimizer=lambda p: torch.optim.SGD(p, lr=0.1))
    assert len(h.epochs) == 3 and h.epochs[-1]["step"] == 24 and len(h.steps) == 24
    assert [r["epoch"] for r in seen] == [1, 2, 3] and {"train_acc", "val_acc", "seconds"} <= set(seen[-1])
    h = train.fit(model, loader, epochs=2, until=lambda r: 1, verbose=-1, device="cpu")  # truthy, not True
    assert len(h.epochs) == 2
