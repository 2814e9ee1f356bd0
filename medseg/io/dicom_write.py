"""Writing DICOM series and cine studies the way scanners hand them out: one file per image.

Pixel values are stored as int16 with RescaleSlope/RescaleIntercept chosen per series, so
integer data (HU, MR intensities) is stored exactly and float data keeps a resolution of
``(max - min) / 65534``. Output folders are written atomically.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pydicom.valuerep import format_number_as_ds

from medseg.io.atomic import atomic_dir

_SOP_CLASSES = {
    "CT": "1.2.840.10008.5.1.4.1.1.2",
    "MR": "1.2.840.10008.5.1.4.1.1.4",
}
_SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
_INT16 = np.iinfo(np.int16)

__all__ = ["write_cine_dicom", "write_dicom_series", "quantize_int16"]


def _ds(value: float) -> str:
    return format_number_as_ds(float(value))


def _ds_list(values: Sequence[float]) -> list[str]:
    return [_ds(v) for v in values]


def quantize_int16(values: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Store ``values`` as int16 with a slope and intercept (``value = stored * slope + intercept``).

    Integer data that fits in 65536 consecutive values is stored exactly; other data uses the
    finest slope that covers its range.

    Args:
        values: finite pixel values, any shape.

    Returns:
        ``(stored, slope, intercept)``; slope and intercept are exactly representable as DICOM DS.

    Raises:
        ValueError: if ``values`` holds NaN or infinity.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return values.astype(np.int16), 1.0, 0.0
    if not np.all(np.isfinite(values)):
        raise ValueError("cannot store NaN or infinite pixel values in DICOM")
    low, high = float(values.min()), float(values.max())
    integral = bool(np.all(values == np.round(values)))
    if integral and low >= _INT16.min and high <= _INT16.max:
        return values.astype(np.int16), 1.0, 0.0
    if integral and high - low <= _INT16.max - _INT16.min:
        intercept = float(_ds(low - _INT16.min))
        if float(intercept).is_integer():
            return (values - intercept).astype(np.int16), 1.0, intercept
    slope = float(_ds((high - low) / (_INT16.max - _INT16.min - 2))) if high > low else 1.0
    intercept = float(_ds((high + low) / 2.0))
    stored = np.clip(np.round((values - intercept) / slope), _INT16.min, _INT16.max)
    return stored.astype(np.int16), slope, intercept


def _file_meta(sop_class: str, sop_instance: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = pydicom.uid.PYDICOM_IMPLEMENTATION_UID
    return meta


def _apply_extra_tags(ds: Dataset, extra_tags: Mapping[Any, Any] | None) -> None:
    for key, value in (extra_tags or {}).items():
        if isinstance(key, str):
            if tag_for_keyword(key) is None:
                raise ValueError(f"unknown DICOM keyword in extra_tags: {key!r}")
            setattr(ds, key, value)
        else:
            tag = pydicom.tag.Tag(key)
            ds.add_new(tag, dictionary_VR(tag), value)


def _common_dataset(
    *,
    modality: str,
    study_uid: str,
    series_uid: str,
    frame_uid: str,
    series_description: str,
    patient_id: str,
    patient_name: str,
) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = _SOP_CLASSES.get(modality, _SECONDARY_CAPTURE)
    ds.StudyDate = ""
    ds.StudyTime = ""
    ds.AccessionNumber = ""
    ds.Modality = modality
    ds.ReferringPhysicianName = ""
    ds.SeriesDescription = series_description
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = frame_uid
    ds.StudyID = ""
    ds.SeriesNumber = 1
    ds.PositionReferenceIndicator = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    return ds


def _slice_dataset(
    common: Dataset,
    pixels: np.ndarray,
    *,
    instance: int,
    position: np.ndarray,
    row_dir: np.ndarray,
    col_dir: np.ndarray,
    pixel_spacing: tuple[float, float],
    thickness: float,
    slope: float,
    intercept: float,
    modality: str,
) -> Dataset:
    ds = copy.deepcopy(common)
    sop_uid = generate_uid(entropy_srcs=[str(common.SeriesInstanceUID), str(instance)])
    ds.SOPInstanceUID = sop_uid
    ds.InstanceNumber = instance
    ds.ImagePositionPatient = _ds_list(position)
    ds.ImageOrientationPatient = _ds_list([*row_dir, *col_dir])
    ds.SliceLocation = _ds(float(np.dot(position, np.cross(row_dir, col_dir))))
    ds.PixelSpacing = _ds_list(pixel_spacing)
    ds.SliceThickness = _ds(thickness)
    ds.SpacingBetweenSlices = _ds(thickness)
    ds.Rows, ds.Columns = int(pixels.shape[0]), int(pixels.shape[1])
    ds.RescaleIntercept = _ds(intercept)
    ds.RescaleSlope = _ds(slope)
    ds.RescaleType = "HU" if modality == "CT" else "US"
    ds.PixelData = np.ascontiguousarray(pixels, dtype="<i2").tobytes()
    ds.file_meta = _file_meta(ds.SOPClassUID, sop_uid)
    return ds


def _not_dicom(folder: Path) -> list[str]:
    """Names in ``folder`` that are no ``.dcm`` file: a folder with any is not an earlier series."""
    return [p.name for p in folder.iterdir() if not (p.is_file() and p.suffix.lower() == ".dcm")]


def _only_dicom(folder: Path) -> bool:
    return not _not_dicom(folder)


def _check_target(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"{folder} exists and is not a folder")
    if folder.is_dir():
        others = _not_dicom(folder)
        if others:
            raise FileExistsError(
                f"{folder} already holds files other than a DICOM series ({', '.join(sorted(others)[:3])}); "
                "refusing to replace it"
            )


def write_dicom_series(
    image: sitk.Image,
    folder: str | os.PathLike[str],
    *,
    modality: str = "CT",
    series_description: str = "",
    patient_id: str = "",
    patient_name: str = "",
    study_uid: str | None = None,
    series_uid: str | None = None,
    extra_tags: Mapping[Any, Any] | None = None,
    positions: Sequence[Sequence[float]] | np.ndarray | None = None,
) -> list[Path]:
    """Write a 2D or 3D image as a DICOM series, one file per slice.

    Args:
        image: scalar image; its geometry becomes ImagePositionPatient/ImageOrientationPatient.
            A left-handed direction is written with the slice order reversed (same voxels in
            space, the read-back direction then has the normal ``row x column``).
        folder: output folder; replaced atomically (an existing folder may hold only .dcm files).
        modality: DICOM Modality; CT and MR get their storage class, others Secondary Capture.
        series_description: SeriesDescription.
        patient_id: PatientID.
        patient_name: PatientName.
        study_uid: StudyInstanceUID (new one when None).
        series_uid: SeriesInstanceUID (new one when None). SOPInstanceUIDs derive from it, so
            fixed study and series UIDs give byte-identical output.
        extra_tags: keyword (or tag) to value, set on every file after the standard tags.
        positions: ImagePositionPatient per slice instead of the image geometry (to imitate
            gantry tilt or irregular slice spacing); one row per slice.

    Returns:
        The written files, in slice order.

    Raises:
        ValueError: for a vector or 4D image, NaN pixels, or ``positions`` of the wrong length.
        FileExistsError: if ``folder`` holds other files than a DICOM series.
    """
    if image.GetNumberOfComponentsPerPixel() != 1 or image.GetDimension() not in (2, 3):
        raise ValueError("a DICOM series needs a scalar 2D or 3D image")
    array = sitk.GetArrayFromImage(image)
    spacing = np.array(image.GetSpacing(), dtype=float)
    origin = np.array(image.GetOrigin(), dtype=float)
    direction = np.array(image.GetDirection(), dtype=float).reshape(image.GetDimension(), -1)
    if image.GetDimension() == 2:
        array = array[None]
        spacing = np.append(spacing, 1.0)
        origin = np.append(origin, 0.0)
        direction = np.block([[direction, np.zeros((2, 1))], [np.zeros((1, 2)), np.ones((1, 1))]])
    if positions is None and np.linalg.det(direction) < 0:
        origin = origin + (array.shape[0] - 1) * spacing[2] * direction[:, 2]
        direction = direction.copy()
        direction[:, 2] *= -1
        array = array[::-1]
    if positions is None:
        slice_positions = origin + np.arange(array.shape[0])[:, None] * spacing[2] * direction[:, 2]
    else:
        slice_positions = np.asarray(positions, dtype=float).reshape(-1, 3)
        if len(slice_positions) != array.shape[0]:
            raise ValueError(f"{len(slice_positions)} positions given for {array.shape[0]} slices")
    stored, slope, intercept = quantize_int16(array)
    study_uid = study_uid or generate_uid()
    series_uid = series_uid or generate_uid()
    common = _common_dataset(
        modality=modality,
        study_uid=study_uid,
        series_uid=series_uid,
        frame_uid=generate_uid(entropy_srcs=[study_uid, "frame-of-reference"]),
        series_description=series_description,
        patient_id=patient_id,
        patient_name=patient_name,
    )
    folder = Path(folder)
    _check_target(folder)
    names = []
    with atomic_dir(folder, owned=_only_dicom) as tmp:
        for index, pixels in enumerate(stored):
            ds = _slice_dataset(
                common,
                pixels,
                instance=index + 1,
                position=slice_positions[index],
                row_dir=direction[:, 0],
                col_dir=direction[:, 1],
                pixel_spacing=(spacing[1], spacing[0]),
                thickness=spacing[2],
                slope=slope,
                intercept=intercept,
                modality=modality,
            )
            _apply_extra_tags(ds, extra_tags)
            name = f"IM-0001-{index + 1:04d}.dcm"
            ds.save_as(tmp / name, enforce_file_format=True)
            names.append(name)
    return [folder / name for name in names]


def write_cine_dicom(
    frames: np.ndarray,
    folder: str | os.PathLike[str],
    *,
    spacing: tuple[float, float],
    origin_per_slice: Sequence[Sequence[float]] | np.ndarray | None = None,
    origin: Sequence[float] = (0.0, 0.0, 0.0),
    direction: Sequence[Sequence[float]] | np.ndarray | None = None,
    slice_spacing: float = 8.0,
    slice_thickness: float | None = None,
    trigger_times: Sequence[float] | np.ndarray | None = None,
    rr_interval_ms: float = 1000.0,
    series_description: str = "cine SSFP short axis",
    patient_id: str = "",
    patient_name: str = "",
    study_uid: str | None = None,
    series_uid: str | None = None,
    extra_tags: Mapping[Any, Any] | None = None,
) -> list[Path]:
    """Write a cine MR study in which every slice and phase shares one SeriesInstanceUID.

    Instance numbers run slice by slice, phase by phase (``slice * phases + phase + 1``),
    as in the Sunnybrook data.

    Args:
        frames: pixel values shaped (slices, phases, rows, cols).
        folder: output folder, replaced atomically.
        spacing: PixelSpacing (row spacing, column spacing) in mm.
        origin_per_slice: LPS position of the first pixel of each slice, shaped (slices, 3).
            When None, slices start at ``origin`` and step ``slice_spacing`` along the normal.
        origin: LPS position of the first pixel of the first slice (without ``origin_per_slice``).
        direction: 3x3 matrix whose columns are the row direction, the column direction and
            the slice normal (identity when None).
        slice_spacing: distance between slices along the normal in mm.
        slice_thickness: SliceThickness (``slice_spacing`` when None).
        trigger_times: TriggerTime in ms, shaped (phases,) or (slices, phases); evenly spread
            over ``rr_interval_ms`` when None.
        rr_interval_ms: R-R interval, written as NominalInterval and HeartRate.
        series_description: SeriesDescription.
        patient_id: PatientID.
        patient_name: PatientName.
        study_uid: StudyInstanceUID (new one when None).
        series_uid: SeriesInstanceUID (new one when None).
        extra_tags: keyword (or tag) to value, set on every file.

    Returns:
        The written files, in instance-number order.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4:
        raise ValueError(f"cine frames must be shaped (slices, phases, rows, cols), got {frames.shape}")
    n_slices, n_phases = frames.shape[:2]
    rotation = np.eye(3) if direction is None else np.asarray(direction, dtype=float).reshape(3, 3)
    normal = np.cross(rotation[:, 0], rotation[:, 1])
    if origin_per_slice is None:
        positions = np.asarray(origin, dtype=float) + np.arange(n_slices)[:, None] * slice_spacing * normal
    else:
        positions = np.asarray(origin_per_slice, dtype=float).reshape(n_slices, 3)
    if trigger_times is None:
        times = np.broadcast_to(np.arange(n_phases) * rr_interval_ms / n_phases, (n_slices, n_phases))
    else:
        times = np.broadcast_to(np.asarray(trigger_times, dtype=float), (n_slices, n_phases))
    stored, slope, intercept = quantize_int16(frames)
    study_uid = study_uid or generate_uid()
    series_uid = series_uid or generate_uid()
    common = _common_dataset(
        modality="MR",
        study_uid=study_uid,
        series_uid=series_uid,
        frame_uid=generate_uid(entropy_srcs=[study_uid, "frame-of-reference"]),
        series_description=series_description,
        patient_id=patient_id,
        patient_name=patient_name,
    )
    common.ImageType = ["ORIGINAL", "PRIMARY", "CARDIAC"]
    common.MRAcquisitionType = "2D"
    common.CardiacNumberOfImages = n_phases
    common.NominalInterval = int(round(rr_interval_ms))
    common.HeartRate = int(round(60000.0 / rr_interval_ms))
    common.ImagesInAcquisition = n_slices * n_phases
    folder = Path(folder)
    _check_target(folder)
    names = []
    with atomic_dir(folder, owned=_only_dicom) as tmp:
        for s in range(n_slices):
            for p in range(n_phases):
                instance = s * n_phases + p + 1
                ds = _slice_dataset(
                    common,
                    stored[s, p],
                    instance=instance,
                    position=positions[s],
                    row_dir=rotation[:, 0],
                    col_dir=rotation[:, 1],
                    pixel_spacing=(float(spacing[0]), float(spacing[1])),
                    thickness=slice_thickness or slice_spacing,
                    slope=slope,
                    intercept=intercept,
                    modality="MR",
                )
                ds.SpacingBetweenSlices = _ds(slice_spacing)
                ds.TriggerTime = _ds(times[s, p])
                _apply_extra_tags(ds, extra_tags)
                name = f"IM-0001-{instance:04d}.dcm"
                ds.save_as(tmp / name, enforce_file_format=True)
                names.append(name)
    return [folder / name for name in names]
