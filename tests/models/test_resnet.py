import pytest
import torch
import torch.nn.functional as F

from dlhist.models import CifarNet, layer_grad_norms
from dlhist.scratch.resnet import Block, ShortcutA


def _batch(n=4, c=3, hw=8, seed=0):
    return torch.randn(n, c, hw, hw, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("c_in,c_out,stride", [(4, 4, 1), (4, 8, 2), (3, 8, 2), (5, 5, 2)])
def test_option_a_shortcut_is_a_fixed_1x1_projection(c_in, c_out, stride):
    x = _batch(3, c_in, 9, seed=c_in + c_out)
    weight = torch.zeros(c_out, c_in, 1, 1)
    weight[torch.arange(c_in), torch.arange(c_in)] = 1.0  # copy each input channel, the extra ones stay zero
    out = ShortcutA(c_in, c_out, stride)(x)
    torch.testing.assert_close(out, F.conv2d(x, weight, stride=stride), rtol=0, atol=0)
    assert out.shape == (3, c_out, -(-9 // stride), -(-9 // stride))
    assert out[:, c_in:].abs().sum() == 0 and sum(p.numel() for p in ShortcutA(c_in, c_out).parameters()) == 0


def test_option_a_refuses_to_drop_channels():
    with pytest.raises(ValueError, match="only add channels"):
        ShortcutA(8, 4)


def _functional_block(b: Block, x, training):
    def bn(m, t):
        return F.batch_norm(t, m.running_mean.clone(), m.running_var.clone(), m.weight, m.bias, training, 0.1, m.eps)

    h = F.relu(bn(b.bn1, F.conv2d(x, b.conv1.weight, stride=b.conv1.stride, padding=1)))
    h = bn(b.bn2, F.conv2d(h, b.conv2.weight, padding=1))
    if b.shortcut is not None:
        s = x[:, :, :: b.shortcut.stride, :: b.shortcut.stride]
        h = h + torch.cat([s, s.new_zeros(s.shape[0], b.shortcut.extra, *s.shape[2:])], 1)
    return F.relu(h)


@pytest.mark.parametrize("residual", [True, False])
@pytest.mark.parametrize("c_in,c_out,stride", [(4, 4, 1), (4, 8, 2)])
@pytest.mark.parametrize("training", [True, False])
def test_block_matches_its_definition(residual, c_in, c_out, stride, training):
    torch.manual_seed(c_out + stride)
    b = Block(c_in, c_out, stride, residual)
    for m in (b.bn1, b.bn2):  # non-trivial batch-norm state, so that eval mode is tested too
        m.running_mean.uniform_(-1, 1)
        m.running_var.uniform_(0.5, 2)
        m.weight.data.uniform_(0.5, 1.5)
        m.bias.data.uniform_(-0.5, 0.5)
    x = _batch(5, c_in, 8, seed=stride)
    expected = _functional_block(b, x, training)
    b.train(training)
    out = b(x)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    assert out.shape == (5, c_out, 8 // stride, 8 // stride)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("c_in,c_out,stride", [(4, 4, 1), (4, 8, 2)])
def test_zero_initialised_residual_branch_is_the_identity(training, c_in, c_out, stride):
    b = Block(c_in, c_out, stride, residual=True)
    torch.nn.init.zeros_(b.bn2.weight)  # F(x) = 0: bn2 outputs its bias, which starts at zero
    b.train(training)
    x = _batch(3, c_in, 8, seed=1).relu()  # block inputs come out of a ReLU, so they are >= 0
    torch.testing.assert_close(b(x), ShortcutA(c_in, c_out, stride)(x), rtol=0, atol=0)
    if stride == 1:
        torch.testing.assert_close(b(x), x, rtol=0, atol=0)
    plain = Block(c_in, c_out, stride, residual=False)
    torch.nn.init.zeros_(plain.bn2.weight)
    assert plain.train(training)(x).abs().max() == 0  # the plain twin outputs nothing at all


@pytest.mark.parametrize("training", [True, False])
def test_zero_init_network_reduces_to_stem_and_head(training):
    torch.manual_seed(0)
    net = CifarNet(20, residual=True, widths=(4, 8, 16), zero_init=True).train(training)
    x = _batch(6, 3, 16, seed=2)
    h = net.stem(x)
    for b in net.blocks:
        h = b.shortcut(h)
    torch.testing.assert_close(net(x), net.head(h.mean(dim=(2, 3))), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("depth,params", [(20, 0.27e6), (32, 0.46e6), (44, 0.66e6), (56, 0.85e6), (110, 1.7e6)])
def test_parameter_counts_match_the_paper_table_6(depth, params):
    net = CifarNet(depth, residual=True)
    n = sum(p.numel() for p in net.parameters())
    assert abs(n - params) / params < 0.03, n
    assert n == sum(p.numel() for p in CifarNet(depth, residual=False).parameters())  # option A adds none


@pytest.mark.parametrize("depth", [8, 20, 56])
@pytest.mark.parametrize("residual", [True, False])
@pytest.mark.parametrize("in_channels,hw,stem_stride", [(3, 32, 1), (1, 28, 2), (1, 14, 1)])
def test_network_shapes_and_depth(depth, residual, in_channels, hw, stem_stride):
    net = CifarNet(depth, residual, widths=(4, 8, 16), in_channels=in_channels, stem_stride=stem_stride)
    x = torch.randn(2, in_channels, hw, hw)
    assert net(x).shape == (2, 10)
    assert len(net.weighted_layers()) == depth
    norms = layer_grad_norms(net, x, torch.tensor([1, 7]))
    assert len(norms) == depth and all(v > 0 and v == v for v in norms)
    assert all(p.grad is None for p in net.parameters())  # layer_grad_norms leaves no gradients behind


@pytest.mark.parametrize("depth", [0, 7, 21])
def test_depth_must_be_6n_plus_2(depth):
    with pytest.raises(ValueError, match="6n"):
        CifarNet(depth)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("c_in,c_out,stride", [(4, 4, 1), (4, 8, 2), (8, 16, 2)])
def test_block_matches_torchvision_basic_block(training, c_in, c_out, stride):
    from torchvision.models.resnet import BasicBlock

    torch.manual_seed(c_in * stride)
    ours = Block(c_in, c_out, stride)
    shortcut = ShortcutA(c_in, c_out, stride) if stride > 1 or c_in != c_out else None
    twin = BasicBlock(c_in, c_out, stride=stride, downsample=shortcut)
    for m in (ours.bn1, ours.bn2):
        m.running_mean.uniform_(-1, 1)
        m.running_var.uniform_(0.5, 2)
    twin.load_state_dict(ours.state_dict())
    ours.train(training)
    twin.train(training)
    x = _batch(6, c_in, 10, seed=c_out)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), twin(x), rtol=1e-5, atol=1e-5)
