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

__all__ = ["MYOCARDIUM", "CAVITY", "stack_centre", "keep_enclosed_cavity", "keep_largest_component", "clean_labels"]

MYOCARDIUM, CAVITY = 1, 2


def _enclosure(region: np.ndarray, myocardium: np.ndarray) -> float:
    """Share of the pixels just outside ``region`` that are myocardium."""
    border = ndimage.binary_dilation(region) & ~region
    return float(myocardium[border].mean()) if border.any() else 0.0


def _cavity_regions(frame: np.ndarray) -> list[tuple[np.ndarray, float, np.ndarray]]:
    """Each cavity region of a frame: (mask, area x enclosure score, centroid in pixels)."""
    regions, count = ndimage.label(frame == CAVITY)
    myocardium = frame == MYOCARDIUM
    out = []
    for k in range(1, count + 1):
        mask = regions == k
        out.append((mask, np.count_nonzero(mask) * _enclosure(mask, myocardium), np.argwhere(mask).mean(axis=0)))
    return out


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, 0.5 * cumulative[-1])])


def stack_centre(labels: np.ndarray) -> np.ndarray | None:
    """Study-wide LV centre (row, col) in pixels: per axis, the median of every cavity
    region's centroid over all frames, weighted by ``area x enclosure``; ``None`` without
    any enclosed cavity.

    Args:
        labels: (..., rows, cols) labels.
    """
    centroids, weights = [], []
    for frame in np.asarray(labels).reshape(-1, *np.shape(labels)[-2:]):
        for _, score, centroid in _cavity_regions(frame):
            if score > 0:
                centroids.append(centroid)
                weights.append(score)
    if not weights:
        return None
    points, w = np.array(centroids), np.array(weights)
    return np.array([_weighted_median(points[:, axis], w) for axis in range(2)])


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
    out = np.array(frame, copy=True)
    regions = _cavity_regions(out)
    if not regions:
        return out
    if centre is not None and max_offset_mm is not None:
        spacing = np.asarray(pixel_mm, dtype=float)
        near = [r for r in regions if np.linalg.norm((r[2] - centre) * spacing) <= max_offset_mm]
        if not near:
            out[:] = 0
            return out
        regions = near
    keep = max(regions, key=lambda r: r[1])[0]
    myocardium = out == MYOCARDIUM
    out[(out == CAVITY) & ~keep] = 0
    distance = ndimage.distance_transform_edt(~keep, sampling=pixel_mm)
    out[myocardium & (distance > max_wall_mm)] = 0
    return out


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
    centre = stack_centre(out) if max_offset_mm is not None else None
    flat = out.reshape(-1, *out.shape[-2:])
    for index in range(flat.shape[0]):
        flat[index] = keep_enclosed_cavity(flat[index], pixel_mm, max_wall_mm, centre, max_offset_mm)
    return keep_largest_component(out)
