"""A corpus of broken inputs, generated at test time, each with what the user must be told.

Every builder writes one input under ``root`` and returns it as a :class:`BadInput`:
the path, the task it is fed to, and a fragment the error message must contain. The
corpus is shared by the CLI tests (``test_bad_inputs.py``) and the workflow smoke test.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from medseg.io.dicom_write import write_cine_dicom, write_dicom_series
from medseg.io.landmarks import write_landmarks


@dataclasses.dataclass(frozen=True)
class BadInput:
    """One broken input and what the user must see.

    Attributes:
        name: the corpus key (also the case ID in the workflow test).
        task: ``ears`` (CT) or ``lv`` (cine MR).
        path: the image path (file or folder).
        expect: text the message must contain (case-insensitive).
        code: the ``medseg check`` code, when the image itself is at fault.
        annotation: an annotation file, for annotation problems.
        accepted: the input is usable after a recorded correction (resampling).
        dag_expect: what the workflow's reason must contain, where it differs from ``expect``.
    """

    name: str
    task: str
    path: Path
    expect: str
    code: str | None = None
    annotation: Path | None = None
    accepted: bool = False
    dag_expect: str | None = None


def head_ct(shape: tuple[int, int, int] = (48, 64, 64), offset: float = 0.0, seed: int = 0) -> np.ndarray:
    """A small head-like CT in HU (z, y, x): air, skin, skull, brain."""
    rng = np.random.default_rng(seed)
    z, y, x = np.indices(shape)
    c = [(n - 1) / 2 for n in shape]
    r = np.sqrt(((z - c[0]) / (0.45 * shape[0])) ** 2 + ((y - c[1]) / (0.42 * shape[1])) ** 2 + ((x - c[2]) / (0.4 * shape[2])) ** 2)
    volume = np.where(r < 0.85, 35.0, np.where(r < 0.95, 1200.0, np.where(r < 1.0, -90.0, -1000.0)))
    return (volume + rng.normal(0, 10, shape) + offset).astype(np.float32)


def _image(array: np.ndarray, spacing=(1.0, 1.0, 1.5)) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing[: image.GetDimension()])
    return image


def _write(image: sitk.Image, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path))
    return path


def truncated_nifti(root: Path) -> BadInput:
    whole = _write(_image(head_ct()), root / "whole.nii.gz").read_bytes()
    path = root / "truncated.nii.gz"
    path.write_bytes(whole[: len(whole) // 2])
    return BadInput("truncated_nifti", "ears", path, "truncated.nii.gz", "unreadable")


def corrupt_dicom_among_good(root: Path) -> BadInput:
    files = write_dicom_series(_image(head_ct((24, 64, 64))), root / "corrupt_dicom")
    files[5].write_bytes(b"not a DICOM file, cut short by a failed transfer" * 3)
    return BadInput("corrupt_dicom", "ears", root / "corrupt_dicom", files[5].name, "unreadable")


def missing_slices(root: Path) -> BadInput:
    files = write_dicom_series(_image(head_ct((24, 64, 64))), root / "missing_slices")
    files[10].unlink()
    return BadInput("missing_slices", "ears", root / "missing_slices", "missing slices", "missing_slices")


def mixed_series(root: Path) -> BadInput:
    folder = root / "mixed_series"
    write_dicom_series(_image(head_ct((24, 64, 64))), folder, series_description="axial")
    write_dicom_series(_image(head_ct((24, 64, 64), seed=1)), folder / "second", series_description="bone")
    for path in (folder / "second").iterdir():
        path.rename(folder / f"b_{path.name}")
    (folder / "second").rmdir()
    return BadInput("mixed_series", "ears", folder, "holds 2 DICOM series", "unreadable")


def nonuniform_spacing(root: Path) -> BadInput:
    z = np.cumsum(np.r_[0.0, np.tile([1.2, 1.8], 12)[:23]])
    positions = [(0.0, 0.0, float(v)) for v in z]
    write_dicom_series(_image(head_ct((24, 64, 64))), root / "nonuniform", positions=positions)
    return BadInput("nonuniform_spacing", "ears", root / "nonuniform", "non-uniform slice spacing", accepted=True)


def gantry_tilt(root: Path) -> BadInput:
    step, tilt = 1.5, math.radians(15.0)
    positions = [(0.0, k * step * math.tan(tilt), k * step) for k in range(24)]
    write_dicom_series(_image(head_ct((24, 64, 64))), root / "tilted", positions=positions, extra_tags={"GantryDetectorTilt": "15"})
    return BadInput("gantry_tilt", "ears", root / "tilted", "gantry tilt", accepted=True)


def image_2d(root: Path) -> BadInput:
    path = _write(_image(head_ct((1, 64, 64))[0], (0.5, 0.5)), root / "slice_2d.nii.gz")
    return BadInput("image_2d", "ears", path, "2D", "dimensionality")


def image_4d(root: Path) -> BadInput:
    volumes = [_image(head_ct((16, 32, 32), seed=s)) for s in (0, 1)]
    path = _write(sitk.JoinSeries(volumes), root / "ct_4d.nii.gz")
    return BadInput("image_4d", "ears", path, "4D", "dimensionality")


def all_zero(root: Path) -> BadInput:
    path = _write(_image(np.zeros((24, 64, 64), np.float32)), root / "all_zero.nii.gz")
    return BadInput("all_zero", "ears", path, "same value", "constant")


def non_finite(root: Path) -> BadInput:
    array = head_ct((24, 64, 64))
    array[10, 20:30, 20:30] = np.nan
    array[12, 5, 5] = np.inf
    path = _write(_image(array), root / "nan_inf.nii.gz")
    return BadInput("non_finite", "ears", path, "NaN", "non_finite")


def bad_spacing(root: Path) -> BadInput:
    raw = root / "bad_spacing.raw"
    raw.write_bytes(head_ct((24, 64, 64)).astype("<f4").tobytes())
    path = root / "bad_spacing.mhd"
    path.write_text(
        "ObjectType = Image\nNDims = 3\nDimSize = 64 64 24\nElementSpacing = 0.5 0 -1.5\n"
        "ElementType = MET_FLOAT\nElementByteOrderMSB = False\nElementDataFile = bad_spacing.raw\n"
    )
    return BadInput("bad_spacing", "ears", path, "spacing", None)


def ct_8bit(root: Path) -> BadInput:
    array = np.clip((head_ct() + 1000.0) / 2200.0 * 255.0, 0, 255).astype(np.uint8)
    return BadInput("ct_8bit", "ears", _write(_image(array), root / "ct_0_255.nii.gz"), "Hounsfield", "ct_not_hu")


def ct_offset(root: Path) -> BadInput:
    path = _write(_image(head_ct(offset=1024.0)), root / "ct_offset.nii.gz")
    return BadInput("ct_offset", "ears", path, "subtract 1024", "ct_not_hu")


def mr_as_ct(root: Path) -> BadInput:
    rng = np.random.default_rng(3)
    head = head_ct() > -500
    array = np.where(head, 400.0 + 80 * rng.standard_normal(head.shape), np.abs(rng.normal(0, 8, head.shape)))
    return BadInput("mr_as_ct", "ears", _write(_image(array.astype(np.float32)), root / "t1_mr.nii.gz"), "MR", "mr_not_ct")


def huge_ct(root: Path) -> BadInput:
    """1024 x 1024 x 1000 int16 (2 GB) as a sparse file: nothing is written, nothing must be read."""
    raw = root / "huge.raw"
    with raw.open("wb") as handle:
        handle.truncate(1024 * 1024 * 1000 * 2)
    path = root / "huge.mhd"
    path.write_text(
        "ObjectType = Image\nNDims = 3\nDimSize = 1024 1024 1000\nElementSpacing = 0.25 0.25 0.3\n"
        "ElementType = MET_SHORT\nElementByteOrderMSB = False\nElementDataFile = huge.raw\n"
    )
    return BadInput("huge_ct", "ears", path, "above the limit", "too_large")


def empty_folder(root: Path) -> BadInput:
    (root / "empty_folder").mkdir(parents=True, exist_ok=True)
    return BadInput("empty_folder", "ears", root / "empty_folder", "empty", "unreadable")


def missing_path(root: Path) -> BadInput:
    return BadInput("missing_path", "ears", root / "no_such_scan.nii.gz", "no such file", "unreadable")


def landmarks_outside(root: Path) -> BadInput:
    image = _write(_image(head_ct()), root / "ct_for_landmarks.nii.gz")
    annotation = write_landmarks(root / "outside.json", {"left": np.array([500.0, 20.0, 30.0]), "right": np.array([10.0, 20.0, 30.0])})
    return BadInput("landmarks_outside", "ears", image, "outside", None, annotation)


# --- cine MR ------------------------------------------------------------------------------


def _cine_frames(slices: int = 2, phases: int = 6, size: int = 48) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    frames = np.zeros((slices, phases, size, size), np.float32)
    for s in range(slices):
        for p in range(phases):
            r = np.hypot(yy - size / 2, xx - size / 2)
            radius = 8 + 2 * math.cos(2 * math.pi * p / phases)
            frames[s, p] = np.where(r < radius, 300.0, np.where(r < radius + 4, 80.0, 40.0))
    return frames + np.random.default_rng(0).normal(0, 5, frames.shape).astype(np.float32)


def ct_as_cine(root: Path) -> BadInput:
    path = _write(_image(head_ct()), root / "ct_not_cine.nii.gz")
    return BadInput("ct_as_cine", "lv", path, "cine", None, dag_expect="not MR")


def cine_single_image(root: Path) -> BadInput:
    path = _write(_image(_cine_frames()[0, 0], (1.4, 1.4)), root / "single_frame.nii.gz")
    return BadInput("cine_single_image", "lv", path, "2D", None)


def cine_one_phase(root: Path) -> BadInput:
    frames = _cine_frames(slices=3, phases=1)
    array = np.transpose(frames, (1, 0, 2, 3))  # (t, z, y, x) for a 4D NIfTI of one phase
    path = _write(_image(array, (1.4, 1.4, 8.0, 30.0)), root / "one_phase.nii.gz")
    return BadInput("cine_one_phase", "lv", path, "phase", None)


def cine_corrupt_dicom(root: Path) -> BadInput:
    files = write_cine_dicom(_cine_frames(), root / "cine_corrupt", spacing=(1.4, 1.4))
    files[3].write_bytes(files[3].read_bytes()[:200])
    return BadInput("cine_corrupt_dicom", "lv", root / "cine_corrupt", files[3].name, None)


def contours_outside(root: Path) -> BadInput:
    """A Sunnybrook-style contour file whose points lie far outside the 48 x 48 image."""
    files = write_cine_dicom(_cine_frames(), root / "cine_for_contours", spacing=(1.4, 1.4))
    folder = root / "contours_outside"
    folder.mkdir(parents=True, exist_ok=True)
    angles = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    points = np.c_[400 + 10 * np.cos(angles), 400 + 10 * np.sin(angles)]
    name = files[0].stem
    (folder / f"IM-0001-{1:04d}-icontour-manual.txt").write_text("\n".join(f"{x:.2f} {y:.2f}" for x, y in points) + "\n")
    return BadInput("contours_outside", "lv", root / "cine_for_contours", "outside", None, folder)


CORPUS: dict[str, Callable[[Path], BadInput]] = {
    f.__name__: f
    for f in (
        truncated_nifti, corrupt_dicom_among_good, missing_slices, mixed_series, nonuniform_spacing, gantry_tilt, image_2d, image_4d, all_zero,
        non_finite, bad_spacing, ct_8bit, ct_offset, mr_as_ct, huge_ct, empty_folder, missing_path,
        landmarks_outside, ct_as_cine, cine_single_image, cine_one_phase, cine_corrupt_dicom, contours_outside,
    )
}

#: CT inputs that are images in their own right (not annotation problems), by corpus key.
CT_ITEMS = ["truncated_nifti", "corrupt_dicom_among_good", "missing_slices", "mixed_series", "nonuniform_spacing",
            "gantry_tilt", "image_2d", "image_4d", "all_zero", "non_finite", "bad_spacing", "ct_8bit", "ct_offset",
            "mr_as_ct", "huge_ct", "empty_folder", "missing_path"]
#: Cine inputs the LV segmenter must refuse.
CINE_ITEMS = ["ct_as_cine", "cine_single_image", "cine_one_phase", "cine_corrupt_dicom", "missing_path", "empty_folder"]


def build(name: str, root: Path) -> BadInput:
    """Write corpus item ``name`` under ``root / name``."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    return dataclasses.replace(CORPUS[name](folder), name=name)
