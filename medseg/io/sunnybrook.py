"""The Sunnybrook Cardiac Data layout as a cohort: one lv case per patient."""

from __future__ import annotations

import csv
from pathlib import Path

from medseg.cohort import CohortCase
from medseg.errors import ImageReadError


def sunnybrook_cases(root: str | Path) -> list[CohortCase]:
    """Cases of a Sunnybrook folder (``link.csv``, ``dicoms/``, ``contourfiles/``).

    The subject and case IDs are the original IDs (``SC-HF-I-1`` ...), the image is the
    patient's DICOM folder and the annotation its contour folder (absent when missing).

    Raises:
        ImageReadError: the folder does not have the Sunnybrook layout.
    """
    root = Path(root).resolve()
    link = root / "link.csv"
    if not link.is_file():
        raise ImageReadError(f"{root} is not a Sunnybrook folder: link.csv is missing")
    cases = []
    with open(link, newline="") as handle:
        for row in csv.DictReader(handle):
            original = row["original_id"].strip()
            contours = root / "contourfiles" / original
            cases.append(
                CohortCase(
                    subject=original,
                    case=original,
                    task="lv",
                    image=root / "dicoms" / row["patient_id"].strip(),
                    annotation=contours if contours.is_dir() else None,
                )
            )
    if not cases:
        raise ImageReadError(f"{link} lists no patient")
    return cases
