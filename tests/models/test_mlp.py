import pytest
import torch
from torch import nn

from dlhist.models import mlp


def test_mlp_layers_and_shapes():
    net = mlp([784, 800, 10])
    assert [type(m) for m in net] == [nn.Flatten, nn.Linear, nn.ReLU, nn.Linear]
    assert net(torch.zeros(5, 1, 28, 28)).shape == (5, 10)
    deep = mlp([784, 100, 100, 100, 10], nn.Sigmoid, norm=nn.BatchNorm1d, dropout=0.5, input_dropout=0.2)
    kinds = [type(m).__name__ for m in deep]
    assert kinds[:6] == ["Flatten", "Dropout", "Linear", "BatchNorm1d", "Sigmoid", "Dropout"]
    assert kinds.count("Linear") == 4 and kinds[-1] == "Linear"


def test_mlp_init_and_errors():
    net = mlp([4, 3, 2], init=lambda lin: nn.init.zeros_(lin.weight), flatten=False)
    assert all((m.weight == 0).all() for m in net if isinstance(m, nn.Linear))
    with pytest.raises(ValueError, match="at least"):
        mlp([10])
