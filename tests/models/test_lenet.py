import torch
from torch import nn

from dlhist import train
from dlhist.models import lenet


def test_modern_lenet_shapes_and_size():
    net = lenet()
    assert net(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    assert train.count_parameters(net) == 61_706  # 156 + 2,416 + 48,120 + 10,164 + 850
    pad = lenet(pad_value=-0.42)[0]
    assert isinstance(pad, nn.ConstantPad2d) and pad.value == -0.42
    assert lenet(in_channels=3, n_classes=5)(torch.zeros(2, 3, 28, 28)).shape == (2, 5)
