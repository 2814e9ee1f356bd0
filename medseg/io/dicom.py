"""Reading DICOM series: discovery, slice sorting, geometry checks and repair.

A folder is scanned once (headers only); images are grouped by SeriesInstanceUID and sorted
along the slice normal. Missing slices and unreadable files are errors; irregular spacing
and gantry tilt are resampled onto a regular grid and recorded in the image metadata
(``medseg:resampled``, ``medseg:gantry_tilt_deg``). Slices are never stacked silently in a
geometry that does not match their positions.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom import config as pydicom_config
from pydicom.errors import InvalidDicomError

from medseg.errors import ImageReadError
from medseg.io.image import DICOM_SUFFIXES

logger = logging.getLogger(__name__)

#: Relative spread of slice steps above which a series is resampled onto a uniform grid.
NONUNIFORM_TOLERANCE = 0.10
#: A step larger than this multiple of the median step is reported as missing slices.
GAP_FACTOR = 1.5
#: Images closer than this along the normal (mm) are at the same slice position.
SAME_POSITION_MM = 0.01

__all__ = [
    "MultiPhaseSeriesError",
    "check_consistent",
    "describe_series",
    "select_series",
    "stack_slices",
    "SeriesInfo",
    "SliceHeader",
    "discover_series",
    "read_dicom_series",
    "read_slice_pixels",
    "scan_dicom_folder",
]


class MultiPhaseSeriesError(ImageReadError):
    """A series holds several images per slice position (cine or multi-phase)."""


@dataclass(frozen=True)
class SeriesInfo:
    """One DICOM series found in a folder.

    Attributes:
        uid: SeriesInstanceUID.
        description: SeriesDescription.
        modality: Modality.
        num_files: number of image files.
        files: the image files.
    """

    uid: str
    description: str
    modality: str
    num_files: int
    files: tuple[Path, ...] = field(repr=False)


@dataclass(frozen=True)
class SliceHeader:
    """What medseg needs from the header of one DICOM image file."""

    path: Path
    series_uid: str
    series_number: int | None
    description: str
    modality: str
    instance: int | None
    rows: int
    cols: int
    position: np.ndarray | None
    orientation: np.ndarray | None
    pixel_spacing: tuple[float, float] | None
    slice_thickness: float | None
    spacing_between_slices: float | None
    slice_location: float | None
    trigger_time: float | None
    number_of_frames: int
    nominal_interval: float | None
    heart_rate: float | None
    frame: int | None = None  # index in a multi-frame file (see :func:`multiframe_headers`)

    @property
    def name(self) -> str:
        """The file name, with the frame number for a frame of a multi-frame file."""
        return self.path.name if self.frame is None else f"{self.path.name} frame {self.frame + 1}"

    @property
    def normal(self) -> np.ndarray:
        """Unit slice normal, row direction x column direction."""
        assert self.orientation is not None
        n = np.cross(self.orientation[:3], self.orientation[3:])
        return n / np.linalg.norm(n)


@contextlib.contextmanager
def _lenient_reading() -> Iterator[None]:
    old = pydicom_config.settings.reading_validation_mode
    pydicom_config.settings.reading_validation_mode = pydicom_config.IGNORE
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        pydicom_config.settings.reading_validation_mode = old


def _float(ds: pydicom.Dataset, keyword: str) -> float | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _floats(ds: pydicom.Dataset, keyword: str, count: int) -> np.ndarray | None:
    value = ds.get(keyword)
    try:
        array = np.array([float(v) for v in value], dtype=float)
    except (TypeError, ValueError):
        return None
    return array if array.shape == (count,) else None


def _looks_like_dicom(path: Path) -> bool:
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    with contextlib.suppress(OSError), open(path, "rb") as handle:
        handle.seek(128)
        return handle.read(4) == b"DICM"
    return False


def _read_without_preamble(path: Path) -> pydicom.Dataset | None:
    """A file written without the 128-byte preamble and ``DICM`` marker (older ACR-NEMA
    style exports), if it reads as an image with a series; else None."""
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
        if all(keyword in ds for keyword in ("Rows", "Columns", "SeriesInstanceUID")):
            return ds
    except Exception:  # noqa: BLE001 - any file is tried; most are no DICOM at all
        pass
    return None


def _read_header(path: Path) -> SliceHeader | None:
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except InvalidDicomError:
        ds = _read_without_preamble(path)
        if ds is not None:
            return _header_of(path, ds)
        if _looks_like_dicom(path):
            raise ImageReadError(f"{path}: not a valid DICOM file (corrupt or truncated)") from None
        return None
    except Exception as error:  # noqa: BLE001 - pydicom raises many types for broken files
        if _looks_like_dicom(path):
            raise ImageReadError(f"{path}: corrupt or truncated DICOM file ({error})") from None
        return None
    return _header_of(path, ds)


def _header_of(path: Path, ds: pydicom.Dataset) -> SliceHeader | None:
    try:
        if "Rows" not in ds or "Columns" not in ds:
            sop_class = getattr(getattr(ds, "file_meta", None), "MediaStorageSOPClassUID", None)
            if sop_class is not None and "Image Storage" in str(getattr(sop_class, "name", "")):
                raise ImageReadError(f"{path}: corrupt or truncated DICOM file (an image without rows and columns)")
            return None
        orientation = _floats(ds, "ImageOrientationPatient", 6)
        spacing = _floats(ds, "PixelSpacing", 2)
        instance = ds.get("InstanceNumber")
        series_number = ds.get("SeriesNumber")
        return SliceHeader(
            path=path,
            series_uid=str(ds.get("SeriesInstanceUID", "")),
            series_number=int(series_number) if series_number not in (None, "") else None,
            description=str(ds.get("SeriesDescription", "")),
            modality=str(ds.get("Modality", "")),
            instance=int(instance) if instance not in (None, "") else None,
            rows=int(ds.Rows),
            cols=int(ds.Columns),
            position=_floats(ds, "ImagePositionPatient", 3),
            orientation=orientation,
            pixel_spacing=(float(spacing[0]), float(spacing[1])) if spacing is not None else None,
            slice_thickness=_float(ds, "SliceThickness"),
            spacing_between_slices=_float(ds, "SpacingBetweenSlices"),
            slice_location=_float(ds, "SliceLocation"),
            trigger_time=_float(ds, "TriggerTime"),
            number_of_frames=int(ds.get("NumberOfFrames", 1) or 1),
            nominal_interval=_float(ds, "NominalInterval"),
            heart_rate=_float(ds, "HeartRate"),
        )
    except ImageReadError:
        raise
    except Exception as error:  # noqa: BLE001
        raise ImageReadError(f"{path}: corrupt DICOM header ({error})") from None


def _candidate_files(folder: Path) -> list[Path]:
    files = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        files.extend(
            Path(root) / name for name in sorted(names) if not name.startswith(".") and name.upper() != "DICOMDIR"
        )
    return files


def _check_folder(folder: Path) -> None:
    if not folder.exists():
        raise ImageReadError(f"{folder}: no such file or folder")
    if not folder.is_dir():
        raise ImageReadError(f"{folder}: not a folder")


def scan_dicom_folder(folder: str | os.PathLike[str]) -> list[SliceHeader]:
    """Read the header of every DICOM image under ``folder`` (sub-folders included).

    Files that are clearly not DICOM (no ``.dcm``-like suffix and no ``DICM`` marker) and
    DICOM files without pixel rows/columns (reports, DICOMDIR) are skipped.

    Args:
        folder: folder to scan.

    Returns:
        One header per image file, in path order.

    Raises:
        ImageReadError: if the folder is missing or a DICOM file is corrupt (naming the file).
    """
    folder = Path(folder)
    _check_folder(folder)
    headers = []
    with _lenient_reading():
        for path in _candidate_files(folder):
            header = _read_header(path)
            if header is not None:
                headers.append(header)
    return headers


def _group_series(headers: Sequence[SliceHeader]) -> list[SeriesInfo]:
    groups: dict[str, list[SliceHeader]] = {}
    for header in headers:
        groups.setdefault(header.series_uid, []).append(header)
    infos = [
        SeriesInfo(
            uid=uid,
            description=members[0].description,
            modality=members[0].modality,
            num_files=len(members),
            files=tuple(h.path for h in members),
        )
        for uid, members in groups.items()
    ]
    numbers = {uid: members[0].series_number for uid, members in groups.items()}
    return sorted(infos, key=lambda s: (numbers[s.uid] is None, numbers[s.uid] or 0, s.uid))


def discover_series(folder: str | os.PathLike[str]) -> list[SeriesInfo]:
    """List the DICOM series under ``folder``.

    Args:
        folder: folder to scan (sub-folders included).

    Returns:
        One entry per SeriesInstanceUID, ordered by SeriesNumber.

    Raises:
        ImageReadError: if the folder is missing or holds a corrupt DICOM file.
    """
    return _group_series(scan_dicom_folder(folder))


def describe_series(series: Sequence[SeriesInfo]) -> str:
    """One line per series: uid, description, modality and file count."""
    return "; ".join(
        f"{s.uid or '(no uid)'} ({s.description or 'no description'}, {s.modality or '?'}, {s.num_files} files)"
        for s in series
    )


def select_series(
    folder: Path, headers: Sequence[SliceHeader], series_uid: str | None
) -> list[SliceHeader]:
    """Pick the headers of one series, or raise an error that lists the choices."""
    if not headers:
        raise ImageReadError(f"{folder}: no DICOM images found in this folder")
    series = _group_series(headers)
    if series_uid is None:
        if len(series) > 1:
            raise ImageReadError(
                f"{folder}: holds {len(series)} DICOM series, choose one with its series UID: "
                + describe_series(series)
            )
        series_uid = series[0].uid
    chosen = [h for h in headers if h.series_uid == series_uid]
    if not chosen:
        raise ImageReadError(f"{folder}: no series with UID {series_uid}; found: " + describe_series(series))
    return chosen


def read_slice_pixels(header: SliceHeader) -> np.ndarray:
    """Pixel values of one single-frame image in physical units (rescale applied), float32.

    Raises:
        ImageReadError: naming the file when its pixel data cannot be decoded.
    """
    path = header.path
    try:
        with _lenient_reading():
            ds = pydicom.dcmread(path, force=True)  # the header was read already: this is DICOM
            array = ds.pixel_array
            slope = _float(ds, "RescaleSlope")
            intercept = _float(ds, "RescaleIntercept")
    except Exception as error:  # noqa: BLE001
        array = _read_pixels_sitk(path, error)
        slope = intercept = None
    array = np.asarray(array, dtype=np.float32)
    if array.shape != (header.rows, header.cols):
        raise ImageReadError(
            f"{path}: pixel data shaped {array.shape}, expected a single {header.rows}x{header.cols} image"
        )
    if slope is not None and slope != 1.0:
        array *= np.float32(slope)
    if intercept:
        array += np.float32(intercept)
    return array


def _read_pixels_sitk(path: Path, pydicom_error: Exception) -> np.ndarray:
    """Fallback through GDCM (compressed transfer syntaxes pydicom cannot decode here)."""
    try:
        image = sitk.ReadImage(str(path), imageIO="GDCMImageIO")
    except RuntimeError:
        raise ImageReadError(
            f"{path}: cannot decode the pixel data (corrupt or truncated file: {pydicom_error})"
        ) from None
    array = sitk.GetArrayFromImage(image)
    return array.reshape(array.shape[-2:]) if array.ndim == 3 and array.shape[0] == 1 else array


def check_consistent(folder: Path, headers: Sequence[SliceHeader]) -> None:
    """Raise ImageReadError unless all images share size, orientation and pixel spacing."""
    first = headers[0]
    for header in headers:
        if header.number_of_frames > 1:
            raise ImageReadError(f"{header.path}: multi-frame DICOM files are not supported here")
        if header.position is None or header.orientation is None:
            raise ImageReadError(f"{header.path}: no ImagePositionPatient/ImageOrientationPatient")
        if (header.rows, header.cols) != (first.rows, first.cols):
            raise ImageReadError(
                f"{folder}: images of different sizes in one series "
                f"({first.name}: {first.rows}x{first.cols}, {header.name}: {header.rows}x{header.cols})"
            )
        if np.max(np.abs(header.orientation - first.orientation)) > 1e-3:
            raise ImageReadError(
                f"{folder}: images with different orientations in one series "
                f"({first.name} and {header.name})"
            )
        if (header.pixel_spacing or (1.0, 1.0)) != (first.pixel_spacing or (1.0, 1.0)):
            raise ImageReadError(
                f"{folder}: images with different pixel spacing in one series "
                f"({first.name} and {header.name})"
            )


def _sort_along_normal(folder: Path, headers: Sequence[SliceHeader]) -> tuple[list[SliceHeader], np.ndarray]:
    normal = headers[0].normal
    distances = np.array([float(np.dot(h.position, normal)) for h in headers])
    order = np.argsort(distances, kind="stable")
    ordered = [headers[i] for i in order]
    distances = distances[order]
    same = np.flatnonzero(np.diff(distances) <= SAME_POSITION_MM)
    if same.size:
        positions = 1 + int(np.count_nonzero(np.diff(distances) > SAME_POSITION_MM))
        if len(headers) % positions == 0 and len(headers) // positions > 1:
            raise MultiPhaseSeriesError(
                f"{folder}: series {headers[0].series_uid} has {len(headers) // positions} images at each of "
                f"{positions} slice positions (a cine or multi-phase series); read it as a cine study"
            )
        i = int(same[0])
        raise ImageReadError(
            f"{folder}: {ordered[i].name} and {ordered[i + 1].name} lie at the same slice position"
        )
    return ordered, distances


def _interpolate_slices(volume: np.ndarray, distances: np.ndarray, targets: np.ndarray) -> np.ndarray:
    upper = np.clip(np.searchsorted(distances, targets, side="right"), 1, len(distances) - 1)
    lower = upper - 1
    weight = ((targets - distances[lower]) / (distances[upper] - distances[lower])).astype(np.float32)
    weight = np.clip(weight, 0.0, 1.0)[:, None, None]
    return (1.0 - weight) * volume[lower] + weight * volume[upper]


def _single_slice_step(header: SliceHeader) -> float:
    return header.spacing_between_slices or header.slice_thickness or 1.0


def _to_image(volume: np.ndarray, spacing: Sequence[float], origin: np.ndarray, direction: np.ndarray) -> sitk.Image:
    image = sitk.GetImageFromArray(np.ascontiguousarray(volume, dtype=np.float32))
    image.SetSpacing([float(s) for s in spacing])
    image.SetOrigin([float(o) for o in origin])
    image.SetDirection([float(d) for d in direction.ravel()])
    return image


def _remove_shear(image: sitk.Image, rotation: np.ndarray, fill: float) -> sitk.Image:
    """Resample a sheared stack onto the bounding grid with the axes of ``rotation``."""
    size = np.array(image.GetSize())
    corners = np.array(
        [
            image.TransformContinuousIndexToPhysicalPoint([float(c) for c in corner])
            for corner in np.array(np.meshgrid(*[[0, n - 1] for n in size], indexing="ij")).reshape(3, -1).T
        ]
    )
    origin = np.array(image.GetOrigin())
    local = (corners - origin) @ rotation
    spacing = np.array(image.GetSpacing(), dtype=float)
    spacing[2] = float(np.max(local[:, 2]) - np.min(local[:, 2])) / max(size[2] - 1, 1)
    low = np.floor(local.min(axis=0) / spacing + 1e-6) * spacing
    high = np.ceil(local.max(axis=0) / spacing - 1e-6) * spacing
    out_size = np.round((high - low) / spacing).astype(int) + 1
    out_origin = origin + rotation @ low
    return sitk.Resample(
        image,
        [int(n) for n in out_size],
        sitk.Transform(),
        sitk.sitkLinear,
        [float(o) for o in out_origin],
        [float(s) for s in spacing],
        [float(d) for d in rotation.ravel()],
        float(fill),
        sitk.sitkFloat32,
    )


def stack_slices(folder: Path, headers: Sequence[SliceHeader]) -> sitk.Image:
    """Build a 3D image from the single-frame images of one series (geometry checked)."""
    check_consistent(folder, headers)
    ordered, distances = _sort_along_normal(folder, headers)
    first = ordered[0]
    row_spacing, col_spacing = first.pixel_spacing or (1.0, 1.0)
    row_dir, col_dir = first.orientation[:3], first.orientation[3:]
    normal = first.normal
    rotation = np.column_stack([row_dir, col_dir, normal])
    volume = _read_pixels(ordered)
    origin = ordered[0].position
    notes: dict[str, str] = {}
    if len(ordered) == 1:
        spacing = (col_spacing, row_spacing, _single_slice_step(first))
        return _finish(_to_image(volume, spacing, origin, rotation), first, notes)

    steps = np.diff(distances)
    median = float(np.median(steps))
    for i, step in enumerate(steps):
        if step > GAP_FACTOR * median:
            raise ImageReadError(
                f"{folder}: missing slices: gap of {step:.3g} mm between slice {i + 1} and {i + 2} "
                f"({ordered[i].name}, {ordered[i + 1].name}) where the spacing is {median:.3g} mm"
            )
    positions = np.array([h.position for h in ordered])
    along = distances - distances[0]
    offsets = positions - positions[0] - np.outer(along, normal)
    shear = np.linalg.lstsq(along[:, None], offsets, rcond=None)[0][0]
    residual = offsets - np.outer(along, shear)
    pixel = min(row_spacing, col_spacing)
    if np.max(np.linalg.norm(residual, axis=1)) > max(0.1 * pixel, 0.01):
        raise ImageReadError(f"{folder}: slice positions do not lie on a line; cannot build one volume from them")
    tilted = np.linalg.norm(shear) * along[-1] > 0.1 * pixel

    if (steps.max() - steps.min()) > NONUNIFORM_TOLERANCE * median:
        count = int(round(along[-1] / median)) + 1
        step = along[-1] / (count - 1)
        volume = _interpolate_slices(volume, along, np.arange(count) * step)
        notes["medseg:resampled"] = (
            f"non-uniform slice spacing ({steps.min():.4g} to {steps.max():.4g} mm) resampled linearly "
            f"to {step:.4g} mm ({len(ordered)} slices to {count})"
        )
        logger.warning("%s: %s", folder, notes["medseg:resampled"])
    else:
        step = along[-1] / (len(ordered) - 1)

    if not tilted:
        return _finish(_to_image(volume, (col_spacing, row_spacing, step), origin, rotation), first, notes)

    axis = normal + shear
    tilt_deg = math.degrees(math.atan(float(np.linalg.norm(shear))))
    sheared = _to_image(
        volume,
        (col_spacing, row_spacing, step * float(np.linalg.norm(axis))),
        origin,
        np.column_stack([row_dir, col_dir, axis / np.linalg.norm(axis)]),
    )
    image = _remove_shear(sheared, rotation, float(volume.min()))
    notes["medseg:gantry_tilt_deg"] = f"{tilt_deg:.4g}"
    message = f"gantry tilt of {tilt_deg:.3g} degrees removed by resampling onto a grid along the slice normal"
    notes["medseg:resampled"] = "; ".join(filter(None, [notes.get("medseg:resampled"), message]))
    logger.warning("%s: %s", folder, message)
    return _finish(image, first, notes)


def _finish(image: sitk.Image, first: SliceHeader, notes: dict[str, str]) -> sitk.Image:
    image.SetMetaData("0008|0060", first.modality)
    image.SetMetaData("0020|000e", first.series_uid)
    image.SetMetaData("0008|103e", first.description)
    for key, value in notes.items():
        image.SetMetaData(key, value)
    return image


def _functional(ds: pydicom.Dataset, frame: int, sequence: str, keyword: str) -> object | None:
    """A value from one frame's functional groups, else the shared ones, else the top level."""
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    shared = ds.get("SharedFunctionalGroupsSequence")
    for group in (per_frame[frame] if per_frame and frame < len(per_frame) else None, shared[0] if shared else None):
        if group is not None and sequence in group and len(group[sequence].value) and keyword in group[sequence][0]:
            return group[sequence][0][keyword].value
    return ds.get(keyword)


def multiframe_headers(header: SliceHeader) -> list[SliceHeader]:
    """One header per frame of a multi-frame (enhanced) file, with that frame's position,
    orientation and pixel spacing from its functional groups.

    The frames then go through the same checks as single-frame slices (missing slices,
    uneven spacing, gantry tilt), which ITK's own reading of such files skips.

    Raises:
        ImageReadError: a frame has no position or orientation of its own.
    """
    with _lenient_reading():
        ds = pydicom.dcmread(header.path, stop_before_pixels=True)
    no_position = ImageReadError(
        f"{header.path}: a multi-frame file without a position per frame (PlanePositionSequence); "
        "convert it with dcm2niix and read the NIfTI"
    )
    if "PerFrameFunctionalGroupsSequence" not in ds:
        raise no_position
    frames = []
    for k in range(header.number_of_frames):
        position = _functional(ds, k, "PlanePositionSequence", "ImagePositionPatient")
        orientation = _functional(ds, k, "PlaneOrientationSequence", "ImageOrientationPatient")
        spacing = _functional(ds, k, "PixelMeasuresSequence", "PixelSpacing")
        if position is None or orientation is None:
            raise no_position
        frames.append(
            replace(
                header,
                position=np.asarray([float(v) for v in position]),
                orientation=np.asarray([float(v) for v in orientation]),
                pixel_spacing=(float(spacing[0]), float(spacing[1])) if spacing else header.pixel_spacing,
                number_of_frames=1,
                frame=k,
            )
        )
    return frames


def _read_pixels(ordered: Sequence[SliceHeader]) -> np.ndarray:
    """(slices, rows, cols) float32 in physical units, in the order of ``ordered``."""
    if ordered[0].frame is None:
        return np.stack([read_slice_pixels(h) for h in ordered])
    path = ordered[0].path
    try:
        with _lenient_reading():
            ds = pydicom.dcmread(path)
            array = np.asarray(ds.pixel_array, dtype=np.float32).reshape(-1, ordered[0].rows, ordered[0].cols)
        for k in range(array.shape[0]):
            slope = _functional(ds, k, "PixelValueTransformationSequence", "RescaleSlope")
            intercept = _functional(ds, k, "PixelValueTransformationSequence", "RescaleIntercept")
            array[k] = array[k] * np.float32(float(slope) if slope not in (None, "") else 1.0) + np.float32(
                float(intercept) if intercept not in (None, "") else 0.0
            )
    except ImageReadError:
        raise
    except Exception as error:  # noqa: BLE001
        array = np.asarray(_read_pixels_sitk(path, error), dtype=np.float32).reshape(-1, ordered[0].rows, ordered[0].cols)
    if array.shape[0] <= max(h.frame for h in ordered):
        raise ImageReadError(f"{path}: pixel data holds {array.shape[0]} frame(s), the header {len(ordered)}")
    return array[[h.frame for h in ordered]]


def read_series(folder: Path, headers: Sequence[SliceHeader]) -> sitk.Image:
    """The volume of one selected series: its single-frame slices, or the frames of its one
    multi-frame file, stacked with the same geometry checks."""
    if len(headers) == 1 and headers[0].number_of_frames > 1:
        try:
            return stack_slices(folder, multiframe_headers(headers[0]))
        except MultiPhaseSeriesError:
            raise ImageReadError(
                f"{headers[0].path}: a multi-frame file with several frames per slice position (cine or "
                "multi-phase); convert it with dcm2niix and read the NIfTI"
            ) from None
    return stack_slices(folder, headers)


def read_dicom_series(folder: str | os.PathLike[str], series_uid: str | None = None) -> sitk.Image:
    """Read one DICOM series as a 3D float32 image in physical units (rescale applied).

    Args:
        folder: folder holding the series (sub-folders included).
        series_uid: SeriesInstanceUID to read; required when the folder holds several series.

    Returns:
        The volume, slices sorted along the normal ``row x column``; metadata records the
        modality, series UID and any resampling (``medseg:resampled``, ``medseg:gantry_tilt_deg``).

    Raises:
        MultiPhaseSeriesError: several images per position (read it with ``read_cine_dicom``).
        ImageReadError: no images, several series without ``series_uid``, a corrupt file,
            missing slices or inconsistent geometry.
    """
    folder = Path(folder)
    headers = select_series(folder, scan_dicom_folder(folder), series_uid)
    return read_series(folder, headers)
