import pytest
import torch
import torch.nn.functional as F

from dlhist.scratch.conv import Subsampling, avg_pool2d, conv2d, conv2d_loop, im2col, max_pool2d

# (batch, in channels, out channels, height, width, kernel, stride, padding)
CASES = [
    (1, 1, 1, 5, 5, 3, 1, 0),
    (2, 1, 6, 32, 32, 5, 1, 0),  # LeNet-5's C1
    (3, 6, 16, 14, 14, 5, 1, 0),  # C3
    (2, 3, 4, 9, 7, (3, 2), 2, 1),  # non-square kernel and image, stride and padding
    (4, 2, 5, 16, 16, 5, 2, 2),  # the 1989 network's H1: 5x5, stride 2
    (1, 4, 3, 8, 10, 3, (2, 1), (0, 2)),  # different stride and padding per axis
]


@pytest.mark.parametrize("fn", [conv2d, conv2d_loop])
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("with_bias", [True, False])
def test_conv2d_matches_pytorch(fn, case, with_bias):
    n, c, o, h, w, k, s, p = case
    k2 = (k, k) if isinstance(k, int) else k
    g = torch.Generator().manual_seed(n * 100 + c * 10 + o)
    x = torch.randn(n, c, h, w, generator=g, dtype=torch.float64)
    weight = torch.randn(o, c, *k2, generator=g, dtype=torch.float64)
    bias = torch.randn(o, generator=g, dtype=torch.float64) if with_bias else None
    ours = fn(x, weight, bias, stride=s, padding=p)
    ref = F.conv2d(x, weight, bias, stride=s, padding=p)
    assert ours.shape == ref.shape
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-10)


@pytest.mark.parametrize("fn", [conv2d, conv2d_loop])
def test_conv2d_gradients_match_pytorch(fn):
    g = torch.Generator().manual_seed(7)
    x = torch.randn(2, 3, 11, 9, generator=g, dtype=torch.float64)
    w = torch.randn(4, 3, 3, 3, generator=g, dtype=torch.float64)
    b = torch.randn(4, generator=g, dtype=torch.float64)
    upstream = torch.randn(2, 4, 6, 5, generator=g, dtype=torch.float64)
    grads = []
    for conv in (fn, F.conv2d):
        leaves = [t.clone().requires_grad_() for t in (x, w, b)]
        out = conv(*leaves, stride=2, padding=1)
        grads.append(torch.autograd.grad((out * upstream).sum(), leaves))
    for ours, ref in zip(*grads):
        torch.testing.assert_close(ours, ref, rtol=0, atol=1e-10)


def test_conv2d_float32_and_wrong_channels():
    x, w = torch.randn(8, 6, 14, 14), torch.randn(16, 6, 5, 5)
    torch.testing.assert_close(conv2d(x, w), F.conv2d(x, w), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="input channels"):
        conv2d(torch.randn(1, 2, 8, 8), w)
    with pytest.raises(ValueError, match="input channels"):
        conv2d_loop(torch.randn(1, 2, 8, 8), w)


def test_im2col_rows_are_receptive_fields():
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float64).reshape(2, 3, 4, 5)
    cols = im2col(x, 3, stride=1)
    assert cols.shape == (2, 2 * 3, 3 * 3 * 3)
    torch.testing.assert_close(cols[1, 4], x[1, :, 1:4, 1:4].reshape(-1))  # output position (1, 1)
    torch.testing.assert_close(cols, F.unfold(x, 3).transpose(1, 2))


def test_convolution_is_shift_equivariant():
    """Shifting the input shifts the output by the same amount (away from the borders): weight sharing."""
    g = torch.Generator().manual_seed(3)
    x = torch.zeros(1, 1, 20, 20, dtype=torch.float64)
    x[:, :, 5:12, 6:11] = torch.rand(7, 5, generator=g, dtype=torch.float64)
    w = torch.randn(2, 1, 5, 5, generator=g, dtype=torch.float64)
    shifted = torch.roll(x, shifts=(2, 3), dims=(2, 3))
    torch.testing.assert_close(conv2d(shifted, w), torch.roll(conv2d(x, w), shifts=(2, 3), dims=(2, 3)))


@pytest.mark.parametrize("shape,size", [((2, 6, 28, 28), 2), ((3, 16, 10, 10), 2), ((1, 2, 9, 6), 3)])
def test_pooling_matches_pytorch(shape, size):
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(size), dtype=torch.float64)
    torch.testing.assert_close(avg_pool2d(x, size), F.avg_pool2d(x, size), rtol=0, atol=1e-12)
    torch.testing.assert_close(max_pool2d(x, size), F.max_pool2d(x, size), rtol=0, atol=0)


def test_pooling_rejects_ragged_maps():
    with pytest.raises(ValueError, match="blocks"):
        avg_pool2d(torch.randn(1, 1, 5, 4))
    with pytest.raises(ValueError, match="blocks"):
        max_pool2d(torch.randn(1, 1, 4, 5))


def test_subsampling_layer():
    layer = Subsampling(6)
    assert sum(p.numel() for p in layer.parameters()) == 12  # LeNet-5's S2: 12 trainable parameters
    x = torch.randn(4, 6, 28, 28)
    torch.testing.assert_close(layer(x), F.avg_pool2d(x, 2))
    with torch.no_grad():
        layer.coef.copy_(torch.arange(6.0))
        layer.bias.fill_(0.5)
    expected = F.avg_pool2d(x, 2) * torch.arange(6.0).view(1, -1, 1, 1) + 0.5
    torch.testing.assert_close(layer(x), expected)
    layer(x).sum().backward()
    assert layer.coef.grad is not None and layer.bias.grad.shape == (6,)


@pytest.mark.parametrize("fn", [conv2d, conv2d_loop])
@pytest.mark.parametrize("with_bias", [True, False])
def test_unbatched_input_works_like_pytorch(fn, with_bias):
    g = torch.Generator().manual_seed(11)
    x = torch.randn(3, 9, 8, generator=g, dtype=torch.float64)  # (C, H, W), as F.conv2d accepts
    weight = torch.randn(4, 3, 3, 2, generator=g, dtype=torch.float64)
    bias = torch.randn(4, generator=g, dtype=torch.float64) if with_bias else None
    ours, ref = fn(x, weight, bias, stride=(2, 1), padding=1), F.conv2d(x, weight, bias, stride=(2, 1), padding=1)
    assert ours.shape == ref.shape == (4, 5, 9)
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-10)


def test_unbatched_pooling_and_subsampling_work_like_pytorch():
    x = torch.randn(6, 8, 12, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    for ours, ref in ((max_pool2d, F.max_pool2d), (avg_pool2d, F.avg_pool2d)):
        out = ours(x, 2)
        assert out.shape == ref(x, 2).shape == (6, 4, 6)
        torch.testing.assert_close(out, ref(x, 2), rtol=0, atol=1e-12)
    layer = Subsampling(6)
    with torch.no_grad():
        layer.coef.copy_(torch.arange(1.0, 7.0))
    torch.testing.assert_close(layer(x.float()), F.avg_pool2d(x.float(), 2) * torch.arange(1.0, 7.0).view(-1, 1, 1))
    torch.testing.assert_close(layer(x.float()[None])[0], layer(x.float()))
    with pytest.raises(ValueError, match=r"6 maps.*\(1, 3, 8, 12\) has 3 channels"):
        layer(torch.randn(1, 3, 8, 12))


@pytest.mark.parametrize("fn", [conv2d, conv2d_loop])
@pytest.mark.parametrize("x_shape,w_shape,bias_shape,padding,match", [
    ((1, 1, 4, 4), (2, 1, 5, 5), None, 0, r"kernel 5x5 .* larger than the input 4x4"),
    ((1, 1, 4, 6), (2, 1, 3, 7), None, 0, r"kernel 3x7 .* larger than the input 4x6"),
    ((1, 1, 3, 3), (2, 1, 7, 7), None, 1, r"kernel 7x7 .* larger than the input 3x3 padded to 5x5"),
    ((3, 5, 5), (2, 3, 6, 6), None, 0, r"kernel 6x6 .* larger than the input 5x5 \(input of shape \(3, 5, 5\)\)"),
    ((1, 3, 8, 8), (4, 3, 3, 3), (3,), 0, r"bias of shape \(3,\).*\(4,\).*4 output channels"),
    ((1, 3, 8, 8), (4, 3, 3, 3), (1, 4), 0, r"bias of shape \(1, 4\)"),
    ((2, 2, 8, 8), (4, 3, 3, 3), None, 0, r"input channels.*\(2, 2, 8, 8\).*\(4, 3, 3, 3\)"),
    ((2, 8, 8), (4, 3, 3, 3), None, 0, r"input channels.*\(2, 8, 8\).*\(4, 3, 3, 3\)"),
    ((8, 8), (4, 3, 3, 3), None, 0, r"\(C, H, W\) or \(N, C, H, W\).*\(8, 8\)"),
    ((1, 3, 8, 8), (3, 3, 3), None, 0, r"weight.*\(O, C, kH, kW\).*\(3, 3, 3\)"),
])
def test_bad_shapes_raise_valueerror_naming_them(fn, x_shape, w_shape, bias_shape, padding, match):
    x, w = torch.randn(*x_shape), torch.randn(*w_shape)
    bias = torch.randn(*bias_shape) if bias_shape else None
    with pytest.raises(ValueError, match=match):
        fn(x, w, bias, padding=padding)


@pytest.mark.parametrize("fn", [conv2d, conv2d_loop])
def test_bad_stride_or_padding_raise_valueerror(fn):
    x, w = torch.randn(1, 1, 6, 6), torch.randn(1, 1, 3, 3)
    with pytest.raises(ValueError, match="stride"):
        fn(x, w, stride=0)
    with pytest.raises(ValueError, match="padding"):
        fn(x, w, padding=-1)


def test_kernel_that_just_fits_after_padding_works():
    x, w = torch.randn(1, 1, 3, 3), torch.randn(2, 1, 5, 5)
    torch.testing.assert_close(conv2d(x, w, padding=1), F.conv2d(x, w, padding=1))
    torch.testing.assert_close(conv2d_loop(x, w, padding=1), F.conv2d(x, w, padding=1))


@pytest.mark.parametrize("pool", [avg_pool2d, max_pool2d])
def test_pooling_rejects_bad_shapes_and_sizes(pool):
    with pytest.raises(ValueError, match=r"\(C, H, W\) or \(N, C, H, W\).*\(4, 4\)"):
        pool(torch.randn(4, 4))
    with pytest.raises(ValueError, match="size"):
        pool(torch.randn(1, 1, 4, 4), 0)
    with pytest.raises(ValueError, match=r"2x2 maps do not split into 4x4 blocks"):
        pool(torch.randn(1, 2, 2), 4)
