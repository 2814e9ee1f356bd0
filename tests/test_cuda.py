"""The CUDA path: training and inference on a GPU, mixed precision, models that move between
GPU and CPU. Skipped where torch sees no GPU (CI); `scripts/gpu_check.sh` runs it on one."""

import json

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from test_ears_synth import synthetic_head
from test_ears_train import SMOKE
from test_ears_train import cases as ear_cases  # noqa: F401 - fixture
from test_lv_pipeline import TINY
from test_lv_pipeline import cases as lv_cases  # noqa: F401 - fixture

from medseg.cli.main import main
from medseg.ears.network import predict_volume
from medseg.ears.train import train_network
from medseg.lv.config import LVConfig
from medseg.lv.dataset import study_roi
from medseg.lv.study import read_volume
from medseg.lv.model_io import load_model
from medseg.lv.network import fold_batchnorm
from medseg.lv.roi import normalise_intensity
from medseg.lv.segment import predict_probabilities, segment_volume
from medseg.lv.train import train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x.cpu(), y.cpu()) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def _largest_difference(a: torch.nn.Module, b: torch.nn.Module) -> float:
    return max(float((x.cpu().float() - y.cpu().float()).abs().max()) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_lv_trains_on_the_gpu_repeatably_and_its_model_runs_on_cpu(lv_cases, tmp_path):  # noqa: F811
    """GPU training of the LV network repeats up to float rounding, not bit for bit (torch
    lists the backward of bilinear upsampling and the 2D NLL loss on CUDA as
    non-deterministic). Two runs with one seed must still be far closer to each other than
    to a run with another seed."""
    _, rows, _, _ = lv_cases
    config = LVConfig.from_config({"seed": 5, "lv": {**TINY, "device": "cuda", "iterations": 20}})
    model, summary = train(rows, config, out_dir=tmp_path / "gpu", progress=False)
    again, _ = train(rows, config, progress=False)
    other_seed, _ = train(rows, config.replace(seed=6), progress=False)
    assert summary["device"].startswith("cuda:0 (") and summary["device"].endswith(", float32)")
    assert next(model.parameters()).is_cuda
    rounding = _largest_difference(model, again)
    assert rounding < 1e-2 and rounding * 20 < _largest_difference(model, other_seed), rounding
    loaded, loaded_config, manifest = load_model(tmp_path / "gpu")
    assert not next(loaded.parameters()).is_cuda and manifest["training"]["device"] == summary["device"]
    volume = read_volume(rows[0]["image"])
    roi = study_roi(volume, loaded_config)
    crops = np.stack([normalise_intensity(roi.crop(frames)) for frames in volume.frames])
    folded = fold_batchnorm(loaded.eval())
    on_cpu = predict_probabilities(folded, crops, loaded_config.context)
    on_gpu = predict_probabilities(folded.cuda(), crops, loaded_config.context)
    assert not on_gpu.is_cuda and on_gpu.dtype == torch.float32
    assert float((on_cpu - on_gpu).abs().max()) < 2e-3
    labels_cpu, _ = segment_volume(loaded, loaded_config.replace(device="cpu"), volume, roi)
    labels_gpu, _ = segment_volume(loaded, loaded_config.replace(device="cuda"), volume, roi)
    assert np.mean(labels_cpu == labels_gpu) > 0.999


def test_lv_mixed_precision_trains_and_segments(lv_cases, tmp_path):  # noqa: F811
    _, rows, _, _ = lv_cases
    config = LVConfig.from_config({"seed": 5, "lv": {**TINY, "device": "cuda", "mixed_precision": True, "iterations": 20}})
    model, summary = train(rows, config, out_dir=tmp_path / "amp", progress=False)
    precision = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    assert summary["device"].endswith(f", {precision})")
    assert np.isfinite(summary["final_loss"]) and summary["final_loss"] < summary["first_loss"]
    assert all(torch.isfinite(p).all() for p in model.parameters())
    out = tmp_path / "seg"
    assert main(["lv", "segment", rows[2]["image"], "--model", str(tmp_path / "amp"), "--out", str(out), "--device", "cuda"]) == 0
    info = json.loads((out / "segment.json").read_text())
    assert info["inference"]["device"].endswith(f", {precision})")
    assert sitk.ReadImage(str(out / "myocardium.nii.gz")).GetSize() == sitk.ReadImage(rows[2]["image"]).GetSize()


def test_ears_train_on_the_gpu_repeatably_and_match_cpu_inference(ear_cases):  # noqa: F811
    config = SMOKE.replace(device="cuda")
    model, history = train_network(ear_cases, config, progress=False)
    again, _ = train_network(ear_cases, config, progress=False)
    assert history["device"].startswith("cuda:0 (") and history["mining_rounds"]
    assert _same_weights(model, again), "two GPU trainings with one seed differ"
    volume = ear_cases[0].prep.network_input()
    on_gpu = predict_volume(model, volume)
    on_cpu = predict_volume(model.cpu(), volume)
    assert on_gpu.dtype == np.float32 and on_gpu.shape == on_cpu.shape
    assert float(np.abs(on_gpu - on_cpu).max()) < 2e-3


def test_ears_mixed_precision_trains(ear_cases):  # noqa: F811
    model, history = train_network(ear_cases, SMOKE.replace(device="cuda", mixed_precision=True), progress=False)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    losses = [value for _, value in history["loss"]]
    assert np.all(np.isfinite(losses))
    heatmaps = predict_volume(model, ear_cases[0].prep.network_input(), mixed_precision=True)
    assert heatmaps.dtype == np.float32 and np.isfinite(heatmaps).all()


def test_ears_detect_cli_on_the_gpu_agrees_with_cpu(ear_cases, tmp_path):  # noqa: F811
    from medseg.ears.model_io import save_model
    from medseg.ears.train import fit

    trained = fit(ear_cases, SMOKE.replace(device="cuda", iterations=30), progress=False)
    assert trained.summary["device"].startswith("cuda:0")
    save_model(tmp_path / "model", trained, variant="full")
    image, _ = synthetic_head(0, ears=("left", "right"), spacing=(4.0, 4.0, 4.0))
    sitk.WriteImage(image, str(tmp_path / "ct.nii.gz"))
    docs = {}
    for device in ("cpu", "cuda"):
        out = tmp_path / f"pred_{device}"
        assert main(["-q", "ears", "detect", str(tmp_path / "ct.nii.gz"), "--model", str(tmp_path / "model"),
                     "--out", str(out), "--device", device]) == 0
        docs[device] = json.loads((out / "ears.json").read_text())
    assert docs["cpu"]["device"] == "cpu" and docs["cuda"]["device"].startswith("cuda:0")
    for side in ("left", "right"):
        cpu, gpu = docs["cpu"]["ears"][side], docs["cuda"]["ears"][side]
        assert cpu["present"] == gpu["present"] and abs(cpu["score"] - gpu["score"]) < 2e-3
        if cpu["present"]:
            assert np.allclose(cpu["position_lps"], gpu["position_lps"], atol=0.5)
