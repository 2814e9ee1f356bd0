"""Synthetic phantoms: head CTs with inner ears and short-axis cine MR with LV labels.

- :mod:`medseg.phantoms.head_ct`: head anatomy as implicit shapes, scans with random pose,
  field of view, spacing and direction, ear ground truth in world LPS.
- :mod:`medseg.phantoms.cine_mr`: beating LV with infarcts, labels for every frame.
- :mod:`medseg.phantoms.cohort`: the demo cohort on disk (DICOM/NIfTI, landmarks, labels,
  ``cohort.tsv`` and ``ground_truth.json``).
"""

from medseg.phantoms.cine_mr import CINE_MR_DEFAULTS, CineStudy, generate_cine
from medseg.phantoms.cohort import COHORT_DEFAULTS, SMOKE_SETTINGS, cohort_settings, generate_demo_cohort
from medseg.phantoms.head_ct import HEAD_CT_DEFAULTS, HeadScan, generate_head_scan, sample_head_anatomy

__all__ = [
    "CINE_MR_DEFAULTS",
    "COHORT_DEFAULTS",
    "HEAD_CT_DEFAULTS",
    "SMOKE_SETTINGS",
    "CineStudy",
    "HeadScan",
    "cohort_settings",
    "generate_cine",
    "generate_demo_cohort",
    "generate_head_scan",
    "sample_head_anatomy",
]
