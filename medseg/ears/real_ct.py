"""A trained model on a real CT: does it find the annotated ears, and nothing in crops without them?

Phantom metrics say how well the method works where its assumptions hold; a real scan says
whether the model has learnt anatomy rather than the phantom. The check runs the model on
the whole CT (expected: two ears near the annotated positions, sided or not) and on crops
along the patient's superior-inferior axis that hold no skull base (jaw, neck, vertex:
expected none), and writes one summary with every detection kept for the QA pages.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from medseg.checks import check_image, read_checked
from medseg.ears.detect import detect, write_detection
from medseg.ears.model_io import EarsModel, load_model
from medseg.ears.targets import EAR_SIDES
from medseg.errors import InputRejected
from medseg.io.atomic import atomic_dir, write_json
from medseg.io.landmarks import read_landmarks

__all__ = ["crop_superior_inferior", "match_unsided", "strongest_response_near", "check_real_ct"]


def superior_axis(image: sitk.Image) -> int:
    """The image axis most aligned with the patient's inferior-superior (LPS z) axis."""
    return int(np.argmax(np.abs(np.asarray(image.GetDirection(), float).reshape(3, 3)[2])))


def crop_superior_inferior(image: sitk.Image, low_mm: float, high_mm: float) -> sitk.Image:
    """The slab of ``image`` whose voxel centres lie between two LPS z values (inferior to superior).

    The image axis most aligned with the patient's z axis is cut; geometry is kept.

    Raises:
        InputRejected: the range holds no voxel of the image.
    """
    axis = superior_axis(image)
    size = image.GetSize()
    centre = [(n - 1) / 2 for n in size]
    keep = []
    for k in range(size[axis]):
        index = list(centre)
        index[axis] = k
        z = image.TransformContinuousIndexToPhysicalPoint(index)[2]
        if low_mm <= z <= high_mm:
            keep.append(k)
    if not keep:
        raise InputRejected(f"no slice of the image lies between z = {low_mm:g} and {high_mm:g} mm")
    index = [0, 0, 0]
    extent = list(size)
    index[axis], extent[axis] = min(keep), len(keep)
    return sitk.RegionOfInterest(image, extent, index)


def match_unsided(annotated: Sequence[np.ndarray], found: Sequence[np.ndarray]) -> list[dict[str, Any]]:
    """Pair annotated points with found ones (nearest first, each used once).

    Returns:
        One entry per annotated point: its position, the matched found point (or None) and
        the distance in mm.
    """
    pairs = sorted(
        ((float(np.linalg.norm(a - f)), i, j) for i, a in enumerate(annotated) for j, f in enumerate(found)),
    )
    used_a: set[int] = set()
    used_f: set[int] = set()
    matched: dict[int, tuple[int, float]] = {}
    for distance, i, j in pairs:
        if i in used_a or j in used_f:
            continue
        used_a.add(i)
        used_f.add(j)
        matched[i] = (j, distance)
    out = []
    for i, point in enumerate(annotated):
        j, distance = matched.get(i, (None, None))
        out.append(
            {
                "annotated_lps": [round(float(v), 2) for v in point],
                "found_lps": None if j is None else [round(float(v), 2) for v in found[j]],
                "distance_mm": None if distance is None else round(distance, 2),
            }
        )
    return out


def _found_ears(document: Mapping[str, Any]) -> list[tuple[str, np.ndarray, float]]:
    return [
        (side, np.asarray(document["ears"][side]["position_lps"], float), float(document["ears"][side]["score"]))
        for side in EAR_SIDES
        if document["ears"][side]["present"]
    ]


def strongest_response_near(
    heatmaps: Mapping[str, sitk.Image], point: Sequence[float], radius_mm: float
) -> dict[str, Any] | None:
    """The strongest heatmap value (either channel) within ``radius_mm`` of a world point.

    Says what the model makes of an annotated ear even when it finds none there: a miss by
    a hair and a miss by a mile read differently.

    Args:
        heatmaps: side -> heatmap image (all on one grid).
        point: LPS position, mm.
        radius_mm: search radius.

    Returns:
        ``{"score", "channel", "position_lps", "distance_mm"}``, or ``None`` when the
        radius holds no voxel or only zeros.
    """
    reference = next(iter(heatmaps.values()))
    spacing = np.asarray(reference.GetSpacing(), float)
    direction = np.asarray(reference.GetDirection(), float).reshape(3, 3)
    origin = np.asarray(reference.GetOrigin(), float)
    centre = np.asarray(reference.TransformPhysicalPointToContinuousIndex([float(v) for v in point]))
    reach = np.ceil(radius_mm / spacing).astype(int)
    size = np.asarray(reference.GetSize())
    low = np.clip(np.floor(centre).astype(int) - reach, 0, size)
    high = np.clip(np.ceil(centre).astype(int) + reach + 1, 0, size)
    if np.any(high <= low):
        return None
    grid = np.stack(np.meshgrid(*[np.arange(a, b) for a, b in zip(low, high)], indexing="ij"), axis=-1)
    world = origin + (grid * spacing) @ direction.T
    distance = np.linalg.norm(world - np.asarray(point, float), axis=-1)
    best: dict[str, Any] | None = None
    for side, image in heatmaps.items():
        values = sitk.GetArrayViewFromImage(image)[low[2] : high[2], low[1] : high[1], low[0] : high[0]].transpose(2, 1, 0)
        values = np.where(distance <= radius_mm, values, -np.inf)
        at = np.unravel_index(int(np.argmax(values)), values.shape)
        if values[at] > 0 and (best is None or values[at] > best["score"]):
            best = {
                "score": round(float(values[at]), 3),
                "channel": side,
                "position_lps": [round(float(v), 2) for v in world[at]],
                "distance_mm": round(float(distance[at]), 1),
            }
    return best


def check_real_ct(
    image_path: str | os.PathLike[str],
    annotation_path: str | os.PathLike[str],
    model_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    crops: Mapping[str, Sequence[float]],
    allow_offset: bool = False,
    match_radius_mm: float = 15.0,
    name: str | None = None,
    device: str = "auto",
) -> dict[str, Any]:
    """Run a model on a real CT and on crops of it without ears; write the summary.

    Args:
        image_path: the CT (file or DICOM folder).
        annotation_path: its ear positions (sided or ``ears_unsided``), LPS or RAS.
        model_dir: the ear model.
        out_dir: folder for ``summary.json`` and the detections (``full/``, ``crops/NAME/``).
        crops: name -> ``[low, high]`` LPS z range in mm of a region without ears.
        allow_offset: the CT is stored with a +1024 offset; subtract it.
        match_radius_mm: a found ear within this distance of an annotated one counts as found.
        name: label of the CT in the summary (default: the file name).
        device: where the network runs (see :func:`medseg.ears.detect.detect`).

    Returns:
        The summary: per region what was found and whether it is what was expected.
    """
    model: EarsModel = load_model(model_dir)
    image = read_checked(image_path, "ct", allow_offset=allow_offset)
    annotated = [np.asarray(p, float) for p in read_landmarks(annotation_path).values() if p is not None]
    summary: dict[str, Any] = {
        "name": name or Path(image_path).name,
        "image": Path(image_path).name,
        "model": {"variant": model.manifest.get("variant"), "model_sha256": model.manifest["files"].get("model.pt")},
        "hu_offset_subtracted": bool(allow_offset),
        "match_radius_mm": match_radius_mm,
    }
    with atomic_dir(out_dir, owned="summary.json") as folder:
        document = write_detection(detect(image, model, device=device), folder / "full", str(Path(image_path).name), model)
        found = _found_ears(document)
        matches = match_unsided(annotated, [p for _, p, _ in found])
        near = sum(m["distance_mm"] is not None and m["distance_mm"] <= match_radius_mm for m in matches)
        heatmaps = {side: sitk.ReadImage(str(folder / "full" / f"heatmap_{side}.nii.gz")) for side in EAR_SIDES}
        summary["full"] = {
            "expected_ears": len(annotated),
            "found_ears": len(found),
            "found": [{"side": s, "position_lps": [round(float(v), 2) for v in p], "score": round(sc, 3)} for s, p, sc in found],
            "matches": matches,
            "threshold": document["decision"]["threshold"],
            "strongest_near_annotated": [
                {"annotated_lps": [round(float(v), 2) for v in point], **(strongest_response_near(heatmaps, point, match_radius_mm) or {})}
                for point in annotated
            ],
            "ok": near == len(annotated) and len(found) == len(annotated),
        }
        summary["crops"] = {}
        for crop_name, (low, high) in crops.items():
            entry: dict[str, Any] = {"z_mm": [float(low), float(high)], "expected_ears": 0}
            try:
                region = crop_superior_inferior(image, float(low), float(high))
            except InputRejected as error:
                entry.update({"ok": None, "skipped": str(error)})
                summary["crops"][crop_name] = entry
                continue
            verdict = check_image(region, "ct")
            if not verdict.accepted:
                entry.update({"ok": None, "skipped": "; ".join(verdict.reasons)})
                summary["crops"][crop_name] = entry
                continue
            crop_doc = write_detection(detect(region, model, device=device), folder / "crops" / crop_name, f"{Path(image_path).name} [{crop_name}]", model)
            crop_found = _found_ears(crop_doc)
            entry.update(
                {
                    "slices": region.GetSize()[superior_axis(region)],
                    "found_ears": len(crop_found),
                    "found": [{"side": s, "position_lps": [round(float(v), 2) for v in p], "score": round(sc, 3)} for s, p, sc in crop_found],
                    "ok": not crop_found,
                }
            )
            summary["crops"][crop_name] = entry
        results = [summary["full"]["ok"]] + [c["ok"] for c in summary["crops"].values() if c["ok"] is not None]
        summary["ok"] = all(results)
        write_json(folder / "summary.json", summary)
    return summary
