"""CT preprocessing: an axis-aligned LPS grid at isotropic spacing, HU window, stride padding.

Arrays produced here are indexed ``[x, y, z]`` with ``+x`` = patient left, ``+y`` =
posterior, ``+z`` = superior whatever the direction of the file, so that voxel
``(i, j, k)`` lies at ``origin + spacing * (i, j, k)`` in LPS mm.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from medseg.ears.separable_resample import resample_axis_aligned, resample_sparse
from medseg.errors import ImageReadError

__all__ = ["Grid", "Preprocessed", "preprocess", "read_ct", "resample_to_lps", "scale_hu", "to_input_grid"]


@dataclasses.dataclass(frozen=True)
class Grid:
    """Geometry of an image: enough to rebuild it and to map indices to LPS mm."""

    size: tuple[int, int, int]
    origin: tuple[float, float, float]
    spacing: tuple[float, float, float]
    direction: tuple[float, ...]

    @classmethod
    def of(cls, image: sitk.Image) -> Grid:
        """The grid of a 3D SimpleITK image."""
        return cls(
            tuple(int(s) for s in image.GetSize()),
            tuple(float(v) for v in image.GetOrigin()),
            tuple(float(v) for v in image.GetSpacing()),
            tuple(float(v) for v in image.GetDirection()),
        )

    def place(self, image: sitk.Image) -> sitk.Image:
        """``image`` (of this grid's size) given this grid's origin, spacing and direction."""
        image.SetOrigin(self.origin)
        image.SetSpacing(self.spacing)
        image.SetDirection(self.direction)
        return image

    def world_to_index(self, point: np.ndarray) -> np.ndarray:
        """Continuous voxel index (x, y, z order) of an LPS point."""
        direction = np.asarray(self.direction).reshape(3, 3)
        rel = np.asarray(point, float) - np.asarray(self.origin)
        return np.linalg.solve(direction * np.asarray(self.spacing)[None, :], rel)

    def index_to_world(self, index: np.ndarray) -> np.ndarray:
        """LPS point of a continuous voxel index (x, y, z order)."""
        direction = np.asarray(self.direction).reshape(3, 3)
        return np.asarray(self.origin) + direction @ (np.asarray(index, float) * np.asarray(self.spacing))

    def contains(self, point: np.ndarray, margin_voxels: float = 0.5) -> bool:
        """Whether an LPS point lies inside the image (voxel centres +- ``margin_voxels``)."""
        index = self.world_to_index(point)
        return bool(np.all(index >= -margin_voxels) and np.all(index <= np.asarray(self.size) - 1 + margin_voxels))


@dataclasses.dataclass
class Preprocessed:
    """A preprocessed CT and the mapping between its voxels, LPS mm and the input image.

    Attributes:
        array: scaled intensities in ``[0, 1]``, ``float32``, shape ``(X, Y, Z)`` padded to the stride.
        origin: LPS position of voxel ``(0, 0, 0)``.
        spacing: isotropic voxel size in mm.
        valid_shape: shape before padding (voxels beyond it are padding).
        input_grid: geometry of the input image.
        fov: 1 where a voxel lies inside the input's field of view, else 0 (``float32``,
            same shape as :attr:`array`; ``None`` = all of the unpadded part).
    """

    array: np.ndarray
    origin: np.ndarray
    spacing: float
    valid_shape: tuple[int, int, int]
    input_grid: Grid
    fov: np.ndarray | None = None

    def field_of_view(self) -> np.ndarray:
        """The :attr:`fov` mask (built from :attr:`valid_shape` when absent)."""
        if self.fov is not None:
            return self.fov
        mask = np.zeros(self.array.shape, np.float32)
        mask[: self.valid_shape[0], : self.valid_shape[1], : self.valid_shape[2]] = 1.0
        return mask

    def network_input(self) -> np.ndarray:
        """``(2, X, Y, Z)``: scaled intensities and the field-of-view mask."""
        return np.stack([self.array, self.field_of_view()])

    def index_to_world(self, index: np.ndarray) -> np.ndarray:
        """LPS mm of continuous voxel indices ``(..., 3)`` of :attr:`array`."""
        return self.origin + np.asarray(index, float) * self.spacing

    def world_to_index(self, point: np.ndarray) -> np.ndarray:
        """Continuous voxel indices of :attr:`array` of LPS points ``(..., 3)``."""
        return (np.asarray(point, float) - self.origin) / self.spacing

    def world_to_input_index(self, point: np.ndarray) -> np.ndarray:
        """Continuous voxel index (x, y, z order) in the input image of an LPS point."""
        return self.input_grid.world_to_index(point)

    def grid(self) -> Grid:
        """The grid of :attr:`array` (identity direction)."""
        return Grid(
            tuple(int(s) for s in self.array.shape),
            tuple(float(v) for v in self.origin),
            (self.spacing,) * 3,
            (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0),
        )


def resample_to_lps(image: sitk.Image, spacing_mm: float, default_value: float = -1000.0) -> sitk.Image:
    """Resample a 3D image onto an identity-direction grid covering its physical extent.

    Integer-factor block averaging first limits aliasing when the input is much finer than
    ``spacing_mm`` (an axis that is no whole number of blocks is padded by repeating its
    last voxels, so no edge slab turns into air); linear interpolation then places the voxels.

    Args:
        image: a 3D scalar image, any direction.
        spacing_mm: isotropic output spacing.
        default_value: value outside the input.

    Returns:
        A ``float32`` image with identity direction and isotropic spacing.
    """
    if image.GetDimension() != 3:
        raise ValueError(f"expected a 3D image, got {image.GetDimension()}D")
    grid = Grid.of(image)
    size = np.asarray(grid.size, float)
    corners = np.array([[a, b, c] for a in (-0.5, size[0] - 0.5) for b in (-0.5, size[1] - 0.5) for c in (-0.5, size[2] - 0.5)])
    world = np.array([grid.index_to_world(c) for c in corners])
    low, high = world.min(axis=0), world.max(axis=0)
    out_size = [max(1, int(math.ceil((h - l) / spacing_mm - 1e-6))) for l, h in zip(low, high)]
    origin = low + 0.5 * spacing_mm
    source = sitk.Cast(image, sitk.sitkFloat32) if image.GetPixelID() != sitk.sitkFloat32 else image
    factors = [max(1, int(math.floor(spacing_mm / s + 1e-6))) for s in grid.spacing]
    if max(factors) > 1:
        # BinShrink drops the voxels past the last whole bin; repeat the edge so that they count
        remainder = [(-n) % f for n, f in zip(grid.size, factors)]
        if any(remainder):
            source = sitk.ZeroFluxNeumannPad(source, [0, 0, 0], remainder)
        source = sitk.BinShrink(source, factors)
    return sitk.Resample(
        source,
        out_size,
        sitk.Transform(),
        sitk.sitkLinear,
        [float(v) for v in origin],
        [float(spacing_mm)] * 3,
        [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        float(default_value),
        sitk.sitkFloat32,
    )


def scale_hu(array: np.ndarray, hu_clip: tuple[float, float]) -> np.ndarray:
    """Clip HU to ``hu_clip`` and scale linearly to ``[0, 1]`` (``float32``)."""
    low, high = float(hu_clip[0]), float(hu_clip[1])
    out = np.clip(array, low, high).astype(np.float32, copy=False)
    out -= low
    out *= 1.0 / (high - low)
    return out


def preprocess(image: sitk.Image, spacing_mm: float, hu_clip: tuple[float, float], stride: int) -> Preprocessed:
    """Resample, window and pad a CT for the network.

    Args:
        image: the CT in HU, any direction and spacing.
        spacing_mm: isotropic spacing of the network grid.
        hu_clip: HU window.
        stride: total down-sampling of the network; the array is padded (at its far end, so
            the origin is kept) to a multiple of it.

    Returns:
        The :class:`Preprocessed` volume.
    """
    resampled = resample_to_lps(image, spacing_mm, default_value=float(hu_clip[0]))
    array = scale_hu(sitk.GetArrayViewFromImage(resampled).transpose(2, 1, 0), hu_clip)
    valid = tuple(int(s) for s in array.shape)
    padded_shape = [int(math.ceil(s / stride) * stride) for s in valid]
    origin = np.asarray(resampled.GetOrigin(), float)
    grid = Grid.of(image)
    fov = np.zeros(padded_shape, np.float32)
    fov[: valid[0], : valid[1], : valid[2]] = field_of_view_mask(valid, origin, float(spacing_mm), grid)
    padded = np.zeros(padded_shape, np.float32)
    padded[: valid[0], : valid[1], : valid[2]] = array
    return Preprocessed(array=padded, origin=origin, spacing=float(spacing_mm), valid_shape=valid, input_grid=grid, fov=fov)  # type: ignore[arg-type]


def field_of_view_mask(shape: tuple[int, int, int], origin: np.ndarray, spacing: float, grid: Grid) -> np.ndarray:
    """1 where a voxel of an axis-aligned grid falls inside ``grid`` (its voxel extent), else 0."""
    direction = np.asarray(grid.direction).reshape(3, 3)
    to_index = np.linalg.inv(direction * np.asarray(grid.spacing)[None, :])
    base = to_index @ (np.asarray(origin, float) - np.asarray(grid.origin))
    axes = [np.arange(n, dtype=np.float32) * spacing for n in shape]
    inside = np.ones(shape, bool)
    for m in range(3):
        coordinate = (
            base[m]
            + to_index[m, 0] * axes[0][:, None, None]
            + to_index[m, 1] * axes[1][None, :, None]
            + to_index[m, 2] * axes[2][None, None, :]
        )
        inside &= (coordinate >= -0.5) & (coordinate <= grid.size[m] - 0.5)
    return inside.astype(np.float32)


def to_input_grid(volume: np.ndarray, prep: Preprocessed) -> sitk.Image:
    """Resample a network-grid volume ``(X, Y, Z)`` onto the input image's grid (linear).

    When ``volume`` is mostly 0 (a heatmap) and the input is axis-aligned or turned about a
    single axis (a gantry tilt), it is resampled by a 1D pass and a sparse bilinear map; a
    dense ``volume`` on an axis-aligned input, one axis at a time
    (:mod:`medseg.ears.separable_resample`). Any other input is resampled by SimpleITK, and
    only around the non-zero part of ``volume``; the rest is 0.

    Args:
        volume: values on the grid of ``prep.array`` (same shape).
        prep: the preprocessing record of the input.

    Returns:
        A ``float32`` image with the input's size, origin, spacing and direction.
    """
    grid = prep.input_grid
    size = np.asarray(grid.size)
    if not np.any(volume):
        return grid.place(sitk.Image([int(v) for v in size], sitk.sitkFloat32))
    for factored in (resample_sparse, resample_axis_aligned):
        values = factored(volume, prep.origin, prep.spacing, grid.size, grid.origin, grid.spacing, grid.direction)
        if values is not None:
            return grid.place(sitk.GetImageFromArray(values))
    nonzero = np.argwhere(volume != 0)
    lo, hi = nonzero.min(axis=0) - 1, nonzero.max(axis=0) + 1
    corners = np.array([[a, b, c] for a in (lo[0], hi[0]) for b in (lo[1], hi[1]) for c in (lo[2], hi[2])], float)
    index = np.array([grid.world_to_index(prep.index_to_world(c)) for c in corners])
    start = np.clip(np.floor(index.min(axis=0)).astype(int) - 1, 0, size)
    stop = np.clip(np.ceil(index.max(axis=0)).astype(int) + 2, 0, size)
    out = np.zeros(tuple(int(v) for v in size[::-1]), np.float32)
    if np.all(stop > start):
        source = sitk.GetImageFromArray(np.ascontiguousarray(volume.transpose(2, 1, 0), dtype=np.float32))
        source.SetOrigin([float(v) for v in prep.origin])
        source.SetSpacing([prep.spacing] * 3)
        reference = sitk.Image([int(v) for v in stop - start], sitk.sitkUInt8)
        reference.SetOrigin([float(v) for v in grid.index_to_world(start)])
        reference.SetSpacing(grid.spacing)
        reference.SetDirection(grid.direction)
        part = sitk.Resample(source, reference, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
        out[start[2] : stop[2], start[1] : stop[1], start[0] : stop[0]] = sitk.GetArrayViewFromImage(part)
    return grid.place(sitk.GetImageFromArray(out))


def read_ct(path: str | os.PathLike[str]) -> sitk.Image:
    """Read a CT (image file or DICOM series folder) as a 3D scalar image.

    Raises:
        ImageReadError: the path is missing, unreadable or not a 3D scalar image.
    """
    from medseg.io.image import read_image

    image = read_image(Path(path))
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise ImageReadError(
            f"{path}: expected a 3D scalar CT, got {image.GetDimension()}D with "
            f"{image.GetNumberOfComponentsPerPixel()} component(s)"
        )
    return image
