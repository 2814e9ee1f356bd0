"""``medseg splits``: cross-validation folds of the accepted cases of one task."""

from __future__ import annotations

import argparse
import json
import logging
from collections import defaultdict
from pathlib import Path
from typing import Any

from medseg.cohort import TASKS, read_cohort_sheet
from medseg.errors import ConfigError
from medseg.provenance import collect_provenance
from medseg.splits import SCHEMES, make_folds, write_splits

logger = logging.getLogger(__name__)

EPILOG = """\
Cases whose check.json says "rejected" (or that have no check.json) are left out and listed,
with their reasons, under "excluded" in the output.

example:
  medseg splits --cohort cohort.tsv --task ears --checks results/ingest/ears --scheme loso \\
      --out results/splits/ears.json
"""


def register(subparsers: argparse._SubParsersAction, formatter_class: type[argparse.HelpFormatter]) -> None:
    """Add the ``splits`` sub-command to ``subparsers``."""
    parser = subparsers.add_parser(
        "splits",
        help="make subject-grouped cross-validation folds (splits.json)",
        description="Make cross-validation folds grouped by subject from the accepted cases of a task.",
        formatter_class=formatter_class,
        epilog=EPILOG,
    )
    parser.add_argument("--cohort", type=Path, required=True, help="cohort sheet (TSV)")
    parser.add_argument("--task", required=True, choices=TASKS, help="which task's cases to split")
    parser.add_argument(
        "--checks",
        type=Path,
        nargs="+",
        default=None,
        metavar="DIR_OR_FILE",
        help="check.json files, or folders searched for them (default: keep every case)",
    )
    parser.add_argument("--scheme", choices=SCHEMES, default="loso", help="loso = leave one subject out")
    parser.add_argument("--k", type=int, default=5, help="number of folds for kfold")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kfold shuffle")
    parser.add_argument("--out", type=Path, required=True, help="splits.json to write")
    parser.set_defaults(func=run)


def load_checks(paths: list[Path]) -> dict[str, dict[str, Any]]:
    """Map case ID to its check verdict, from ``check.json`` files or folders holding them.

    The case ID is the file's ``"case"`` key, else the name of its folder.

    Raises:
        ConfigError: a path does not exist, or a check file is not valid JSON.
    """
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(path.rglob("check.json")))
        elif path.is_file():
            files.append(path)
        else:
            raise ConfigError(f"checks path not found: {path}")
    verdicts: dict[str, dict[str, Any]] = {}
    for file in files:
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ConfigError(f"cannot read check file {file}: {error}") from None
        if not isinstance(data, dict) or data.get("status") not in ("accepted", "rejected"):
            raise ConfigError(f"check file {file} has no status 'accepted' or 'rejected'")
        case = str(data.get("case") or file.parent.name)
        verdicts[case] = data
    return verdicts


def run(args: argparse.Namespace) -> int:
    """Write the folds; return 0."""
    cases = [c for c in read_cohort_sheet(args.cohort) if c.task == args.task]
    if not cases:
        raise ConfigError(f"cohort sheet {args.cohort} has no case for task {args.task!r}")
    verdicts = load_checks(args.checks) if args.checks else None
    kept: dict[str, list[str]] = defaultdict(list)
    excluded: list[dict[str, Any]] = []
    for case in cases:
        verdict = None if verdicts is None else verdicts.get(case.case)
        if verdicts is not None and verdict is None:
            excluded.append({"case": case.case, "subject": case.subject, "reasons": ["no check.json found for this case"]})
        elif verdict is not None and verdict["status"] != "accepted":
            reasons = [str(r) for r in verdict.get("reasons") or []] or ["rejected (no reason given)"]
            excluded.append({"case": case.case, "subject": case.subject, "reasons": reasons})
        else:
            kept[case.subject].append(case.case)
    for item in excluded:
        logger.warning("excluded case %s: %s", item["case"], "; ".join(item["reasons"]))
    if len(kept) < 2:
        raise ConfigError(
            f"only {len(kept)} subject(s) of task {args.task!r} have accepted cases "
            f"({len(excluded)} case(s) excluded); at least 2 are needed for cross-validation"
        )
    folds = make_folds(list(kept), scheme=args.scheme, k=args.k, seed=args.seed)
    write_splits(
        args.out,
        folds,
        cases_by_subject=kept,
        excluded=excluded,
        task=args.task,
        scheme=args.scheme,
        k=len(folds) if args.scheme == "kfold" else None,
        seed=args.seed,
        provenance=collect_provenance(seed=args.seed, settings={"task": args.task, "scheme": args.scheme, "k": args.k}),
    )
    logger.info("wrote %d folds of %d subjects to %s", len(folds), len(kept), args.out)
    return 0
