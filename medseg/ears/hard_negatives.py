"""Hard negative mining: where the current model responds away from the ear of that channel."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from medseg.ears.decode import find_peaks
from medseg.ears.targets import EAR_SIDES

__all__ = ["HardNegative", "mine_volume", "HardNegativePool"]


@dataclasses.dataclass(frozen=True)
class HardNegative:
    """A false peak: case number, voxel index on the network grid, channel and response."""

    case: int
    index: tuple[int, int, int]
    side: str
    response: float


def mine_volume(
    case: int,
    heatmaps: np.ndarray,
    landmark_indices: Mapping[str, np.ndarray | None],
    spacing: float,
    radius_mm: float,
    min_response: float,
    max_count: int,
    valid_shape: Sequence[int] | None = None,
) -> list[HardNegative]:
    """False peaks of one volume, strongest first.

    A peak of channel ``side`` is a hard negative when its response is at least
    ``min_response`` and it lies more than ``radius_mm`` from that side's ear (or that ear is
    absent), which covers bone elsewhere as well as the opposite ear answering in the wrong
    channel.

    Args:
        case: case number stored in the result.
        heatmaps: ``(2, X, Y, Z)`` model output.
        landmark_indices: per side, the ear's continuous index on the grid or ``None``.
        spacing: voxel size in mm.
        radius_mm: exclusion radius around the ear.
        min_response: weakest peak counted.
        max_count: negatives returned at most (over both channels).
        valid_shape: the unpadded part of the grid.
    """
    distance = max(1, int(round(radius_mm / spacing / 2)))
    found: list[HardNegative] = []
    for channel, side in zip(heatmaps, EAR_SIDES):
        ear = landmark_indices.get(side)
        for index, value in find_peaks(channel, min_response, distance, max_count * 2, valid_shape):
            if ear is not None and np.linalg.norm((np.asarray(index) - ear) * spacing) <= radius_mm:
                continue
            found.append(HardNegative(case, index, side, value))
    found.sort(key=lambda n: -n.response)
    return found[:max_count]


class HardNegativePool:
    """The mined negatives kept for sampling; each round adds to it, capped per case.

    Args:
        cap_per_case: negatives kept per case (the strongest, latest round first).
    """

    def __init__(self, cap_per_case: int) -> None:
        self.cap_per_case = int(cap_per_case)
        self._by_case: dict[int, list[HardNegative]] = {}

    def update(self, negatives: Sequence[HardNegative]) -> None:
        """Add one round's negatives."""
        fresh: dict[int, list[HardNegative]] = {}
        for n in negatives:
            fresh.setdefault(n.case, []).append(n)
        for case, items in fresh.items():
            merged = items + [old for old in self._by_case.get(case, []) if all(old.index != n.index for n in items)]
            self._by_case[case] = merged[: self.cap_per_case]

    def items(self) -> list[HardNegative]:
        """All negatives, in case order."""
        return [n for case in sorted(self._by_case) for n in self._by_case[case]]

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_case.values())

    def state(self) -> list[list]:
        """The pool as plain lists, in storage order (for checkpoints)."""
        return [[n.case, *map(int, n.index), n.side, float(n.response)] for case in sorted(self._by_case) for n in self._by_case[case]]

    def restore(self, state: Sequence[Sequence]) -> None:
        """Refill the pool from :meth:`state`."""
        self._by_case = {}
        for case, i, j, k, side, response in state:
            self._by_case.setdefault(int(case), []).append(HardNegative(int(case), (int(i), int(j), int(k)), str(side), float(response)))

    def sample(self, rng: np.random.Generator) -> HardNegative:
        """One negative, uniformly."""
        items = self.items()
        return items[int(rng.integers(len(items)))]
