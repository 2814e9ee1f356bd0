"""Ear annotations: reading landmark files and converting them to medseg landmark JSON."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from medseg.errors import ImageReadError, InputRejected
from medseg.io.atomic import write_json
from medseg.io.landmarks import read_landmarks

__all__ = ["load_landmarks", "landmark_json", "convert_annotation", "check_inside", "inside_image"]

_SIDES = ("left", "right")


def load_landmarks(path: str | os.PathLike[str]) -> dict[str, np.ndarray | None]:
    """Ear landmarks ``{"left": LPS point or None, "right": ...}`` from a landmark file.

    Reads what :func:`medseg.io.landmarks.read_landmarks` reads (medseg JSON, which
    ``ears.json`` predictions also are, Slicer ``.mrk.json``, ``.fcsv``).

    Raises:
        ImageReadError: a missing or unreadable file, or one with points other than left/right.
    """
    points = read_landmarks(path)
    unknown = sorted(set(points) - set(_SIDES))
    if unknown:
        raise ImageReadError(f"{path}: ear landmarks must be named left/right, found {', '.join(unknown)}")
    return {side: (None if points.get(side) is None else np.asarray(points[side], float)) for side in _SIDES}


def landmark_json(points: Mapping[str, np.ndarray | None]) -> dict:
    """The medseg landmark JSON document of ear points (LPS)."""
    return {
        "coordinate_system": "LPS",
        "points": {
            side: {"present": points.get(side) is not None, "position": None if points.get(side) is None else [float(v) for v in points[side]]}
            for side in _SIDES
        },
    }


def inside_image(image: sitk.Image, point: np.ndarray) -> bool:
    """Whether an LPS point lies within the image's extent (voxel centres +- half a voxel)."""
    index = np.asarray(image.TransformPhysicalPointToContinuousIndex([float(v) for v in point]))
    return bool(np.all(index >= -0.5) and np.all(index <= np.asarray(image.GetSize(), float) - 0.5))


def check_inside(points: Mapping[str, np.ndarray | None], image: sitk.Image, label: str = "annotation") -> None:
    """Raise :class:`InputRejected` if a present point lies outside the image's extent."""
    size = np.asarray(image.GetSize(), float)
    reasons = []
    for side in _SIDES:
        point = points.get(side)
        if point is None:
            continue
        if not inside_image(image, point):
            index = np.asarray(image.TransformPhysicalPointToContinuousIndex([float(v) for v in point]))
            reasons.append(
                f"{side} ear at LPS ({', '.join(f'{v:.1f}' for v in point)}) mm lies outside the image "
                f"(voxel index {', '.join(f'{v:.1f}' for v in index)}, size {', '.join(str(int(s)) for s in size)}); "
                "check that the annotation belongs to this image and its coordinate system (RAS/LPS)"
            )
    if reasons:
        raise InputRejected(f"{label}: " + "; ".join(reasons), reasons)


def convert_annotation(annotation_path: str | os.PathLike[str], image: sitk.Image, out_path: str | os.PathLike[str]) -> Path:
    """Convert an ear annotation to medseg landmark JSON, checking it against its image.

    Args:
        annotation_path: medseg JSON, Slicer ``.mrk.json`` or ``.fcsv`` with points named
            left/right (absent ears omitted or marked absent).
        image: the CT the annotation belongs to.
        out_path: the medseg landmark JSON to write (atomically).

    Returns:
        ``out_path``.

    Raises:
        ImageReadError: unreadable annotation.
        InputRejected: a point lies outside the image.
    """
    points = load_landmarks(annotation_path)
    check_inside(points, image, str(annotation_path))
    return write_json(out_path, landmark_json(points))
