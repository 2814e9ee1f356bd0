"""Reviewer ratings downloaded from the case pages: read (TSV or JSON), validate, summarise.

A ratings file has one row per rated case with ``case, task, verdict, comment, reviewer,
timestamp``; verdict is ``accept``, ``needs_correction`` or ``reject``. The JSON form is
``{"format": "medseg-qa-ratings", "version": 1, "ratings": [...]}`` or a bare list.
The pages write TSV without quoting and with tabs and line breaks in comments turned into
spaces (a TSV row holds neither); the JSON download keeps comments exactly.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from medseg.errors import InputRejected

__all__ = ["VERDICTS", "COLUMNS", "Rating", "read_ratings", "parse_ratings", "latest", "summarise_ratings"]

VERDICTS = ("accept", "needs_correction", "reject")
COLUMNS = ("case", "task", "verdict", "comment", "reviewer", "timestamp")
_ALIASES = {"accepted": "accept", "correct": "needs_correction", "needs correction": "needs_correction", "rejected": "reject"}


@dataclass(frozen=True)
class Rating:
    """One reviewer's verdict on one case."""

    case: str
    task: str
    verdict: str
    comment: str
    reviewer: str
    timestamp: str

    def to_json(self) -> dict[str, str]:
        """As a plain dict."""
        return asdict(self)


def _validate(raw: dict[str, Any], where: str) -> Rating | None:
    case = str(raw.get("case") or "").strip()
    task = str(raw.get("task") or "").strip()
    verdict = str(raw.get("verdict") or "").strip().lower()
    verdict = _ALIASES.get(verdict, verdict)
    if not case or not task:
        raise InputRejected(f"{where}: a rating needs case and task")
    if not verdict:
        return None  # a comment without a verdict yet: not a rating
    if verdict not in VERDICTS:
        raise InputRejected(f"{where}: verdict {verdict!r} is not one of {', '.join(VERDICTS)}")
    timestamp = str(raw.get("timestamp") or "").strip()
    if timestamp:
        try:
            datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
        except ValueError:
            raise InputRejected(f"{where}: timestamp {timestamp!r} is not ISO 8601") from None
    return Rating(case, task, verdict, str(raw.get("comment") or "").strip(), str(raw.get("reviewer") or "").strip(), timestamp)


def parse_ratings(text: str, source: str = "ratings") -> list[Rating]:
    """Parse the text of a ratings file (JSON or TSV, detected from the content).

    Raises:
        InputRejected: malformed content, missing columns, unknown verdicts or bad timestamps.
    """
    text = text.lstrip("\ufeff")
    if text.lstrip().startswith(("{", "[")):
        try:
            data = json.loads(text)
        except ValueError as error:
            raise InputRejected(f"{source}: not valid JSON ({error})") from None
        rows = data if isinstance(data, list) else data.get("ratings") if isinstance(data, dict) else None
        if not isinstance(rows, list):
            raise InputRejected(f"{source}: expected a list of ratings or {{\"ratings\": [...]}}")
        raw_rows = [(r, f"{source}: rating {i + 1}") for i, r in enumerate(rows)]
        if any(not isinstance(r, dict) for r, _ in raw_rows):
            raise InputRejected(f"{source}: every rating must be an object")
    else:
        reader = csv.DictReader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE)  # the pages write no quoting
        missing = {"case", "task", "verdict"} - set(reader.fieldnames or [])
        if missing:
            raise InputRejected(f"{source}: missing column(s) {', '.join(sorted(missing))} (need {', '.join(COLUMNS)})")
        raw_rows = [(dict(r), f"{source}: line {i + 2}") for i, r in enumerate(reader) if any((v or "").strip() for v in r.values() if isinstance(v, str))]
    out = []
    for raw, where in raw_rows:
        rating = _validate(raw, where)
        if rating is not None:
            out.append(rating)
    return out


def read_ratings(path: str | os.PathLike[str]) -> list[Rating]:
    """Read a ratings file (TSV or JSON).

    Raises:
        InputRejected: missing file or invalid content.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputRejected(f"{path}: no such ratings file") from None
    return parse_ratings(text, str(path))


def latest(ratings: list[Rating]) -> list[Rating]:
    """The newest rating per (task, case, reviewer)."""
    best: dict[tuple[str, str, str], Rating] = {}
    for r in ratings:
        key = (r.task, r.case, r.reviewer)
        if key not in best or r.timestamp >= best[key].timestamp:
            best[key] = r
    return sorted(best.values(), key=lambda r: (r.task, r.case, r.reviewer))


def summarise_ratings(ratings: list[Rating], cases: dict[str, set[str]] | None = None) -> dict[str, Any]:
    """Counts per task and verdict, per reviewer, the non-accepted cases and coverage.

    Args:
        ratings: as read (only the newest per task, case and reviewer count).
        cases: optional {task: case IDs} of the cohort, to report unrated cases.

    Returns:
        ``{"tasks": {task: {verdict: n, "rated": n, "cases": n | None, "unrated": [...]}},
        "reviewers": {name: n}, "attention": [rating dicts that are not accept],
        "disagreements": [{"task", "case", "verdicts"}]}``.
    """
    current = latest(ratings)
    tasks: dict[str, dict[str, Any]] = {}
    by_case: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in current:
        by_case[(r.task, r.case)].add(r.verdict)
    for task in sorted({r.task for r in current} | set(cases or {})):
        rows = [r for r in current if r.task == task]
        counts = Counter(r.verdict for r in rows)
        rated = {r.case for r in rows}
        entry: dict[str, Any] = {v: counts.get(v, 0) for v in VERDICTS}
        entry["rated"] = len(rated)
        entry["cases"] = None if cases is None or task not in cases else len(cases[task])
        entry["unrated"] = [] if cases is None else sorted(cases.get(task, set()) - rated)
        tasks[task] = entry
    return {
        "tasks": tasks,
        "reviewers": dict(Counter(r.reviewer or "(unnamed)" for r in current)),
        "attention": [r.to_json() for r in current if r.verdict != "accept"],
        "disagreements": [
            {"task": t, "case": c, "verdicts": sorted(v)} for (t, c), v in sorted(by_case.items()) if len(v) > 1
        ],
    }
