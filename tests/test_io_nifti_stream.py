"""One pass over a NIfTI file: stored bytes and the NaN/Inf voxels ITK's reader hides."""

import gzip

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from medseg.io.image import read_image, stored_nonfinite, write_image
from medseg.io.nifti_stream import count_nonfinite, float_voxel_layout, scan_nifti


def _with_nonfinite(shape=(4, 5, 33, 27), dtype=np.float32) -> np.ndarray:
    values = np.random.default_rng(0).random(shape).astype(dtype)
    flat = values.reshape(-1)
    flat[[0, 101, flat.size // 2, flat.size - 1]] = [np.nan, np.inf, -np.inf, np.nan]
    return values


@pytest.mark.parametrize("name", ["x.nii", "x.nii.gz"])
def test_scan_counts_what_the_itk_reader_turns_into_zero(tmp_path, name):
    values = _with_nonfinite()
    path = tmp_path / name
    sitk.WriteImage(sitk.GetImageFromArray(values, isVector=False), str(path))
    image = read_image(path)
    assert np.isfinite(sitk.GetArrayViewFromImage(image)).all()
    raw = gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()
    assert scan_nifti(path).non_finite == 4 and scan_nifti(path).stored_bytes == len(raw)
    assert stored_nonfinite(image) == 4
    write_image(image, tmp_path / "copy.nrrd")
    assert b"non_finite" not in (tmp_path / "copy.nrrd").read_bytes()[:4096] and stored_nonfinite(image) == 4


def test_nifti2_big_endian_float64_header_is_understood(tmp_path):
    values = _with_nonfinite((6, 7, 8), np.float64).astype(">f8")
    path = tmp_path / "x2.nii"
    header = nib.Nifti2Header(endianness=">")
    header.set_data_dtype(">f8")
    nib.save(nib.Nifti2Image(values, np.eye(4), header=header), str(path))
    assert int.from_bytes(path.read_bytes()[:4], "big") == 540
    dtype, offset, voxels = float_voxel_layout(path.read_bytes()[:544])
    assert dtype == np.dtype(">f8") and offset >= 544 and voxels == values.size
    assert scan_nifti(path).non_finite == 4


def test_integer_voxels_have_nothing_to_count(tmp_path):
    path = tmp_path / "labels.nii"
    sitk.WriteImage(sitk.GetImageFromArray(np.ones((3, 4, 5), np.int16)), str(path))
    assert float_voxel_layout(path.read_bytes()[:544]) is None
    assert scan_nifti(path) == scan_nifti(path).__class__(path.stat().st_size, 0)
    assert stored_nonfinite(read_image(path)) == 0


@pytest.mark.parametrize("kind", ["f4", "f8"])
@pytest.mark.parametrize("order", ["<", ">"])
def test_nonfinite_values_are_counted_across_blocks_of_any_size(kind, order):
    values = np.arange(1000, dtype=order + kind)
    values[[0, 17, 500, 999]] = [np.nan, np.inf, -np.inf, np.nan]
    stream = bytes(368) + values.tobytes() + b"trailing extension bytes"
    cuts = [0, 3, 360, 361, 1001, 2999, 3000, len(stream)]  # blocks that split values and the header
    blocks = [stream[a:b] for a, b in zip(cuts, cuts[1:])]
    assert count_nonfinite(iter(blocks), np.dtype(order + kind), 368, values.size) == 4
