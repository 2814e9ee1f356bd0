"""Tests of medseg.splits and ``medseg splits``."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from medseg.cli.main import main
from medseg.errors import ConfigError
from medseg.io.atomic import write_json
from medseg.splits import Fold, assign_fold, make_folds, read_splits, validate_folds, write_splits

SUBJECTS = [f"s{i:02d}" for i in range(7)]


def _assert_partition(folds: list[Fold], subjects: list[str]) -> None:
    tested = [s for fold in folds for s in fold.test_subjects]
    assert sorted(tested) == sorted(set(subjects))
    for fold in folds:
        assert not set(fold.train_subjects) & set(fold.test_subjects)
        assert set(fold.train_subjects) | set(fold.test_subjects) == set(subjects)


def test_loso_is_the_default_and_tests_each_subject_once() -> None:
    folds = make_folds(SUBJECTS + SUBJECTS[:3])
    assert len(folds) == len(SUBJECTS)
    assert [f.test_subjects for f in folds] == [(s,) for s in SUBJECTS]
    assert folds[0].name == "fold00"
    _assert_partition(folds, SUBJECTS)


def test_kfold_groups_by_subject_without_leakage() -> None:
    folds = make_folds(SUBJECTS, scheme="kfold", k=3, seed=4)
    assert len(folds) == 3
    assert sorted(len(f.test_subjects) for f in folds) == [2, 2, 3]
    _assert_partition(folds, SUBJECTS)


def test_kfold_is_deterministic_by_seed_and_order_independent() -> None:
    first = make_folds(SUBJECTS, scheme="kfold", k=3, seed=11)
    assert make_folds(list(reversed(SUBJECTS)), scheme="kfold", k=3, seed=11) == first
    others = [make_folds(SUBJECTS, scheme="kfold", k=3, seed=s) for s in range(5)]
    assert any(folds != first for folds in others)


def test_kfold_clamps_k_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="medseg.splits"):
        folds = make_folds(SUBJECTS[:3], scheme="kfold", k=10)
    assert len(folds) == 3
    assert "k=10" in caplog.text and "using k=3" in caplog.text
    _assert_partition(folds, SUBJECTS[:3])


@pytest.mark.parametrize(
    ("subjects", "kwargs", "message"),
    [
        (["s01"], {}, "at least 2 subjects"),
        (SUBJECTS, {"scheme": "random"}, "unknown split scheme"),
        (SUBJECTS, {"scheme": "kfold", "k": 1}, "k >= 2"),
    ],
)
def test_invalid_requests(subjects: list[str], kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_folds(subjects, **kwargs)


def test_assign_fold() -> None:
    folds = make_folds(SUBJECTS, scheme="kfold", k=2)
    for subject in SUBJECTS:
        assert subject in next(f for f in folds if f.name == assign_fold(subject, folds)).test_subjects
    with pytest.raises(KeyError):
        assign_fold("nobody", folds)


def test_validate_folds_catches_leakage_and_double_testing() -> None:
    with pytest.raises(ConfigError, match="trains and tests"):
        validate_folds([Fold("fold00", ("a", "b"), ("b",)), Fold("fold01", ("b",), ("a",))])
    with pytest.raises(ConfigError, match="tested in"):
        validate_folds([Fold("fold00", ("b",), ("a",)), Fold("fold01", ("b",), ("a",))])
    with pytest.raises(ConfigError, match="never tested"):
        validate_folds([Fold("fold00", ("b",), ("a",))])


def test_json_round_trip(tmp_path: Path) -> None:
    folds = make_folds(SUBJECTS, scheme="kfold", k=3)
    path = write_splits(tmp_path / "splits.json", folds, cases_by_subject={"s00": ["c0", "c1"]}, scheme="kfold")
    assert read_splits(path) == folds
    data = json.loads(path.read_text())
    assert data["scheme"] == "kfold" and data["excluded"] == []
    fold = next(f for f in data["folds"] if "s00" in f["test_subjects"])
    assert fold["test_cases"] == ["c0", "c1"]
    (tmp_path / "broken.json").write_text('{"folds": [{"name": "x"}]}')
    with pytest.raises(ConfigError, match="not a valid splits file"):
        read_splits(tmp_path / "broken.json")


def _cohort(tmp_path: Path) -> Path:
    rows = ["subject\tcase\ttask\timage\tannotation"]
    rows += [f"s{i}\tc{i}a\tears\tc{i}a.nii.gz\t" for i in range(4)]
    rows += ["s0\tc0b\tears\tc0b.nii.gz\t", "s9\tm9\tlv\tm9\t"]
    path = tmp_path / "cohort.tsv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_cli_excludes_rejected_cases(tmp_path: Path) -> None:
    cohort = _cohort(tmp_path)
    ingest = tmp_path / "ingest" / "ears"
    for case in ["c0a", "c0b", "c1a", "c2a"]:
        write_json(ingest / case / "check.json", {"case": case, "status": "accepted", "reasons": []})
    write_json(ingest / "c2a" / "check.json", {"status": "rejected", "reasons": ["image has no voxels"]})
    out = tmp_path / "splits.json"
    argv = ["splits", "--cohort", str(cohort), "--task", "ears", "--checks", str(ingest), "--out", str(out)]
    assert main(argv) == 0
    data = json.loads(out.read_text())
    assert data["task"] == "ears" and data["scheme"] == "loso"
    assert {item["case"]: item["reasons"] for item in data["excluded"]} == {
        "c2a": ["image has no voxels"],
        "c3a": ["no check.json found for this case"],
    }
    assert [f["test_subjects"] for f in data["folds"]] == [["s0"], ["s1"]]
    assert data["folds"][0]["test_cases"] == ["c0a", "c0b"]
    assert "git_revision" in data["provenance"]


def test_cli_without_checks_and_with_too_few_subjects(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cohort = _cohort(tmp_path)
    out = tmp_path / "splits.json"
    base = ["splits", "--cohort", str(cohort), "--out", str(out)]
    assert main([*base, "--task", "ears", "--scheme", "kfold", "--k", "2", "--seed", "3"]) == 0
    assert len(read_splits(out)) == 2
    assert main([*base, "--task", "lv"]) == 2
    assert "at least 2 are needed" in capsys.readouterr().err
