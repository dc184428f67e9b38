import pytest
import torch
import torch.nn.functional as F

from dlhist.scratch.mlp import HandMLP, train_perceptron

X = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])


def test_perceptron_learns_separable_gates_and_not_xor():
    for t in ([0.0, 0, 0, 1], [0.0, 1, 1, 1], [1.0, 1, 1, 0]):
        w, b, mistakes = train_perceptron(X, torch.tensor(t))
        assert mistakes[-1] == 0 and torch.equal((X @ w + b > 0).float(), torch.tensor(t))
    _, _, mistakes = train_perceptron(X, torch.tensor([0.0, 1, 1, 0]), epochs=100)
    assert min(mistakes) > 0


@pytest.mark.parametrize("shape", [(1, 1, 2), (11, 5, 3), (32, 20, 10)])
def test_hand_gradients_match_autograd(shape):
    n, d, k = shape
    g = torch.Generator().manual_seed(n)
    net = HandMLP(d, 7, k, generator=g)
    x, t = torch.randn(n, d, generator=g, dtype=torch.float64), torch.randint(0, k, (n,), generator=g)
    loss, grads = net.loss_and_grads(x, t)
    leaves = [p.clone().requires_grad_() for p in net.params()]
    ref = F.cross_entropy(torch.tanh(x @ leaves[0] + leaves[1]) @ leaves[2] + leaves[3], t)
    for a, b in zip(grads, torch.autograd.grad(ref, leaves)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    assert loss.item() == pytest.approx(ref.item(), abs=1e-12)


def test_hand_mlp_learns_xor():
    net = HandMLP(2, 4, 2, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([0, 1, 1, 0])
    for _ in range(2000):
        _, grads = net.loss_and_grads(X.double(), t)
        net.step(grads, 0.5)
    assert torch.equal(net.forward(X.double()).argmax(1), t)
