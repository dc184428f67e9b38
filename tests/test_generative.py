"""The sample judges: FID (ours vs torchmetrics), precision/recall, Parzen windows, input checks."""

import math

import pytest
import torch

from dlhist import generative as gen


def _judge(seed=0):
    torch.manual_seed(seed)
    return gen.Judge().eval().requires_grad_(False)


def _digits(n, seed=0):
    """Blurry random 'images' in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=g).pow(3)


def test_frechet_distance_matches_torchmetrics_on_random_features():
    from torchmetrics.image.fid import _compute_fid

    g = torch.Generator().manual_seed(0)
    a = torch.randn(500, 16, generator=g, dtype=torch.float64)
    b = torch.randn(400, 16, generator=g, dtype=torch.float64) @ torch.randn(16, 16, generator=g, dtype=torch.float64)
    b = b * 0.3 + 1.0
    (m1, c1), (m2, c2) = gen.mean_cov(a), gen.mean_cov(b)
    ours = gen.frechet_distance(m1, c1, m2, c2)
    theirs = _compute_fid(m1, c1, m2, c2).item()
    assert ours == pytest.approx(theirs, rel=1e-6)


def test_frechet_distance_closed_forms():
    mu = torch.zeros(3)
    eye = torch.eye(3)
    assert gen.frechet_distance(mu, eye, mu, eye) == pytest.approx(0, abs=1e-10)
    # same covariance: the distance is the squared distance between the means
    assert gen.frechet_distance(mu, eye, mu + 2, eye) == pytest.approx(12, rel=1e-9)
    # 1-D Gaussians: (m1 - m2)^2 + (s1 - s2)^2
    assert gen.frechet_distance(torch.tensor([1.0]), torch.tensor([[4.0]]), torch.tensor([0.0]),
                                torch.tensor([[1.0]])) == pytest.approx(1 + 1, rel=1e-9)


def test_fid_with_our_formula_equals_torchmetrics_and_is_zero_for_a_set_with_itself():
    judge = _judge()
    x, y = _digits(600, 0), _digits(600, 1)
    tm = gen.fid(judge, x, y)
    (m1, c1), (m2, c2) = gen.mean_cov(gen.features(judge, x)), gen.mean_cov(gen.features(judge, y))
    assert gen.frechet_distance(m1, c1, m2, c2) == pytest.approx(tm, rel=1e-3, abs=1e-6)
    assert gen.fid(judge, x, x) == pytest.approx(0, abs=1e-3)


def test_fid_grows_with_added_noise():
    judge = _judge()
    x = _digits(600, 0)
    g = torch.Generator().manual_seed(3)
    noise = torch.randn(x.shape, generator=g)
    scores = [gen.fid(judge, x, (x + s * noise).clamp(0, 1)) for s in (0.05, 0.2, 0.5)]
    assert scores[0] < scores[1] < scores[2]


def test_fid_refuses_too_few_images_and_bad_inputs():
    judge = _judge()
    with pytest.raises(ValueError, match="at least 256 generated"):
        gen.fid(judge, _digits(300), _digits(100))
    with pytest.raises(ValueError, match=r"\[0, 1\].*from -1"):
        gen.fid(judge, _digits(300), _digits(300) * 2 - 1)
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\).*\(300, 3, 28, 28\)"):
        gen.fid(judge, _digits(300), torch.rand(300, 3, 28, 28))
    with pytest.raises(ValueError, match="values from nan"):
        gen.check_images(torch.full((2, 784), float("nan")))
    assert gen.check_images(torch.rand(5, 784)).shape == (5, 1, 28, 28)


def test_real_floor_needs_two_disjoint_halves():
    judge = _judge()
    assert gen.real_floor(judge, _digits(600)) >= 0
    with pytest.raises(ValueError, match="need 800 real images"):
        gen.real_floor(judge, _digits(600), n=400)


def test_real_halves_are_disjoint_seeded_and_scores_combine_fid_and_precision_recall():
    x = _digits(600)
    x[:, 0, 0, 0] = torch.arange(600) / 600  # each image carries its index
    ref, other = gen.real_halves(x, 256)
    assert ref.shape == other.shape == (256, 1, 28, 28)
    index = lambda t: {round(v * 600) for v in t[:, 0, 0, 0].tolist()}  # noqa: E731
    assert len(index(ref)) == len(index(other)) == 256 and not index(ref) & index(other)  # distinct and disjoint
    assert all(torch.equal(x[i], r) for i, r in zip(sorted(index(ref)), ref[torch.argsort(ref[:, 0, 0, 0])]))
    same, _ = gen.real_halves(x, 256)
    assert torch.equal(same, ref) and not torch.equal(gen.real_halves(x, 256, seed=1)[0], ref)
    assert gen.real_halves(x)[0].shape[0] == 300
    judge = _judge()
    s = gen.scores(judge, ref, other)
    assert set(s) == {"FID", "precision", "recall"}
    assert s["FID"] == pytest.approx(gen.fid(judge, ref, other))
    assert (s["precision"], s["recall"]) == gen.precision_recall(gen.features(judge, ref), gen.features(judge, other))
    assert gen.real_floor(judge, x, 256) == pytest.approx(s["FID"])
    assert gen.scores(judge, ref, ref)["FID"] == pytest.approx(0, abs=1e-2)
    with pytest.raises(ValueError, match="need 800 real images"):
        gen.real_halves(x, 400)
    with pytest.raises(ValueError, match="at least one image"):
        gen.real_halves(x, 0)


def test_precision_recall_on_known_sets():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(400, 2, generator=g)
    assert gen.precision_recall(real, real) == (1.0, 1.0)
    # samples collapsed onto a small part of the real cloud: high precision, low recall
    collapsed = real[real[:, 0] > 1.0]
    p, r = gen.precision_recall(real, collapsed)
    assert p == 1.0 and r < 0.4
    # samples far away: neither
    p, r = gen.precision_recall(real, real + 100)
    assert p == 0.0 and r == 0.0
    with pytest.raises(ValueError, match="same d"):
        gen.precision_recall(real, torch.randn(10, 3))
    with pytest.raises(ValueError, match="more than 3 points"):
        gen.precision_recall(real, real[:3])


def test_parzen_matches_a_hand_computed_gaussian_mixture():
    g = torch.Generator().manual_seed(0)
    centres, test = torch.rand(7, 784, generator=g), torch.rand(3, 784, generator=g)
    sigma = 0.3
    ours = gen.parzen_log_likelihood(centres, test, sigma)
    comp = torch.distributions.Independent(torch.distributions.Normal(centres.double(), sigma), 1)
    mix = torch.distributions.MixtureSameFamily(torch.distributions.Categorical(torch.ones(7, dtype=torch.float64)),
                                                comp)
    assert torch.allclose(ours, mix.log_prob(test.double()), rtol=1e-9)
    with pytest.raises(ValueError, match="positive"):
        gen.parzen_log_likelihood(centres, test, 0.0)


def test_choose_parzen_sigma_picks_the_interior_best_and_refuses_an_edge():
    g = torch.Generator().manual_seed(0)
    centres = torch.rand(200, 784, generator=g).round()
    val = (centres[:50] + 0.1 * torch.randn(50, 784, generator=g)).clamp(0, 1)
    best, scores = gen.choose_parzen_sigma(centres, val, sigmas=(0.03, 0.1, 0.3, 1.0))
    assert best == max(scores, key=scores.get) and best not in (0.03, 1.0)
    with pytest.raises(ValueError, match="edge of the grid"):
        gen.choose_parzen_sigma(centres, val, sigmas=(0.6, 0.8, 1.0))


def test_kmeans_finds_separated_clusters():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    x = torch.cat([c + 0.1 * torch.randn(50, 2, generator=g) for c in centres])
    found = gen.kmeans(x, 3, seed=1)
    d = torch.cdist(found, centres).min(1).values
    assert d.max() < 0.1


def test_class_agreement_checks_label_shape():
    judge = _judge()
    x = _digits(10)
    assert 0 <= gen.class_agreement(judge, x, torch.zeros(10, dtype=torch.long)) <= 1
    with pytest.raises(ValueError, match=r"shape \(10,\)"):
        gen.class_agreement(judge, x, torch.zeros(9, dtype=torch.long))


def test_train_judge_is_deterministic_and_cached(mirror_cache):
    torch.manual_seed(5)
    a = gen.train_judge("mnist", steps=30, verbose=False, cache=True)
    path = gen._cache_path("mnist", 30, 0, torch.device("cpu"))
    assert path.exists()
    b = gen.train_judge("mnist", steps=30, verbose=False, cache=True)  # loaded from the cache
    torch.manual_seed(5)
    c = gen.train_judge("mnist", steps=30, verbose=False)  # trained again from the same random state
    for (k, v), w, u in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        assert torch.equal(v, w) and torch.equal(v, u), k
    x = _digits(4)
    assert a.features(x).shape == (4, gen.N_FEATURES) and not math.isnan(a(x).sum().item())


@pytest.fixture
def mirror_cache(tmp_path, monkeypatch):
    from pathlib import Path

    shared = Path(__file__).resolve().parents[2] / "shared" / "data"
    if not shared.is_dir():
        pytest.skip(f"no local data mirror at {shared}")
    monkeypatch.setenv("DLHIST_DATA", str(tmp_path))
    monkeypatch.setenv("DLHIST_MIRROR", str(shared))
    monkeypatch.setenv("DLHIST_OFFLINE", "1")


def test_caption_judge_reads_class_and_colour_and_refuses_grey_images():
    from dlhist.generative import CaptionJudge, caption_agreement, features

    torch.manual_seed(0)
    judge = CaptionJudge().eval()
    x = torch.rand(5, 3, 32, 32)
    cls, col = judge.both(x)
    assert cls.shape == (5, 10) and col.shape == (5, 6) and torch.equal(judge(x), cls)
    assert features(judge, x).shape == (5, 128)
    label, colour = cls.argmax(1), col.argmax(1)
    assert caption_agreement(judge, x, label, colour) == {"class": 1.0, "colour": 1.0, "both": 1.0}
    wrong = (colour + 1) % 6
    wrong[0] = -1  # colour not asked for: counts for the class only
    got = caption_agreement(judge, x, label, wrong)
    assert got["class"] == 1.0 and got["colour"] == 0.0 and got["both"] == 0.0
    with pytest.raises(ValueError, match=r"shape \(N, 3, 32, 32\) to match the judge, got \(5, 1, 28, 28\)"):
        judge(torch.rand(5, 1, 28, 28))
    with pytest.raises(ValueError, match=r"label and colour must have shape \(5,\)"):
        caption_agreement(judge, x, label[:4], colour)
