"""Convolution and subsampling from scratch (LeCun et al. 1989, 1998), each checked against its PyTorch twin in
``tests/test_scratch_conv.py``.

Two ways to compute the same 2-D convolution (strictly, the cross-correlation every deep-learning library calls
"convolution"):

- ``conv2d_loop``: one loop over the kernel's taps; each tap multiplies a shifted view of the image by one weight per
  (output, input) channel pair. Short and close to the definition.
- ``conv2d``: im2col, the way Caffe and cuBLAS-era libraries did it: copy every receptive field into a column, then
  one matrix multiplication does all the work.

Both take ``stride`` and ``padding`` (ints or pairs) and an optional bias, like ``torch.nn.functional.conv2d``, and
autograd differentiates through them. ``avg_pool2d`` and ``max_pool2d`` are the non-overlapping 2x2 subsampling
layers, and ``Subsampling`` is LeNet-5's trainable one (average, times a coefficient, plus a bias, per map).
"""

from __future__ import annotations

import torch
from torch import nn


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _pad(x: torch.Tensor, padding) -> torch.Tensor:
    """Zero-pad the last two dimensions by ``padding`` (an int or (ph, pw)) on each side."""
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

    x: (N, C, H, W); weight: (O, C, kH, kW); returns (N, O, H', W') with H' = (H + 2p - kH) // s + 1.
    """
    sh, sw = _pair(stride)
    x = _pad(x, padding)
    n, c, h, w = x.shape
    o, c_w, kh, kw = weight.shape
    if c_w != c:
        raise ValueError(f"the weight expects {c_w} input channels, the input has {c}")
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    y = x.new_zeros(n, o, oh, ow)
    for u in range(kh):
        for v in range(kw):
            patch = x[:, :, u:u + sh * (oh - 1) + 1:sh, v:v + sw * (ow - 1) + 1:sw]  # (N, C, H', W'): tap (u, v)
            y = y + torch.einsum("nchw,oc->nohw", patch, weight[:, :, u, v])
    if bias is not None:
        y = y + bias.view(1, -1, 1, 1)
    return y


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
    """Convolution as one matrix product: im2col(x) @ W^T, with W the kernels flattened to rows of C*kH*kW."""
    x = _pad(x, padding)
    n, c, h, w = x.shape
    o, c_w, kh, kw = weight.shape
    if c_w != c:
        raise ValueError(f"the weight expects {c_w} input channels, the input has {c}")
    sh, sw = _pair(stride)
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    cols = im2col(x, (kh, kw), (sh, sw))  # (N, H'*W', C*kH*kW)
    y = cols @ weight.reshape(o, -1).T  # (N, H'*W', O)
    if bias is not None:
        y = y + bias
    return y.transpose(1, 2).reshape(n, o, oh, ow)


def avg_pool2d(x: torch.Tensor, size: int = 2) -> torch.Tensor:
    """Non-overlapping ``size`` x ``size`` averages (LeNet's subsampling); H and W must be multiples of ``size``."""
    n, c, h, w = x.shape
    if h % size or w % size:
        raise ValueError(f"{h}x{w} maps do not split into {size}x{size} blocks")
    return x.reshape(n, c, h // size, size, w // size, size).mean(dim=(3, 5))


def max_pool2d(x: torch.Tensor, size: int = 2) -> torch.Tensor:
    """Non-overlapping ``size`` x ``size`` maxima (the modern choice); H and W must be multiples of ``size``."""
    n, c, h, w = x.shape
    if h % size or w % size:
        raise ValueError(f"{h}x{w} maps do not split into {size}x{size} blocks")
    return x.reshape(n, c, h // size, size, w // size, size).amax(dim=(3, 5))


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
        return avg_pool2d(x, self.size) * self.coef.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)
