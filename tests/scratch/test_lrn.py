import pytest
import torch
from torch import nn

from dlhist.scratch.lrn import LocalResponseNorm, local_response_norm


@pytest.mark.parametrize("shape", [(2, 7, 5), (3, 16, 6, 6), (1, 3, 4, 5), (2, 9, 3, 4, 2)])
@pytest.mark.parametrize("size", [1, 2, 3, 5, 6, 11])
def test_matches_pytorch_forward_and_backward(shape, size):
    g = torch.Generator().manual_seed(sum(shape) * 31 + size)
    x = (3 * torch.randn(*shape, generator=g, dtype=torch.float64)).requires_grad_()
    params = dict(alpha=1e-2 * size, beta=0.75, k=2.0)
    ours = local_response_norm(x, size, **params)
    ref = nn.LocalResponseNorm(size, **params)(x)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    w = torch.randn(*shape, generator=g, dtype=torch.float64)
    (g_ours,) = torch.autograd.grad((ours * w).sum(), x)
    (g_ref,) = torch.autograd.grad((ref * w).sum(), x)
    torch.testing.assert_close(g_ours, g_ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_module_train_and_eval_mode_float32(seed):
    torch.manual_seed(seed)
    x = torch.randn(4, 32, 7, 7) * 5
    ours, ref = LocalResponseNorm(5, alpha=1e-3, beta=0.6, k=1.5), nn.LocalResponseNorm(5, alpha=1e-3, beta=0.6, k=1.5)
    for mode in (True, False):  # LRN has no state: train and eval mode compute the same thing
        ours.train(mode)
        ref.train(mode)
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-5, atol=1e-6)


def test_paper_constants_and_formula_by_hand():
    lrn = LocalResponseNorm.from_paper()
    assert (lrn.size, lrn.k, lrn.beta) == (5, 2.0, 0.75) and lrn.alpha == pytest.approx(5e-4)
    x = torch.arange(1.0, 9.0, dtype=torch.float64).reshape(1, 8, 1, 1) * 10
    out = lrn(x).flatten()
    a = x.flatten()
    for c in range(8):  # the paper's sum over max(0, c - 2) .. min(7, c + 2), with alpha = 1e-4 and no 1/n
        s = (a[max(0, c - 2): min(7, c + 2) + 1] ** 2).sum()
        assert out[c].item() == pytest.approx((a[c] / (2 + 1e-4 * s) ** 0.75).item(), rel=1e-12)


def test_lrn_damps_neighbours_of_a_strong_channel():
    x = torch.ones(1, 7, 1, 1, dtype=torch.float64)
    x[0, 3] = 100.0
    out = local_response_norm(x, 3, alpha=0.3, k=1.0).flatten()
    assert out[2] < out[0] and out[4] < out[6]  # neighbours of the strong channel are inhibited
    assert out[0] == pytest.approx(out[6].item())


def test_errors():
    with pytest.raises(ValueError, match="3 dimensions"):
        local_response_norm(torch.zeros(2, 3), 3)
    with pytest.raises(ValueError, match="positive"):
        local_response_norm(torch.zeros(2, 3, 4), 0)
