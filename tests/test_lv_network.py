import pytest
import torch

from medseg.lv.network import VARIANTS, CineSegNet


@pytest.mark.parametrize("variant", VARIANTS)
def test_variants_shapes(variant):
    net = CineSegNet(variant, depth=8, base_channels=8, decoder_channels=8)
    out = net(torch.randn(2, 3, 1, 16, 16))
    assert out.shape == (2, 3, 3, 16, 16)
    assert (net.lstm_low is None) == (variant == "cnn")
    assert (net.lstm_high is None) == (variant != "multi_level")


def test_temporal_context_only_with_convlstm():
    torch.manual_seed(0)
    x = torch.randn(1, 4, 1, 16, 16)
    changed = x.clone()
    changed[:, 3] += 1.0
    for variant, expect_context in (("cnn", False), ("multi_level", True)):
        net = CineSegNet(variant, depth=8, base_channels=8, decoder_channels=8).eval()
        with torch.no_grad():
            differs = not torch.allclose(net(x)[:, 0], net(changed)[:, 0], atol=1e-6)
        assert differs == expect_context, variant


def test_unknown_variant():
    with pytest.raises(ValueError, match="unknown variant"):
        CineSegNet("two_level")
