"""Tables that connect the stages: training cases of a fold, predictions to score.

Both are built from the files of earlier stages only (``splits.json`` and the
``check.json`` of the cases it lists), never from another stage's private state.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from medseg.errors import InputRejected, MedsegError
from medseg.io.atomic import atomic_path
from medseg.splits import read_splits

#: The canonical annotation file an ingested case of each task may carry.
ANNOTATION_FILES = ("landmarks.json", "labels.nii.gz")
FINAL_FOLD = "final"
#: Columns of a fold's training table (written by :func:`write_training_table`).
TRAINING_COLUMNS = ("subject", "case", "image", "annotation")
#: Columns an evaluation needs from a prediction table (:func:`write_prediction_table` adds ``fold``).
PREDICTION_COLUMNS = ("case", "subject", "variant", "prediction", "reference")


@dataclass(frozen=True)
class IngestedCase:
    """An accepted case in its ingest folder."""

    case: str
    subject: str
    image: Path
    annotation: Path | None


def read_stage_table(
    path: str | os.PathLike[str],
    columns: Sequence[str],
    path_columns: Sequence[str] = (),
    *,
    required: Sequence[str] = (),
    allow_empty: bool = False,
) -> list[dict[str, str]]:
    """Rows of a TSV table that one stage writes for the next; blank rows are skipped.

    Args:
        path: the table.
        columns: the columns it must have (others are kept).
        path_columns: columns holding paths; relative ones are resolved against the
            table's folder, empty cells stay empty.
        required: columns that must not be empty in any row.
        allow_empty: accept a table with a header and no rows.

    Raises:
        InputRejected: the file is missing, lacks a column, has an empty required cell,
            or has no rows (unless ``allow_empty``).
    """
    path = Path(path)
    if not path.is_file():
        raise InputRejected(f"{path}: no such table")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        missing = [column for column in columns if column not in (reader.fieldnames or [])]
        if missing:
            raise InputRejected(f"{path}: missing column(s) {', '.join(missing)} (need {', '.join(columns)})")
        # cells past the header (a line of stray tabs) land under the key None: they are no column
        rows = [{k: v for k, v in row.items() if k is not None} for row in reader]
        rows = [row for row in rows if any((value or "").strip() for value in row.values())]
    if not rows and not allow_empty:
        raise InputRejected(f"{path}: the table has no rows")
    for row in rows:
        for key in required:
            if not (row.get(key) or "").strip():
                raise InputRejected(f"{path}: case {row.get('case')!r} has no {key}")
        for key in path_columns:
            value = (row.get(key) or "").strip()
            row[key] = str((path.parent / value).resolve()) if value and not os.path.isabs(value) else value
    return rows


def accepted_cases(ingest_root: str | Path) -> list[IngestedCase]:
    """Accepted cases below ``ingest_root`` (one folder per case with ``check.json``)."""
    cases = []
    for check_file in sorted(Path(ingest_root).glob("*/check.json")):
        verdict = json.loads(check_file.read_text())
        if verdict.get("status") != "accepted":
            continue
        folder = check_file.parent
        annotation = next((folder / name for name in ANNOTATION_FILES if (folder / name).exists()), None)
        cases.append(IngestedCase(verdict["case"], verdict["subject"], folder / "image.nii.gz", annotation))
    return cases


def read_folds(splits_file: str | Path) -> list[dict]:
    return [fold.to_json() for fold in read_splits(splits_file)]


def training_subjects(splits_file: str | Path, fold: str) -> set[str]:
    """Subjects a fold's model may learn from; the final model learns from all of them."""
    folds = read_folds(splits_file)
    if fold == FINAL_FOLD:
        return {subject for f in folds for subject in f["train_subjects"] + f["test_subjects"]}
    for f in folds:
        if f["name"] == fold:
            return set(f["train_subjects"])
    raise MedsegError(f"fold {fold!r} is not in {splits_file}")


def listed_cases(splits_file: str | Path, fold: str | None = None) -> set[str] | None:
    """Cases ``splits.json`` assigns: a fold's training cases, the final model's (every
    case), or with ``fold=None`` every test case; ``None`` when the file lists no cases.

    Tables are built from these, so an ingest folder left behind by a case that has since
    left the cohort sheet is neither trained on nor scored.
    """
    read_splits(splits_file)  # validated: readable, no subject in train and test of a fold
    entries = json.loads(Path(splits_file).read_text(encoding="utf-8"))["folds"]
    key = "train_cases" if fold not in (None, FINAL_FOLD) else "test_cases"
    if not entries or not all(key in entry for entry in entries):
        return None
    if fold in (None, FINAL_FOLD):
        return {str(c) for entry in entries for c in entry[key]}
    for entry in entries:
        if entry["name"] == fold:
            return {str(c) for c in entry[key]}
    raise MedsegError(f"fold {fold!r} is not in {splits_file}")


def _cases_of_splits(splits_file: str | Path, fold: str | None, ingest_root: str | Path) -> list[IngestedCase]:
    """The accepted cases below ``ingest_root`` that ``splits.json`` lists (see :func:`listed_cases`).

    Raises:
        MedsegError: a listed case has no accepted ingest folder (the splits are stale).
    """
    cases = accepted_cases(ingest_root)
    listed = listed_cases(splits_file, fold)
    if listed is None:
        return cases
    missing = sorted(listed - {c.case for c in cases})
    if missing:
        raise MedsegError(
            f"{splits_file} lists case(s) with no accepted ingest folder in {ingest_root}: {', '.join(missing[:10])}"
            " (make the splits again from the current ingest)"
        )
    return [c for c in cases if c.case in listed]


def _write_tsv(path: str | Path, header: list[str], rows: list[list[str]]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as handle:
            writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)


def write_training_table(splits_file: str | Path, fold: str, ingest_root: str | Path, out: str | Path) -> int:
    """Write ``subject case image annotation`` for the fold's annotated training cases.

    Returns:
        The number of rows written.
    """
    subjects = training_subjects(splits_file, fold)
    rows = [
        [c.subject, c.case, str(c.image.resolve()), str(c.annotation.resolve())]
        for c in _cases_of_splits(splits_file, fold, ingest_root)
        if c.subject in subjects and c.annotation is not None
    ]
    if not rows:
        raise MedsegError(f"fold {fold} has no accepted, annotated training case in {ingest_root}")
    _write_tsv(out, list(TRAINING_COLUMNS), rows)
    return len(rows)


def write_prediction_table(
    splits_file: str | Path,
    ingest_root: str | Path,
    predictions_root: str | Path,
    variants: list[str],
    out: str | Path,
    prediction_file: str | None = None,
) -> int:
    """Write ``case subject fold variant prediction reference`` for every scored prediction.

    Each accepted, annotated case is scored once per variant, with the prediction of the
    fold whose test subjects include it. ``prediction_file`` names the file inside each
    prediction folder to score (the folder itself when not given).
    """
    fold_of = {s: f["name"] for f in read_folds(splits_file) for s in f["test_subjects"]}
    rows = []
    for case in _cases_of_splits(splits_file, None, ingest_root):
        if case.annotation is None or case.subject not in fold_of:
            continue
        for variant in variants:
            prediction = Path(predictions_root) / variant / case.case
            if prediction_file:
                prediction = prediction / prediction_file
            row = [case.case, case.subject, fold_of[case.subject], variant]
            rows.append(row + [str(prediction.resolve()), str(case.annotation.resolve())])
    _write_tsv(out, ["case", "subject", "fold", "variant", "prediction", "reference"], rows)
    return len(rows)
