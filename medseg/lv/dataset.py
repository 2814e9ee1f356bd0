"""Cine studies as training sequences: one sequence = all phases of one slice position."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from medseg.errors import ImageReadError, InputRejected
from medseg.lv.annotations import IGNORE
from medseg.lv.config import LVConfig
from medseg.lv.partial_labels import bound_cavity_only_frames
from medseg.lv.roi import Roi, make_roi, normalise_intensity
from medseg.tables import TRAINING_COLUMNS, read_stage_table



@dataclass
class CineSequence:
    """The cropped cycle of one slice position.

    Attributes:
        case: case ID.
        subject: subject ID.
        slice_index: slice position in the study.
        image: (T, S, S) float32 crop frames, intensity-normalised.
        label: (T, S, S) uint8 crop labels (255 = not annotated), or None.
    """

    case: str
    subject: str
    slice_index: int
    image: np.ndarray
    label: np.ndarray | None = None

    @property
    def labelled_frames(self) -> np.ndarray:
        """Indices of frames with at least one annotated pixel."""
        if self.label is None:
            return np.zeros(0, dtype=int)
        return np.nonzero((self.label != IGNORE).reshape(len(self.label), -1).any(axis=1))[0]


@dataclass
class CineVolume:
    """A cine study as arrays.

    Attributes:
        frames: (slices, phases, rows, cols) float32.
        spacing: (row, col) pixel spacing, mm.
        slice_spacing: distance between slice positions, mm.
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
    """Reject what cannot be a cine study (one phase, a single 2D image, too few rows).

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
        slice_spacing = 1.0
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
    from medseg.io.cine import cine_to_image, read_cine

    path = Path(path)
    if not path.exists():
        raise ImageReadError(f"{path}: no such file or folder")
    if path.is_dir():
        study = read_cine(path)
        _reject_non_mr(study, path)
        frames = np.asarray(study.frames, dtype=np.float32)
        check_cine_frames(frames, path)
        image = cine_to_image(study)
        return CineVolume(frames, tuple(map(float, study.pixel_spacing)), float(study.slice_spacing), image, path)
    from medseg.io.image import read_image

    image = read_image(path)
    _reject_single_phase_nifti(path)
    modality = image.GetMetaData("0008|0060").strip() if image.HasMetaDataKey("0008|0060") else ""
    if modality and modality != "MR":
        raise InputRejected(f"{path}: modality {modality}, not a cine MR study")
    return volume_from_image(image, path)


def _reject_single_phase_nifti(path: Path) -> None:
    if not path.name.lower().endswith((".nii", ".nii.gz")):
        return
    import nibabel as nib

    shape = nib.load(str(path)).header.get_data_shape()
    if len(shape) >= 4 and shape[3] == 1:
        raise InputRejected(
            f"{path}: a cine study needs the phases of the cardiac cycle; found 1 phase(s)", ["1 phase(s)"]
        )


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


def read_labels(path: str | Path, volume: CineVolume) -> np.ndarray:
    """Read a 4D label image on the grid of ``volume`` as (slices, phases, rows, cols) uint8.

    Raises:
        ImageReadError: unreadable, or its grid differs from the image's.
    """
    from medseg.io.image import read_image

    image = read_image(path)
    array = sitk.GetArrayFromImage(image)
    if array.ndim == 4:
        array = array.transpose(1, 0, 2, 3)
    elif array.ndim == 3 and volume.frames.shape[0] == 1:
        array = array[None]
    if array.shape != volume.frames.shape:
        raise ImageReadError(
            f"{path}: label grid {array.shape} (slices, phases, rows, cols) differs from the image's {volume.frames.shape}"
        )
    values = set(np.unique(array).tolist())
    if not values <= {0, 1, 2, IGNORE}:
        raise ImageReadError(f"{path}: labels must be 0, 1, 2 or 255; found {sorted(values - {0, 1, 2, IGNORE})}")
    return array.astype(np.uint8)


def study_roi(volume: CineVolume, config: LVConfig) -> Roi:
    """The crop of a study (from the image only)."""
    return make_roi(volume.frames, volume.spacing, config.pixel_spacing_mm, config.crop_size, config.roi_smooth_mm)


def make_sequences(
    volume: CineVolume, config: LVConfig, labels: np.ndarray | None = None, case: str = "", subject: str = ""
) -> tuple[list[CineSequence], Roi]:
    """Crop every slice position of a study into a sequence.

    Returns:
        The sequences (slice order) and the crop used.
    """
    roi = study_roi(volume, config)
    sequences = []
    for index in range(volume.frames.shape[0]):
        image = normalise_intensity(roi.crop(volume.frames[index]))
        label = roi.crop(labels[index], nearest=True) if labels is not None else None
        sequences.append(CineSequence(case, subject, index, image, label))
    return sequences, roi


def read_cases_table(path: str | Path) -> list[dict[str, str]]:
    """Read a training table (TSV: subject, case, image, annotation); relative paths resolved.

    Raises:
        InputRejected: missing file or columns, or no rows.
    """
    return [{k: row[k] for k in TRAINING_COLUMNS} for row in read_stage_table(path, TRAINING_COLUMNS, ("image", "annotation"))]


def load_training_sequences(rows: list[dict[str, str]], config: LVConfig) -> list[CineSequence]:
    """Read, crop and label every slice of every case with an annotation.

    Slices without any annotated frame still help nothing in training and are dropped.
    With ``config.bound_cavity_only``, frames annotated with the cavity alone also mark
    everything outside it as not cavity (:mod:`medseg.lv.partial_labels`).
    """
    sequences = []
    for row in rows:
        if not row.get("annotation"):
            continue
        volume = read_volume(row["image"])
        labels = read_labels(row["annotation"], volume)
        if config.bound_cavity_only:
            labels = bound_cavity_only_frames(labels)
        seqs, _ = make_sequences(volume, config, labels, row["case"], row["subject"])
        sequences += [s for s in seqs if len(s.labelled_frames)]
    return sequences


def sample_window(sequence: CineSequence, window: int, rng: np.random.Generator) -> np.ndarray:
    """Frame indices of a cyclic window of ``window`` phases that holds a labelled frame."""
    phases = len(sequence.image)
    labelled = sequence.labelled_frames
    anchor = int(rng.choice(labelled)) if len(labelled) else int(rng.integers(phases))
    start = anchor - int(rng.integers(window))
    return np.arange(start, start + window) % phases
