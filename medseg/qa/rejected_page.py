"""The input-check verdict of a case, and the page of a case the checks rejected."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from medseg.errors import ImageReadError
from medseg.qa.html import badge, esc, fmt, nav_bar, page, rating_panel, redact_paths, table

__all__ = ["read_check", "check_section", "render_rejected_page", "write_rejected_page"]


def read_check(ingest_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Read ``check.json`` of an ingest folder.

    Raises:
        ImageReadError: the file is missing or not JSON.
    """
    path = Path(ingest_dir) / "check.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ImageReadError(f"{path}: no check.json (is this an ingest folder?)") from None
    except ValueError as error:
        raise ImageReadError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise ImageReadError(f"{path}: expected a JSON object")
    return data


def _flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), item, out)
    elif isinstance(value, list) and len(value) <= 6 and all(isinstance(v, (int, float)) for v in value):
        out.append((prefix, ", ".join(fmt(v) for v in value)))
    else:
        out.append((prefix, redact_paths(fmt(value) if not isinstance(value, (list, dict)) else json.dumps(value)[:200])))


def check_section(check: dict[str, Any]) -> str:
    """The input-check verdict: status, reasons (paths reduced to file names), measurements."""
    status = str(check.get("status", "unknown"))
    kind = "ok" if status == "accepted" else "bad"
    reasons = check.get("reasons") or []
    codes = check.get("codes") or []
    out = [f"<h2>Input check</h2><p>{badge(status, kind)} " + " ".join(badge(c, "warn") for c in codes) + "</p>"]
    if reasons:
        out.append("<ul>" + "".join(f"<li>{esc(redact_paths(r))}</li>" for r in reasons) + "</ul>")
    measurements: list[tuple[str, str]] = []
    _flatten("", check.get("measurements") or check.get("checks") or {}, measurements)
    if measurements:
        out.append(table(["measurement", "value"], measurements, cls="small"))
    return "".join(out)


def render_rejected_page(
    ingest_dir: str | os.PathLike[str],
    prev_url: str | None = None,
    next_url: str | None = None,
    index_url: str | None = None,
) -> str:
    """The HTML page of a case the input checks rejected (why, and a rating to confirm it)."""
    check = read_check(ingest_dir)
    case = str(check.get("case", Path(ingest_dir).name))
    subject = str(check.get("subject", ""))
    task = str(check.get("task", "unknown"))
    body = (
        nav_bar(prev_url, next_url, index_url)
        + '<p class="verdict-bad"><strong>This case was not processed: the input checks rejected it.</strong> '
        "Rate <em>accept</em> if the rejection is right, <em>needs correction</em> if the input can be fixed, "
        "<em>reject</em> if the check was wrong.</p>"
        + check_section(check)
        + rating_panel(task, case)
    )
    meta = {
        "task": task, "case": case, "subject": subject, "status": check.get("status", "rejected"),
        "summary": "; ".join(redact_paths(r) for r in check.get("reasons") or [])[:160], "flags": ["rejected"],
    }
    return page(f"{task} QA · {case} (rejected)", body, subtitle=f"subject {subject} · case {case} · task {task}", meta=meta)


def write_rejected_page(out: str | os.PathLike[str], *args: Any, **kwargs: Any) -> Path:
    """Render with :func:`render_rejected_page` and write atomically to ``out``."""
    from medseg.io.atomic import write_text

    return write_text(out, render_rejected_page(*args, **kwargs))
