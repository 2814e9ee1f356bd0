"""``medseg qa``: static HTML pages for reviewers (case pages, index, study page)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction, formatter_class: type) -> None:
    """Add ``medseg qa case|index|study|ratings``."""
    parser = subparsers.add_parser(
        "qa",
        help="HTML pages for reviewers: per case, index, study",
        formatter_class=formatter_class,
        description="Static, self-contained HTML pages (open offline, print to PDF). Pages show cohort IDs only.",
        epilog=(
            "examples:\n"
            "  medseg qa case --task ears --ingest results/ingest/ears/c01 --prediction results/ears/predictions/full/c01 \\\n"
            "      --out results/qa/ears/c01.html --next c02.html --index ../index.html\n"
            "  medseg qa index --pages results/qa/*/*.html --status results/cohort_status.tsv --out results/qa/index.html\n"
            "  medseg qa study --summary results/study_summary.json --status results/cohort_status.tsv \\\n"
            "      --evaluation results/ears/evaluation results/lv/evaluation --out results/qa/study.html"
        ),
    )
    sub = parser.add_subparsers(dest="qa", metavar="PAGE", required=True)

    case = sub.add_parser(
        "case",
        help="the page of one case (a rejected case gets a page from check.json alone)",
        formatter_class=formatter_class,
        epilog=(
            "examples:\n"
            "  medseg qa case --task lv --ingest results/ingest/lv/s03 --prediction results/lv/predictions/full/s03 \\\n"
            "      --out results/qa/lv/s03.html --prev s02.html --next s04.html --index ../index.html\n"
            "  medseg qa case --task ears --ingest results/ingest/ears/bad01 --out results/qa/ears/bad01.html"
        ),
    )
    case.add_argument("--task", required=True, choices=("ears", "lv"))
    case.add_argument("--ingest", required=True, type=Path, help="the case's ingest folder (check.json, image.nii.gz, ...)")
    case.add_argument("--prediction", type=Path, help="the case's prediction folder (not needed for a rejected case)")
    case.add_argument("--out", required=True, type=Path, help="HTML page to write")
    case.add_argument("--prev", help="URL of the previous case page (relative to --out)")
    case.add_argument("--next", help="URL of the next case page (relative to --out)")
    case.add_argument("--index", help="URL of the index page (relative to --out)")
    case.add_argument("--score-margin", type=float, default=0.1, help="ears: flag scores this close to the threshold")
    case.add_argument("--match-mm", type=float, default=10.0, help="ears: flag distances to the reference above this")
    case.add_argument("--area-jump", type=float, default=0.25, help="lv: flag area changes between frames above this fraction")
    case.add_argument("--min-dice", type=float, default=0.7, help="lv: flag Dice against the reference below this")
    case.set_defaults(func=_case)

    index = sub.add_parser(
        "index",
        help="the index of the case pages",
        formatter_class=formatter_class,
        epilog="example:\n  medseg qa index --pages results/qa/ears/*.html results/qa/lv/*.html \\\n"
        "      --status results/cohort_status.tsv --study study.html --out results/qa/index.html",
    )
    index.add_argument("--pages", required=True, nargs="+", type=Path, help="case pages written by 'medseg qa case'")
    index.add_argument("--status", type=Path, help="cohort_status.tsv (cases without a page are listed too)")
    index.add_argument("--study", help="URL of the study page (relative to --out)")
    index.add_argument("--title", default="QA case pages")
    index.add_argument("--out", required=True, type=Path)
    index.set_defaults(func=_index)

    study = sub.add_parser(
        "study",
        help="the study page (cohort, metrics, ablations, plots, ratings, provenance)",
        formatter_class=formatter_class,
        epilog=(
            "example:\n  medseg qa study --summary results/study_summary.json --status results/cohort_status.tsv \\\n"
            "      --evaluation results/ears/evaluation results/lv/evaluation --splits results/ears/splits.json results/lv/splits.json \\\n"
            "      --areas results/lv/predictions/full/*/areas.tsv --config results/config/config.yaml \\\n"
            "      --ratings ratings_AB.tsv --index index.html --out results/qa/study.html"
        ),
    )
    study.add_argument("--summary", required=True, type=Path, help="study_summary.json")
    study.add_argument("--status", type=Path, help="cohort_status.tsv")
    study.add_argument("--evaluation", nargs="*", default=[], type=Path, help="evaluation folders (summary.json + TSVs)")
    study.add_argument("--ratings", type=Path, help="ratings file (TSV or JSON) downloaded from the case pages")
    study.add_argument("--splits", nargs="*", default=[], type=Path, help="the tasks' splits.json files, for metrics per fold")
    study.add_argument("--areas", nargs="*", default=[], type=Path, help="areas.tsv of LV predictions (volume curves)")
    study.add_argument("--config", type=Path, help="the study config file, shown verbatim")
    study.add_argument("--index", help="URL of the index page (relative to --out)")
    study.add_argument("--out", required=True, type=Path)
    study.set_defaults(func=_study)

    ratings = sub.add_parser(
        "ratings",
        help="validate a ratings file and print its summary",
        formatter_class=formatter_class,
        epilog="example:\n  medseg qa ratings ratings_AB.tsv",
    )
    ratings.add_argument("file", type=Path)
    ratings.set_defaults(func=_ratings)


def _case(args: argparse.Namespace) -> int:
    from medseg.errors import InputRejected
    from medseg.qa.rejected_page import read_check, write_rejected_page

    nav = {"prev_url": args.prev, "next_url": args.next, "index_url": args.index}
    check = read_check(args.ingest)
    if check.get("status") != "accepted":
        write_rejected_page(args.out, args.ingest, **nav)
        print(f"rejected case {check.get('case', args.ingest.name)} -> {args.out}")
        return 0
    if args.prediction is None:
        raise InputRejected(f"{args.ingest}: the case was accepted; --prediction is needed")
    if args.task == "ears":
        from medseg.qa.ears_page import EarsThresholds, write_ears_page

        write_ears_page(args.out, args.ingest, args.prediction, limits=EarsThresholds(args.score_margin, args.match_mm), **nav)
    else:
        from medseg.qa.lv_page import LVThresholds, write_lv_page

        write_lv_page(args.out, args.ingest, args.prediction, limits=LVThresholds(args.area_jump, args.min_dice), **nav)
    print(f"{args.task} case {check.get('case', args.ingest.name)} -> {args.out}")
    return 0


def _index(args: argparse.Namespace) -> int:
    from medseg.qa.index_page import write_index_page
    from medseg.qa.summary import read_cohort_status

    status = read_cohort_status(args.status) if args.status else None
    pages = [p for p in args.pages if p.resolve() != args.out.resolve()]
    write_index_page(args.out, pages, status_rows=status, study_url=args.study, title=args.title)
    print(f"index of {len(pages)} page(s) -> {args.out}")
    return 0


def _study(args: argparse.Namespace) -> int:
    from medseg.qa.study_page import write_study_page

    write_study_page(
        args.out, args.summary, args.status, args.evaluation, ratings_path=args.ratings, splits_paths=args.splits,
        areas=args.areas, config_path=args.config, index_url=args.index,
    )
    print(f"study page -> {args.out}")
    return 0


def _ratings(args: argparse.Namespace) -> int:
    import json

    from medseg.qa.ratings import read_ratings, summarise_ratings

    ratings = read_ratings(args.file)
    print(json.dumps(summarise_ratings(ratings), indent=2))
    return 0
