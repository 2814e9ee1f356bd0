"""``medseg report``: cohort status and study summary."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction, formatter_class: type) -> None:
    parser = subparsers.add_parser(
        "report",
        help="cohort status table and study summary",
        formatter_class=formatter_class,
        epilog=(
            "examples:\n"
            "  medseg report cohort --ingest results/ingest/ears/* --out cohort_status.tsv\n"
            "  medseg report summary --config results/config/config.yaml --status cohort_status.tsv "
            "--summaries results/ears/evaluation/summary.json --out study_summary.json"
        ),
    )
    sub = parser.add_subparsers(dest="report", metavar="REPORT", required=True)
    cohort = sub.add_parser(
        "cohort", help="every case with its check verdict", formatter_class=formatter_class,
        epilog="example:\n  medseg report cohort --ingest results/ingest/ears/* --out cohort_status.tsv",
    )
    cohort.add_argument("--ingest", required=True, nargs="+", type=Path, help="ingest folders of the cases")
    cohort.add_argument("--out", required=True, type=Path)
    cohort.set_defaults(func=_cohort)

    summary = sub.add_parser(
        "summary", help="metrics of every task with provenance", formatter_class=formatter_class,
        epilog="example:\n  medseg report summary --config results/config/config.yaml --status cohort_status.tsv "
        "--summaries results/ears/evaluation/summary.json --out study_summary.json",
    )
    summary.add_argument("--config", required=True, type=Path)
    summary.add_argument("--status", required=True, type=Path)
    summary.add_argument("--summaries", nargs="*", default=[], type=Path)
    summary.add_argument("--real-ct", nargs="*", default=[], type=Path, help="folders written by `medseg ears real-ct`")
    summary.add_argument("--out", required=True, type=Path)
    summary.set_defaults(func=_summary)


def _cohort(args: argparse.Namespace) -> int:
    from medseg.qa.summary import write_cohort_status

    rows = write_cohort_status(args.ingest, args.out)
    rejected = [row for row in rows if row["status"] != "accepted"]
    print(f"{len(rows)} cases, {len(rejected)} rejected -> {args.out}")
    for row in rejected:
        print(f"  rejected {row['task']}/{row['case']}: {row['reasons']}")
    return 0


def _summary(args: argparse.Namespace) -> int:
    from medseg.config import load_config
    from medseg.qa.summary import write_study_summary

    write_study_summary(load_config(args.config), args.status, args.summaries, args.out, real_ct=args.real_ct)
    print(f"study summary -> {args.out}")
    return 0
