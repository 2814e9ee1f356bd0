"""``medseg check``: check one image for a task and print the verdict as JSON."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from medseg.checks import DEFAULT_MAX_VOXELS, MODALITIES, check_path
from medseg.io.atomic import write_json

EXIT_ACCEPTED = 0
EXIT_REJECTED = 1

EPILOG = """\
exit status: 0 accepted, 1 rejected, 2 usage error.

examples:
  medseg check ct.nii.gz --modality ct
  medseg check dicom_folder/ --modality cine --series 1.2.840.113619.2.5 --out check.json
  medseg check old_export.nrrd --modality ct --allow-offset
"""


def register(subparsers: argparse._SubParsersAction, formatter_class: type[argparse.HelpFormatter]) -> None:
    """Add the ``check`` sub-command to ``subparsers``."""
    parser = subparsers.add_parser(
        "check",
        help="check that an image is fit for a task (JSON verdict)",
        description="Check an image (NIfTI, NRRD, MHA or DICOM folder) and print a JSON verdict "
        "with one plain reason and one stable code per problem.",
        formatter_class=formatter_class,
        epilog=EPILOG,
    )
    parser.add_argument("input", type=Path, metavar="INPUT", help="image file or DICOM series folder")
    parser.add_argument("--modality", required=True, choices=MODALITIES, help="what the image should be")
    parser.add_argument("--series", metavar="UID", default=None, help="DICOM SeriesInstanceUID to read")
    parser.add_argument("--out", type=Path, default=None, metavar="JSON", help="also write the verdict here")
    parser.add_argument(
        "--allow-offset",
        action="store_true",
        help="accept a CT stored as HU + 1024 (the verdict records hu_offset for the conversion)",
    )
    parser.add_argument("--min-fov-mm", type=float, default=None, help="smallest extent per axis (default by modality)")
    parser.add_argument("--max-voxels", type=int, default=DEFAULT_MAX_VOXELS, help="largest voxel count accepted")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the check; return 0 when accepted, 1 when rejected."""
    result = check_path(
        args.input,
        args.modality,
        args.series,
        min_fov_mm=args.min_fov_mm,
        max_voxels=args.max_voxels,
        allow_offset=args.allow_offset,
    )
    verdict = {"input": str(args.input), "modality": args.modality, **result.to_json()}
    if args.out is not None:
        write_json(args.out, verdict)
    sys.stdout.write(json.dumps(verdict, indent=2) + "\n")
    return EXIT_ACCEPTED if result.accepted else EXIT_REJECTED
