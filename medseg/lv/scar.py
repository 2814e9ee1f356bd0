"""Synthetic scar: a sector of the labelled wall repainted darker or brighter (training only).

Infarcted myocardium can look unlike healthy wall in cine MR: dark where it has thinned to
fibrous tissue, near blood brightness where there is oedema, fat or slow flow beside it.
A model that has only seen healthy walls follows the intensity and misplaces the contour
there. This augmentation repaints one angular sector of the annotated myocardium of a
training window to a random signal between dark and blood-like, the same sector in every
frame, and keeps the labels: the wall is still wall.

Frames without labels (sparse ED/ES annotation) borrow the myocardium mask of the nearest
labelled frame of the window, so the scar stays where it is through the cycle.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from medseg.lv.annotations import IGNORE
from medseg.metrics import CAVITY, MYOCARDIUM


class SyntheticScar:
    """Repaint a sector of the annotated myocardium of a (T, H, W) window.

    Args:
        prob: probability that a window gets a scar.
        signal: [low, high] range of the scar signal as a fraction of the blood signal.
        width_deg: [low, high] range of the sector's angular width.
        edge_deg: width of the sector's soft edges.
    """

    def __init__(
        self,
        prob: float,
        signal: tuple[float, float] = (0.1, 0.9),
        width_deg: tuple[float, float] = (40.0, 130.0),
        edge_deg: float = 8.0,
    ) -> None:
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"scar probability must lie in [0, 1], got {prob}")
        if not 0.0 < signal[0] <= signal[1]:
            raise ValueError(f"scar signal range must be 0 < low <= high, got {list(signal)}")
        self.prob = prob
        self.signal = signal
        self.width_deg = width_deg
        self.edge_deg = edge_deg

    def __call__(self, image: np.ndarray, label: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The window with a scar painted in, or ``image`` itself when none is drawn.

        Args:
            image: (T, H, W) float32 frames.
            label: (T, H, W) uint8 labels (255 = not annotated).
            rng: the training generator (every draw comes from it).

        Returns:
            (T, H, W) float32 frames; the labels are unchanged.
        """
        if self.prob == 0.0 or rng.random() >= self.prob:
            return image
        masks = self.wall_masks(label)
        if masks is None:
            return image
        centre = self.lv_centre(label)
        blood = self.blood_signal(image, label)
        wall = float(np.median(image[masks > 0.5]))
        if blood <= 0.0 or wall <= 0.0:
            return image
        angle = float(rng.uniform(0.0, 360.0))
        width = float(rng.uniform(*self.width_deg))
        level = float(rng.uniform(*self.signal))
        sector = self.sector_weight(image.shape[-2:], centre, angle, width)
        weight = masks * sector[None]
        ratio = level * blood / wall
        return (image * (1.0 + weight * (ratio - 1.0))).astype(np.float32)

    @staticmethod
    def wall_masks(label: np.ndarray) -> np.ndarray | None:
        """Soft myocardium mask per frame; unlabelled frames take the nearest labelled one's.

        Returns:
            (T, H, W) float mask, or None when no frame has myocardium.
        """
        labelled = [t for t in range(len(label)) if (label[t] != IGNORE).any()]
        with_wall = [t for t in labelled if (label[t] == MYOCARDIUM).any()]
        if not with_wall:
            return None
        masks = np.empty(label.shape, dtype=np.float32)
        for t in range(len(label)):
            source = t if t in labelled else min(with_wall, key=lambda s: abs(s - t))
            masks[t] = ndimage.gaussian_filter((label[source] == MYOCARDIUM).astype(np.float32), 0.7)
        return np.clip(masks * 1.5, 0.0, 1.0)

    @staticmethod
    def lv_centre(label: np.ndarray) -> tuple[float, float]:
        """(row, col) centre of the labelled cavity and wall over all labelled frames."""
        rows, cols = np.nonzero(((label == MYOCARDIUM) | (label == CAVITY)).any(axis=0))
        return float(rows.mean()), float(cols.mean())

    @staticmethod
    def blood_signal(image: np.ndarray, label: np.ndarray) -> float:
        """Median signal of the labelled cavity, or the 95th percentile where none is labelled."""
        cavity = label == CAVITY
        if cavity.sum() >= 10:
            return float(np.median(image[cavity]))
        return float(np.percentile(image, 95))

    def sector_weight(self, shape: tuple[int, int], centre: tuple[float, float], angle: float, width: float) -> np.ndarray:
        """Membership (0..1, soft edges) of each pixel's polar angle about ``centre`` in the sector."""
        rows, cols = np.mgrid[: shape[0], : shape[1]].astype(np.float64)
        theta = np.degrees(np.arctan2(rows - centre[0], cols - centre[1]))
        offset = np.abs((theta - angle + 180.0) % 360.0 - 180.0)
        return np.clip((width / 2.0 - offset) / self.edge_deg + 0.5, 0.0, 1.0)
