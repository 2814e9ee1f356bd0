"""The real-CT check: crops along the patient axis, unsided matching, the summary and the CLI."""

import json

import numpy as np
import pytest
import SimpleITK as sitk
from test_ears_detect import study  # noqa: F401 - fixture
from test_ears_synth import synthetic_head

from medseg.cli.main import main
from medseg.ears.real_ct import crop_superior_inferior, match_unsided, strongest_response_near, superior_axis
from medseg.errors import InputRejected
from medseg.io.landmarks import write_landmarks


def test_crop_keeps_slices_in_the_z_range_and_geometry():
    image = sitk.Image(10, 12, 40, sitk.sitkFloat32)
    image.SetSpacing((1.0, 1.0, 2.0))
    image.SetOrigin((5.0, -3.0, -20.0))
    crop = crop_superior_inferior(image, 0.0, 20.0)
    assert crop.GetSize() == (10, 12, 11)
    assert crop.GetOrigin()[2] == pytest.approx(0.0)
    assert crop.GetSpacing() == image.GetSpacing()
    flipped = sitk.Image(10, 12, 40, sitk.sitkFloat32)
    flipped.SetDirection((1, 0, 0, 0, 1, 0, 0, 0, -1))
    crop = crop_superior_inferior(flipped, -10.0, -1.0)
    zs = [crop.TransformIndexToPhysicalPoint((0, 0, k))[2] for k in range(crop.GetSize()[2])]
    assert min(zs) >= -10.0 and max(zs) <= -1.0 and len(zs) == 10
    with pytest.raises(InputRejected, match="no slice"):
        crop_superior_inferior(image, 500.0, 600.0)


def test_a_sagittally_stored_ct_is_cut_and_counted_along_its_superior_axis():
    image = sitk.DICOMOrient(sitk.Image(30, 40, 50, sitk.sitkFloat32), "SLP")  # patient z is array axis 0
    assert superior_axis(image) == 0
    crop = crop_superior_inferior(image, 10.0, 19.0)
    assert crop.GetSize()[superior_axis(crop)] == 10 and crop.GetSize()[1:] == image.GetSize()[1:]


def test_unsided_matching_pairs_nearest_first():
    annotated = [np.array([0.0, 0, 0]), np.array([100.0, 0, 0])]
    found = [np.array([98.0, 1, 0])]
    matches = match_unsided(annotated, found)
    assert matches[0]["found_lps"] is None
    assert matches[1]["distance_mm"] == pytest.approx(np.hypot(2, 1), abs=0.01)


def test_strongest_response_near_a_point_searches_a_ball_in_world_coordinates():
    def heatmap(peak_index, value):
        image = sitk.Image(20, 22, 24, sitk.sitkFloat32)
        image.SetSpacing((2.0, 2.0, 3.0))
        image.SetOrigin((-10.0, 5.0, 40.0))
        image.SetDirection((-1, 0, 0, 0, 1, 0, 0, 0, 1))  # x stored right to left
        image[peak_index] = value
        return image

    maps = {"left": heatmap((5, 6, 7), 0.3), "right": heatmap((8, 6, 7), 0.6)}
    point = maps["left"].TransformIndexToPhysicalPoint((5, 6, 7))
    best = strongest_response_near(maps, point, radius_mm=10.0)
    assert best["channel"] == "right" and best["score"] == pytest.approx(0.6)
    assert best["distance_mm"] == pytest.approx(6.0)  # three voxels of 2 mm along x
    assert best["position_lps"] == pytest.approx(maps["right"].TransformIndexToPhysicalPoint((8, 6, 7)))
    only_left = strongest_response_near(maps, point, radius_mm=5.0)
    assert only_left["channel"] == "left" and only_left["distance_mm"] == 0.0
    assert strongest_response_near(maps, (500.0, 500.0, 500.0), radius_mm=10.0) is None


def test_real_ct_check_writes_summary_and_detections(study, tmp_path, capsys):  # noqa: F811
    image, truth = synthetic_head(70, spacing=(3.0, 3.0, 2.0))
    sitk.WriteImage(image, str(tmp_path / "ct.nii.gz"))
    write_landmarks(tmp_path / "ears.json", truth)
    z_ears = min(p[2] for p in truth.values() if p is not None)
    out = tmp_path / "check"
    argv = ["-q", "ears", "real-ct", str(tmp_path / "ct.nii.gz"), "--annotation", str(tmp_path / "ears.json"),
            "--model", str(study / "model"), "--out", str(out), "--crop", f"low={z_ears - 200}:{z_ears - 40}",
            "--crop", "outside=5000:6000"]
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    summary = json.loads((out / "summary.json").read_text())
    assert printed["ok"] == summary["ok"]
    assert summary["full"]["expected_ears"] == 2 and len(summary["full"]["matches"]) == 2
    assert summary["full"]["ok"] == (summary["full"]["found_ears"] == 2 and all(
        m["distance_mm"] is not None and m["distance_mm"] <= 15 for m in summary["full"]["matches"]))
    assert summary["crops"]["outside"]["ok"] is None and "no slice" in summary["crops"]["outside"]["skipped"]
    near = summary["full"]["strongest_near_annotated"]
    assert len(near) == 2 and 0 < summary["full"]["threshold"] < 1
    for entry in near:
        assert entry["score"] > 0 and entry["distance_mm"] <= 15.0
    assert (out / "full" / "ears.json").exists()
    low = summary["crops"]["low"]
    assert low["ok"] is None or (out / "crops" / "low" / "ears.json").exists()


def test_bad_crop_argument_is_a_clear_error(study, tmp_path, capsys):  # noqa: F811
    assert main(["ears", "real-ct", "x.nii.gz", "--annotation", "a.json", "--model", str(study / "model"),
                 "--out", str(tmp_path / "o"), "--crop", "jaw"]) == 2
    assert "NAME=LOW:HIGH" in capsys.readouterr().err


def test_a_crop_name_given_twice_is_refused(study, tmp_path, capsys):  # noqa: F811
    assert main(["ears", "real-ct", "x.nii.gz", "--annotation", "a.json", "--model", str(study / "model"),
                 "--out", str(tmp_path / "o"), "--crop", "a=0:10", "--crop", "a=20:30"]) == 2
    assert "['a'] given twice" in capsys.readouterr().err
