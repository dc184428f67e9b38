import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from dlhist import data
from dlhist import segmentation as S

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


# ------------------------------------------------------------------------------------------------------- components

def _same_partition(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Two label maps describe the same components (labels may differ), background (0) alike."""
    if not torch.equal(a == 0, b == 0):
        return False
    pairs = torch.unique(torch.stack([a.flatten(), b.flatten()], 1), dim=0)
    return len(torch.unique(pairs[:, 0])) == len(pairs) == len(torch.unique(pairs[:, 1]))


def _flood_fill(mask: torch.Tensor) -> torch.Tensor:
    """A slow, obviously correct 4-connected labelling (reference)."""
    h, w = mask.shape
    lab = torch.zeros(h, w, dtype=torch.long)
    nxt = 0
    for i in range(h):
        for j in range(w):
            if mask[i, j] and lab[i, j] == 0:
                nxt += 1
                stack = [(i, j)]
                lab[i, j] = nxt
                while stack:
                    y, x = stack.pop()
                    for yy, xx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                        if 0 <= yy < h and 0 <= xx < w and mask[yy, xx] and lab[yy, xx] == 0:
                            lab[yy, xx] = nxt
                            stack.append((yy, xx))
    return lab


def test_components_of_a_hand_made_mask():
    m = torch.tensor([[1, 1, 0, 1, 1],
                      [1, 1, 0, 1, 1],
                      [0, 0, 0, 0, 0],
                      [1, 0, 1, 1, 0]]).bool()
    lab = S.connected_components(m)
    assert lab.dtype == torch.long and lab.shape == m.shape
    assert torch.equal(lab == 0, ~m)
    assert len(torch.unique(lab[m])) == 4
    assert lab[0, 0] == lab[1, 1] and lab[0, 3] == lab[1, 4] and lab[3, 2] == lab[3, 3]
    assert lab[0, 0] != lab[0, 3] and lab[3, 0] != lab[3, 2]


def test_diagonal_neighbours_are_not_connected():
    m = torch.eye(4).bool()
    assert len(torch.unique(S.connected_components(m)[m])) == 4


def test_a_spiral_is_one_component():
    m = torch.zeros(9, 9, dtype=torch.bool)
    m[0, :] = m[:, 8] = m[8, :] = m[2:, 0] = m[2, :7] = m[2:7, 6] = m[6, 2:7] = m[4:7, 2] = True
    m[4, 2:5] = True
    lab = S.connected_components(m)
    assert len(torch.unique(lab[m])) == 1


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("p", [0.45, 0.6])
def test_components_match_flood_fill(seed, p):
    g = torch.Generator().manual_seed(seed)
    masks = torch.rand(3, 17, 23, generator=g) < p
    labs = S.connected_components(masks)
    for m, lab in zip(masks, labs):
        assert _same_partition(lab, _flood_fill(m))


# -------------------------------------------------------------------------------------------------------- distances

def test_two_nearest_across_a_straight_membrane():
    # two cells, columns 0-3 and 9-12, a membrane of width 5 between them
    cells = torch.zeros(1, 6, 13, dtype=torch.long)
    cells[..., :4] = 1
    cells[..., 9:] = 2
    d1, d2 = S.two_nearest(cells, max_dist=10)
    assert torch.equal(d1[0, 0], torch.tensor([0, 0, 0, 0, 1, 2, 3, 2, 1, 0, 0, 0, 0.0]))
    assert torch.equal(d2[0, 0, 4:9], torch.tensor([5, 4, 3, 4, 5.0]))
    assert d2[0, 0, 0] == 9  # inside cell 1, the other cell is 9 columns away


def test_two_nearest_same_cell_twice_does_not_count():
    cells = torch.zeros(1, 9, 9, dtype=torch.long)
    cells[0, :, :2] = 3
    cells[0, :, 7:] = 3  # one label on both sides: only one cell
    d1, d2 = S.two_nearest(cells, max_dist=8)
    assert torch.isinf(d2).all() and d1.max() == 3


@pytest.mark.parametrize("seed", [0, 1])
def test_two_nearest_close_to_euclidean(seed):
    g = torch.Generator().manual_seed(seed)
    cells = torch.zeros(1, 40, 40, dtype=torch.long)
    pts = torch.randint(0, 40, (6, 2), generator=g)
    for k, (y, x) in enumerate(pts.tolist()):
        cells[0, y, x] = k + 1
    d1, d2 = S.two_nearest(cells, max_dist=60)
    yy, xx = torch.meshgrid(torch.arange(40.0), torch.arange(40.0), indexing="ij")
    dist = torch.stack([((yy - y) ** 2 + (xx - x) ** 2).sqrt() for y, x in pts.tolist()]).sort(0).values
    for ours, exact in ((d1[0], dist[0]), (d2[0], dist[1])):
        assert ((ours - exact).abs() <= 0.09 * exact + 1.0).all()


def test_unet_weights_peak_on_thin_membranes():
    labels = torch.ones(1, 20, 40, dtype=torch.long)
    labels[0, :, 10:12] = S.MEMBRANE  # thin membrane between two cells
    labels[0, :, 25:37] = S.MEMBRANE  # wide membrane
    w = S.unet_weights(labels, w0=10, sigma=5)
    f_mem = (labels == S.MEMBRANE).float().mean().item()
    wc_mem, wc_cell = 0.5 / f_mem, 0.5 / (1 - f_mem)
    assert torch.allclose(w[labels == S.CELL], torch.tensor(wc_cell))
    thin, wide = w[0, 5, 10], w[0, 5, 31]
    assert thin == pytest.approx(wc_mem + 10 * math.exp(-(1 + 2) ** 2 / 50), rel=1e-5)
    assert wide < thin and wide > wc_mem
    plain = S.unet_weights(labels, w0=0)
    assert (plain * 1.0).mean().item() == pytest.approx(1.0, rel=1e-5)  # class balance averages to one


# ---------------------------------------------------------------------------------------------------- loss, metrics

def test_weighted_cross_entropy_matches_pytorch_class_weights():
    g = torch.Generator().manual_seed(0)
    out = torch.randn(3, 2, 8, 9, generator=g)
    y = torch.randint(0, 2, (3, 8, 9), generator=g)
    cw = torch.tensor([2.5, 0.7])
    w = cw[y]
    ours = S.weighted_cross_entropy(out, S.targets(y, w))
    ref = F.cross_entropy(out, y, weight=cw)  # PyTorch divides by the sum of the weights
    assert ours.item() * w.numel() / w.sum().item() == pytest.approx(ref.item(), rel=1e-5)
    assert S.weighted_cross_entropy(out, y).item() == pytest.approx(F.cross_entropy(out, y).item(), rel=1e-6)


def test_metrics_on_hand_made_masks():
    target = torch.tensor([[[1, 1, 0, 0],
                            [1, 1, 0, 0]]])
    pred = torch.tensor([[[1, 0, 0, 0],
                          [1, 1, 1, 0]]])
    assert S.pixel_error(pred, target).item() == pytest.approx(2 / 8)
    # membrane (0): pred has 4 pixels, target 4, overlap 3
    assert S.iou(pred, target).item() == pytest.approx(3 / 5)
    assert S.dice(pred, target).item() == pytest.approx(6 / 8)
    assert S.iou(pred, target, cls=S.CELL).item() == pytest.approx(3 / 5)
    logits = torch.stack([(pred == 0).float(), (pred == 1).float()], 1)  # argmax of logits == pred
    assert S.pixel_error(logits, S.targets(target)).item() == pytest.approx(2 / 8)
    assert S.pixel_error(target, target).item() == 0 and S.iou(target, target).item() == 1


def test_iou_and_dice_of_empty_classes_are_one():
    t = torch.ones(1, 4, 4, dtype=torch.long)
    assert S.iou(t, t).item() == 1 and S.dice(t, t).item() == 1


def test_boundary_error_counts_only_near_edges():
    target = torch.ones(1, 20, 20, dtype=torch.long)
    target[0, :, 9:11] = S.MEMBRANE
    band = S.boundary_band(target, width=2)
    assert band[0, 0].tolist() == [False] * 6 + [True] * 8 + [False] * 6
    far = target.clone()
    far[0, :, 0] = S.MEMBRANE  # a mistake far from every edge
    assert S.boundary_error(far, target).item() == 0 and S.pixel_error(far, target).item() > 0
    blurry = target.clone()
    blurry[0, :, 8] = S.MEMBRANE  # a thicker membrane: a mistake on the edge
    assert S.boundary_error(blurry, target).item() == pytest.approx(1 / 8)


def test_rand_error():
    target = torch.ones(1, 10, 10, dtype=torch.long)
    target[0, :, 5] = S.MEMBRANE  # two cells
    assert S.rand_error(target, target).item() == pytest.approx(0, abs=1e-7)
    merged = torch.ones_like(target)  # the membrane is missed: the two cells merge
    split = target.clone()
    split[0, 5, :] = S.MEMBRANE  # an extra membrane splits each cell in two
    e_merge, e_split = S.rand_error(merged, target).item(), S.rand_error(split, target).item()
    assert 0.2 < e_merge < 1 and 0.2 < e_split < 1
    # merge: true cells of 50 and 40 pixels in one predicted cell of 90: V = (50^2 + 40^2) / (0.5 * 90^2 + ...)
    assert e_merge == pytest.approx(1 - (50**2 + 40**2) / (0.5 * 90**2 + 0.5 * (50**2 + 40**2)), rel=1e-6)


# ----------------------------------------------------------------------------------------------------- augmentation

def test_random_crops_without_augmentation_are_plain_crops():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 1, 32, 40, generator=g)
    y = S.targets(torch.randint(0, 2, (3, 32, 40), generator=g), torch.rand(3, 32, 40, generator=g))
    crops = S.RandomCrops(x, y, batch_size=4, crop=16, steps=2, rotate=False, flip=False, elastic=0, seed=1)
    assert len(crops) == 2
    # reproduce the sampler's draws, then compare with plain slicing at the rounded position
    xb, yb = next(iter(crops))
    assert xb.shape == (4, 1, 16, 16) and yb.shape == (4, 2, 16, 16)
    found = 0
    for xc, yc in zip(xb, yb):
        for i in range(3):
            for top in range(32 - 16 + 1):
                for left in range(40 - 16 + 1):
                    if torch.equal(yc, y[i, :, top:top + 16, left:left + 16]):
                        found += 1
                        # the image is interpolated bilinearly at a sub-pixel position: close to the nearest crop
                        assert (xc - x[i, :, top:top + 16, left:left + 16]).abs().mean() < 1.0
    assert found >= 4


def test_random_crops_integer_grid_is_exact():
    x = torch.arange(20 * 24, dtype=torch.float32).reshape(1, 1, 20, 24)
    y = S.targets(torch.zeros(1, 20, 24, dtype=torch.long))
    crops = S.RandomCrops(x, y, batch_size=3, crop=8, steps=1, rotate=False, flip=False, elastic=0)
    pix = crops.sampling_grid(3).round()
    crops.sampling_grid = lambda n: pix  # integer positions: grid_sample must return the pixels themselves
    xb, _ = crops.sample()
    for b in range(3):
        top, left = int(pix[b, 0, 0, 1]), int(pix[b, 0, 0, 0])
        torch.testing.assert_close(xb[b, 0], x[0, 0, top:top + 8, left:left + 8], rtol=0, atol=1e-3)


def test_random_crops_keep_labels_binary_and_are_reproducible():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 1, 64, 64, generator=g)
    y = S.targets(torch.randint(0, 2, (2, 64, 64), generator=g), torch.rand(2, 64, 64, generator=g) + 1)
    a = S.RandomCrops(x, y, batch_size=3, crop=24, steps=3, elastic=8, seed=5)
    b = S.RandomCrops(x, y, batch_size=3, crop=24, steps=3, elastic=8, seed=5)
    for (xa, ya), (xb, yb) in zip(a, b):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
        assert set(ya[:, 0].unique().tolist()) <= {0.0, 1.0}
        assert (ya[:, 1] >= 1).all()  # nearest sampling keeps the weights' values


# ------------------------------------------------------------------------------------------------------------- data

@pytest.mark.skipif(not (SHARED / "isbi2012_membrane").is_dir(), reason="no local ISBI 2012 mirror")
def test_load_isbi2012_from_mirror(tmp_path, monkeypatch):
    monkeypatch.setenv("DLHIST_DATA", str(tmp_path))
    monkeypatch.setenv("DLHIST_MIRROR", str(SHARED))
    monkeypatch.setenv("DLHIST_OFFLINE", "1")
    train, held = data.load_isbi2012(held_out=5)
    assert train.x.shape == (25, 1, 512, 512) and held.x.shape == (5, 1, 512, 512)
    assert train.y.shape == (25, 512, 512) and train.y.dtype == torch.long
    assert set(train.y.unique().tolist()) == {S.MEMBRANE, S.CELL}
    frac = (train.y == S.MEMBRANE).float().mean().item()
    assert 0.15 < frac < 0.3  # membranes are about a fifth of the pixels
    assert abs(train.x.mean().item()) < 1e-4 and train.x.std().item() == pytest.approx(1, abs=1e-4)
    small, _ = data.load_isbi2012(held_out=5, n_train=3, normalize=False)
    assert small.x.shape[0] == 3 and 0 <= small.x.min() and small.x.max() <= 1
    test = data.load_isbi2012_test()
    assert test.shape == (30, 1, 512, 512)


def test_isbi_pixel_error_is_one_minus_the_best_f_score():
    target = torch.tensor([[[1, 1, 0, 0],
                            [1, 1, 0, 0]]])
    prob = torch.tensor([[[0.9, 0.45, 0.2, 0.05],
                          [0.8, 0.7, 0.55, 0.0]]])
    # best threshold (0.3 or 0.4): 4 true cells found, 1 membrane pixel called cell: F = 8 / 9
    assert S.isbi_pixel_error(prob, target).item() == pytest.approx(1 / 9)
    assert S.isbi_pixel_error(prob, S.targets(target)).item() == pytest.approx(1 / 9)
    # the misclassified fraction at that threshold is larger: true negatives do not count in the F-score
    assert S.pixel_error((prob > 0.35).long(), target).item() == pytest.approx(1 / 8)
    assert S.isbi_pixel_error(target.float(), target).item() == 0  # a perfect map
    assert S.isbi_pixel_error(torch.zeros(1, 2, 4), target).item() == 1  # no cell anywhere: F = 0


def test_isbi_pixel_error_matches_a_brute_force_f_score():
    g = torch.Generator().manual_seed(0)
    target = (torch.rand(2, 16, 16, generator=g) < 0.7).long()
    prob = (0.6 * target + 0.5 * torch.rand(2, 16, 16, generator=g)).clamp(0, 1)
    best = 0.0
    for t in [i / 10 for i in range(11)]:
        pred = (prob > t).flatten().tolist()
        truth = (target == S.CELL).flatten().tolist()
        tp = sum(p and q for p, q in zip(pred, truth))
        fp = sum(p and not q for p, q in zip(pred, truth))
        fn = sum(q and not p for p, q in zip(pred, truth))
        best = max(best, 2 * tp / (2 * tp + fp + fn))
    assert S.isbi_pixel_error(prob, target).item() == pytest.approx(1 - best, abs=1e-6)


def test_isbi_pixel_error_names_mismatched_shapes():
    with pytest.raises(ValueError, match=r"\(1, 4, 4\).*\(1, 2, 4\)"):
        S.isbi_pixel_error(torch.zeros(1, 4, 4), torch.zeros(1, 2, 4, dtype=torch.long))
