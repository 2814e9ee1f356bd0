"""Multi-level ConvLSTM network for cine LV myocardium segmentation, and its ablations."""

from __future__ import annotations

import copy
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from medseg.lv.convlstm import ConvLSTM
from medseg.lv.resnet import BasicBlock, CifarResNet

Variant = Literal["cnn", "one_level", "multi_level"]
VARIANTS: tuple[str, ...] = ("cnn", "one_level", "multi_level")
NUM_CLASSES = 3


def _conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)
    )


class CineSegNet(nn.Module):
    """Per-frame ResNet encoder, ConvLSTMs across frames at two levels, fused classifier.

    ``cnn``: no ConvLSTM (frames independent); ``one_level``: ConvLSTM on the low
    (1/4-resolution) level only; ``multi_level``: a ConvLSTM on each level. In every
    variant the low level is upsampled x4, concatenated with the high level and
    classified per pixel into background / myocardium / cavity.

    Args:
        variant: ``cnn``, ``one_level`` or ``multi_level``.
        depth: CIFAR ResNet depth (6n+2).
        base_channels: ResNet stage-1 channels.
        bidirectional: bidirectional ConvLSTMs.
        decoder_channels: channels of the fusion convolutions.
    """

    def __init__(
        self,
        variant: Variant = "multi_level",
        depth: int = 56,
        base_channels: int = 16,
        bidirectional: bool = True,
        decoder_channels: int = 32,
    ) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
        self.variant = variant
        self.encoder = CifarResNet(depth=depth, in_channels=1, base_channels=base_channels)
        high, low = self.encoder.high_channels, self.encoder.low_channels
        self.lstm_low = ConvLSTM(low, low, 3, bidirectional) if variant != "cnn" else None
        self.lstm_high = ConvLSTM(high, high, 3, bidirectional) if variant == "multi_level" else None
        self.low_reduce = _conv_bn_relu(low, decoder_channels)
        self.fuse = nn.Sequential(
            _conv_bn_relu(high + decoder_channels, decoder_channels), _conv_bn_relu(decoder_channels, decoder_channels)
        )
        self.classifier = nn.Conv2d(decoder_channels, NUM_CLASSES, 1)

    def forward(self, x: torch.Tensor, context: int = 0) -> torch.Tensor:
        """Segment every frame of a batch of sequences.

        Args:
            x: (B, T, 1, H, W) image sequences; H and W divisible by 4.
            context: treat each sequence as a full cycle and let the ConvLSTMs see
                ``context`` extra frames from the other end on each side. The encoder and
                classifier still run once per frame, so this costs only ConvLSTM steps.

        Returns:
            (B, T, 3, H, W) class logits.
        """
        b, t = x.shape[:2]
        high, low = self.encoder(x.flatten(0, 1))
        if self.lstm_low is not None:
            low = low + self._temporal(self.lstm_low, low, b, t, context)
        if self.lstm_high is not None:
            high = high + self._temporal(self.lstm_high, high, b, t, context)
        low = F.interpolate(self.low_reduce(low), size=high.shape[-2:], mode="bilinear", align_corners=False)
        logits = self.classifier(self.fuse(torch.cat([high, low], dim=1)))
        return logits.view(b, t, *logits.shape[1:])

    @staticmethod
    def _temporal(lstm: ConvLSTM, features: torch.Tensor, b: int, t: int, context: int) -> torch.Tensor:
        """ConvLSTM over (B*T, C, h, w) features, cyclically padded by ``context`` frames."""
        sequence = features.view(b, t, *features.shape[1:])
        context = min(context, t)
        if context > 0:
            index = torch.arange(-context, t + context) % t  # on the CPU: the steps are chosen in Python
            return lstm(sequence, index, keep=range(context, context + t)).flatten(0, 1)
        return lstm(sequence).flatten(0, 1)


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """An inference copy of an eval-mode model with every Conv2d-BatchNorm2d pair folded.

    The BatchNorm's running statistics and affine parameters are merged into the
    preceding convolution (which gains a bias) and the BatchNorm becomes an identity;
    outputs equal the original's up to float rounding. Training-mode models are refused.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    if model.training:
        raise ValueError("fold_batchnorm needs a model in eval mode")
    folded = copy.deepcopy(model)

    def visit(module: nn.Module) -> None:
        if isinstance(module, BasicBlock):
            module.conv1 = fuse_conv_bn_eval(module.conv1, module.bn1)
            module.conv2 = fuse_conv_bn_eval(module.conv2, module.bn2)
            module.bn1, module.bn2 = nn.Identity(), nn.Identity()  # type: ignore[assignment]
        children = list(module.named_children())
        for (name, child), (next_name, following) in zip(children, children[1:]):
            if isinstance(child, nn.Conv2d) and isinstance(following, nn.BatchNorm2d):
                setattr(module, name, fuse_conv_bn_eval(child, following))
                setattr(module, next_name, nn.Identity())
        for child in module.children():
            visit(child)

    visit(folded)
    return folded
