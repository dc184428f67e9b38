import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlhist.models import mlp
from dlhist.scratch.activations import (
    Activation,
    elu,
    elu_grad,
    gelu,
    gelu_grad,
    gelu_sigmoid,
    gelu_tanh,
    gelu_tanh_grad,
    relu,
    relu_grad,
)

# (ours, PyTorch's, our hand-written derivative)
PAIRS = {
    "relu": (relu, F.relu, relu_grad),
    "elu": (elu, F.elu, elu_grad),
    "elu_alpha_0.5": (lambda x: elu(x, 0.5), lambda x: F.elu(x, alpha=0.5), lambda x: elu_grad(x, 0.5)),
    "gelu": (gelu, lambda x: F.gelu(x, approximate="none"), gelu_grad),
    "gelu_tanh": (gelu_tanh, lambda x: F.gelu(x, approximate="tanh"), gelu_tanh_grad),
}
TOL = {torch.float32: dict(rtol=1e-5, atol=1e-6), torch.float64: dict(rtol=1e-12, atol=1e-12)}


def _inputs(shape, seed, dtype):
    g = torch.Generator().manual_seed(seed)
    x = 3 * torch.randn(shape, generator=g, dtype=dtype)
    x.view(-1)[:3] = torch.tensor([0.0, -40.0, 40.0], dtype=dtype)  # the kink and both saturated ends
    return x


@pytest.mark.parametrize("name", list(PAIRS))
@pytest.mark.parametrize("shape,seed", [((7,), 0), ((4, 33), 1), ((2, 3, 5, 8), 2)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_values_and_gradients_match_pytorch(name, shape, seed, dtype):
    ours, ref, hand = PAIRS[name]
    x = _inputs(shape, seed, dtype)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = ours(xa), ref(xb)
    torch.testing.assert_close(ya, yb, **TOL[dtype])
    w = torch.randn(shape, generator=torch.Generator().manual_seed(seed + 100), dtype=dtype)
    (ga,) = torch.autograd.grad((ya * w).sum(), xa)
    (gb,) = torch.autograd.grad((yb * w).sum(), xb)
    assert torch.isfinite(ga).all()
    torch.testing.assert_close(ga, gb, **TOL[dtype])
    torch.testing.assert_close(hand(x) * w, gb, **TOL[dtype])


def test_gelu_shape_and_approximations():
    x = torch.linspace(-6, 6, 2001, dtype=torch.float64)
    exact = gelu(x)
    assert (gelu_tanh(x) - exact).abs().max() < 1e-3  # the tanh form is very close
    assert 1e-3 < (gelu_sigmoid(x) - exact).abs().max() < 3e-2  # the sigmoid form is cruder
    # negative but bounded below, minimum about -0.17 near x = -0.75; tends to relu at both ends
    assert -0.171 < exact.min() < -0.169 and abs(x[exact.argmin()] + 0.75) < 0.01
    torch.testing.assert_close(gelu(torch.tensor([-30.0, 30.0])), torch.tensor([0.0, 30.0]))


def test_relu_gives_exact_zeros_and_elu_saturates():
    x = torch.tensor([-5.0, -1e-8, 0.0, 1e-8, 5.0])
    assert torch.equal(relu(x) == 0, torch.tensor([True, True, True, False, False]))
    assert torch.equal(relu(x)[3:], x[3:])
    assert elu(torch.tensor(-50.0)).item() == pytest.approx(-1.0)


@pytest.mark.parametrize("fn,ref", [(relu, nn.ReLU), (gelu, nn.GELU), (elu, nn.ELU)])
def test_activation_layer_in_an_mlp_matches_builtin(fn, ref):
    torch.manual_seed(0)
    ours = mlp([20, 16, 16, 3], lambda: Activation(fn), flatten=False)
    theirs = mlp([20, 16, 16, 3], ref, flatten=False)
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(9, 20)
    torch.testing.assert_close(ours(x), theirs(x))
    assert fn.__name__ in repr(ours)


SPECIAL = torch.tensor([float("nan"), -0.0, 0.0, 1.5, -1.5, float("inf"), -float("inf")], dtype=torch.float64)


@pytest.mark.parametrize("name", list(PAIRS))
def test_nan_and_infinities_propagate_like_pytorch(name):
    """NaN in gives NaN out (never a silent 0), and autograd and the hand derivative match PyTorch's there too."""
    ours, ref, hand = PAIRS[name]
    xa, xb = SPECIAL.clone().requires_grad_(), SPECIAL.clone().requires_grad_()
    ya, yb = ours(xa), ref(xb)
    assert torch.isnan(ya[0]), f"{name}(nan) = {ya[0].item()}: the NaN is hidden"
    tol = dict(TOL[torch.float64], equal_nan=True)
    torch.testing.assert_close(ya, yb, **tol)
    (ga,) = torch.autograd.grad(ya.sum(), xa)
    (gb,) = torch.autograd.grad(yb.sum(), xb)
    torch.testing.assert_close(ga, gb, **tol)
    torch.testing.assert_close(hand(SPECIAL), gb, **tol)


def test_relu_of_nan_is_nan_in_a_layer():
    x = torch.tensor([[1.0, float("nan"), -2.0]])
    assert torch.isnan(Activation(relu)(x)[0, 1]) and torch.isnan(F.relu(x)[0, 1])
    assert relu_grad(torch.tensor([float("nan")])).item() == 1.0  # torch.relu's backward passes NaN's gradient on
