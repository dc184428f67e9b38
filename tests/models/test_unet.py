import pytest
import torch

from dlhist import train
from dlhist.models import UNet


def test_unet_keeps_the_resolution_and_skips_change_only_the_wiring():
    net = UNet((8, 16, 32))
    assert net(torch.zeros(2, 1, 32, 32)).shape == (2, 2, 32, 32)
    plain = UNet((8, 16, 32), skip=False)
    assert plain(torch.zeros(2, 1, 32, 32)).shape == (2, 2, 32, 32)
    # each decoder block receives as many channels with and without skips (the up-convolutions keep all theirs)
    assert [train.count_parameters(d) for d in net.dec] == [train.count_parameters(d) for d in plain.dec]
    assert [u.out_channels for u in plain.up] == [2 * u.out_channels for u in net.up]
    assert UNet((8, 16), in_channels=3, n_classes=4)(torch.zeros(1, 3, 8, 8)).shape == (1, 4, 8, 8)


def test_unet_names_the_shape_it_needs():
    with pytest.raises(ValueError, match=r"divisible by 4; got shape \(1, 1, 30, 32\)"):
        UNet((8, 16, 32))(torch.zeros(1, 1, 30, 32))
