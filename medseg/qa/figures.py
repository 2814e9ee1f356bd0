"""Figures of the QA pages, rendered with matplotlib (Agg) into base64 PNG data URIs.

Slices are resampled onto world-aligned (LPS) planes with isotropic pixels, so the aspect
is right whatever the acquisition spacing or direction, and every panel is labelled with
its orientation letters (radiological convention: patient right on the image left).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import SimpleITK as sitk  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Circle  # noqa: E402

__all__ = [
    "to_data_uri",
    "world_plane",
    "ear_views",
    "lv_strip",
    "area_curves",
    "error_distribution",
    "confusion_matrices",
    "dice_per_subject",
    "volume_curves",
]

#: Planes: name -> (horizontal world axis, vertical world axis, normal axis, labels (left, right, top, bottom)).
PLANES: dict[str, tuple[int, int, int, tuple[str, str, str, str]]] = {
    "axial": (0, 1, 2, ("R", "L", "A", "P")),
    "coronal": (0, 2, 1, ("R", "L", "S", "I")),
    "sagittal": (1, 2, 0, ("A", "P", "S", "I")),
}
CT_WINDOW = (-1100.0, 1900.0)  # bone window (level 400, width 3000 HU)


def to_data_uri(fig: Figure, dpi: int = 90) -> str:
    """Render ``fig`` as a PNG data URI and close it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def world_plane(
    image: sitk.Image, centre: Sequence[float], plane: str, half_width_mm: float, pixel_mm: float, default: float = 0.0,
    interpolator: int = sitk.sitkLinear,
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """Sample ``image`` on a world-aligned plane through ``centre``.

    Args:
        image: a 3D image (any direction).
        centre: LPS point (mm) the plane passes through and is centred on.
        plane: ``axial``, ``coronal`` or ``sagittal``.
        half_width_mm: half the field of view.
        pixel_mm: isotropic pixel size.
        default: value outside the image.
        interpolator: SimpleITK interpolator.

    Returns:
        ``(array[rows, cols], extent)``; rows run along the vertical world axis, columns
        along the horizontal one, both increasing with the world coordinate; ``extent`` is
        (h0, h1, v0, v1) in mm for ``imshow(origin="lower")``.
    """
    h_axis, v_axis, _, _ = PLANES[plane]
    n = max(2, int(round(2 * half_width_mm / pixel_mm)) + 1)
    origin = np.asarray(centre, float).copy()
    origin[h_axis] -= half_width_mm
    origin[v_axis] -= half_width_mm
    size = [1, 1, 1]
    size[h_axis] = n
    size[v_axis] = n
    reference = sitk.Image(size, sitk.sitkFloat32)
    reference.SetSpacing([pixel_mm] * 3)
    reference.SetOrigin([float(v) for v in origin])
    reference.SetDirection(np.eye(3).ravel().tolist())
    resampled = sitk.Resample(sitk.Cast(image, sitk.sitkFloat32), reference, sitk.Transform(), interpolator, float(default))
    array = sitk.GetArrayFromImage(resampled)  # (z, y, x)
    # squeeze the normal axis; the remaining array is (v, h) with numpy axis order z,y,x reversed
    axes_zyx = {0: 2, 1: 1, 2: 0}
    keep = sorted([axes_zyx[h_axis], axes_zyx[v_axis]])
    plane_array = array.reshape([array.shape[i] for i in keep])
    if axes_zyx[v_axis] > axes_zyx[h_axis]:
        plane_array = plane_array.T
    extent = (origin[h_axis], origin[h_axis] + (n - 1) * pixel_mm, origin[v_axis], origin[v_axis] + (n - 1) * pixel_mm)
    return plane_array, extent


def _orient_axes(ax: Any, plane: str, extent: tuple[float, float, float, float]) -> None:
    """Flip axes so that the display follows the radiological convention and label the edges."""
    h_axis, v_axis, _, labels = PLANES[plane]
    left, right, top, bottom = labels
    h0, h1, v0, v1 = extent
    ax.set_xlim(h0, h1)  # LPS x grows to patient left -> image right; y (posterior) -> right in sagittal
    if plane == "axial":
        ax.set_ylim(v1, v0)  # posterior at the bottom: y grows downwards
    else:
        ax.set_ylim(v0, v1)  # superior (z grows) at the top
    style = dict(color="yellow", fontsize=10, fontweight="bold", transform=ax.transAxes, ha="center", va="center")
    ax.text(0.03, 0.5, left, **style)
    ax.text(0.97, 0.5, right, **style)
    ax.text(0.5, 0.96, top, **style)
    ax.text(0.5, 0.04, bottom, **style)
    ax.set_xticks([])
    ax.set_yticks([])


def ear_views(
    image: sitk.Image,
    centre: Sequence[float],
    heatmap: sitk.Image | None = None,
    markers: Sequence[Mapping[str, Any]] = (),
    regions: Sequence[Mapping[str, Any]] = (),
    title: str = "",
    half_width_mm: float = 25.0,
    pixel_mm: float | None = None,
) -> str:
    """Axial, coronal and sagittal slices through ``centre`` with overlays.

    Args:
        image: the CT (HU).
        centre: LPS point the three planes pass through.
        heatmap: the ear's heatmap on any grid (overlaid where above 5 % of its maximum).
        markers: points to mark: ``{"position": LPS, "label", "color", "marker"}``.
        regions: dashed circles: ``{"position": LPS, "radius_mm", "label", "color"}``.
        title: figure title.
        half_width_mm: half field of view.
        pixel_mm: display pixel size (default: the finest image spacing, at least 0.25 mm).

    Returns:
        A PNG data URI.
    """
    if pixel_mm is None:
        pixel_mm = max(0.25, min(image.GetSpacing()))
        pixel_mm = max(pixel_mm, 2 * half_width_mm / 400)
    hmax = None
    if heatmap is not None:
        hmax = float(sitk.GetArrayViewFromImage(heatmap).max()) or None
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.9))
    for ax, plane in zip(axes, ("axial", "coronal", "sagittal")):
        array, extent = world_plane(image, centre, plane, half_width_mm, pixel_mm, default=-1024.0)
        ax.imshow(array, cmap="gray", vmin=CT_WINDOW[0], vmax=CT_WINDOW[1], extent=extent, origin="lower", interpolation="bilinear")
        if heatmap is not None and hmax:
            heat, _ = world_plane(heatmap, centre, plane, half_width_mm, pixel_mm, default=0.0)
            heat = np.ma.masked_less(heat, 0.05 * hmax)
            ax.imshow(heat, cmap="inferno", alpha=0.45, vmin=0.0, vmax=hmax, extent=extent, origin="lower", interpolation="bilinear")
        h_axis, v_axis, n_axis, _ = PLANES[plane]
        for region in regions:
            p = np.asarray(region["position"], float)
            r = float(region.get("radius_mm", 8.0))
            distance = abs(p[n_axis] - centre[n_axis])
            if distance < r:
                shown = float(np.sqrt(r * r - distance * distance))
                ax.add_patch(Circle((p[h_axis], p[v_axis]), shown, fill=False, ls="--", lw=1.8, color=region.get("color", "cyan")))
        for marker in markers:
            p = np.asarray(marker["position"], float)
            near = abs(p[n_axis] - centre[n_axis]) <= 3.0
            ax.plot(
                [p[h_axis]], [p[v_axis]], marker=marker.get("marker", "+"), ms=16 if near else 9, mew=2.2,
                color=marker.get("color", "lime"), mfc="none", ls="none", alpha=1.0 if near else 0.5,
                label=marker.get("label"), zorder=marker.get("zorder", 3),
            )
        _orient_axes(ax, plane, extent)
        ax.set_title(f"{plane}  ({2 * half_width_mm:.0f} mm)", fontsize=10)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=9, frameon=False)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0.06 if handles else 0, 1, 1))
    return to_data_uri(fig)


def _bbox(masks: Sequence[np.ndarray], shape: tuple[int, int], margin: int) -> tuple[slice, slice]:
    any_mask = np.zeros(shape, bool)
    for m in masks:
        if m is not None:
            any_mask |= m
    if not any_mask.any():
        return slice(0, shape[0]), slice(0, shape[1])
    rows, cols = np.nonzero(any_mask)
    r0, r1 = max(0, rows.min() - margin), min(shape[0], rows.max() + margin + 1)
    c0, c1 = max(0, cols.min() - margin), min(shape[1], cols.max() + margin + 1)
    side = max(r1 - r0, c1 - c0)
    rc, cc = (r0 + r1) // 2, (c0 + c1) // 2
    r0, c0 = max(0, rc - side // 2), max(0, cc - side // 2)
    return slice(r0, min(shape[0], r0 + side)), slice(c0, min(shape[1], c0 + side))


def lv_strip(
    frames: np.ndarray,
    predicted: np.ndarray,
    reference: np.ndarray | None,
    spacing: tuple[float, float],
    flagged: Sequence[int] = (),
    title: str = "",
    per_row: int = 15,
) -> str:
    """Every frame of one slice with predicted (and reference) myocardium contours.

    Args:
        frames: (phases, rows, cols) intensities.
        predicted: (phases, rows, cols) predicted myocardium mask.
        reference: (phases, rows, cols) reference myocardium mask, with frames that have no
            reference set to None-like (all False and listed nowhere); pass None for none.
        spacing: (row, col) pixel spacing, mm (sets the aspect).
        flagged: phases to outline in red.
        title: figure title.
        per_row: frames per row of the strip.

    Returns:
        A PNG data URI.
    """
    phases = frames.shape[0]
    per_row = int(np.ceil(phases / np.ceil(phases / max(1, per_row))))
    masks = [predicted[t] for t in range(phases)]
    if reference is not None:
        masks += [reference[t] for t in range(phases)]
    margin = int(round(12.0 / max(spacing)))
    rs, cs = _bbox(masks, frames.shape[1:], margin)
    crop = frames[:, rs, cs]
    lo, hi = np.percentile(crop, [1, 99.5]) if crop.size else (0.0, 1.0)
    n_rows = int(np.ceil(phases / per_row))
    n_cols = min(per_row, phases)
    height_mm = crop.shape[1] * spacing[0]
    width_mm = crop.shape[2] * spacing[1]
    panel = 1.25
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(panel * n_cols, panel * n_rows * height_mm / max(width_mm, 1e-6) + 0.5), squeeze=False)
    extent = (0, width_mm, height_mm, 0)
    for t in range(n_rows * n_cols):
        ax = axes[t // n_cols][t % n_cols]
        ax.set_xticks([])
        ax.set_yticks([])
        if t >= phases:
            ax.axis("off")
            continue
        ax.imshow(crop[t], cmap="gray", vmin=lo, vmax=hi, extent=extent, interpolation="nearest")
        yy = (np.arange(crop.shape[1]) + 0.5) * spacing[0]
        xx = (np.arange(crop.shape[2]) + 0.5) * spacing[1]
        if predicted[t][rs, cs].any():
            ax.contour(xx, yy, predicted[t][rs, cs].astype(float), levels=[0.5], colors="yellow", linewidths=1.0)
        if reference is not None and reference[t][rs, cs].any():
            ax.contour(xx, yy, reference[t][rs, cs].astype(float), levels=[0.5], colors="cyan", linewidths=1.2, linestyles="dashed")
        ax.set_xlim(0, width_mm)
        ax.set_ylim(height_mm, 0)
        ax.set_title(f"{t}", fontsize=8, color="red" if t in flagged else "black", fontweight="bold" if t in flagged else "normal")
        if t in flagged:
            for spine in ax.spines.values():
                spine.set_edgecolor("red")
                spine.set_linewidth(2.5)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(pad=0.3, h_pad=0.8)
    return to_data_uri(fig, dpi=80)


def area_curves(
    areas: np.ndarray, reference: np.ndarray | None = None, jumps: Sequence[tuple[int, int]] = (), title: str = ""
) -> str:
    """Myocardial area (mm²) over the cardiac cycle, one line per slice.

    Args:
        areas: (slices, phases) predicted areas.
        reference: (slices, phases) reference areas, NaN where not annotated.
        jumps: (slice, phase) where an abrupt change was flagged.
        title: figure title.
    """
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    phases = np.arange(areas.shape[1])
    colours = plt.cm.viridis(np.linspace(0, 0.9, max(1, areas.shape[0])))
    for z in range(areas.shape[0]):
        ax.plot(phases, areas[z], "-o", ms=3, color=colours[z], label=f"slice {z}")
        if reference is not None and np.isfinite(reference[z]).any():
            ax.plot(phases, reference[z], "--s", ms=3, color=colours[z], alpha=0.7)
    for z, t in jumps:
        ax.plot([t], [areas[z, t]], "o", ms=11, mfc="none", mec="red", mew=2)
    ax.set_xlabel("phase (frame)")
    ax.set_ylabel("myocardium area (mm²)")
    ax.grid(alpha=0.3)
    if areas.shape[0] <= 12:
        ax.legend(fontsize=7, ncol=2, loc="best")
    ax.set_title(title or "solid: prediction, dashed: reference, red circle: abrupt change", fontsize=9)
    fig.tight_layout()
    return to_data_uri(fig)


def error_distribution(errors: Mapping[str, Sequence[float]], radius_mm: float | None = None) -> str:
    """Localisation error (mm) per variant: box plot with every ear as a dot."""
    variants = list(errors)
    fig, ax = plt.subplots(figsize=(max(4.5, 1.3 * len(variants) + 2), 3.6))
    data = [np.asarray(errors[v], float) for v in variants]
    if any(len(d) for d in data):
        ax.boxplot([d if len(d) else [np.nan] for d in data], showfliers=False)
        rng = np.random.default_rng(0)
        for i, d in enumerate(data, start=1):
            ax.plot(i + rng.uniform(-0.15, 0.15, len(d)), d, "o", ms=4, alpha=0.6, color="tab:blue")
    ax.set_xticks(range(1, len(variants) + 1))
    ax.set_xticklabels(variants, rotation=20)
    if radius_mm:
        ax.axhline(radius_mm, color="red", ls="--", lw=1, label=f"match radius {radius_mm:g} mm")
        ax.legend(fontsize=8)
    ax.set_ylabel("localisation error (mm)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return to_data_uri(fig)


def confusion_matrices(matrices: Mapping[str, Sequence[Sequence[int]]]) -> str:
    """0/1/2-ear confusion matrix of each variant (rows: reference, columns: predicted)."""
    variants = list(matrices)
    fig, axes = plt.subplots(1, max(1, len(variants)), figsize=(2.9 * max(1, len(variants)), 2.9), squeeze=False)
    for ax, v in zip(axes[0], variants):
        m = np.asarray(matrices[v], int)
        ax.imshow(m, cmap="Blues", vmin=0, vmax=max(1, m.max()))
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                ax.text(j, i, str(m[i, j]), ha="center", va="center", color="white" if m[i, j] > m.max() / 2 else "black")
        ax.set_xticks(range(m.shape[1]))
        ax.set_yticks(range(m.shape[0]))
        ax.set_xlabel("predicted ears")
        ax.set_ylabel("reference ears")
        ax.set_title(v, fontsize=10)
    fig.tight_layout()
    return to_data_uri(fig)


def dice_per_subject(values: Mapping[str, Mapping[str, float]]) -> str:
    """Myocardium Dice per subject (x) for each variant (colour)."""
    variants = list(values)
    subjects = sorted({s for v in variants for s in values[v]})
    fig, ax = plt.subplots(figsize=(max(5.0, 0.45 * len(subjects) + 3), 3.6))
    width = 0.8 / max(1, len(variants))
    for i, v in enumerate(variants):
        xs = np.arange(len(subjects)) + (i - (len(variants) - 1) / 2) * width
        ys = [values[v].get(s, np.nan) for s in subjects]
        ax.plot(xs, ys, "o", ms=6, label=v)
    ax.set_xticks(range(len(subjects)))
    ax.set_xticklabels(subjects, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("myocardium Dice")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return to_data_uri(fig)


def volume_curves(curves: Mapping[str, Sequence[float]]) -> str:
    """Myocardial volume (mL) over the cardiac cycle, one line per case."""
    fig, ax = plt.subplots(figsize=(7.0, 3.6))
    for name, ys in curves.items():
        ax.plot(np.arange(len(ys)), ys, "-o", ms=3, label=name)
    ax.set_xlabel("phase (frame)")
    ax.set_ylabel("myocardial volume (mL)")
    ax.grid(alpha=0.3)
    if len(curves) <= 14:
        ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return to_data_uri(fig)
