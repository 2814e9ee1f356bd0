"""Train -> save -> load -> segment -> evaluate on tiny phantoms, through the API and CLI."""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch
import yaml
from test_lv_synthetic import write_case

from medseg.cli.main import main
from medseg.errors import ModelError
from medseg.lv.config import LVConfig
from medseg.lv.dataset import read_labels
from medseg.lv.study import read_volume
from medseg.lv.model_io import load_model, save_model
from medseg.lv.segment import areas_table, cyclic_pad, segment_volume
from medseg.lv.train import MaskedDiceCELoss, train

TINY = {
    "depth": 8, "base_channels": 4, "decoder_channels": 8, "crop_size": 32, "pixel_spacing_mm": 4.0,
    "window": 4, "context": 2, "batch_size": 2, "iterations": 6, "threads": 1,
    "device": "cpu",  # bit-exact repeatability is a CPU claim; tests/test_cuda.py covers the GPU
}


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    root = tmp_path_factory.mktemp("lv_cases")
    rows = []
    for i in range(3):
        image, labels = write_case(root / f"s{i}", seed=i, slices=2, phases=6, sparse=i == 1)
        rows.append({"subject": f"s{i}", "case": f"c{i}", "image": str(image), "annotation": str(labels)})
    table = root / "cases.tsv"
    with open(table, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["subject", "case", "image", "annotation"], delimiter="\t")
        writer.writeheader()
        writer.writerows(rows)
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump({"seed": 3, "lv": TINY}))
    return root, rows, table, config


def test_loss_ignores_unlabelled_pixels():
    loss = MaskedDiceCELoss()
    logits = torch.zeros(2, 3, 4, 4, requires_grad=True)
    target = torch.full((2, 4, 4), 255, dtype=torch.uint8)
    assert loss(logits, target).item() == 0.0
    target[0, :2] = 1
    value = loss(logits, target)
    value.backward()
    assert value.item() > 0 and logits.grad[1].abs().sum() == 0


def test_keep_largest_component():
    from medseg.lv.segment import keep_largest_component

    labels = np.zeros((1, 12, 12), np.uint8)
    labels[0, 2:7, 2:7] = 1
    labels[0, 3:6, 3:6] = 2
    labels[0, 10, 10] = 1
    out = keep_largest_component(labels)
    assert out[0, 10, 10] == 0 and (out[0, 2:7, 2:7] == labels[0, 2:7, 2:7]).all()


def test_cyclic_pad_wraps():
    x = torch.arange(5).view(1, 5)
    assert cyclic_pad(x, 2).tolist() == [[3, 4, 0, 1, 2, 3, 4, 0, 1]]


def test_training_is_deterministic_and_saves(cases, tmp_path):
    _, rows, _, _ = cases
    config = LVConfig.from_config({"seed": 5, "lv": TINY})
    model_a, summary = train(rows, config, out_dir=tmp_path / "a", progress=False)
    model_b, _ = train(rows, config, progress=False)
    for (name, a), b in zip(model_a.state_dict().items(), model_b.state_dict().values()):
        assert torch.equal(a, b), name
    assert summary["subjects"] == ["s0", "s1", "s2"] and summary["labelled_frames"] == 2 * 6 * 2 + 2 * 2
    loaded, loaded_config, manifest = load_model(tmp_path / "a")
    assert loaded_config == config and manifest["task"] == "lv" and manifest["variant"] == "multi_level"
    volume = read_volume(rows[0]["image"])
    labels, roi = segment_volume(loaded, loaded_config, volume)
    assert labels.shape == volume.frames.shape and labels.dtype == np.uint8
    assert set(np.unique(labels)) <= {0, 1, 2}


def test_model_folder_checks(cases, tmp_path):
    config = LVConfig.from_config({"lv": TINY})
    from medseg.lv.model_io import build_model, load_initial_weights

    folder = save_model(tmp_path / "m", build_model(config), config)
    other = build_model(config.replace(variant="cnn"))
    assert load_initial_weights(other, folder)["copied"] > 0
    (folder / "model.pt").write_bytes((folder / "model.pt").read_bytes() + b"x")
    with pytest.raises(ModelError, match="does not match its checksum"):
        load_model(folder)
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    manifest["task"] = "ears"
    shutil.rmtree(folder)
    folder = save_model(tmp_path / "m", build_model(config), config)
    (folder / "manifest.json").write_text(json.dumps({**json.loads((folder / "manifest.json").read_text()), "task": "ears"}))
    with pytest.raises(ModelError, match="task 'ears'"):
        load_model(folder)
    with pytest.raises(ModelError, match="no such model folder"):
        load_model(tmp_path / "nothing")


def test_areas_table_volume():
    labels = np.zeros((2, 1, 10, 10), np.uint8)
    labels[:, 0, :5, :4] = 1
    text = areas_table(labels, (2.0, 1.5), 10.0)
    lines = [line.split("\t") for line in text.strip().splitlines()]
    assert lines[0] == ["slice", "phase", "area_mm2", "volume_ml"]
    assert float(lines[1][2]) == 60.0 and float(lines[1][3]) == pytest.approx(1.2)
    one_slice = areas_table(labels[:1], (2.0, 1.5), float("nan"))  # 2D+t: no slice thickness known
    assert one_slice.splitlines()[1].split("\t") == ["0", "0", "60.00", ""]


def test_cli_train_segment_evaluate(cases, tmp_path, capsys):
    root, rows, table, config = cases
    model = tmp_path / "model"
    assert main(["lv", "train", "--cases", str(table), "--config", str(config), "--out", str(model),
                 "--variant", "cnn", "--threads", "1", "--no-progress"]) == 0
    assert json.loads((model / "manifest.json").read_text())["variant"] == "cnn"
    out = tmp_path / "seg"
    assert main(["lv", "segment", rows[2]["image"], "--model", str(model), "--out", str(out)]) == 0
    for name in ("myocardium.nii.gz", "labels.nii.gz", "areas.tsv", "segment.json"):
        assert (out / name).is_file(), name
    reference = sitk.ReadImage(rows[2]["image"])
    myo = sitk.ReadImage(str(out / "myocardium.nii.gz"))
    assert myo.GetSize() == reference.GetSize() and myo.GetSpacing() == reference.GetSpacing()
    eval_table = tmp_path / "eval.tsv"
    eval_table.write_text(
        "case\tsubject\tvariant\tprediction\treference\n"
        f"c2\ts2\tcnn\t{out / 'labels.nii.gz'}\t{rows[2]['annotation']}\n"
        f"c2\ts2\tperfect\t{rows[2]['annotation']}\t{rows[2]['annotation']}\n"
    )
    assert main(["lv", "evaluate", "--table", str(eval_table), "--out", str(tmp_path / "eval")]) == 0
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    assert summary["variants"]["perfect"]["over_subjects"]["dice"]["mean"] == 1.0
    assert summary["variants"]["perfect"]["over_subjects"]["apd_epi"]["mean"] == 0.0
    ablation = (tmp_path / "eval" / "ablation.tsv").read_text()
    assert ablation.startswith("variant\tsubjects\tframes_one_empty\tdice") and "perfect" in ablation


def test_cli_errors_name_the_problem(cases, tmp_path, capsys, monkeypatch):
    root, rows, table, config = cases
    monkeypatch.chdir(tmp_path)  # no demo model under ./results here
    assert main(["lv", "segment", rows[0]["image"], "--out", str(tmp_path / "o")]) == 2
    assert "snakemake --cores 8" in capsys.readouterr().err
    single = tmp_path / "single.nii.gz"
    sitk.WriteImage(sitk.Image(64, 64, sitk.sitkFloat32), str(single))
    model = tmp_path / "m"
    save_model(model, __import__("medseg.lv.model_io", fromlist=["x"]).build_model(LVConfig(**TINY)), LVConfig(**TINY))
    assert main(["lv", "segment", str(single), "--model", str(model), "--out", str(tmp_path / "o")]) == 2
    assert "single.nii.gz" in capsys.readouterr().err
    one_phase = tmp_path / "one_phase.nii.gz"
    sitk.WriteImage(sitk.Image([64, 64, 4, 1], sitk.sitkFloat32), str(one_phase))
    assert main(["lv", "segment", str(one_phase), "--model", str(model), "--out", str(tmp_path / "o")]) == 2
    assert "1 phase" in capsys.readouterr().err
    ct = tmp_path / "ct.nii.gz"
    sitk.WriteImage(sitk.Image([64, 64, 40], sitk.sitkInt16) - 1000, str(ct))
    assert main(["lv", "segment", str(ct), "--model", str(model), "--out", str(tmp_path / "o")]) == 2
    assert "ct.nii.gz" in capsys.readouterr().err
    corrupt = tmp_path / "dicom"
    corrupt.mkdir()
    (corrupt / "1.dcm").write_bytes(b"DICM" + b"\0" * 50)
    assert main(["lv", "segment", str(corrupt), "--model", str(model), "--out", str(tmp_path / "o")]) == 2
    assert "dicom" in capsys.readouterr().err
    labels = read_labels(rows[0]["annotation"], read_volume(rows[0]["image"]))
    assert labels.shape[1] == 6


def test_training_sub_crops_windows_and_segments_the_whole_crop(cases):
    from medseg.lv.dataset import load_training_sequences
    from medseg.lv.train import BatchSampler

    _, rows, _, _ = cases
    config = LVConfig.from_config({"seed": 1, "lv": {**TINY, "train_crop": 16}})
    images, labels = BatchSampler(load_training_sequences(rows, config), config)()
    assert images.shape == (2, 4, 1, 16, 16) and labels.shape == (2, 4, 16, 16)
    model, _ = train(rows, config, progress=False)
    labels, roi = segment_volume(model, config, read_volume(rows[0]["image"]))
    assert roi.size == 32 and set(np.unique(labels)) <= {0, 1, 2}


def test_studies_with_fewer_phases_than_the_window_train_beside_longer_ones(cases, tmp_path):
    _, rows, _, _ = cases
    image, labels = write_case(tmp_path / "short", seed=7, slices=2, phases=3)
    mixed = [*rows, {"subject": "s9", "case": "short", "image": str(image), "annotation": str(labels)}]
    config = LVConfig.from_config({"seed": 1, "lv": {**TINY, "window": 5, "batch_size": 4}})
    model, _ = train(mixed, config, progress=False)
    labels_out, _ = segment_volume(model, config, read_volume(image))
    assert labels_out.shape[:2] == (2, 3)


@pytest.mark.parametrize("variant", ["multi_level", "cnn"])
def test_test_time_flips_make_the_prediction_mirror_equivariant(variant):
    from medseg.lv.model_io import build_model
    from medseg.lv.segment import predict_probabilities

    torch.manual_seed(0)
    model = build_model(LVConfig(**{**TINY, "variant": variant})).eval()
    crops = np.random.default_rng(1).random((2, 5, 32, 32)).astype(np.float32)
    plain = predict_probabilities(model, crops, context=2)
    assert torch.equal(plain, predict_probabilities(model, crops, context=2, flips=0))
    mirrored = predict_probabilities(model, crops[..., ::-1].copy(), context=2)
    one = predict_probabilities(model, crops, context=2, flips=1)
    torch.testing.assert_close(one, (plain + mirrored.flip(-1)) / 2)
    assert not torch.allclose(one, plain, atol=1e-4)  # the untrained network is not symmetric
    torch.testing.assert_close(one.sum(dim=2), torch.ones_like(one[:, :, 0]))
    for axes in ((-1,), (-2,), (-2, -1)):
        flipped = np.ascontiguousarray(np.flip(crops, axis=axes))
        torch.testing.assert_close(
            predict_probabilities(model, flipped, context=2, flips=3),
            predict_probabilities(model, crops, context=2, flips=3).flip(axes),
            rtol=1e-5, atol=1e-6,
        )


def test_parallel_forward_passes_give_the_same_probabilities_and_restore_threads():
    from medseg.lv.model_io import build_model
    from medseg.lv.segment import predict_probabilities

    torch.manual_seed(0)
    model = build_model(LVConfig(**TINY)).eval()
    crops = np.random.default_rng(2).random((3, 5, 32, 32)).astype(np.float32)
    threads = torch.get_num_threads()
    serial = predict_probabilities(model, crops, context=2, max_frames=5, flips=1)
    parallel = predict_probabilities(model, crops, context=2, max_frames=5, flips=1, workers=3)
    assert parallel.shape == (3, 5, 3, 32, 32)
    torch.testing.assert_close(parallel, serial, rtol=0, atol=1e-6)
    assert torch.get_num_threads() == threads


def test_segment_cli_takes_test_flips_from_the_command_line(cases, tmp_path):
    root, rows, table, config = cases
    model = tmp_path / "model"
    assert main(["lv", "train", "--cases", str(table), "--config", str(config), "--out", str(model),
                 "--variant", "cnn", "--threads", "1", "--no-progress"]) == 0
    out = tmp_path / "seg"
    assert main(["lv", "segment", rows[2]["image"], "--model", str(model), "--out", str(out), "--test-flips", "3"]) == 0
    info = json.loads((out / "segment.json").read_text())
    assert info["inference"]["test_flips"] == 3


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without a GPU")
def test_a_gpu_that_is_not_there_is_named_and_nothing_is_written(cases, tmp_path, capsys):
    root, rows, table, config = cases
    model = tmp_path / "model"
    assert main(["lv", "train", "--cases", str(table), "--config", str(config), "--out", str(model),
                 "--device", "cuda", "--no-progress"]) == 2
    assert "sees no CUDA GPU" in capsys.readouterr().err
    assert not model.exists() and not list(tmp_path.iterdir())
    save_model(model, __import__("medseg.lv.model_io", fromlist=["x"]).build_model(LVConfig(**TINY)), LVConfig(**TINY))
    out = tmp_path / "seg"
    assert main(["lv", "segment", rows[0]["image"], "--model", str(model), "--out", str(out), "--device", "cuda:0"]) == 2
    assert "'cuda:0' asked for, but torch" in capsys.readouterr().err
    assert not out.exists()
    assert main(["lv", "segment", rows[0]["image"], "--model", str(model), "--out", str(out), "--device", "gpu"]) == 2
    assert "auto, cpu, cuda or cuda:N" in capsys.readouterr().err


def test_mixed_precision_is_inert_on_cpu_and_the_device_is_recorded(cases, tmp_path):
    _, rows, _, _ = cases
    config = LVConfig.from_config({"seed": 5, "lv": {**TINY, "device": "cpu"}})
    plain, summary = train(rows, config, progress=False)
    mixed, _ = train(rows, config.replace(mixed_precision=True), progress=False)
    for (name, a), b in zip(plain.state_dict().items(), mixed.state_dict().values()):
        assert torch.equal(a, b), name
    assert summary["device"] == "cpu"
    save_model(tmp_path / "m", plain, config, summary)
    out = tmp_path / "seg"
    assert main(["lv", "segment", rows[0]["image"], "--model", str(tmp_path / "m"), "--out", str(out), "--device", "cpu"]) == 0
    assert json.loads((out / "segment.json").read_text())["inference"]["device"] == "cpu"
