"""The demo cohort: synthetic head CTs and cine MR studies, written as hospitals hand data over.

Images are a mix of DICOM series folders and NIfTI files; ear landmarks a mix of medseg
JSON (LPS) and 3D Slicer ``.mrk.json`` (RAS), an absent ear stated absent; LV labels are
4D NIfTI label images on the cine grid (255 = not annotated where labels are sparse).
``cohort.tsv`` lists the cases (paths relative to the sheet) and ``ground_truth.json``
records what was drawn for every case.

Every random choice comes from ``numpy.random.default_rng([seed, stream, subject, scan])``,
so a case does not depend on which other cases or tasks are generated; the same seed
gives byte-identical files.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from medseg.errors import ConfigError
from medseg.io.atomic import atomic_dir, write_json
from medseg.phantoms.cine_mr import CINE_MR_DEFAULTS, generate_cine, sparse_labels
from medseg.phantoms.head_ct import HEAD_CT_DEFAULTS, generate_head_scan, sample_head_anatomy

#: Defaults of ``config["cohort"]["demo"]`` (the demo study; see workflow/schemas/phantoms.schema.yaml).
COHORT_DEFAULTS: dict[str, dict[str, Any]] = {
    "ears": {
        "subjects": 8,
        "scans_per_subject": [3, 4],
        "dicom_fraction": 0.4,
        "slicer_fraction": 0.4,
        **HEAD_CT_DEFAULTS,
    },
    "lv": {
        "subjects": 6,
        "dicom_fraction": 0.5,
        "sparse_fraction": 0.5,
        **CINE_MR_DEFAULTS,
    },
}

#: Settings for the smoke study (a few seconds); put them under ``cohort.demo`` in a config.
SMOKE_SETTINGS: dict[str, dict[str, Any]] = {
    "ears": {"subjects": 3, "scans_per_subject": [2, 2], "max_voxels": 500_000},
    "lv": {"subjects": 3, "slices": [2, 2], "phases": [8, 8], "matrix": 64, "pixel_mm": [2.2, 2.8]},
}

_STREAM = {"ears": 1, "lv": 2}
_FORMAT_STREAM = 9


def cohort_settings(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``config["cohort"]["demo"]`` merged over :data:`COHORT_DEFAULTS`.

    Raises:
        ConfigError: an unknown task section or key.
    """
    demo = ((config.get("cohort") or {}).get("demo") or {}) if isinstance(config, dict) else {}
    unknown = sorted(set(demo) - set(COHORT_DEFAULTS))
    if unknown:
        raise ConfigError(f"cohort.demo: unknown section(s) {', '.join(unknown)} (expected ears, lv)")
    out = {}
    for task, defaults in COHORT_DEFAULTS.items():
        given = demo.get(task) or {}
        bad = sorted(set(given) - set(defaults))
        if bad:
            raise ConfigError(f"cohort.demo.{task}: unknown key(s) {', '.join(bad)}; known: {', '.join(sorted(defaults))}")
        out[task] = {**copy.deepcopy(defaults), **given}
    return out


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), *key])


def _pick(seed: int, stream: int, which: int, k: int, fraction: float) -> bool:
    """Case ``k`` takes option ``which`` with the given fraction, spread evenly (a Weyl sequence).

    Each option steps by its own irrational number, so that options are not correlated.
    """
    start = _rng(seed, _FORMAT_STREAM, stream, which).random()
    step = (0.6180339887498949, 0.4142135623730951, 0.7320508075688772)[which]
    return bool((start + k * step) % 1.0 < fraction)


def _uid(seed: int, *parts: Any) -> str:
    from pydicom.uid import generate_uid

    return generate_uid(entropy_srcs=[str(seed), *map(str, parts)])


# --------------------------------------------------------------------------- ears
def _ears_subject(args: tuple[int, int, dict[str, Any], Path]) -> list[dict[str, Any]]:
    """Render and write every scan of one subject; returns one record per case."""
    from medseg.io.dicom_write import write_dicom_series
    from medseg.io.image import write_image
    from medseg.io.landmarks import write_landmarks

    seed, index, cfg, root = args
    subject = f"E{index + 1:02d}"
    anatomy = sample_head_anatomy(_rng(seed, _STREAM["ears"], index), cfg)
    lo, hi = cfg["scans_per_subject"]
    fmt = _rng(seed, _FORMAT_STREAM, _STREAM["ears"], index)
    n_scans = int(fmt.integers(lo, hi + 1))
    records = []
    for scan in range(n_scans):
        case = f"{subject}-s{scan + 1}"
        result = generate_head_scan(_rng(seed, _STREAM["ears"], index, scan + 1), anatomy, cfg)
        folder = root / "ears" / case
        folder.mkdir(parents=True, exist_ok=True)
        k = index * (hi + 1) + scan
        as_dicom = _pick(seed, _STREAM["ears"], 0, k, cfg["dicom_fraction"])
        as_slicer = _pick(seed, _STREAM["ears"], 1, k, cfg["slicer_fraction"])
        if as_dicom:
            import SimpleITK as sitk

            stored = sitk.Cast(result.image, sitk.sitkInt16) + 1024
            image_path = folder / "dicom"
            write_dicom_series(
                stored,
                image_path,
                modality="CT",
                series_description=f"HEAD {result.info['fov_kind'].upper()}",
                patient_id=subject,
                patient_name=f"PHANTOM^{subject}",
                study_uid=_uid(seed, "ears", case, "study"),
                series_uid=_uid(seed, "ears", case, "series"),
                extra_tags={"RescaleIntercept": "-1024", "RescaleSlope": "1"},
            )
        else:
            image_path = write_image(result.image, folder / "ct.nii.gz")
        points = {side: (np.array(v["position"]) if v["present"] else None) for side, v in result.ears.items()}
        if as_slicer:
            annotation = write_landmarks(folder / "ears.mrk.json", points, coordinate_system="RAS")
        else:
            annotation = write_landmarks(folder / "landmarks.json", points)
        records.append(
            {
                "subject": subject,
                "case": case,
                "task": "ears",
                "image": image_path,
                "annotation": annotation,
                "truth": {
                    "image_format": "dicom" if as_dicom else "nifti",
                    "annotation_format": "slicer_ras" if as_slicer else "medseg_lps",
                    "ears": result.ears,
                    "scan": result.info,
                },
            }
        )
    return records


# --------------------------------------------------------------------------- lv
def _lv_subject(args: tuple[int, int, dict[str, Any], Path]) -> list[dict[str, Any]]:
    """Render and write one subject's cine study and labels; returns one record."""
    from medseg.io.dicom_write import write_cine_dicom
    from medseg.io.image import write_image

    seed, index, cfg, root = args
    subject = f"L{index + 1:02d}"
    case = f"{subject}-cine"
    study = generate_cine(_rng(seed, _STREAM["lv"], index), cfg)
    as_dicom = _pick(seed, _STREAM["lv"], 0, index, cfg["dicom_fraction"])
    sparse = _pick(seed, _STREAM["lv"], 1, index, cfg["sparse_fraction"])
    heart = study.heart
    annotated = [0, heart.es_phase] if sparse else list(range(heart.n_phases))
    labels = sparse_labels(study.labels, annotated) if sparse else study.labels
    folder = root / "lv" / case
    folder.mkdir(parents=True, exist_ok=True)
    if as_dicom:
        frames = np.rint(np.transpose(study.image, (1, 0, 2, 3))).astype(np.int16)
        image_path = folder / "dicom"
        write_cine_dicom(
            frames,
            image_path,
            spacing=(heart.pixel_mm, heart.pixel_mm),
            origin=heart.origin,
            direction=heart.direction,
            slice_spacing=heart.slice_spacing_mm,
            trigger_times=study.trigger_times_ms,
            rr_interval_ms=heart.rr_ms,
            patient_id=subject,
            patient_name=f"PHANTOM^{subject}",
            study_uid=_uid(seed, "lv", case, "study"),
            series_uid=_uid(seed, "lv", case, "series"),
        )
    else:
        image_path = write_image(study.to_image(), folder / "cine.nii.gz")
    annotation = write_image(study.to_image(labels), folder / "labels.nii.gz")
    truth = {
        "image_format": "dicom" if as_dicom else "nifti",
        "sparse_labels": sparse,
        "annotated_phases": annotated,
        **study.info(),
    }
    return [{"subject": subject, "case": case, "task": "lv", "image": image_path, "annotation": annotation, "truth": truth}]


# --------------------------------------------------------------------------- cohort
def generate_demo_cohort(
    config: dict[str, Any],
    out_dir: str | os.PathLike[str],
    tasks: Sequence[str] = ("ears", "lv"),
    *,
    sheet: str | os.PathLike[str] | None = None,
    workers: int = 1,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Generate the demo cohort into ``out_dir`` (replaced atomically) and write its sheet.

    Args:
        config: the study config; reads ``seed`` and ``cohort.demo`` (see
            :data:`COHORT_DEFAULTS`).
        out_dir: folder for images, annotations and ``ground_truth.json``.
        tasks: ``ears`` and/or ``lv``.
        sheet: cohort TSV to write (default ``out_dir/cohort.tsv``); paths in it are
            relative to its folder.
        workers: processes rendering subjects in parallel (output does not depend on it).
        progress: called with each finished case ID.

    Returns:
        The path of the cohort sheet.

    Raises:
        ConfigError: unknown task or settings.
    """
    from medseg.cohort import CohortCase, write_cohort_sheet

    bad = sorted(set(tasks) - set(_STREAM))
    if bad:
        raise ConfigError(f"unknown task(s) {', '.join(bad)} (expected ears, lv)")
    settings = cohort_settings(config)
    seed = int(config.get("seed", 0))
    final = Path(out_dir).resolve()
    sheet_path = Path(sheet) if sheet is not None else final / "cohort.tsv"
    records: list[dict[str, Any]] = []
    with atomic_dir(final, owned="ground_truth.json") as tmp:
        jobs: list[tuple[Callable[..., list[dict[str, Any]]], tuple[int, int, dict[str, Any], Path]]] = []
        for task in ("ears", "lv"):
            if task not in tasks:
                continue
            func = _ears_subject if task == "ears" else _lv_subject
            jobs += [(func, (seed, i, settings[task], tmp)) for i in range(int(settings[task]["subjects"]))]
        if workers > 1:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = [pool.submit(func, job) for func, job in jobs]
                for future in futures:
                    records += _done(future.result(), progress)
        else:
            for func, job in jobs:
                records += _done(func(job), progress)
        for record in records:  # paths as they will be after the rename
            for key in ("image", "annotation"):
                record[key] = final / Path(record[key]).relative_to(tmp)
        truth = {
            "seed": seed,
            "settings": {task: settings[task] for task in tasks},
            "cases": {r["case"]: {"subject": r["subject"], "task": r["task"], **r["truth"]} for r in records},
        }
        write_json(tmp / "ground_truth.json", truth)
        if sheet is None:
            cases = [CohortCase(r["subject"], r["case"], r["task"], r["image"], r["annotation"]) for r in records]
            write_cohort_sheet(tmp / "cohort.tsv", [_relocate(c, final, tmp) for c in cases])
    if sheet is not None:
        write_cohort_sheet(sheet_path, [CohortCase(r["subject"], r["case"], r["task"], r["image"], r["annotation"]) for r in records])
    return sheet_path


def _relocate(case: Any, final: Path, tmp: Path) -> Any:
    """A case whose paths point into ``tmp`` (the sheet is written there, then renamed)."""
    from medseg.cohort import CohortCase

    def move(p: Path | None) -> Path | None:
        return None if p is None else tmp / Path(p).relative_to(final)

    return CohortCase(case.subject, case.case, case.task, move(case.image), move(case.annotation))


def _done(records: list[dict[str, Any]], progress: Callable[[str], None] | None) -> list[dict[str, Any]]:
    if progress is not None:
        for record in records:
            progress(record["case"])
    return records
