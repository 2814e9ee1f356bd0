"""A tiny beating-LV phantom shared by the LV tests (and its own sanity test).

Used when ``medseg.phantoms.cine_mr`` is absent or too slow for unit tests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk


def make_cine(slices=2, phases=8, size=64, spacing=2.0, seed=0, centre=None):
    """(frames (Z,T,R,C) float32, labels (Z,T,R,C) uint8) of a beating LV with an RV."""
    rng = np.random.default_rng(seed)
    centre = centre or (size * 0.45 + rng.uniform(-3, 3), size * 0.55 + rng.uniform(-3, 3))
    rr, cc = np.mgrid[:size, :size].astype(np.float32)
    dist = np.hypot(rr - centre[0], cc - centre[1]) * spacing
    angle = np.arctan2(rr - centre[0], cc - centre[1])
    frames = np.zeros((slices, phases, size, size), np.float32)
    labels = np.zeros((slices, phases, size, size), np.uint8)
    bias = np.exp(0.3 * (rr / size - 0.5) + 0.2 * (cc / size - 0.5))
    for z in range(slices):
        for t in range(phases):
            beat = 0.5 * (1 + np.cos(2 * np.pi * t / phases))
            r_endo = (14 + 6 * beat) * (1 - 0.12 * z)
            thick = 9 - 2 * beat
            cavity = dist <= r_endo
            myo = (dist > r_endo) & (dist <= r_endo + thick)
            rv_dist = np.hypot(rr - centre[0] + 2, cc - centre[1] + (r_endo + thick + 10) / spacing) * spacing
            rv = (rv_dist <= 12 + 4 * beat) & ~myo & ~cavity
            image = 0.15 + 0.05 * rng.standard_normal((size, size)).astype(np.float32)
            image[cavity] = 0.9
            image[rv] = 0.8
            image[myo] = np.where((angle[myo] > 0.5) & (angle[myo] < 1.5), 0.6, 0.35)
            frames[z, t] = image * bias + 0.04 * rng.standard_normal((size, size))
            labels[z, t][myo] = 1
            labels[z, t][cavity] = 2
    return frames.astype(np.float32), labels


def write_case(folder: Path, seed=0, sparse=False, **kwargs):
    """Write image.nii.gz and labels.nii.gz (4D); sparse keeps labels at two phases only."""
    frames, labels = make_cine(seed=seed, **kwargs)
    if sparse:
        keep = np.zeros(labels.shape[1], bool)
        keep[[0, labels.shape[1] // 2]] = True
        labels[:, ~keep] = 255
    folder.mkdir(parents=True, exist_ok=True)
    spacing = kwargs.get("spacing", 2.0)
    for name, array in (("image.nii.gz", frames), ("labels.nii.gz", labels)):
        image = sitk.GetImageFromArray(np.ascontiguousarray(array.transpose(1, 0, 2, 3)), isVector=False)
        image.SetSpacing([spacing, spacing, 8.0, 40.0])
        sitk.WriteImage(image, str(folder / name))
    return folder / "image.nii.gz", folder / "labels.nii.gz"


def test_phantom_is_a_beating_ring():
    frames, labels = make_cine()
    assert frames.shape == labels.shape == (2, 8, 64, 64)
    areas = (labels == 2).sum(axis=(2, 3))
    assert areas[0, 0] > areas[0, 4] * 1.3
    assert set(np.unique(labels)) == {0, 1, 2}
