"""Anatomical clean-up of predicted short-axis labels, frame by frame.

In a short-axis slice the LV cavity is the blood pool the myocardium encloses, and the
myocardium is a wall around it. Networks trained on few subjects sometimes also label the
right ventricle (bright blood beside the septum, with a wall of its own) or a stray patch.
The clean-up keeps the cavity region best enclosed by myocardium, drops myocardium farther
than the thickest expected wall from it, and then keeps the largest connected region.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["MYOCARDIUM", "CAVITY", "keep_enclosed_cavity", "keep_largest_component", "clean_labels"]

MYOCARDIUM, CAVITY = 1, 2


def _enclosure(region: np.ndarray, myocardium: np.ndarray) -> float:
    """Share of the pixels just outside ``region`` that are myocardium."""
    border = ndimage.binary_dilation(region) & ~region
    return float(myocardium[border].mean()) if border.any() else 0.0


def keep_enclosed_cavity(frame: np.ndarray, pixel_mm: tuple[float, float], max_wall_mm: float) -> np.ndarray:
    """One frame: keep the cavity region best enclosed by myocardium and the wall around it.

    Of several cavity regions the one with the largest ``area x enclosure`` stays; the others
    become background. Myocardium farther than ``max_wall_mm`` from the kept cavity becomes
    background. A frame without cavity is returned unchanged.

    Args:
        frame: (rows, cols) labels (0 background, 1 myocardium, 2 cavity).
        pixel_mm: (row, col) pixel spacing.
        max_wall_mm: the thickest wall expected.

    Returns:
        The cleaned copy.
    """
    out = np.array(frame, copy=True)
    cavity = out == CAVITY
    regions, count = ndimage.label(cavity)
    if count == 0:
        return out
    myocardium = out == MYOCARDIUM
    if count > 1:
        scores = [np.count_nonzero(regions == k) * _enclosure(regions == k, myocardium) for k in range(1, count + 1)]
        keep = regions == 1 + int(np.argmax(scores))
        out[cavity & ~keep] = 0
        cavity = keep
    distance = ndimage.distance_transform_edt(~cavity, sampling=pixel_mm)
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


def clean_labels(labels: np.ndarray, pixel_mm: tuple[float, float], max_wall_mm: float) -> np.ndarray:
    """:func:`keep_enclosed_cavity` on every frame of (..., rows, cols) labels, then :func:`keep_largest_component`."""
    out = np.asarray(labels).copy()
    flat = out.reshape(-1, *out.shape[-2:])
    for index in range(flat.shape[0]):
        flat[index] = keep_enclosed_cavity(flat[index], pixel_mm, max_wall_mm)
    return keep_largest_component(out)
