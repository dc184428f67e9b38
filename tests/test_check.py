import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlhist import check


def test_max_diff_of_tensors_and_sequences():
    a = torch.tensor([1.0, 2.0, 3.0])
    assert check.max_diff(a, a + torch.tensor([0.0, 0.5, -1.0])) == 1.0
    assert check.max_diff([a, a], [a, a * 2]) == 3.0
    with pytest.raises(ValueError, match=r"shapes differ: ours \(3,\), reference \(2,\)"):
        check.max_diff(a, a[:2])
    with pytest.raises(ValueError, match="ours has 1 tensors, the reference 2"):
        check.max_diff([a], [a, a])


def test_function_diff_sees_outputs_and_gradients():
    x = torch.randn(50, dtype=torch.float64)
    assert check.function_diff(lambda t: t.clamp(min=0), F.relu, x) < 1e-12
    # same output, wrong gradient: a straight-through "relu" is caught by the gradient check
    fake = lambda t: F.relu(t).detach() + t - t.detach()  # noqa: E731
    assert check.function_diff(fake, F.relu, x, grad=False) == 0.0
    assert check.function_diff(fake, F.relu, x) > 0.1


class MyLinear(nn.Module):
    def __init__(self, n_in, n_out, bug=False):
        super().__init__()
        self.w = nn.Parameter(torch.randn(n_out, n_in))
        self.b = nn.Parameter(torch.zeros(n_out))
        self.bug = bug

    def forward(self, x):
        return x @ self.w.t() + (0 if self.bug else self.b)


def test_module_diff_copies_state_and_compares_every_gradient():
    x = torch.randn(4, 3)
    names = {"w": "weight", "b": "bias"}
    assert check.module_diff(MyLinear(3, 2), nn.Linear(3, 2), x, names=names) < 1e-12
    # the reference is perturbed before the copy, so a forgotten (zero-initialised) bias cannot pass
    assert check.module_diff(MyLinear(3, 2, bug=True), nn.Linear(3, 2), x, names=names) > 1e-3
    with pytest.raises(KeyError, match=r"no reference entry for our \['w', 'b'\]"):
        check.module_diff(MyLinear(3, 2), nn.Linear(3, 2), x)


def test_module_diff_follows_running_statistics_over_batches():
    class NoMomentumBN(nn.BatchNorm1d):
        """Right in training mode, wrong running statistics: only the batch and eval checks can tell."""

        def forward(self, x):
            self.momentum = 0.5
            return super().forward(x)

    x = torch.randn(16, 5)
    assert check.module_diff(nn.BatchNorm1d(5), nn.BatchNorm1d(5), x, batches=3) < 1e-12
    assert check.module_diff(NoMomentumBN(5), nn.BatchNorm1d(5), x, batches=3) > 1e-3


def test_report_and_passed(capsys):
    check.report({"a": 1e-15, "bb": 2e-3}, twin="nn.Thing")
    out = capsys.readouterr().out
    assert "a   largest difference to nn.Thing: 1.0e-15" in out and "bb  largest difference" in out
    check.passed({"a": 1e-15}, tol=1e-10)
    assert "a  matches PyTorch (to 1e-10): True" in capsys.readouterr().out
    with pytest.raises(AssertionError, match=r"bb \(2.0e-03\)"):
        check.passed({"a": 1e-15, "bb": 2e-3}, tol=1e-10)
    with pytest.raises(AssertionError, match="nan"):
        check.passed({"c": float("nan")}, tol=1e-10)


def test_nan_is_never_swallowed():
    """Before: max(0.0, nan) is 0.0 in Python, so a NaN output or gradient passed every check."""
    x = torch.randn(4, 3)

    class NaNLinear(nn.Linear):
        def forward(self, t):
            return super().forward(t) * float("nan")

    assert check.module_diff(NaNLinear(3, 2), nn.Linear(3, 2), x) == float("inf")
    assert check.function_diff(lambda t: t * float("nan"), lambda t: t, x) == float("inf")
    assert check.max_diff(torch.tensor([float("nan"), 1.0]), torch.tensor([float("nan"), 1.0])) == 0.0
    assert check.max_diff(torch.tensor([float("inf")]), torch.tensor([float("inf")])) == 0.0


def test_a_detached_implementation_is_an_error_not_a_pass():
    class Detached(nn.Linear):
        def forward(self, t):
            return super().forward(t).detach()

    with pytest.raises(ValueError, match="our output does not depend"):
        check.module_diff(Detached(3, 2), nn.Linear(3, 2), torch.randn(4, 3))


def test_both_sides_see_the_same_random_numbers():
    assert check.module_diff(nn.Dropout(0.5), nn.Dropout(0.5), torch.randn(8, 8), modes=("train",)) == 0.0
    assert check.function_diff(lambda t: F.dropout(t, 0.5), lambda t: F.dropout(t, 0.5), torch.randn(8, 8)) == 0.0


def test_recurrent_diff_compares_states_and_catches_a_wrong_cell():
    from dlhist.scratch.rnn import GRUCell, LSTMCell, Recurrent

    x = torch.randn(6, 2, 3)
    assert check.recurrent_diff(Recurrent(LSTMCell(3, 4)), nn.LSTM(3, 4), x) < 1e-12
    # a GRU is not an RNN: the same weights' shapes differ, so it must not pass silently
    with pytest.raises((ValueError, RuntimeError, KeyError)):
        check.recurrent_diff(Recurrent(GRUCell(3, 4)), nn.RNN(3, 4), x)
    # the 1997 cell against PyTorch's LSTM (forget gate free) differs: the check can fail
    assert check.recurrent_diff(Recurrent(LSTMCell(3, 4, forget_gate=False)), nn.LSTM(3, 4), x) > 1e-3
