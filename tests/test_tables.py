import csv
import json
from pathlib import Path

import pytest

from medseg.cli.main import main
from medseg.errors import InputRejected, MedsegError
from medseg.tables import accepted_cases, read_stage_table, write_prediction_table, write_training_table


def _case(root: Path, case: str, subject: str, status: str = "accepted", annotated: bool = True) -> None:
    folder = root / case
    folder.mkdir(parents=True)
    (folder / "check.json").write_text(json.dumps({"case": case, "subject": subject, "task": "ears", "status": status}))
    if status == "accepted":
        (folder / "image.nii.gz").write_bytes(b"")
        if annotated:
            (folder / "landmarks.json").write_text("{}")


@pytest.fixture()
def study(tmp_path: Path) -> tuple[Path, Path]:
    ingest = tmp_path / "ingest"
    _case(ingest, "a1", "A")
    _case(ingest, "a2", "A")
    _case(ingest, "b1", "B")
    _case(ingest, "b2", "B", status="rejected")
    _case(ingest, "c1", "C", annotated=False)
    _case(ingest, "c2", "C")
    splits = tmp_path / "splits.json"
    folds = [
        {"name": s, "train_subjects": sorted({"A", "B", "C"} - {s}), "test_subjects": [s]} for s in ("A", "B", "C")
    ]
    splits.write_text(json.dumps({"folds": folds}))
    return ingest, splits


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_accepted_cases_skip_rejected_and_find_annotation(study):
    ingest, _ = study
    cases = {c.case: c for c in accepted_cases(ingest)}
    assert set(cases) == {"a1", "a2", "b1", "c1", "c2"}
    assert cases["c1"].annotation is None
    assert cases["a1"].annotation.name == "landmarks.json"


def test_training_table_never_holds_the_test_subject(study, tmp_path):
    ingest, splits = study
    out = tmp_path / "train.tsv"
    assert write_training_table(splits, "A", ingest, out) == 2
    rows = _rows(out)
    assert {row["subject"] for row in rows} == {"B", "C"}
    assert {row["case"] for row in rows} == {"b1", "c2"}


def test_final_model_learns_from_every_subject(study, tmp_path):
    ingest, splits = study
    out = tmp_path / "final.tsv"
    assert write_training_table(splits, "final", ingest, out) == 4
    assert {row["case"] for row in _rows(out)} == {"a1", "a2", "b1", "c2"}


def test_empty_fold_is_a_clear_error_and_writes_nothing(tmp_path):
    ingest = tmp_path / "ingest"
    _case(ingest, "a1", "A")
    splits = tmp_path / "splits.json"
    splits.write_text(json.dumps({"folds": [{"name": "A", "train_subjects": [], "test_subjects": ["A"]}]}))
    out = tmp_path / "train.tsv"
    with pytest.raises(MedsegError, match="no accepted, annotated training case"):
        write_training_table(splits, "A", ingest, out)
    assert not out.exists()
    with pytest.raises(MedsegError, match="not in"):
        write_training_table(splits, "Z", ingest, out)


def test_prediction_table_scores_each_case_with_its_own_fold(study, tmp_path):
    ingest, splits = study
    out = tmp_path / "pred.tsv"
    n = write_prediction_table(splits, ingest, tmp_path / "pred", ["full", "no_fps"], out)
    rows = _rows(out)
    assert n == len(rows) == 8
    assert all(row["fold"] == row["subject"] for row in rows)
    assert {row["variant"] for row in rows} == {"full", "no_fps"}
    assert all(Path(row["prediction"]).name == row["case"] for row in rows)


def test_cli_table_train(study, tmp_path, capsys):
    ingest, splits = study
    out = tmp_path / "t.tsv"
    code = main(["table", "train", "--splits", str(splits), "--fold", "B", "--ingest-root", str(ingest), "--out", str(out)])
    assert code == 0
    assert len(_rows(out)) == 3
    code = main(["table", "train", "--splits", str(splits), "--fold", "nope", "--ingest-root", str(ingest), "--out", str(tmp_path / "x.tsv")])
    assert code == 2
    assert "fold 'nope' is not in" in capsys.readouterr().err


def test_stage_table_resolves_paths_against_its_folder(tmp_path: Path) -> None:
    table = tmp_path / "sub" / "t.tsv"
    table.parent.mkdir()
    table.write_text("case\timage\textra\nc1\tdata/c1.nii.gz\tx\n\t\t\nc2\t/abs/c2.nii.gz\ty\nc3\t\tz\n")
    rows = read_stage_table(table, ["case", "image"], ["image"])
    assert [r["case"] for r in rows] == ["c1", "c2", "c3"]  # the blank row is skipped
    assert rows[0]["image"] == str((table.parent / "data" / "c1.nii.gz").resolve())
    assert rows[1]["image"] == "/abs/c2.nii.gz" and rows[2]["image"] == "" and rows[0]["extra"] == "x"


@pytest.mark.parametrize(
    "text, kwargs, message",
    [
        (None, {}, "no such table"),
        ("case\n", {}, r"missing column\(s\) image \(need case, image\)"),
        ("case\timage\n", {}, "the table has no rows"),
        ("case\timage\nc1\t\n", {"required": ["image"]}, "case 'c1' has no image"),
    ],
)
def test_stage_table_names_what_is_wrong(tmp_path: Path, text, kwargs, message) -> None:
    table = tmp_path / "t.tsv"
    if text is not None:
        table.write_text(text)
    with pytest.raises(InputRejected, match=message) as error:
        read_stage_table(table, ["case", "image"], ["image"], **kwargs)
    assert str(table) in str(error.value)


def test_stage_table_may_be_empty_when_allowed(tmp_path: Path) -> None:
    (tmp_path / "t.tsv").write_text("case\timage\n")
    assert read_stage_table(tmp_path / "t.tsv", ["case", "image"], allow_empty=True) == []


def test_tables_take_only_the_cases_the_splits_list(tmp_path):
    from medseg.splits import make_folds, write_splits

    ingest = tmp_path / "ingest"
    for case, subject in (("a1", "A"), ("b1", "B"), ("c1", "C"), ("b1_old", "B")):  # b1_old: left the cohort sheet
        _case(ingest, case, subject)
    splits = tmp_path / "splits.json"
    write_splits(splits, make_folds(["A", "B", "C"]), cases_by_subject={"A": ["a1"], "B": ["b1"], "C": ["c1"]})
    write_training_table(splits, "fold00", ingest, tmp_path / "train.tsv")
    assert [r["case"] for r in _rows(tmp_path / "train.tsv")] == ["b1", "c1"]
    write_training_table(splits, "final", ingest, tmp_path / "final.tsv")
    assert [r["case"] for r in _rows(tmp_path / "final.tsv")] == ["a1", "b1", "c1"]
    write_prediction_table(splits, ingest, tmp_path / "pred", ["full"], tmp_path / "pred.tsv")
    assert [r["case"] for r in _rows(tmp_path / "pred.tsv")] == ["a1", "b1", "c1"]

    (ingest / "c1" / "check.json").write_text(json.dumps({"case": "c1", "subject": "C", "status": "rejected"}))
    with pytest.raises(MedsegError, match=r"lists case\(s\) with no accepted ingest folder .*: c1"):
        write_training_table(splits, "fold00", ingest, tmp_path / "stale.tsv")
    assert not (tmp_path / "stale.tsv").exists()


def test_stage_table_with_a_byte_order_mark_and_a_line_of_tabs(tmp_path: Path) -> None:
    path = tmp_path / "t.tsv"
    path.write_text("\ufeffcase\timage\nc1\ta.nii.gz\n\t\t\t\t\n", encoding="utf-8")
    rows = read_stage_table(path, ["case", "image"], ["image"])
    assert [r["case"] for r in rows] == ["c1"] and rows[0]["image"] == str((tmp_path / "a.nii.gz").resolve())
