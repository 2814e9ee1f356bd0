"""The QA page of one ears case: verdict, flags and slices through each ear."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from medseg.qa import figures
from medseg.qa.html import badge, esc, flag_list, fmt, nav_bar, page, rating_panel, table
from medseg.qa.rejected_page import check_section, read_check

__all__ = ["EarsThresholds", "EarPrediction", "read_ears_prediction", "ears_flags", "render_ears_page", "write_ears_page"]

SIDES = ("left", "right")


@dataclass(frozen=True)
class EarsThresholds:
    """When the page raises a flag.

    Attributes:
        score_margin: a score within this of the decision threshold is a low margin.
        match_mm: a found ear farther than this from the reference disagrees with it.
        region_mm: radius of the circle marking where an absent ear would be.
    """

    score_margin: float = 0.1
    match_mm: float = 10.0
    region_mm: float = 10.0


@dataclass
class EarPrediction:
    """What ``ears.json`` says, read tolerantly (optional keys may be missing)."""

    present: dict[str, bool]
    score: dict[str, float | None]
    position: dict[str, np.ndarray | None]
    prior: dict[str, np.ndarray | None]
    threshold: float | None
    shape_constraint: bool | None
    rejected: list[dict[str, Any]] = field(default_factory=list)
    variant: str | None = None


def _point(value: Any) -> np.ndarray | None:
    if value is None:
        return None
    try:
        array = np.asarray(value, float).reshape(3)
    except (TypeError, ValueError):
        return None
    return array if np.isfinite(array).all() else None


def read_ears_prediction(path: str | os.PathLike[str]) -> EarPrediction:
    """Read ``ears.json`` (the document of :func:`medseg.ears.detect.detection_document`).

    Positions come from ``ears.<side>.position_lps``, else from ``points.<side>.position``
    (converted when ``coordinate_system`` is RAS). A prior position, when given, is read
    from ``ears.<side>.prior_position_lps`` or ``prior.<side>``.
    """
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    ras = str(doc.get("coordinate_system", "LPS")).upper() == "RAS"
    ears = doc.get("ears") or {}
    points = doc.get("points") or {}
    prior_doc = doc.get("prior") or {}
    present: dict[str, bool] = {}
    score: dict[str, float | None] = {}
    position: dict[str, np.ndarray | None] = {}
    prior: dict[str, np.ndarray | None] = {}
    for side in SIDES:
        entry = ears.get(side) or {}
        point = points.get(side) or {}
        pos = _point(entry.get("position_lps"))
        if pos is None and point.get("position") is not None:
            pos = _point(point.get("position"))
            if pos is not None and ras:
                pos = pos * np.array([-1.0, -1.0, 1.0])
        present[side] = bool(entry.get("present", point.get("present", pos is not None))) and pos is not None
        position[side] = pos if present[side] else None
        raw_score = entry.get("score")
        score[side] = None if raw_score is None else float(raw_score)
        prior_value = entry.get("prior_position_lps", prior_doc.get(side) if isinstance(prior_doc, dict) else None)
        if isinstance(prior_value, dict):
            prior_value = prior_value.get("position_lps", prior_value.get("position"))
        prior[side] = _point(prior_value)
    decision = doc.get("decision") or {}
    threshold = decision.get("threshold", doc.get("threshold"))
    return EarPrediction(
        present=present,
        score=score,
        position=position,
        prior=prior,
        threshold=None if threshold is None else float(threshold),
        shape_constraint=decision.get("shape_constraint"),
        rejected=[r for r in doc.get("rejected") or [] if isinstance(r, dict)],
        variant=(doc.get("model") or {}).get("variant") or doc.get("variant"),
    )


def _read_reference(path: Path) -> dict[str, np.ndarray | None] | None:
    if not path.is_file():
        return None
    try:
        from medseg.ears.annotations import load_landmarks

        return {s: (None if p is None else np.asarray(p, float)) for s, p in load_landmarks(path).items()}
    except Exception:  # noqa: BLE001 - a page shows what it can
        return None


def _shape_rejection(reason: str) -> bool:
    text = reason.lower()
    return any(word in text for word in ("partner", "lone ear", "shape", "prior", "distance", "symmetr"))


def ears_flags(prediction: EarPrediction, reference: dict[str, np.ndarray | None] | None, limits: EarsThresholds) -> list[dict[str, str]]:
    """The flags of an ears case (code, level, text)."""
    flags: list[dict[str, str]] = []
    n = sum(prediction.present.values())
    if n == 1:
        side = next(s for s in SIDES if prediction.present[s])
        flags.append({"code": "one_ear", "level": "warn", "text": f"only the {side} ear was found"})
    elif n == 0:
        flags.append({"code": "no_ears", "level": "warn", "text": "no ear was found"})
    if prediction.threshold is not None:
        for side in SIDES:
            s = prediction.score[side]
            if s is not None and abs(s - prediction.threshold) < limits.score_margin:
                state = "found" if prediction.present[side] else "not found"
                flags.append({
                    "code": "low_margin", "level": "warn",
                    "text": f"{side} ear ({state}): score {s:.3f} is within {limits.score_margin:g} of the threshold {prediction.threshold:.3f}",
                })
    shape = [r for r in prediction.rejected if _shape_rejection(str(r.get("reason", "")))]
    for r in shape:
        flags.append({
            "code": "shape_rejected", "level": "warn",
            "text": f"{r.get('side', '?')} candidate (score {fmt(r.get('score'))}) rejected by the shape constraint: {r.get('reason', '')}",
        })
    if reference is not None:
        for side in SIDES:
            truth, guess = reference.get(side), prediction.position[side]
            if (truth is None) != (guess is None):
                flags.append({
                    "code": "reference_disagrees", "level": "bad",
                    "text": f"{side} ear: reference says {'present' if truth is not None else 'absent'}, prediction {'present' if guess is not None else 'absent'}",
                })
            elif truth is not None and guess is not None:
                error = float(np.linalg.norm(truth - guess))
                if error > limits.match_mm:
                    flags.append({
                        "code": "reference_disagrees", "level": "bad",
                        "text": f"{side} ear is {error:.1f} mm from the reference (limit {limits.match_mm:g} mm)",
                    })
    return flags


def _expected_region(
    side: str, prediction: EarPrediction, reference: dict[str, np.ndarray | None] | None, image: sitk.Image, heatmap: sitk.Image | None
) -> tuple[np.ndarray | None, str]:
    """Where an absent ear would be, and how that was found.

    The reference comes first, then the shape prior's position beside the ear that was
    found (``prior_position_lps`` in ears.json); a position outside the image is returned as
    None with the reason, since a circle drawn elsewhere would point at the wrong anatomy.
    """
    if reference is not None and reference.get(side) is not None:
        return reference[side], "reference position"
    if prediction.prior[side] is not None:
        from medseg.ears.annotations import inside_image

        if not inside_image(image, prediction.prior[side]):
            return None, "the shape prior places it outside the field of view"
        return prediction.prior[side], "shape prior, from the ear that was found"
    if heatmap is not None:
        array = sitk.GetArrayViewFromImage(heatmap)
        if array.size and float(array.max()) > 0:
            index = np.unravel_index(int(np.argmax(array)), array.shape)[::-1]
            return np.asarray(heatmap.TransformIndexToPhysicalPoint([int(i) for i in index]), float), "heatmap maximum"
    return None, ""


def _read_optional(path: Path) -> sitk.Image | None:
    if not path.is_file():
        return None
    from medseg.io.image import read_image

    return read_image(path)


def render_ears_page(
    ingest_dir: str | os.PathLike[str],
    prediction_dir: str | os.PathLike[str],
    prev_url: str | None = None,
    next_url: str | None = None,
    index_url: str | None = None,
    limits: EarsThresholds = EarsThresholds(),
) -> str:
    """The HTML of an ears case page.

    Args:
        ingest_dir: the case's ingest folder (``check.json``, ``image.nii.gz``, ``landmarks.json``).
        prediction_dir: its prediction folder (``ears.json``, ``heatmap_{left,right}.nii.gz``).
        prev_url: link to the previous case page.
        next_url: link to the next case page.
        index_url: link to the index page.
        limits: flag thresholds.
    """
    from medseg.io.image import read_image

    ingest_dir, prediction_dir = Path(ingest_dir), Path(prediction_dir)
    check = read_check(ingest_dir)
    case, subject = str(check.get("case", ingest_dir.name)), str(check.get("subject", ""))
    prediction = read_ears_prediction(prediction_dir / "ears.json")
    reference = _read_reference(ingest_dir / "landmarks.json")
    image = read_image(ingest_dir / "image.nii.gz")
    flags = ears_flags(prediction, reference, limits)

    rows = []
    for side in SIDES:
        pos = prediction.position[side]
        ref = None if reference is None else reference.get(side)
        error = None if pos is None or ref is None else float(np.linalg.norm(pos - ref))
        rows.append([
            side,
            badge("present", "ok") if prediction.present[side] else badge("absent", "info"),
            esc(fmt(prediction.score[side])),
            esc("–" if pos is None else ", ".join(f"{v:.1f}" for v in pos)),
            esc("–" if reference is None else ("absent" if ref is None else ", ".join(f"{v:.1f}" for v in ref))),
            esc(fmt(error, 1)),
        ])
    verdict = table(["ear", "prediction", "score", "position LPS (mm)", "reference LPS (mm)", "error (mm)"], rows, raw=True)
    settings = (
        f'<p class="small muted">decision threshold {esc(fmt(prediction.threshold))}; shape constraint '
        f"{esc(fmt(prediction.shape_constraint))}; variant {esc(prediction.variant or '–')}</p>"
    )
    sections = []
    for side in SIDES:
        heatmap = _read_optional(prediction_dir / f"heatmap_{side}.nii.gz")
        ref = None if reference is None else reference.get(side)
        pos = prediction.position[side]
        markers: list[dict[str, Any]] = []
        regions: list[dict[str, Any]] = []
        if pos is not None:
            centre = pos
            markers.append({"position": pos, "label": "prediction", "color": "lime", "marker": "+", "zorder": 5})
            caption = f"{side} ear found at LPS ({', '.join(f'{v:.1f}' for v in pos)}) mm, score {fmt(prediction.score[side])}."
        else:
            centre, how = _expected_region(side, prediction, reference, image, heatmap)
            if centre is None:
                sections.append(f"<h3>{esc(side)} ear: absent</h3><p class=\"muted\">{esc(how or 'no position to show')}.</p>")
                continue
            regions.append({"position": centre, "radius_mm": limits.region_mm, "color": "cyan"})
            caption = f"{side} ear absent; dashed circle: where it would be ({how})."
        if ref is not None:
            markers.append({"position": ref, "label": "reference", "color": "deepskyblue", "marker": "x"})
        for r in prediction.rejected:
            if r.get("side") == side and _point(r.get("position_lps")) is not None:
                p = _point(r.get("position_lps"))
                if np.linalg.norm(p - centre) < 25:
                    markers.append({"position": p, "label": "rejected candidate", "color": "orangered", "marker": "o"})
        uri = figures.ear_views(image, centre, heatmap, markers, regions, title=f"{side} ear")
        sections.append(
            f'<h3>{esc(side)} ear: {"present" if pos is not None else "absent"}</h3>'
            f'<figure><img alt="{esc(side)} ear slices" src="{uri}"><figcaption>{esc(caption)} Heatmap in '
            "orange; world orientation (radiological: patient right on the image left).</figcaption></figure>"
        )
    rejected_table = ""
    if prediction.rejected:
        rejected_table = "<h2>Rejected candidates</h2>" + table(
            ["side", "score", "position LPS (mm)", "reason"],
            [[r.get("side"), r.get("score"), ", ".join(f"{v:.1f}" for v in (_point(r.get("position_lps")) if _point(r.get("position_lps")) is not None else [])) or "–", r.get("reason", "")] for r in prediction.rejected],
        )
    body = (
        nav_bar(prev_url, next_url, index_url)
        + "<h2>Verdict</h2>" + verdict + settings
        + "<h2>Flags</h2>" + flag_list(flags)
        + rating_panel("ears", case)
        + "<h2>Ears</h2>" + "".join(sections)
        + rejected_table
        + check_section(check)
    )
    meta = {
        "task": "ears", "case": case, "subject": subject, "status": check.get("status", "accepted"),
        "summary": f"{sum(prediction.present.values())} ear(s)", "flags": [f["code"] for f in flags],
    }
    return page(f"Ears QA · {case}", body, subtitle=f"subject {subject} · case {case} · task ears", meta=meta)


def write_ears_page(out: str | os.PathLike[str], *args: Any, **kwargs: Any) -> Path:
    """Render with :func:`render_ears_page` and write atomically to ``out``."""
    from medseg.io.atomic import write_text

    return write_text(out, render_ears_page(*args, **kwargs))
