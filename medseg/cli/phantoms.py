"""``medseg phantoms``: generate the synthetic demo cohort (head CTs and cine MR)."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from medseg.cli.main import positive_int
from medseg.cohort import TASKS

logger = logging.getLogger(__name__)

EPILOG = """\
Writes DIR/ears/<case>/ (DICOM series or ct.nii.gz, landmarks.json or ears.mrk.json),
DIR/lv/<case>/ (cine DICOM or cine.nii.gz, labels.nii.gz), DIR/ground_truth.json and the
cohort sheet (DIR/cohort.tsv unless --sheet). DIR is replaced atomically. Settings come
from cohort.demo in the config (defaults in workflow/schemas/phantoms.schema.yaml); the
same seed gives the same files.

example:
  medseg phantoms --config configs/demo.yaml --out results/cohort/demo/data \\
      --sheet results/cohort/demo/cohort.tsv --tasks ears lv
"""


def register(subparsers: argparse._SubParsersAction, formatter_class: type[argparse.HelpFormatter]) -> None:
    """Add the ``phantoms`` sub-command to ``subparsers``."""
    parser = subparsers.add_parser(
        "phantoms",
        help="generate the synthetic demo cohort (head CT with ears, cine MR with LV labels)",
        description="Generate the synthetic demo cohort and its cohort sheet from the config's seed.",
        formatter_class=formatter_class,
        epilog=EPILOG,
    )
    parser.add_argument("--config", type=Path, required=True, help="study config (YAML)")
    parser.add_argument("--out", type=Path, required=True, help="output folder (replaced)")
    parser.add_argument("--sheet", type=Path, default=None, help="cohort sheet to write (None: OUT/cohort.tsv)")
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=None, help="tasks to generate (None: the tasks of the config)")
    parser.add_argument("--workers", type=positive_int, default=1, help="processes rendering subjects in parallel")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Generate the cohort; returns the exit code."""
    from tqdm import tqdm

    from medseg.config import load_config
    from medseg.phantoms.cohort import generate_demo_cohort

    config = load_config(args.config)
    tasks = args.tasks or config.get("tasks") or list(TASKS)
    start = time.perf_counter()
    with tqdm(desc="phantoms", unit="case", file=sys.stderr, disable=None) as bar:
        sheet = generate_demo_cohort(
            config, args.out, tasks, sheet=args.sheet, workers=max(1, args.workers), progress=lambda case: bar.update(1)
        )
    logger.info("demo cohort (%s) in %.1f s: %s", ", ".join(tasks), time.perf_counter() - start, sheet)
    print(sheet)
    return 0
