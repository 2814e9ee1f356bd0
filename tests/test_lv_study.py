import subprocess
import sys

import numpy as np
import pytest
import SimpleITK as sitk

from medseg.errors import InputRejected
from medseg.lv.study import labels_to_image, read_volume


def _cine_nifti(path, slices=3, phases=7, size=40, spacing=(1.25, 1.5, 8.0, 40.0)):
    frames = np.random.default_rng(0).uniform(0, 500, (phases, slices, size, size + 2)).astype(np.float32)
    image = sitk.GetImageFromArray(frames, isVector=False)  # x, y, slice, phase
    image.SetSpacing(spacing)
    image.SetOrigin((10.0, -20.0, 5.0, 0.0))
    sitk.WriteImage(image, str(path))
    return frames


def test_reads_a_4d_nifti_as_slices_by_phases_and_writes_labels_back_on_its_grid(tmp_path):
    frames = _cine_nifti(tmp_path / "cine.nii.gz")
    volume = read_volume(tmp_path / "cine.nii.gz")
    assert volume.frames.shape == (3, 7, 40, 42)
    assert np.array_equal(volume.frames, frames.transpose(1, 0, 2, 3))
    assert volume.spacing == (1.5, 1.25) and volume.slice_spacing == 8.0
    labels = (volume.frames > 250).astype(np.uint8)
    image = labels_to_image(labels, volume.reference)
    assert image.GetSize() == volume.reference.GetSize() and image.GetOrigin() == volume.reference.GetOrigin()
    assert np.array_equal(sitk.GetArrayFromImage(image).transpose(1, 0, 2, 3), labels)


def test_a_nifti_of_one_phase_is_rejected_by_its_header(tmp_path):
    _cine_nifti(tmp_path / "one.nii.gz", phases=1)
    with pytest.raises(InputRejected, match="found 1 phase"):
        read_volume(tmp_path / "one.nii.gz")


def test_reading_a_nifti_study_loads_neither_torch_nor_the_dicom_and_nifti_libraries(tmp_path):
    _cine_nifti(tmp_path / "cine.nii.gz")
    script = (
        "import sys; from medseg.lv.study import read_volume; "
        f"read_volume({str(tmp_path / 'cine.nii.gz')!r}); "
        "print(sorted(m for m in ('torch', 'pydicom', 'nibabel') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]", f"a command reading its study beside the torch import must not load {loaded}"


def test_nan_pixels_hidden_by_the_reader_and_blank_studies_are_rejected(tmp_path):
    frames = _cine_nifti(tmp_path / "cine.nii.gz")
    frames[2, 1, 5, 6] = np.nan  # ITK's NIfTI reader would hand this pixel over as 0
    sitk.WriteImage(sitk.GetImageFromArray(frames, isVector=False), str(tmp_path / "nan.nii.gz"))
    assert np.isfinite(sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "nan.nii.gz")))).all()
    with pytest.raises(InputRejected, match="nan.nii.gz: 1 voxels are NaN or infinite"):
        read_volume(tmp_path / "nan.nii.gz")
    sitk.WriteImage(sitk.GetImageFromArray(np.full_like(frames, 7.0), isVector=False), str(tmp_path / "blank.nii.gz"))
    with pytest.raises(InputRejected, match="blank.nii.gz: every pixel has the same value"):
        read_volume(tmp_path / "blank.nii.gz")
