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


def _with_random_batchnorm_statistics(net: CineSegNet) -> CineSegNet:
    generator = torch.Generator().manual_seed(1)
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            size = module.num_features
            module.running_mean.copy_(torch.rand(size, generator=generator) - 0.5)
            module.running_var.copy_(torch.rand(size, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(size, generator=generator) + 0.5)
            module.bias.data.copy_(torch.rand(size, generator=generator) - 0.5)
    return net.eval()


@pytest.mark.parametrize("variant", VARIANTS)
def test_context_equals_cyclic_padding_of_the_input(variant):
    from medseg.lv.segment import cyclic_pad

    torch.manual_seed(0)
    net = _with_random_batchnorm_statistics(CineSegNet(variant, depth=8, base_channels=8, decoder_channels=8))
    x = torch.randn(2, 5, 1, 16, 16)
    with torch.no_grad():
        padded = net(cyclic_pad(x, 2))[:, 2:7]
        assert torch.allclose(net(x, context=2), padded, atol=1e-5)
        assert torch.allclose(net(x, context=9), net(cyclic_pad(x, 5))[:, 5:10], atol=1e-5), "context capped at T"


def test_fold_batchnorm_keeps_outputs_and_the_original():
    from medseg.lv.network import fold_batchnorm

    torch.manual_seed(0)
    net = _with_random_batchnorm_statistics(CineSegNet("multi_level", depth=14, base_channels=8, decoder_channels=8))
    folded = fold_batchnorm(net)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    x = torch.randn(1, 4, 1, 16, 16)
    with torch.no_grad():
        assert torch.allclose(folded(x, 1), net(x, 1), atol=1e-5)
    with pytest.raises(ValueError, match="eval mode"):
        fold_batchnorm(net.train())
