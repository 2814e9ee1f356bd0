"""Linear resampling from an identity-direction grid onto an axis-aligned grid, one axis at a time.

When the target grid's direction is a signed permutation (axial CTs stored in LPS or RAS
order, or with flipped axes), trilinear interpolation factors into three 1D interpolations.
Three 1D passes cost far less than a general resampling, which works out a 3D position and
eight neighbours for every output voxel. The values follow
``sitk.Resample(..., sitk.sitkLinear, 0.0)``: the nearest edge value within half a voxel of
the source's edge, 0 further out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["signed_permutation", "resample_axis_aligned"]

_ROWS_PER_BLOCK = 16


def signed_permutation(direction: Sequence[float], tolerance: float = 1e-6) -> list[tuple[int, float]] | None:
    """For each axis of an image with this direction, the LPS axis it runs along and its sign.

    Args:
        direction: the 3x3 direction matrix, row-major (as SimpleITK gives it).
        tolerance: how far an entry may be from 0 or ±1.

    Returns:
        ``[(lps_axis, sign), ...]`` per image axis, or ``None`` when the direction is oblique.
    """
    matrix = np.asarray(direction, float).reshape(3, 3)
    out = []
    for column in matrix.T:
        axis = int(np.argmax(np.abs(column)))
        others = np.delete(column, axis)
        if abs(abs(column[axis]) - 1.0) > tolerance or np.any(np.abs(others) > tolerance):
            return None
        out.append((axis, float(np.sign(column[axis]))))
    if len({axis for axis, _ in out}) != 3:
        return None
    return out


def _taps(coordinate: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Neighbour indices and ``float32`` weights of 1D linear interpolation at continuous source indices."""
    inside = (coordinate >= -0.5) & (coordinate < length - 0.5)
    clamped = np.clip(coordinate, 0.0, length - 1.0)
    low = np.minimum(np.floor(clamped).astype(np.intp), max(length - 2, 0))
    high = np.minimum(low + 1, length - 1)
    fraction = clamped - low
    w_low, w_high = np.where(inside, 1.0 - fraction, 0.0), np.where(inside, fraction, 0.0)
    return low, high, w_low.astype(np.float32), w_high.astype(np.float32)


def _interpolate_axis(array: np.ndarray, axis: int, coordinate: np.ndarray) -> np.ndarray:
    """Resample ``array`` along ``axis`` at continuous indices ``coordinate`` (``float32``)."""
    low, high, w_low, w_high = _taps(coordinate, array.shape[axis])
    out = np.empty(array.shape[:axis] + (len(coordinate),) + array.shape[axis + 1 :], np.float32)
    weight_shape = [1] * array.ndim
    weight_shape[axis] = -1
    for start in range(0, len(coordinate), _ROWS_PER_BLOCK):  # keeps the temporaries small
        rows = slice(start, start + _ROWS_PER_BLOCK)
        block = out[(slice(None),) * axis + (rows,)]
        np.multiply(np.take(array, low[rows], axis=axis), w_low[rows].reshape(weight_shape), out=block)
        block += np.take(array, high[rows], axis=axis) * w_high[rows].reshape(weight_shape)
    return out


def resample_axis_aligned(
    volume: np.ndarray,
    origin: Sequence[float],
    spacing: float,
    size: Sequence[int],
    target_origin: Sequence[float],
    target_spacing: Sequence[float],
    target_direction: Sequence[float],
) -> np.ndarray | None:
    """Linear resampling of an identity-direction volume onto an axis-aligned target grid.

    Args:
        volume: ``(X, Y, Z)`` values; voxel ``(i, j, k)`` lies at ``origin + spacing * (i, j, k)`` (LPS mm).
        origin: LPS position of voxel ``(0, 0, 0)`` of ``volume``.
        spacing: isotropic voxel size of ``volume``.
        size: target size ``(x, y, z)``.
        target_origin: target origin (LPS mm).
        target_spacing: target spacing ``(x, y, z)``.
        target_direction: target direction, row-major 3x3.

    Returns:
        ``float32`` array in SimpleITK's order ``(z, y, x)`` of the target, or ``None`` when the
        target direction is oblique (use a general resampler then).
    """
    axes = signed_permutation(target_direction)
    if axes is None:
        return None
    source = np.asarray(volume, np.float32)
    # Source axes reordered to the target's (z, y, x), so each pass maps one axis onto one axis.
    source = source.transpose([axes[2][0], axes[1][0], axes[0][0]])
    coordinates = []
    for target_axis in (2, 1, 0):
        lps_axis, sign = axes[target_axis]
        steps = np.arange(int(size[target_axis]), dtype=float)
        world = float(target_origin[lps_axis]) + sign * float(target_spacing[target_axis]) * steps
        coordinates.append((world - float(origin[lps_axis])) / float(spacing))
    partial = _interpolate_axis(source, 2, coordinates[2])
    partial = _interpolate_axis(partial, 1, coordinates[1])
    return _interpolate_axis(partial, 0, coordinates[0])
