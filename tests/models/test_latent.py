import pytest
import torch

from dlhist.diffusion import Schedule, classifier_free, dropout_loss, sample_ddim
from dlhist.models.latent import CaptionDiffusion, CaptionEncoder, KLAutoencoder
from dlhist.models.unet import TimeUNet


def test_kl_autoencoder_compresses_four_times_per_side_and_rescales_its_latents():
    torch.manual_seed(0)
    ae = KLAutoencoder(latent_channels=4, width=8)
    x = torch.rand(6, 3, 32, 32)
    mean, logvar = ae.encode(x)
    assert mean.shape == logvar.shape == (6, 4, 8, 8) == (6, *ae.latent_shape)
    out = ae(x)
    assert set(out) == {"loss", "recon", "kl"} and out["kl"] > 0
    assert torch.allclose(out["loss"], out["recon"] + ae.kl_weight * out["kl"])
    s = ae.fit_scale(x)
    assert torch.allclose(ae.latents(x).std(), torch.tensor(1.0), atol=1e-4)
    assert s == pytest.approx(1 / mean.std().item(), rel=1e-4)
    img = ae.images(ae.latents(x))
    assert img.shape == x.shape and img.min() >= 0 and img.max() <= 1


def test_kl_autoencoder_refuses_images_of_the_wrong_size_or_range():
    ae = KLAutoencoder(width=8)
    with pytest.raises(ValueError, match=r"images of shape \(N, 3, 32, 32\), got \(2, 1, 28, 28\)"):
        ae.encode(torch.rand(2, 1, 28, 28))
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        ae.encode(torch.rand(2, 3, 32, 32) * 2 - 1)
    with pytest.raises(ValueError, match=r"latents must be \(N, 4, 8, 8\), got \(2, 4, 7, 7\)"):
        ae.decode(torch.zeros(2, 4, 7, 7))
    with pytest.raises(ValueError, match="divisible by 4"):
        KLAutoencoder(image_shape=(3, 30, 30))


def _net():
    torch.manual_seed(0)
    return CaptionDiffusion(TimeUNet((8, 16), time_dim=16, in_channels=4, context_dim=16, attention_levels=(0, 1)),
                            CaptionEncoder(20, 16, layers=1))


def test_caption_encoder_masks_padding_and_names_bad_tokens():
    enc = CaptionEncoder(20, 16, layers=1)
    tokens = torch.tensor([[1, 5, 6, 2, 0, 0]])
    states, mask = enc(tokens)
    assert states.shape == (1, 6, 16) and mask.tolist() == [[True] * 4 + [False] * 2]
    with pytest.raises(ValueError, match=r"token ids must lie in 0 .. 19, got 1 .. 25"):
        enc(torch.tensor([[1, 25]]))


def test_dropped_captions_are_the_unconditional_model_and_guidance_mixes_the_two():
    net = _net()
    x, t = torch.randn(3, 4, 8, 8), torch.tensor([10, 400, 900])
    tokens = torch.tensor([[1, 5, 6, 2], [1, 7, 2, 0], [1, 9, 9, 2]])
    # make the attention matter (its output projections start at zero)
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.2) if p.dim() > 1 else None
    cond, uncond = net(x, t, tokens), net(x, t)
    assert not torch.allclose(cond, uncond, atol=1e-4)
    dropped = net(x, t, tokens, drop=torch.tensor([True, False, True]))
    assert torch.allclose(dropped[[0, 2]], uncond[[0, 2]], atol=1e-5)
    assert torch.allclose(dropped[1], cond[1], atol=1e-5)
    assert torch.allclose(classifier_free(net, 1.0, tokens=tokens)(x, t), cond)
    assert torch.allclose(classifier_free(net, 0.0, tokens=tokens)(x, t), uncond)
    assert torch.allclose(classifier_free(net, 3.0, tokens=tokens)(x, t), uncond + 3 * (cond - uncond), atol=1e-5)
    with pytest.raises(ValueError, match="finite number >= 0, got -1.0"):
        classifier_free(net, -1, tokens=tokens)
    with pytest.raises(ValueError, match="needs the condition"):
        classifier_free(net, 2.0)
    with pytest.raises(ValueError, match="one caption per image: 3 images, 2 captions"):
        net(x, t, tokens[:2])
    with pytest.raises(ValueError, match=r"drop must be a bool tensor of shape \(3,\)"):
        net(x, t, tokens, drop=torch.tensor([True, False]))
    with pytest.raises(ValueError, match="no captions were given"):
        net(x, t, drop=torch.tensor([True, False, True]))


def test_caption_diffusion_trains_and_samples_in_the_latent_shape():
    net = _net()
    sched = Schedule.linear(100)
    tokens = torch.tensor([[1, 5, 6, 2]] * 8)
    x0 = torch.randn(8, 4, 8, 8)
    loss = dropout_loss(net, x0, sched, p_uncond=0.5, tokens=tokens)
    loss.backward()
    # the attention output starts at zero, so the first gradient reaches its projection (not yet the words)
    assert loss.item() > 0 and net.unet.attn_mid.attn.out_proj.weight.grad.abs().sum() > 0
    z = sample_ddim(classifier_free(net, 2.0, tokens=tokens[:2]), sched, (2, 4, 8, 8), steps=5)
    assert z.shape == (2, 4, 8, 8) and torch.isfinite(z).all()
    with pytest.raises(ValueError, match="p_uncond must be a probability"):
        dropout_loss(net, x0, sched, p_uncond=1.5, tokens=tokens)
    with pytest.raises(ValueError, match="needs the condition to drop"):
        dropout_loss(net, x0, sched)
    with pytest.raises(ValueError, match="attends to 16-vectors but the caption encoder gives 8"):
        CaptionDiffusion(TimeUNet((8, 16), in_channels=4, context_dim=16), CaptionEncoder(20, 8))


def test_vq_autoencoder_turns_images_into_a_grid_of_codes_and_back():
    from dlhist.models.latent import VQAutoencoder

    torch.manual_seed(0)
    vq = VQAutoencoder(n_codes=16, dim=8, width=8)
    x = torch.rand(4, 3, 32, 32)
    out = vq(x)
    assert set(out) == {"loss", "recon", "commit", "perplexity"}
    assert torch.allclose(out["loss"], out["recon"] + out["commit"]) and 1 <= out["perplexity"] <= 16
    codes = vq.encode(x)
    assert codes.shape == (4, 8, 8) and codes.dtype == torch.long and codes.max() < 16
    img = vq.images(codes)
    assert img.shape == x.shape and 0 <= img.min() and img.max() <= 1
    with pytest.raises(ValueError, match=r"code indices must lie in 0 .. 15, got 0 .. 16"):
        vq.decode(torch.full((1, 8, 8), 16).index_fill_(1, torch.tensor([0]), 0))
    with pytest.raises(ValueError, match=r"code grids must be \(N, 8, 8\), got \(1, 7, 7\)"):
        vq.decode(torch.zeros(1, 7, 7, dtype=torch.long))
    with pytest.raises(ValueError, match=r"images of shape \(N, 3, 32, 32\), got \(4, 3, 28, 28\)"):
        vq.encode(torch.rand(4, 3, 28, 28))
