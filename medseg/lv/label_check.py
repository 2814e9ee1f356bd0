"""Consistency checks of LV annotations; what fails becomes "not annotated" (255).

Per frame and structure (endocardium, epicardium) a contour is unusable when it lies
outside the image, crosses itself, or encloses a tiny area. The endocardium must lie
inside the epicardium; when it does not, the epicardium is the one dropped (the
endocardium alone still gives a cavity label). When most epicardial contours of a study
fail that test, the study's epicardial contours are taken as misregistered and all of them
are dropped (this is what happens to Sunnybrook SC-HF-I-6).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from medseg.io.contours import ContourSet, is_self_intersecting, polygon_area, polygon_to_mask

MIN_AREA_MM2 = 20.0
MAX_ENDO_OUTSIDE = 0.02
STUDY_EPI_FAILURE_FRACTION = 0.5


@dataclass
class FrameCheck:
    """Verdict on the contours of one frame.

    Attributes:
        slice: slice index (or -1 if the instance is not in the study).
        phase: phase index (or -1).
        instance: DICOM InstanceNumber.
        endo: ``usable`` | ``unusable`` | ``absent``.
        epi: ``usable`` | ``unusable`` | ``absent``.
        reasons: one plain reason per problem.
    """

    slice: int
    phase: int
    instance: int
    endo: str = "absent"
    epi: str = "absent"
    reasons: list[str] = field(default_factory=list)


@dataclass
class LabelCheck:
    """Verdicts of a whole study's annotation."""

    frames: list[FrameCheck] = field(default_factory=list)
    study_reasons: list[str] = field(default_factory=list)

    def usable(self, structure: str) -> list[FrameCheck]:
        """Frames whose ``structure`` (``endo``/``epi``) is usable."""
        return [f for f in self.frames if getattr(f, structure) == "usable"]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready content of ``label_check.json``."""
        return {
            "study_reasons": self.study_reasons,
            "usable": {
                "endo": len(self.usable("endo")),
                "epi": len(self.usable("epi")),
                "frames_with_myocardium": len([f for f in self.frames if f.endo == f.epi == "usable"]),
            },
            "unusable": {
                "endo": len([f for f in self.frames if f.endo == "unusable"]),
                "epi": len([f for f in self.frames if f.epi == "unusable"]),
            },
            "frames": [vars(f) for f in self.frames],
        }


def _check_polygon(name: str, points: np.ndarray, shape: tuple[int, int], pixel_area: float) -> list[str]:
    reasons = []
    rows, cols = shape
    x, y = points[:, 0], points[:, 1]
    if x.min() < -0.5 or y.min() < -0.5 or x.max() > cols - 0.5 or y.max() > rows - 0.5:
        reasons.append(f"{name} contour extends outside the {rows}x{cols} image")
    if is_self_intersecting(points):
        reasons.append(f"{name} contour crosses itself")
    area = polygon_area(points) * pixel_area
    if area < MIN_AREA_MM2:
        reasons.append(f"{name} contour encloses only {area:.1f} mm2 (< {MIN_AREA_MM2:g})")
    return reasons


def check_contours(
    contours: ContourSet,
    index: dict[int, tuple[int, int]],
    shape: tuple[int, int],
    spacing: tuple[float, float],
) -> LabelCheck:
    """Check every contour of a study.

    Args:
        contours: the study's contours by instance number.
        index: instance number -> (slice, phase) of the study.
        shape: (rows, cols) of a frame.
        spacing: (row, col) pixel spacing, mm.

    Returns:
        The verdict per frame and the study-wide reasons.
    """
    pixel_area = float(spacing[0]) * float(spacing[1])
    result = LabelCheck()
    containment_failures, containment_tested = 0, 0
    for instance in contours.instances:
        where = index.get(instance)
        check = FrameCheck(*(where or (-1, -1)), instance=instance)
        result.frames.append(check)
        if where is None:
            check.reasons.append(f"image {instance} is not in the study")
            check.endo = "unusable" if instance in contours.endo else "absent"
            check.epi = "unusable" if instance in contours.epi else "absent"
            continue
        for structure in ("endo", "epi"):
            points = getattr(contours, structure).get(instance)
            if points is None:
                continue
            reasons = _check_polygon(
                "endocardial" if structure == "endo" else "epicardial", points, shape, pixel_area
            )
            setattr(check, structure, "unusable" if reasons else "usable")
            check.reasons += reasons
        if check.endo == "usable" and check.epi == "usable":
            containment_tested += 1
            endo = polygon_to_mask(contours.endo[instance], shape)
            epi = polygon_to_mask(contours.epi[instance], shape)
            outside = float((endo & ~epi).sum()) / max(int(endo.sum()), 1)
            if outside > MAX_ENDO_OUTSIDE:
                containment_failures += 1
                check.epi = "unusable"
                check.reasons.append(
                    f"endocardium not inside epicardium ({100 * outside:.0f}% of the cavity outside); epicardium dropped"
                )
    if containment_tested and containment_failures / containment_tested >= STUDY_EPI_FAILURE_FRACTION:
        result.study_reasons.append(
            f"{containment_failures} of {containment_tested} epicardial contours do not enclose the endocardium: "
            "the study's epicardial contours are taken as misregistered and all are dropped"
        )
        for check in result.frames:
            if check.epi == "usable":
                check.epi = "unusable"
                check.reasons.append("epicardium dropped with the study's misregistered epicardial contours")
    return result


def check_label_array(labels: np.ndarray, spacing: tuple[float, float]) -> tuple[np.ndarray, LabelCheck]:
    """Check a (slices, phases, rows, cols) label array; unusable frames become 255.

    A frame is unusable when its cavity or myocardium is tiny (< 20 mm²) while present,
    or when its cavity touches the background directly all round (no myocardium around it
    although the frame has myocardium labels elsewhere is allowed).

    Returns:
        ``(checked labels, verdicts)``.
    """
    labels = np.asarray(labels).copy()
    pixel_area = float(spacing[0]) * float(spacing[1])
    result = LabelCheck()
    for z in range(labels.shape[0]):
        for t in range(labels.shape[1]):
            frame = labels[z, t]
            if (frame == 255).all():
                continue
            check = FrameCheck(z, t, instance=0)
            for structure, value in (("endo", 2), ("epi", 1)):
                area = float((frame == value).sum()) * pixel_area
                if area == 0:
                    continue
                if area < MIN_AREA_MM2:
                    setattr(check, structure, "unusable")
                    check.reasons.append(f"{'cavity' if value == 2 else 'myocardium'} area only {area:.1f} mm2")
                else:
                    setattr(check, structure, "usable")
            if check.reasons:
                labels[z, t] = 255
            result.frames.append(check)
    return labels, result
