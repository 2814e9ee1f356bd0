"""``medseg cohort``: write a cohort sheet for a known public data layout."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction, formatter_class: type) -> None:
    parser = subparsers.add_parser(
        "cohort",
        help="write a cohort sheet (TSV) for a known data layout",
        formatter_class=formatter_class,
        epilog="example:\n  medseg cohort sunnybrook ../shared/data/sunnybrook --out cohort.tsv",
    )
    sub = parser.add_subparsers(dest="layout", metavar="LAYOUT", required=True)
    sunnybrook = sub.add_parser(
        "sunnybrook", help="Sunnybrook Cardiac Data (link.csv, dicoms/, contourfiles/)", formatter_class=formatter_class,
        epilog="example:\n  medseg cohort sunnybrook ../shared/data/sunnybrook --out cohort.tsv",
    )
    sunnybrook.add_argument("root", type=Path)
    sunnybrook.add_argument("--out", required=True, type=Path)
    sunnybrook.set_defaults(func=_sunnybrook)


def _sunnybrook(args: argparse.Namespace) -> int:
    from medseg.cohort import write_cohort_sheet
    from medseg.io.sunnybrook import sunnybrook_cases

    cases = sunnybrook_cases(args.root)
    write_cohort_sheet(args.out, cases)
    print(f"{len(cases)} cases -> {args.out}")
    return 0
