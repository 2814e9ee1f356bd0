"""The QA page of one LV case: contour strips per slice, area curves and flags."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from medseg.io.cine import read_cine_array
from medseg.metrics import myocardium_dice
from medseg.qa import figures
from medseg.qa.html import esc, flag_list, nav_bar, page, rating_panel, table
from medseg.qa.rejected_page import check_section, read_check

__all__ = ["LVThresholds", "ring_topology", "read_areas", "lv_flags", "render_lv_page", "write_lv_page"]

MYOCARDIUM = 1
NOT_ANNOTATED = 255


@dataclass(frozen=True)
class LVThresholds:
    """When the page raises a flag.

    Attributes:
        area_jump: relative change of area between neighbouring frames (fraction of the
            slice's median area) that counts as abrupt.
        min_dice: Dice against the reference below this disagrees.
    """

    area_jump: float = 0.25
    min_dice: float = 0.7


def ring_topology(mask: np.ndarray) -> tuple[int, int]:
    """Connected components (8-connected) and holes (4-connected background not touching the border).

    A closed myocardial ring has one component and one hole (Euler number 0).
    """
    mask = np.asarray(mask, bool)
    if not mask.any():
        return 0, 0
    _, components = ndimage.label(mask, structure=np.ones((3, 3), int))
    background, n_background = ndimage.label(~np.pad(mask, 1), structure=ndimage.generate_binary_structure(2, 1))
    outside = background[0, 0]
    holes = n_background - (1 if outside else 0)
    return int(components), int(holes)


def read_areas(path: str | os.PathLike[str]) -> dict[tuple[int, int], float]:
    """``areas.tsv`` as {(slice, phase): area_mm2}; empty when missing or unreadable."""
    path = Path(path)
    if not path.is_file():
        return {}
    out: dict[tuple[int, int], float] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            try:
                out[(int(row["slice"]), int(row["phase"]))] = float(row["area_mm2"])
            except (KeyError, TypeError, ValueError):
                continue
    return out


def _read_prediction(folder: Path) -> np.ndarray:
    for name in ("labels.nii.gz", "myocardium.nii.gz"):
        if (folder / name).is_file():
            labels, _ = read_cine_array(folder / name)
            return labels == MYOCARDIUM
    from medseg.errors import ImageReadError

    raise ImageReadError(f"{folder}: no labels.nii.gz or myocardium.nii.gz")


def lv_flags(
    predicted: np.ndarray,
    reference: np.ndarray | None,
    areas: np.ndarray,
    limits: LVThresholds,
) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """Flags of an LV case and the per-frame findings behind them.

    Args:
        predicted: (slices, phases, rows, cols) myocardium mask.
        reference: (slices, phases, rows, cols) reference labels (255 = not annotated) or None.
        areas: (slices, phases) predicted areas, mm².
        limits: thresholds.

    Returns:
        ``(flags, details)``; details hold ``topology`` {(z, t): (components, holes)} of
        frames that are no closed ring, ``jumps`` [(z, t, relative change)], ``dice``
        {(z, t): value} of frames with a reference myocardium, scored as the evaluation
        scores them (:func:`medseg.metrics.myocardium_dice`).
    """
    slices, phases = predicted.shape[:2]
    not_ring: dict[tuple[int, int], tuple[int, int]] = {}
    for z in range(slices):
        if not predicted[z].any():
            continue  # an empty slice (beyond apex/base) is no topology error
        for t in range(phases):
            topology = ring_topology(predicted[z, t])
            if topology != (1, 1):
                not_ring[(z, t)] = topology
    jumps: list[tuple[int, int, float]] = []
    for z in range(slices):
        typical = float(np.median(areas[z]))
        if typical <= 0 or phases < 2:
            continue
        for t in range(phases):
            change = abs(float(areas[z, t] - areas[z, t - 1])) / typical  # cyclic: phase 0 follows the last
            if change > limits.area_jump:
                jumps.append((z, t, change))
    dice: dict[tuple[int, int], float] = {}
    if reference is not None:
        for z in range(slices):
            for t in range(phases):
                value = myocardium_dice(predicted[z, t], reference[z, t])
                if np.isfinite(value):
                    dice[(z, t)] = value
    flags: list[dict[str, str]] = []
    if not_ring:
        listed = ", ".join(f"s{z}/f{t} ({c} part(s), {h} hole(s))" for (z, t), (c, h) in list(not_ring.items())[:8])
        more = f" and {len(not_ring) - 8} more" if len(not_ring) > 8 else ""
        flags.append({"code": "not_a_ring", "level": "bad", "text": f"myocardium is not one closed ring in {len(not_ring)} frame(s): {listed}{more}"})
    if jumps:
        listed = ", ".join(f"s{z}/f{t} ({c:.0%})" for z, t, c in jumps[:8])
        flags.append({"code": "area_jump", "level": "warn", "text": f"{len(jumps)} abrupt area change(s) above {limits.area_jump:.0%} of the slice median: {listed}"})
    low = {k: v for k, v in dice.items() if v < limits.min_dice}
    if low:
        listed = ", ".join(f"s{z}/f{t} ({v:.2f})" for (z, t), v in list(low.items())[:8])
        flags.append({"code": "reference_disagrees", "level": "bad", "text": f"Dice below {limits.min_dice:g} in {len(low)} of {len(dice)} frame(s) with a reference myocardium: {listed}"})
    if not predicted.any():
        flags.append({"code": "empty", "level": "bad", "text": "no myocardium predicted in any frame"})
    return flags, {"topology": not_ring, "jumps": jumps, "dice": dice}


def render_lv_page(
    ingest_dir: str | os.PathLike[str],
    prediction_dir: str | os.PathLike[str],
    prev_url: str | None = None,
    next_url: str | None = None,
    index_url: str | None = None,
    limits: LVThresholds = LVThresholds(),
) -> str:
    """The HTML of an LV case page.

    Args:
        ingest_dir: the case's ingest folder (``check.json``, ``image.nii.gz``, ``labels.nii.gz``).
        prediction_dir: its prediction folder (``labels.nii.gz`` or ``myocardium.nii.gz``, ``areas.tsv``).
        prev_url: link to the previous case page.
        next_url: link to the next case page.
        index_url: link to the index page.
        limits: flag thresholds.
    """
    ingest_dir, prediction_dir = Path(ingest_dir), Path(prediction_dir)
    check = read_check(ingest_dir)
    case, subject = str(check.get("case", ingest_dir.name)), str(check.get("subject", ""))
    frames, spacing = read_cine_array(ingest_dir / "image.nii.gz")
    predicted = _read_prediction(prediction_dir)
    if predicted.shape != frames.shape:
        from medseg.errors import ImageReadError

        raise ImageReadError(f"{prediction_dir}: prediction grid {predicted.shape} differs from the image {frames.shape}")
    reference = None
    if (ingest_dir / "labels.nii.gz").is_file():
        reference, _ = read_cine_array(ingest_dir / "labels.nii.gz")
        if reference.shape != frames.shape or (reference == NOT_ANNOTATED).all():
            reference = None
    slices, phases = frames.shape[:2]
    pixel_area = spacing[0] * spacing[1]
    areas = predicted.sum(axis=(2, 3)) * pixel_area
    table_areas = read_areas(prediction_dir / "areas.tsv")
    if table_areas:
        for (z, t), value in table_areas.items():
            if z < slices and t < phases:
                areas[z, t] = value
    ref_areas = None
    if reference is not None:
        myocardium = (reference == MYOCARDIUM).sum(axis=(2, 3))
        ref_areas = np.where(myocardium > 0, myocardium * pixel_area, np.nan)
    flags, details = lv_flags(predicted, reference, areas, limits)

    flagged_frames: dict[int, set[int]] = {z: set() for z in range(slices)}
    for (z, t) in details["topology"]:
        flagged_frames[z].add(t)
    for z, t, _ in details["jumps"]:
        flagged_frames[z].add(t)
    for (z, t), v in details["dice"].items():
        if v < limits.min_dice:
            flagged_frames[z].add(t)

    strips = []
    for z in range(slices):
        ref_z = None
        if reference is not None:
            ref_z = np.where((reference[z] == NOT_ANNOTATED), False, reference[z] == MYOCARDIUM)
        dice_z = [v for (zz, _), v in details["dice"].items() if zz == z]
        note = f"; mean Dice {np.mean(dice_z):.3f} over {len(dice_z)} frame(s) with a reference myocardium" if dice_z else ""
        uri = figures.lv_strip(frames[z], predicted[z], ref_z, spacing, sorted(flagged_frames[z]), title=f"slice {z}")
        strips.append(
            f'<figure><img alt="slice {z} frames" src="{uri}"><figcaption>slice {z}: all {phases} frames; '
            f"yellow: predicted myocardium, cyan dashed: reference{esc(note)}; red: flagged frames.</figcaption></figure>"
        )
    curve = figures.area_curves(areas, ref_areas, [(z, t) for z, t, _ in details["jumps"]])
    volume = areas.sum(axis=0) * _slice_spacing(ingest_dir) / 1000.0
    ed, es = int(np.argmax(volume)), int(np.argmin(volume))
    summary_rows = [
        ["slices × phases", f"{slices} × {phases}"],
        ["pixel spacing (mm, row × col)", f"{spacing[0]:.2f} × {spacing[1]:.2f}"],
        ["myocardial volume (mL), max / min", f"{volume.max():.1f} (phase {ed}) / {volume.min():.1f} (phase {es})"],
        ["reference", "yes" if reference is not None else "none"],
    ]
    if details["dice"]:
        values = list(details["dice"].values())
        summary_rows.append(["Dice over frames with a reference myocardium", f"mean {np.mean(values):.3f}, min {np.min(values):.3f} ({len(values)} frames)"])
    body = (
        nav_bar(prev_url, next_url, index_url)
        + "<h2>Verdict</h2>" + table(["", ""], summary_rows)
        + "<h2>Flags</h2>" + flag_list(flags)
        + rating_panel("lv", case)
        + '<h2>Myocardial area over the cardiac cycle</h2><figure><img alt="area curves" src="' + curve + '"></figure>'
        + "<h2>Frames per slice</h2>" + "".join(strips)
        + check_section(check)
    )
    meta = {
        "task": "lv", "case": case, "subject": subject, "status": check.get("status", "accepted"),
        "summary": (f"Dice {np.mean(list(details['dice'].values())):.3f}" if details["dice"] else f"{slices}×{phases} frames"),
        "flags": [f["code"] for f in flags],
    }
    return page(f"LV QA · {case}", body, subtitle=f"subject {subject} · case {case} · task lv", meta=meta)


def _slice_spacing(ingest_dir: Path) -> float:
    try:
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(ingest_dir / "image.nii.gz"))
        reader.ReadImageInformation()
        spacing = reader.GetSpacing()
        return float(spacing[2]) if len(spacing) == 4 else 1.0
    except RuntimeError:
        return 1.0


def write_lv_page(out: str | os.PathLike[str], *args: Any, **kwargs: Any) -> Path:
    """Render with :func:`render_lv_page` and write atomically to ``out``."""
    from medseg.io.atomic import write_text

    return write_text(out, render_lv_page(*args, **kwargs))
