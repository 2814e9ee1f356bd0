"""The study page: cohort, metrics per fold and subject, ablations, plots, ratings, provenance."""

from __future__ import annotations

import csv
import json
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medseg.errors import InputRejected
from medseg.qa import figures
from medseg.metrics import mean_sd_text
from medseg.qa.html import badge, esc, fmt, page, redact_paths, table

__all__ = ["Evaluation", "read_evaluation", "render_study_page", "write_study_page"]

EAR_SIDES = ("left", "right")


class Evaluation:
    """One task's evaluation folder (``summary.json`` and the TSV tables beside it)."""

    def __init__(self, folder: Path, task: str, summary: dict[str, Any], tables: dict[str, list[dict[str, str]]]) -> None:
        self.folder = folder
        self.task = task
        self.summary = summary
        self.tables = tables

    @property
    def variants(self) -> dict[str, Any]:
        """Metrics per variant."""
        return self.summary.get("variants") or {}


def _read_tsv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def read_evaluation(folder: str | os.PathLike[str]) -> Evaluation:
    """Read an evaluation folder (with its ``provenance.json``); the task is recognised from
    the content or the folder path.

    Raises:
        InputRejected: no readable ``summary.json``.
    """
    folder = Path(folder)
    path = folder / "summary.json" if folder.is_dir() else folder
    folder = path.parent
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise InputRejected(f"{path}: cannot read the evaluation summary ({error})") from None
    provenance = folder / "provenance.json"
    if "provenance" not in summary and provenance.is_file():
        try:
            summary["provenance"] = json.loads(provenance.read_text(encoding="utf-8"))
        except ValueError:
            summary["provenance"] = {"error": f"{provenance.name} cannot be read"}
    variants = summary.get("variants") or {}
    first = next(iter(variants.values()), {}) if isinstance(variants, dict) else {}
    if "confusion_0_1_2" in first or "match_radius_mm" in summary:
        task = "ears"
    elif "over_subjects" in first or "metrics" in summary:
        task = "lv"
    else:
        task = next((p for p in folder.parts[::-1] if p in ("ears", "lv")), folder.name)
    tables = {name: _read_tsv(folder / f"{name}.tsv") for name in ("per_case", "per_subject", "per_frame", "ablation")}
    return Evaluation(folder, task, summary, tables)


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def _folds_by_task(paths: Sequence[Path]) -> dict[str | None, dict[str, str]]:
    """Per task (the ``task`` of each ``splits.json``; ``None`` for a file without one), the
    fold that held each subject out. Each task has its own folds, and one patient may be a
    subject of both."""
    from medseg.splits import read_splits

    folds: dict[str | None, dict[str, str]] = {}
    for path in paths:
        try:
            task = json.loads(Path(path).read_text(encoding="utf-8")).get("task")
        except (OSError, ValueError, AttributeError):
            task = None  # read_splits below names what is wrong with the file
        folds.setdefault(task, {}).update({s: fold.name for fold in read_splits(path) for s in fold.test_subjects})
    return folds


def _cohort_section(summary: Mapping[str, Any], status: Sequence[Mapping[str, str]]) -> str:
    cohort = summary.get("cohort") or {}
    rows = []
    rejected_rows = []
    tasks = sorted(set(cohort) | {r.get("task", "") for r in status})
    for task in tasks:
        info = cohort.get(task) or {}
        task_rows = [r for r in status if r.get("task") == task]
        subjects = info.get("subjects", len({r.get("subject") for r in task_rows}))
        cases = info.get("cases", len(task_rows))
        rejected = [r for r in task_rows if r.get("status") != "accepted"] or [
            {"case": r.get("case"), "subject": r.get("subject"), "reasons": " | ".join(r.get("reasons") or [])}
            for r in info.get("rejected") or []
        ]
        accepted = info.get("accepted", cases - len(rejected))
        rows.append([task, subjects, cases, accepted, len(rejected)])
        for r in rejected:
            rejected_rows.append([task, r.get("subject", ""), r.get("case", ""), redact_paths(str(r.get("reasons", "")))])
    out = "<h2>Cohort</h2>" + table(["task", "subjects", "cases", "accepted", "rejected"], rows)
    if rejected_rows:
        out += table(["task", "subject", "case", "why rejected"], rejected_rows, caption="Rejected cases")
    else:
        out += "<p>" + badge("no case rejected", "ok") + "</p>"
    return out


def _main_variant(variants: Mapping[str, Any], method: str) -> str | None:
    """The variant the per-subject and per-fold tables show: the method itself when the
    evaluation has it (its variants may be listed in any order), else the first."""
    return method if method in variants else next(iter(variants), None)


def _mean(values: Sequence[float]) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _ears_section(ev: Evaluation, folds: Mapping[str, str]) -> str:
    variants = ev.variants
    radius = _float(ev.summary.get("match_radius_mm"))
    ablation = []
    for name, s in variants.items():
        err = s.get("error_mm") or {}
        found = s.get("error_found_mm") or {}
        ablation.append([
            name, s.get("cases"), s.get("presence_accuracy"), s.get("detection_accuracy"), s.get("volume_accuracy"),
            s.get("false_positive_ears"), s.get("false_negative_ears"), s.get("mislocalised_ears"),
            f"{fmt(err.get('mean'), 2)} ± {fmt(err.get('sd'), 2)}", err.get("median"), err.get("max"),
            f"{fmt(found.get('mean'), 2)} ± {fmt(found.get('sd'), 2)}" if found else "",
        ])
    out = "<h2>Ears</h2>" + table(
        ["variant", "cases", "presence acc.", "detection acc.", "0/1/2 acc.", "FP ears", "FN ears", "mislocalised",
         "error mm, every ear in both (mean ± SD)", "median", "max", "error mm, correctly found ears (mean ± SD)"],
        ablation,
        caption="Ablation (all variants). The first error counts every ear present in prediction and reference, "
        "mislocalised ones included; the last counts only ears found within the match radius, as the method's "
        "paper reports it.",
    )
    per_case = ev.tables["per_case"]
    errors: dict[str, list[float]] = defaultdict(list)
    for row in per_case:
        for side in EAR_SIDES:
            e = _float(row.get(f"{side}_error_mm"))
            if e is not None:
                errors[row.get("variant", "?")].append(e)
    for name in variants:
        errors.setdefault(name, [])
    main = _main_variant(variants, "full")
    if per_case and main is not None:
        for key, title in (("subject", "Per subject"), ("fold", "Per fold")):
            if key == "fold" and not folds:
                continue
            groups: dict[str, list[dict[str, str]]] = defaultdict(list)
            for row in per_case:
                if row.get("variant") == main:
                    group = row.get("subject", "") if key == "subject" else folds.get(row.get("subject", ""), "?")
                    groups[group].append(row)
            rows = []
            for group, items in sorted(groups.items()):
                errs = [_float(r.get(f"{s}_error_mm")) for r in items for s in EAR_SIDES]
                ok = [r.get(f"{s}_detection_ok", "").lower() in ("true", "1") for r in items for s in EAR_SIDES]
                row = [group, len(items), float(np.mean(ok)) if ok else None, _mean([e for e in errs if e is not None])]
                if key == "fold":
                    thresholds = sorted({t for t in (_float(r.get("threshold")) for r in items) if t is not None})
                    row.append(", ".join(fmt(t, 3) for t in thresholds))
                rows.append(row)
            columns = [key, "cases", "detection acc.", "mean error (mm)"] + (["presence threshold"] if key == "fold" else [])
            caption = f"{title} (variant {main})" + (": each fold's threshold comes from its training subjects only (or the config)" if key == "fold" else "")
            out += table(columns, rows, caption=caption)
    figs = []
    if errors:
        figs.append(f'<figure><img alt="localisation error per variant" src="{figures.error_distribution(errors, radius)}">'
                    "<figcaption>Localisation error of ears present in reference and prediction, per variant.</figcaption></figure>")
    matrices = {n: (s.get("confusion_0_1_2") or {}).get("matrix") for n, s in variants.items()}
    matrices = {n: m for n, m in matrices.items() if m}
    if matrices:
        figs.append(f'<figure><img alt="0/1/2-ear confusion" src="{figures.confusion_matrices(matrices)}">'
                    "<figcaption>Number of ears per volume: reference (rows) vs prediction (columns).</figcaption></figure>")
    return out + '<div class="grid">' + "".join(figs) + "</div>"


def _real_ct_section(checks: Sequence[Mapping[str, Any]]) -> str:
    """The final ear model on real CTs: annotated ears found? nothing in crops without ears?"""
    if not checks:
        return ""
    verdict = {True: "as expected", False: "NOT as expected", None: "skipped"}
    rows = []
    for check in checks:
        name = check.get("name", "?")
        if check.get("skipped"):
            rows.append([name, "whole scan", "", "", verdict[None] + f": {redact_paths(check['skipped'])}"])
            continue
        full = check.get("full") or {}
        distances = ", ".join(fmt(m.get("distance_mm"), 1) if m.get("distance_mm") is not None else "not found" for m in full.get("matches", []))
        strongest = ", ".join(fmt(n.get("score"), 2) if n.get("score") is not None else "none" for n in full.get("strongest_near_annotated", []))
        response = f"; strongest response near them {strongest}, threshold {fmt(full.get('threshold'), 2)}" if strongest else ""
        rows.append([name, "whole scan", full.get("expected_ears"), full.get("found_ears"),
                     f"{verdict[full.get('ok')]} (annotated ears: {distances} mm{response})"])
        for crop, entry in (check.get("crops") or {}).items():
            z = entry.get("z_mm") or ["?", "?"]
            note = verdict[entry.get("ok")] + (f": {redact_paths(entry['skipped'])}" if entry.get("skipped") else "")
            rows.append([name, f"crop {crop} (z {z[0]}–{z[1]} mm)", 0, entry.get("found_ears", ""), note])
    return "<h2>Ears on real CT</h2>" + table(
        ["CT", "region", "ears expected", "ears found", "result"], rows,
        caption="The final model on real scans (not part of the phantom metrics).",
    )


def _lv_section(ev: Evaluation, folds: Mapping[str, str], areas: Sequence[Path]) -> str:
    variants = ev.variants
    metrics = list(ev.summary.get("metrics") or ["dice", "hd", "hd95", "apd_endo", "apd_epi", "dice_cavity"])
    ablation = []
    for name, s in variants.items():
        stats = s.get("over_subjects") or {}
        ablation.append([name, len(s.get("subjects") or {})] + [mean_sd_text(stats.get(m) or {}, 3) for m in metrics])
    out = "<h2>LV</h2>" + table(
        ["variant", "subjects", *metrics], ablation,
        caption="Ablation (mean ± SD over subjects; n=k of m where a metric is undefined for some subjects)",
    )
    main = _main_variant(variants, "multi_level")
    dice: dict[str, dict[str, float]] = {}
    for name, s in variants.items():
        dice[name] = {subj: v.get("dice") for subj, v in (s.get("subjects") or {}).items() if _float(v.get("dice")) is not None}
    if main is not None:
        subjects = variants[main].get("subjects") or {}
        rows = [[subj, v.get("frames"), *[_float(v.get(m)) for m in metrics]] for subj, v in sorted(subjects.items())]
        out += table(["subject", "frames", *metrics], rows, caption=f"Per subject (variant {main})")
        if folds:
            groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for subj, v in subjects.items():
                groups[folds.get(subj, "?")].append(v)
            rows = [[f, len(items), *[_mean([_float(i.get(m)) for i in items]) for m in metrics]] for f, items in sorted(groups.items())]
            out += table(["fold", "subjects", *metrics], rows, caption=f"Per fold (variant {main})")
    figs = []
    if any(dice.values()):
        figs.append(f'<figure><img alt="Dice per subject" src="{figures.dice_per_subject(dice)}">'
                    "<figcaption>Myocardium Dice per subject (mean over annotated frames), per variant.</figcaption></figure>")
    curves: dict[str, list[float]] = {}
    for path in areas:
        by_phase: dict[int, float] = {}
        for row in _read_tsv(Path(path)):
            t, v = _float(row.get("phase")), _float(row.get("volume_ml"))
            if t is not None and v is not None:
                by_phase[int(t)] = v
        if by_phase:
            curves[Path(path).parent.name] = [by_phase[t] for t in sorted(by_phase)]
    if curves:
        figs.append(f'<figure><img alt="volume curves" src="{figures.volume_curves(curves)}">'
                    "<figcaption>Predicted myocardial volume over the cardiac cycle, per case.</figcaption></figure>")
    return out + '<div class="grid">' + "".join(figs) + "</div>"


def _ratings_section(ratings_path: Path | None, status: Sequence[Mapping[str, str]]) -> str:
    if ratings_path is None:
        return ""
    from medseg.qa.ratings import read_ratings, summarise_ratings

    cases: dict[str, set[str]] = defaultdict(set)
    for r in status:
        cases[r.get("task", "")].add(r.get("case", ""))
    summary = summarise_ratings(read_ratings(ratings_path), dict(cases) if cases else None)
    rows = [[t, v["rated"], v["cases"], v["accept"], v["needs_correction"], v["reject"], ", ".join(v["unrated"][:10]) + (" …" if len(v["unrated"]) > 10 else "")]
            for t, v in summary["tasks"].items()]
    out = "<h2>Ratings</h2>" + table(["task", "rated", "cases", "accept", "needs correction", "reject", "unrated"], rows)
    out += "<p>Reviewers: " + esc(", ".join(f"{k} ({v})" for k, v in summary["reviewers"].items()) or "none") + "</p>"
    if summary["attention"]:
        out += table(["task", "case", "verdict", "reviewer", "comment", "time"],
                     [[a["task"], a["case"], a["verdict"].replace("_", " "), a["reviewer"], a["comment"], a["timestamp"]] for a in summary["attention"]],
                     caption="Cases not accepted by a reviewer")
    if summary["disagreements"]:
        out += table(["task", "case", "verdicts"], [[d["task"], d["case"], ", ".join(d["verdicts"])] for d in summary["disagreements"]],
                     caption="Reviewers disagree")
    return out


def _config_without_paths(text: str) -> str:
    """The study config with every path-like value (data folders, sheets, images) shown as
    ``‹path›``: a folder name may carry a patient's name. The file's hash still names it."""
    import yaml

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: clean(item) for key, item in value.items()}
        if isinstance(value, list):
            return [clean(item) for item in value]
        if isinstance(value, str) and ("/" in value or "\\" in value or value.startswith("~")):
            return "‹path›"
        return value

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return redact_paths(text)
    return yaml.safe_dump(clean(data), sort_keys=False, allow_unicode=True)


def _provenance_section(summary: Mapping[str, Any], evaluations: Sequence[Evaluation], config: Path | None) -> str:
    blocks: list[tuple[str, Mapping[str, Any]]] = []
    if isinstance(summary.get("provenance"), dict):
        blocks.append(("study summary", summary["provenance"]))
    for ev in evaluations:
        if isinstance(ev.summary.get("provenance"), dict):
            blocks.append((f"{ev.task} evaluation", ev.summary["provenance"]))
    out = "<h2>Provenance</h2>"
    keys = ["medseg_version", "git_revision", "git_dirty", "config_sha256", "seed", "python", "platform", "cpu_count", "cuda_device", "created_utc"]
    if blocks:
        rows = []
        for key in keys:
            rows.append([key, *[fmt(b.get(key)) for _, b in blocks]])
        packages = sorted({p for _, b in blocks for p in (b.get("packages") or {})})
        for p in packages:
            rows.append([f"package {p}", *[fmt((b.get("packages") or {}).get(p)) for _, b in blocks]])
        for part in ("model", "torch_capability", "isa_limits"):
            rows.append([f"cpu {part}", *[fmt(_plain((b.get("cpu") or {}).get(part))) for _, b in blocks]])
        out += table(["", *[name for name, _ in blocks]], rows, cls="small keep")
    else:
        out += "<p class=\"muted\">no provenance block found.</p>"
    out += f"<p>Study seed: {esc(fmt(summary.get('seed')))}</p>"
    if config is not None and config.is_file():
        from medseg.provenance import file_sha256

        text = _config_without_paths(config.read_text(encoding="utf-8"))
        out += f"<h3>Configuration <span class=\"muted small\">({esc(config.name)}, file sha256 {esc(file_sha256(config)[:16])}…)</span></h3><pre>{esc(text)}</pre>"
    return out


def render_study_page(
    summary_path: str | os.PathLike[str],
    status_path: str | os.PathLike[str] | None = None,
    evaluations: Sequence[str | os.PathLike[str]] = (),
    ratings_path: str | os.PathLike[str] | None = None,
    splits_paths: Sequence[str | os.PathLike[str]] = (),
    areas: Sequence[str | os.PathLike[str]] = (),
    config_path: str | os.PathLike[str] | None = None,
    index_url: str | None = None,
) -> str:
    """The HTML of the study page.

    Args:
        summary_path: ``study_summary.json`` (:func:`medseg.qa.summary.write_study_summary`).
        status_path: ``cohort_status.tsv``.
        evaluations: evaluation folders (or their ``summary.json``) of the tasks.
        ratings_path: a ratings file downloaded from the case pages.
        splits_paths: the tasks' ``splits.json`` files, for metrics per fold.
        areas: ``areas.tsv`` files of LV predictions, for volume curves.
        config_path: the study configuration file, shown verbatim.
        index_url: link to the index of case pages.
    """
    from medseg.qa.summary import read_cohort_status

    try:
        summary = json.loads(Path(summary_path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise InputRejected(f"{summary_path}: cannot read the study summary ({error})") from None
    status = read_cohort_status(status_path) if status_path else []
    evs = [read_evaluation(e) for e in evaluations]
    folds = _folds_by_task([Path(p) for p in splits_paths])
    body = f'<nav class="no-print"><a href="{esc(index_url)}">case pages</a></nav>' if index_url else ""
    body += _cohort_section(summary, status)
    for ev in evs:
        task_folds = folds.get(ev.task) or folds.get(None, {})
        if ev.task == "ears":
            body += _ears_section(ev, task_folds)
            body += _real_ct_section(summary.get("real_ct") or [])
        elif ev.task == "lv":
            body += _lv_section(ev, task_folds, [Path(a) for a in areas])
        else:
            body += f"<h2>{esc(ev.task)}</h2><pre>{esc(json.dumps(ev.summary, indent=1)[:4000])}</pre>"
    body += _ratings_section(Path(ratings_path) if ratings_path else None, status)
    body += _provenance_section(summary, evs, Path(config_path) if config_path else None)
    name = str(summary.get("study_name", "study"))
    created = (summary.get("provenance") or {}).get("created_utc", "")
    return page(f"Study {name}", body, subtitle=f"medseg study report · {created}")


def write_study_page(out: str | os.PathLike[str], *args: Any, **kwargs: Any) -> Path:
    """Render with :func:`render_study_page` and write atomically to ``out``."""
    from medseg.io.atomic import write_text

    return write_text(out, render_study_page(*args, **kwargs))


def _plain(value: Any) -> Any:
    """A mapping as ``key=value, ...`` (None when empty); anything else unchanged."""
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or None
    return value
