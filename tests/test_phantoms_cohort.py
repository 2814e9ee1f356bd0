"""The demo cohort on disk: sheet, formats, ground truth, geometry and determinism."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
import yaml

from medseg.cohort import read_cohort_sheet
from medseg.errors import ConfigError
from medseg.io.cine import read_cine
from medseg.io.image import read_image
from medseg.io.landmarks import read_landmarks
from medseg.phantoms.cohort import COHORT_DEFAULTS, SMOKE_SETTINGS, cohort_settings, generate_demo_cohort

SCHEMA = Path(__file__).resolve().parent.parent / "workflow" / "schemas" / "phantoms.schema.yaml"
CONFIG = {"seed": 11, "cohort": {"source": "demo", "demo": SMOKE_SETTINGS}}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("cohort")
    sheet = generate_demo_cohort(CONFIG, root / "data", sheet=root / "cohort.tsv")
    truth = json.loads((root / "data" / "ground_truth.json").read_text())
    return sheet, truth


def test_sheet_lists_every_case_with_existing_relative_paths(cohort):
    sheet, truth = cohort
    text = sheet.read_text()
    assert text.splitlines()[0].split("\t") == ["subject", "case", "task", "image", "annotation"]
    assert "/tmp" not in text and str(sheet.parent) not in text  # relative paths
    cases = read_cohort_sheet(sheet)
    assert {c.case for c in cases} == set(truth["cases"])
    assert sum(c.task == "ears" for c in cases) == 6 and sum(c.task == "lv" for c in cases) == 3
    for case in cases:
        assert case.image.exists() and case.annotation is not None and case.annotation.exists()
    kinds = {(c.task, c.image.is_dir()) for c in cases}
    assert kinds == {("ears", True), ("ears", False), ("lv", True), ("lv", False)}  # DICOM and NIfTI
    names = {c.annotation.name for c in cases if c.task == "ears"}
    assert names == {"landmarks.json", "ears.mrk.json"}


def test_ear_landmarks_and_images_agree_with_ground_truth(cohort):
    sheet, truth = cohort
    for case in read_cohort_sheet(sheet):
        if case.task != "ears":
            continue
        expected = truth["cases"][case.case]["ears"]
        points = read_landmarks(case.annotation)  # RAS files are converted to LPS
        image = read_image(case.image)
        array = sitk.GetArrayFromImage(image)
        assert -1100 < array.min() < -900, "HU must come back after RescaleIntercept -1024"
        for side in ("left", "right"):
            if expected[side]["present"]:
                assert np.allclose(points[side], expected[side]["position"], atol=1e-3)
                index = np.array(image.TransformPhysicalPointToContinuousIndex(points[side].tolist()))
                assert np.allclose(index, expected[side]["index"], atol=1e-3)
            else:
                assert points[side] is None
        if expected["left"]["present"] and expected["right"]["present"]:
            assert points["left"][0] > points["right"][0]


def test_dicom_ct_uses_rescale_intercept(cohort):
    sheet, _ = cohort
    folder = next(c.image for c in read_cohort_sheet(sheet) if c.task == "ears" and c.image.is_dir())
    ds = pydicom.dcmread(sorted(folder.iterdir())[0])
    assert float(ds.RescaleIntercept) == -1024 and ds.Modality == "CT"


def test_lv_labels_match_the_cine_grid(cohort):
    sheet, truth = cohort
    for case in read_cohort_sheet(sheet):
        if case.task != "lv":
            continue
        info = truth["cases"][case.case]
        study = read_cine(case.image)
        labels = read_image(case.annotation)
        assert study.frames.shape == (info["slices"], info["phases"], 64, 64)
        assert labels.GetSize() == (64, 64, info["slices"], info["phases"])
        assert np.allclose(labels.GetOrigin()[:3], study.positions[0], atol=1e-3)
        assert np.allclose(np.array(labels.GetDirection()).reshape(4, 4)[:3, :3], study.direction, atol=1e-5)
        assert np.allclose(labels.GetSpacing()[2], study.slice_spacing, atol=1e-3)
        lab = sitk.GetArrayFromImage(labels)  # (phase, slice, y, x)
        annotated = info["annotated_phases"]
        assert set(np.unique(lab[annotated])) <= {0, 1, 2}
        if info["sparse_labels"]:
            assert annotated == [0, info["es_phase"]]
            others = [p for p in range(info["phases"]) if p not in annotated]
            assert np.all(lab[others] == 255)
        if case.image.is_dir():
            files = sorted(case.image.iterdir())
            assert len(files) == info["slices"] * info["phases"]
            headers = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
            assert len({h.SeriesInstanceUID for h in headers}) == 1
            assert all(int(h.CardiacNumberOfImages) == info["phases"] for h in headers)
            assert all(hasattr(h, "TriggerTime") and hasattr(h, "SliceLocation") for h in headers)


def test_same_seed_gives_identical_files(cohort, tmp_path):
    sheet, _ = cohort
    config = {"seed": 11, "cohort": {"demo": {"ears": {**SMOKE_SETTINGS["ears"], "subjects": 1}, "lv": {**SMOKE_SETTINGS["lv"], "subjects": 1}}}}
    generate_demo_cohort(config, tmp_path / "again")

    def digests(root: Path) -> dict[str, str]:
        return {
            str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in root.rglob("*")
            if p.is_file() and (p.parts[len(root.parts)].startswith(("ears", "lv")))
        }

    again = digests(tmp_path / "again")
    first = digests(sheet.parent / "data")
    assert again and all(first[name] == digest for name, digest in again.items())


def test_settings_defaults_unknown_keys_and_schema():
    settings = cohort_settings({"cohort": {"demo": {"lv": {"subjects": 2}}}})
    assert settings["lv"]["subjects"] == 2 and settings["ears"] == COHORT_DEFAULTS["ears"]
    with pytest.raises(ConfigError, match="colour"):
        cohort_settings({"cohort": {"demo": {"ears": {"colour": 1}}}})
    schema = yaml.safe_load(SCHEMA.read_text())
    assert schema["additionalProperties"] is False
    for task, defaults in COHORT_DEFAULTS.items():
        props = schema["properties"][task]["properties"]
        assert schema["properties"][task]["additionalProperties"] is False
        assert set(props) == set(defaults)
        for key, value in defaults.items():
            assert props[key]["default"] == value, (task, key)


def test_schema_accepts_the_smoke_settings_and_rejects_typos():
    jsonschema = pytest.importorskip("jsonschema")
    schema = yaml.safe_load(SCHEMA.read_text())
    jsonschema.validate(SMOKE_SETTINGS, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"ears": {"subject": 3}}, schema)


def test_cli_writes_cohort(tmp_path):
    from medseg.cli.main import main

    config = tmp_path / "config.yaml"
    small = {"ears": {**SMOKE_SETTINGS["ears"], "subjects": 1, "scans_per_subject": [1, 1]}, "lv": {**SMOKE_SETTINGS["lv"], "subjects": 1}}
    config.write_text(yaml.safe_dump({"seed": 3, "tasks": ["lv"], "cohort": {"source": "demo", "demo": small}}))
    assert main(["phantoms", "--config", str(config), "--out", str(tmp_path / "out")]) == 0
    cases = read_cohort_sheet(tmp_path / "out" / "cohort.tsv")
    assert [c.task for c in cases] == ["lv"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left
