"""Tests of medseg.cohort."""

from __future__ import annotations

from pathlib import Path

import pytest

from medseg.cohort import CohortCase, read_cohort_sheet, validate_id, write_cohort_sheet
from medseg.errors import ConfigError

HEADER = "subject\tcase\ttask\timage\tannotation\n"


def _sheet(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    path = tmp_path / "sheets" / "cohort.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + body, encoding="utf-8")
    return path


def test_reads_cases_and_resolves_relative_paths(tmp_path: Path) -> None:
    path = _sheet(
        tmp_path,
        "s01\tc01\tears\timages/c01.nii.gz\tlm/c01.json\n"
        "\n# a comment\n"
        f"s02\tc02\tLV\t{tmp_path}/dicom/c02\t\n",
    )
    cases = read_cohort_sheet(path)
    assert [c.case for c in cases] == ["c01", "c02"]
    assert cases[0].image == path.parent.resolve() / "images" / "c01.nii.gz"
    assert cases[0].annotation == path.parent.resolve() / "lm" / "c01.json"
    assert cases[1].task == "lv" and cases[1].image == tmp_path / "dicom" / "c02"
    assert cases[1].annotation is None


def test_missing_paths_are_not_an_error(tmp_path: Path) -> None:
    cases = read_cohort_sheet(_sheet(tmp_path, "s01\tc01\tears\t../nowhere.nii.gz\t\n"))
    assert not cases[0].image.exists()
    assert cases[0].image == tmp_path / "nowhere.nii.gz"


def test_annotation_column_is_optional_and_extra_columns_are_ignored(tmp_path: Path) -> None:
    path = _sheet(tmp_path, "s01\tc01\tears\tx.nii\tnote\n", header="subject\tcase\ttask\timage\tcomment\n")
    assert read_cohort_sheet(path)[0].annotation is None


def test_excel_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "cohort.tsv"
    path.write_bytes(("\ufeff" + HEADER + "s01\tc01\tears\tx.nii\t\n").replace("\n", "\r\n").encode("utf-8"))
    assert read_cohort_sheet(path)[0].image.name == "x.nii"


@pytest.mark.parametrize(
    ("body", "header", "message"),
    [
        ("s01\tc01\tx.nii\t\n", "subject\tcase\timage\tannotation\n", "lacks column(s) task"),
        ("s01,c01,ears,x.nii\n", "subject,case,task,image\n", "tab-separated"),
        ("s01\tc01\tears\ta.nii\t\ns02\tc01\tears\tb.nii\t\n", HEADER, "duplicate case ID 'c01' (first on line 2)"),
        ("s01\tc01\tbrain\ta.nii\t\n", HEADER, "line 2: unknown task 'brain'"),
        ("\tc01\tears\ta.nii\t\n", HEADER, "subject is empty"),
        ("s01\tc 01\tears\ta.nii\t\n", HEADER, "case 'c 01' has characters ' '"),
        ("s01\t../c01\tears\ta.nii\t\n", HEADER, "characters '/'"),
        ("s/1\tc01\tears\ta.nii\t\n", HEADER, "subject 's/1'"),
        ("s01\t..\tears\ta.nii\t\n", HEADER, "leading dot"),
        ("s01\tc01\tears\t\t\n", HEADER, "image is empty"),
        ("", "", "is empty"),
    ],
)
def test_invalid_sheets_raise_config_error(tmp_path: Path, body: str, header: str, message: str) -> None:
    with pytest.raises(ConfigError, match=None) as error:
        read_cohort_sheet(_sheet(tmp_path, body, header))
    assert message in str(error.value)


def test_missing_sheet(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        read_cohort_sheet(tmp_path / "absent.tsv")


def test_validate_id_accepts_safe_names() -> None:
    assert validate_id("SC-HF-I-1.v2_a") == "SC-HF-I-1.v2_a"


def test_write_and_read_round_trip(tmp_path: Path) -> None:
    cases = [
        CohortCase("s01", "c01", "ears", tmp_path / "data" / "c01.nii.gz", tmp_path / "data" / "c01.json"),
        CohortCase("s01", "c02", "lv", tmp_path / "dicom" / "c02", None),
    ]
    path = write_cohort_sheet(tmp_path / "out" / "cohort.tsv", cases)
    text = path.read_text()
    assert text.splitlines()[0] == "subject\tcase\ttask\timage\tannotation"
    assert "../data/c01.nii.gz" in text
    assert read_cohort_sheet(path) == cases
    with pytest.raises(ConfigError):
        write_cohort_sheet(tmp_path / "bad.tsv", [CohortCase("s 1", "c01", "ears", Path("x"))])
    assert not (tmp_path / "bad.tsv").exists()
