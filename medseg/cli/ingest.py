"""``medseg ingest``: read, check and convert one case of a cohort sheet."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from medseg.config import load_config
from medseg.errors import ConfigError


def register(subparsers: argparse._SubParsersAction, formatter_class: type) -> None:
    parser = subparsers.add_parser(
        "ingest",
        help="read, check and convert one case of a cohort sheet",
        formatter_class=formatter_class,
        description=(
            "Read the case's image (DICOM series, NIfTI, NRRD or MHA) and annotation, run the "
            "input checks, and write check.json plus, for an accepted case, image.nii.gz and "
            "the canonical annotation. A rejected case is recorded with its reasons (exit 0)."
        ),
        epilog="example:\n  medseg ingest --sheet cohort.tsv --case ct_001 --task ears --out results/ingest/ears/ct_001",
    )
    parser.add_argument("--sheet", required=True, type=Path, help="cohort TSV")
    parser.add_argument("--case", required=True, help="case ID in the sheet")
    parser.add_argument("--task", required=True, choices=["ears", "lv"])
    parser.add_argument("--config", type=Path, help="study config (YAML); its 'checks' section sets limits")
    parser.add_argument("--out", required=True, type=Path, help="output folder of the case")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from medseg.cohort import read_cohort_sheet
    from medseg.ingest import ingest_case

    cases = [c for c in read_cohort_sheet(args.sheet) if c.case == args.case and c.task == args.task]
    if not cases:
        raise ConfigError(f"case {args.case!r} of task {args.task!r} is not in {args.sheet}")
    config = load_config(args.config) if args.config else {}
    verdict = ingest_case(cases[0], args.out, config)
    print(json.dumps({key: verdict[key] for key in ("case", "status", "reasons") if key in verdict}))
    return 0
