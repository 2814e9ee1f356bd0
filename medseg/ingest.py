"""Ingest one case: read it, check it, and write the canonical files of the contract.

The output folder always holds ``check.json``. An accepted case also gets ``image.nii.gz``
and its annotation in canonical form (ears: ``landmarks.json``; lv: ``labels.nii.gz`` and
``label_check.json``). A case that cannot be read or fails a check is *recorded*, not
raised: the study goes on without it and the report lists it with its reason.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import SimpleITK as sitk

from medseg.checks import CheckResult, check_image, flag_stored_nonfinite
from medseg.cohort import CohortCase
from medseg.errors import InputRejected, MedsegError
from medseg.io.atomic import atomic_dir, write_json
from medseg.io.contours import SUNNYBROOK_ORIGIN
from medseg.io.image import write_image
from medseg.provenance import collect_provenance

logger = logging.getLogger(__name__)

MODALITY_OF_TASK = {"ears": "ct", "lv": "cine"}


def _rejected(code: str, reason: str) -> CheckResult:
    return CheckResult(status="rejected", reasons=[reason], codes=[code], measurements={})


def _read_ears_case(case: CohortCase, checks: dict[str, Any]) -> tuple[sitk.Image | None, CheckResult]:
    from medseg.checks import load_checked

    return load_checked(case.image, "ct", allow_offset=checks.get("ct_offset") == "correct", **_check_limits(checks))


class AnnotationRejected(MedsegError):
    """The image is fine but its annotation cannot be used."""


@contextlib.contextmanager
def _annotation_step() -> Iterator[None]:
    try:
        yield
    except AnnotationRejected:
        raise
    except MedsegError as error:
        raise AnnotationRejected(f"annotation: {error}") from error


def _check_limits(checks: dict[str, Any]) -> dict[str, Any]:
    limits = {}
    if "min_fov_mm" in checks:
        limits["min_fov_mm"] = checks["min_fov_mm"]
    if "max_voxels" in checks:
        limits["max_voxels"] = checks["max_voxels"]
    return limits


def _ingest_ears(case: CohortCase, folder: Path, checks: dict[str, Any]) -> CheckResult:
    from medseg.ears.annotations import convert_annotation

    image, result = _read_ears_case(case, checks)
    if image is None:
        return result
    write_image(sitk.Cast(image, sitk.sitkFloat32), folder / "image.nii.gz")
    if case.annotation is not None:
        with _annotation_step():
            convert_annotation(case.annotation, image, folder / "landmarks.json")
    return result


def _ingest_lv(case: CohortCase, folder: Path, checks: dict[str, Any], contour_origin: float) -> CheckResult:
    from medseg.io.cine import cine_to_image, read_cine
    from medseg.lv.annotations import convert_annotation
    from medseg.lv.study import volume_from_image

    study = read_cine(case.image)
    image = cine_to_image(study)
    result = check_image(image, "cine", **_check_limits({k: v for k, v in checks.items() if k != "min_fov_mm"}))
    flag_stored_nonfinite(result, case.image, study.stored_non_finite)
    if result.status != "accepted":
        return result
    try:
        volume_from_image(image, Path(case.image))  # what `lv train` and `lv segment` will ask of image.nii.gz
    except InputRejected as error:
        result.add("not_cine", str(error))
        return result
    write_image(image, folder / "image.nii.gz")
    if case.annotation is not None:
        with _annotation_step():
            report = convert_annotation(case.annotation, study, folder / "labels.nii.gz", contour_origin)
        usable = report.get("usable", {})
        if usable and not (usable.get("endo") or usable.get("epi")):
            reasons = sorted({r for frame in report.get("frames", []) for r in frame.get("reasons", [])} | set(report.get("study_reasons", [])))
            raise AnnotationRejected(
                "annotation: no usable contour in " + str(case.annotation) + (": " + "; ".join(reasons[:3]) if reasons else "")
            )
    return result


def _without_case_paths(reason: str, case: CohortCase) -> str:
    """``reason`` with the case's image and annotation paths as ``‹image›`` / ``‹annotation›``.

    Reasons reach the report and the QA pages, which are shared; a folder name may carry a
    patient's name (``DOE JOHN 19500101/CT HEAD``), with spaces and commas that no general
    path pattern can bound. The cohort sheet says which files the case has.
    """
    for path, name in ((case.image, "‹image›"), (case.annotation, "‹annotation›")):
        if path is None:
            continue
        forms = {str(path), os.fspath(Path(path).absolute())}
        with contextlib.suppress(OSError):
            forms.add(str(Path(path).resolve()))
        for form in sorted(forms, key=len, reverse=True):
            reason = reason.replace(form, name)
    return reason


def ingest_case(case: CohortCase, out_dir: str | Path, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read, check and convert one case into ``out_dir`` (replaced atomically).

    Args:
        case: the cohort-sheet row.
        out_dir: the case's ingest folder.
        config: the study config (its ``checks`` section sets the limits).

    Returns:
        The verdict written to ``check.json``.
    """
    config = config or {}
    checks = config.get("checks", {})
    contour_origin = config.get("cohort", {}).get("contour_origin_px", SUNNYBROOK_ORIGIN)
    ingest = {"ears": _ingest_ears, "lv": functools.partial(_ingest_lv, contour_origin=contour_origin)}[case.task]
    with atomic_dir(out_dir, owned="check.json") as folder:
        try:
            result = ingest(case, folder, checks)
        except MedsegError as error:
            code = "missing_slices" if "missing slices" in str(error) else "unreadable"
            if isinstance(error, AnnotationRejected):
                code = "annotation"
            result = _rejected(code, str(error))
        result.reasons = [_without_case_paths(reason, case) for reason in result.reasons]
        if result.status != "accepted":
            for name in ("image.nii.gz", "landmarks.json", "labels.nii.gz", "label_check.json"):
                (folder / name).unlink(missing_ok=True)
            logger.warning("case %s rejected: %s", case.case, "; ".join(result.reasons))
        verdict = {
            "case": case.case,
            "subject": case.subject,
            "task": case.task,
            **result.to_json(),
            "provenance": collect_provenance(config, config.get("seed")),
        }
        write_json(folder / "check.json", verdict)
    return verdict
