import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from medseg.errors import ImageReadError
from medseg.io.cine import CineStudy, cine_to_image
from medseg.lv.annotations import contours_to_labels, convert_annotation
from medseg.lv.label_check import check_label_array

SUNNYBROOK = Path(__file__).resolve().parents[2] / "shared" / "data" / "sunnybrook"


def circle(cx, cy, r, n=80):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], axis=1)


def write(folder: Path, instance: int, kind: str, points) -> None:
    sub = folder / f"{kind}-contours"
    sub.mkdir(parents=True, exist_ok=True)
    (sub / f"IM-0001-{instance:04d}-{kind}contour-manual.txt").write_text("".join(f"{x} {y}\n" for x, y in points))


def study(slices=2, phases=4, size=64):
    return CineStudy(
        frames=np.zeros((slices, phases, size, size), np.float32),
        positions=np.array([[0.0, 0.0, 10.0 * z] for z in range(slices)]),
        direction=np.eye(3),
        pixel_spacing=(1.5, 1.5),
        slice_spacing=10.0,
        trigger_times=np.tile(np.arange(phases) * 40.0, (slices, 1)),
        instance_numbers=np.arange(1, slices * phases + 1).reshape(slices, phases),
    )


def test_contour_labels_full_partial_and_unlabelled(tmp_path):
    write(tmp_path, 1, "i", circle(30, 32, 8))
    write(tmp_path, 1, "o", circle(30, 32, 14))
    write(tmp_path, 3, "i", circle(30, 32, 6))
    write(tmp_path, 6, "o", circle(30, 32, 14))
    labels, check = contours_to_labels(tmp_path, study())
    full, endo_only, epi_only = labels[0, 0], labels[0, 2], labels[1, 1]
    assert set(np.unique(full)) == {0, 1, 2}
    assert full[32, 30] == 2 and full[32, 30 + 11] == 1 and full[0, 0] == 0
    assert set(np.unique(endo_only)) == {2, 255}
    assert epi_only[32, 30] == 255 and epi_only[0, 0] == 0
    assert (labels[0, 1] == 255).all()
    assert len(check.usable("endo")) == 2 and len(check.usable("epi")) == 2


def test_misregistered_epicardium_is_dropped(tmp_path):
    for instance in (1, 5):
        write(tmp_path, instance, "i", circle(30, 32, 8))
        write(tmp_path, instance, "o", circle(45, 32, 14))
    out = tmp_path / "out" / "labels.nii.gz"
    report = convert_annotation(tmp_path, study(), out)
    assert report["usable"]["epi"] == 0 and report["usable"]["endo"] == 2
    assert "misregistered" in report["study_reasons"][0]
    written = json.loads((out.parent / "label_check.json").read_text())
    assert written["unusable"]["epi"] == 2
    array = sitk.GetArrayFromImage(sitk.ReadImage(str(out)))
    assert array.shape == (4, 2, 64, 64) and 1 not in np.unique(array)


def test_bad_contours_flagged(tmp_path):
    write(tmp_path, 1, "i", circle(62, 32, 8))
    write(tmp_path, 2, "i", np.array([[10, 10], [20, 20], [20, 10], [10, 20]]))
    write(tmp_path, 3, "i", circle(30, 30, 1.5))
    write(tmp_path, 99, "i", circle(30, 30, 8))
    labels, check = contours_to_labels(tmp_path, study())
    reasons = {f.instance: " ".join(f.reasons) for f in check.frames}
    assert "outside" in reasons[1] and "crosses itself" in reasons[2]
    assert "mm2" in reasons[3] and "not in the study" in reasons[99]
    assert (labels == 255).all()


def test_label_image_annotation(tmp_path):
    s = study()
    labels = np.full(s.frames.shape, 255, np.uint8)
    labels[0, 0] = 0
    labels[0, 0, 20:40, 20:40] = 1
    labels[0, 0, 25:35, 25:35] = 2
    labels[1, 1] = 0
    labels[1, 1, 30, 30] = 2
    path = tmp_path / "ref.nii.gz"
    sitk.WriteImage(on_study_grid(labels, s), str(path))
    report = convert_annotation(path, s, tmp_path / "out" / "labels.nii.gz")
    assert report["usable"]["frames_with_myocardium"] == 1
    assert report["unusable"]["endo"] == 1
    assert "resampled_to_study_grid" not in report
    bad = labels.copy()
    bad[0, 0, 0, 0] = 7
    sitk.WriteImage(on_study_grid(bad, s), str(path))
    with pytest.raises(ImageReadError, match="ref.nii.gz"):
        convert_annotation(path, s, tmp_path / "out" / "labels.nii.gz")


def on_study_grid(labels: np.ndarray, s: CineStudy) -> sitk.Image:
    image = sitk.GetImageFromArray(np.ascontiguousarray(labels.transpose(1, 0, 2, 3)), isVector=False)
    image.CopyInformation(cine_to_image(s))
    return image


def _labelled_study():
    s = study()
    labels = np.zeros(s.frames.shape, np.uint8)
    labels[:, :, 20:44, 6:30] = 1  # a wall on the low-x side of the grid
    labels[:, :, 26:38, 12:24] = 2
    labels[1, 3] = 255
    return s, labels


def test_label_image_stored_in_another_voxel_order_is_placed_by_its_geometry(tmp_path):
    s, labels = _labelled_study()
    study_grid = on_study_grid(labels, s)
    # the same labels in the same place, stored with x and the slice axis reversed (as a tool
    # writing its own voxel order would): taken by array order, they would come out mirrored
    flipped = sitk.GetImageFromArray(np.ascontiguousarray(sitk.GetArrayFromImage(study_grid)[:, ::-1, :, ::-1]), isVector=False)
    flipped.SetSpacing(study_grid.GetSpacing())
    direction = np.eye(4)
    direction[0, 0] = direction[2, 2] = -1.0
    flipped.SetDirection(direction.ravel().tolist())
    size = np.array(study_grid.GetSize())
    flipped.SetOrigin(study_grid.TransformIndexToPhysicalPoint([int(size[0] - 1), 0, int(size[2] - 1), 0]))
    path = tmp_path / "flipped.nii.gz"
    sitk.WriteImage(flipped, str(path))
    report = convert_annotation(path, s, tmp_path / "out" / "labels.nii.gz")
    assert report["resampled_to_study_grid"] is True
    written = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "out" / "labels.nii.gz"))).transpose(1, 0, 2, 3)
    np.testing.assert_array_equal(written, labels)


def test_label_image_without_the_study_geometry_is_refused(tmp_path):
    s, labels = _labelled_study()
    path = tmp_path / "bare.nii.gz"
    # right array shape, but spacing 1 mm and origin 0: a guess would scale the labels by 1.5
    sitk.WriteImage(sitk.GetImageFromArray(np.ascontiguousarray(labels.transpose(1, 0, 2, 3)), isVector=False), str(path))
    with pytest.raises(ImageReadError, match="another grid than the study.*spacing"):
        convert_annotation(path, s, tmp_path / "out" / "labels.nii.gz")
    assert not (tmp_path / "out" / "labels.nii.gz").exists()
    sitk.WriteImage(on_study_grid(labels[:, :3], study(phases=3)), str(path))
    with pytest.raises(ImageReadError, match="3 phases in the labels, 4 in the study"):
        convert_annotation(path, s, tmp_path / "out" / "labels.nii.gz")


def test_check_label_array_marks_tiny_frames():
    labels = np.zeros((1, 2, 16, 16), np.uint8)
    labels[0, 0, 5, 5] = 2
    checked, verdict = check_label_array(labels, (1.0, 1.0))
    assert (checked[0, 0] == 255).all() and (checked[0, 1] == 0).all()


@pytest.mark.skipif(not SUNNYBROOK.is_dir(), reason="Sunnybrook data not present beside the project")
def test_sunnybrook_hf_i_6_epicardium_caught(tmp_path):
    from medseg.io.cine import read_cine

    s = read_cine(SUNNYBROOK / "dicoms" / "SCD0000501")
    labels, check = contours_to_labels(SUNNYBROOK / "contourfiles" / "SC-HF-I-6", s)
    assert check.study_reasons and not check.usable("epi") and len(check.usable("endo")) == 22
    assert 1 not in np.unique(labels) and 2 in np.unique(labels)


def test_contour_origin_shifts_the_labels(tmp_path):
    write(tmp_path, 1, "i", circle(30, 32, 8))
    zero, _ = contours_to_labels(tmp_path, study(), contour_origin=0.0)
    one, _ = contours_to_labels(tmp_path, study(), contour_origin=1.0)
    np.testing.assert_array_equal(one[0, 0, :-1, :-1] == 2, zero[0, 0, 1:, 1:] == 2)


def _endocardial_contrast(labels: np.ndarray, frames: np.ndarray) -> float:
    """Blood-to-wall contrast across the endocardial contour, summed over the labelled frames."""
    from scipy import ndimage

    total = 0.0
    for index in zip(*np.nonzero((labels == 2).any(axis=(2, 3)))):
        cavity, image = labels[index] == 2, frames[index].astype(np.float64)
        inner = cavity & ~ndimage.binary_erosion(cavity, iterations=2)
        outer = ndimage.binary_dilation(cavity, iterations=2) & ~cavity
        total += (image[inner].mean() - image[outer].mean()) / image[cavity].mean()
    return total


@pytest.mark.skipif(not SUNNYBROOK.is_dir(), reason="Sunnybrook data not present beside the project")
def test_sunnybrook_contours_fit_the_image_best_read_one_based():
    from medseg.io.cine import read_cine
    from medseg.io.contours import SUNNYBROOK_ORIGIN

    contrast = {0.0: 0.0, SUNNYBROOK_ORIGIN: 0.0, 2.0: 0.0}
    for patient, original in [("SCD0000101", "SC-HF-I-1"), ("SCD0000201", "SC-HF-I-2"), ("SCD0000301", "SC-HF-I-4"),
                              ("SCD0000501", "SC-HF-I-6")]:
        s = read_cine(SUNNYBROOK / "dicoms" / patient)
        for origin in contrast:
            labels, _ = contours_to_labels(SUNNYBROOK / "contourfiles" / original, s, contour_origin=origin)
            contrast[origin] += _endocardial_contrast(labels, np.asarray(s.frames))
    assert contrast[SUNNYBROOK_ORIGIN] > 1.05 * contrast[0.0]
    assert contrast[SUNNYBROOK_ORIGIN] > contrast[2.0]
