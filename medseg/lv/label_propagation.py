"""Carry a slice's full annotation to its unannotated phases by deformable registration.

Real cine data is contoured at one or two phases of the twenty. Within one slice position
the anatomy is the same in every phase and only moves, so a fully annotated frame can be
registered to each other phase of its cycle (SimpleITK's symmetric-forces demons, coarse to
fine) and its labels warped along. Where a phase carries the cavity alone (an endocardial
contour at end-systole, see :mod:`medseg.lv.partial_labels`), the contour stays the truth:
only its unknown pixels take the propagated myocardium or background.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import SimpleITK as sitk

from medseg.lv.annotations import IGNORE
from medseg.lv.partial_labels import NOT_CAVITY
from medseg.metrics import CAVITY, MYOCARDIUM

__all__ = ["full_frames", "register_frames", "warp_labels", "propagate_labels"]

_SHRINK_FACTORS = (4, 2, 1)
_ITERATIONS = (60, 40, 20)
_FIELD_SMOOTHING_PX = 1.5


def full_frames(labels: np.ndarray) -> np.ndarray:
    """Indices of the frames that carry both contours (myocardium and cavity present).

    Args:
        labels: (T, rows, cols) labels of one slice position.
    """
    flat = np.asarray(labels).reshape(len(labels), -1)
    return np.nonzero((flat == MYOCARDIUM).any(axis=1) & (flat == CAVITY).any(axis=1))[0]


def register_frames(fixed: np.ndarray, moving: np.ndarray) -> sitk.Transform:
    """Deformable transform taking points of ``fixed`` to the matching points of ``moving``.

    Demons compares intensities directly, which holds within one cine series (same
    sequence, same coil, same slice).

    Args:
        fixed: (rows, cols) frame whose grid the warped labels will lie on.
        moving: (rows, cols) annotated frame of the same slice position.
    """
    fixed_image = sitk.GetImageFromArray(np.ascontiguousarray(fixed, dtype=np.float32))
    moving_image = sitk.GetImageFromArray(np.ascontiguousarray(moving, dtype=np.float32))
    field = None
    for shrink, iterations in zip(_SHRINK_FACTORS, _ITERATIONS):
        fixed_level = sitk.Shrink(fixed_image, [shrink, shrink])
        moving_level = sitk.Shrink(moving_image, [shrink, shrink])
        demons = sitk.FastSymmetricForcesDemonsRegistrationFilter()
        demons.SetNumberOfIterations(iterations)
        demons.SetStandardDeviations(_FIELD_SMOOTHING_PX)
        if field is None:
            field = demons.Execute(fixed_level, moving_level)
        else:
            field = sitk.Resample(field, fixed_level, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkVectorFloat64)
            field = demons.Execute(fixed_level, moving_level, field)
    field = sitk.Resample(field, fixed_image, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkVectorFloat64)
    return sitk.DisplacementFieldTransform(field)


def warp_labels(labels: np.ndarray, transform: sitk.Transform) -> np.ndarray:
    """Labels resampled (nearest neighbour) through ``transform``; from outside the frame: 255."""
    image = sitk.GetImageFromArray(np.ascontiguousarray(labels, dtype=np.uint8))
    warped = sitk.Resample(image, image, transform, sitk.sitkNearestNeighbor, IGNORE, sitk.sitkUInt8)
    return sitk.GetArrayFromImage(warped)


def _merge_partial(annotated: np.ndarray, propagated: np.ndarray) -> np.ndarray:
    """Fill a partly annotated frame's unknown pixels from ``propagated``; its own labels win.

    Where the frame has its own endocardial contour, cavity lies inside it only, so the
    propagation may not add cavity outside it.
    """
    merged = annotated.copy()
    contoured_cavity = (annotated == CAVITY).any()
    unknown = (annotated == IGNORE) & ~(contoured_cavity & (propagated == CAVITY))
    merged[unknown] = propagated[unknown]
    not_cavity = annotated == NOT_CAVITY
    resolved = not_cavity & ((propagated == MYOCARDIUM) | (propagated == 0))
    merged[resolved] = propagated[resolved]
    return merged


@contextmanager
def _itk_threads(count: int | None) -> Iterator[None]:
    """SimpleITK filters use ``count`` threads inside the block (all cores when None)."""
    if count is None:
        yield
        return
    previous = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(max(1, int(count)))
    try:
        yield
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(previous)


def propagate_labels(images: np.ndarray, labels: np.ndarray, threads: int | None = None) -> np.ndarray:
    """Labels for every phase of one slice position, from its fully annotated frames.

    Each phase without a full annotation takes the labels of the cyclically nearest fully
    annotated frame, warped onto it. A phase that is partly annotated keeps what it has
    (cavity, or "not cavity"); the propagation only fills its unknown pixels and splits its
    "not cavity" pixels into myocardium and background. Pixels the warp pulls in from
    outside the frame stay unknown. A slice without a full annotation is returned as is.

    Args:
        images: (T, rows, cols) frames of one slice position (same intensity scale).
        labels: (T, rows, cols) uint8 labels: 0 background, 1 myocardium, 2 cavity,
            3 myocardium or background, 255 unknown.
        threads: threads for the registrations (None: SimpleITK's default, all cores).

    Returns:
        A new (T, rows, cols) uint8 label array.
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.shape != labels.shape or images.ndim != 3:
        raise ValueError(f"images {images.shape} and labels {labels.shape} must be the same (T, rows, cols)")
    sources = full_frames(labels)
    out = labels.copy()
    if not len(sources):
        return out
    phases = len(labels)
    with _itk_threads(threads):
        for phase in range(phases):
            if phase in sources:
                continue
            gaps = np.minimum((sources - phase) % phases, (phase - sources) % phases)
            source = int(sources[int(np.argmin(gaps))])
            propagated = warp_labels(labels[source], register_frames(images[phase], images[source]))
            out[phase] = _merge_partial(labels[phase], propagated)
    return out
