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


def test_mirror_averaging_makes_the_channels_mirror_images():
    """With ``mirror_lr`` the right channel of a mirrored volume is the left channel of the volume, mirrored."""
    torch.manual_seed(1)
    net = build_network(EarsConfig(channels=(4, 8), patch_size=32))
    volume = np.random.default_rng(1).random((2, 16, 16, 8)).astype(np.float32)
    mirrored = np.ascontiguousarray(volume[:, ::-1])
    plain = predict_volume(net, volume), predict_volume(net, mirrored)
    averaged = predict_volume(net, volume, mirror_lr=True), predict_volume(net, mirrored, mirror_lr=True)
    assert not np.allclose(plain[1], plain[0][::-1, ::-1], atol=1e-3)  # a network alone is not mirror-symmetric
    np.testing.assert_allclose(averaged[1], averaged[0][::-1, ::-1], atol=1e-6)
    np.testing.assert_allclose(averaged[0], 0.5 * (plain[0] + plain[1][::-1, ::-1]), atol=1e-6)
