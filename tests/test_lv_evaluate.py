"""LV evaluation: per-frame metrics on annotated frames only, per-subject and cohort summaries."""

import numpy as np

from medseg.lv.evaluate import evaluate_case, summarise


def _ring(shape=(40, 40), centre=(20, 20), outer=10, inner=6):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    r = np.hypot(yy - centre[0], xx - centre[1])
    frame = np.zeros(shape, np.uint8)
    frame[r <= outer] = 1
    frame[r <= inner] = 2
    return frame


def test_unannotated_frames_are_skipped_and_an_empty_prediction_is_counted():
    ring = _ring()
    reference = np.full((2, 3, 40, 40), 255, np.uint8)
    reference[0, 0] = ring
    reference[1, 2] = ring
    prediction = np.zeros_like(reference)
    prediction[0, 0] = ring  # perfect; frame (1, 2) left empty
    rows = evaluate_case(prediction, reference, (1.5, 1.5))
    assert [(r["slice"], r["phase"]) for r in rows] == [(0, 0), (1, 2)]
    assert rows[0]["dice"] == 1.0 and rows[0]["hd"] == 0.0
    assert rows[1]["dice"] == 0.0 and np.isnan(rows[1]["hd"])
    summary = summarise([{"variant": "v", "subject": "S1", "case": "c", **r} for r in rows])
    subject = summary["v"]["subjects"]["S1"]
    assert subject["frames"] == 2 and subject["frames_one_empty"] == 1
    assert subject["dice"] == 0.5 and subject["hd"] == 0.0  # the distance mean leaves the empty frame out


def test_subjects_weigh_equally_in_the_cohort_mean():
    rows = [{"variant": "v", "subject": "A", "case": "a", "slice": 0, "phase": t, "dice": 0.9, "hd": 2.0, "hd95": 1.0,
             "apd_endo": 1.0, "apd_epi": 1.0, "dice_cavity": 0.9} for t in range(10)]
    rows.append({"variant": "v", "subject": "B", "case": "b", "slice": 0, "phase": 0, "dice": 0.5, "hd": 4.0, "hd95": 3.0,
                 "apd_endo": 2.0, "apd_epi": 2.0, "dice_cavity": 0.5})
    summary = summarise(rows)["v"]
    assert abs(summary["over_subjects"]["dice"]["mean"] - 0.7) < 1e-9
    assert abs(summary["over_frames"]["dice"]["mean"] - (9.0 + 0.5) / 11) < 1e-9


def test_ablation_table_counts_the_frames_left_out_of_the_distances(tmp_path):
    import csv

    import SimpleITK as sitk

    from medseg.lv.evaluate import evaluate_table

    ring = _ring()
    reference = np.full((1, 2, 40, 40), 255, np.uint8)
    reference[0, 0] = reference[0, 1] = ring
    prediction = np.zeros_like(reference)
    prediction[0, 0] = ring
    for name, labels in (("reference", reference), ("prediction", prediction)):
        image = sitk.GetImageFromArray(np.ascontiguousarray(labels.transpose(1, 0, 2, 3)), isVector=False)
        image.SetSpacing((1.5, 1.5, 8.0, 40.0))
        sitk.WriteImage(image, str(tmp_path / f"{name}.nii.gz"))
    table = tmp_path / "table.tsv"
    table.write_text(f"case\tsubject\tvariant\tprediction\treference\nc\tS1\tv\t{tmp_path / 'prediction.nii.gz'}\t{tmp_path / 'reference.nii.gz'}\n")
    evaluate_table(table, tmp_path / "eval")
    with open(tmp_path / "eval" / "ablation.tsv", newline="") as handle:
        (row,) = csv.DictReader(handle, delimiter="\t")
    assert row["frames_one_empty"] == "1"
    assert row["dice"].startswith("0.5000") and row["hd"].startswith("0.0000")
