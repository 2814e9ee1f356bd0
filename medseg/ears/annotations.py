"""Ear annotations: reading landmark files and converting them to medseg landmark JSON."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from medseg.errors import ImageReadError, InputRejected
from medseg.io.atomic import write_json

__all__ = ["load_landmarks", "landmark_json", "convert_annotation", "check_inside"]

_SIDES = ("left", "right")


def load_landmarks(path: str | os.PathLike[str]) -> dict[str, np.ndarray | None]:
    """Ear landmarks ``{"left": LPS point or None, "right": ...}`` from a landmark file.

    Uses :func:`medseg.io.landmarks.read_landmarks` (medseg JSON, Slicer ``.mrk.json``,
    ``.fcsv``); medseg JSON and ``ears.json`` predictions are also read directly.

    Raises:
        ImageReadError: a missing or unreadable file, or one without left/right ears.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"{path}: no such landmark file")
    name = path.name.lower()
    if name.endswith(".json") and not name.endswith(".mrk.json"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ImageReadError(f"{path}: not valid JSON ({error})") from None
        if isinstance(data, dict) and isinstance(data.get("points"), dict):
            return _from_points(path, data["points"], data.get("coordinate_system", "LPS"))
    try:
        from medseg.io.landmarks import read_landmarks
    except ImportError:
        raise ImageReadError(f"{path}: cannot read this landmark format (medseg.io.landmarks is missing)") from None
    points = read_landmarks(path)
    out = {side: (None if points.get(side) is None else np.asarray(points[side], float)) for side in _SIDES}
    unknown = sorted(set(points) - set(_SIDES))
    if unknown:
        raise ImageReadError(f"{path}: ear landmarks must be named left/right, found {', '.join(unknown)}")
    return out


def _from_points(path: Path, points: Mapping, system: str) -> dict[str, np.ndarray | None]:
    if str(system).upper() not in ("LPS", "RAS"):
        raise ImageReadError(f"{path}: unknown coordinate_system {system!r}")
    flip = np.array([-1.0, -1.0, 1.0]) if str(system).upper() == "RAS" else np.ones(3)
    out: dict[str, np.ndarray | None] = {}
    unknown = sorted(set(points) - set(_SIDES))
    if unknown:
        raise ImageReadError(f"{path}: ear landmarks must be named left/right, found {', '.join(unknown)}")
    for side in _SIDES:
        entry = points.get(side) or {}
        position = entry.get("position") if isinstance(entry, Mapping) else None
        if not (isinstance(entry, Mapping) and entry.get("present", position is not None)) or position is None:
            out[side] = None
            continue
        value = np.asarray(position, float)
        if value.shape != (3,) or not np.all(np.isfinite(value)):
            raise ImageReadError(f"{path}: {side} position must be three finite numbers")
        out[side] = value * flip
    return out


def landmark_json(points: Mapping[str, np.ndarray | None]) -> dict:
    """The medseg landmark JSON document of ear points (LPS)."""
    return {
        "coordinate_system": "LPS",
        "points": {
            side: {"present": points.get(side) is not None, "position": None if points.get(side) is None else [float(v) for v in points[side]]}
            for side in _SIDES
        },
    }


def check_inside(points: Mapping[str, np.ndarray | None], image: sitk.Image, label: str = "annotation") -> None:
    """Raise :class:`InputRejected` if a present point lies outside the image's extent."""
    size = np.asarray(image.GetSize(), float)
    reasons = []
    for side in _SIDES:
        point = points.get(side)
        if point is None:
            continue
        index = np.asarray(image.TransformPhysicalPointToContinuousIndex([float(v) for v in point]))
        if np.any(index < -0.5) or np.any(index > size - 0.5):
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
