"""LV annotations (Sunnybrook contour folders or label images) as the contract's 4D labels.

Output labels: 0 background, 1 myocardium, 2 LV cavity, 255 not annotated. A frame with
both contours is fully labelled; with only the endocardium, the cavity is 2 and the rest
255; with only the epicardium, outside it is 0 and inside 255; frames without usable
contours are 255.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from medseg.errors import ImageReadError
from medseg.io.atomic import write_json
from medseg.io.contours import SUNNYBROOK_ORIGIN, instance_index, polygon_to_mask, read_contour_folder
from medseg.lv.label_check import LabelCheck, check_contours, check_label_array

IGNORE = 255


def contours_to_labels(
    contour_folder: str | Path, study: Any, contour_origin: float = SUNNYBROOK_ORIGIN
) -> tuple[np.ndarray, LabelCheck]:
    """Rasterise a Sunnybrook contour folder on the grid of a cine study.

    Args:
        contour_folder: folder of ``IM-0001-<nnnn>-[io]contour-manual.txt`` files.
        study: a ``CineStudy`` (frames, pixel_spacing, instance_numbers).
        contour_origin: coordinate of the first pixel's centre in the files.

    Returns:
        ``(labels (slices, phases, rows, cols) uint8, label check)``.
    """
    contours = read_contour_folder(contour_folder, contour_origin)
    frames = np.asarray(study.frames)
    shape = frames.shape[-2:]
    check = check_contours(contours, instance_index(study.instance_numbers), shape, study.pixel_spacing)
    labels = np.full(frames.shape, IGNORE, dtype=np.uint8)
    for frame in check.frames:
        if frame.slice < 0:
            continue
        endo_ok, epi_ok = frame.endo == "usable", frame.epi == "usable"
        out = labels[frame.slice, frame.phase]
        if epi_ok:
            out[:] = 0
            out[polygon_to_mask(contours.epi[frame.instance], shape)] = 1 if endo_ok else IGNORE
        if endo_ok:
            out[polygon_to_mask(contours.endo[frame.instance], shape)] = 2
    return labels, check


def convert_annotation(
    annotation_path: str | Path, study: Any, out_path: str | Path, contour_origin: float = SUNNYBROOK_ORIGIN
) -> dict[str, Any]:
    """Write the 4D label image of a study's annotation and ``label_check.json`` beside it.

    Args:
        annotation_path: Sunnybrook contour folder, or a label image (NIfTI/NRRD/MHA) on
            the study's grid with values 0/1/2/255.
        study: the ``CineStudy`` the annotation belongs to.
        out_path: the label image to write (``labels.nii.gz``).
        contour_origin: coordinate of the first pixel's centre in contour files.

    Returns:
        The ``label_check.json`` content.

    Raises:
        ImageReadError: the annotation cannot be read or does not fit the study.
    """
    import SimpleITK as sitk

    from medseg.io.cine import cine_to_image
    from medseg.io.image import read_image, write_image

    annotation_path, out_path = Path(annotation_path), Path(out_path)
    if not annotation_path.exists():
        raise ImageReadError(f"{annotation_path}: annotation not found")
    if annotation_path.is_dir():
        labels, check = contours_to_labels(annotation_path, study, contour_origin)
    else:
        image = read_image(annotation_path)
        array = sitk.GetArrayFromImage(image)
        array = array.transpose(1, 0, 2, 3) if array.ndim == 4 else array[None]
        if array.shape != np.asarray(study.frames).shape:
            raise ImageReadError(
                f"{annotation_path}: label grid {array.shape} differs from the study's {np.asarray(study.frames).shape}"
            )
        values = set(np.unique(array).tolist()) - {0, 1, 2, IGNORE}
        if values:
            raise ImageReadError(f"{annotation_path}: labels must be 0, 1, 2 or 255; found {sorted(values)}")
        labels, check = check_label_array(array.astype(np.uint8), study.pixel_spacing)
    reference = cine_to_image(study)
    out = sitk.GetImageFromArray(np.ascontiguousarray(labels.transpose(1, 0, 2, 3)), isVector=False)
    out.CopyInformation(reference)
    write_image(out, out_path)
    report = {"annotation": str(annotation_path), **check.to_dict()}
    if annotation_path.is_dir():
        report["contour_origin_px"] = float(contour_origin)
    write_json(out_path.parent / "label_check.json", report)
    return report
