"""``medseg convert``: convert between DICOM series folders, NIfTI, NRRD and MetaImage."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import SimpleITK as sitk

from medseg.io.cine import cine_to_image, read_cine_dicom
from medseg.io.dicom import MultiPhaseSeriesError
from medseg.io.image import read_image, write_image

logger = logging.getLogger(__name__)

EPILOG = """examples:
  medseg convert dicom_folder/ ct.nii.gz              a DICOM series to NIfTI
  medseg convert dicom_folder/ ct.nii.gz --series 1.2.840.113619.2.55.3
                                                      one series of a folder holding several
  medseg convert cine_folder/ cine.nii.gz             a cine MR study to 4D (x, y, slice, phase)
  medseg convert ct.nrrd ct.mha                       between file formats
  medseg convert ct.nii.gz dicom_out/                 a 3D image to a DICOM series folder

Formats: .nii, .nii.gz, .nrrd, .nhdr, .mha, .mhd, or a folder (no suffix) for DICOM.
Geometry (spacing, origin, direction, LPS) is kept; DICOM is read in physical units
(rescale applied), sorted along the slice normal and checked for missing slices.
"""


def register(subparsers: argparse._SubParsersAction, formatter_class: type[argparse.HelpFormatter]) -> None:
    """Add the ``convert`` sub-command."""
    parser = subparsers.add_parser(
        "convert",
        help="convert an image or DICOM series to another format",
        description="Read an image (file or DICOM folder) and write it in the format given by OUTPUT's suffix.",
        epilog=EPILOG,
        formatter_class=formatter_class,
    )
    parser.add_argument("input", metavar="INPUT", help="DICOM folder or image file")
    parser.add_argument("output", metavar="OUTPUT", help="image file, or a folder for a DICOM series")
    parser.add_argument("--series", metavar="UID", default=None, help="SeriesInstanceUID to read from a folder")
    parser.set_defaults(func=run)


def _read(path: str, series_uid: str | None) -> sitk.Image:
    try:
        return read_image(path, series_uid)
    except MultiPhaseSeriesError:
        study = read_cine_dicom(path, series_uid)
        logger.info("%s: cine study of %d slices x %d phases", path, study.num_slices, study.num_phases)
        return cine_to_image(study)


def summary(image: sitk.Image) -> str:
    """One line: size, spacing and origin of ``image``."""
    size = "x".join(str(n) for n in image.GetSize())
    spacing = "x".join(f"{s:.4g}" for s in image.GetSpacing())
    origin = ", ".join(f"{o:.2f}" for o in image.GetOrigin())
    return f"size {size}, spacing {spacing} mm, origin ({origin}) mm"


def run(args: argparse.Namespace) -> int:
    """Convert ``args.input`` to ``args.output``; print a one-line summary."""
    image = _read(args.input, args.series)
    written = write_image(image, args.output)
    print(f"{Path(written)}: {summary(image)}")
    return 0
