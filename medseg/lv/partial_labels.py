"""Frames annotated with the endocardium alone: outside the cavity is still known.

Real cine data is often contoured at end-systole with the endocardium only. Such a frame
carries two facts: inside the contour is cavity, and everything outside it is *not*
cavity (myocardium or background, which one is unknown). Ignoring the outside would
teach the network only to grow the cavity; :data:`NOT_CAVITY` keeps the second fact so
the loss (:class:`medseg.lv.train.MaskedDiceCELoss`) can score it as "myocardium or
background".
"""

from __future__ import annotations

import numpy as np

from medseg.lv.annotations import IGNORE
from medseg.metrics import CAVITY

__all__ = ["NOT_CAVITY", "cavity_only_frames", "bound_cavity_only_frames"]

#: Training-only label: myocardium or background, not cavity.
NOT_CAVITY = 3


def cavity_only_frames(labels: np.ndarray) -> np.ndarray:
    """Which frames are annotated with the cavity and nothing else.

    Args:
        labels: (..., rows, cols) labels (0 background, 1 myocardium, 2 cavity, 255 unknown).

    Returns:
        Boolean array of the leading shape.
    """
    labels = np.asarray(labels)
    flat = labels.reshape(-1, labels.shape[-2] * labels.shape[-1])
    has_cavity = (flat == CAVITY).any(axis=1)
    only_cavity = ((flat == CAVITY) | (flat == IGNORE)).all(axis=1)
    return (has_cavity & only_cavity).reshape(labels.shape[:-2])


def bound_cavity_only_frames(labels: np.ndarray) -> np.ndarray:
    """Copy of ``labels`` where the unknown pixels of cavity-only frames are :data:`NOT_CAVITY`.

    Call it on the labels of the whole input grid, before cropping: a crop pads with
    255, which must stay unknown.
    """
    labels = np.asarray(labels)
    out = labels.copy()
    frames = cavity_only_frames(labels)
    out[frames] = np.where(labels[frames] == IGNORE, NOT_CAVITY, labels[frames])
    return out
