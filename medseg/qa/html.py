"""Shared page shell of the QA reports: escaping, CSS, the rating widget and its script.

Every page is static and self-contained (inline CSS and JS, images as base64 PNG): it opens
offline from a ``file://`` URL and prints cleanly to PDF. Nothing here reads patient data;
callers pass cohort IDs only, and :func:`redact_paths` strips folder names from free text
(check reasons quote file paths, and a DICOM folder may be named after the patient).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "esc",
    "redact_paths",
    "page",
    "table",
    "badge",
    "flag_list",
    "rating_panel",
    "nav_bar",
    "CASE_META_ID",
    "read_case_meta",
    "fmt",
]

#: id of the ``<script type="application/json">`` block holding a case page's summary.
CASE_META_ID = "medseg-case-meta"

_SEG = r"[^\s\\/:;,'\"()<>|]+"
#: absolute paths (POSIX, Windows, ``~``) and relative ones with a folder and a file name
_PATH = re.compile(rf"(?<![^\s('\"=])(?:[A-Za-z]:|~)?(?:[\\/]{_SEG})+[\\/]?|(?<![^\s('\"=])(?:\.{{1,2}}[\\/])?(?:{_SEG}[\\/])+{_SEG}\.[A-Za-z0-9.]+")


def esc(value: Any) -> str:
    """HTML-escape ``str(value)`` (quotes included); None becomes an empty string."""
    return "" if value is None else html.escape(str(value), quote=True)


def redact_paths(text: str) -> str:
    """Replace every file path in ``text`` by ``‹path›``.

    A folder or file name may carry a patient's name (DICOM folders often do), so no part
    of a path is kept; the page already names the case by its cohort ID.

    Args:
        text: free text such as a check reason.

    Returns:
        The text without paths.
    """
    return _PATH.sub("‹path›", str(text))


def fmt(value: Any, digits: int = 3) -> str:
    """Format a number compactly (None → ``–``)."""
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:  # NaN
            return "–"
        return f"{value:.{digits}f}"
    return str(value)


def badge(text: str, kind: str = "info") -> str:
    """A coloured label; ``kind`` is ok, warn, bad or info."""
    return f'<span class="badge {esc(kind)}">{esc(text)}</span>'


def table(
    header: Sequence[str], rows: Iterable[Sequence[Any]], caption: str | None = None, raw: bool = False, cls: str = ""
) -> str:
    """An HTML table.

    Args:
        header: column titles.
        rows: cell values (escaped unless ``raw``; numbers formatted with :func:`fmt`).
        caption: optional caption.
        raw: cells are trusted HTML.
        cls: extra CSS class.
    """
    out = [f'<table class="{esc(cls)}">']
    if caption:
        out.append(f"<caption>{esc(caption)}</caption>")
    if any(header):
        out.append("<thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr></thead>")
    out.append("<tbody>")
    for row in rows:
        cells = [(str(c) if raw else esc(fmt(c))) for c in row]
        out.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def flag_list(flags: Sequence[Mapping[str, str]]) -> str:
    """Flags (``{"level": "warn"|"bad"|"info", "code", "text"}``) as a list; "no flags" if empty."""
    if not flags:
        return '<p class="flags-none">' + badge("no flags", "ok") + "</p>"
    items = "".join(
        f'<li class="flag {esc(f.get("level", "warn"))}" data-code="{esc(f.get("code", ""))}">'
        f'{badge(f.get("code", "flag"), f.get("level", "warn"))} {esc(f.get("text", ""))}</li>'
        for f in flags
    )
    return f'<ul class="flags">{items}</ul>'


def nav_bar(prev_url: str | None, next_url: str | None, index_url: str | None) -> str:
    """Previous / index / next links (the keyboard shortcuts follow them)."""
    parts = []
    parts.append(f'<a id="nav-prev" href="{esc(prev_url)}">&larr; previous (p)</a>' if prev_url else '<span class="muted">&larr; first case</span>')
    if index_url:
        parts.append(f'<a id="nav-index" href="{esc(index_url)}">index</a>')
    parts.append(f'<a id="nav-next" href="{esc(next_url)}">next (n) &rarr;</a>' if next_url else '<span class="muted">last case &rarr;</span>')
    return '<nav class="no-print">' + " · ".join(parts) + "</nav>"


def rating_panel(task: str, case: str) -> str:
    """The rating widget of a case page: verdict buttons, comment, reviewer, download."""
    return f"""
<section id="rating" class="rating no-print" data-task="{esc(task)}" data-case="{esc(case)}">
  <h2>Your rating</h2>
  <div class="verdicts">
    <button type="button" class="verdict" data-verdict="accept" id="btn-accept" title="a">Accept <kbd>a</kbd></button>
    <button type="button" class="verdict" data-verdict="needs_correction" id="btn-correct" title="c">Needs correction <kbd>c</kbd></button>
    <button type="button" class="verdict" data-verdict="reject" id="btn-reject" title="r">Reject <kbd>r</kbd></button>
    <span id="rating-state" class="muted">not rated</span>
  </div>
  <label>Comment <kbd>f</kbd> (Esc leaves the box)<br><textarea id="comment" rows="2" cols="70"></textarea></label>
  <div class="rating-tools">
    <label>Reviewer <input id="reviewer" size="14" placeholder="initials"></label>
    <button type="button" id="btn-download-tsv" title="d">Download ratings (TSV) <kbd>d</kbd></button>
    <button type="button" id="btn-download-json" title="j">Download (JSON) <kbd>j</kbd></button>
    <label class="filepick">Load ratings file <input type="file" id="ratings-file" accept=".tsv,.json,.txt"></label>
    <span id="rated-count" class="muted"></span>
  </div>
  <p class="muted small">Ratings are kept in this browser (localStorage) across case pages until you download them.
  Keys: <kbd>n</kbd>/<kbd>&rarr;</kbd> next, <kbd>p</kbd>/<kbd>&larr;</kbd> previous, <kbd>a</kbd> accept,
  <kbd>c</kbd> needs correction, <kbd>r</kbd> reject, <kbd>f</kbd> comment, <kbd>d</kbd> download TSV, <kbd>j</kbd> JSON.</p>
</section>
<p class="print-only">Rating: <span id="print-verdict">not rated</span></p>"""


_CSS = """
:root { --ok:#1a7f37; --warn:#b26a00; --bad:#c62828; --info:#3a5a8c; --line:#d0d7de; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:#1f2328;
       margin: 0 auto; max-width: 1200px; padding: 12px 20px 40px; }
h1 { font-size: 1.5em; margin: .2em 0 .3em; } h2 { font-size: 1.2em; margin: 1.1em 0 .4em;
     border-bottom: 1px solid var(--line); padding-bottom: 2px; } h3 { font-size: 1.05em; margin: .8em 0 .3em; }
nav { margin: 4px 0 8px; } nav a { font-weight: 600; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 13px; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; } caption { text-align: left; font-weight: 600; padding: 2px 0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.badge { display: inline-block; padding: 0 7px; border-radius: 9px; font-size: 12px; font-weight: 600;
         color: #fff; background: var(--info); }
.badge.ok { background: var(--ok); } .badge.warn { background: var(--warn); } .badge.bad { background: var(--bad); }
ul.flags { padding-left: 1.1em; margin: 4px 0; } ul.flags li { margin: 2px 0; }
figure { margin: 6px 0 14px; break-inside: avoid; page-break-inside: avoid; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); background: #fff; }
figcaption { font-size: 12px; color: #57606a; }
.muted { color: #6e7781; } .small { font-size: 12px; }
.grid { display: flex; flex-wrap: wrap; gap: 16px; } .grid > * { flex: 1 1 420px; }
.rating { border: 2px solid var(--line); border-radius: 8px; padding: 8px 12px; margin: 10px 0; background: #fbfcfd; }
.rating button { margin: 2px 4px 2px 0; padding: 4px 10px; cursor: pointer; border: 1px solid #8c959f;
                 background: #fff; border-radius: 5px; font: inherit; }
.rating button.verdict.selected[data-verdict=accept] { background: var(--ok); color: #fff; }
.rating button.verdict.selected[data-verdict=needs_correction] { background: var(--warn); color: #fff; }
.rating button.verdict.selected[data-verdict=reject] { background: var(--bad); color: #fff; }
.rating textarea { width: 100%; font: inherit; }
.rating-tools { margin-top: 4px; display: flex; flex-wrap: wrap; gap: 8px; align-items: center; }
kbd { border: 1px solid #8c959f; border-bottom-width: 2px; border-radius: 3px; padding: 0 4px;
      font-size: 11px; background: #f6f8fa; color: #1f2328; }
pre { background: #f6f8fa; padding: 6px 8px; overflow-x: auto; font-size: 12px; white-space: pre-wrap; }
.print-only { display: none; }
header.page { border-bottom: 3px solid #1f2328; margin-bottom: 6px; }
.verdict-ok { color: var(--ok); } .verdict-bad { color: var(--bad); }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  .no-print { display: none !important; }
  .print-only { display: block; }
  a { color: inherit; text-decoration: none; }
  h2 { break-after: avoid; page-break-after: avoid; }
  table, figure, .keep { break-inside: avoid; page-break-inside: avoid; }
  .badge { border: 1px solid #000; color: #000 !important; background: none !important; }
  @page { size: A4; margin: 12mm; }
}
"""

_RATING_JS = r"""
(function () {
  'use strict';
  var KEY = 'medseg-qa-ratings-v1', RKEY = 'medseg-qa-reviewer';
  var COLUMNS = ['case', 'task', 'verdict', 'comment', 'reviewer', 'timestamp'];
  var LABEL = {accept: 'accepted', needs_correction: 'needs correction', reject: 'rejected'};
  function store() { try { return window.localStorage; } catch (e) { return null; } }
  var memory = {};
  function load() {
    var s = store(); if (!s) return memory;
    try { return JSON.parse(s.getItem(KEY) || '{}') || {}; } catch (e) { return {}; }
  }
  function save(all) { memory = all; var s = store(); if (s) { try { s.setItem(KEY, JSON.stringify(all)); } catch (e) {} } }
  function reviewer() { var el = document.getElementById('reviewer'); return el ? el.value.trim() : ''; }
  function rows() {
    var all = load();
    return Object.keys(all).sort().map(function (k) { return all[k]; });
  }
  function clean(v) { return String(v == null ? '' : v).replace(/[\t\r\n]+/g, ' '); }
  function tsv() {
    return COLUMNS.join('\t') + '\n' + rows().map(function (r) {
      return COLUMNS.map(function (c) { return clean(r[c]); }).join('\t');
    }).join('\n') + (rows().length ? '\n' : '');
  }
  function json() { return JSON.stringify({format: 'medseg-qa-ratings', version: 1, ratings: rows()}, null, 2) + '\n'; }
  function stamp() { return new Date().toISOString().replace(/\.\d+Z$/, 'Z'); }
  function download(kind) {
    var text = kind === 'json' ? json() : tsv();
    var blob = new Blob([text], {type: kind === 'json' ? 'application/json' : 'text/tab-separated-values'});
    var a = document.createElement('a');
    var who = (reviewer() || 'reviewer').replace(/[^A-Za-z0-9_-]+/g, '_');
    a.href = URL.createObjectURL(blob);
    a.download = 'ratings_' + who + '_' + stamp().slice(0, 10) + (kind === 'json' ? '.json' : '.tsv');
    document.body.appendChild(a); a.click();
    setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  }
  var panel = document.getElementById('rating');
  var task = panel ? panel.getAttribute('data-task') : null;
  var kase = panel ? panel.getAttribute('data-case') : null;
  var id = task + '/' + kase;
  function current() { return load()[id] || null; }
  function show() {
    var r = current(), v = r ? r.verdict : '';
    document.querySelectorAll('button.verdict').forEach(function (b) {
      b.classList.toggle('selected', b.getAttribute('data-verdict') === v);
      b.setAttribute('aria-pressed', b.getAttribute('data-verdict') === v ? 'true' : 'false');
    });
    var st = document.getElementById('rating-state');
    if (st) st.textContent = r && r.verdict ? LABEL[r.verdict] + ' at ' + r.timestamp : 'not rated';
    var pv = document.getElementById('print-verdict');
    if (pv) pv.textContent = r && r.verdict ? LABEL[r.verdict] + (r.comment ? ' — ' + r.comment : '') : 'not rated';
    var n = document.getElementById('rated-count');
    if (n) n.textContent = rows().filter(function (x) { return x.verdict; }).length + ' case(s) rated in this browser';
  }
  function update(fields) {
    var all = load(), r = all[id] || {case: kase, task: task, verdict: '', comment: ''};
    for (var k in fields) r[k] = fields[k];
    r.reviewer = reviewer(); r.timestamp = stamp();
    all[id] = r; save(all); show();
  }
  function setVerdict(v) { update({verdict: v, comment: document.getElementById('comment').value}); }
  function merge(list) {
    var all = load();
    list.forEach(function (r) {
      if (!r || !r.case || !r.task) return;
      var k = r.task + '/' + r.case, old = all[k];
      if (!old || String(r.timestamp || '') >= String(old.timestamp || '')) all[k] = r;
    });
    save(all);
  }
  function parseFile(text) {
    text = text.replace(/^\uFEFF/, '');
    if (/^\s*[\[{]/.test(text)) { var d = JSON.parse(text); return Array.isArray(d) ? d : (d.ratings || []); }
    var lines = text.split(/\r?\n/).filter(function (l) { return l.trim(); });
    var head = lines.shift().split('\t');
    return lines.map(function (l) { var c = l.split('\t'), r = {}; head.forEach(function (h, i) { r[h] = c[i] || ''; }); return r; });
  }
  if (panel) {
    var s = store(), rv = document.getElementById('reviewer');
    if (s && rv) rv.value = s.getItem(RKEY) || '';
    rv.addEventListener('input', function () { if (s) s.setItem(RKEY, rv.value.trim()); });
    var r0 = current(); if (r0) document.getElementById('comment').value = r0.comment || '';
    document.querySelectorAll('button.verdict').forEach(function (b) {
      b.addEventListener('click', function () { setVerdict(b.getAttribute('data-verdict')); });
    });
    document.getElementById('comment').addEventListener('input', function (e) { update({comment: e.target.value}); });
    document.getElementById('btn-download-tsv').addEventListener('click', function () { download('tsv'); });
    document.getElementById('btn-download-json').addEventListener('click', function () { download('json'); });
    document.getElementById('ratings-file').addEventListener('change', function (e) {
      var f = e.target.files[0]; if (!f) return;
      f.text().then(function (t) { merge(parseFile(t)); var r = current(); document.getElementById('comment').value = r ? r.comment || '' : ''; show(); });
    });
    show();
  }
  function go(which) { var a = document.getElementById('nav-' + which); if (a && a.href) window.location.href = a.href; }
  document.addEventListener('keydown', function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target, typing = t && (t.tagName === 'TEXTAREA' || t.tagName === 'INPUT' || t.isContentEditable);
    if (typing) { if (e.key === 'Escape') t.blur(); return; }
    var k = e.key;
    if (k === 'n' || k === 'ArrowRight') go('next');
    else if (k === 'p' || k === 'ArrowLeft') go('prev');
    else if (!panel) return;
    else if (k === 'a') setVerdict('accept');
    else if (k === 'c') setVerdict('needs_correction');
    else if (k === 'r') setVerdict('reject');
    else if (k === 'f') { document.getElementById('comment').focus(); }
    else if (k === 'd') download('tsv');
    else if (k === 'j') download('json');
    else return;
    e.preventDefault();
  });
  window.medsegQA = {rows: rows, tsv: tsv, json: json, merge: merge};
})();
"""


def page(title: str, body: str, subtitle: str = "", meta: Mapping[str, Any] | None = None) -> str:
    """The complete HTML document.

    Args:
        title: page title (cohort IDs only).
        body: trusted HTML of the content.
        subtitle: short escaped line under the title.
        meta: JSON summary embedded for the index page (see :func:`read_case_meta`).
    """
    meta_block = ""
    if meta is not None:
        text = json.dumps(meta, sort_keys=True).replace("</", "<\\/")
        meta_block = f'<script type="application/json" id="{CASE_META_ID}">{text}</script>'
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{_CSS}</style>{meta_block}</head><body>"
        f'<header class="page"><h1>{esc(title)}</h1>'
        + (f'<div class="muted">{esc(subtitle)}</div>' if subtitle else "")
        + f"</header>{body}<script>{_RATING_JS}</script></body></html>\n"
    )


def read_case_meta(text: str) -> dict[str, Any] | None:
    """The JSON summary embedded by :func:`page` in a case page, or None."""
    match = re.search(rf'<script type="application/json" id="{CASE_META_ID}">(.*?)</script>', text, re.S)
    if not match:
        return None
    try:
        return json.loads(match.group(1).replace("<\\/", "</"))
    except ValueError:
        return None
