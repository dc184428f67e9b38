"""Convolution and subsampling from scratch (LeCun et al. 1989, 1998), each checked against its PyTorch twin in
``tests/scratch/test_conv.py``.

Two ways to compute the same 2-D convolution (strictly, the cross-correlation every deep-learning library calls
"convolution"):

- ``conv2d_loop``: one loop over the kernel's taps; each tap multiplies a shifted view of the image by one weight per
  (output, input) channel pair. Short and close to the definition.
- ``conv2d``: im2col, the way Caffe and cuBLAS-era libraries did it: copy every receptive field into a column, then
  one matrix multiplication does all the work.

Both take ``stride`` and ``padding`` (ints or pairs) and an optional bias, like ``torch.nn.functional.conv2d``, and
autograd differentiates through them. Like it, they take a batch (N, C, H, W) or one unbatched image (C, H, W), and
return an output with the same kind of shape; shapes that cannot work (a kernel larger than the padded input, a
bias or weight of the wrong shape, a channel mismatch) raise ``ValueError`` naming the shapes.

``avg_pool2d`` and ``max_pool2d`` are the non-overlapping 2x2 subsampling layers, and ``Subsampling`` is LeNet-5's
trainable one (average, times a coefficient, plus a bias, per map); they too take batched or unbatched maps.
"""

from __future__ import annotations

import torch
from torch import nn


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _batched(x: torch.Tensor, what: str) -> tuple[torch.Tensor, bool]:
    """``x`` as (N, C, H, W), and whether it came unbatched, as (C, H, W) (then N = 1 and the caller drops it)."""
    if x.dim() == 3:
        return x.unsqueeze(0), True
    if x.dim() == 4:
        return x, False
    raise ValueError(f"{what} expects an input of shape (C, H, W) or (N, C, H, W), got {tuple(x.shape)}")


def _check_conv(x_shape: tuple, weight: torch.Tensor, bias: torch.Tensor | None, stride, padding) -> None:
    """Refuse, with the shapes in the message, what F.conv2d would refuse from deep inside torch."""
    w_shape = tuple(weight.shape)
    if weight.dim() != 4:
        raise ValueError(f"the weight must have shape (O, C, kH, kW), got {w_shape}")
    o, c_w, kh, kw = w_shape
    c, h, w = x_shape[-3:]
    if c_w != c:
        raise ValueError(f"input channels differ: the input of shape {x_shape} has {c}, but the weight of shape "
                         f"{w_shape} (O, C, kH, kW) expects {c_w}")
    if bias is not None and tuple(bias.shape) != (o,):
        raise ValueError(f"bias of shape {tuple(bias.shape)} should have shape ({o},): one value for each of the "
                         f"weight's {o} output channels (weight of shape {w_shape})")
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    if sh < 1 or sw < 1:
        raise ValueError(f"stride must be positive, got {stride}")
    if ph < 0 or pw < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    if kh > h + 2 * ph or kw > w + 2 * pw:
        padded = f" padded to {h + 2 * ph}x{w + 2 * pw}" if ph or pw else ""
        raise ValueError(f"the kernel {kh}x{kw} (weight of shape {w_shape}) is larger than the input {h}x{w}{padded} "
                         f"(input of shape {x_shape}); use a smaller kernel, more padding or a larger input")


def _pad(x: torch.Tensor, padding) -> torch.Tensor:
    """Zero-pad the last two dimensions of ``x`` (N, C, H, W) by ``padding`` (an int or (ph, pw)) on each side."""
    ph, pw = _pair(padding)
    if ph == pw == 0:
        return x
    n, c, h, w = x.shape
    out = x.new_zeros(n, c, h + 2 * ph, w + 2 * pw)
    out[:, :, ph:ph + h, pw:pw + w] = x
    return out


def conv2d_loop(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride=1,
                padding=0) -> torch.Tensor:
    """``y[n, o, i, j] = b[o] + sum_{c, u, v} w[o, c, u, v] * x[n, c, s*i + u, s*j + v]``, one tap (u, v) at a time.

    x: (N, C, H, W) or (C, H, W); weight: (O, C, kH, kW); returns (N, O, H', W') (or (O, H', W')) with
    H' = (H + 2p - kH) // s + 1.
    """
    xb, unbatched = _batched(x, "conv2d_loop")
    _check_conv(tuple(x.shape), weight, bias, stride, padding)
    sh, sw = _pair(stride)
    xb = _pad(xb, padding)
    n, c, h, w = xb.shape
    o, _, kh, kw = weight.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    y = xb.new_zeros(n, o, oh, ow)
    for u in range(kh):
        for v in range(kw):
            patch = xb[:, :, u:u + sh * (oh - 1) + 1:sh, v:v + sw * (ow - 1) + 1:sw]  # (N, C, H', W'): tap (u, v)
            y = y + torch.einsum("nchw,oc->nohw", patch, weight[:, :, u, v])
    if bias is not None:
        y = y + bias.view(1, -1, 1, 1)
    return y[0] if unbatched else y


def im2col(x: torch.Tensor, kernel_size, stride=1) -> torch.Tensor:
    """Every (kH, kW) receptive field of ``x`` (N, C, H, W) as a row: returns (N, H'*W', C*kH*kW).

    ``Tensor.unfold`` makes sliding windows as a view; the ``reshape`` copies them into one matrix.
    """
    kh, kw = _pair(kernel_size)
    sh, sw = _pair(stride)
    n, c = x.shape[:2]
    windows = x.unfold(2, kh, sh).unfold(3, kw, sw)  # (N, C, H', W', kH, kW)
    oh, ow = windows.shape[2:4]
    return windows.permute(0, 2, 3, 1, 4, 5).reshape(n, oh * ow, c * kh * kw)


def conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride=1,
           padding=0) -> torch.Tensor:
    """Convolution as one matrix product: im2col(x) @ W^T, with W the kernels flattened to rows of C*kH*kW.

    x: (N, C, H, W) or (C, H, W); returns (N, O, H', W') or (O, H', W'), like ``F.conv2d``.
    """
    xb, unbatched = _batched(x, "conv2d")
    _check_conv(tuple(x.shape), weight, bias, stride, padding)
    xb = _pad(xb, padding)
    n, c, h, w = xb.shape
    o, _, kh, kw = weight.shape
    sh, sw = _pair(stride)
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    cols = im2col(xb, (kh, kw), (sh, sw))  # (N, H'*W', C*kH*kW)
    y = cols @ weight.reshape(o, -1).T  # (N, H'*W', O)
    if bias is not None:
        y = y + bias
    y = y.transpose(1, 2).reshape(n, o, oh, ow)
    return y[0] if unbatched else y


def _blocks(x: torch.Tensor, size: int, what: str) -> tuple[torch.Tensor, bool]:
    """``x`` (N, C, H, W) or (C, H, W) as (N, C, H/size, size, W/size, size), and whether it came unbatched."""
    xb, unbatched = _batched(x, what)
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"{what}: size must be a positive int, got {size!r}")
    n, c, h, w = xb.shape
    if h % size or w % size:
        raise ValueError(f"{h}x{w} maps do not split into {size}x{size} blocks (input of shape {tuple(x.shape)})")
    return xb.reshape(n, c, h // size, size, w // size, size), unbatched


def avg_pool2d(x: torch.Tensor, size: int = 2) -> torch.Tensor:
    """Non-overlapping ``size`` x ``size`` averages (LeNet's subsampling); H and W must be multiples of ``size``.

    x: (N, C, H, W) or (C, H, W), like ``F.avg_pool2d``."""
    blocks, unbatched = _blocks(x, size, "avg_pool2d")
    y = blocks.mean(dim=(3, 5))
    return y[0] if unbatched else y


def max_pool2d(x: torch.Tensor, size: int = 2) -> torch.Tensor:
    """Non-overlapping ``size`` x ``size`` maxima (the modern choice); H and W must be multiples of ``size``.

    x: (N, C, H, W) or (C, H, W), like ``F.max_pool2d``."""
    blocks, unbatched = _blocks(x, size, "max_pool2d")
    y = blocks.amax(dim=(3, 5))
    return y[0] if unbatched else y


class Subsampling(nn.Module):
    """LeNet-5's S2/S4 layers: the 2x2 average of each map, times a trainable coefficient, plus a trainable bias.

    Two parameters per map (S2: 6 maps, 12 parameters); the squashing function follows in the network. With the
    coefficient 1 and the bias 0 it is exactly ``F.avg_pool2d(x, 2)``.
    """

    def __init__(self, channels: int, size: int = 2):
        super().__init__()
        self.size = size
        self.coef = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C, H, W) or (C, H, W), with C the layer's number of maps."""
        if x.dim() in (3, 4) and x.shape[-3] != self.coef.numel():
            raise ValueError(f"this Subsampling layer has {self.coef.numel()} maps, the input of shape "
                             f"{tuple(x.shape)} has {x.shape[-3]} channels")
        return avg_pool2d(x, self.size) * self.coef.view(-1, 1, 1) + self.bias.view(-1, 1, 1)
