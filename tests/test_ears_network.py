import numpy as np
import torch

from medseg.ears.config import EarsConfig
from medseg.ears.network import architecture, build_network, network_from_architecture, predict_volume


def test_two_channel_volume_to_volume():
    config = EarsConfig(channels=(4, 8, 16), patch_size=32)
    net = build_network(config)
    x = torch.rand(2, 2, 32, 24, 16)
    assert net(x).shape == (2, 2, 32, 24, 16)
    assert sum(p.numel() for p in net.parameters()) < 100_000


def test_rebuild_from_architecture_and_predict():
    config = EarsConfig(channels=(4, 8), patch_size=32)
    torch.manual_seed(0)
    net = build_network(config)
    again = network_from_architecture(architecture(config))
    again.load_state_dict(net.state_dict())
    volume = np.random.default_rng(0).random((2, 16, 16, 8)).astype(np.float32)
    a, b = predict_volume(net, volume), predict_volume(again, volume)
    assert a.shape == (2, 16, 16, 8)
    assert np.allclose(a, b)
    assert a.min() >= 0 and a.max() <= 1
