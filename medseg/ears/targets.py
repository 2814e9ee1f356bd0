"""Regression targets: one Gaussian heatmap per ear (left, right)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["EAR_SIDES", "gaussian_heatmap", "ear_heatmaps"]

#: Channel order of heatmaps and network outputs.
EAR_SIDES: tuple[str, str] = ("left", "right")


def gaussian_heatmap(
    shape: Sequence[int], origin: np.ndarray, spacing: float, center: np.ndarray | None, sigma_mm: float
) -> np.ndarray:
    """``exp(-d^2 / 2 sigma^2)`` around ``center`` on an axis-aligned grid.

    Args:
        shape: ``(X, Y, Z)``.
        origin: LPS mm of voxel ``(0, 0, 0)``.
        spacing: isotropic voxel size in mm.
        center: LPS mm of the peak, or ``None`` for an all-zero map.
        sigma_mm: Gaussian standard deviation in mm.

    Returns:
        A ``float32`` array of ``shape``; the peak value is 1 at ``center`` (if on the grid).
    """
    out = np.zeros(tuple(int(s) for s in shape), np.float32)
    if center is None:
        return out
    factors = []
    for axis, n in enumerate(out.shape):
        coords = np.asarray(origin, float)[axis] + spacing * np.arange(n)
        factors.append(np.exp(-((coords - float(center[axis])) ** 2) / (2.0 * sigma_mm**2)).astype(np.float32))
    out[:] = factors[0][:, None, None] * factors[1][None, :, None] * factors[2][None, None, :]
    out[out < 1e-4] = 0.0
    return out


def ear_heatmaps(
    shape: Sequence[int],
    origin: np.ndarray,
    spacing: float,
    landmarks: Mapping[str, np.ndarray | None],
    sigma_mm: float,
) -> np.ndarray:
    """Two-channel target ``(2, X, Y, Z)``: left ear, right ear; an absent ear gives zeros.

    Args:
        shape: ``(X, Y, Z)`` of the grid.
        origin: LPS mm of voxel ``(0, 0, 0)``.
        spacing: isotropic voxel size in mm.
        landmarks: ``{"left": point or None, "right": point or None}`` in LPS mm.
        sigma_mm: Gaussian standard deviation in mm.
    """
    return np.stack([gaussian_heatmap(shape, origin, spacing, landmarks.get(side), sigma_mm) for side in EAR_SIDES])
