"""ResNet in its CIFAR form (He et al. 2016), as a two-level feature encoder."""

from __future__ import annotations

import torch
from torch import nn


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1 projection) shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn1(self.conv1(x)).relu_()
        return (self.bn2(self.conv2(out)) + self.shortcut(x)).relu_()


class CifarResNet(nn.Module):
    """CIFAR ResNet-(6n+2): 3x3 stem, three stages of n basic blocks, strides 1/2/2.

    Args:
        depth: 6n+2 (56 = ResNet-56 with n = 9; 8, 14, 20 for faster runs).
        in_channels: image channels.
        base_channels: channels of stage 1 (stages have 1x, 2x, 4x).

    Returns from ``forward``:
        ``(high, low)``: stage-1 features (B, base, H, W) and stage-3 features
        (B, 4*base, H/4, W/4).
    """

    def __init__(self, depth: int = 56, in_channels: int = 1, base_channels: int = 16) -> None:
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2 with n >= 1, got {depth}")
        n = (depth - 2) // 6
        widths = (base_channels, 2 * base_channels, 4 * base_channels)
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, base_channels, 3, 1, 1, bias=False), nn.BatchNorm2d(base_channels), nn.ReLU(inplace=True)
        )
        stages = []
        channels = base_channels
        for width, stride in zip(widths, (1, 2, 2)):
            blocks = [BasicBlock(channels, width, stride)] + [BasicBlock(width, width) for _ in range(n - 1)]
            stages.append(nn.Sequential(*blocks))
            channels = width
        self.stage1, self.stage2, self.stage3 = stages
        self.high_channels, self.low_channels = widths[0], widths[2]
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        for module in self.modules():
            if isinstance(module, BasicBlock):
                nn.init.zeros_(module.bn2.weight)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        high = self.stage1(self.stem(x))
        low = self.stage3(self.stage2(high))
        return high, low
