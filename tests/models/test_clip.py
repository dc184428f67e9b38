"""CLIP (dlhist.models.clip): the symmetric contrastive loss against a hand-written loop, the encoders, the
bag-of-words baseline and zero-shot classification."""

import math

import pytest
import torch

import dlhist
from dlhist.models.clip import CLIP, BagOfWords, ConvEncoder, TextEncoder, caption_clip, clip_loss, zero_shot


def loop_loss(img, txt, scale):
    """Radford et al.'s Figure 3, one row and one column at a time."""
    img = img / img.norm(dim=1, keepdim=True)
    txt = txt / txt.norm(dim=1, keepdim=True)
    n, total = len(img), 0.0
    for i in range(n):
        row = [scale * float(img[i] @ txt[j]) for j in range(n)]
        col = [scale * float(img[j] @ txt[i]) for j in range(n)]
        total += -row[i] + math.log(sum(math.exp(v) for v in row))
        total += -col[i] + math.log(sum(math.exp(v) for v in col))
    return total / (2 * n)


def test_loss_matches_the_loop_and_is_symmetric():
    g = torch.Generator().manual_seed(0)
    img, txt = torch.randn(6, 8, generator=g, dtype=torch.double), torch.randn(6, 8, generator=g, dtype=torch.double)
    assert clip_loss(img, txt, 3.0).item() == pytest.approx(loop_loss(img, txt, 3.0), abs=1e-12)
    assert clip_loss(img, txt, 3.0).item() == pytest.approx(clip_loss(txt, img, 3.0).item(), abs=1e-12)
    # matched pairs far apart from the others: the loss goes to 0; unrelated embeddings give about log N
    eye = torch.eye(6, dtype=torch.double)
    assert clip_loss(eye, eye, 100.0).item() < 1e-30
    assert clip_loss(eye, eye.roll(1, 0), 1e-6).item() == pytest.approx(math.log(6), abs=1e-5)


def test_loss_refuses_mismatched_batches():
    with pytest.raises(ValueError, match="one row per matched pair"):
        clip_loss(torch.randn(4, 8), torch.randn(5, 8), 1.0)
    with pytest.raises(ValueError, match="at least 2 pairs"):
        clip_loss(torch.randn(1, 8), torch.randn(1, 8), 1.0)


def small_clip():
    torch.manual_seed(0)
    return CLIP(ConvEncoder(16, width=4, image_size=16), TextEncoder(12, 16, d_model=16, n_heads=2, layers=1,
                                                                     context=8))


def test_text_encoder_ignores_padding_and_reads_the_last_token():
    model = small_clip()
    a = torch.tensor([[1, 5, 6, 2, 0, 0]])
    assert torch.allclose(model.text(a), model.text(a[:, :4]), atol=1e-6)
    changed = a.clone()
    changed[0, 3] = 7
    assert not torch.allclose(model.text(a), model.text(changed))


def test_clip_learns_to_pair_and_its_temperature_is_clipped():
    model = small_clip()
    g = torch.Generator().manual_seed(1)
    images = torch.rand(8, 3, 16, 16, generator=g)
    tokens = torch.tensor([[1, 3 + i, 2, 0] for i in range(8)])
    before = model(images, tokens)["loss"].item()
    dlhist.fit(model, [(images, tokens)] * 60, epochs=1, loss_fn=None, device="cpu", verbose=-1,
               optimizer=torch.optim.Adam(model.parameters(), lr=3e-3))
    assert model(images, tokens)["loss"].item() < before / 3
    assert (zero_shot(model, images, tokens) == torch.arange(8)).all()
    with torch.no_grad():
        model.log_scale.fill_(10.0)
    assert model.scale().item() == pytest.approx(100.0)
    assert model(images, tokens)["temperature"].item() == pytest.approx(0.01)


def test_bag_of_words_scores_are_mean_word_log_probabilities():
    torch.manual_seed(0)
    bow = BagOfWords(ConvEncoder(10, width=4, image_size=16), 10)
    prompts = torch.tensor([[1, 4, 5, 2], [1, 6, 6, 2]])
    bags = bow.bags(prompts)
    assert torch.allclose(bags.sum(1), torch.ones(2)) and bags[:, :3].sum() == 0 and bags[1, 6] == 1
    images = torch.rand(3, 3, 16, 16)
    log_p = torch.log_softmax(bow.image(images), -1)
    expected = torch.stack([(log_p[:, 4] + log_p[:, 5]) / 2, log_p[:, 6]], 1)
    assert torch.allclose(bow.scores(images, prompts), expected, atol=1e-6)
    with pytest.raises(ValueError, match="no word"):
        bow.bags(torch.tensor([[1, 2, 0]]))
    with pytest.raises(ValueError, match=r"must lie in \[0, 10\)"):
        bow.bags(torch.tensor([[1, 12, 2]]))


def test_encoders_and_models_name_bad_shapes():
    model = small_clip()
    with pytest.raises(ValueError, match=r"\(N, 3, 16, 16\)"):
        model.image(torch.rand(2, 1, 16, 16))
    with pytest.raises(ValueError, match="pairs must match"):
        model(torch.rand(2, 3, 16, 16), torch.tensor([[1, 3, 2]]))
    with pytest.raises(ValueError, match="multiple of 8"):
        ConvEncoder(4, image_size=28)
    with pytest.raises(ValueError, match="temperature"):
        CLIP(ConvEncoder(4, image_size=16), TextEncoder(12, 4, d_model=8, n_heads=2, layers=1), temperature=2.0)


def test_caption_clip_is_the_captioned_set_size_and_scores_captions():
    clip = caption_clip(96, dim=16, width=4, text_len=20, d_model=16)
    scores = clip.scores(torch.rand(3, 3, 32, 32), torch.randint(3, 96, (2, 20)))
    assert scores.shape == (3, 2) and scores.abs().max() <= 1 + 1e-6
