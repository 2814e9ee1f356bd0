"""Tests of medseg.checks on synthetic phantoms and, when present, the shared real data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from medseg import checks
from medseg.checks import CODES, assume_offset, check_image, check_path, ct_scale
from medseg.errors import ImageReadError

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
HEAD_CT = DATA / "head_ct"
needs_head_ct = pytest.mark.skipif(not HEAD_CT.is_dir(), reason=f"shared head CT data not found at {HEAD_CT}")


def _image(array: np.ndarray, spacing: tuple[float, ...] | None = None) -> sitk.Image:
    image = sitk.GetImageFromArray(array, isVector=False)
    image.SetSpacing(spacing or (1.0,) * image.GetDimension())
    return image


def _head(shape: tuple[int, int, int] = (40, 64, 64), seed: int = 0) -> np.ndarray:
    """Head-like HU phantom (z, y, x): air, skull shell, brain, a little fat, noise."""
    rng = np.random.default_rng(seed)
    z, y, x = np.indices(shape, dtype=np.float32)
    r = np.sqrt(((z - shape[0] / 2) / (shape[0] * 0.45)) ** 2 + ((y - shape[1] / 2) / (shape[1] * 0.42)) ** 2
                + ((x - shape[2] / 2) / (shape[2] * 0.38)) ** 2)
    volume = np.full(shape, -1000.0, dtype=np.float32)
    volume[r < 1.0] = -90.0
    volume[r < 0.95] = 1200.0
    volume[r < 0.85] = 35.0
    volume += rng.normal(0, 12, shape).astype(np.float32)
    return volume


def _mr(shape: tuple[int, int, int] = (20, 64, 64), seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z, y, x = np.indices(shape, dtype=np.float32)
    r = np.sqrt(((y - 32) / 26) ** 2 + ((x - 32) / 22) ** 2)
    volume = np.where(r < 1, 300.0 + 400.0 * np.exp(-((r / 0.4) ** 2)), 0.0)
    return np.abs(volume + rng.normal(0, 20, shape)).astype(np.float32)


def test_hu_head_is_accepted_with_measurements() -> None:
    result = check_image(_image(_head(), (0.8, 0.8, 1.0)), "ct")
    assert result.status == "accepted", result.reasons
    m = result.measurements
    assert m["size"] == [64, 64, 40]
    assert m["spacing"] == [0.8, 0.8, 1.0]
    assert m["extent_mm"] == pytest.approx([51.2, 51.2, 40.0])
    assert m["ct_scale"] == "hu"
    assert m["percentiles"]["p1"] < -900
    json.dumps(result.to_json(), allow_nan=False)


def test_ct_with_metal_is_accepted() -> None:
    volume = _head()
    volume[18:22, 30:34, 30:34] = 3071.0
    volume[20, :, 10:54] += 400.0
    assert check_image(_image(volume), "ct").accepted


def test_ct_with_padding_outside_circular_fov_is_accepted() -> None:
    volume = _head()
    y, x = np.indices(volume.shape[1:])
    volume[:, (y - 32) ** 2 + (x - 32) ** 2 > 30**2] = -3024.0
    assert check_image(_image(volume), "ct").accepted


def test_ct_crop_without_air_is_accepted() -> None:
    crop = _head((60, 64, 64))[25:35, 26:38, 10:30]
    assert crop.min() > -500
    result = check_image(_image(crop, (3.0, 3.0, 3.0)), "ct")
    assert result.accepted, result.reasons


def test_offset_ct_is_rejected_with_fix_and_assume_offset_corrects_it() -> None:
    image = _image(_head() + 1024.0, (0.5, 0.5, 1.0))
    image.SetOrigin((10.0, -5.0, 3.0))
    result = check_image(image, "ct")
    assert result.codes == ["ct_not_hu"]
    assert "subtract 1024" in result.reasons[0]
    assert result.measurements["hu_offset"] == 1024.0
    allowed = check_image(image, "ct", allow_offset=True)
    assert allowed.accepted and allowed.measurements["hu_offset"] == 1024.0
    corrected = assume_offset(image)
    assert corrected.GetPixelID() == sitk.sitkFloat32
    assert corrected.GetOrigin() == image.GetOrigin() and corrected.GetSpacing() == image.GetSpacing()
    np.testing.assert_allclose(sitk.GetArrayViewFromImage(corrected), _head(), atol=1e-3)
    assert check_image(corrected, "ct").accepted


def test_unsigned_offset_ct_is_rejected() -> None:
    volume = np.clip(_head() + 1024.0, 0, None).astype(np.uint16)
    assert check_image(_image(volume), "ct").codes == ["ct_not_hu"]


def test_8bit_ct_is_rejected() -> None:
    volume = np.clip((_head() + 1000.0) / 2300.0 * 255.0, 0, 255).astype(np.uint8)
    result = check_image(_image(volume), "ct")
    assert result.codes == ["ct_not_hu"]
    assert "0-255" in result.reasons[0]


def test_normalised_ct_is_rejected() -> None:
    volume = (_head() + 1000.0) / 3000.0
    assert "normalised" in check_image(_image(volume), "ct").reasons[0]


def test_mr_given_as_ct_and_ct_given_as_mr() -> None:
    mr = _image(_mr(), (1.2, 1.2, 5.0))
    assert check_image(mr, "mr").accepted
    assert check_image(mr, "ct").codes == ["mr_not_ct"]
    result = check_image(_image(_head()), "mr")
    assert result.codes == ["ct_not_mr"]
    assert "Hounsfield" in result.reasons[0]


def test_ct_scale_evidence_of_stretched_scale() -> None:
    rng = np.random.default_rng(1)
    sample = np.concatenate([np.zeros(40000), rng.uniform(100, 2500, 20000), rng.normal(2550, 40, 40000), rng.uniform(2600, 3700, 20000)])
    kind, evidence = ct_scale(sample)
    assert kind == "stretched"
    assert evidence["fraction_below_-500"] == 0


@pytest.mark.parametrize("modality", ["ct", "mr", "cine"])
def test_2d_image_is_rejected_for_every_modality(modality: str) -> None:
    result = check_image(_image(np.zeros((64, 64), np.float32) + np.arange(64)), modality)
    assert "dimensionality" in result.codes
    assert "2D image (64×64)" in result.reasons[result.codes.index("dimensionality")]


def test_dimensionality_per_modality() -> None:
    four_d = _image(np.stack([_mr()] * 3))
    assert "dimensionality" in check_image(four_d, "ct").codes
    assert check_image(four_d, "mr").accepted
    assert check_image(four_d, "cine").accepted
    one_phase = _image(_mr()[None])
    assert "at least 2 phases" in check_image(one_phase, "cine").reasons[0]
    cine_2dt = _image(_mr((10, 64, 64)), (1.3, 1.3, 1.0))
    assert check_image(cine_2dt, "cine").accepted
    single_slice = _image(_head()[:1])
    assert "single slice" in check_image(single_slice, "ct").reasons[0]


def test_spacing_problems_name_axis_and_value() -> None:
    image = _image(_head(), (0.01, 1.0, 1.0))
    result = check_image(image, "ct")
    assert result.codes == ["spacing"]
    assert "along x is 0.01 mm" in result.reasons[0]
    image.SetSpacing((1.0, 1.0, 50.0))
    assert "along z is 50 mm" in check_image(image, "ct").reasons[0]
    image.SetSpacing((1.0, float("nan"), 1.0))
    result = check_image(image, "ct")
    assert result.codes[0] == "spacing" and "along y is nan" in result.reasons[0]
    json.dumps(result.to_json(), allow_nan=False)


def test_constant_and_all_zero_images() -> None:
    result = check_image(_image(np.zeros((30, 64, 64), np.int16)), "ct")
    assert result.codes == ["constant"]
    assert "same value (0)" in result.reasons[0]


def test_non_finite_voxels_are_counted() -> None:
    volume = _head()
    volume[0, 0, :5] = np.nan
    volume[1, 1, 1] = np.inf
    result = check_image(_image(volume), "ct")
    assert result.codes == ["non_finite"]
    assert result.reasons[0].startswith("6 of ")
    assert result.measurements["percentiles"]["p1"] < -900


def test_fov_too_small() -> None:
    result = check_image(_image(_head(), (0.3, 0.3, 0.5)), "ct")
    assert result.codes == ["fov_too_small"]
    assert "x 19.2 mm" in result.reasons[0] and "at least 30 mm" in result.reasons[0]
    assert check_image(_image(_head(), (0.3, 0.3, 0.5)), "ct", min_fov_mm=10).accepted
    mr = check_image(_image(_mr(), (0.5, 0.5, 5.0)), "mr")
    assert mr.codes == ["fov_too_small"] and "in-plane" in mr.reasons[0]


def test_too_large_names_the_limit() -> None:
    result = check_image(_image(_head()), "ct", max_voxels=1000)
    assert result.codes == ["too_large"]
    assert "limit of 1,000" in result.reasons[0]


def test_all_problems_are_reported_together() -> None:
    image = _image(np.zeros((64, 8, 8), np.float32), (0.01, 0.5, 1.0))
    result = check_image(image, "ct", max_voxels=100)
    assert set(result.codes) == {"spacing", "fov_too_small", "too_large", "constant"}
    assert len(result.reasons) == len(result.codes)
    assert set(result.codes) <= set(CODES)


def test_sample_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checks, "SAMPLE_VOXELS", 5000)
    view = sitk.GetArrayViewFromImage(_image(_head()))
    assert checks._sample(view).size <= 2 * 5000


def test_check_path_reads_and_checks(tmp_path: Path) -> None:
    path = tmp_path / "ct.nii.gz"
    sitk.WriteImage(_image(_head(), (0.8, 0.8, 1.0)), str(path))
    assert check_path(path, "ct").accepted


def test_unreadable_inputs(tmp_path: Path) -> None:
    missing = check_path(tmp_path / "nope.nii.gz", "ct")
    assert missing.codes == ["unreadable"] and "nope.nii.gz" in missing.reasons[0]
    garbage = tmp_path / "garbage.nii.gz"
    garbage.write_bytes(b"not an image at all")
    assert check_path(garbage, "ct").codes == ["unreadable"]
    full = tmp_path / "full.nii"
    sitk.WriteImage(_image(_head()), str(full))
    truncated = tmp_path / "truncated.nii"
    truncated.write_bytes(full.read_bytes()[:5000])
    result = check_path(truncated, "ct")
    assert result.codes == ["unreadable"]
    assert "truncated" in result.reasons[0].lower()


def test_too_large_file_is_not_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ct.nii.gz"
    sitk.WriteImage(_image(_head()), str(path))

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("image was loaded")

    monkeypatch.setattr(checks, "read_image", fail)
    result = check_path(path, "ct", max_voxels=1000)
    assert result.codes == ["too_large"] and "not loaded" in result.reasons[0]


def test_missing_slices_come_from_the_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def reader(path: object, series_uid: str | None = None) -> None:
        raise ImageReadError("missing slices: 3 gaps between z = 10.0 and 40.0 mm")

    monkeypatch.setattr(checks, "read_image", reader)
    result = check_path(tmp_path, "ct")
    assert result.codes == ["missing_slices"]
    assert result.reasons == ["missing slices: 3 gaps between z = 10.0 and 40.0 mm"]


def test_invalid_modality_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="modality"):
        check_image(_image(_head()), "pet")  # type: ignore[arg-type]


@needs_head_ct
def test_real_offset_head_ct() -> None:
    path = HEAD_CT / "vtk_headsq_quarter.nrrd"
    result = check_path(path, "ct")
    assert result.codes == ["ct_not_hu"] and "subtract 1024" in result.reasons[0]
    assert check_path(path, "ct", allow_offset=True).accepted
    assert check_image(assume_offset(checks.read_image(path)), "ct").accepted


@needs_head_ct
def test_real_template_is_not_hu() -> None:
    result = check_path(HEAD_CT / "ct_template_mni_2mm.nii", "ct")
    assert result.codes == ["ct_not_hu"]
    assert "not Hounsfield units" in result.reasons[0]


@pytest.mark.skipif(not (DATA / "sunnybrook" / "dicoms").is_dir(), reason="shared Sunnybrook data not found")
def test_real_cine_study_is_accepted() -> None:
    pytest.importorskip("medseg.io.cine")
    folder = DATA / "sunnybrook" / "dicoms" / "SCD0000101"
    result = check_path(folder, "cine")
    assert result.accepted, result.reasons
    assert result.measurements["dimension"] == 4 and result.measurements["size"][3] == 20

