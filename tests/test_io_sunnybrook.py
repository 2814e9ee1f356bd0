from pathlib import Path

import pytest

from medseg.cli.main import main
from medseg.cohort import read_cohort_sheet
from medseg.errors import ImageReadError
from medseg.io.sunnybrook import sunnybrook_cases

SUNNYBROOK = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sunnybrook"


def test_not_a_sunnybrook_folder(tmp_path):
    with pytest.raises(ImageReadError, match="link.csv is missing"):
        sunnybrook_cases(tmp_path)


@pytest.mark.skipif(not SUNNYBROOK.is_dir(), reason=f"Sunnybrook data not found at {SUNNYBROOK}")
def test_sunnybrook_sheet_round_trip(tmp_path):
    sheet = tmp_path / "cohort.tsv"
    assert main(["cohort", "sunnybrook", str(SUNNYBROOK), "--out", str(sheet)]) == 0
    cases = read_cohort_sheet(sheet)
    assert [c.subject for c in cases] == ["SC-HF-I-1", "SC-HF-I-2", "SC-HF-I-4", "SC-HF-I-6"]
    assert all(c.task == "lv" for c in cases)
    assert all(c.image.is_dir() and c.annotation.is_dir() for c in cases)
    assert cases[0].image.name == "SCD0000101"
    assert (cases[0].annotation / "i-contours").is_dir()
