"""The volume-to-volume regression network: a small 3D U-Net from MONAI blocks."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from monai.networks.nets import UNet

from medseg.device import autocast, module_device
from medseg.ears.config import EarsConfig

__all__ = ["architecture", "build_network", "network_from_architecture", "predict_volume"]


def architecture(config: EarsConfig) -> dict[str, Any]:
    """The JSON description the network is rebuilt from (stored in the model manifest)."""
    return {
        "name": "monai.networks.nets.UNet",
        "spatial_dims": 3,
        "in_channels": 2,
        "out_channels": 2,
        "channels": list(config.channels),
        "strides": [2] * (len(config.channels) - 1),
        "num_res_units": int(config.num_res_units),
        "norm": "batch",
    }


def network_from_architecture(arch: dict[str, Any]) -> torch.nn.Module:
    """Build the network an :func:`architecture` record describes."""
    if arch.get("name") != "monai.networks.nets.UNet":
        raise ValueError(f"unknown architecture {arch.get('name')!r}")
    return UNet(
        spatial_dims=int(arch["spatial_dims"]),
        in_channels=int(arch["in_channels"]),
        out_channels=int(arch["out_channels"]),
        channels=tuple(int(c) for c in arch["channels"]),
        strides=tuple(int(s) for s in arch["strides"]),
        num_res_units=int(arch["num_res_units"]),
        norm=arch.get("norm", "batch"),
    )


def build_network(config: EarsConfig) -> torch.nn.Module:
    """The 3D fully-convolutional regression network: (CT, field of view) in, (left, right) out."""
    return network_from_architecture(architecture(config))


@torch.no_grad()
def predict_volume(model: torch.nn.Module, array: np.ndarray, mixed_precision: bool = False, mirror_lr: bool = False) -> np.ndarray:
    """Run the network on a whole preprocessed volume, on the network's device.

    Args:
        model: the network (put in eval mode here).
        array: ``(C, X, Y, Z)`` network input (see
            :meth:`medseg.ears.preprocess.Preprocessed.network_input`), padded to the stride;
            X runs from the patient's right to left.
        mixed_precision: autocast on CUDA.
        mirror_lr: also run the left-right mirrored volume, mirror its heatmaps back with
            the left and right channels swapped, and average the two. Each channel answers
            at both ears to some degree (the local anatomy of one ear is the mirror of the
            other's); averaging with the mirrored view makes the two channels mirror images of
            each other's response, and steadies the peaks.

    Returns:
        ``(2, X, Y, Z)`` ``float32`` heatmaps (left, right) clipped to ``[0, 1]``.
    """
    model.eval()
    device = module_device(model)
    x = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))[None].to(device)
    with autocast(device, mixed_precision):
        y = model(x)[0].float().clamp_(0.0, 1.0)
        if mirror_lr:
            mirrored = model(x.flip(2))[0].float().clamp_(0.0, 1.0)
            y = 0.5 * (y + mirrored.flip(0, 1))
    return y.cpu().numpy()
