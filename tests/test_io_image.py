from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from medseg.errors import ImageReadError
from medseg.io.image import ImageWriteError, image_suffix, read_image, write_image

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _rotation(a: float, b: float, c: float) -> np.ndarray:
    ca, sa, cb, sb, cc, sc = np.cos(a), np.sin(a), np.cos(b), np.sin(b), np.cos(c), np.sin(c)
    rx = np.array([[1, 0, 0], [0, ca, -sa], [0, sa, ca]])
    ry = np.array([[cb, 0, sb], [0, 1, 0], [-sb, 0, cb]])
    rz = np.array([[cc, -sc, 0], [sc, cc, 0], [0, 0, 1]])
    return rz @ ry @ rx


@pytest.fixture()
def oblique() -> sitk.Image:
    rng = np.random.default_rng(1)
    array = rng.normal(40.0, 300.0, (6, 9, 11)).astype(np.float32)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.7, 0.9, 2.5))
    image.SetOrigin((-123.456789, 45.678901, -12.345678))
    image.SetDirection(_rotation(0.35, -0.6, 0.9).ravel().tolist())
    return image


def _assert_same_geometry(a: sitk.Image, b: sitk.Image) -> None:
    assert a.GetSize() == b.GetSize()
    np.testing.assert_allclose(a.GetSpacing(), b.GetSpacing(), atol=1e-5)
    np.testing.assert_allclose(a.GetOrigin(), b.GetOrigin(), atol=1e-5)
    np.testing.assert_allclose(a.GetDirection(), b.GetDirection(), atol=1e-6)


@pytest.mark.parametrize("name", ["x.nii", "x.nii.gz", "x.nrrd", "x.nhdr", "x.mha", "x.mhd", "series/"])
def test_oblique_round_trip_every_format(tmp_path, oblique, name):
    target = str(tmp_path / name) + ("/" if name.endswith("/") else "")
    write_image(oblique, target)
    back = read_image(target)
    _assert_same_geometry(oblique, back)
    expected = sitk.GetArrayFromImage(oblique)
    tolerance = 0.5 if name.endswith("/") else 0.0
    np.testing.assert_allclose(sitk.GetArrayFromImage(back), expected, atol=tolerance)
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_dicom_keeps_hounsfield_units_to_half_hu(tmp_path):
    array = np.random.default_rng(2).uniform(-1024.0, 3071.0, (3, 8, 8)).astype(np.float32)
    image = sitk.GetImageFromArray(array)
    write_image(image, tmp_path / "ct")
    back = sitk.GetArrayFromImage(read_image(tmp_path / "ct"))
    assert np.abs(back - array).max() <= 0.5


def test_left_handed_direction_written_to_dicom_keeps_voxels_in_place(tmp_path):
    image = sitk.GetImageFromArray(np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6))
    image.SetDirection((1, 0, 0, 0, 1, 0, 0, 0, -1))
    image.SetOrigin((1.0, 2.0, 3.0))
    write_image(image, tmp_path / "lh")
    back = read_image(tmp_path / "lh")
    for index in [(0, 0, 0), (5, 4, 3), (2, 1, 2)]:
        point = image.TransformIndexToPhysicalPoint(index)
        assert back[back.TransformPhysicalPointToIndex(point)] == image[index]


def test_4d_nifti_round_trip(tmp_path):
    array = np.random.default_rng(3).random((5, 3, 4, 6)).astype(np.float32)
    image = sitk.GetImageFromArray(array, isVector=False)
    image.SetSpacing((1.25, 1.5, 8.0, 40.0))
    image.SetOrigin((10.0, -20.0, 30.0, 12.5))
    back = read_image(write_image(image, tmp_path / "cine.nii.gz"))
    assert back.GetDimension() == 4
    assert back.GetSize() == (6, 4, 3, 5)
    np.testing.assert_allclose(back.GetSpacing(), image.GetSpacing(), atol=1e-6)
    np.testing.assert_allclose(back.GetOrigin(), image.GetOrigin(), atol=1e-5)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), array)


def test_missing_path(tmp_path):
    with pytest.raises(ImageReadError, match="no such file or folder"):
        read_image(tmp_path / "absent.nii.gz")


def test_empty_folder(tmp_path):
    with pytest.raises(ImageReadError, match="empty"):
        read_image(tmp_path)


def test_folder_without_dicom(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ImageReadError, match="no DICOM images"):
        read_image(tmp_path)


def test_unknown_suffix(tmp_path):
    path = tmp_path / "image.png"
    path.write_bytes(b"\x89PNG")
    with pytest.raises(ImageReadError, match=r"image\.png.*unknown image format '\.png'"):
        read_image(path)


@pytest.mark.parametrize("name", ["x.nii", "x.nii.gz", "x.nrrd", "x.mha"])
def test_truncated_file(tmp_path, oblique, name):
    path = write_image(oblique, tmp_path / name)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match=r"x\..*truncated or corrupt"):
        read_image(path)


def test_garbage_nifti(tmp_path):
    path = tmp_path / "junk.nii.gz"
    path.write_bytes(gzip.compress(b"not an image at all" * 10))
    with pytest.raises(ImageReadError, match="junk.nii.gz"):
        read_image(path)


def test_write_unknown_suffix_and_4d_dicom(tmp_path):
    image = sitk.Image([4, 4, 2, 3], sitk.sitkFloat32)
    with pytest.raises(ImageWriteError, match="unknown image format"):
        write_image(image, tmp_path / "x.png")
    with pytest.raises(ImageWriteError, match="4D"):
        write_image(image, tmp_path / "dicom_out")
    assert list(tmp_path.iterdir()) == []


def test_image_suffix():
    assert image_suffix("a/b.NII.GZ") == ".nii.gz"
    assert image_suffix("a/b.mha") == ".mha"
    assert image_suffix("a/series") == ""


def test_reads_shared_head_ct():
    path = SHARED / "head_ct" / "vtk_headsq_quarter.nrrd"
    if not path.exists():
        pytest.skip(f"shared data not found at {path}")
    image = read_image(path)
    assert image.GetSize() == (64, 64, 93)
    np.testing.assert_allclose(image.GetSpacing(), (3.2, 3.2, 1.5), atol=1e-6)


@pytest.mark.parametrize("name, data", [("x.mhd", "x.zraw"), ("x.nhdr", "x.raw.gz")])
def test_detached_header_without_data_file(tmp_path, oblique, name, data):
    path = write_image(oblique, tmp_path / name)
    (tmp_path / data).unlink()
    with pytest.raises(ImageReadError, match=f"{name}: its data file {data} is missing"):
        read_image(path)


@pytest.mark.parametrize("name", ["x.nii", "x.nii.gz"])
def test_nifti_short_of_its_header_length_is_named(tmp_path, oblique, name):
    path = write_image(oblique, tmp_path / name)
    data = gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()
    short = data[:-64]  # a whole gzip stream, or a whole file, that lacks the last voxels
    path.write_bytes(gzip.compress(short) if name.endswith(".gz") else short)
    with pytest.raises(ImageReadError, match=rf"{name}: truncated or corrupt NIfTI \({len(short)} bytes of data"):
        read_image(path)


def test_stored_nifti_bytes_counts_every_gzip_member(tmp_path):
    from medseg.io.nifti_stream import scan_nifti

    rng = np.random.default_rng(0)
    first, second = rng.integers(0, 255, 3_000_000, dtype=np.uint8).tobytes(), bytes(40_000_000)
    path = tmp_path / "x.nii.gz"
    path.write_bytes(gzip.compress(first))
    assert scan_nifti(path).stored_bytes == len(first)
    # two members with zero padding between them, as gzip allows; the second inflates 1000-fold
    path.write_bytes(gzip.compress(first) + bytes(10) + gzip.compress(second))
    assert scan_nifti(path).stored_bytes == len(first) + len(second) == len(gzip.decompress(path.read_bytes()))


@pytest.mark.parametrize("damage", ["cut", "garbage after", "flipped byte"])
def test_stored_nifti_bytes_refuses_a_damaged_stream(tmp_path, damage):
    from medseg.io.nifti_stream import scan_nifti

    stream = gzip.compress(np.random.default_rng(1).integers(0, 255, 500_000, dtype=np.uint8).tobytes())
    broken = {
        "cut": stream[: len(stream) // 2],
        "garbage after": stream + b"not gzip",
        "flipped byte": stream[:1000] + bytes([stream[1000] ^ 0xFF]) + stream[1001:],
    }[damage]
    path = tmp_path / "x.nii.gz"
    path.write_bytes(broken)
    with pytest.raises(ImageReadError, match=r"x.nii.gz: truncated or corrupt NIfTI \(the gzip stream is incomplete\)"):
        scan_nifti(path).stored_bytes


def test_nii_gz_is_read_itself_when_an_unzipped_copy_sits_beside_it(tmp_path: Path) -> None:
    from medseg.checks import check_path

    zipped, unzipped = tmp_path / "case.nii.gz", tmp_path / "case.nii"
    write_image(sitk.GetImageFromArray(np.full((40, 40, 40), 100, np.float32)), zipped)
    write_image(sitk.GetImageFromArray(np.full((20, 20, 20), 7, np.float32)), unzipped)
    assert sitk.GetArrayFromImage(read_image(zipped)).max() == 100
    assert sitk.GetArrayFromImage(read_image(unzipped)).max() == 7
    assert check_path(zipped, "mr").measurements["size"] == [40, 40, 40]


@pytest.mark.parametrize("name", ["A.NII.GZ", "B.Nii", "D.MHA", "E.MHD", "F.NRRD", "G.NHDR"])
def test_upper_case_suffixes_write_and_read_back(tmp_path: Path, name: str) -> None:
    image = sitk.GetImageFromArray(np.arange(60, dtype=np.float32).reshape(3, 4, 5))
    image.SetSpacing((0.5, 0.7, 2.0))
    path = write_image(image, tmp_path / name)
    assert path.name == name
    back = read_image(path)
    assert back.GetSpacing() == pytest.approx((0.5, 0.7, 2.0))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(image))
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_write_into_a_file_used_as_a_folder_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ImageWriteError, match=r"afile/x\.nii\.gz: cannot write"):
        write_image(sitk.Image(4, 4, 4, sitk.sitkFloat32), tmp_path / "afile" / "x.nii.gz")


def test_nifti2_is_named_as_such(tmp_path: Path) -> None:
    import nibabel as nib

    path = tmp_path / "two.nii"
    nib.save(nib.Nifti2Image(np.arange(64, dtype=np.float32).reshape(4, 4, 4), np.diag([2.0, 2.0, 3.0, 1.0])), path)
    try:
        image = read_image(path)
    except ImageReadError as error:
        assert "two.nii: a NIfTI-2 file, which this reader cannot open; save it as NIfTI-1" in str(error)
    else:  # an ITK that reads NIfTI-2 must read it right
        assert image.GetSpacing() == pytest.approx((2.0, 2.0, 3.0))


def test_unparseable_metaimage_names_no_fake_reason(tmp_path: Path) -> None:
    path = tmp_path / "bad.mha"
    path.write_text("ObjectType = Image\nNDims = 3\nDimSize = 4 4\nElementType = MET_NOPE\nElementDataFile = LOCAL\n")
    with pytest.raises(ImageReadError) as error:
        read_image(path)
    assert "bad.mha" in str(error.value) and "Success" not in str(error.value)
