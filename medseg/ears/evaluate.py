"""Evaluation of ear predictions: presence accuracy, 0/1/2-ear confusion, localisation error."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medseg.ears.annotations import load_landmarks
from medseg.ears.targets import EAR_SIDES
from medseg.io.atomic import write_json, write_text
from medseg.tables import PREDICTION_COLUMNS, read_stage_table

__all__ = ["compare_case", "summarise", "decision_scores", "evaluate_table", "read_prediction_table"]



def compare_case(
    predicted: Mapping[str, np.ndarray | None], reference: Mapping[str, np.ndarray | None], match_radius_mm: float
) -> dict[str, Any]:
    """Per-ear comparison of one volume.

    Returns:
        ``{"n_true", "n_pred", "<side>_true", "<side>_pred", "<side>_presence_ok",
        "<side>_error_mm", "<side>_detection_ok"}``; the error is set where the ear is
        present in both, and detection is right when presence agrees and, if present, the
        error is within ``match_radius_mm``.
    """
    row: dict[str, Any] = {
        "n_true": sum(reference.get(s) is not None for s in EAR_SIDES),
        "n_pred": sum(predicted.get(s) is not None for s in EAR_SIDES),
    }
    for side in EAR_SIDES:
        truth, guess = reference.get(side), predicted.get(side)
        row[f"{side}_true"] = truth is not None
        row[f"{side}_pred"] = guess is not None
        row[f"{side}_presence_ok"] = (truth is None) == (guess is None)
        error = None if truth is None or guess is None else float(np.linalg.norm(np.asarray(truth) - np.asarray(guess)))
        row[f"{side}_error_mm"] = error
        row[f"{side}_detection_ok"] = row[f"{side}_presence_ok"] and (error is None or error <= match_radius_mm)
    return row


def _stats(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"n": 0, "mean": None, "sd": None, "median": None, "max": None}
    a = np.asarray(values, float)
    return {
        "n": int(a.size),
        "mean": round(float(a.mean()), 4),
        "sd": round(float(a.std(ddof=1)) if a.size > 1 else 0.0, 4),
        "median": round(float(np.median(a)), 4),
        "max": round(float(a.max()), 4),
    }


def summarise(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Metrics of one variant from its :func:`compare_case` rows."""
    ears = [(r, s) for r in rows for s in EAR_SIDES]
    presence = [bool(r[f"{s}_presence_ok"]) for r, s in ears]
    detection = [bool(r[f"{s}_detection_ok"]) for r, s in ears]
    errors = [r[f"{s}_error_mm"] for r, s in ears if r[f"{s}_error_mm"] is not None]
    found = [r[f"{s}_error_mm"] for r, s in ears if r[f"{s}_error_mm"] is not None and r[f"{s}_detection_ok"]]
    confusion = np.zeros((3, 3), int)
    for r in rows:
        confusion[int(r["n_true"]), int(r["n_pred"])] += 1
    error = _stats(errors)
    return {
        "cases": len(rows),
        "subjects": len({r["subject"] for r in rows}),
        "ears": len(ears),
        "presence_accuracy": round(float(np.mean(presence)), 6) if presence else None,
        "detection_accuracy": round(float(np.mean(detection)), 6) if detection else None,
        "volume_accuracy": round(float(np.trace(confusion) / max(1, confusion.sum())), 6),
        "false_positive_ears": int(sum(1 for r, s in ears if r[f"{s}_pred"] and not r[f"{s}_true"])),
        "false_negative_ears": int(sum(1 for r, s in ears if r[f"{s}_true"] and not r[f"{s}_pred"])),
        "mislocalised_ears": int(sum(1 for r, s in ears if r[f"{s}_presence_ok"] and not r[f"{s}_detection_ok"])),
        "confusion_0_1_2": {"rows": "reference ears", "columns": "predicted ears", "matrix": confusion.tolist()},
        "error_mm": error,
        "error_mean_mm": error["mean"],
        "error_found_mm": _stats(found),
    }


def decision_scores(path: str | os.PathLike[str]) -> dict[str, float | None]:
    """The presence threshold and each ear's score an ``ears.json`` records (``None`` where it
    records none, as in a landmark file), so that held-out margins can be read per case."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        doc = {}
    doc = doc if isinstance(doc, dict) else {}
    decision, ears = doc.get("decision"), doc.get("ears")
    out: dict[str, float | None] = {"threshold": _number(decision.get("threshold")) if isinstance(decision, dict) else None}
    for side in EAR_SIDES:
        ear = ears.get(side) if isinstance(ears, dict) else None
        out[f"{side}_score"] = _number(ear.get("score")) if isinstance(ear, dict) else None
    return out


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def read_prediction_table(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    """Rows of the evaluation table; relative paths resolved against its folder."""
    return read_stage_table(path, PREDICTION_COLUMNS, ("prediction", "reference"), allow_empty=True)


def _tsv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n")
    writer.writerow(columns)
    for r in rows:
        writer.writerow(["" if r.get(c) is None else (f"{r[c]:.4f}" if isinstance(r[c], float) else r[c]) for c in columns])
    return buffer.getvalue()


def evaluate_table(
    table: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    match_radius_mm: float = 10.0,
    provenance: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Evaluate every variant of a prediction table and write the reports.

    Args:
        table: TSV with ``case subject variant prediction reference`` (``ears.json`` and
            landmark JSON paths).
        out_dir: folder for ``summary.json``, ``per_case.tsv`` and ``ablation.tsv`` (the
            metric files: identical for identical predictions) and ``provenance.json``.
        match_radius_mm: a found ear farther than this from the reference is mislocalised.
        provenance: code version, config hash, seed, packages and date, written to
            ``provenance.json`` so the metric files stay comparable byte for byte.

    Returns:
        The summary document.
    """
    rows = read_prediction_table(table)
    per_case = []
    for row in rows:
        compared = compare_case(load_landmarks(row["prediction"]), load_landmarks(row["reference"]), match_radius_mm)
        scores = decision_scores(row["prediction"])
        per_case.append({"case": row["case"], "subject": row["subject"], "variant": row["variant"], **compared, **scores})
    variants = sorted({r["variant"] for r in per_case}, key=lambda v: (v != "full", v))
    summary = {
        "task": "ears",
        "match_radius_mm": match_radius_mm,
        "variants": {v: summarise([r for r in per_case if r["variant"] == v]) for v in variants},
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "summary.json", summary)
    if provenance is not None:
        write_json(out_dir / "provenance.json", provenance)
    columns = ["case", "subject", "variant", "n_true", "n_pred"] + [
        f"{s}_{k}" for s in EAR_SIDES for k in ("true", "pred", "presence_ok", "detection_ok", "error_mm")
    ] + ["threshold", "left_score", "right_score"]
    write_text(out_dir / "per_case.tsv", _tsv(per_case, columns))
    ablation = []
    for v, s in summary["variants"].items():
        ablation.append({
            "variant": v, "cases": s["cases"], "ears": s["ears"], "presence_accuracy": s["presence_accuracy"],
            "detection_accuracy": s["detection_accuracy"], "volume_accuracy": s["volume_accuracy"],
            "false_positive_ears": s["false_positive_ears"], "false_negative_ears": s["false_negative_ears"],
            "error_mean_mm": s["error_mm"]["mean"], "error_sd_mm": s["error_mm"]["sd"],
            "error_median_mm": s["error_mm"]["median"], "error_max_mm": s["error_mm"]["max"],
            "mislocalised_ears": s["mislocalised_ears"],
            "error_found_mean_mm": s["error_found_mm"]["mean"], "error_found_sd_mm": s["error_found_mm"]["sd"],
        })
    write_text(out_dir / "ablation.tsv", _tsv(ablation, list(ablation[0]) if ablation else ["variant"]))
    return summary
