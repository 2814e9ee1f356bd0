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


#: Largest origin difference (mm) at which a label image counts as lying on the study's grid.
GRID_TOLERANCE_MM = 0.01


def _same_grid(a: Any, b: Any, dims: int) -> bool:
    """Whether the first ``dims`` axes of two images share spacing, origin and direction."""
    spacing_a, spacing_b = np.asarray(a.GetSpacing()[:dims]), np.asarray(b.GetSpacing()[:dims])
    direction_a = np.asarray(a.GetDirection()).reshape(a.GetDimension(), -1)[:dims, :dims]
    direction_b = np.asarray(b.GetDirection()).reshape(b.GetDimension(), -1)[:dims, :dims]
    return (
        np.allclose(spacing_a, spacing_b, rtol=1e-4, atol=1e-5)
        and np.allclose(np.asarray(a.GetOrigin()[:dims]), np.asarray(b.GetOrigin()[:dims]), atol=GRID_TOLERANCE_MM)
        and np.allclose(direction_a, direction_b, atol=1e-4)
    )


def _corners(image: Any) -> np.ndarray:
    """World positions of the eight corner voxel centres of a 3D image (or of a 4D
    image's spatial part), sorted so that two grids over one box compare equal."""
    size = image.GetSize()[:3]
    spacing = np.asarray(image.GetSpacing()[:3])
    direction = np.asarray(image.GetDirection()).reshape(image.GetDimension(), -1)[:3, :3]
    origin = np.asarray(image.GetOrigin()[:3])
    corners = [origin + direction @ (spacing * np.array(c) * (np.asarray(size) - 1)) for c in np.ndindex(2, 2, 2)]
    return np.array(sorted(map(tuple, np.round(corners, 3))))


def labels_on_study_grid(image: Any, reference: Any, source: Path) -> tuple[np.ndarray, bool]:
    """A label image as (slices, phases, rows, cols), placed by its world geometry.

    A label image on the study's grid is taken as it is. One that covers the same box in
    the world but stores its voxels in another order (other axis signs or order, e.g.
    RAS-ordered voxels from another tool) is resampled onto the study's grid phase by
    phase, nearest neighbour. Any other geometry is refused rather than guessed at: a
    label array of the right shape saved without the study's spacing and origin would
    otherwise land scaled or shifted. A 3D label image (x, y, phase) has no slice
    position, so it must match a one-slice study in-plane.

    Args:
        image: the label image.
        reference: the study as a 4D image (:func:`medseg.io.cine.cine_to_image`).
        source: its path, for messages.

    Returns:
        ``(labels, resampled)``.

    Raises:
        ImageReadError: wrong dimension or phase count, or a grid other than the study's.
    """
    import SimpleITK as sitk

    size = reference.GetSize()
    expected = (size[2], size[3], size[1], size[0])
    dim = image.GetDimension()
    if dim not in (3, 4):
        raise ImageReadError(f"{source}: a label image must be 3D (x, y, phase) or 4D (x, y, slice, phase); got {dim}D")
    phases = image.GetSize()[-1]
    if phases != size[3]:
        raise ImageReadError(f"{source}: {phases} phases in the labels, {size[3]} in the study")
    array = sitk.GetArrayFromImage(image)
    if dim == 3:
        if array.shape[1:] != expected[2:] or size[2] != 1 or not _same_grid(image, reference, 2):
            raise ImageReadError(
                f"{source}: a 3D (x, y, phase) label image must lie on the grid of a one-slice study "
                f"(shape {expected}, spacing {reference.GetSpacing()[:2]}, origin {reference.GetOrigin()[:2]})"
            )
        return array[None], False
    if array.transpose(1, 0, 2, 3).shape == expected and _same_grid(image, reference, 3):
        return array.transpose(1, 0, 2, 3), False
    tolerance = 0.5 * min(min(image.GetSpacing()[:3]), min(reference.GetSpacing()[:3]))
    if not np.allclose(_corners(image), _corners(reference), atol=tolerance):
        raise ImageReadError(
            f"{source}: the labels lie on another grid than the study (labels: size {image.GetSize()[:3]}, "
            f"spacing {_fmt(image.GetSpacing()[:3])}, origin {_fmt(image.GetOrigin()[:3])}; study: size "
            f"{size[:3]}, spacing {_fmt(reference.GetSpacing()[:3])}, origin {_fmt(reference.GetOrigin()[:3])}): "
            "write them with the study's geometry (e.g. copy it from the image in SimpleITK or 3D Slicer)"
        )
    target = sitk.Extract(reference, [size[0], size[1], size[2], 0], [0, 0, 0, 0])
    frames = []
    for phase in range(phases):
        frame = sitk.Extract(image, [*image.GetSize()[:3], 0], [0, 0, 0, phase])
        resampled = sitk.Resample(frame, target, sitk.Transform(), sitk.sitkNearestNeighbor, IGNORE, image.GetPixelID())
        frames.append(sitk.GetArrayFromImage(resampled))
    return np.stack(frames, axis=1), True


def _fmt(values: Any) -> str:
    return "(" + ", ".join(f"{float(v):.4g}" for v in values) + ")"


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
    reference = cine_to_image(study)
    if annotation_path.is_dir():
        labels, check = contours_to_labels(annotation_path, study, contour_origin)
    else:
        array, resampled = labels_on_study_grid(read_image(annotation_path), reference, annotation_path)
        values = set(np.unique(array).tolist()) - {0, 1, 2, IGNORE}
        if values:
            raise ImageReadError(f"{annotation_path}: labels must be 0, 1, 2 or 255; found {sorted(values)}")
        labels, check = check_label_array(array.astype(np.uint8), study.pixel_spacing)
    out = sitk.GetImageFromArray(np.ascontiguousarray(labels.transpose(1, 0, 2, 3)), isVector=False)
    out.CopyInformation(reference)
    write_image(out, out_path)
    report = {"annotation": str(annotation_path), **check.to_dict()}
    if annotation_path.is_dir():
        report["contour_origin_px"] = float(contour_origin)
    elif resampled:
        report["resampled_to_study_grid"] = True
    write_json(out_path.parent / "label_check.json", report)
    return report
