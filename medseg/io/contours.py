"""Sunnybrook contour files: reading, instance mapping and polygon rasterisation.

A contour file ``IM-0001-<nnnn>-icontour-manual.txt`` (endocardium) or
``...-ocontour-manual.txt`` (epicardium) holds one ``x y`` point per line in pixel units of
image ``nnnn`` (the DICOM InstanceNumber): ``x`` is the column, ``y`` the row.

Pixel-centre convention: after reading, integer coordinates are pixel centres counted from
0 (as in :func:`skimage.draw.polygon`), so a pixel belongs to a polygon when its centre lies
inside it or on its boundary. Files written with another origin (``origin``: the
coordinate of the first pixel's centre in the file) are shifted by it on reading. The
Sunnybrook expert contours read as 1-based: :data:`SUNNYBROOK_ORIGIN`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from skimage.draw import polygon as _draw_polygon

from medseg.errors import ImageReadError

CONTOUR_PATTERN = re.compile(r"IM-\d{4}-(\d{4})-([io])contour-manual\.txt$")
STRUCTURES = {"i": "endo", "o": "epi"}

#: Coordinate of the first pixel's centre in the Sunnybrook contour files. Read 0-based,
#: the expert contours of all four patients here lie 0.5-2 pixels down and right of the
#: image edges they trace (the best translation by two image criteria: blood-to-wall
#: contrast across the endocardium, and the darkness of the myocardial ring), about one
#: pixel on average: the files count pixels from 1.
SUNNYBROOK_ORIGIN = 1.0


@dataclass
class ContourSet:
    """Contours of one study, keyed by DICOM InstanceNumber.

    Attributes:
        endo: instance number -> (N, 2) array of ``(x, y)`` = (column, row) points.
        epi: instance number -> (N, 2) array of ``(x, y)`` points.
        files: instance number -> {"endo"|"epi": source path}.
    """

    endo: dict[int, np.ndarray] = field(default_factory=dict)
    epi: dict[int, np.ndarray] = field(default_factory=dict)
    files: dict[int, dict[str, Path]] = field(default_factory=dict)

    @property
    def instances(self) -> list[int]:
        """Sorted instance numbers that have at least one contour."""
        return sorted(set(self.endo) | set(self.epi))


def read_contour_file(path: str | Path, origin: float = 0.0) -> np.ndarray:
    """Read one contour file.

    Args:
        path: a Sunnybrook ``*contour-manual.txt`` file.
        origin: coordinate of the first pixel's centre in the file (subtracted).

    Returns:
        (N, 2) float64 array of 0-based ``(x, y)`` = (column, row) pixel coordinates.

    Raises:
        ImageReadError: the file cannot be read or holds fewer than 3 valid points.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except (OSError, UnicodeDecodeError) as error:
        raise ImageReadError(f"{path}: cannot read contour file ({error})") from error
    points = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        try:
            if len(parts) != 2:
                raise ValueError
            points.append((float(parts[0]), float(parts[1])))
        except ValueError:
            raise ImageReadError(f"{path}: line {number} is not an 'x y' point: {line.strip()!r}") from None
    array = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(array) < 3 or not np.isfinite(array).all():
        raise ImageReadError(f"{path}: a contour needs at least 3 finite points, found {len(array)}")
    return array - float(origin)


def read_contour_folder(folder: str | Path, origin: float = 0.0) -> ContourSet:
    """Read every contour file under ``folder`` (searched recursively).

    Args:
        folder: a Sunnybrook contour folder (e.g. ``contourfiles/SC-HF-I-1``), holding
            ``i-contours/`` and ``o-contours/`` or the files themselves.
        origin: coordinate of the first pixel's centre in the files
            (:data:`SUNNYBROOK_ORIGIN` for the Sunnybrook expert contours).

    Returns:
        The contours keyed by instance number.

    Raises:
        ImageReadError: the folder does not exist or holds no contour file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageReadError(f"{folder}: contour folder not found")
    result = ContourSet()
    for path in sorted(folder.rglob("*contour-manual.txt")):
        match = CONTOUR_PATTERN.search(path.name)
        if not match:
            continue
        instance, kind = int(match.group(1)), STRUCTURES[match.group(2)]
        getattr(result, kind)[instance] = read_contour_file(path, origin)
        result.files.setdefault(instance, {})[kind] = path
    if not result.instances:
        raise ImageReadError(
            f"{folder}: no Sunnybrook contour files (IM-0001-<nnnn>-[io]contour-manual.txt) found"
        )
    return result


def instance_index(instance_numbers: np.ndarray) -> dict[int, tuple[int, int]]:
    """Map each instance number to its (slice, phase) index.

    Args:
        instance_numbers: (slices, phases) integer array, as in ``CineStudy.instance_numbers``.

    Returns:
        Dict instance number -> (slice, phase).
    """
    array = np.asarray(instance_numbers)
    return {int(array[s, p]): (s, p) for s in range(array.shape[0]) for p in range(array.shape[1])}


def polygon_to_mask(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Rasterise a closed polygon of ``(x, y)`` points onto a (rows, cols) grid.

    Args:
        points: (N, 2) ``(x, y)`` = (column, row) pixel coordinates.
        shape: (rows, cols) of the image.

    Returns:
        Boolean mask; a pixel is inside when its centre is inside or on the polygon.
    """
    points = np.asarray(points, dtype=np.float64)
    mask = np.zeros(shape, dtype=bool)
    rr, cc = _draw_polygon(points[:, 1], points[:, 0], shape=shape)
    mask[rr, cc] = True
    return mask


def polygon_area(points: np.ndarray) -> float:
    """Area of a polygon in squared pixel units (shoelace formula, absolute value)."""
    x, y = np.asarray(points, dtype=np.float64).T
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def _segments_intersect(p1: np.ndarray, p2: np.ndarray, q1: np.ndarray, q2: np.ndarray) -> bool:
    def orient(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> float:
        return float((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))

    d1, d2 = orient(q1, q2, p1), orient(q1, q2, p2)
    d3, d4 = orient(p1, p2, q1), orient(p1, p2, q2)
    return d1 * d2 < 0 and d3 * d4 < 0


def is_self_intersecting(points: np.ndarray) -> bool:
    """Whether a closed polygon crosses itself (proper crossings of non-adjacent edges).

    Args:
        points: (N, 2) polygon vertices; the closing edge is implied.

    Returns:
        True when two non-adjacent edges cross.
    """
    pts = np.asarray(points, dtype=np.float64)
    keep = np.ones(len(pts), dtype=bool)
    keep[1:] = np.any(np.diff(pts, axis=0) != 0, axis=1)
    pts = pts[keep]
    n = len(pts)
    if n < 4:
        return False
    a, b = pts, np.roll(pts, -1, axis=0)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    for i in range(n):
        candidates = np.nonzero(
            (lo[:, 0] <= hi[i, 0]) & (hi[:, 0] >= lo[i, 0]) & (lo[:, 1] <= hi[i, 1]) & (hi[:, 1] >= lo[i, 1])
        )[0]
        for j in candidates:
            if j <= i + 1 or (i == 0 and j == n - 1):
                continue
            if _segments_intersect(a[i], b[i], a[j], b[j]):
                return True
    return False
