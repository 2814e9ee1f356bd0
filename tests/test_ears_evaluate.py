import json

import numpy as np
import pytest

from medseg.ears.evaluate import compare_case, decision_scores, evaluate_table, summarise
from medseg.errors import InputRejected


def _landmarks(path, left, right):
    path.write_text(json.dumps({"coordinate_system": "LPS", "points": {
        "left": {"present": left is not None, "position": left}, "right": {"present": right is not None, "position": right}}}))
    return path


def test_compare_case():
    row = compare_case({"left": np.array([3.0, 4.0, 0.0]), "right": np.zeros(3)}, {"left": np.zeros(3), "right": None}, 10.0)
    assert row["n_true"] == 1 and row["n_pred"] == 2
    assert row["left_error_mm"] == 5.0 and row["left_detection_ok"]
    assert not row["right_presence_ok"]


def test_summary_and_files(tmp_path):
    a = _landmarks(tmp_path / "ref_a.json", [0, 0, 0], [100, 0, 0])
    b = _landmarks(tmp_path / "ref_b.json", None, None)
    pa = _landmarks(tmp_path / "pa.json", [0, 3, 0], [100, 0, 4])
    pb = _landmarks(tmp_path / "pb.json", [0, 0, 0], None)
    pa2 = _landmarks(tmp_path / "pa2.json", [0, 0, 30], None)
    table = tmp_path / "table.tsv"
    table.write_text("case\tsubject\tvariant\tprediction\treference\n"
                     f"a\tS1\tfull\t{pa.name}\t{a.name}\nb\tS2\tfull\t{pb.name}\t{b.name}\n"
                     f"a\tS1\tno_fps\t{pa2.name}\t{a.name}\nb\tS2\tno_fps\t{b.name}\t{b.name}\n")
    summary = evaluate_table(table, tmp_path / "out")
    full = summary["variants"]["full"]
    assert full["presence_accuracy"] == 0.75
    assert full["error_mm"]["mean"] == 3.5 and full["error_mm"]["max"] == 4.0
    assert full["confusion_0_1_2"]["matrix"] == [[0, 1, 0], [0, 0, 0], [0, 0, 1]]
    assert full["false_positive_ears"] == 1
    other = summary["variants"]["no_fps"]
    assert other["presence_accuracy"] == 0.75 and other["mislocalised_ears"] == 1 and other["detection_accuracy"] == 0.5
    assert other["error_mm"]["mean"] == 30.0 and other["error_found_mm"]["n"] == 0  # the one ear found lies 30 mm off
    assert full["error_found_mm"] == full["error_mm"]
    lines = (tmp_path / "out" / "ablation.tsv").read_text().splitlines()
    assert lines[0].startswith("variant\t") and lines[1].startswith("full\t") and len(lines) == 3
    assert len((tmp_path / "out" / "per_case.tsv").read_text().splitlines()) == 5


def test_missing_columns(tmp_path):
    (tmp_path / "t.tsv").write_text("case\tvariant\n")
    with pytest.raises(InputRejected, match="missing column"):
        evaluate_table(tmp_path / "t.tsv", tmp_path / "o")


def test_summarise_empty_errors():
    rows = [dict(subject="S", **compare_case({"left": None, "right": None}, {"left": None, "right": None}, 10.0))]
    assert summarise(rows)["error_mm"]["n"] == 0


def test_per_case_table_carries_threshold_and_scores_of_a_detection(tmp_path):
    reference = _landmarks(tmp_path / "ref.json", [0, 0, 0], None)
    detection = {
        "coordinate_system": "LPS",
        "ears": {"left": {"present": True, "score": 0.61, "position_lps": [0, 1, 0]}, "right": {"present": False, "score": 0.37}},
        "points": {"left": {"present": True, "position": [0, 1, 0]}, "right": {"present": False, "position": None}},
        "decision": {"threshold": 0.425, "shape_constraint": True},
    }
    (tmp_path / "ears.json").write_text(json.dumps(detection))
    assert decision_scores(tmp_path / "ears.json") == {"threshold": 0.425, "left_score": 0.61, "right_score": 0.37}
    assert decision_scores(reference) == {"threshold": None, "left_score": None, "right_score": None}
    (tmp_path / "table.tsv").write_text(f"case\tsubject\tvariant\tprediction\treference\na\tS1\tfull\tears.json\t{reference.name}\n")
    evaluate_table(tmp_path / "table.tsv", tmp_path / "out")
    header, row = ((tmp_path / "out" / "per_case.tsv").read_text().splitlines())
    values = dict(zip(header.split("\t"), row.split("\t")))
    assert (values["threshold"], values["left_score"], values["right_score"]) == ("0.4250", "0.6100", "0.3700")
