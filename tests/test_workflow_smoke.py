"""The whole Snakemake DAG on the smoke cohort, plus broken cases that must not stop it."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from bad_inputs import build


ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]

pytestmark = pytest.mark.slow


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


METRIC_FILES = [f"{task}/evaluation/{name}" for task, names in (
    ("ears", ("summary.json", "per_case.tsv", "ablation.tsv")),
    ("lv", ("summary.json", "per_subject.tsv", "per_frame.tsv", "ablation.tsv")),
) for name in names]


def _smoke_config(tmp_path: Path, **overrides) -> Path:
    config = yaml.safe_load((ROOT / "configs" / "smoke.yaml").read_text())
    config["output_dir"] = str(tmp_path / "results")
    for entry in config.get("ears_real_ct", []):  # relative to the checkout, not the test folder
        for key in ("image", "annotation"):
            entry[key] = str((ROOT / entry[key]).resolve())
    config.update(overrides)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _run_snakemake(config: Path, workdir: Path, *extra: str) -> subprocess.CompletedProcess:
    command = SNAKEMAKE + [
        "--snakefile", str(ROOT / "Snakefile"),
        "--directory", str(workdir),
        "--cores", "2",
        "--keep-going",
        "--workflow-profile", str(ROOT / "workflow" / "profiles" / "default"),
        *extra,
        "--configfile", str(config),
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800)


#: Corpus items fed to the workflow as cases of their own; each must be rejected with its reason.
DAG_CORPUS = ["corrupt_dicom_among_good", "missing_slices", "image_2d", "all_zero", "non_finite", "ct_8bit",
              "ct_offset", "mr_as_ct", "huge_ct", "empty_folder", "landmarks_outside", "ct_as_cine", "contours_outside"]

IDENTIFIERS = {"PatientName": "DOE^JANE", "PatientID": "MRN0012345", "PatientBirthDate": "19700101",
               "AccessionNumber": "ACC998877", "InstitutionName": "St Example Hospital"}


def _add_identifiers(data: Path) -> int:
    """Give every DICOM file of the cohort the identifiers a hospital export carries."""
    import pydicom

    files = sorted(data.rglob("*.dcm"))
    for path in files:
        dataset = pydicom.dcmread(path)
        for keyword, value in IDENTIFIERS.items():
            setattr(dataset, keyword, value)
        dataset.save_as(path)
    assert files, "the smoke cohort should hold DICOM series"
    return len(files)


@pytest.fixture(scope="module")
def smoke_study(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """The smoke cohort from its sheet, plus two broken cases appended to the sheet."""
    tmp_path = tmp_path_factory.mktemp("smoke")
    cohort = tmp_path / "cohort"
    generate = subprocess.run(
        [sys.executable, "-m", "medseg", "phantoms", "--config", str(ROOT / "configs" / "smoke.yaml"),
         "--out", str(cohort / "data"), "--sheet", str(cohort / "cohort.tsv")],
        capture_output=True, text=True,
    )
    assert generate.returncode == 0, generate.stderr
    _add_identifiers(cohort / "data")
    truncated = cohort / "broken_truncated.nii.gz"
    source = sorted((cohort / "data" / "ears").rglob("*.nii.gz"))[0].read_bytes()
    truncated.write_bytes(source[: len(source) // 2])
    with open(cohort / "cohort.tsv", "a") as sheet:
        sheet.write("X01\tX01-truncated\tears\tbroken_truncated.nii.gz\t\n")
        sheet.write("X02\tX02-missing\tears\tno_such_scan.nii.gz\t\n")
        for name in DAG_CORPUS:
            item = build(name, cohort / "bad")
            sheet.write(f"B-{name}\tB-{name}\t{item.task}\t{item.path}\t{item.annotation or ''}\n")
    config = _smoke_config(tmp_path, cohort={"source": "sheet", "sheet": str(cohort / "cohort.tsv")})
    result = _run_snakemake(config, tmp_path)
    return tmp_path / "results", result


def test_study_run_twice_gives_identical_numbers(smoke_study, tmp_path):
    """The same config on the same cohort, from scratch in another folder: same metric files, same models."""
    results, run = smoke_study
    assert run.returncode == 0, run.stderr[-4000:]
    config = yaml.safe_load((results.parent / "config.yaml").read_text())
    config["output_dir"] = str(tmp_path / "results")
    second_config = tmp_path / "config.yaml"
    second_config.write_text(yaml.safe_dump(config))
    again = _run_snakemake(second_config, tmp_path)
    assert again.returncode == 0, again.stderr[-4000:]
    for name in METRIC_FILES:
        assert (results / name).read_bytes() == (tmp_path / "results" / name).read_bytes(), name
    for model in sorted((results / "models").rglob("model.pt")):
        twin = tmp_path / "results" / model.relative_to(results)
        assert model.read_bytes() == twin.read_bytes(), model.relative_to(results)
    for name in ("ears", "lv"):
        assert json.loads((results / name / "evaluation" / "provenance.json").read_text())["seed"] == config["seed"]


def test_dag_completes_despite_broken_cases(smoke_study):
    results, run = smoke_study
    assert run.returncode == 0, run.stderr[-4000:]
    status = {row["case"]: row for row in _rows(results / "report" / "cohort_status.tsv")}
    assert status["X01-truncated"]["status"] == "rejected"
    assert "unreadable" in status["X01-truncated"]["codes"]
    assert status["X02-missing"]["status"] == "rejected"
    assert "no such file" in status["X02-missing"]["reasons"]
    accepted = [row for row in status.values() if row["status"] == "accepted"]
    assert len(accepted) >= 8


@pytest.mark.parametrize("name", DAG_CORPUS)
def test_each_bad_input_is_listed_with_its_reason(smoke_study, name, tmp_path):
    results, run = smoke_study
    assert run.returncode == 0, run.stderr[-4000:]
    status = {row["case"]: row for row in _rows(results / "report" / "cohort_status.tsv")}
    row = status[f"B-{name}"]
    assert row["status"] == "rejected", row
    expected = build(name, tmp_path)
    wanted = expected.dag_expect or expected.expect
    assert wanted.lower() in row["reasons"].lower(), (wanted, row["reasons"])
    if expected.code:
        assert expected.code in row["codes"], row
    page = (results / "qa" / "study.html").read_text()
    assert f"B-{name}" in page


def test_every_result_is_traceable(smoke_study):
    results, run = smoke_study
    assert run.returncode == 0, run.stderr[-4000:]
    summary = json.loads((results / "report" / "study_summary.json").read_text())
    provenance = summary["provenance"]
    for key in ("medseg_version", "git_revision", "config_sha256", "seed", "packages"):
        assert key in provenance, key
    assert summary["seed"] == 7
    real = {check["name"]: check for check in summary["real_ct"]}
    if (ROOT.parent / "shared" / "data" / "head_ct").is_dir():
        assert set(real["headsq"]["crops"]) == {"neck", "jaw"}
        assert real["headsq"]["full"]["expected_ears"] == 2
    else:
        assert "not found" in real["headsq"]["skipped"]
    rejected = {item["case"] for item in summary["cohort"]["ears"]["rejected"]}
    assert {"X01-truncated", "X02-missing"} <= rejected
    for task in ("ears", "lv"):
        task_provenance = json.loads((results / task / "evaluation" / "provenance.json").read_text())
        assert task_provenance["seed"] == 7 and task_provenance["git_revision"]


def test_models_predictions_and_pages_exist(smoke_study):
    results, run = smoke_study
    assert run.returncode == 0, run.stderr[-4000:]
    assert (results / "models" / "ears" / "final" / "full" / "manifest.json").exists()
    assert (results / "models" / "lv" / "final" / "multi_level" / "manifest.json").exists()
    ablation = _rows(results / "ears" / "evaluation" / "ablation.tsv")
    assert {row["variant"] for row in ablation} == {"full", "no_fps", "no_shape", "baseline"}
    lv_ablation = _rows(results / "lv" / "evaluation" / "ablation.tsv")
    assert {row["variant"] for row in lv_ablation} == {"multi_level", "one_level", "cnn"}
    assert (results / "qa" / "index.html").exists()
    assert (results / "qa" / "study.html").exists()
    assert (results / "qa" / "ears" / "X01-truncated.html").exists()
    assert list((results.parent / "logs").rglob("*.log"))


def test_no_temporary_files_left(smoke_study):
    results, _ = smoke_study
    leftovers = [p for p in results.rglob("*") if ".tmp" in p.name]
    assert not leftovers, leftovers


def test_no_patient_identifier_in_any_output(smoke_study):
    results, run = smoke_study
    assert run.returncode == 0, run.stderr[-4000:]
    outputs = [p for p in results.rglob("*") if p.is_file() and "cohort" not in p.relative_to(results).parts[:1]]
    outputs += [p for p in (results.parent / "logs").rglob("*") if p.is_file()]
    assert outputs
    leaks = []
    for path in outputs:
        data = path.read_bytes()
        leaks += [f"{path}: {value}" for value in IDENTIFIERS.values() if value.encode() in data]
    assert not leaks, leaks


def _planned_jobs(config: dict, workdir: Path) -> dict[str, int]:
    """Jobs per rule that a dry run of the study with this config would run."""
    path = workdir / "config_planned.yaml"
    path.write_text(yaml.safe_dump(config))
    run = _run_snakemake(path, workdir, "--dry-run")
    assert run.returncode == 0, run.stderr[-4000:]
    text = run.stdout + run.stderr
    if "Job stats:" not in text:
        assert "Nothing to be done" in text, text[-4000:]
        return {}
    table = text.split("Job stats:", 1)[1].split("\ntotal", 1)[0]
    return {row[0]: int(row[1]) for row in map(str.split, table.splitlines()) if len(row) == 2 and row[1].isdigit()}


def test_edited_settings_rerun_the_jobs_that_read_them(smoke_study):
    """A setting edited in the config reruns the jobs that read it, and no other training or ingest."""
    results, run = smoke_study
    assert run.returncode == 0, run.stderr[-4000:]
    workdir = results.parent
    original = yaml.safe_load((workdir / "config.yaml").read_text())
    upstream = {"ingest", "ears_train", "ears_baseline_train", "lv_train"}
    try:
        assert not upstream & set(_planned_jobs(original, workdir))
        lv = _planned_jobs({**original, "lv": {**original["lv"], "iterations": original["lv"]["iterations"] + 1}}, workdir)
        assert lv.get("lv_train") and lv.get("lv_evaluate") and not {"ingest", "ears_train", "ears_baseline_train"} & set(lv)
        ears = _planned_jobs({**original, "ears": {**original["ears"], "iterations": original["ears"]["iterations"] + 1}}, workdir)
        assert ears.get("ears_train") and ears.get("ears_baseline_train") and not {"ingest", "lv_train"} & set(ears)
        checks = _planned_jobs({**original, "checks": {**original.get("checks", {}), "min_fov_mm": 31}}, workdir)
        assert checks.get("ingest")
        reseeded = _planned_jobs({**original, "seed": original["seed"] + 1}, workdir)
        assert reseeded.get("ears_train") and reseeded.get("lv_train")
    finally:
        _planned_jobs(original, workdir)  # the resolved config file back as the study run wrote it


def test_a_corrected_annotation_reruns_its_case(smoke_study):
    """An annotation file edited in place re-ingests that case (and what depends on it), no other."""
    results, run = smoke_study
    assert run.returncode == 0, run.stderr[-4000:]
    workdir = results.parent
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    sheet = Path(config["cohort"]["sheet"])
    row = next(r for r in _rows(sheet) if r["task"] == "ears" and r["annotation"] and not r["case"].startswith(("B-", "X")))
    annotation = sheet.parent / row["annotation"]
    original = annotation.read_bytes()
    try:
        # the same landmarks rewritten (Snakemake compares content, not only the time stamp)
        annotation.write_text(json.dumps(json.loads(original), indent=4) + "\n")
        assert _planned_jobs(config, workdir).get("ingest") == 1
    finally:
        annotation.write_bytes(original)
    assert not _planned_jobs(config, workdir).get("ingest")


def test_missing_init_model_is_named_before_anything_runs(tmp_path):
    """A pre-trained model named by lv.init that does not exist stops the run with one clear message."""
    config = yaml.safe_load(_smoke_config(tmp_path).read_text())
    missing = tmp_path / "no_such_run" / "models" / "lv" / "final" / "multi_level"
    path = tmp_path / "config_init.yaml"
    path.write_text(yaml.safe_dump({**config, "lv": {**config["lv"], "init": str(missing)}}))
    run = _run_snakemake(path, tmp_path, "--dry-run")
    text = run.stdout + run.stderr
    assert run.returncode != 0
    assert f"lv.init names the model folder '{missing}', which does not exist" in text
    assert "Traceback" not in text
    assert not (tmp_path / "results" / "models").exists() and not (tmp_path / "results" / "cohort").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"lv": {"depth": 10}}, "invalid config: lv.depth must be 6n+2 (8, 14, 20, ..., 56), got 10"),
        ({"cohort": {"source": "sheet"}}, "On instance['cohort']['sheet']"),
        ({"ears": {"threshold_inner_folds": 1}}, "invalid config: ears config: threshold_inner_folds must be 0 (no inner folds) or at least 2"),
    ],
    ids=["resnet_depth", "sheet_without_path", "one_inner_fold"],
)
def test_a_bad_setting_stops_the_dry_run_by_name(tmp_path, change, message):
    config = yaml.safe_load(_smoke_config(tmp_path).read_text())
    for section, values in change.items():
        config[section] = {**config.get(section, {}), **values}
    path = tmp_path / "config_bad.yaml"
    path.write_text(yaml.safe_dump(config))
    run = _run_snakemake(path, tmp_path, "--dry-run")
    assert run.returncode != 0
    text = run.stdout + run.stderr
    assert message in text and "Traceback" not in text and "medseg/lv/config.py" not in text
    assert not (tmp_path / "results").exists()


def test_ratings_file_is_folded_into_the_study_page(smoke_study, tmp_path):
    """A reviewer's downloaded ratings, named in the config, appear on the next run's study page."""
    results, run = smoke_study
    assert run.returncode == 0, run.stderr[-4000:]
    accepted = [row for row in _rows(results / "report" / "cohort_status.tsv") if row["status"] == "accepted"]
    first, second = accepted[0], accepted[1]
    ratings = tmp_path / "ratings_JD.tsv"
    ratings.write_text(
        "case\ttask\tverdict\tcomment\treviewer\ttimestamp\n"
        f"{first['case']}\t{first['task']}\taccept\t\tJD\t2026-11-27T10:00:00Z\n"
        f"{second['case']}\t{second['task']}\tneeds_correction\tcontour leaks into RV\tJD\t2026-11-27T10:01:00Z\n"
    )
    config = yaml.safe_load((results.parent / "config.yaml").read_text())
    config["report"] = {**config.get("report", {}), "ratings": str(ratings)}
    rated = results.parent / "config_rated.yaml"
    rated.write_text(yaml.safe_dump(config))
    again = _run_snakemake(rated, results.parent)
    assert again.returncode == 0, again.stderr[-4000:]
    page = (results / "qa" / "study.html").read_text()
    assert "<h2>Ratings</h2>" in page
    assert "contour leaks into RV" in page and "JD" in page
