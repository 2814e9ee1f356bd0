import pytest
import torch

from medseg.lv.resnet import CifarResNet


def test_resnet56_structure_and_levels():
    net = CifarResNet(depth=56)
    assert len(net.stage1) == len(net.stage2) == len(net.stage3) == 9
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(convs) == 55
    high, low = net.eval()(torch.randn(2, 1, 32, 32))
    assert high.shape == (2, 16, 32, 32) and low.shape == (2, 64, 8, 8)


def test_small_depth_and_bad_depth():
    net = CifarResNet(depth=8, base_channels=8)
    high, low = net(torch.randn(1, 1, 16, 16))
    assert high.shape == (1, 8, 16, 16) and low.shape == (1, 32, 4, 4)
    with pytest.raises(ValueError, match="6n\\+2"):
        CifarResNet(depth=10)
