"""Shape prior of the two inner ears, learnt from training landmarks only.

Pairs: the vector from the right to the left ear (LPS mm) has a learnt length (mean +- k SD),
points to patient left (positive x) and stays within an angle of its mean direction.
Lone ears: the distance from the ear to the head's outer boundary, walking laterally on the
ear's own side, is learnt from the training images (mean +- k SD); a candidate whose walk
crosses much more or less head than that cannot be an ear of that side.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from medseg.ears.preprocess import Preprocessed

__all__ = ["Depth", "ShapePrior", "fit_shape_prior", "lateral_depth", "head_threshold"]

#: ``(distance_mm, truncated)`` from :func:`lateral_depth`.
Depth = tuple[float, bool]

#: Used when training has fewer than two two-ear cases (adult anatomy, generous).
_DEFAULT_DISTANCE = (100.0, 12.0)
_DEFAULT_DIRECTION = (1.0, 0.0, 0.0)
_DEFAULT_LATERAL = (35.0, 10.0)


@dataclasses.dataclass
class ShapePrior:
    """Learnt geometry of the ears and the acceptance tests built on it.

    Attributes:
        distance_mean: mean inter-ear distance (mm).
        distance_sd: its SD (mm), floored.
        direction: mean unit vector from the right to the left ear (LPS).
        max_angle_deg: accepted angle between a pair's vector and :attr:`direction`.
        lateral_mean: mean lateral depth (ear to the head's outer boundary, own side, mm).
        lateral_sd: its SD (mm), floored.
        k_sd: width of the accepted ranges in SDs.
        n_pairs: two-ear training cases used.
        n_ears: training ears used for the lateral depth.
    """

    distance_mean: float
    distance_sd: float
    direction: tuple[float, float, float]
    max_angle_deg: float
    lateral_mean: float
    lateral_sd: float
    k_sd: float
    n_pairs: int
    n_ears: int

    def distance_range(self) -> tuple[float, float]:
        """Accepted inter-ear distance ``[low, high]`` in mm."""
        return self.distance_mean - self.k_sd * self.distance_sd, self.distance_mean + self.k_sd * self.distance_sd

    def lateral_range(self) -> tuple[float, float]:
        """Accepted lateral depth ``[low, high]`` in mm."""
        return max(0.0, self.lateral_mean - self.k_sd * self.lateral_sd), self.lateral_mean + self.k_sd * self.lateral_sd

    def check_pair(self, left: np.ndarray, right: np.ndarray) -> str | None:
        """``None`` if a (left, right) pair of LPS points obeys the prior, else the reason."""
        vector = np.asarray(left, float) - np.asarray(right, float)
        distance = float(np.linalg.norm(vector))
        if vector[0] <= 0:
            return "left candidate is not to the patient's left of the right candidate"
        low, high = self.distance_range()
        if not low <= distance <= high:
            return f"inter-ear distance {distance:.1f} mm outside [{low:.1f}, {high:.1f}]"
        cosine = float(np.dot(vector / max(distance, 1e-9), np.asarray(self.direction)))
        angle = float(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))))
        if angle > self.max_angle_deg:
            return f"inter-ear direction {angle:.1f} deg from the learnt one (max {self.max_angle_deg:.1f})"
        return None

    def check_lone(self, own: Depth, other: Depth | None = None) -> str | None:
        """``None`` if a lone ear with these lateral depths may be an ear of its side, else the reason.

        Args:
            own: depth walking towards the ear's side (see :func:`lateral_depth`).
            other: depth walking towards the other side.
        """
        distance, truncated = own
        if np.isinf(distance):
            return "candidate is not inside the head"
        low, high = self.lateral_range()
        if not truncated and not low <= distance <= high:
            return f"lateral depth {distance:.1f} mm outside [{low:.1f}, {high:.1f}] where an ear can lie"
        if truncated and distance > high:
            return f"at least {distance:.1f} mm of head on its lateral side (an ear lies within {high:.1f} mm)"
        if other is not None and not other[1] and np.isfinite(other[0]):
            if other[0] < distance:
                return f"nearer the other side's surface ({other[0]:.1f} mm against {distance:.1f} mm)"
            least = self.other_side_least_depth()
            if other[0] < least:
                return (
                    f"only {other[0]:.1f} mm of head towards the other side, where the other ear and its "
                    f"lateral depth take at least {least:.1f} mm"
                )
        return None

    def other_side_least_depth(self) -> float:
        """The least head an ear has towards the other side (mm along x): the shortest accepted
        inter-ear distance, turned by the widest accepted angle, plus the shortest lateral depth.
        A candidate near the midline (the jaw, the clivus) has less."""
        low = self.distance_range()[0] * float(np.cos(np.radians(self.max_angle_deg)))
        return max(0.0, low) + self.lateral_range()[0]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``shape_prior.json``)."""
        out = dataclasses.asdict(self)
        out["direction"] = list(self.direction)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ShapePrior:
        """Inverse of :meth:`to_dict`."""
        values = {f.name: data[f.name] for f in dataclasses.fields(cls)}
        values["direction"] = tuple(float(v) for v in values["direction"])
        return cls(**values)


def head_threshold(hu: float, hu_clip: Sequence[float]) -> float:
    """A HU value on the scaled ``[0, 1]`` intensity axis of preprocessed arrays."""
    return (float(hu) - float(hu_clip[0])) / (float(hu_clip[1]) - float(hu_clip[0]))


def lateral_depth(prep: Preprocessed, point: np.ndarray, side: str, threshold: float, run: int = 2) -> Depth:
    """Distance from an LPS point to the head's outer boundary, walking laterally towards ``side``.

    Args:
        prep: the preprocessed CT.
        point: LPS mm.
        side: ``"left"`` walks towards +x, ``"right"`` towards -x.
        threshold: scaled intensity above which a voxel is head.
        run: consecutive outside voxels that end the walk.

    Returns:
        ``(distance_mm, truncated)``: ``truncated`` when the walk left the field of view
        while still in the head (the distance is then a lower bound); ``(inf, False)`` when the point is
        outside the image or the head (no head voxel within 4 mm).
    """
    index = np.rint(prep.world_to_index(point)).astype(int)
    shape = np.asarray(prep.valid_shape)
    if np.any(index < 0) or np.any(index >= shape):
        return float("inf"), False
    i, j, k = (int(v) for v in index)
    near = max(1, int(round(4.0 / prep.spacing)))
    box = prep.array[max(0, i - near) : i + near + 1, max(0, j - near) : j + near + 1, max(0, k - near) : k + near + 1]
    if not np.any(box > threshold):
        return float("inf"), False
    line = prep.array[: shape[0], j, k]
    fov = prep.field_of_view()[: shape[0], j, k]
    step = 1 if side == "left" else -1
    outside = 0
    position = i
    while 0 <= position < shape[0] and fov[position] > 0:
        if line[position] > threshold:
            outside = 0
        else:
            outside += 1
            if outside >= run:
                return float(abs(position - step * (run - 1) - i) * prep.spacing), False
        position += step
    return float(abs(position - step - i) * prep.spacing), True


def fit_shape_prior(
    landmarks: Sequence[Mapping[str, np.ndarray | None]],
    lateral_depths: Sequence[float],
    k_sd: float,
    sd_floor_mm: float,
    min_angle_deg: float,
) -> ShapePrior:
    """Learn the prior from training landmarks (and the lateral depths measured on them).

    Args:
        landmarks: per training case ``{"left": point or None, "right": point or None}``, LPS.
        lateral_depths: lateral depths (own side, not truncated) of the training ears.
        k_sd: accepted ranges are mean +- ``k_sd`` SD.
        sd_floor_mm: lower bound of the SDs.
        min_angle_deg: lower bound of the accepted direction angle.

    Returns:
        The fitted :class:`ShapePrior` (generous defaults where training has too few cases).
    """
    vectors = np.array(
        [np.asarray(c["left"], float) - np.asarray(c["right"], float) for c in landmarks if c.get("left") is not None and c.get("right") is not None]
    ).reshape(-1, 3)
    if len(vectors) >= 2:
        distances = np.linalg.norm(vectors, axis=1)
        distance_mean, distance_sd = float(distances.mean()), float(distances.std(ddof=1))
        units = vectors / distances[:, None]
        direction = units.mean(axis=0)
        direction /= np.linalg.norm(direction)
        angles = np.degrees(np.arccos(np.clip(units @ direction, -1.0, 1.0)))
        max_angle = float(max(min_angle_deg, angles.mean() + k_sd * angles.std(ddof=1)))
    else:
        distance_mean, distance_sd = _DEFAULT_DISTANCE
        direction = np.asarray(_DEFAULT_DIRECTION)
        max_angle = max(min_angle_deg, 30.0)
    depths = np.asarray([d for d in lateral_depths if d is not None and np.isfinite(d)], float)
    if len(depths) >= 2:
        lateral_mean, lateral_sd = float(depths.mean()), float(depths.std(ddof=1))
    else:
        lateral_mean, lateral_sd = _DEFAULT_LATERAL
    return ShapePrior(
        distance_mean=distance_mean,
        distance_sd=max(distance_sd, sd_floor_mm),
        direction=tuple(float(v) for v in direction),  # type: ignore[arg-type]
        max_angle_deg=max_angle,
        lateral_mean=lateral_mean,
        lateral_sd=max(lateral_sd, sd_floor_mm),
        k_sd=float(k_sd),
        n_pairs=int(len(vectors)),
        n_ears=int(len(depths)),
    )
