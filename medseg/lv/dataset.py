"""Cine studies as training sequences: one sequence = all phases of one slice position."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from medseg.errors import ImageReadError
from medseg.lv.annotations import IGNORE
from medseg.lv.config import LVConfig
from medseg.lv.label_propagation import propagate_labels
from medseg.lv.partial_labels import bound_cavity_only_frames
from medseg.lv.roi import Roi, make_roi, normalise_intensity
from medseg.lv.study import CineVolume, read_volume
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
        annotated: frames whose labels come from an annotation; None = every labelled
            frame. Propagated labels (:mod:`medseg.lv.label_propagation`) supervise the
            frames around these without taking training windows away from them.
    """

    case: str
    subject: str
    slice_index: int
    image: np.ndarray
    label: np.ndarray | None = None
    annotated: np.ndarray | None = None

    @property
    def labelled_frames(self) -> np.ndarray:
        """Indices of frames with at least one labelled pixel."""
        if self.label is None:
            return np.zeros(0, dtype=int)
        return np.nonzero((self.label != IGNORE).reshape(len(self.label), -1).any(axis=1))[0]

    @property
    def annotated_frames(self) -> np.ndarray:
        """Indices of frames labelled by an annotation (not by propagation)."""
        return self.labelled_frames if self.annotated is None else self.annotated


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
    everything outside it as not cavity (:mod:`medseg.lv.partial_labels`). With
    ``config.propagate_labels``, each slice's full annotation is then carried to its other
    phases on the crop (:mod:`medseg.lv.label_propagation`).
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
        if config.propagate_labels:
            for sequence in seqs:
                sequence.annotated = sequence.labelled_frames
                sequence.label = propagate_labels(sequence.image, sequence.label, config.threads)
        sequences += [s for s in seqs if len(s.labelled_frames)]
    return sequences


def sample_window(sequence: CineSequence, window: int, rng: np.random.Generator) -> np.ndarray:
    """Frame indices of a cyclic window of ``window`` phases that holds an annotated frame."""
    phases = len(sequence.image)
    annotated = sequence.annotated_frames
    anchor = int(rng.choice(annotated)) if len(annotated) else int(rng.integers(phases))
    start = anchor - int(rng.integers(window))
    return np.arange(start, start + window) % phases
