"""The cohort status table and the study summary (metrics of every task + provenance)."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any

from medseg.io.atomic import atomic_path, write_json
from medseg.provenance import collect_provenance

STATUS_COLUMNS = ["task", "subject", "case", "status", "codes", "reasons"]


def write_cohort_status(ingest_dirs: list[str | Path], out: str | Path) -> list[dict[str, str]]:
    """One row per case with its input-check verdict, read from each ``check.json``."""
    rows = []
    for folder in ingest_dirs:
        verdict = json.loads((Path(folder) / "check.json").read_text())
        rows.append(
            {
                "task": verdict["task"],
                "subject": verdict["subject"],
                "case": verdict["case"],
                "status": verdict["status"],
                "codes": ",".join(verdict.get("codes", [])),
                "reasons": " | ".join(verdict.get("reasons", [])),
            }
        )
    with atomic_path(out) as tmp:
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, STATUS_COLUMNS, delimiter="\t", lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
    return rows


def read_cohort_status(path: str | Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def write_study_summary(
    config: dict[str, Any],
    status_file: str | Path,
    summaries: list[str | Path],
    out: str | Path,
    real_ct: list[str | Path] | None = None,
) -> dict[str, Any]:
    """Collect the cohort, each task's evaluation summary, the real-CT checks and provenance into one JSON.

    Args:
        config: the study config.
        status_file: ``cohort_status.tsv``.
        summaries: each task's evaluation ``summary.json``.
        out: the file to write.
        real_ct: folders written by ``medseg ears real-ct``; configured checks whose image
            is missing are listed as skipped.
    """
    status = read_cohort_status(status_file)
    cohort: dict[str, Any] = {}
    for task in sorted({row["task"] for row in status}):
        rows = [row for row in status if row["task"] == task]
        counts = Counter(row["status"] for row in rows)
        cohort[task] = {
            "subjects": len({row["subject"] for row in rows}),
            "cases": len(rows),
            "accepted": counts.get("accepted", 0),
            "rejected": [
                {"case": row["case"], "subject": row["subject"], "reasons": row["reasons"].split(" | ")}
                for row in rows
                if row["status"] != "accepted"
            ],
        }
    tasks = {}
    for path in summaries:
        summary = json.loads(Path(path).read_text())
        summary.pop("provenance", None)
        tasks[Path(path).parent.parent.name] = summary
    checks = [json.loads((Path(folder) / "summary.json").read_text()) for folder in real_ct or []]
    done = {c.get("name") for c in checks}
    for entry in config.get("ears_real_ct") or []:
        if entry.get("name") not in done:
            checks.append({"name": entry.get("name"), "image": Path(entry.get("image", "")).name, "ok": None,
                           "skipped": "image not found (see ears_real_ct in the config)"})
    result = {
        "study_name": config.get("study_name", "study"),
        "seed": config.get("seed"),
        "cohort": cohort,
        "tasks": tasks,
        "real_ct": checks,
        "provenance": collect_provenance(config, config.get("seed")),
    }
    write_json(out, result)
    return result
