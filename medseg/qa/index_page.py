"""The index of the case pages: one row per case with its status, summary and flags."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from medseg.qa.html import badge, esc, page, read_case_meta, redact_paths, table

__all__ = ["collect_pages", "render_index_page", "write_index_page", "neighbours"]


def collect_pages(pages: list[str | os.PathLike[str]]) -> list[dict[str, Any]]:
    """Read the summary embedded in each case page; pages without one are listed by name."""
    out = []
    for path in pages:
        path = Path(path)
        meta = read_case_meta(path.read_text(encoding="utf-8")) or {"case": path.stem, "task": path.parent.name}
        out.append({**meta, "path": path})
    return out


def neighbours(urls: list[str]) -> dict[str, tuple[str | None, str | None]]:
    """(previous, next) of every URL in a list, for the case pages' ``--prev``/``--next``."""
    return {u: (urls[i - 1] if i else None, urls[i + 1] if i + 1 < len(urls) else None) for i, u in enumerate(urls)}


def render_index_page(
    pages: list[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    status_rows: list[dict[str, str]] | None = None,
    study_url: str | None = None,
    title: str = "QA case pages",
) -> str:
    """The HTML of the index.

    Args:
        pages: case pages (HTML written by ``medseg qa case``).
        out: where the index will be written (links are relative to it).
        status_rows: rows of ``cohort_status.tsv``; cases without a page are listed too.
        study_url: link to the study page.
        title: page title.
    """
    base = Path(out).resolve().parent
    entries = collect_pages(pages)
    seen = {(str(e.get("task")), str(e.get("case"))) for e in entries}
    for row in status_rows or []:
        key = (row.get("task", ""), row.get("case", ""))
        if key not in seen:
            entries.append({
                "task": key[0], "case": key[1], "subject": row.get("subject", ""), "status": row.get("status", ""),
                "summary": redact_paths(row.get("reasons", "")), "flags": [], "path": None,
            })
    entries.sort(key=lambda e: (str(e.get("task")), str(e.get("case"))))
    rows = []
    for e in entries:
        link = esc(e["case"])
        if e["path"] is not None:
            href = Path(os.path.relpath(Path(e["path"]).resolve(), base)).as_posix()
            link = f'<a class="case-link" href="{esc(href)}">{esc(e["case"])}</a>'
        status = str(e.get("status", ""))
        flags = " ".join(badge(f, "bad" if f in ("reference_disagrees", "not_a_ring", "rejected", "empty") else "warn") for f in e.get("flags") or [])
        rows.append([
            esc(e.get("task")), link, esc(e.get("subject")),
            badge(status or "?", "ok" if status == "accepted" else "bad"), esc(e.get("summary", "")),
            flags or badge("none", "ok"), f'<span class="rated" data-key="{esc(e.get("task"))}/{esc(e["case"])}"></span>',
        ])
    nav = f'<nav class="no-print"><a href="{esc(study_url)}">study page</a></nav>' if study_url else ""
    counts = {}
    for e in entries:
        counts[e.get("task")] = counts.get(e.get("task"), 0) + 1
    intro = "<p>" + ", ".join(f"{esc(t)}: {n} case(s)" for t, n in sorted(counts.items(), key=lambda x: str(x[0]))) + \
        ". Open a case and use <kbd>n</kbd>/<kbd>p</kbd> to page through; your ratings column fills from this browser's storage.</p>"
    script = """<script>(function(){var all={};try{all=JSON.parse(localStorage.getItem('medseg-qa-ratings-v1')||'{}')||{};}catch(e){}
document.querySelectorAll('span.rated').forEach(function(s){var r=all[s.getAttribute('data-key')];if(r&&r.verdict){s.textContent=r.verdict.replace('_',' ');}});})();</script>"""
    body = nav + intro + table(["task", "case", "subject", "check", "summary", "flags", "your rating"], rows, raw=True) + script
    return page(title, body)


def write_index_page(out: str | os.PathLike[str], pages: list[str | os.PathLike[str]], **kwargs: Any) -> Path:
    """Render with :func:`render_index_page` and write atomically to ``out``."""
    from medseg.io.atomic import write_text

    return write_text(out, render_index_page(pages, out, **kwargs))
