"""Anatomical clean-up of predicted short-axis labels, frame by frame.

In a short-axis slice the LV cavity is the blood pool the myocardium encloses, and the
myocardium is a wall around it. Networks trained on few subjects sometimes also label the
right ventricle (bright blood beside the septum, with a wall of its own) or a stray patch.
The clean-up keeps the cavity region best enclosed by myocardium, drops myocardium farther
than the thickest expected wall from it, and then keeps the largest connected region.

The LV is one tube through the whole stack, so its centre moves little from slice to slice.
With ``max_offset_mm`` set, a study-wide LV centre is found first (the weighted median of
every frame's enclosed cavity regions) and, in every frame, only cavity regions within that
distance of it may be kept: a basal slice cannot take the aorta or the right ventricle
for the LV when the rest of the stack says otherwise.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from medseg.metrics import CAVITY, MYOCARDIUM

__all__ = ["MYOCARDIUM", "CAVITY", "stack_centre", "keep_enclosed_cavity", "keep_largest_component", "clean_labels"]

Regions = tuple[np.ndarray, list[tuple[int, float, np.ndarray]]]


def _cavity_regions(frame: np.ndarray) -> Regions:
    """A frame's cavity regions: the label image, and per region (label, area x enclosure,
    centroid (row, col) in pixels). Enclosure = share of the pixels just outside the region
    that are myocardium; it is measured in the region's bounding box, one pixel wider."""
    regions, _ = ndimage.label(frame == CAVITY)
    found = []
    for k, box in enumerate(ndimage.find_objects(regions), start=1):
        window = tuple(slice(max(side.start - 1, 0), side.stop + 1) for side in box)
        region = regions[window] == k
        border = ndimage.binary_dilation(region) & ~region
        enclosure = float((frame[window][border] == MYOCARDIUM).mean()) if border.any() else 0.0
        rows, cols = np.nonzero(region)
        centroid = np.array([rows.mean() + window[0].start, cols.mean() + window[1].start])
        found.append((k, rows.size * enclosure, centroid))
    return regions, found


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, 0.5 * cumulative[-1])])


def _centre_of(per_frame: list[Regions]) -> np.ndarray | None:
    scored = [(score, centroid) for _, found in per_frame for _, score, centroid in found if score > 0]
    if not scored:
        return None
    weights = np.array([score for score, _ in scored])
    points = np.array([centroid for _, centroid in scored])
    return np.array([_weighted_median(points[:, axis], weights) for axis in range(2)])


def stack_centre(labels: np.ndarray) -> np.ndarray | None:
    """Study-wide LV centre (row, col) in pixels: per axis, the median of every cavity
    region's centroid over all frames, weighted by ``area x enclosure``; ``None`` without
    any enclosed cavity.

    Args:
        labels: (..., rows, cols) labels.
    """
    labels = np.asarray(labels)
    return _centre_of([_cavity_regions(frame) for frame in labels.reshape(-1, *labels.shape[-2:])])


def _clean_frame(
    frame: np.ndarray,
    cavities: Regions,
    pixel_mm: tuple[float, float],
    max_wall_mm: float,
    centre: np.ndarray | None,
    max_offset_mm: float | None,
) -> np.ndarray:
    out = np.array(frame, copy=True)
    regions, found = cavities
    if not found:
        return out
    if centre is not None and max_offset_mm is not None:
        spacing = np.asarray(pixel_mm, dtype=float)
        found = [r for r in found if np.linalg.norm((r[2] - centre) * spacing) <= max_offset_mm]
        if not found:
            out[:] = 0
            return out
    keep = regions == max(found, key=lambda r: r[1])[0]
    myocardium = out == MYOCARDIUM
    out[(out == CAVITY) & ~keep] = 0
    distance = ndimage.distance_transform_edt(~keep, sampling=pixel_mm)
    out[myocardium & (distance > max_wall_mm)] = 0
    return out


def keep_enclosed_cavity(
    frame: np.ndarray,
    pixel_mm: tuple[float, float],
    max_wall_mm: float,
    centre: np.ndarray | None = None,
    max_offset_mm: float | None = None,
) -> np.ndarray:
    """One frame: keep the cavity region best enclosed by myocardium and the wall around it.

    Of several cavity regions the one with the largest ``area x enclosure`` stays; the others
    become background. Myocardium farther than ``max_wall_mm`` from the kept cavity becomes
    background. A frame without cavity is returned unchanged.

    Args:
        frame: (rows, cols) labels (0 background, 1 myocardium, 2 cavity).
        pixel_mm: (row, col) pixel spacing.
        max_wall_mm: the thickest wall expected.
        centre: the study's LV centre (row, col) in pixels (see :func:`stack_centre`).
        max_offset_mm: with ``centre``, cavity regions whose centroid lies farther from it
            are dropped; a frame left without cavity is cleared (background only).

    Returns:
        The cleaned copy.
    """
    return _clean_frame(frame, _cavity_regions(frame), pixel_mm, max_wall_mm, centre, max_offset_mm)


def keep_largest_component(labels: np.ndarray) -> np.ndarray:
    """Per frame, keep only the largest connected region of myocardium ∪ cavity.

    Args:
        labels: (..., rows, cols) labels.

    Returns:
        A copy where every other labelled region is background.
    """
    out = np.asarray(labels).copy()
    flat = out.reshape(-1, *out.shape[-2:])
    for frame in flat:
        regions, count = ndimage.label(frame > 0)
        if count > 1:
            sizes = np.bincount(regions.ravel())[1:]
            frame[(regions > 0) & (regions != 1 + int(np.argmax(sizes)))] = 0
    return out


def clean_labels(
    labels: np.ndarray, pixel_mm: tuple[float, float], max_wall_mm: float, max_offset_mm: float | None = None
) -> np.ndarray:
    """:func:`keep_enclosed_cavity` on every frame of (..., rows, cols) labels, then :func:`keep_largest_component`.

    Args:
        labels: (slices, phases, rows, cols) labels of one study (any leading shape).
        pixel_mm: (row, col) pixel spacing.
        max_wall_mm: the thickest wall expected.
        max_offset_mm: how far a frame's LV may lie from the study's LV centre
            (:func:`stack_centre`); ``None``: no study-wide check.
    """
    out = np.asarray(labels).copy()
    box = _labelled_box(out)
    if box is None:
        return out
    # every step is local to the labelled pixels and their one-pixel border, so working in
    # the box around them gives the same labels as the whole frame, several times faster
    region = out[box]
    flat = region.reshape(-1, *region.shape[-2:])
    cavities = [_cavity_regions(frame) for frame in flat]  # found once, used for the centre and the frames
    centre = _centre_of(cavities) if max_offset_mm is not None else None
    for index in range(flat.shape[0]):
        flat[index] = _clean_frame(flat[index], cavities[index], pixel_mm, max_wall_mm, centre, max_offset_mm)
    out[box] = keep_largest_component(flat).reshape(region.shape)
    return out


def _labelled_box(labels: np.ndarray) -> tuple[slice, ...] | None:
    """Index of the (rows, cols) box holding every labelled pixel of every frame, one pixel
    wider on each side (within the frame); ``None`` when nothing is labelled."""
    rows = np.flatnonzero(labels.any(axis=tuple(range(labels.ndim - 2)) + (labels.ndim - 1,)))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(labels.any(axis=tuple(range(labels.ndim - 1))))
    sides = [slice(max(index[0] - 1, 0), index[-1] + 2) for index in (rows, cols)]
    return (Ellipsis, *sides)
