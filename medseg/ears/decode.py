"""From heatmaps to ears: candidate peaks, sub-voxel refinement and the shape-constrained choice."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from scipy import ndimage

from medseg.ears.preprocess import Preprocessed
from medseg.ears.shape_prior import ShapePrior
from medseg.ears.targets import EAR_SIDES

__all__ = ["Candidate", "Decision", "find_peaks", "refine_peak", "extract_candidates", "decide"]


@dataclasses.dataclass
class Candidate:
    """One local maximum of one channel.

    Attributes:
        side: ``"left"`` or ``"right"`` (the channel).
        score: heatmap value at the peak.
        index: refined continuous index on the network grid.
        position: LPS mm.
        lateral_depth: mm to the head's outer boundary on ``side`` (``None`` = unknown).
        other_score: the other channel's strongest value within one voxel of the peak.
    """

    side: str
    score: float
    index: np.ndarray
    position: np.ndarray
    lateral_depth: float | None = None
    other_score: float = 0.0


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


def extract_candidates(
    heatmaps: np.ndarray,
    prep: Preprocessed,
    min_score: float,
    peak_distance_mm: float,
    max_count: int,
    refine_radius: int = 1,
    depth: Callable[[np.ndarray, str], float | None] | None = None,
) -> dict[str, list[Candidate]]:
    """Candidates per channel, strongest first.

    Args:
        heatmaps: ``(2, X, Y, Z)`` network output (left, right).
        prep: preprocessing record (grid and mapping to LPS).
        min_score: weakest peak kept.
        peak_distance_mm: minimum distance between the candidates of one channel.
        max_count: candidates per channel.
        refine_radius: sub-voxel refinement window half-width.
        depth: ``(position, side) -> lateral depth`` used by the lone-ear test.
    """
    distance = max(1, int(round(peak_distance_mm / prep.spacing)))
    out: dict[str, list[Candidate]] = {}
    for number, (channel, side) in enumerate(zip(heatmaps, EAR_SIDES)):
        other = heatmaps[1 - number]
        items = []
        for index, value in find_peaks(channel, min_score, distance, max_count, prep.valid_shape):
            refined = refine_peak(channel, index, refine_radius)
            position = prep.index_to_world(refined)
            lo = np.maximum(np.asarray(index) - 1, 0)
            rival = float(other[lo[0] : index[0] + 2, lo[1] : index[1] + 2, lo[2] : index[2] + 2].max())
            items.append(Candidate(side, value, refined, position, depth(position, side) if depth else None, rival))
        out[side] = items
    return out


def decide(
    candidates: Mapping[str, Sequence[Candidate]], threshold: float, prior: ShapePrior | None
) -> Decision:
    """Choose the ears from the candidates.

    A candidate at or above ``threshold`` where the other channel answers more strongly is
    the other ear and is dropped first. Without a prior, the strongest remaining candidate
    of each channel is the ear. With a prior, the best-scoring (left, right) pair that obeys it wins; failing
    any valid pair, the strongest lone candidate that lies where an ear can lie.

    Args:
        candidates: per side, strongest first.
        threshold: presence threshold.
        prior: the shape prior, or ``None`` to skip the shape constraint.

    Returns:
        The :class:`Decision`, with every other candidate listed with its reason.
    """
    rejected: list[tuple[Candidate, str]] = []
    above: dict[str, list[Candidate]] = {}
    for side in EAR_SIDES:
        above[side] = []
        for c in candidates.get(side, []):
            if c.score < threshold:
                rejected.append((c, f"score {c.score:.3f} below threshold {threshold:.3f}"))
            elif c.other_score > c.score:
                rejected.append((c, f"the other side's channel is stronger here ({c.other_score:.3f})"))
            else:
                above[side].append(c)
    chosen: dict[str, Candidate | None] = {side: None for side in EAR_SIDES}
    if prior is None:
        for side in EAR_SIDES:
            if above[side]:
                chosen[side] = above[side][0]
                rejected.extend((c, "weaker than the chosen candidate") for c in above[side][1:])
        return Decision(chosen, rejected)
    reasons: dict[int, str] = {}
    best_pair, best_score = None, -np.inf
    for left in above["left"]:
        for right in above["right"]:
            problem = prior.check_pair(left.position, right.position)
            if problem is None and left.score + right.score > best_score:
                best_pair, best_score = (left, right), left.score + right.score
            elif problem is not None:
                reasons.setdefault(id(left), f"no valid partner ({problem})")
                reasons.setdefault(id(right), f"no valid partner ({problem})")
    if best_pair is not None:
        chosen["left"], chosen["right"] = best_pair
    else:
        lone = []
        for side in EAR_SIDES:
            for c in above[side]:
                problem = prior.check_lone(c.lateral_depth)
                if problem is None:
                    lone.append(c)
                else:
                    reasons[id(c)] = f"cannot be a lone ear: {problem}"
        if lone:
            best = max(lone, key=lambda c: c.score)
            chosen[best.side] = best
    for side in EAR_SIDES:
        for c in above[side]:
            if chosen[side] is c:
                continue
            reason = reasons.get(id(c), "weaker than the chosen ear(s)")
            if chosen[side] is None and best_pair is None and id(c) not in reasons:
                reason = "weaker than the chosen lone ear"
            rejected.append((c, reason))
    return Decision(chosen, rejected)
