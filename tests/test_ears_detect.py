import json

import numpy as np
import pytest
import SimpleITK as sitk
import torch
import yaml
from test_ears_synth import synthetic_head, write_training_table

from medseg.cli.main import main
from medseg.io.landmarks import read_landmarks

EARS = {"spacing_mm": 4.0, "channels": [4, 8, 16], "patch_size": 24, "batch_size": 2, "iterations": 10,
        "hard_negative_start": 5, "hard_negative_every": 5, "threads": 1}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("ears_study")
    write_training_table(root, list(enumerate([("left", "right"), ("left",), ("right", "left"), ()])), (4.0, 4.0, 4.0), flipped=(1,))
    (root / "config.yaml").write_text(yaml.safe_dump({"seed": 11, "cohort": {"source": "demo"}, "ears": EARS}))
    assert main(["-q", "ears", "train", "--cases", str(root / "cases.tsv"), "--config", str(root / "config.yaml"),
                 "--out", str(root / "model"), "--threads", "1"]) == 0
    return root


def test_detect_writes_outputs_on_input_grid(study, capsys):
    image, truth = synthetic_head(50, spacing=(3.0, 3.5, 4.0), flip_direction=True)
    sitk.WriteImage(image, str(study / "new.nii.gz"))
    out = study / "pred"
    assert main(["-q", "ears", "detect", str(study / "new.nii.gz"), "--model", str(study / "model"), "--out", str(out)]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]).keys() == {"left", "right"}
    doc = json.loads((out / "ears.json").read_text())
    assert doc["coordinate_system"] == "LPS" and doc["decision"]["shape_constraint"] is True
    assert doc["decision"]["mirror_averaging"] is EARS.get("test_flip_lr", True)
    assert doc["provenance"]["seed"] == 11 and doc["provenance"]["packages"]["torch"] == torch.__version__
    for side in ("left", "right"):
        ear = doc["ears"][side]
        assert set(ear) >= {"present", "score", "position_lps", "position_ras", "voxel_index"}
        if ear["present"]:
            lps = np.array(ear["position_lps"])
            assert np.allclose(ear["position_ras"], lps * [-1, -1, 1])
            index = image.TransformPhysicalPointToIndex(lps.tolist())
            assert list(index) == ear["voxel_index"]
        heat = sitk.ReadImage(str(out / f"heatmap_{side}.nii.gz"))
        assert heat.GetSize() == image.GetSize()
        assert np.allclose(heat.GetDirection(), image.GetDirection())
        assert np.allclose(heat.GetOrigin(), image.GetOrigin())
    for item in doc["rejected"]:
        assert item["reason"]
    slicer = read_landmarks(out / "ears.mrk.json")
    for side in ("left", "right"):
        if doc["ears"][side]["present"]:
            assert np.allclose(slicer[side], doc["ears"][side]["position_lps"], atol=1e-3)
    assert main(["-q", "ears", "detect", str(study / "new.nii.gz"), "--model", str(study / "model"), "--out",
                 str(study / "pred2"), "--no-shape-constraint"]) == 0
    assert json.loads((study / "pred2" / "ears.json").read_text())["decision"]["shape_constraint"] is False


def test_default_model_missing_explains(study, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["ears", "detect", str(study / "c0.nii.gz"), "--out", str(tmp_path / "o")]) == 2
    assert "snakemake --cores 8" in capsys.readouterr().err


def test_tampered_model_is_refused(study, tmp_path, capsys):
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(study / "model", copy)
    with open(copy / "model.pt", "ab") as handle:
        handle.write(b"x")
    assert main(["ears", "detect", str(study / "c0.nii.gz"), "--model", str(copy), "--out", str(tmp_path / "o")]) == 2
    assert "checksum" in capsys.readouterr().err


def test_bad_input_is_a_user_error(study, tmp_path, capsys):
    assert main(["ears", "detect", str(tmp_path / "missing.nii.gz"), "--model", str(study / "model"), "--out", str(tmp_path / "o")]) == 2
    assert "missing.nii.gz" in capsys.readouterr().err


def test_baseline_and_evaluate(study, tmp_path):
    assert main(["-q", "ears", "baseline", "train", "--cases", str(study / "cases.tsv"), "--config", str(study / "config.yaml"),
                 "--out", str(tmp_path / "base")]) == 0
    rows = ["case\tsubject\tvariant\tprediction\treference"]
    for i in (0, 1):
        out = tmp_path / f"b{i}"
        assert main(["-q", "ears", "baseline", "detect", str(study / f"c{i}.nii.gz"), "--model", str(tmp_path / "base"), "--out", str(out)]) == 0
        rows.append(f"c{i}\tS{i}\tbaseline\t{out / 'ears.json'}\t{study / f'c{i}.json'}")
        assert json.loads((out / "ears.json").read_text())["provenance"]["seed"] == 11
        out = tmp_path / f"n{i}"
        assert main(["-q", "ears", "detect", str(study / f"c{i}.nii.gz"), "--model", str(study / "model"), "--out", str(out)]) == 0
        rows.append(f"c{i}\tS{i}\tfull\t{out / 'ears.json'}\t{study / f'c{i}.json'}")
    (tmp_path / "table.tsv").write_text("\n".join(rows) + "\n")
    assert main(["-q", "ears", "evaluate", "--table", str(tmp_path / "table.tsv"), "--out", str(tmp_path / "eval")]) == 0
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    assert set(summary["variants"]) == {"full", "baseline"}
    assert (tmp_path / "eval" / "ablation.tsv").read_text().splitlines()[1].startswith("full\t")
    assert len((tmp_path / "eval" / "per_case.tsv").read_text().splitlines()) == 5


def test_detect_records_its_device(study):
    out = study / "pred_cpu"
    assert main(["-q", "ears", "detect", str(study / "c0.nii.gz"), "--model", str(study / "model"), "--out", str(out),
                 "--device", "cpu"]) == 0
    assert json.loads((out / "ears.json").read_text())["device"] == "cpu"


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the message of a machine without a GPU")
def test_a_gpu_that_is_not_there_is_named_and_nothing_is_written(study, tmp_path, capsys):
    out = tmp_path / "pred"
    assert main(["-q", "ears", "detect", str(study / "c0.nii.gz"), "--model", str(study / "model"), "--out", str(out),
                 "--device", "cuda"]) == 2
    assert "'cuda' asked for, but torch" in capsys.readouterr().err
    assert not out.exists()
    model = tmp_path / "model"
    assert main(["-q", "ears", "train", "--cases", str(study / "cases.tsv"), "--config", str(study / "config.yaml"),
                 "--out", str(model), "--device", "cuda"]) == 2
    assert "sees no CUDA GPU" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_an_absent_ear_is_expected_one_mean_inter_ear_vector_from_the_found_one():
    from types import SimpleNamespace

    from medseg.ears.detect import expected_positions
    from medseg.ears.shape_prior import ShapePrior

    prior = ShapePrior(100.0, 5.0, (0.8, 0.6, 0.0), 20.0, 12.0, 3.0, 3.0, 10, 20)
    left = SimpleNamespace(position=np.array([50.0, 10.0, 0.0]))
    expected = expected_positions({"left": left, "right": None}, prior)
    np.testing.assert_allclose(expected["right"], [-30.0, -50.0, 0.0])  # the right ear lies at -x, the patient's right
    assert expected_positions({"left": left, "right": left}, prior) == {}
    assert expected_positions({"left": None, "right": None}, prior) == {}


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_train_names_a_missing_gpu_before_reading_any_case(tmp_path, capsys):
    from pathlib import Path

    config = Path(__file__).resolve().parents[1] / "configs" / "smoke.yaml"
    argv = ["ears", "train", "--cases", str(tmp_path / "no_table.tsv"), "--config", str(config), "--out", str(tmp_path / "m"), "--device", "cuda"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "cuda" in err.lower() and "no_table" not in err and not (tmp_path / "m").exists()
