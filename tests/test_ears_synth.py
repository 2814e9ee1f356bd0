"""Tiny synthetic head CTs for the ears unit tests (a few seconds to build, unlike medseg.phantoms.head_ct), and their checks."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from medseg.io.landmarks import write_landmarks


def _rotation(rng: np.random.Generator, max_deg: float) -> np.ndarray:
    a, b, c = np.deg2rad(rng.uniform(-max_deg, max_deg, 3))
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _ellipsoid(p: np.ndarray, center, axes, rot=None) -> np.ndarray:
    q = p - np.asarray(center, float)
    if rot is not None:
        q = q @ rot
    return ((q / np.asarray(axes, float)) ** 2).sum(-1)


def synthetic_head(
    seed: int,
    ears: tuple[str, ...] = ("left", "right"),
    spacing: tuple[float, float, float] = (2.0, 2.0, 2.5),
    flip_direction: bool = False,
    max_rotation_deg: float = 8.0,
) -> tuple[sitk.Image, dict[str, np.ndarray | None]]:
    """A head CT (HU) with skull, petrous bones, cochleae and distractors; ear truth in LPS mm.

    The field of view is cut so that only the ``ears`` listed are inside it.
    """
    rng = np.random.default_rng(seed)
    rot = _rotation(rng, max_rotation_deg)
    center = rng.uniform(-10, 10, 3)
    half_width = rng.uniform(68, 78)
    ear_local = {"left": np.array([half_width - 26, 8.0, -20.0]), "right": np.array([-(half_width - 26), 8.0, -20.0])}
    ear_world = {k: center + rot @ v for k, v in ear_local.items()}

    def hu(world: np.ndarray) -> np.ndarray:
        p = (world - center) @ rot
        out = np.full(p.shape[:-1], -1000.0, np.float32)
        head = _ellipsoid(p, (0, 0, 0), (half_width, 95, 90))
        out[head <= 1.0] = 40.0
        out[(head <= 1.0) & (head > 0.85)] = 1100.0
        for s in (1, -1):
            ang = np.deg2rad(s * 40)
            r = np.array([[np.cos(ang), -np.sin(ang), 0], [np.sin(ang), np.cos(ang), 0], [0, 0, 1]])
            pet = _ellipsoid(p, (s * (half_width - 38), 18, -20), (22, 7, 7), r)
            out[pet <= 1.0] = 1400.0
            e = ear_local["left" if s == 1 else "right"]
            d = np.linalg.norm(p - e, axis=-1)
            out[d <= 6.0] = 1600.0
            out[d <= 3.5] = 10.0
            out[np.linalg.norm(p - e - np.array([s * 3.0, -3.0, 1.0]), axis=-1) <= 2.0] = 10.0
            tooth = _ellipsoid(p, (s * 22, -70, -55), (5, 5, 8))
            out[tooth <= 1.0] = 2200.0
        vert = _ellipsoid(p, (0, 25, -80), (14, 14, 10))
        out[(vert <= 1.0) & (vert > 0.4)] = 900.0
        return out

    spacing_arr = np.asarray(spacing, float)
    lo = np.array([-half_width - 10, -105.0, -110.0]) + center
    hi = np.array([half_width + 10, 105.0, 100.0]) + center
    if "left" not in ears:
        hi[0] = min(hi[0], ear_world["left"][0] - 25.0)
    if "right" not in ears:
        lo[0] = max(lo[0], ear_world["right"][0] + 25.0)
    if not ears:
        lo[2] = max(ear_world["left"][2], ear_world["right"][2]) + 30.0
        lo[0], hi[0] = center[0] - half_width - 10, center[0] + half_width + 10
    direction = np.eye(3)
    if flip_direction:
        direction = np.diag([-1.0, -1.0, 1.0])
    size = np.ceil((hi - lo) / spacing_arr).astype(int)
    corner = np.where(np.diag(direction) > 0, lo, hi)
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in size], indexing="ij"), -1).reshape(-1, 3)
    world = corner + (idx * spacing_arr) @ direction.T
    values = hu(world).reshape(*size) + rng.normal(0, 15, size).astype(np.float32)
    image = sitk.GetImageFromArray(values.transpose(2, 1, 0).astype(np.float32))
    image.SetOrigin(corner.tolist())
    image.SetSpacing(spacing_arr.tolist())
    image.SetDirection(direction.ravel().tolist())
    truth = {side: (ear_world[side] if side in ears else None) for side in ("left", "right")}
    return image, truth


def write_training_table(
    root: Path,
    heads: Sequence[tuple[int, tuple[str, ...]]],
    spacing: tuple[float, float, float],
    flipped: Sequence[int] = (),
) -> Path:
    """Write one synthetic head per ``(seed, ears)`` as ``c{seed}.nii.gz`` + ``c{seed}.json`` and
    the ``cases.tsv`` naming them (subject ``S{seed}``); seeds in ``flipped`` get a flipped direction."""
    rows = ["subject\tcase\timage\tannotation"]
    for seed, ears in heads:
        image, truth = synthetic_head(seed, ears=ears, spacing=spacing, flip_direction=seed in flipped)
        sitk.WriteImage(image, str(root / f"c{seed}.nii.gz"))
        write_landmarks(root / f"c{seed}.json", truth)
        rows.append(f"S{seed}\tc{seed}\tc{seed}.nii.gz\tc{seed}.json")
    (root / "cases.tsv").write_text("\n".join(rows) + "\n")
    return root / "cases.tsv"


def test_synthetic_head_truth_inside_and_dense():
    image, truth = synthetic_head(1, flip_direction=True)
    assert truth["left"][0] > truth["right"][0]
    for side in ("left", "right"):
        index = image.TransformPhysicalPointToIndex(truth[side].tolist())
        assert image[index] < 200
    image, truth = synthetic_head(2, ears=("right",))
    assert truth["left"] is None
    assert image.TransformPhysicalPointToContinuousIndex(truth["right"].tolist())[0] > 0
