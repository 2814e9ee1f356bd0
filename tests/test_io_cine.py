from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import nibabel as nib
import pydicom
import pytest
import SimpleITK as sitk

from medseg.errors import ImageReadError
from medseg.io.cine import cine_to_image, image_to_cine, read_cine, read_cine_array, read_cine_dicom
from medseg.io.dicom_write import write_cine_dicom
from medseg.io.image import write_image

SUNNYBROOK = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sunnybrook"

OBLIQUE = np.column_stack(
    [
        [0.6, 0.8, 0.0],
        [-0.48, 0.36, 0.8],
        np.cross([0.6, 0.8, 0.0], [-0.48, 0.36, 0.8]),
    ]
)


def _frames(slices=4, phases=6, rows=10, cols=12) -> np.ndarray:
    s, p, r, c = np.meshgrid(*[np.arange(n) for n in (slices, phases, rows, cols)], indexing="ij")
    return (1000 * s + 100 * p + r + c).astype(np.float32)


@pytest.fixture()
def cine_folder(tmp_path) -> Path:
    write_cine_dicom(
        _frames(),
        tmp_path / "cine",
        spacing=(1.5, 1.25),
        origin=(10.0, -20.0, 30.0),
        direction=OBLIQUE,
        slice_spacing=8.0,
        trigger_times=np.arange(6) * 50.0 + 12.0,
        rr_interval_ms=900.0,
    )
    return tmp_path / "cine"


def test_synthetic_cine_groups_and_orders(cine_folder):
    for path in cine_folder.iterdir():
        path.rename(path.with_name(f"x{hash(path.name) % 99991:05d}{path.name}"))
    study = read_cine_dicom(cine_folder)
    assert study.frames.shape == (4, 6, 10, 12)
    np.testing.assert_array_equal(study.frames, _frames())
    np.testing.assert_allclose(study.direction, OBLIQUE, atol=1e-9)
    np.testing.assert_allclose(study.positions[3], np.array([10.0, -20.0, 30.0]) + 24.0 * OBLIQUE[:, 2], atol=1e-6)
    assert study.pixel_spacing == (1.5, 1.25)
    assert study.slice_spacing == pytest.approx(8.0)
    np.testing.assert_allclose(study.trigger_times[2], np.arange(6) * 50.0 + 12.0)
    assert study.instance_numbers[2, 3] == 2 * 6 + 3 + 1
    assert study.locate_instance(16) == (2, 3)
    assert study.rr_interval_ms == 900.0
    assert pydicom.dcmread(study.source_files[2][3]).InstanceNumber == 16
    assert len({pydicom.dcmread(f).SeriesInstanceUID for f in cine_folder.iterdir()}) == 1


def test_cine_tags(cine_folder):
    ds = pydicom.dcmread(sorted(cine_folder.iterdir())[7])
    assert ds.Modality == "MR"
    assert ds.CardiacNumberOfImages == 6
    assert float(ds.TriggerTime) == 62.0
    assert ds.InstanceNumber == 8
    assert float(ds.SliceLocation) == pytest.approx(np.dot([10.0, -20.0, 30.0], OBLIQUE[:, 2]) + 8.0)


def test_cine_image_round_trip(cine_folder, tmp_path):
    study = read_cine_dicom(cine_folder)
    image = cine_to_image(study)
    assert image.GetSize() == (12, 10, 4, 6)
    # time in seconds (NIfTI's unit), stepped by the measured trigger times (50 ms), not by
    # R-R / phases (150 ms): these six phases cover a third of the 900 ms cycle
    np.testing.assert_allclose(image.GetSpacing(), (1.25, 1.5, 8.0, 0.050))
    np.testing.assert_allclose(image.GetOrigin(), (10.0, -20.0, 30.0, 0.012), atol=1e-6)
    back = read_cine(write_image(image, tmp_path / "cine.nii.gz"))
    np.testing.assert_array_equal(back.frames, study.frames)
    np.testing.assert_allclose(back.positions, study.positions, atol=1e-4)
    np.testing.assert_allclose(back.direction, study.direction, atol=1e-6)
    assert back.pixel_spacing == pytest.approx(study.pixel_spacing)
    np.testing.assert_allclose(back.trigger_times[0], 12.0 + 50.0 * np.arange(6), atol=1e-3)
    header = nib.load(tmp_path / "cine.nii.gz").header
    assert header.get_xyzt_units()[1] == "sec" and header["pixdim"][4] == pytest.approx(0.050)


def test_images_written_with_the_time_axis_in_ms_are_still_read_in_ms():
    image = sitk.GetImageFromArray(np.zeros((6, 2, 8, 9), dtype=np.float32), isVector=False)
    image.SetSpacing((1.0, 1.0, 8.0, 40.0))
    image.SetOrigin((0.0, 0.0, 0.0, 12.0))
    np.testing.assert_allclose(image_to_cine(image).trigger_times[0], 12.0 + 40.0 * np.arange(6))


def test_3d_image_is_2d_plus_time():
    image = sitk.GetImageFromArray(np.zeros((5, 8, 9), dtype=np.float32))
    image.SetSpacing((1.0, 2.0, 40.0))
    study = image_to_cine(image)
    assert study.frames.shape == (1, 5, 8, 9)
    assert study.pixel_spacing == (2.0, 1.0)
    np.testing.assert_allclose(study.trigger_times[0], [0, 40, 80, 120, 160])


def test_inconsistent_phases_named(cine_folder):
    files = sorted(cine_folder.iterdir())
    files[6 * 2 + 1].unlink()
    expected = r"inconsistent number of phases.*slice 3 at .* has 5 \(the other 3 slices have 6\)"
    with pytest.raises(ImageReadError, match=expected):
        read_cine_dicom(cine_folder)


def test_single_phase_is_rejected(tmp_path):
    write_cine_dicom(_frames(phases=1), tmp_path / "one", spacing=(1.0, 1.0))
    with pytest.raises(ImageReadError, match="only one phase"):
        read_cine_dicom(tmp_path / "one")


def test_image_without_a_position_is_named(cine_folder):
    victim = sorted(cine_folder.iterdir())[4]
    ds = pydicom.dcmread(victim)
    del ds.ImagePositionPatient  # SliceLocation stays: it says nothing of where the plane lies
    ds.save_as(victim)
    with pytest.raises(ImageReadError, match=f"{victim.name}: no ImagePositionPatient/ImageOrientationPatient"):
        read_cine_dicom(cine_folder)


def test_corrupt_cine_file_named(cine_folder):
    victim = sorted(cine_folder.iterdir())[5]
    victim.write_bytes(victim.read_bytes()[:-50])
    with pytest.raises(ImageReadError, match=victim.name):
        read_cine_dicom(cine_folder)


def test_uneven_slices_refuse_4d(cine_folder):
    files = sorted(cine_folder.iterdir())
    for path in files[6:12]:
        path.unlink()
    study = read_cine_dicom(cine_folder)
    assert study.frames.shape[0] == 3
    with pytest.raises(ImageReadError, match="not evenly spaced"):
        cine_to_image(study)


def _sunnybrook_patients() -> list[tuple[str, str]]:
    if not SUNNYBROOK.exists():
        return []
    with open(SUNNYBROOK / "link.csv", newline="") as handle:
        return [(row["patient_id"], row["original_id"]) for row in csv.DictReader(handle)]


_NO_DATA = pytest.param(None, marks=pytest.mark.skip(reason=f"Sunnybrook data not found at {SUNNYBROOK}"))


@pytest.mark.parametrize("patient", _sunnybrook_patients() or [_NO_DATA])
def test_sunnybrook_groups_into_slices_by_20_phases(patient):
    patient_id, original_id = patient
    folder = SUNNYBROOK / "dicoms" / patient_id
    study = read_cine_dicom(folder)
    n_files = len(list(folder.glob("*.dcm")))
    assert study.num_phases == 20
    assert study.num_slices * 20 == n_files
    assert 8 <= study.num_slices <= 15
    assert np.all(np.diff(study.trigger_times, axis=1) > 0)
    assert np.all(np.diff(study.positions @ study.direction[:, 2]) > 7.0)
    assert sorted(study.instance_numbers.ravel()) == list(range(1, n_files + 1))
    contours = list((SUNNYBROOK / "contourfiles" / original_id).glob("*-contours/IM-0001-*-*contour-manual.txt"))
    assert contours
    for contour in contours:
        number = int(re.match(r"IM-0001-(\d{4})-", contour.name).group(1))
        s, p = study.locate_instance(number)
        assert study.source_files[s][p].name == f"{number}.dcm"
    image = cine_to_image(study)
    assert image.GetSize() == (256, 256, study.num_slices, 20)


def test_cine_array_keeps_the_label_type_and_layout(tmp_path):
    labels = np.zeros((4, 3, 6, 5), dtype=np.uint8)  # (phases, slices, rows, cols) as SimpleITK holds a 4D image
    labels[2, 1, 3, 4] = 2
    image = sitk.GetImageFromArray(labels, isVector=False)
    image.SetSpacing((1.5, 1.25, 8.0, 30.0))
    array, spacing = read_cine_array(write_image(image, tmp_path / "labels.nii.gz"))
    assert array.dtype == np.uint8 and array.shape == (3, 4, 6, 5) and array[1, 2, 3, 4] == 2
    assert spacing == (1.25, 1.5)
    flat = sitk.GetImageFromArray(np.zeros((6, 5), dtype=np.uint8))
    with pytest.raises(ImageReadError, match="expected a 4D"):
        read_cine_array(write_image(flat, tmp_path / "flat.nii.gz"))


def test_colour_image_is_refused_with_its_name(tmp_path):
    path = tmp_path / "rgb.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(np.ones((6, 40, 40, 3), np.float32), isVector=True), str(path))
    with pytest.raises(ImageReadError, match=r"rgb\.nii\.gz: a cine study has one value per pixel; this image has 3"):
        read_cine(path)


def test_one_image_of_a_cine_study_reads_the_whole_study(cine_folder):
    from medseg.checks import check_path

    one = sorted(cine_folder.glob("*.dcm"))[3]
    study, whole = read_cine(one), read_cine(cine_folder)
    np.testing.assert_array_equal(study.frames, whole.frames)
    np.testing.assert_allclose(study.positions, whole.positions)
    from_file, from_folder = check_path(one, "cine"), check_path(cine_folder, "cine")
    assert from_file.measurements["size"] == from_folder.measurements["size"] == [12, 10, 4, 6]
