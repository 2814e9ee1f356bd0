"""Cohort sheet: a TSV with one row per case (``subject case task image annotation``).

Relative paths are resolved against the sheet's folder. Paths that do not exist are not an
error here: such a case is rejected later, with its reason, by the ingest checks.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from medseg.errors import ConfigError
from medseg.io.atomic import write_text

TASKS: tuple[str, ...] = ("ears", "lv")
COLUMNS: tuple[str, ...] = ("subject", "case", "task", "image", "annotation")
REQUIRED_COLUMNS: tuple[str, ...] = ("subject", "case", "task", "image")
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class CohortCase:
    """One row of the cohort sheet.

    Attributes:
        subject: subject (patient) ID; folds never split a subject.
        case: case ID, unique in the sheet; used as a folder name.
        task: ``"ears"`` or ``"lv"``.
        image: image file or DICOM folder (absolute).
        annotation: landmark file, label image or contour folder (absolute), or None.
    """

    subject: str
    case: str
    task: str
    image: Path
    annotation: Path | None = None


def validate_id(value: str, what: str = "ID") -> str:
    """Return ``value`` if it is a safe file name made of ``[A-Za-z0-9._-]``.

    Raises:
        ConfigError: the ID is empty, starts with a dot or holds another character.
    """
    if not value:
        raise ConfigError(f"{what} is empty")
    if not ID_PATTERN.match(value):
        bad = sorted({c for c in value if not re.match(r"[A-Za-z0-9._-]", c)})
        detail = f"characters {' '.join(repr(c) for c in bad)}" if bad else "a leading dot"
        raise ConfigError(f"{what} {value!r} has {detail}; use only letters, digits, '.', '_' and '-'")
    return value


def read_cohort_sheet(path: str | os.PathLike[str]) -> list[CohortCase]:
    """Read and validate a cohort sheet.

    Args:
        path: the TSV file; a header row names the columns (extra columns are ignored, blank
            lines and lines starting with ``#`` are skipped).

    Returns:
        The cases in sheet order.

    Raises:
        ConfigError: the sheet is missing, lacks a column, or has a duplicate case ID, an unknown
            task, an empty subject, case or image, or an ID with characters other than
            ``[A-Za-z0-9._-]``.
    """
    sheet = Path(path)
    try:
        text = sheet.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"cohort sheet not found: {sheet}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read cohort sheet {sheet}: {error}") from None
    rows = [
        (number, row)
        for number, row in enumerate(csv.reader(io.StringIO(text, newline=""), delimiter="\t"), start=1)
        if any(cell.strip() for cell in row) and not row[0].lstrip().startswith("#")
    ]
    if not rows:
        raise ConfigError(f"cohort sheet {sheet} is empty (expected a header: {' '.join(COLUMNS)})")
    header = [cell.strip().lower() for cell in rows[0][1]]
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise ConfigError(
            f"cohort sheet {sheet} lacks column(s) {', '.join(missing)} "
            f"(found: {', '.join(header) or 'none'}; columns are tab-separated)"
        )
    index = {name: header.index(name) for name in COLUMNS if name in header}
    base = sheet.resolve().parent
    cases: list[CohortCase] = []
    seen: dict[str, int] = {}
    for number, row in rows[1:]:
        where = f"{sheet}, line {number}"
        cell = {name: (row[i].strip() if i < len(row) else "") for name, i in index.items()}
        try:
            subject = validate_id(cell["subject"], "subject")
            case = validate_id(cell["case"], "case")
        except ConfigError as error:
            raise ConfigError(f"{where}: {error}") from None
        if case in seen:
            raise ConfigError(f"{where}: duplicate case ID {case!r} (first on line {seen[case]})")
        seen[case] = number
        task = cell["task"].lower()
        if task not in TASKS:
            raise ConfigError(f"{where}: unknown task {cell['task']!r} (expected one of: {', '.join(TASKS)})")
        if not cell["image"]:
            raise ConfigError(f"{where}: image is empty for case {case!r}")
        annotation = cell.get("annotation", "")
        cases.append(
            CohortCase(
                subject=subject,
                case=case,
                task=task,
                image=_resolve(base, cell["image"]),
                annotation=_resolve(base, annotation) if annotation else None,
            )
        )
    return cases


def write_cohort_sheet(path: str | os.PathLike[str], cases: Iterable[CohortCase]) -> Path:
    """Write ``cases`` as a cohort sheet (atomically), with paths relative to its folder.

    Args:
        path: the TSV file to write.
        cases: the cases; their IDs must be valid (see :func:`validate_id`).

    Returns:
        The path written.
    """
    sheet = Path(path)
    base = sheet.resolve().parent
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n")
    writer.writerow(COLUMNS)
    for case in cases:
        validate_id(case.subject, "subject")
        validate_id(case.case, "case")
        annotation = "" if case.annotation is None else _relative(base, case.annotation)
        writer.writerow([case.subject, case.case, case.task, _relative(base, case.image), annotation])
    return write_text(sheet, buffer.getvalue())


def _resolve(base: Path, value: str) -> Path:
    candidate = Path(value).expanduser()
    return Path(os.path.normpath(candidate if candidate.is_absolute() else base / candidate))


def _relative(base: Path, path: Path) -> str:
    path = Path(path)
    if not path.is_absolute():
        return path.as_posix()
    try:
        return Path(os.path.relpath(path, base)).as_posix()
    except ValueError:
        return str(path)
