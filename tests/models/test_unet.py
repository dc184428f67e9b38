import pytest
import torch

from dlhist import train
from dlhist.models import TimeClassifier, TimeUNet, UNet, timestep_embedding


def test_unet_keeps_the_resolution_and_skips_change_only_the_wiring():
    net = UNet((8, 16, 32))
    assert net(torch.zeros(2, 1, 32, 32)).shape == (2, 2, 32, 32)
    plain = UNet((8, 16, 32), skip=False)
    assert plain(torch.zeros(2, 1, 32, 32)).shape == (2, 2, 32, 32)
    # each decoder block receives as many channels with and without skips (the up-convolutions keep all theirs)
    assert [train.count_parameters(d) for d in net.dec] == [train.count_parameters(d) for d in plain.dec]
    assert [u.out_channels for u in plain.up] == [2 * u.out_channels for u in net.up]
    assert UNet((8, 16), in_channels=3, n_classes=4)(torch.zeros(1, 3, 8, 8)).shape == (1, 4, 8, 8)


def test_unet_names_the_shape_it_needs():
    with pytest.raises(ValueError, match=r"divisible by 4; got shape \(1, 1, 30, 32\)"):
        UNet((8, 16, 32))(torch.zeros(1, 1, 30, 32))


def test_timestep_embedding_gives_each_step_its_own_code():
    e = timestep_embedding(torch.arange(1000), 32)
    assert e.shape == (1000, 32) and e.abs().max() <= 1
    assert torch.equal(e[0], torch.cat([torch.zeros(16), torch.ones(16)]))  # sin(0), cos(0)
    assert torch.cdist(e, e).add(torch.eye(1000)).min() > 1e-3  # every pair of steps differs
    # nearby steps are closer than distant ones
    assert (e[500] - e[501]).norm() < (e[500] - e[900]).norm()
    assert timestep_embedding(7, 8).shape == (1, 8)
    with pytest.raises(ValueError, match="even and at least 2, got 7"):
        timestep_embedding(torch.arange(3), 7)


def test_time_unet_predicts_noise_of_the_input_shape_and_learns_from_it():
    torch.manual_seed(0)
    net = TimeUNet((8, 16, 16), time_dim=16)
    x = torch.randn(3, 1, 28, 28)
    out = net(x, torch.tensor([0, 500, 999]))
    assert out.shape == x.shape
    assert net(x, 5).shape == x.shape  # one int for the whole batch
    assert not torch.allclose(net(x, torch.tensor([0, 0, 0])), net(x, torch.tensor([999, 999, 999])))
    out.square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
    assert TimeUNet((8, 16), time_dim=8, in_channels=3)(torch.zeros(2, 3, 8, 8), 1).shape == (2, 3, 8, 8)


def test_time_unet_class_conditioning():
    torch.manual_seed(0)
    net = TimeUNet((8, 16), time_dim=16, n_classes=10)
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([3, 3])
    a, b = net(x, t, torch.tensor([1, 1])), net(x, t, torch.tensor([2, 2]))
    assert not torch.allclose(a, b)
    assert net.null_class == 10 and torch.equal(net(x, t), net(x, t, torch.tensor([10, 10])))
    with pytest.raises(ValueError, match=r"label 11 is outside 0 \.\. 10"):
        net(x, t, torch.tensor([0, 11]))
    with pytest.raises(ValueError, match="unconditional"):
        TimeUNet((8, 16), time_dim=16)(x, t, torch.tensor([1, 1]))


def test_time_nets_name_the_shapes_they_need():
    net = TimeUNet((8, 16, 16), time_dim=16)
    with pytest.raises(ValueError, match=r"TimeUNet expects .* divisible by 4; got shape \(1, 1, 30, 28\)"):
        net(torch.zeros(1, 1, 30, 28), 0)
    with pytest.raises(ValueError, match=r"one timestep per image, shape \(2,\), got \(3,\)"):
        net(torch.zeros(2, 1, 28, 28), torch.tensor([1, 2, 3]))


def test_time_classifier_gives_logits_and_input_gradients():
    torch.manual_seed(0)
    clf = TimeClassifier((8, 16, 16), time_dim=16, n_classes=10)
    x = torch.randn(4, 1, 28, 28, requires_grad=True)
    logits = clf(x, torch.tensor([0, 10, 100, 999]))
    assert logits.shape == (4, 10)
    logits.log_softmax(1)[:, 3].sum().backward()  # what classifier guidance needs: grad_x log p(y | x_t)
    assert x.grad.shape == x.shape and x.grad.abs().sum() > 0


def test_cross_attention_starts_as_the_identity_then_reads_only_real_tokens():
    from dlhist.models.unet import CrossAttention

    torch.manual_seed(0)
    block = CrossAttention(16, context_dim=8)
    h, ctx = torch.randn(2, 16, 4, 4), torch.randn(2, 5, 8)
    assert torch.equal(block(h, ctx), h)  # zero-initialised output projection
    torch.nn.init.normal_(block.attn.out_proj.weight)
    mask = torch.tensor([[True, True, True, False, False]] * 2)
    out = block(h, ctx, mask)
    changed = ctx.clone()
    changed[:, 3:] = torch.randn(2, 2, 8)  # padded positions: no effect
    assert torch.allclose(block(h, changed, mask), out, atol=1e-6)
    changed[:, 0] = torch.randn(2, 8)  # a real token: an effect
    assert not torch.allclose(block(h, changed, mask), out, atol=1e-4)
    with pytest.raises(ValueError, match=r"context must be \(2, length, 8\).*got \(2, 5, 7\)"):
        block(h, torch.randn(2, 5, 7))


def test_time_unet_with_context_attends_where_asked_and_has_a_null_context():
    from dlhist.models.unet import CrossAttention

    torch.manual_seed(0)
    net = TimeUNet((8, 16, 16), time_dim=16, in_channels=4, context_dim=12, attention_levels=(1, 2))
    assert sorted(net.attn_down) == ["1", "2"] and sorted(net.attn_up) == ["1"]
    x, t, ctx = torch.randn(2, 4, 8, 8), torch.tensor([3, 700]), torch.randn(2, 6, 12)
    for m in net.modules():  # the attention outputs start at zero: make them matter
        if isinstance(m, CrossAttention):
            torch.nn.init.normal_(m.attn.out_proj.weight, std=0.5)
    out = net(x, t, context=ctx)
    assert out.shape == x.shape
    assert not torch.allclose(out, net(x, t, context=torch.randn(2, 6, 12)), atol=1e-4)  # the context matters
    assert not torch.allclose(out, net(x, t), atol=1e-4)
    assert torch.equal(net(x, t), net(x, t, context=net.null_context.expand(2, 1, 12)))  # None: the null context
    with pytest.raises(ValueError, match="takes no context"):
        TimeUNet((8, 16))(torch.zeros(1, 1, 8, 8), 1, context=ctx[:1])
    with pytest.raises(ValueError, match="attention_levels needs a context_dim"):
        TimeUNet((8, 16), attention_levels=(1,))
    with pytest.raises(ValueError, match=r"attention_levels must lie in 0 .. 1"):
        TimeUNet((8, 16), context_dim=4, attention_levels=(2,))
    with pytest.raises(ValueError, match=r"context mask must be \(batch, length\) = \(2, 6\)"):
        net(x, t, context=ctx, mask=torch.ones(2, 5, dtype=torch.bool))
