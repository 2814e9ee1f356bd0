"""Evaluation of LV predictions against reference labels: per frame, subject, variant."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from medseg.errors import ImageReadError
from medseg.io.atomic import write_json, write_text
from medseg.io.cine import read_cine_array
from medseg.metrics import frame_metrics, mean_sd, mean_sd_text
from medseg.tables import PREDICTION_COLUMNS, read_stage_table

METRICS = ("dice", "hd", "hd95", "apd_endo", "apd_epi", "dice_cavity")


def evaluate_case(prediction: np.ndarray, reference: np.ndarray, spacing: tuple[float, float]) -> list[dict[str, Any]]:
    """Metrics of every annotated frame of one case.

    Args:
        prediction: (slices, phases, rows, cols) predicted labels.
        reference: reference labels, 255 where not annotated.
        spacing: (row, col) pixel spacing, mm.

    Returns:
        One dict per annotated frame: ``slice``, ``phase`` and the metrics.
    """
    if prediction.shape != reference.shape:
        raise ImageReadError(f"prediction grid {prediction.shape} differs from reference {reference.shape}")
    rows = []
    for z in range(reference.shape[0]):
        for t in range(reference.shape[1]):
            ref = reference[z, t]
            if (ref == 255).all():
                continue
            rows.append({"slice": z, "phase": t, **frame_metrics(prediction[z, t], ref, spacing)})
    return rows


def read_eval_table(path: str | Path) -> list[dict[str, str]]:
    """Read the evaluation table (TSV: case, subject, variant, prediction, reference)."""
    return read_stage_table(path, PREDICTION_COLUMNS, ("prediction", "reference"))


def _tsv(header: list[str], rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([f"{v:.4f}" if isinstance(v, float) else v for v in row])
    return buffer.getvalue()


def _one_empty(rows: list[dict[str, Any]]) -> int:
    """Frames where exactly one of prediction and reference has myocardium (Dice 0, distances
    undefined and left out of the distance means)."""
    return sum(1 for r in rows if np.isfinite(r["dice"]) and not np.isfinite(r["hd"]))


def summarise(frames: list[dict[str, Any]]) -> dict[str, Any]:
    """Per variant: per-subject means, then mean ± SD over subjects (and over frames).

    ``frames_one_empty`` counts, per subject, the frames whose distances are undefined
    because one of the two masks is empty: a distance mean that leaves them out reads
    better than the segmentation is.

    Args:
        frames: per-frame rows with ``variant``, ``subject``, ``case`` and metrics.
    """
    by_variant: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for row in frames:
        by_variant[row["variant"]][row["subject"]].append(row)
    summary: dict[str, Any] = {}
    for variant, subjects in sorted(by_variant.items()):
        per_subject = {
            subject: {m: mean_sd([r[m] for r in rows])["mean"] for m in METRICS}
            | {"frames": len(rows), "frames_one_empty": _one_empty(rows)}
            for subject, rows in sorted(subjects.items())
        }
        all_rows = [r for rows in subjects.values() for r in rows]
        summary[variant] = {
            "subjects": per_subject,
            "over_subjects": {m: mean_sd([s[m] for s in per_subject.values()]) for m in METRICS},
            "over_frames": {m: mean_sd([r[m] for r in all_rows]) for m in METRICS},
        }
    return summary


def evaluate_table(table: str | Path, out_dir: str | Path, provenance: dict[str, Any] | None = None) -> dict[str, Any]:
    """Evaluate every row of a table; write ``summary.json``, ``per_subject.tsv``,
    ``ablation.tsv`` and ``per_frame.tsv`` (the metric files: identical for identical
    predictions) into ``out_dir``.

    ``frames_one_empty`` (per subject, and summed per variant in ``ablation.tsv``) counts
    the frames where one of prediction and reference has no myocardium: their Dice is 0
    but their distances are undefined and left out of the HD, HD95 and APD means, which
    therefore read better than the segmentation is whenever the count is not 0.

    ``provenance`` (code version, config hash, seed, packages, date) goes to
    ``provenance.json`` beside them.

    Returns:
        The summary.
    """
    out_dir = Path(out_dir)
    frames: list[dict[str, Any]] = []
    for row in read_eval_table(table):
        prediction, _ = read_cine_array(row["prediction"])
        reference, spacing = read_cine_array(row["reference"])
        try:
            case_rows = evaluate_case(prediction, reference, spacing)
        except ImageReadError as error:
            raise ImageReadError(f"{row['prediction']}: {error}") from None
        frames += [{"variant": row["variant"], "subject": row["subject"], "case": row["case"], **r} for r in case_rows]
    summary = summarise(frames)
    out_dir.mkdir(parents=True, exist_ok=True)
    content = {"task": "lv", "metrics": list(METRICS), "units": "Dice; distances in mm", "variants": summary}
    write_json(out_dir / "summary.json", content)
    if provenance is not None:
        write_json(out_dir / "provenance.json", provenance)
    write_text(
        out_dir / "per_frame.tsv",
        _tsv(["variant", "subject", "case", "slice", "phase", *METRICS], [[r[k] for k in ("variant", "subject", "case", "slice", "phase", *METRICS)] for r in frames]),
    )
    subject_rows = [
        [variant, subject, values["frames"], values["frames_one_empty"], *[values[m] for m in METRICS]]
        for variant, content in summary.items()
        for subject, values in content["subjects"].items()
    ]
    write_text(out_dir / "per_subject.tsv", _tsv(["variant", "subject", "frames", "frames_one_empty", *METRICS], subject_rows))
    ablation_rows = []
    for variant, content in summary.items():
        stats = content["over_subjects"]
        one_empty = sum(values["frames_one_empty"] for values in content["subjects"].values())
        ablation_rows.append(
            [variant, len(content["subjects"]), one_empty, *[mean_sd_text(stats[m]) for m in METRICS]]
        )
    write_text(out_dir / "ablation.tsv", _tsv(["variant", "subjects", "frames_one_empty", *METRICS], ablation_rows))
    return summary
