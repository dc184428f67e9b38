"""The captioned image set (dlhist.data.captions): held-out pairs, captions that say what the pixels show, the unseen
prompt template, the tokenizer and argument checks. MNIST comes from the shared offline mirror."""

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from dlhist.data import captions as C

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"  # the data mirror beside the repository


@pytest.fixture(scope="module", autouse=True)
def mirror(tmp_path_factory):
    """A fresh cache filled offline from the shared mirror (skipped without it); glyphs are cached per process."""
    if not SHARED.is_dir():
        pytest.skip(f"no local data mirror at {SHARED}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DLHIST_DATA", str(tmp_path_factory.mktemp("cache")))
        mp.setenv("DLHIST_MIRROR", str(SHARED))
        mp.setenv("DLHIST_OFFLINE", "1")
        yield


@pytest.fixture(scope="module")
def train():
    return C.make_captioned("mnist", 400, "train", seed=0)


def random_attributes(n, source="mnist", seed=0, held_out=C.HELD_OUT):
    """Attribute ids for captions without images; (class, colour) pairs drawn only outside ``held_out``."""
    g = torch.Generator().manual_seed(seed)
    label = torch.randint(10, (n,), generator=g)
    allowed = torch.ones(10, len(C.COLOURS))
    for c, k in held_out:
        allowed[c, k] = 0
    colour = torch.multinomial(allowed[label], 1, generator=g).squeeze(1)
    size, position, thickness, slant = (torch.randint(k, (n,), generator=g) for k in (2, 4, 2, 3))
    return label, colour, size, position, thickness, slant if source == "mnist" else None


def ink_colour(images):
    """Each image's colour as its channels' pattern: the channels above half of the brightest one, summed over ink."""
    per_channel = images.sum((2, 3))
    return (per_channel > 0.5 * per_channel.amax(1, keepdim=True)).float()


def ink_centroid(images):
    g = images.amax(1)
    coords = torch.arange(g.shape[-1], dtype=torch.float32) + 0.5
    mass = g.sum((1, 2))
    return (g.sum(1) @ coords) / mass, (g.sum(2) @ coords) / mass  # x, y


def test_images_lie_in_the_unit_interval_with_their_attributes(train):
    assert train.images.shape == (400, 3, 32, 32) and train.images.dtype == torch.float32
    assert train.images.min() >= 0 and train.images.max() <= 1 and train.images.amax((1, 2, 3)).min() > 0.5
    for name, k in (("label", 10), ("colour", 6), ("size", 2), ("position", 4), ("thickness", 2), ("slant", 3)):
        t = getattr(train, name)
        assert t.dtype == torch.long and t.shape == (400,) and 0 <= t.min() and t.max() < k, name
        assert len(t.unique()) == k, name  # every value occurs
    assert len(train.captions) == 400 and set(train.attributes()) == set(C.ATTRIBUTES)
    labels = C.load_glyphs("mnist", "train")[1]
    assert torch.equal(labels[train.index], train.label) and len(train.index.unique()) == 400
    d = train.describe(0)
    assert d["caption"] == train.captions[0] and d["colour"] == C.COLOURS[train.colour[0]]


def test_held_out_pairs_never_appear_in_training_images_or_captions():
    held = set(C.HELD_OUT)
    assert len(held) == 10 and {c for c, _ in held} == set(range(10))  # each class loses one colour
    assert {k for _, k in held} == set(range(6)) and max(sum(k == j for _, k in held) for j in range(6)) == 2
    noisy = C.make_captioned("mnist", 500, "train", seed=1, noise=0.5)
    pairs = set(zip(noisy.label.tolist(), noisy.colour.tolist()))
    assert not pairs & held and len(pairs) == 50 and not noisy.is_held_out.any()
    assert torch.equal(ink_colour(noisy.images), C.COLOUR_RGB[noisy.colour])  # what was rendered, not only the ids
    # captions, many more of them (no images needed), with noise that swaps colours: never a held-out pair
    for source in C.SOURCES:
        caps, flags = C.write_captions(*random_attributes(5000, source), source=source, seed=2, noise=1.0)
        assert flags.float().mean() > 0.95
        for caption in caps:
            said = C.read_caption(caption, source)
            assert "colour" not in said or (said["label"], said["colour"]) not in held, caption


def test_the_test_split_draws_test_glyphs_and_can_hold_only_held_out_pairs():
    only = C.make_captioned("mnist", 300, "test", seed=0, only_held_out=True)
    assert set(zip(only.label.tolist(), only.colour.tolist())) <= set(C.HELD_OUT) and only.is_held_out.all()
    mixed = C.make_captioned("mnist", 300, "test", seed=0)
    assert 0 < mixed.is_held_out.float().mean() < 0.4  # about 10 of 60 pairs
    assert torch.equal(C.load_glyphs("mnist", "test")[1][mixed.index], mixed.label)
    glyphs = C.load_glyphs("mnist", "test")[0][mixed.index]
    again = C.render(glyphs, mixed.colour, mixed.size, mixed.position)
    assert torch.equal(again, mixed.images)  # the test glyphs, as recorded in index
    # a pool smaller than n: drawn without replacement until it runs out
    zeros = C.make_captioned("mnist", 1200, "test", seed=0, held_out=((0, 0),), only_held_out=True)
    n_zeros = int((C.load_glyphs("mnist", "test")[1] == 0).sum())
    assert (zeros.label == 0).all() and (zeros.colour == 0).all() and len(zeros.index[:n_zeros].unique()) == n_zeros


def test_captions_say_what_the_pixels_show(train):
    assert torch.equal(ink_colour(train.images), C.COLOUR_RGB[train.colour])
    x, y = ink_centroid(train.images)
    centre = 16.0
    side = torch.stack([x < centre - 2, x > centre + 2, y < centre - 2, y > centre + 2], 1)
    assert torch.equal(side.long().argmax(1), train.position) and (side.sum(1) == 1).all()
    mass = train.images.amax(1).sum((1, 2))
    assert mass[train.size == 1].mean() > 1.8 * mass[train.size == 0].mean()  # (24 / 16)^2 = 2.25
    named = {k: 0 for k in C.KEEP}
    for i, caption in enumerate(train.captions):
        said = C.read_caption(caption)
        assert said.pop("label") == train.label[i], caption  # the class is always named
        for k, v in said.items():
            assert v == getattr(train, k)[i], (caption, k)
            named[k] += 1
    for k, p in C.KEEP.items():
        assert abs(named[k] / len(train) - p) < 0.1, k  # attributes are left out at the stated rates


def test_measured_thickness_and_slant_follow_the_pixels(train):
    glyph = torch.zeros(4, 28, 28)
    glyph[0, 4:24, 13:15] = 1  # an upright bar 2 pixels wide
    glyph[1, 4:24, 11:16] = 1  # 5 pixels wide
    for r in range(4, 24):
        glyph[2, r, 20 - r // 2:22 - r // 2] = 1  # top to the right
        glyph[3, r, 6 + r // 2:8 + r // 2] = 1  # top to the left
    stroke, angle = C.measure(glyph)
    assert abs(stroke[0] - 2) < 1e-4 and abs(stroke[1] - 5) < 1e-4 and abs(angle[0]) < 1 and abs(angle[1]) < 1
    assert angle[2] > 20 and angle[3] < -20
    # dilating real digits makes them thicker (Morpho-MNIST's thickening)
    digits = C.load_glyphs("mnist", "test")[0][:300].float() / 255
    bolder = F.max_pool2d(digits[:, None], 3, stride=1, padding=1)[:, 0]
    assert (C.measure(bolder)[0] > C.measure(digits)[0]).float().mean() > 0.95
    raw = C.load_glyphs("mnist", "test")[0][:300]  # uint8 and float in [0, 1] measure alike
    assert torch.equal(C.measure(raw)[0], C.measure(digits)[0])
    assert torch.allclose(C.measure(raw)[1], C.measure(digits)[1], atol=1e-3)
    assert torch.equal(train.thickness.bool(), train.stroke > C._source("mnist")["median_stroke"][train.label])
    slant = 1 + (train.angle > C.SLANT_DEGREES).long() - (train.angle < -C.SLANT_DEGREES).long()
    assert torch.equal(train.slant, slant) and 0.3 < train.thickness.float().mean() < 0.7


def test_noise_swaps_exactly_one_attribute_word():
    noisy = C.make_captioned("mnist", 400, "train", seed=3, noise=0.3)
    assert abs(noisy.noisy.float().mean() - 0.3) < 0.08
    for i, caption in enumerate(noisy.captions):
        said = C.read_caption(caption)
        wrong = [k for k, v in said.items() if v != getattr(noisy, k)[i]]
        assert wrong == [] if not noisy.noisy[i] else len(wrong) == 1 and wrong != ["label"], caption


def test_same_seed_same_set_and_another_seed_another():
    a, b = (C.make_captioned("mnist", 200, "train", seed=7, noise=0.1) for _ in range(2))
    c = C.make_captioned("mnist", 200, "train", seed=8, noise=0.1)
    assert torch.equal(a.images, b.images) and a.captions == b.captions and torch.equal(a.noisy, b.noisy)
    assert all(torch.equal(a.attributes()[k], b.attributes()[k]) for k in C.ATTRIBUTES)
    assert not torch.equal(a.index, c.index) and a.captions != c.captions


def test_fashion_captions_name_their_garments():
    f = C.make_captioned("fashion-mnist", 300, "train", seed=0)
    assert f.slant is None and "slant" not in f.attributes() and f.images.shape == (300, 3, 32, 32)
    assert torch.equal(ink_colour(f.images), C.COLOUR_RGB[f.colour])
    assert not set(zip(f.label.tolist(), f.colour.tolist())) & set(C.HELD_OUT)
    for i, caption in enumerate(f.captions):
        said = C.read_caption(caption, "fashion-mnist")
        assert said["label"] == f.label[i] and "slant" not in said, caption
        assert all(v == getattr(f, k)[i] for k, v in said.items()), caption
    assert C.read_caption("trainers in blue", "fashion-mnist") == {"label": 7, "colour": 2}
    assert C.read_caption("a small red seven on the left") == C.read_caption("red 7, small, left side") == {
        "label": 7, "colour": 0, "size": 0, "position": 0}
    assert C.read_caption("at the top, a big blue digit two") == {"label": 2, "colour": 2, "size": 1, "position": 2}


def test_the_zero_shot_prompt_template_is_never_used_in_training():
    words = set()
    for source in C.SOURCES:
        keep = {k: 0.7 for k in C.KEEP}
        caps, _ = C.write_captions(*random_attributes(4000, source), source=source, seed=4, noise=0.1, keep=keep)
        assert not [c for c in caps if "a photo of" in c]
        words |= {w for c in caps for w in c.replace(",", " ,").split()}
        # the eight templates all occur
        for marker in (", a ", ", small", " in red", "there is", "that is", " is red", "at the top,"):
            assert any(marker in c for c in caps) or source == "fashion-mnist", marker
    assert not words & set(C.PROMPT_ONLY) and not words - set(C.CaptionVocab().itos)
    assert C.prompt(7, 0) == "a photo of a red 7" and C.prompt(8) == "a photo of an 8"
    assert C.prompt(8, numeral=False) == "a photo of an eight" and C.prompt(1, 4, numeral=False) == \
        "a photo of a magenta one"
    assert C.prompt(9, None, "fashion-mnist") == "a photo of an ankle boot"
    assert C.prompt(1, 5, "fashion-mnist") == "a photo of cyan trousers"
    prompts = [C.prompt(c, k, s) for s in C.SOURCES for c in range(10) for k in (None, *range(6))]
    assert C.CaptionVocab().encode(prompts, C.MAX_LEN).shape == (140, C.MAX_LEN)


def test_vocabulary_round_trip_and_closed_words(train):
    vocab = C.CaptionVocab()
    assert 60 <= len(vocab) <= 100 and vocab.itos[:3] == ["<pad>", "<bos>", "<eos>"] and vocab.PAD == 0
    assert C.CaptionVocab().itos == vocab.itos  # from the word lists, not from data
    ids = vocab.encode(train.captions, C.MAX_LEN)
    assert ids.shape == (400, C.MAX_LEN) and ids.dtype == torch.long and (ids[:, 0] == vocab.BOS).all()
    lengths = (ids != vocab.PAD).sum(1)
    assert (ids[torch.arange(400), lengths - 1] == vocab.EOS).all()
    assert vocab.decode(ids) == train.captions and vocab.decode(ids[0]) == train.captions[0]
    assert vocab.encode("red 7, small").tolist() == [[1, *[vocab.stoi[w] for w in ("red", "7", ",", "small")], 2]]
    everything = {k: 1.0 for k in C.KEEP}
    for source in C.SOURCES:
        caps, _ = C.write_captions(*random_attributes(500, source), source=source, keep=everything)
        assert vocab.encode(caps).shape[1] <= C.MAX_LEN
    with pytest.raises(ValueError, match=r"'dog'.*'a red dog'"):
        vocab.encode(["a red 7", "a red dog"])
    with pytest.raises(ValueError, match="empty caption"):
        vocab.encode(["a red 7", ""])
    with pytest.raises(ValueError, match="empty caption"):
        vocab.encode("  ")
    with pytest.raises(ValueError, match="max_len=3"):
        vocab.encode("a red 7", max_len=3)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="'cifar10'"):
        C.make_captioned("cifar10", 10, "train", seed=0)
    for n in (0, -5):
        with pytest.raises(ValueError, match=f"n must be a positive.*{n}"):
            C.make_captioned("mnist", n, "train", seed=0)
    with pytest.raises(ValueError, match="'valid'"):
        C.make_captioned("mnist", 10, "valid", seed=0)
    with pytest.raises(ValueError, match="only_held_out"):
        C.make_captioned("mnist", 10, "train", seed=0, only_held_out=True)
    with pytest.raises(ValueError, match="1.5"):
        C.make_captioned("mnist", 10, "train", seed=0, noise=1.5)
    with pytest.raises(ValueError, match="every colour of class 3"):
        C.make_captioned("mnist", 10, "train", seed=0, held_out=[(3, k) for k in range(6)])
    with pytest.raises(ValueError, match=r"\(10, 0\)"):
        C.make_captioned("mnist", 10, "train", seed=0, held_out=[(10, 0)])
    with pytest.raises(ValueError, match="'spin'"):
        C.make_captioned("mnist", 10, "train", seed=0, keep={"spin": 0.5})
    with pytest.raises(ValueError, match="colour_id 6"):
        C.prompt(7, 6)
    with pytest.raises(ValueError, match="class_id 10"):
        C.prompt(10, 0)
    with pytest.raises(ValueError, match="'svhn'"):
        C.prompt(1, 0, "svhn")
    with pytest.raises(ValueError, match="colour ids"):
        C.render(torch.zeros(2, 28, 28), torch.tensor([0, 6]), torch.zeros(2, dtype=torch.long),
                 torch.zeros(2, dtype=torch.long))
