"""Segmentation metrics in physical units: Dice, Hausdorff distance, HD95, APD.

All distances are in mm, computed with the pixel spacing ``(row, col)`` of the grid.

Edge cases (documented contract):
    * both masks empty: Dice 1.0 and every distance 0.0 (perfect agreement on "nothing");
    * exactly one mask empty: Dice 0.0 and every distance ``nan`` (undefined); aggregations
      skip ``nan`` and report how many values were undefined.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from skimage.measure import find_contours

MYOCARDIUM = 1
CAVITY = 2


def dice(prediction: np.ndarray, reference: np.ndarray) -> float:
    """Dice overlap of two binary masks (1.0 when both are empty)."""
    a, b = np.asarray(prediction, bool), np.asarray(reference, bool)
    total = int(a.sum()) + int(b.sum())
    if total == 0:
        return 1.0
    return 2.0 * float(np.logical_and(a, b).sum()) / total


def myocardium_dice(prediction: np.ndarray, reference: np.ndarray) -> float:
    """Dice of a predicted myocardium mask against reference labels, as the evaluation scores it.

    Reference pixels labelled 255 (not annotated) are left out of the prediction; a frame
    whose reference has no myocardium (label 1), such as one annotated with its endocardium
    only, has no myocardium Dice (``nan``).

    Args:
        prediction: binary myocardium mask.
        reference: reference labels (0 bg, 1 myocardium, 2 cavity, 255 not annotated).
    """
    ref = np.asarray(reference)
    ref_myo = ref == MYOCARDIUM
    if not ref_myo.any():
        return float("nan")
    return dice(np.asarray(prediction, bool) & (ref != 255), ref_myo)


def _surface_distances(
    prediction: np.ndarray, reference: np.ndarray, spacing: Sequence[float]
) -> tuple[np.ndarray, np.ndarray] | None:
    from monai.metrics.utils import get_mask_edges, get_surface_distance  # importing MONAI costs seconds; `lv segment` never needs it

    a, b = np.asarray(prediction, bool), np.asarray(reference, bool)
    edges_pred, edges_ref = get_mask_edges(a, b, crop=True)
    spacing = list(map(float, spacing))
    d_pred_to_ref = np.asarray(get_surface_distance(edges_pred, edges_ref, spacing=spacing))
    d_ref_to_pred = np.asarray(get_surface_distance(edges_ref, edges_pred, spacing=spacing))
    return d_pred_to_ref, d_ref_to_pred


def hausdorff(
    prediction: np.ndarray, reference: np.ndarray, spacing: Sequence[float], percentile: float | None = None
) -> float:
    """Symmetric Hausdorff distance between mask boundaries, in mm.

    Args:
        prediction: binary mask (any dimension).
        reference: binary mask of the same shape.
        spacing: pixel spacing per axis in mm.
        percentile: ``None`` for the maximum (HD), e.g. 95 for HD95 (the larger of the
            two directed 95th percentiles, as in MONAI).

    Returns:
        Distance in mm (0.0 if both empty, nan if exactly one is empty).
    """
    a, b = np.asarray(prediction, bool), np.asarray(reference, bool)
    if not a.any() and not b.any():
        return 0.0
    if not a.any() or not b.any():
        return float("nan")
    d1, d2 = _surface_distances(a, b, spacing)
    if percentile is None:
        return float(max(d1.max(), d2.max()))
    return float(max(np.percentile(d1, percentile), np.percentile(d2, percentile)))


def mask_contours(mask: np.ndarray) -> list[np.ndarray]:
    """Sub-pixel boundary contours of a 2D binary mask (level 0.5), as (row, col) points."""
    padded = np.pad(np.asarray(mask, dtype=np.float32), 1)
    return [c - 1.0 for c in find_contours(padded, 0.5)]


def _point_to_segments(points: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    seg = ends - starts
    length2 = np.maximum((seg**2).sum(axis=1), 1e-12)
    rel = points[:, None, :] - starts[None, :, :]
    t = np.clip((rel * seg[None]).sum(axis=2) / length2[None], 0.0, 1.0)
    closest = starts[None] + t[..., None] * seg[None]
    return np.sqrt(((points[:, None, :] - closest) ** 2).sum(axis=2)).min(axis=1)


def average_perpendicular_distance(
    prediction: np.ndarray, reference: np.ndarray, spacing: Sequence[float]
) -> float:
    """Average perpendicular distance (APD) of a predicted 2D contour to the reference, mm.

    The mean over every point of the predicted boundary (sub-pixel contour at level 0.5)
    of its distance to the reference boundary polyline.

    Args:
        prediction: 2D binary mask whose boundary is the predicted contour.
        reference: 2D binary mask whose boundary is the reference contour.
        spacing: (row, col) pixel spacing in mm.

    Returns:
        APD in mm (0.0 if both empty, nan if exactly one is empty).
    """
    a, b = np.asarray(prediction, bool), np.asarray(reference, bool)
    if a.ndim != 2:
        raise ValueError("APD is defined on 2D masks")
    if not a.any() and not b.any():
        return 0.0
    if not a.any() or not b.any():
        return float("nan")
    scale = np.asarray(spacing, dtype=np.float64)
    pred_points = np.concatenate(mask_contours(a)) * scale
    starts, ends = [], []
    for contour in mask_contours(b):
        contour = contour * scale
        starts.append(contour[:-1])
        ends.append(contour[1:])
    s, e = np.concatenate(starts), np.concatenate(ends)
    distances = np.concatenate([
        _point_to_segments(pred_points[i : i + 512], s, e) for i in range(0, len(pred_points), 512)
    ])
    return float(distances.mean())


def frame_metrics(prediction: np.ndarray, reference: np.ndarray, spacing: Sequence[float]) -> dict[str, float]:
    """Every LV metric of one 2D frame of labels (0 bg, 1 myocardium, 2 cavity).

    Reference pixels labelled 255 (not annotated) are ignored for the myocardium metrics;
    the cavity metrics compare the whole frame (a frame annotated with its endocardium only
    still says where the cavity is not). Myocardium
    metrics and the epicardial APD need a reference myocardium (label 1) in the frame and
    the endocardial APD a reference cavity (label 2); otherwise they are ``nan``.

    Args:
        prediction: (rows, cols) predicted labels.
        reference: (rows, cols) reference labels.
        spacing: (row, col) pixel spacing in mm.

    Returns:
        ``dice``, ``hd``, ``hd95`` (myocardium), ``apd_endo``, ``apd_epi`` (mm), and
        ``dice_cavity``.
    """
    pred = np.asarray(prediction)
    ref = np.asarray(reference)
    ignore = ref == 255
    pred_cav, ref_cav = pred == CAVITY, ref == CAVITY
    pred_myo, ref_myo = (pred == MYOCARDIUM) & ~ignore, ref == MYOCARDIUM
    nan = float("nan")
    has_myo, has_cav = bool(ref_myo.any()), bool(ref_cav.any())
    return {
        "dice": myocardium_dice(pred == MYOCARDIUM, ref),
        "hd": hausdorff(pred_myo, ref_myo, spacing) if has_myo else nan,
        "hd95": hausdorff(pred_myo, ref_myo, spacing, percentile=95) if has_myo else nan,
        "apd_endo": average_perpendicular_distance(pred_cav, ref_cav, spacing) if has_cav else nan,
        "apd_epi": average_perpendicular_distance(pred_myo | pred_cav, ref_myo | ref_cav, spacing)
        if has_myo
        else nan,
        "dice_cavity": dice(pred_cav, ref_cav) if has_cav else nan,
    }


def mean_sd(values: Sequence[float]) -> dict[str, float | int]:
    """Mean, SD (ddof=1 when n > 1), n and number of undefined (nan) values."""
    array = np.asarray(list(values), dtype=np.float64)
    finite = array[np.isfinite(array)]
    return {
        "mean": float(finite.mean()) if finite.size else float("nan"),
        "sd": float(finite.std(ddof=1)) if finite.size > 1 else 0.0 if finite.size else float("nan"),
        "n": int(finite.size),
        "n_undefined": int(array.size - finite.size),
    }


def mean_sd_text(stats: Mapping[str, Any], digits: int = 4) -> str:
    """``mean ± SD`` of a :func:`mean_sd` result, with ``(n=k of m)`` when the metric is
    undefined for some of the values (a subject without a reference myocardium), so that a
    table's subject count never overstates what a figure averages; ``–`` when none is defined."""
    mean, sd = stats.get("mean"), stats.get("sd")
    if mean is None or not np.isfinite(mean):
        return "–"
    text = f"{mean:.{digits}f} ± {sd:.{digits}f}"
    n, undefined = int(stats.get("n") or 0), int(stats.get("n_undefined") or 0)
    return text + (f" (n={n} of {n + undefined})" if undefined else "")
