"""QA pages without a browser: flags, readers, ratings, CLI, privacy."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from medseg.errors import InputRejected
from medseg.qa.ears_page import EarsThresholds, ears_flags, read_ears_prediction
from medseg.qa.html import read_case_meta, redact_paths
from medseg.qa.lv_page import ring_topology
from medseg.qa.ratings import parse_ratings, read_ratings, summarise_ratings
from test_qa_fixtures import head_ct, make_ears_case, make_lv_case, make_rejected_case, make_study, ring


def _qa_parser() -> argparse.ArgumentParser:
    from medseg.cli.main import HelpFormatter
    from medseg.cli.qa import register

    parser = argparse.ArgumentParser(prog="medseg")
    register(parser.add_subparsers(dest="command"), HelpFormatter)
    return parser


def _run(*argv: str) -> int:
    args = _qa_parser().parse_args(["qa", *argv])
    return args.func(args)


@pytest.fixture(scope="session")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("qa")
    ei, ep = make_ears_case(root)
    li, lp = make_lv_case(root)
    ri = make_rejected_case(root)
    study = make_study(root / "study")
    out = root / "pages"
    assert _run("case", "--task", "ears", "--ingest", str(ei), "--prediction", str(ep), "--out", str(out / "ears" / "ear01.html"),
                "--next", "../lv/lv01.html", "--index", "../index.html") == 0
    assert _run("case", "--task", "lv", "--ingest", str(li), "--prediction", str(lp), "--out", str(out / "lv" / "lv01.html"),
                "--prev", "../ears/ear01.html", "--next", "bad01.html", "--index", "../index.html") == 0
    assert _run("case", "--task", "lv", "--ingest", str(ri), "--out", str(out / "lv" / "bad01.html"), "--prev", "lv01.html") == 0
    assert _run("index", "--pages", str(out / "ears" / "ear01.html"), str(out / "lv" / "lv01.html"), str(out / "lv" / "bad01.html"),
                "--status", str(study["status"]), "--study", "study.html", "--out", str(out / "index.html")) == 0
    assert _run("study", "--summary", str(study["summary"]), "--status", str(study["status"]), "--evaluation", str(study["ears_eval"]),
                str(study["lv_eval"]), "--splits", str(study["splits"]), "--ratings", str(study["ratings"]),
                "--areas", str(lp / "areas.tsv"), "--index", "index.html", "--out", str(out / "study.html")) == 0
    return {"root": root, "ears": out / "ears" / "ear01.html", "lv": out / "lv" / "lv01.html", "rejected": out / "lv" / "bad01.html",
            "index": out / "index.html", "study": out / "study.html", "ears_ingest": ei, "ears_pred": ep}


def test_ring_topology() -> None:
    closed = ring((40, 40), (20, 20), 6, 10)
    assert ring_topology(closed) == (1, 1)
    broken = closed.copy()
    broken[18:23, 20:] = False
    assert ring_topology(broken) == (1, 0)
    assert ring_topology(closed | ring((40, 40), (20, 20), 0, 2)) == (2, 1)
    assert ring_topology(np.zeros((5, 5), bool)) == (0, 0)


def test_ears_prediction_reader_tolerates_missing_keys(tmp_path: Path) -> None:
    path = tmp_path / "ears.json"
    path.write_text(json.dumps({"coordinate_system": "RAS", "points": {"left": {"present": True, "position": [-1, -2, 3]}}}))
    prediction = read_ears_prediction(path)
    assert prediction.present == {"left": True, "right": False}
    assert prediction.position["left"].tolist() == [1.0, 2.0, 3.0]
    assert prediction.threshold is None and prediction.rejected == []
    assert ears_flags(prediction, None, EarsThresholds()) == [{"code": "one_ear", "level": "warn", "text": "only the left ear was found"}]


def test_ears_case_page_flags_and_content(pages: dict[str, Path]) -> None:
    text = pages["ears"].read_text()
    meta = read_case_meta(text)
    assert meta is not None and meta["task"] == "ears" and meta["case"] == "ear01"
    assert set(meta["flags"]) == {"one_ear", "low_margin", "shape_rejected", "reference_disagrees"}
    assert text.count("<img") == 2 and "data:image/png;base64," in text
    assert "where it would be (reference position)" in text
    assert 'href="../lv/lv01.html"' in text and 'id="nav-prev"' not in text
    assert "<link" not in text and "http://" not in text and "https://" not in text  # self-contained


def test_lv_case_page_flags(pages: dict[str, Path]) -> None:
    text = pages["lv"].read_text()
    meta = read_case_meta(text)
    assert set(meta["flags"]) == {"not_a_ring", "area_jump", "reference_disagrees"}
    assert "s0/f4" in text and "s1/f7" in text and "s1/f6" in text
    assert text.count("<img") == 3  # area curve + one strip per slice


def test_rejected_page_hides_paths(pages: dict[str, Path]) -> None:
    text = pages["rejected"].read_text()
    assert "rejected" in text and "found 1 phase(s)" in text
    assert "DOE_JANE" not in text and "/data/cohort" not in text
    assert 'data-task="lv"' in text and 'data-case="bad01"' in text


def test_index_lists_every_case(pages: dict[str, Path]) -> None:
    text = pages["index"].read_text()
    for href in ('href="ears/ear01.html"', 'href="lv/lv01.html"', 'href="lv/bad01.html"', 'href="study.html"'):
        assert href in text
    assert "ear02" in text  # in the status table but without a page
    assert "DOE_JANE" not in text


def test_study_page_sections(pages: dict[str, Path]) -> None:
    text = pages["study"].read_text()
    for heading in ("Cohort", "Ears", "LV", "Ratings", "Provenance", "Per fold", "Per subject", "Ablation"):
        assert heading in text, heading
    assert text.count("<img") == 4
    assert "no_shape" in text and "no_lstm" in text and "abc123" in text
    assert "Example CPU" in text and "ONEDNN_MAX_CPU_ISA=AVX2" in text, "the CPU kind is part of the provenance"
    assert "gap in ring" in text and "Reviewers disagree" in text
    assert "@media print" in text and "DOE_JANE" not in text
    per_fold = text.split("Per fold", 1)[1].split("</table>", 1)[0]
    assert "presence threshold" in per_fold and "0.425" in per_fold and "0.575" in per_fold and "0.600" not in per_fold


def test_study_page_folds_come_from_each_tasks_own_splits(tmp_path: Path) -> None:
    from medseg.io.atomic import write_json
    from medseg.qa.study_page import render_study_page

    study = make_study(tmp_path / "study")
    splits = []
    for task, folds in (("ears", (["S01"], ["S04"])), ("lv", (["S02"], ["S05"]))):
        path = tmp_path / f"{task}_splits.json"
        write_json(path, {"task": task, "scheme": "loso", "folds": [
            {"name": f"{task}_fold{i}", "train_subjects": folds[1 - i], "test_subjects": folds[i]} for i in (0, 1)]})
        splits.append(path)
    text = render_study_page(study["summary"], study["status"], [study["ears_eval"], study["lv_eval"]], splits_paths=splits)
    lv = text.split("<h2>LV</h2>", 1)[1]
    assert "lv_fold0" in lv and "lv_fold1" in lv and "ears_fold" not in lv
    assert "<td>?</td>" not in text, "every held-out subject is found in its own task's folds"


def test_study_page_tables_per_subject_show_the_method_not_the_first_variant(tmp_path: Path) -> None:
    from medseg.qa.study_page import render_study_page

    study = make_study(tmp_path / "study")
    path = study["lv_eval"] / "summary.json"
    summary = json.loads(path.read_text())
    variants = summary["variants"]
    summary["variants"] = {"cnn": variants["no_lstm"], "multi_level": variants["full"]}  # sorted, as lv evaluate writes them
    path.write_text(json.dumps(summary))
    text = render_study_page(study["summary"], study["status"], [study["lv_eval"]])
    assert "Per subject (variant multi_level)" in text and "Per subject (variant cnn)" not in text


def test_redact_paths() -> None:
    assert redact_paths("/data/DOE_JOHN/ct: missing slices") == "‹path›: missing slices"
    assert redact_paths(r"C:\scans\DOE\a.dcm bad") == "‹path› bad"
    assert redact_paths("cohort/DOE/img.nii.gz: x") == "‹path›: x"
    assert redact_paths("ratio 1/2 in HU/mm") == "ratio 1/2 in HU/mm"


def test_ratings_tsv_and_json(tmp_path: Path) -> None:
    tsv = "case\ttask\tverdict\tcomment\treviewer\ttimestamp\nc1\tears\taccept\t\tAB\t2026-01-01T00:00:00Z\nc2\tlv\t\tjust a note\tAB\t2026-01-01T00:00:00Z\n"
    ratings = parse_ratings(tsv)
    assert [r.case for r in ratings] == ["c1"]  # a comment without a verdict is not a rating
    doc = {"format": "medseg-qa-ratings", "version": 1, "ratings": [
        {"case": "c1", "task": "ears", "verdict": "accept", "comment": "", "reviewer": "AB", "timestamp": "2026-01-01T00:00:00Z"},
        {"case": "c1", "task": "ears", "verdict": "reject", "comment": "wrong side", "reviewer": "AB", "timestamp": "2026-01-02T00:00:00Z"},
        {"case": "c2", "task": "lv", "verdict": "needs_correction", "comment": "", "reviewer": "CD", "timestamp": "2026-01-02T00:00:00Z"}]}
    path = tmp_path / "r.json"
    path.write_text(json.dumps(doc))
    summary = summarise_ratings(read_ratings(path), {"ears": {"c1", "c3"}, "lv": {"c2"}})
    assert summary["tasks"]["ears"]["reject"] == 1 and summary["tasks"]["ears"]["accept"] == 0  # newest wins
    assert summary["tasks"]["ears"]["unrated"] == ["c3"]
    assert {a["case"] for a in summary["attention"]} == {"c1", "c2"}
    with pytest.raises(InputRejected, match="verdict"):
        parse_ratings("case\ttask\tverdict\nc1\tears\tmaybe\n")
    with pytest.raises(InputRejected, match="missing column"):
        parse_ratings("case\tverdict\nc1\taccept\n")
    with pytest.raises(InputRejected, match="timestamp"):
        parse_ratings(json.dumps([{"case": "c", "task": "lv", "verdict": "accept", "timestamp": "yesterday"}]))


def test_cli_needs_prediction_for_accepted_case(pages: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(InputRejected, match="--prediction"):
        _run("case", "--task", "ears", "--ingest", str(pages["ears_ingest"]), "--out", str(tmp_path / "x.html"))


def test_cli_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    for sub in ("case", "index", "study"):
        with pytest.raises(SystemExit):
            _qa_parser().parse_args(["qa", sub, "--help"])
        assert "example" in capsys.readouterr().out


def test_privacy_dicom_identifiers_never_reach_a_page(tmp_path: Path) -> None:
    """A CT read from DICOM with identifying tags: neither ingest output nor the page carry them."""
    from medseg.cohort import CohortCase
    from medseg.ingest import ingest_case
    from medseg.io.dicom_write import write_dicom_series

    secrets = ["DOE^JOHN", "DOE", "JOHN", "PID-99887766", "19450312", "ACC-5551234"]
    dicom = tmp_path / "series"
    image = head_ct()
    write_dicom_series(image, dicom, patient_name="DOE^JOHN", patient_id="PID-99887766",
                       extra_tags={"PatientBirthDate": "19450312", "AccessionNumber": "ACC-5551234"})
    assert b"PID-99887766" in next(dicom.glob("*.dcm")).read_bytes()
    ingest = tmp_path / "ingest" / "ears" / "ear99"
    verdict = ingest_case(CohortCase("S99", "ear99", "ears", dicom, None), ingest)
    pred = tmp_path / "pred"
    _, pred_dir = make_ears_case(pred, "ear99", "S99")
    out = tmp_path / "page.html"
    if verdict["status"] == "accepted":
        _run("case", "--task", "ears", "--ingest", str(ingest), "--prediction", str(pred_dir), "--out", str(out))
    else:
        _run("case", "--task", "ears", "--ingest", str(ingest), "--out", str(out))
    text = out.read_text()
    assert "ear99" in text and "S99" in text
    for secret in secrets:
        assert secret not in text, secret
    for path in ingest.iterdir():
        data = path.read_bytes()
        if path.suffix == ".gz":
            import gzip

            data = gzip.decompress(data)
        assert b"PID-99887766" not in data and b"DOE^JOHN" not in data, path.name
    assert sitk.ReadImage(str(ingest / "image.nii.gz")).GetSize() == image.GetSize()


def test_lv_flags_score_frames_as_the_evaluation_does() -> None:
    from medseg.metrics import frame_metrics
    from medseg.qa.lv_page import LVThresholds, lv_flags

    rr, cc = np.mgrid[:48, :48]
    radius = np.hypot(rr - 24, cc - 24)
    labels = np.zeros((1, 2, 48, 48), np.uint8)
    labels[..., radius < 16] = 1
    labels[..., radius < 9] = 2
    reference = labels.copy()
    reference[0, 1][reference[0, 1] != 2] = 255  # an end-systolic frame: endocardium only
    predicted = labels == 1
    areas = predicted.sum(axis=(2, 3)).astype(float)
    flags, details = lv_flags(predicted, reference, areas, LVThresholds())
    assert details["dice"] == {(0, 0): 1.0}
    assert "reference_disagrees" not in {f["code"] for f in flags}
    evaluated = [frame_metrics(labels[0, t], reference[0, t], (1.0, 1.0))["dice"] for t in range(2)]
    assert evaluated[0] == 1.0 and np.isnan(evaluated[1])


def test_a_tsv_comment_that_starts_with_a_quote_keeps_every_later_rating() -> None:
    tsv = (
        "case\ttask\tverdict\tcomment\treviewer\ttimestamp\n"
        'E01\tears\tneeds_correction\t"apex" cut off, see slice 3\tAB\t2026-11-29T10:00:00Z\n'
        "E02\tears\treject\twrong side\tAB\t2026-11-29T10:01:00Z\n"
    )
    ratings = {r.case: r for r in parse_ratings(tsv)}
    assert set(ratings) == {"E01", "E02"} and ratings["E02"].verdict == "reject"
    assert ratings["E01"].comment == '"apex" cut off, see slice 3' and ratings["E01"].reviewer == "AB"


def test_an_absent_ear_is_shown_where_the_reference_or_the_shape_prior_puts_it(tmp_path: Path) -> None:
    import dataclasses

    from medseg.qa.ears_page import _expected_region
    from test_qa_fixtures import LEFT_EAR, RIGHT_EAR

    _, pred = make_ears_case(tmp_path)
    prediction = read_ears_prediction(pred / "ears.json")
    image = head_ct()
    reference = {"left": LEFT_EAR, "right": RIGHT_EAR}
    assert _expected_region("right", prediction, reference, image, None)[1] == "reference position"
    inside = dataclasses.replace(prediction, prior={"left": None, "right": RIGHT_EAR + [2.0, 0.0, 0.0]})
    centre, how = _expected_region("right", inside, None, image, None)
    np.testing.assert_allclose(centre, RIGHT_EAR + [2.0, 0.0, 0.0])
    assert how == "shape prior, from the ear that was found"
    outside = dataclasses.replace(prediction, prior={"left": None, "right": LEFT_EAR - [100.0, 0.0, 0.0]})
    assert _expected_region("right", outside, None, image, None) == (None, "the shape prior places it outside the field of view")
