"""From heatmaps to ears: candidate peaks, sub-voxel refinement and the shape-constrained choice."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from scipy import ndimage

from medseg.ears.preprocess import Preprocessed
from medseg.ears.shape_prior import Depth, ShapePrior
from medseg.ears.targets import EAR_SIDES

__all__ = ["Candidate", "Decision", "find_peaks", "refine_peak", "extract_candidates", "decide"]


@dataclasses.dataclass
class Candidate:
    """One local maximum of one channel.

    Attributes:
        side: ``"left"`` or ``"right"`` (the channel it was found in, or the side it was
            chosen as).
        score: that side's heatmap value at the peak.
        index: refined continuous index on the network grid.
        position: LPS mm.
        other_score: the other side's strongest value within one voxel of the peak.
        depths: per side, the lateral depth walking towards it (see
            :func:`medseg.ears.shape_prior.lateral_depth`); empty = unknown.
    """

    side: str
    score: float
    index: np.ndarray
    position: np.ndarray
    other_score: float = 0.0
    depths: dict[str, Depth] = dataclasses.field(default_factory=dict)

    def score_as(self, side: str) -> float:
        """This peak's value in the ``side`` channel."""
        return self.score if side == self.side else self.other_score

    def as_side(self, side: str) -> Candidate:
        """The same peak taken as an ear of ``side``."""
        if side == self.side:
            return self
        return dataclasses.replace(self, side=side, score=self.other_score, other_score=self.score)


@dataclasses.dataclass
class Decision:
    """Which ears are present, where, and which candidates were rejected and why."""

    ears: dict[str, Candidate | None]
    rejected: list[tuple[Candidate, str]]

    def present(self, side: str) -> bool:
        """Whether ``side`` was found."""
        return self.ears.get(side) is not None


def find_peaks(
    channel: np.ndarray, min_score: float, min_distance_vox: int, max_count: int, valid_shape: Sequence[int] | None = None
) -> list[tuple[tuple[int, int, int], float]]:
    """Strongest local maxima of a 3D map, at least ``min_distance_vox`` apart.

    Args:
        channel: ``(X, Y, Z)`` map.
        min_score: maxima below it are ignored.
        min_distance_vox: radius of the maximum filter (voxels).
        max_count: maxima returned at most.
        valid_shape: only ``channel[:X', :Y', :Z']`` is searched (padding excluded).

    Returns:
        ``[(index, value), ...]`` strongest first.
    """
    if valid_shape is not None:
        channel = channel[: valid_shape[0], : valid_shape[1], : valid_shape[2]]
    size = 2 * max(1, int(min_distance_vox)) + 1
    maxima = (channel == ndimage.maximum_filter(channel, size=size, mode="constant", cval=-np.inf)) & (channel >= min_score)
    coords = np.argwhere(maxima)
    if len(coords) == 0:
        return []
    values = channel[tuple(coords.T)]
    order = np.argsort(-values, kind="stable")
    out: list[tuple[tuple[int, int, int], float]] = []
    for i in order:
        c = coords[i]
        if any(np.max(np.abs(c - np.asarray(o))) <= min_distance_vox for o, _ in out):
            continue
        out.append((tuple(int(v) for v in c), float(values[i])))
        if len(out) >= max_count:
            break
    return out


def refine_peak(channel: np.ndarray, index: Sequence[int], radius: int = 1) -> np.ndarray:
    """Sub-voxel peak position: per-axis parabola through the log values, else a weighted centroid.

    Args:
        channel: ``(X, Y, Z)`` map.
        index: integer peak index.
        radius: half-width of the centroid window.

    Returns:
        Continuous index (each axis moved by at most ``radius`` voxels).
    """
    index = np.asarray(index, int)
    shape = np.asarray(channel.shape)
    peak = float(channel[tuple(index)])
    out = index.astype(float)
    if peak <= 0:
        return out
    lo = np.maximum(index - radius, 0)
    hi = np.minimum(index + radius + 1, shape)
    window = channel[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]].astype(float)
    weights = np.clip(window - 0.5 * peak, 0.0, None)
    for axis in range(3):
        if 0 < index[axis] < shape[axis] - 1:
            step = np.zeros(3, int)
            step[axis] = 1
            a = float(channel[tuple(index - step)])
            c = float(channel[tuple(index + step)])
            if a > 0 and c > 0:
                la, lb, lc = np.log(a), np.log(peak), np.log(c)
                denominator = la - 2 * lb + lc
                if denominator < 0:
                    out[axis] = index[axis] + float(np.clip(0.5 * (la - lc) / denominator, -0.5, 0.5))
                    continue
        if weights.sum() > 0:
            grid = np.arange(lo[axis], hi[axis], dtype=float)
            marginal = weights.sum(axis=tuple(a for a in range(3) if a != axis))
            out[axis] = float((grid * marginal).sum() / marginal.sum())
    return out


def inside_scan(prep: Preprocessed, position: np.ndarray) -> bool:
    """Whether an LPS point lies within the scanned volume (voxel centres +- half a voxel).

    Peaks beyond the edge are answers to padding, not anatomy: an ear cannot be reported
    outside the image it was found in.
    """
    index = prep.world_to_input_index(position)
    size = np.asarray(prep.input_grid.size, float)
    return bool(np.all(index >= -0.5) and np.all(index <= size - 0.5))


def extract_candidates(
    heatmaps: np.ndarray,
    prep: Preprocessed,
    min_score: float,
    peak_distance_mm: float,
    max_count: int,
    refine_radius: int = 1,
    depth: Callable[[np.ndarray], dict[str, Depth]] | None = None,
) -> dict[str, list[Candidate]]:
    """Candidates per channel inside the scanned volume, strongest first.

    Args:
        heatmaps: ``(2, X, Y, Z)`` network output (left, right).
        prep: preprocessing record (grid and mapping to LPS).
        min_score: weakest peak kept.
        peak_distance_mm: minimum distance between the candidates of one channel.
        max_count: candidates per channel.
        refine_radius: sub-voxel refinement window half-width.
        depth: ``position -> {side: lateral depth}`` used by the lone-ear test.
    """
    distance = max(1, int(round(peak_distance_mm / prep.spacing)))
    out: dict[str, list[Candidate]] = {}
    for number, (channel, side) in enumerate(zip(heatmaps, EAR_SIDES)):
        other = heatmaps[1 - number]
        items = []
        for index, value in find_peaks(channel, min_score, distance, max_count, prep.valid_shape):
            refined = refine_peak(channel, index, refine_radius)
            position = prep.index_to_world(refined)
            if not inside_scan(prep, position):
                continue
            lo = np.maximum(np.asarray(index) - 1, 0)
            rival = float(other[lo[0] : index[0] + 2, lo[1] : index[1] + 2, lo[2] : index[2] + 2].max())
            items.append(Candidate(side, value, refined, position, rival, depth(position) if depth else {}))
        out[side] = items
    return out


def decide(candidates: Mapping[str, Sequence[Candidate]], threshold: float, prior: ShapePrior | None) -> Decision:
    """Choose the ears from the candidates.

    Without a prior, the strongest candidate of each channel at or above ``threshold`` is
    that side's ear (the network's own answer). With a prior, the peaks of both channels
    are pooled and each may be taken as either side, scored by that side's channel: the
    best-scoring (left, right) pair that obeys the prior wins (which also puts the left
    ear to the patient's left); failing any valid pair, the strongest peak that lies where
    a lone ear of its side can lie.

    Args:
        candidates: per side, strongest first.
        threshold: presence threshold.
        prior: the shape prior, or ``None`` to skip the shape constraint.

    Returns:
        The :class:`Decision`, with every other candidate listed with its reason.
    """
    chosen: dict[str, Candidate | None] = {side: None for side in EAR_SIDES}
    rejected: list[tuple[Candidate, str]] = []
    if prior is None:
        for side in EAR_SIDES:
            for c in candidates.get(side, []):
                if c.score < threshold:
                    rejected.append((c, f"score {c.score:.3f} below threshold {threshold:.3f}"))
                elif chosen[side] is None:
                    chosen[side] = c
                else:
                    rejected.append((c, "weaker than the chosen candidate"))
        return Decision(chosen, rejected)
    pool = [c for side in EAR_SIDES for c in candidates.get(side, [])]
    reasons: dict[int, str] = {}
    best_pair, best_score = None, -np.inf
    for left in pool:
        if left.score_as("left") < threshold:
            continue
        for right in pool:
            if right is left or right.score_as("right") < threshold:
                continue
            total = left.score_as("left") + right.score_as("right")
            if total <= best_score:
                continue
            problem = prior.check_pair(left.position, right.position)
            if problem is None:
                best_pair, best_score = (left, right), total
            else:
                reasons.setdefault(id(left), f"no valid partner ({problem})")
                reasons.setdefault(id(right), f"no valid partner ({problem})")
    used: set[int] = set()
    if best_pair is not None:
        chosen["left"], chosen["right"] = best_pair[0].as_side("left"), best_pair[1].as_side("right")
        used = {id(best_pair[0]), id(best_pair[1])}
    else:
        best, best_value = None, -np.inf
        for c in pool:
            for side in EAR_SIDES:
                value = c.score_as(side)
                if value < threshold or value <= best_value:
                    continue
                other = EAR_SIDES[1 - EAR_SIDES.index(side)]
                problem = prior.check_lone(c.depths[side], c.depths.get(other)) if side in c.depths else None
                if problem is None:
                    best, best_value = (c, side), value
                elif c.side == side:
                    reasons[id(c)] = f"cannot be a lone {side} ear: {problem}"
        if best is not None:
            chosen[best[1]] = best[0].as_side(best[1])
            used = {id(best[0])}
    for c in pool:
        if id(c) in used:
            continue
        if max(c.score, c.other_score) < threshold:
            reason = f"score {c.score:.3f} below threshold {threshold:.3f}"
        else:
            reason = reasons.get(id(c), "weaker than the chosen ear(s)")
        rejected.append((c, reason))
    return Decision(chosen, rejected)
