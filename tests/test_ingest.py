import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from medseg.cohort import CohortCase
from medseg.ingest import ingest_case
from medseg.io.image import read_image, write_image
from medseg.io.landmarks import read_landmarks, write_landmarks
from medseg.phantoms.head_ct import generate_head_scan, sample_head_anatomy

SMALL = {"max_voxels": 300_000}


@pytest.fixture(scope="module")
def head_scan():
    rng = np.random.default_rng(3)
    anatomy = sample_head_anatomy(rng, SMALL)
    return generate_head_scan(rng, anatomy, SMALL, fov_kind="both")


def _case(tmp_path: Path, scan, landmarks: dict | None = None, name: str = "c1") -> CohortCase:
    image = tmp_path / f"{name}.nii.gz"
    write_image(scan.image, image)
    annotation = None
    if landmarks is not None:
        annotation = tmp_path / f"{name}.mrk.json"
        write_landmarks(annotation, landmarks)
    return CohortCase(subject="S1", case=name, task="ears", image=image, annotation=annotation)


def _truth(scan) -> dict:
    return {side: (np.asarray(v["position"]) if v["present"] else None) for side, v in scan.ears.items()}


def test_accepted_case_gets_image_and_canonical_landmarks(tmp_path, head_scan):
    out = tmp_path / "out"
    verdict = ingest_case(_case(tmp_path, head_scan, _truth(head_scan)), out)
    assert verdict["status"] == "accepted"
    assert json.loads((out / "check.json").read_text())["provenance"]["medseg_version"]
    image = read_image(out / "image.nii.gz")
    assert image.GetSpacing() == pytest.approx(head_scan.image.GetSpacing())
    assert image.GetDirection() == pytest.approx(head_scan.image.GetDirection())
    landmarks = read_landmarks(out / "landmarks.json")
    for side, position in _truth(head_scan).items():
        if position is None:
            assert landmarks[side] is None
        else:
            assert landmarks[side] == pytest.approx(position, abs=1e-3)


def test_unreadable_case_is_recorded_not_raised(tmp_path):
    case = CohortCase(subject="S1", case="gone", task="ears", image=tmp_path / "nope.nii.gz", annotation=None)
    verdict = ingest_case(case, tmp_path / "out")
    assert verdict["status"] == "rejected"
    assert verdict["codes"] == ["unreadable"]
    assert "no such file" in verdict["reasons"][0]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["check.json"]


def test_landmark_outside_the_image_rejects_with_annotation_reason(tmp_path, head_scan):
    far = {"left": np.array([900.0, 900.0, 900.0]), "right": None}
    verdict = ingest_case(_case(tmp_path, head_scan, far), tmp_path / "out")
    assert verdict["status"] == "rejected"
    assert verdict["codes"] == ["annotation"]
    assert "annotation" in verdict["reasons"][0]
    assert not (tmp_path / "out" / "image.nii.gz").exists()


def test_offset_ct_rejected_or_corrected_by_config(tmp_path, head_scan):
    shifted = sitk.Cast(head_scan.image, sitk.sitkFloat32) + 1024.0
    shifted.CopyInformation(head_scan.image)
    scan = type(head_scan)(image=shifted, ears=head_scan.ears, info=head_scan.info)
    case = _case(tmp_path, scan, name="offset")
    rejected = ingest_case(case, tmp_path / "rejected")
    assert rejected["status"] == "rejected" and "ct_not_hu" in rejected["codes"]
    corrected = ingest_case(case, tmp_path / "corrected", {"checks": {"ct_offset": "correct"}})
    assert corrected["status"] == "accepted"
    values = sitk.GetArrayViewFromImage(read_image(tmp_path / "corrected" / "image.nii.gz"))
    assert np.percentile(values, 1) < -900


@pytest.mark.parametrize(
    ("shape", "reason"),
    [((2, 2, 48, 48), "found 2 phase(s)"), ((2, 6, 28, 28), "too small")],
    ids=["two_phases", "tiny_frames"],
)
def test_cine_that_lv_training_would_refuse_is_rejected_at_ingest(tmp_path, shape, reason):
    slices, phases, rows, cols = shape
    rng = np.random.default_rng(0)
    frames = (rng.random((phases, slices, rows, cols)) * 400).astype(np.float32)  # ITK order: t, z, y, x
    image = sitk.GetImageFromArray(frames, isVector=False)
    image.SetSpacing((1.5, 1.5, 8.0, 0.04))
    path = tmp_path / "cine.nii.gz"
    sitk.WriteImage(image, str(path))
    case = CohortCase(subject="S1", case="c1", task="lv", image=path, annotation=None)
    verdict = ingest_case(case, tmp_path / "out")
    assert verdict["status"] == "rejected" and verdict["codes"] == ["not_cine"]
    assert reason in verdict["reasons"][0]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["check.json"]


def test_a_rejection_names_no_folder_that_may_carry_a_patient_name(tmp_path):
    folder = tmp_path / "pacs" / "DOE JOHN, 19500101" / "CT HEAD"
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("not an image")
    verdict = ingest_case(CohortCase(subject="S1", case="c1", task="ears", image=folder, annotation=None), tmp_path / "out")
    assert verdict["status"] == "rejected"
    text = json.dumps(verdict["reasons"]) + (tmp_path / "out" / "check.json").read_text()
    assert "DOE" not in text and "JOHN" not in text and "‹image›" in verdict["reasons"][0]
