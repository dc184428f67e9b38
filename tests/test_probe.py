"""Linear probes (dlhist.probe): the L-BFGS fit reaches the optimum that scipy finds for the same objective."""

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from dlhist.probe import fit_probe, linear_probe, probe_objective


def blobs(n, d=5, k=3, spread=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(k, d, generator=g) * 3
    y = torch.randint(k, (n,), generator=g)
    return centres[y] + spread * torch.randn(n, d, generator=g), y


def test_separable_blobs_are_read_perfectly():
    x, y = blobs(300, spread=0.3)
    tx, ty = blobs(200, spread=0.3, seed=0)
    assert (linear_probe(x, y, tx) == ty).all()


def test_the_fit_is_the_optimum_scipy_finds():
    x, y = blobs(200, spread=2.0)  # overlapping classes: a unique, finite optimum
    l2 = 0.05
    w, b, mu, sd = fit_probe(x, y, l2=l2)
    z = (x.double() - mu) / sd
    d, k = w.shape

    def f(theta):
        t = torch.tensor(theta, requires_grad=True)
        loss = probe_objective(t[:d * k].view(d, k), t[d * k:], z, y, l2)
        loss.backward()
        return loss.item(), t.grad.numpy()

    ref = minimize(f, np.zeros(d * k + k), jac=True, method="BFGS", options={"gtol": 1e-10})
    ours = probe_objective(w, b, z, y, l2).item()
    assert ours == pytest.approx(ref.fun, abs=1e-9)
    # the weights are unique; the biases only up to a shared constant (softmax ignores it)
    np.testing.assert_allclose(w.numpy(), ref.x[:d * k].reshape(d, k), atol=1e-4)
    np.testing.assert_allclose((b - b.mean()).numpy(), ref.x[d * k:] - ref.x[d * k:].mean(), atol=1e-4)


def test_bad_shapes_and_penalties_are_refused():
    x, y = blobs(20)
    with pytest.raises(ValueError, match="same D"):
        linear_probe(x, y, x[:, :3])
    with pytest.raises(ValueError, match="one label per row"):
        linear_probe(x, y[:5], x)
    with pytest.raises(ValueError, match="L2 penalty"):
        linear_probe(x, y, x, l2=-1)
