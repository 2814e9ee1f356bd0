"""``medseg table``: the tables that connect the study's stages."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction, formatter_class: type) -> None:
    parser = subparsers.add_parser(
        "table",
        help="build the training table of a fold or the table of predictions to score",
        formatter_class=formatter_class,
        epilog=(
            "examples:\n"
            "  medseg table train --splits results/ears/splits.json --fold S01 "
            "--ingest-root results/ingest/ears --out train.tsv\n"
            "  medseg table predictions --splits results/ears/splits.json --ingest-root results/ingest/ears "
            "--predictions-root results/predictions/ears --variants full no_fps --out predictions.tsv"
        ),
    )
    sub = parser.add_subparsers(dest="table", metavar="TABLE", required=True)

    train = sub.add_parser(
        "train", help="annotated, accepted training cases of one fold", formatter_class=formatter_class,
        epilog="example:\n  medseg table train --splits results/ears/splits.json --fold S01 "
        "--ingest-root results/ingest/ears --out train.tsv",
    )
    train.add_argument("--splits", required=True, type=Path)
    train.add_argument("--fold", required=True, help="fold name, or 'final' for all subjects")
    train.add_argument("--ingest-root", required=True, type=Path)
    train.add_argument("--out", required=True, type=Path)
    train.set_defaults(func=_train)

    predictions = sub.add_parser(
        "predictions", help="held-out predictions to score", formatter_class=formatter_class,
        epilog="example:\n  medseg table predictions --splits results/ears/splits.json --ingest-root results/ingest/ears "
        "--predictions-root results/predictions/ears --variants full no_fps --out predictions.tsv",
    )
    predictions.add_argument("--splits", required=True, type=Path)
    predictions.add_argument("--ingest-root", required=True, type=Path)
    predictions.add_argument("--predictions-root", required=True, type=Path)
    predictions.add_argument("--variants", required=True, nargs="+")
    predictions.add_argument("--prediction-file", help="file inside each prediction folder to score, e.g. ears.json")
    predictions.add_argument("--out", required=True, type=Path)
    predictions.set_defaults(func=_predictions)


def _train(args: argparse.Namespace) -> int:
    from medseg.tables import write_training_table

    rows = write_training_table(args.splits, args.fold, args.ingest_root, args.out)
    print(f"{rows} training cases -> {args.out}")
    return 0


def _predictions(args: argparse.Namespace) -> int:
    from medseg.tables import write_prediction_table

    rows = write_prediction_table(
        args.splits, args.ingest_root, args.predictions_root, args.variants, args.out, args.prediction_file
    )
    print(f"{rows} predictions to score -> {args.out}")
    return 0
