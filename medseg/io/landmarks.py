"""Landmark files: medseg JSON (LPS), 3D Slicer ``.mrk.json`` and ``.fcsv``, shared-data JSON.

Inside medseg every position is LPS mm; Slicer files are converted according to their
stated coordinate system. One that states none is read as Slicer reads it: ``.mrk.json``
as LPS, ``.fcsv`` as RAS. A point may be stated absent: it is
returned as ``None`` and written back as absent.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medseg.errors import ImageReadError
from medseg.io.atomic import write_json, write_text

Points = dict[str, np.ndarray | None]

_SLICER_SCHEMA = (
    "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/Resources/Schema/"
    "markups-schema-v1.0.3.json#"
)
_FCSV_COLUMNS = ["id", "x", "y", "z", "ow", "ox", "oy", "oz", "vis", "sel", "lock", "label", "desc", "associatedNodeID"]
_ABSENT_STATUS = {"missing", "undefined", "preview"}
_FLIP = np.array([-1.0, -1.0, 1.0])

__all__ = ["lps_to_ras", "ras_to_lps", "read_landmarks", "write_landmarks"]


def lps_to_ras(position: Sequence[float] | np.ndarray) -> np.ndarray:
    """Convert an LPS position (or an (N, 3) array of them) to RAS."""
    return np.asarray(position, dtype=float) * _FLIP


def ras_to_lps(position: Sequence[float] | np.ndarray) -> np.ndarray:
    """Convert a RAS position (or an (N, 3) array of them) to LPS."""
    return np.asarray(position, dtype=float) * _FLIP


def _landmark_suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in (".mrk.json", ".json", ".fcsv"):
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def _position(path: Path, name: str, value: Any) -> np.ndarray | None:
    if value is None:
        return None
    try:
        array = np.asarray(value, dtype=float).reshape(3)
    except (TypeError, ValueError):
        raise ImageReadError(f"{path}: point {name!r} has no valid x, y, z position: {value!r}") from None
    return array if np.all(np.isfinite(array)) else None


def _system(path: Path, value: Any, default: str) -> str:
    text = str(value if value not in (None, "") else default).strip().upper()
    if text in {"0", "RAS"} or text.startswith("RAS"):
        return "RAS"
    if text in {"1", "LPS"} or text.startswith("LPS"):
        return "LPS"
    raise ImageReadError(f"{path}: unsupported coordinate system {value!r} (expected RAS or LPS)")


def _to_lps(point: np.ndarray | None, system: str) -> np.ndarray | None:
    if point is None:
        return None
    return ras_to_lps(point) if system == "RAS" else point


def _add(path: Path, points: Points, name: str, value: np.ndarray | None) -> None:
    if name in points:
        raise ImageReadError(f"{path}: the point name {name!r} appears twice")
    points[name] = value


def _read_medseg(path: Path, data: Mapping[str, Any]) -> Points:
    system = _system(path, data.get("coordinate_system"), "LPS")
    entries = data["points"]
    if not isinstance(entries, Mapping):
        raise ImageReadError(f"{path}: 'points' must map point names to {{present, position}}")
    points: Points = {}
    for name, entry in entries.items():
        if not isinstance(entry, Mapping):
            raise ImageReadError(f"{path}: point {name!r} must be an object with 'present' and 'position'")
        present = bool(entry.get("present", entry.get("position") is not None))
        position = _position(path, name, entry.get("position")) if present else None
        if present and position is None:
            raise ImageReadError(f"{path}: point {name!r} is marked present but has no position")
        points[str(name)] = _to_lps(position, system)
    return points


def _read_slicer_json(path: Path, data: Mapping[str, Any]) -> Points:
    points: Points = {}
    for markup in data.get("markups") or []:
        system = _system(path, markup.get("coordinateSystem"), "LPS")  # Slicer's default for .mrk.json
        for index, control in enumerate(markup.get("controlPoints") or []):
            name = str(control.get("label") or control.get("id") or f"F-{index + 1}")
            status = str(control.get("positionStatus", "defined")).lower()
            position = None if status in _ABSENT_STATUS else _position(path, name, control.get("position"))
            _add(path, points, name, _to_lps(position, system))
    return points


def _read_shared_json(path: Path, data: Mapping[str, Any]) -> Points:
    system = _system(path, data.get("coordinate_system"), "LPS")
    points: Points = {}
    if "ears_unsided" in data:
        for index, value in enumerate(data["ears_unsided"] or []):
            points[f"ear_{index + 1}"] = _to_lps(_position(path, f"ear_{index + 1}", value), system)
    for side in ("left", "right"):
        if side in data:
            points[side] = _to_lps(_position(path, side, data[side]), system)
    if not points:
        raise ImageReadError(
            f"{path}: no landmarks found (expected 'points', 'markups', 'left'/'right' or 'ears_unsided')"
        )
    return points


def _read_json(path: Path) -> Points:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ImageReadError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(data, Mapping):
        raise ImageReadError(f"{path}: expected a JSON object of landmarks")
    if "points" in data:
        return _read_medseg(path, data)
    if "markups" in data:
        return _read_slicer_json(path, data)
    return _read_shared_json(path, data)


def _read_fcsv(path: Path) -> Points:
    system = "RAS"
    columns = _FCSV_COLUMNS
    rows = []
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        if line.startswith("#"):
            key, _, value = line[1:].partition("=")
            key = key.strip().lower()
            if key == "coordinatesystem":
                system = _system(path, value.strip(), "RAS")
            elif key == "columns":
                columns = [c.strip() for c in value.split(",")]
        elif line.strip():
            rows.append(line)
    points: Points = {}
    for number, row in enumerate(csv.reader(rows), start=1):
        fields = dict(zip(columns, row))
        name = fields.get("label") or fields.get("id") or f"F-{number}"
        status = fields.get("positionStatus", "defined").strip().lower()
        coordinates = [fields.get(axis, "").strip() for axis in ("x", "y", "z")]
        if status in _ABSENT_STATUS or any(c == "" for c in coordinates):
            position = None
        else:
            try:
                position = _position(path, name, [float(c) for c in coordinates])
            except ValueError:
                raise ImageReadError(f"{path}: line {number} has no numeric x, y, z: {row!r}") from None
        _add(path, points, name, _to_lps(position, system))
    return points


def read_landmarks(path: str | os.PathLike[str]) -> Points:
    """Read named landmarks as LPS positions.

    Args:
        path: medseg landmark JSON, Slicer ``.mrk.json`` or ``.fcsv``, or the shared-data
            JSON (``left``/``right`` or ``ears_unsided``, which become ``ear_1``, ``ear_2``).

    Returns:
        Point name to LPS position (shape (3,)), or ``None`` for a point stated absent.

    Raises:
        ImageReadError: missing or unreadable file, unknown format, or malformed content.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"{path}: no such landmark file")
    suffix = _landmark_suffix(path)
    try:
        if suffix in {".json", ".mrk.json"}:
            points = _read_json(path)
        elif suffix == ".fcsv":
            points = _read_fcsv(path)
        else:
            raise ImageReadError(f"{path}: unknown landmark format {suffix!r}; expected .json, .mrk.json or .fcsv")
    except (OSError, UnicodeDecodeError) as error:
        raise ImageReadError(f"{path}: cannot read landmark file ({error})") from None
    except (KeyError, TypeError, AttributeError) as error:
        raise ImageReadError(f"{path}: malformed landmark file ({type(error).__name__}: {error})") from None
    if not points:
        raise ImageReadError(
            f"{path}: the file holds no points; state an absent landmark explicitly "
            "(positionStatus 'missing' in Slicer, present: false in medseg JSON)"
        )
    return points


def _clean(points: Mapping[str, Any]) -> Points:
    cleaned: Points = {}
    for name, value in points.items():
        if value is None:
            cleaned[str(name)] = None
            continue
        array = np.asarray(value, dtype=float).reshape(3)
        cleaned[str(name)] = array if np.all(np.isfinite(array)) else None
    return cleaned


def _number(value: float) -> float:
    return float(value) if math.isfinite(value) else 0.0


def write_landmarks(
    path: str | os.PathLike[str],
    points: Mapping[str, Sequence[float] | np.ndarray | None],
    *,
    coordinate_system: str = "RAS",
) -> Path:
    """Write named LPS landmarks atomically, the format chosen by the suffix.

    Args:
        path: ``.json`` (medseg JSON, always LPS), ``.mrk.json`` or ``.fcsv`` (Slicer).
        points: point name to LPS position, or ``None`` for a point stated absent.
        coordinate_system: ``RAS`` or ``LPS`` for the Slicer formats.

    Returns:
        The written path.

    Raises:
        ValueError: unknown suffix or coordinate system.
    """
    path = Path(path)
    suffix = _landmark_suffix(path)
    system = coordinate_system.upper()
    if system not in {"RAS", "LPS"}:
        raise ValueError(f"coordinate_system must be RAS or LPS, not {coordinate_system!r}")
    cleaned = _clean(points)

    def convert(point: np.ndarray) -> list[float]:
        return [_number(v) for v in (lps_to_ras(point) if system == "RAS" else point)]

    if suffix == ".mrk.json":
        controls = []
        for index, (name, point) in enumerate(cleaned.items()):
            control: dict[str, Any] = {"id": str(index + 1), "label": name, "description": ""}
            if point is None:
                control["positionStatus"] = "missing"
            else:
                control["position"] = convert(point)
                control["positionStatus"] = "defined"
            controls.append(control)
        markup = {"type": "Fiducial", "coordinateSystem": system, "coordinateUnits": "mm", "controlPoints": controls}
        return write_json(path, {"@schema": _SLICER_SCHEMA, "markups": [markup]})
    if suffix == ".json":
        data = {
            "coordinate_system": "LPS",
            "points": {
                name: {"present": point is not None, "position": None if point is None else [_number(v) for v in point]}
                for name, point in cleaned.items()
            },
        }
        return write_json(path, data)
    if suffix == ".fcsv":
        buffer = io.StringIO()
        buffer.write("# Markups fiducial file version = 4.11\n")
        buffer.write(f"# CoordinateSystem = {system}\n")
        buffer.write(f"# columns = {','.join(_FCSV_COLUMNS)}\n")
        writer = csv.writer(buffer, lineterminator="\n")
        for index, (name, point) in enumerate(cleaned.items()):
            xyz = ["nan"] * 3 if point is None else [repr(v) for v in convert(point)]
            visible = "0" if point is None else "1"
            writer.writerow([f"vtkMRMLMarkupsFiducialNode_{index}", *xyz, 0, 0, 0, 1, visible, 1, 0, name, "", ""])
        return write_text(path, buffer.getvalue())
    raise ValueError(f"{path}: unknown landmark format {suffix!r}; expected .json, .mrk.json or .fcsv")
