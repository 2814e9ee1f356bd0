"""Cine MR studies: slices x phases of 2D images, read from DICOM or a 4D image.

Cine DICOM often puts every slice position and every phase in one series, so images are
grouped by their position along the slice normal and ordered by TriggerTime. As a 4D image
(x, y, slice, phase) the study has the spatial geometry of the slice stack and, on the 4th
axis, the time of the first phase and the time step in ms.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from medseg.errors import ImageReadError
from medseg.io.dicom import (
    SliceHeader,
    check_consistent,
    describe_series,
    discover_series,
    read_slice_pixels,
    scan_dicom_folder,
)

logger = logging.getLogger(__name__)

#: Images whose positions along the normal differ by less than this (mm) share a slice.
POSITION_TOLERANCE_MM = 0.1

__all__ = ["CineStudy", "cine_to_image", "image_to_cine", "read_cine", "read_cine_array", "read_cine_dicom"]


@dataclass
class CineStudy:
    """A cine study as slices x phases of 2D frames.

    Attributes:
        frames: float32 pixel values shaped (slices, phases, rows, cols).
        positions: LPS position (mm) of the first pixel of each slice, shaped (slices, 3).
        direction: 3x3 matrix whose columns are the row direction (along a row, increasing
            column index), the column direction and the slice normal.
        pixel_spacing: DICOM PixelSpacing order: (distance between rows, distance between
            columns) in mm.
        slice_spacing: distance between neighbouring slices along the normal in mm.
        trigger_times: TriggerTime in ms, shaped (slices, phases); NaN where unknown.
        instance_numbers: DICOM InstanceNumber of each frame, shaped (slices, phases); 0 where
            unknown.
        source_files: file of each frame, ``source_files[slice][phase]`` (empty when the study
            did not come from DICOM).
        rr_interval_ms: R-R interval (NominalInterval or from HeartRate), if known.
        stored_non_finite: NaN/Inf voxels the image file stored, which the NIfTI reader
            hands over as 0 (counted while reading; 0 for DICOM).
    """

    frames: np.ndarray
    positions: np.ndarray
    direction: np.ndarray
    pixel_spacing: tuple[float, float]
    slice_spacing: float
    trigger_times: np.ndarray
    instance_numbers: np.ndarray
    source_files: list[list[Path]] = field(default_factory=list)
    rr_interval_ms: float | None = None
    stored_non_finite: int = 0

    @property
    def num_slices(self) -> int:
        """Number of slice positions."""
        return int(self.frames.shape[0])

    @property
    def num_phases(self) -> int:
        """Number of phases per slice."""
        return int(self.frames.shape[1])

    def locate_instance(self, instance_number: int) -> tuple[int, int]:
        """The (slice, phase) of the frame with DICOM InstanceNumber ``instance_number``.

        Raises:
            KeyError: if no frame has that instance number.
        """
        hits = np.argwhere(self.instance_numbers == int(instance_number))
        if len(hits) != 1:
            raise KeyError(f"no single frame with instance number {instance_number}")
        return int(hits[0][0]), int(hits[0][1])


def _select(folder: Path, headers: list[SliceHeader], series_uid: str | None) -> list[SliceHeader]:
    if not headers:
        raise ImageReadError(f"{folder}: no DICOM images found in this folder")
    if series_uid is not None:
        chosen = [h for h in headers if h.series_uid == series_uid]
        if not chosen:
            found = describe_series(discover_series(folder))
            raise ImageReadError(f"{folder}: no series with UID {series_uid}; found: {found}")
        return chosen
    uids = {h.series_uid for h in headers}
    if len(uids) > 1:
        same_geometry = all(
            h.orientation is not None
            and headers[0].orientation is not None
            and np.allclose(h.orientation, headers[0].orientation, atol=1e-3)
            and (h.rows, h.cols) == (headers[0].rows, headers[0].cols)
            for h in headers
        )
        if not same_geometry:
            raise ImageReadError(
                f"{folder}: holds {len(uids)} DICOM series with different geometry, choose one with its "
                f"series UID: {describe_series(discover_series(folder))}"
            )
        logger.info("%s: combining %d series of the same orientation into one cine study", folder, len(uids))
    return headers


def _group_by_position(folder: Path, headers: list[SliceHeader]) -> tuple[list[list[SliceHeader]], np.ndarray]:
    normal = headers[0].normal  # check_consistent made sure every image has a position and orientation
    keys = np.array([float(np.dot(h.position, normal)) for h in headers])
    order = np.argsort(keys, kind="stable")
    groups: list[list[SliceHeader]] = []
    centres: list[float] = []
    for i in order:
        if centres and keys[i] - centres[-1] <= POSITION_TOLERANCE_MM:
            groups[-1].append(headers[i])
        else:
            groups.append([headers[i]])
            centres.append(float(keys[i]))
    return groups, np.array(centres)


def _order_phases(folder: Path, group: list[SliceHeader], where: str) -> list[SliceHeader]:
    if all(h.trigger_time is not None for h in group):
        ordered = sorted(group, key=lambda h: (h.trigger_time, h.instance or 0))
        for a, b in zip(ordered, ordered[1:]):
            if a.trigger_time == b.trigger_time:
                raise ImageReadError(
                    f"{folder}: {a.path.name} and {b.path.name} have the same position ({where}) and the same "
                    f"trigger time {a.trigger_time} ms"
                )
        return ordered
    logger.warning("%s: images without TriggerTime at %s; phases ordered by InstanceNumber", folder, where)
    return sorted(group, key=lambda h: (h.instance or 0, str(h.path)))


def _rr_interval(headers: list[SliceHeader]) -> float | None:
    intervals = [h.nominal_interval for h in headers if h.nominal_interval]
    if intervals:
        return float(np.median(intervals))
    rates = [h.heart_rate for h in headers if h.heart_rate]
    return float(60000.0 / np.median(rates)) if rates else None


def read_cine_dicom(folder: str | os.PathLike[str], series_uid: str | None = None) -> CineStudy:
    """Read a cine MR study from a DICOM folder.

    Images are grouped into slices by their position along the slice normal, slices ordered
    along the normal, phases by TriggerTime. Every image needs ImagePositionPatient and
    ImageOrientationPatient: without them no label could be placed on the study.

    Args:
        folder: folder with the cine images (sub-folders included), or one of its images
            (then its series is read).
        series_uid: read only this series; by default all images, provided they share one
            orientation and matrix (one series per slice is combined).

    Returns:
        The study.

    Raises:
        ImageReadError: no images, a corrupt file (named), a different number of phases at
            some position (named), only one phase, or inconsistent geometry.
    """
    folder = Path(folder)
    if folder.is_file():  # one image of the study: read its series from the folder it lies in
        headers = scan_dicom_folder(folder.parent)
        mine = next((h for h in headers if h.path == folder), None)
        if mine is None:
            raise ImageReadError(f"{folder}: not a DICOM image")
        folder, series_uid = folder.parent, series_uid or mine.series_uid
    else:
        headers = scan_dicom_folder(folder)
    headers = _select(folder, headers, series_uid)
    check_consistent(folder, headers)
    groups, centres = _group_by_position(folder, headers)
    counts = [len(g) for g in groups]
    if max(counts) == 1:
        raise ImageReadError(f"{folder}: only one phase per slice position ({len(groups)} slices); not a cine study")
    usual = max(set(counts), key=counts.count)
    odd = [i for i, n in enumerate(counts) if n != usual]
    if odd:
        details = ", ".join(f"slice {i + 1} at {centres[i]:.1f} mm has {counts[i]}" for i in odd)
        raise ImageReadError(
            f"{folder}: inconsistent number of phases across slice positions: {details} "
            f"(the other {len(groups) - len(odd)} slices have {usual})"
        )
    ordered = [_order_phases(folder, g, f"{c:.1f} mm along the normal") for g, c in zip(groups, centres)]
    frames = np.stack([np.stack([read_slice_pixels(h) for h in group]) for group in ordered])
    first = ordered[0][0]
    row_spacing, col_spacing = first.pixel_spacing or (1.0, 1.0)
    direction = np.column_stack([first.orientation[:3], first.orientation[3:], first.normal])
    positions = np.array([g[0].position for g in ordered], dtype=float)
    if len(centres) > 1:
        slice_spacing = float(np.median(np.diff(centres)))
    else:
        slice_spacing = float(first.spacing_between_slices or first.slice_thickness or 1.0)
    return CineStudy(
        frames=frames.astype(np.float32, copy=False),
        positions=positions,
        direction=direction,
        pixel_spacing=(float(row_spacing), float(col_spacing)),
        slice_spacing=slice_spacing,
        trigger_times=np.array(
            [[h.trigger_time if h.trigger_time is not None else np.nan for h in g] for g in ordered], dtype=float
        ),
        instance_numbers=np.array([[h.instance or 0 for h in g] for g in ordered], dtype=np.int64),
        source_files=[[h.path for h in g] for g in ordered],
        rr_interval_ms=_rr_interval(headers),
    )


#: NIfTI (and ITK's writer) count time in seconds; trigger times are in ms.
SECONDS_PER_MS = 1e-3


def _phase_axis(study: CineStudy) -> tuple[float, float]:
    """(first trigger time, phase step) in ms: the measured trigger-time step when the
    headers give one (prospective gating may cover only part of the R-R interval), else
    R-R / phases, else 1."""
    times = np.asarray(study.trigger_times, dtype=float)
    start = float(np.nanmean(times[:, 0])) if times.size and np.isfinite(times[:, 0]).any() else 0.0
    steps = np.diff(times, axis=1)
    if steps.size and np.isfinite(steps).any() and float(np.nanmean(steps)) > 0:
        return start, float(np.nanmean(steps))
    if study.rr_interval_ms:
        return start, float(study.rr_interval_ms) / study.num_phases
    return start, 1.0


def _time_axis_ms(origin: float, spacing: float) -> tuple[float, float]:
    """An image's time axis (origin, step) in ms. Images written since the axis is stored
    in seconds have steps below a second; older ones (and a step of 1 when no time is
    known) are read as ms: no cine has a second or more between its phases."""
    if 0.0 < spacing < 1.0:
        return origin / SECONDS_PER_MS, spacing / SECONDS_PER_MS
    return origin, spacing


def _check_stack(study: CineStudy) -> None:
    if study.num_slices < 2 or not np.isfinite(study.positions).all():
        return
    normal = study.direction[:, 2]
    expected = study.positions[0] + np.arange(study.num_slices)[:, None] * study.slice_spacing * normal
    error = np.linalg.norm(study.positions - expected, axis=1).max()
    if error > 0.25 * study.slice_spacing:
        raise ImageReadError(
            f"cine slices are not evenly spaced along the normal (a slice is {error:.3g} mm away from a "
            f"{study.slice_spacing:.3g} mm grid; missing or shifted slices), so they cannot form one 4D image"
        )


def cine_to_image(study: CineStudy) -> sitk.Image:
    """The study as a 4D image (x, y, slice, phase).

    Spatial geometry is that of the slice stack (origin = first pixel of the first slice);
    the 4th axis is time in seconds (NIfTI's unit), from the mean first trigger time, with
    the mean trigger-time step (or R-R / phases, or 1 ms).

    Raises:
        ImageReadError: if the slices are not on a regular grid along the normal.
    """
    _check_stack(study)
    array = np.ascontiguousarray(np.transpose(study.frames, (1, 0, 2, 3)), dtype=np.float32)
    image = sitk.GetImageFromArray(array, isVector=False)
    start, step = _phase_axis(study)
    row_spacing, col_spacing = study.pixel_spacing
    image.SetSpacing([float(col_spacing), float(row_spacing), float(study.slice_spacing), step * SECONDS_PER_MS])
    origin = np.nan_to_num(study.positions[0])
    image.SetOrigin([*map(float, origin), start * SECONDS_PER_MS])
    direction = np.eye(4)
    direction[:3, :3] = study.direction
    image.SetDirection([float(v) for v in direction.ravel()])
    return image


def image_to_cine(image: sitk.Image) -> CineStudy:
    """A 4D image (x, y, slice, phase) as a study; a 3D image is taken as 2D+t (one slice).

    Trigger times (ms) come from the 4th (or 3rd) axis, stored in seconds (a step of a
    second or more is taken as ms, as older files stored it); instance numbers are numbered
    slice by slice, phase by phase from 1.

    Raises:
        ImageReadError: the image has colour or vector pixels.
    """
    dim = image.GetDimension()
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise ImageReadError(
            f"a cine study has one value per pixel; this image has {image.GetNumberOfComponentsPerPixel()} "
            "(colour or vector pixels)"
        )
    array = sitk.GetArrayFromImage(image).astype(np.float32, copy=False)
    spacing = np.array(image.GetSpacing(), dtype=float)
    origin = np.array(image.GetOrigin(), dtype=float)
    matrix = np.array(image.GetDirection(), dtype=float).reshape(dim, dim)
    if dim == 4:
        frames = np.transpose(array, (1, 0, 2, 3))
        direction = matrix[:3, :3]
        slice_spacing = float(spacing[2])
        t0, dt = _time_axis_ms(origin[3], spacing[3])
        first = origin[:3]
    elif dim == 3:
        frames = array[None]
        row = np.array([matrix[0, 0], matrix[1, 0], 0.0])
        col = np.array([matrix[0, 1], matrix[1, 1], 0.0])
        direction = np.column_stack([row, col, np.cross(row, col)])
        slice_spacing = 1.0
        t0, dt = _time_axis_ms(origin[2], spacing[2])
        first = np.array([origin[0], origin[1], 0.0])
    else:
        raise ImageReadError(f"a cine study needs a 3D (2D+t) or 4D image, not {dim}D")
    n_slices, n_phases = frames.shape[:2]
    positions = first + np.arange(n_slices)[:, None] * slice_spacing * direction[:, 2]
    return CineStudy(
        frames=np.ascontiguousarray(frames),
        positions=positions,
        direction=direction,
        pixel_spacing=(float(spacing[1]), float(spacing[0])),
        slice_spacing=slice_spacing,
        trigger_times=np.broadcast_to(t0 + np.arange(n_phases) * dt, (n_slices, n_phases)).copy(),
        instance_numbers=np.arange(1, n_slices * n_phases + 1).reshape(n_slices, n_phases),
        source_files=[],
        rr_interval_ms=float(dt * n_phases) if dim == 4 else None,
    )


def read_cine(path: str | os.PathLike[str]) -> CineStudy:
    """Read a cine study from a DICOM folder or a 4D (or 2D+t) image file.

    Raises:
        ImageReadError: if the path is missing or cannot be read as a cine study.
    """
    from medseg.io.image import DICOM_SUFFIXES, read_image, stored_nonfinite

    path = Path(path)
    if not path.exists():
        raise ImageReadError(f"{path}: no such file or folder")
    if path.is_dir() or path.suffix.lower() in DICOM_SUFFIXES:
        return read_cine_dicom(path)
    image = read_image(path)
    try:
        study = image_to_cine(image)
    except ImageReadError as error:
        raise ImageReadError(f"{path}: {error}") from error
    study.stored_non_finite = stored_nonfinite(image) or 0
    return study


def read_cine_array(path: str | os.PathLike[str]) -> tuple[np.ndarray, tuple[float, float]]:
    """The voxels of a 4D (x, y, slice, phase) or 2D+t image file, in their own data type.

    For label images and network outputs, where :func:`read_cine`'s float frames and
    geometry are not wanted.

    Returns:
        The array shaped (slices, phases, rows, cols) and the (row, col) pixel spacing in mm.

    Raises:
        ImageReadError: unreadable, or neither 4D nor 3D.
    """
    from medseg.io.image import read_image

    image = read_image(path)
    array = sitk.GetArrayFromImage(image)
    if array.ndim == 4:
        array = array.transpose(1, 0, 2, 3)
    elif array.ndim == 3:
        array = array[None]
    else:
        raise ImageReadError(f"{path}: expected a 4D (or 2D+t) cine image, not {array.ndim}D")
    spacing = image.GetSpacing()
    return array, (float(spacing[1]), float(spacing[0]))
