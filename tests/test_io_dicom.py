from __future__ import annotations

import math
import shutil

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from medseg.errors import ImageReadError
from medseg.io.dicom import MultiPhaseSeriesError, discover_series, read_dicom_series
from medseg.io.dicom_write import quantize_int16, write_cine_dicom, write_dicom_series
from medseg.io.image import read_image


def _volume(shape=(8, 12, 10), spacing=(1.0, 1.0, 2.5), origin=(-5.0, 7.0, 20.0)) -> sitk.Image:
    array = np.random.default_rng(0).integers(-1000, 2000, shape).astype(np.float32)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    return image


def test_writer_tags(tmp_path):
    image = _volume()
    files = write_dicom_series(
        image,
        tmp_path / "ct",
        series_description="head",
        patient_id="P1",
        patient_name="Doe^Jane",
        study_uid="1.2.3",
        series_uid="1.2.3.4",
        extra_tags={"Manufacturer": "medseg", "KVP": "120"},
    )
    assert len(files) == 8
    ds = pydicom.dcmread(files[3])
    assert ds.Modality == "CT" and ds.SeriesDescription == "head" and ds.PatientID == "P1"
    assert ds.StudyInstanceUID == "1.2.3" and ds.SeriesInstanceUID == "1.2.3.4"
    assert ds.InstanceNumber == 4
    np.testing.assert_allclose([float(v) for v in ds.ImagePositionPatient], [-5.0, 7.0, 27.5])
    np.testing.assert_allclose([float(v) for v in ds.ImageOrientationPatient], [1, 0, 0, 0, 1, 0])
    assert [float(v) for v in ds.PixelSpacing] == [1.0, 1.0]
    assert float(ds.SliceThickness) == 2.5
    assert ds.Manufacturer == "medseg" and float(ds.KVP) == 120
    assert ds.pixel_array.dtype == np.int16
    stored = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_array_equal(stored, sitk.GetArrayFromImage(image)[3])
    again = write_dicom_series(image, tmp_path / "again", study_uid="1.2.3", series_uid="1.2.3.4")
    third = write_dicom_series(image, tmp_path / "third", study_uid="1.2.3", series_uid="1.2.3.4")
    assert again[0].read_bytes() == third[0].read_bytes()


def test_quantize_keeps_float_data_fine():
    values = np.linspace(-1024.3, 3071.7, 1000)
    stored, slope, intercept = quantize_int16(values)
    assert stored.dtype == np.int16
    assert np.abs(stored * slope + intercept - values).max() < 0.05
    shifted, slope, intercept = quantize_int16(np.array([0.0, 60000.0]))
    assert slope == 1.0 and list(shifted * slope + intercept) == [0.0, 60000.0]


def test_two_series_need_a_uid(tmp_path):
    write_dicom_series(_volume(), tmp_path / "a", series_description="soft", series_uid="1.2.826.1")
    write_dicom_series(_volume(shape=(5, 12, 10)), tmp_path / "b", series_description="bone", series_uid="1.2.826.2")
    folder = tmp_path / "both"
    folder.mkdir()
    for path in [*(tmp_path / "a").iterdir(), *(tmp_path / "b").iterdir()]:
        shutil.copy(path, folder / f"{path.parent.name}{path.name}")
    series = discover_series(folder)
    assert [(s.uid, s.description, s.num_files) for s in series] == [("1.2.826.1", "soft", 8), ("1.2.826.2", "bone", 5)]
    with pytest.raises(ImageReadError) as error:
        read_dicom_series(folder)
    for text in ["2 DICOM series", "1.2.826.1", "soft", "8 files", "1.2.826.2", "bone", "5 files"]:
        assert text in str(error.value)
    assert read_dicom_series(folder, series_uid="1.2.826.2").GetSize() == (10, 12, 5)
    with pytest.raises(ImageReadError, match="no series with UID 9.9"):
        read_dicom_series(folder, series_uid="9.9")


def test_slices_sorted_along_normal_not_by_file_name(tmp_path):
    image = _volume()
    files = write_dicom_series(image, tmp_path / "s")
    for path in files:
        path.rename(path.with_name(f"z{999 - files.index(path)}.dcm"))
    back = read_dicom_series(tmp_path / "s")
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(image))
    np.testing.assert_allclose(back.GetOrigin(), image.GetOrigin())
    assert back.GetMetaData("0008|0060") == "CT"


def test_missing_slice(tmp_path):
    files = write_dicom_series(_volume(), tmp_path / "s")
    files[3].unlink()
    expected = r"missing slices: gap of 5 mm between slice 3 and 4 .* where the spacing is 2.5 mm"
    with pytest.raises(ImageReadError, match=expected):
        read_dicom_series(tmp_path / "s")


def test_nonuniform_spacing_is_resampled(tmp_path, caplog):
    z = np.array([0.0, 2.0, 4.0, 6.5, 8.5, 10.0, 12.0])
    array = np.broadcast_to(z[:, None, None], (7, 6, 5)).astype(np.float32)
    image = sitk.GetImageFromArray(array)
    positions = [(0.0, 0.0, v) for v in z]
    write_dicom_series(image, tmp_path / "s", positions=positions, modality="MR")
    back = read_dicom_series(tmp_path / "s")
    assert back.GetSize() == (5, 6, 7)
    assert back.GetSpacing()[2] == pytest.approx(2.0)
    values = sitk.GetArrayFromImage(back)[:, 0, 0]
    np.testing.assert_allclose(values, np.arange(7) * 2.0, atol=1e-3)
    assert "non-uniform slice spacing" in back.GetMetaData("medseg:resampled")
    assert "resampled" in caplog.text


def test_small_jitter_is_not_resampled(tmp_path):
    positions = [(0.0, 0.0, v) for v in [0.0, 2.0, 4.05, 6.0, 8.0]]
    write_dicom_series(sitk.Image([4, 4, 5], sitk.sitkInt16), tmp_path / "s", positions=positions)
    back = read_dicom_series(tmp_path / "s")
    assert not back.HasMetaDataKey("medseg:resampled")
    assert back.GetSpacing()[2] == pytest.approx(2.0)


def test_gantry_tilt_puts_a_bright_point_at_its_world_position(tmp_path):
    tilt = math.radians(20.0)
    step = 2.0
    array = np.zeros((12, 40, 20), dtype=np.float32) - 1000.0
    array[9, 10, 8] = 3000.0
    image = sitk.GetImageFromArray(array)
    positions = [(0.0, k * step * math.tan(tilt), k * step) for k in range(12)]
    write_dicom_series(image, tmp_path / "s", positions=positions, extra_tags={"GantryDetectorTilt": "20"})
    truth = np.array(positions[9]) + np.array([8.0, 10.0, 0.0])
    back = read_dicom_series(tmp_path / "s")
    assert float(back.GetMetaData("medseg:gantry_tilt_deg")) == pytest.approx(20.0, abs=0.01)
    np.testing.assert_allclose(np.array(back.GetDirection()).reshape(3, 3), np.eye(3), atol=1e-9)
    values = sitk.GetArrayFromImage(back)
    peak = np.unravel_index(np.argmax(values), values.shape)
    found = np.array(back.TransformIndexToPhysicalPoint([int(i) for i in peak[::-1]]))
    assert np.linalg.norm(found - truth) <= 0.5 * 1.0 + 1e-6
    assert values.min() == pytest.approx(-1000.0, abs=0.1)
    naive = np.array([8.0, 10.0, 9 * step])
    assert np.linalg.norm(naive - truth) > 6.0


def test_corrupt_file_is_named(tmp_path):
    files = write_dicom_series(_volume(), tmp_path / "s")
    data = files[2].read_bytes()
    files[2].write_bytes(data[: len(data) - 100])
    with pytest.raises(ImageReadError, match=files[2].name):
        read_dicom_series(tmp_path / "s")
    files[2].write_bytes(b"garbage" * 20)
    with pytest.raises(ImageReadError, match=files[2].name):
        read_dicom_series(tmp_path / "s")


def test_non_dicom_files_beside_a_series_are_ignored(tmp_path):
    write_dicom_series(_volume(), tmp_path / "s")
    (tmp_path / "s" / "README").write_text("exported by PACS")
    assert read_image(tmp_path / "s").GetSize() == (10, 12, 8)


def test_cine_series_is_not_stacked_as_a_volume(tmp_path):
    frames = np.ones((3, 4, 8, 8), dtype=np.float32)
    write_cine_dicom(frames, tmp_path / "cine", spacing=(1.5, 1.5))
    with pytest.raises(MultiPhaseSeriesError, match="4 images at each of 3 slice positions"):
        read_dicom_series(tmp_path / "cine")


def test_refuses_to_replace_a_folder_with_other_files(tmp_path):
    (tmp_path / "keep.txt").write_text("precious")
    with pytest.raises(FileExistsError):
        write_dicom_series(_volume(), tmp_path)
    assert (tmp_path / "keep.txt").exists()


def _enhanced_mr(folder, z_positions, same_frame_groups=True) -> Path:
    """One multi-frame (Enhanced MR) file: frame k holds the value 10k, stored value x2 - 100."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    write_dicom_series(sitk.GetImageFromArray(np.zeros((1, 16, 12), np.float32)), folder / "src", modality="MR")
    ds = pydicom.dcmread(next((folder / "src").glob("*.dcm")))
    shutil.rmtree(folder / "src")
    n = len(z_positions)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4.1"
    ds.NumberOfFrames = n
    ds.PixelData = np.stack([np.full((16, 12), 10 * k, np.int16) for k in range(n)]).tobytes()
    measures, orientation, rescale = Dataset(), Dataset(), Dataset()
    measures.PixelSpacing = ["0.5", "0.6"]
    orientation.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    rescale.RescaleSlope, rescale.RescaleIntercept, rescale.RescaleType = "2", "-100", "US"
    shared = Dataset()
    shared.PixelMeasuresSequence = Sequence([measures])
    shared.PlaneOrientationSequence = Sequence([orientation])
    shared.PixelValueTransformationSequence = Sequence([rescale])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    frames = []
    for z in z_positions:
        frame, position = Dataset(), Dataset()
        position.ImagePositionPatient = ["10", "20", str(z)]
        frame.PlanePositionSequence = Sequence([position])
        frames.append(frame)
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    for keyword in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "SliceLocation", "RescaleSlope", "RescaleIntercept"):
        if keyword in ds:
            delattr(ds, keyword)
    folder.mkdir(parents=True, exist_ok=True)
    ds.save_as(folder / "enhanced.dcm", enforce_file_format=True)
    return folder / "enhanced.dcm"


def test_multi_frame_file_is_read_with_its_per_frame_geometry(tmp_path):
    path = _enhanced_mr(tmp_path / "mf", [42, 30, 33, 36, 39])  # frames stored out of order
    for source in (path.parent, path):
        image = read_image(source)
        assert image.GetSize() == (12, 16, 5) and image.GetSpacing() == pytest.approx((0.6, 0.5, 3.0))
        assert image.GetOrigin() == pytest.approx((10.0, 20.0, 30.0))
        assert image.GetPixelIDValue() == sitk.sitkFloat32
        np.testing.assert_allclose(sitk.GetArrayFromImage(image)[:, 0, 0], [-80, -60, -40, -20, -100])


def test_multi_frame_file_with_a_missing_slice_is_refused(tmp_path):
    path = _enhanced_mr(tmp_path / "gap", [30, 33, 36, 42, 45])
    with pytest.raises(ImageReadError, match=r"missing slices: gap of 6 mm .*enhanced\.dcm frame 3, enhanced\.dcm frame 4"):
        read_image(path.parent)


def test_series_written_without_preamble_is_read(tmp_path):
    from pydicom.filewriter import dcmwrite

    image = _volume()
    write_dicom_series(image, tmp_path / "src", modality="CT")
    (tmp_path / "raw").mkdir()
    for source in sorted((tmp_path / "src").glob("*.dcm")):
        ds = pydicom.dcmread(source)
        del ds.file_meta
        ds.preamble = None
        dcmwrite(tmp_path / "raw" / source.stem, ds, enforce_file_format=False, implicit_vr=True, little_endian=True)
    assert (tmp_path / "raw" / "IM-0001-0001").read_bytes()[128:132] != b"DICM"
    raw, src = read_image(tmp_path / "raw"), read_image(tmp_path / "src")
    assert raw.GetSize() == src.GetSize() and raw.GetSpacing() == pytest.approx(src.GetSpacing())
    np.testing.assert_array_equal(sitk.GetArrayFromImage(raw), sitk.GetArrayFromImage(src))
