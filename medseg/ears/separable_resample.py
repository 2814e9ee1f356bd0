"""Linear resampling from an identity-direction grid onto an axis-aligned or tilted grid, by factors.

When one target axis runs along a patient axis (every axis-aligned grid, and a gantry
tilt: slices turned about the left-right axis), trilinear interpolation factors into a 1D
pass along that axis and one bilinear map of the other two, the same for every plane.
Applied as a sparse matrix, that map costs in proportion to the non-zero values, which
pays for a heatmap (mostly 0). A dense volume on an axis-aligned grid is resampled in
three 1D passes. Either way costs far less than a general resampling, which works out a
3D position and eight neighbours for every output voxel. The values follow
``sitk.Resample(..., sitk.sitkLinear, 0.0)``: the nearest edge value within half a voxel of
the source's edge, 0 further out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["signed_permutation", "resample_axis_aligned", "kept_axis", "resample_sparse"]

_ROWS_PER_BLOCK = 16

#: Planes of the 1D pass multiplied by the bilinear map at once (bounds the sparse product's size).
_PLANES_PER_BLOCK = 32

#: Above this fraction of non-zero values the sparse route is not worth it.
MAX_SPARSE_DENSITY = 0.25


def signed_permutation(direction: Sequence[float], tolerance: float = 1e-6) -> list[tuple[int, float]] | None:
    """For each axis of an image with this direction, the LPS axis it runs along and its sign.

    Args:
        direction: the 3x3 direction matrix, row-major (as SimpleITK gives it).
        tolerance: how far an entry may be from 0 or ±1.

    Returns:
        ``[(lps_axis, sign), ...]`` per image axis, or ``None`` when the direction is oblique.
    """
    matrix = np.asarray(direction, float).reshape(3, 3)
    out = [_along_lps_axis(column, tolerance) for column in matrix.T]
    if any(found is None for found in out) or len({found[0] for found in out}) != 3:
        return None
    return out  # type: ignore[return-value]


def _along_lps_axis(vector: np.ndarray, tolerance: float) -> tuple[int, float] | None:
    """``(lps_axis, sign)`` when a unit ``vector`` runs along an LPS axis (within ``tolerance``), else ``None``."""
    axis = int(np.argmax(np.abs(vector)))
    if abs(abs(vector[axis]) - 1.0) > tolerance or np.any(np.abs(np.delete(vector, axis)) > tolerance):
        return None
    return axis, float(np.sign(vector[axis]))


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


def kept_axis(direction: Sequence[float], tolerance: float = 1e-6) -> tuple[int, int, float] | None:
    """A target axis that runs along an LPS axis; the other two may be turned about it.

    Args:
        direction: the 3x3 direction matrix, row-major.
        tolerance: how far an entry may be from 0 or ±1.

    Returns:
        ``(target_axis, lps_axis, sign)`` for the first such axis (axis-aligned grids have
        three), or ``None`` when no axis lies along an LPS axis (double oblique).
    """
    matrix = np.asarray(direction, float).reshape(3, 3)
    for target_axis, column in enumerate(matrix.T):
        found = _along_lps_axis(column, tolerance)
        if found is not None and np.all(np.abs(np.delete(matrix[found[0]], target_axis)) <= tolerance):
            return target_axis, *found
    return None


def _bilinear_map(
    plane_shape: tuple[int, int], source_coordinates: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entries ``(source, target, weight)`` of the bilinear map from a source plane to target positions.

    ``source_coordinates`` are the continuous source indices (along the plane's two axes) of
    every target position, in the order the targets are numbered.
    """
    taps = [_taps(coordinate, length) for coordinate, length in zip(source_coordinates, plane_shape)]
    (low_p, high_p, w_low_p, w_high_p), (low_q, high_q, w_low_q, w_high_q) = taps
    target = np.arange(len(low_p))
    sources, targets, weights = [], [], []
    for index_p, weight_p in ((low_p, w_low_p), (high_p, w_high_p)):
        for index_q, weight_q in ((low_q, w_low_q), (high_q, w_high_q)):
            weight = weight_p * weight_q
            keep = weight != 0
            sources.append(index_p[keep] * plane_shape[1] + index_q[keep])
            targets.append(target[keep])
            weights.append(weight[keep])
    return np.concatenate(sources), np.concatenate(targets), np.concatenate(weights)


def resample_sparse(
    volume: np.ndarray,
    origin: Sequence[float],
    spacing: float,
    size: Sequence[int],
    target_origin: Sequence[float],
    target_spacing: Sequence[float],
    target_direction: Sequence[float],
) -> np.ndarray | None:
    """Linear resampling of a mostly-zero identity-direction volume onto a grid with an axis along an LPS axis.

    The grid may be axis-aligned or turned about that one axis. Arguments and returned
    array as :func:`resample_axis_aligned`.

    Returns:
        ``float32`` array in SimpleITK's order ``(z, y, x)`` of the target, or ``None`` when no
        target axis lies along an LPS axis, or when more than :data:`MAX_SPARSE_DENSITY` of
        the values are non-zero (use :func:`resample_axis_aligned` or a general resampler then).
    """
    from scipy import sparse

    kept = kept_axis(target_direction)
    if kept is None:
        return None
    target_axis, lps_axis, sign = kept
    source = np.asarray(volume, np.float32)
    if np.count_nonzero(source) > MAX_SPARSE_DENSITY * source.size:
        return None
    plane_axes = [axis for axis in range(3) if axis != target_axis]  # target axes b < c
    source_plane_axes = [axis for axis in range(3) if axis != lps_axis]  # LPS axes p < q
    source = source.transpose([lps_axis, *source_plane_axes])

    steps = np.arange(int(size[target_axis]), dtype=float)
    along = float(target_origin[lps_axis]) + sign * float(target_spacing[target_axis]) * steps
    lines = _interpolate_axis(source, 0, (along - float(origin[lps_axis])) / float(spacing))

    matrix = np.asarray(target_direction, float).reshape(3, 3)
    b, c = plane_axes
    index_b, index_c = np.meshgrid(np.arange(int(size[b])), np.arange(int(size[c])), indexing="ij")
    index_b, index_c = index_b.ravel(), index_c.ravel()
    world = (
        np.asarray(target_origin, float)[:, None]
        + matrix[:, b : b + 1] * (float(target_spacing[b]) * index_b)
        + matrix[:, c : c + 1] * (float(target_spacing[c]) * index_c)
    )
    coordinates = tuple((world[axis] - float(origin[axis])) / float(spacing) for axis in source_plane_axes)
    plane_shape = (source.shape[1], source.shape[2])
    rows, columns, weights = _bilinear_map(plane_shape, coordinates)
    bilinear = sparse.csr_matrix((weights, (rows, columns)), shape=(plane_shape[0] * plane_shape[1], len(index_b)))

    # flat position in the (z, y, x) output of target index (a, b, c), a per axis
    strides = np.array([1, int(size[0]), int(size[0]) * int(size[1])], np.int64)
    plane_offset = index_b * strides[b] + index_c * strides[c]
    out = np.zeros(int(np.prod(size)), np.float32)
    planes = lines.reshape(lines.shape[0], -1)
    for start in range(0, planes.shape[0], _PLANES_PER_BLOCK):
        block = sparse.csr_matrix(planes[start : start + _PLANES_PER_BLOCK]) @ bilinear
        block = block.tocoo()
        out[(block.row.astype(np.int64) + start) * strides[target_axis] + plane_offset[block.col]] = block.data
    return out.reshape(tuple(int(v) for v in size[::-1]))
