"""The bad-input corpus through the command line: one clear message, non-zero exit, no traceback, nothing half-written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from bad_inputs import CINE_ITEMS, CT_ITEMS, build
from test_ears_detect import study as ears_study  # noqa: F401 - fixture
from test_lv_pipeline import TINY
from test_lv_pipeline import cases as lv_cases  # noqa: F401 - fixture


def medseg(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "medseg", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=600)


def assert_clear_failure(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    message = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ""
    for fragment in fragments:
        assert fragment.lower() in (message + result.stdout).lower(), (fragment, message, result.stdout[-500:])


def ingest_one(item, tmp_path: Path) -> dict:
    """Ingest a corpus item as case C1 of a one-row cohort sheet; return its check.json."""
    sheet = tmp_path / "cohort.tsv"
    sheet.write_text(f"subject\tcase\ttask\timage\tannotation\nS1\tC1\t{item.task}\t{item.path}\t{item.annotation}\n")
    result = medseg("ingest", "--sheet", sheet, "--case", "C1", "--task", item.task, "--out", tmp_path / "C1")
    assert result.returncode == 0, result.stderr
    return json.loads((tmp_path / "C1" / "check.json").read_text())


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_inputs")
    return {name: build(name, root) for name in sorted(set(CT_ITEMS + CINE_ITEMS + ["landmarks_outside", "contours_outside"]))}


@pytest.mark.parametrize("name", CT_ITEMS)
def test_check_names_the_problem(corpus, name, tmp_path):
    item = corpus[name]
    out = tmp_path / "check.json"
    result = medseg("check", item.path, "--modality", "ct", "--out", out)
    assert "Traceback" not in result.stderr
    if item.accepted:
        assert result.returncode == 0, result.stdout + result.stderr
        assert item.expect in json.loads(result.stdout)["measurements"]["resampled"]
        return
    assert result.returncode == 1, result.stdout + result.stderr
    verdict = json.loads(result.stdout)
    assert verdict["status"] == "rejected"
    if item.code:
        assert item.code in verdict["codes"], verdict
    assert any(item.expect.lower() in reason.lower() for reason in verdict["reasons"]), verdict["reasons"]
    assert json.loads(out.read_text()) == verdict


@pytest.mark.parametrize("name", CT_ITEMS)
def test_ears_detect_refuses_or_finds_no_ears(corpus, ears_study, name, tmp_path):  # noqa: F811
    item = corpus[name]
    out = tmp_path / "prediction"
    result = medseg("ears", "detect", item.path, "--model", ears_study / "model", "--out", out)
    if item.accepted:
        assert result.returncode == 0, result.stderr
        assert (out / "ears.json").exists()
        return
    assert_clear_failure(result, item.expect)
    assert str(item.path.name) in result.stderr
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


def test_offset_ct_is_read_when_the_user_says_so(corpus, ears_study, tmp_path):  # noqa: F811
    result = medseg("ears", "detect", corpus["ct_offset"].path, "--model", ears_study / "model", "--out", tmp_path / "p", "--ct-offset", "correct")
    assert result.returncode == 0, result.stderr
    doc = json.loads((tmp_path / "p" / "ears.json").read_text())
    assert set(doc["ears"]) == {"left", "right"}


def test_debug_shows_the_traceback(corpus, ears_study, tmp_path):  # noqa: F811
    result = medseg("--debug", "ears", "detect", corpus["all_zero"].path, "--model", ears_study / "model", "--out", tmp_path / "p")
    assert result.returncode != 0 and "Traceback" in result.stderr


@pytest.fixture(scope="module")
def lv_model(lv_cases, tmp_path_factory):  # noqa: F811
    root, _, table, config = lv_cases
    out = tmp_path_factory.mktemp("lv_model") / "model"
    result = medseg("lv", "train", "--cases", table, "--config", config, "--out", out, "--no-progress")
    assert result.returncode == 0, result.stderr
    return out


@pytest.mark.parametrize("name", CINE_ITEMS)
def test_lv_segment_refuses(corpus, lv_model, name, tmp_path):
    item = corpus[name]
    out = tmp_path / "segmentation"
    result = medseg("lv", "segment", item.path, "--model", lv_model, "--out", out)
    assert_clear_failure(result, item.expect)
    assert str(item.path.name) in result.stderr
    assert not out.exists()


def test_landmarks_outside_the_image_reject_the_case(corpus, tmp_path):
    verdict = ingest_one(corpus["landmarks_outside"], tmp_path)
    assert verdict["status"] == "rejected" and "annotation" in verdict["codes"]
    assert any("outside" in reason for reason in verdict["reasons"]), verdict["reasons"]
    assert not (tmp_path / "C1" / "image.nii.gz").exists()


def test_contours_outside_the_image_reject_the_case(corpus, tmp_path):
    verdict = ingest_one(corpus["contours_outside"], tmp_path)
    assert verdict["status"] == "rejected", verdict
    assert any("outside" in reason for reason in verdict["reasons"]), verdict["reasons"]


def test_config_with_a_wrong_type(ears_study, tmp_path):  # noqa: F811
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"seed": 1, "ears": {"iterations": "many"}}))
    result = medseg("ears", "train", "--cases", ears_study / "cases.tsv", "--config", config, "--out", tmp_path / "m")
    assert_clear_failure(result, "iterations")
    assert not (tmp_path / "m").exists()
    lv = tmp_path / "lv.yaml"
    lv.write_text(yaml.safe_dump({"seed": 1, "lv": {**TINY, "depth": "deep"}}))
    result = medseg("lv", "train", "--cases", ears_study / "cases.tsv", "--config", lv, "--out", tmp_path / "m")
    assert_clear_failure(result, "depth")
