import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlhist.scratch.norm import BatchNorm, LayerNorm, batch_norm, batch_norm_backward, layer_norm

BN_SHAPES = [(2, 3), (8, 5), (64, 100), (4, 3, 7), (2, 4, 5, 5), (16, 8, 3, 2)]


def _twins(shape, seed, momentum=0.1):
    torch.manual_seed(seed)
    ours = BatchNorm(shape[1], momentum=momentum).double()
    ref = (nn.BatchNorm2d if len(shape) == 4 else nn.BatchNorm1d)(shape[1], momentum=momentum).double()
    with torch.no_grad():  # non-trivial gamma and beta
        ref.weight.uniform_(0.5, 1.5)
        ref.bias.uniform_(-0.5, 0.5)
        ours.weight.copy_(ref.weight)
        ours.bias.copy_(ref.bias)
    return ours, ref


@pytest.mark.parametrize("shape", BN_SHAPES)
@pytest.mark.parametrize("seed", [0, 1])
def test_batch_norm_matches_pytorch_in_train_and_eval_mode(shape, seed):
    ours, ref = _twins(shape, seed, momentum=0.3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(3):  # several training steps: outputs and running statistics must agree after each
        x = torch.randn(shape, generator=g, dtype=torch.float64) * 3 + 2
        torch.testing.assert_close(ours(x), ref(x), rtol=0, atol=1e-10)
        torch.testing.assert_close(ours.running_mean, ref.running_mean, rtol=0, atol=1e-12)
        torch.testing.assert_close(ours.running_var, ref.running_var, rtol=0, atol=1e-12)
    ours.eval()
    ref.eval()
    x = torch.randn(shape, generator=g, dtype=torch.float64)
    torch.testing.assert_close(ours(x), ref(x), rtol=0, atol=1e-10)
    before = ours.running_mean.clone()
    ours(x)
    assert torch.equal(before, ours.running_mean), "eval mode must not update the running statistics"


@pytest.mark.parametrize("shape", BN_SHAPES)
def test_batch_norm_gradients_match_pytorch_and_the_hand_derived_backward(shape):
    ours, ref = _twins(shape, 3)
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    dy = torch.randn(shape, dtype=torch.float64)
    g_ours = torch.autograd.grad(ours(x), [x, ours.weight, ours.bias], dy)
    g_ref = torch.autograd.grad(ref(x), [x, ref.weight, ref.bias], dy)
    g_hand = batch_norm_backward(dy, x.detach(), ours.weight.detach())
    for a, b, c in zip(g_ours, g_ref, g_hand):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-9)
        torch.testing.assert_close(c, b, rtol=0, atol=1e-9)


def test_batch_norm_train_output_is_standardised_and_eval_is_batch_independent():
    x = torch.randn(32, 6, dtype=torch.float64) * 5 + 3
    y = batch_norm(x)
    torch.testing.assert_close(y.mean(0), torch.zeros(6, dtype=torch.float64), rtol=0, atol=1e-12)
    torch.testing.assert_close(y.var(0, unbiased=False), torch.ones(6, dtype=torch.float64), rtol=0, atol=1e-5)
    # in training, an example's output depends on the rest of the batch; in eval mode it does not
    assert not torch.allclose(batch_norm(x[:4])[0], batch_norm(x)[0])
    rm, rv = torch.randn(6, dtype=torch.float64), torch.rand(6, dtype=torch.float64) + 0.5
    torch.testing.assert_close(batch_norm(x[:1], rm, rv, training=False)[0], batch_norm(x, rm, rv, training=False)[0])


def test_batch_norm_refuses_one_value_per_channel_like_pytorch():
    with pytest.raises(ValueError, match="more than 1 value"):
        BatchNorm(4)(torch.randn(1, 4))
    with pytest.raises(ValueError):
        nn.BatchNorm1d(4)(torch.randn(1, 4))
    with pytest.raises(ValueError, match="expected input"):
        BatchNorm(4)(torch.randn(8, 5))
    with pytest.raises(ValueError, match="running statistics"):
        batch_norm(torch.randn(8, 4), training=False)


def test_batch_norm_without_affine_matches_functional_pytorch():
    x = torch.randn(10, 4, 3, dtype=torch.float64)
    rm, rv = torch.zeros(4, dtype=torch.float64), torch.ones(4, dtype=torch.float64)
    rm2, rv2 = rm.clone(), rv.clone()
    torch.testing.assert_close(BatchNorm(4, affine=False).double()(x), F.batch_norm(x, None, None, training=True))
    torch.testing.assert_close(batch_norm(x, rm, rv, momentum=0.5), F.batch_norm(x, rm2, rv2, training=True,
                                                                                  momentum=0.5))
    torch.testing.assert_close((rm, rv), (rm2, rv2))


@pytest.mark.parametrize("shape,normalized", [((5, 10), 10), ((3, 7, 16), 16), ((2, 3, 4, 5), (4, 5)),
                                              ((1, 8), 8)])
@pytest.mark.parametrize("seed", [0, 1])
def test_layer_norm_matches_pytorch_forward_and_backward(shape, normalized, seed):
    torch.manual_seed(seed)
    ref = nn.LayerNorm(normalized).double()
    ours = LayerNorm(normalized).double()
    with torch.no_grad():
        ref.weight.uniform_(0.5, 1.5)
        ref.bias.uniform_(-0.5, 0.5)
        ours.load_state_dict(ref.state_dict())
    x = (torch.randn(shape, dtype=torch.float64) * 4 - 1).requires_grad_()
    y_ours, y_ref = ours(x), ref(x)
    torch.testing.assert_close(y_ours, y_ref, rtol=0, atol=1e-10)
    dy = torch.randn(shape, dtype=torch.float64)
    for a, b in zip(torch.autograd.grad(y_ours, [x, ours.weight, ours.bias], dy),
                    torch.autograd.grad(y_ref, [x, ref.weight, ref.bias], dy)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-9)
    ours.eval()
    torch.testing.assert_close(ours(x), y_ours)  # no train/eval difference


def test_layer_norm_is_independent_of_the_batch():
    x = torch.randn(6, 12, dtype=torch.float64)
    full = layer_norm(x, 12)
    for i in range(6):  # each example alone gives the same output as inside the batch
        torch.testing.assert_close(layer_norm(x[i:i + 1], 12), full[i:i + 1], rtol=0, atol=1e-12)
    torch.testing.assert_close(full.mean(-1), torch.zeros(6, dtype=torch.float64), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="does not end in"):
        layer_norm(x, 5)
