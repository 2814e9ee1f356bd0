from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from medseg.cli.main import main
from medseg.io.dicom_write import write_cine_dicom, write_dicom_series
from medseg.io.image import read_image


@pytest.fixture()
def ct(tmp_path) -> sitk.Image:
    image = sitk.GetImageFromArray(np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6) - 50)
    image.SetSpacing((0.5, 0.75, 2.0))
    image.SetOrigin((1.0, 2.0, 3.0))
    return image


def test_dicom_to_nifti(tmp_path, ct, capsys):
    write_dicom_series(ct, tmp_path / "dicom")
    assert main(["convert", str(tmp_path / "dicom"), str(tmp_path / "ct.nii.gz")]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out == [f"{tmp_path / 'ct.nii.gz'}: size 6x5x4, spacing 0.5x0.75x2 mm, origin (1.00, 2.00, 3.00) mm"]
    back = read_image(tmp_path / "ct.nii.gz")
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(ct))


def test_nifti_to_dicom_and_series_option(tmp_path, ct, capsys):
    sitk.WriteImage(ct, str(tmp_path / "ct.nii.gz"))
    assert main(["convert", str(tmp_path / "ct.nii.gz"), str(tmp_path / "out")]) == 0
    assert len(list((tmp_path / "out").glob("*.dcm"))) == 4
    write_dicom_series(ct, tmp_path / "other", series_uid="1.2.3.9")
    assert main(["convert", str(tmp_path / "other"), str(tmp_path / "x.mha"), "--series", "1.2.3.9"]) == 0
    assert (tmp_path / "x.mha").exists()


def test_cine_folder_becomes_4d(tmp_path, capsys):
    write_cine_dicom(np.ones((3, 5, 6, 7)), tmp_path / "cine", spacing=(1.5, 1.5), slice_spacing=8.0)
    assert main(["convert", str(tmp_path / "cine"), str(tmp_path / "cine.nii.gz")]) == 0
    assert "size 7x6x3x5" in capsys.readouterr().out
    assert read_image(tmp_path / "cine.nii.gz").GetDimension() == 4


def test_missing_input_exits_2_without_traceback(tmp_path, capsys):
    code = main(["convert", str(tmp_path / "absent"), str(tmp_path / "out.nii.gz")])
    err = capsys.readouterr().err
    assert code == 2
    assert "medseg convert: error:" in err and "no such file or folder" in err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_no_output(tmp_path, capsys):
    write_cine_dicom(np.ones((2, 3, 4, 4)), tmp_path / "cine", spacing=(1.0, 1.0))
    code = main(["convert", str(tmp_path / "cine"), str(tmp_path / "dicom_out")])
    assert code == 2
    assert "4D" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cine"]


def test_corrupt_input_leaves_no_output(tmp_path, ct, capsys):
    path = tmp_path / "ct.nii.gz"
    sitk.WriteImage(ct, str(path))
    path.write_bytes(path.read_bytes()[:60])
    assert main(["convert", str(path), str(tmp_path / "ct.nrrd")]) == 2
    assert "truncated or corrupt" in capsys.readouterr().err
    assert not (tmp_path / "ct.nrrd").exists()


def test_help_shows_examples(capsys):
    with pytest.raises(SystemExit):
        main(["convert", "--help"])
    assert "medseg convert dicom_folder/ ct.nii.gz" in capsys.readouterr().out
