"""A cine study read into arrays, checked, and its labels written back on its grid.

Imports neither torch nor pydicom (DICOM folders load pydicom when read), so a command can
read its input while torch is still being imported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from medseg.errors import ImageReadError, InputRejected


@dataclass
class CineVolume:
    """A cine study as arrays.

    Attributes:
        frames: (slices, phases, rows, cols) float32.
        spacing: (row, col) pixel spacing, mm.
        slice_spacing: distance between slice positions, mm (NaN for a single 2D+t slice).
        reference: the input image (4D x, y, slice, phase; or 3D x, y, phase) whose
            geometry outputs copy.
        source: where it was read from.
    """

    frames: np.ndarray
    spacing: tuple[float, float]
    slice_spacing: float
    reference: sitk.Image
    source: Path = field(default_factory=Path)


def check_cine_frames(frames: np.ndarray, source: Path) -> None:
    """Reject what cannot be a cine study (one phase, a single 2D image, too few rows, blank
    or non-finite pixels, CT numbers).

    Raises:
        InputRejected: with the file name and the reason.
    """
    if frames.ndim != 4:
        raise InputRejected(f"{source}: not a cine study (expected slices x phases x rows x cols)")
    slices, phases, rows, cols = frames.shape
    if phases < 3:
        raise InputRejected(
            f"{source}: a cine study needs the phases of the cardiac cycle; found {phases} phase(s)",
            [f"{phases} phase(s)"],
        )
    if phases > 100:
        raise InputRejected(f"{source}: {phases} phases per slice is no cardiac cycle (a 3D volume?)", [f"{phases} phases"])
    if not np.isfinite(frames).all():
        bad = int(np.count_nonzero(~np.isfinite(frames)))
        raise InputRejected(f"{source}: {bad:,} pixels are NaN or infinite", ["non-finite pixels"])
    if float(np.min(frames)) == float(np.max(frames)):
        raise InputRejected(f"{source}: every pixel has the same value: the study is empty or blank", ["constant image"])
    if float(np.min(frames)) < -200.0:
        raise InputRejected(
            f"{source}: intensities down to {float(np.min(frames)):.0f} look like CT (HU), not cine MR", ["CT-like intensities"]
        )
    if rows < 32 or cols < 32:
        raise InputRejected(f"{source}: frames of {rows}x{cols} pixels are too small for a cine study")


def volume_from_image(image: sitk.Image, source: Path) -> CineVolume:
    """A 4D image (x, y, slice, phase), or 3D (x, y, phase) as one slice, as a volume.

    Raises:
        InputRejected: the image is 2D, has one phase, or is otherwise no cine study.
    """
    dim = image.GetDimension()
    if dim == 4:
        array = sitk.GetArrayFromImage(image).astype(np.float32).transpose(1, 0, 2, 3)
        spacing = image.GetSpacing()
        slice_spacing = float(spacing[2])
    elif dim == 3:
        array = sitk.GetArrayFromImage(image).astype(np.float32)[None]
        spacing = image.GetSpacing()
        slice_spacing = float("nan")  # one slice, thickness unknown
        if array.shape[1] < 3:
            raise InputRejected(f"{source}: a 3D image with {array.shape[1]} planes is no cine cycle")
    else:
        raise InputRejected(f"{source}: a {dim}D image is no cine study (need slices and phases)")
    check_cine_frames(array, source)
    return CineVolume(array, (float(spacing[1]), float(spacing[0])), slice_spacing, image, source)


def labels_to_image(labels: np.ndarray, reference: sitk.Image) -> sitk.Image:
    """(slices, phases, rows, cols) labels as a uint8 image on the grid of ``reference``.

    A 3D reference (x, y, phase) takes the single slice.
    """
    array = np.ascontiguousarray(labels.transpose(1, 0, 2, 3) if reference.GetDimension() == 4 else labels[0])
    image = sitk.GetImageFromArray(array.astype(np.uint8), isVector=False)
    image.CopyInformation(reference)
    return image


def read_volume(path: str | Path) -> CineVolume:
    """Read a cine study from a DICOM folder or a 4D NIfTI into arrays.

    Raises:
        ImageReadError: unreadable or missing input.
        InputRejected: readable but not a cine study (CT, one phase, single 2D image).
    """
    path = Path(path)
    if not path.exists():
        raise ImageReadError(f"{path}: no such file or folder")
    from medseg.io.image import DICOM_SUFFIXES, nifti_stored_dims, read_image, stored_nonfinite

    if path.is_dir() or path.suffix.lower() in DICOM_SUFFIXES:
        from medseg.io.cine import cine_to_image, read_cine  # pydicom: only for DICOM input

        study = read_cine(path)
        _reject_non_mr(study, path)
        frames = np.asarray(study.frames, dtype=np.float32)
        check_cine_frames(frames, path)
        image = cine_to_image(study)
        return CineVolume(frames, tuple(map(float, study.pixel_spacing)), float(study.slice_spacing), image, path)
    image = read_image(path)
    hidden = stored_nonfinite(image)
    if hidden:
        raise InputRejected(f"{path}: {hidden:,} voxels are NaN or infinite (they would be read as 0)", ["non-finite pixels"])
    dims = nifti_stored_dims(image)
    if dims is not None and len(dims) == 4 and dims[3] == 1:  # ITK dropped the phase axis
        raise InputRejected(
            f"{path}: a cine study needs the phases of the cardiac cycle; found 1 phase(s)", ["1 phase(s)"]
        )
    modality = image.GetMetaData("0008|0060").strip() if image.HasMetaDataKey("0008|0060") else ""
    if modality and modality != "MR":
        raise InputRejected(f"{path}: modality {modality}, not a cine MR study")
    return volume_from_image(image, path)


def _reject_non_mr(study: object, path: Path) -> None:
    files = getattr(study, "source_files", None) or []
    first = next((f for row in files for f in (row if isinstance(row, list) else [row])), None)
    if first is None:
        return
    try:
        import pydicom

        modality = str(pydicom.dcmread(first, stop_before_pixels=True, specific_tags=["Modality"]).get("Modality", ""))
    except Exception:  # noqa: BLE001 - a header problem was already reported by the reader
        return
    if modality and modality != "MR":
        raise InputRejected(f"{path}: modality {modality}, not a cine MR study")
