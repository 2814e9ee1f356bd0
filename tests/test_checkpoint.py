"""Resumable training: a stopped or killed run, run again, ends exactly where an unbroken one does."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from test_ears_synth import synthetic_head, write_training_table
from test_ears_train import SMOKE
from test_lv_pipeline import TINY
from test_lv_pipeline import cases as lv_cases  # noqa: F401 - fixture

from medseg.checkpoint import INFO_FILE, STATE_FILE, ResumableRun, TrainingInterrupted, fingerprint, resume_folder
from medseg.ears.train import prepare_case, train_network
from medseg.lv.config import LVConfig
from medseg.lv.model_io import load_model
from medseg.lv.train import train as train_lv


class StopAt(ResumableRun):
    """A run that receives a stop request after a given step, as SIGTERM would deliver it."""

    def __init__(self, folder, run_fingerprint, every_steps, stop_after):
        super().__init__(folder, run_fingerprint, every_steps)
        self.stop_after = stop_after

    def due(self, step):
        if step == self.stop_after:
            self.stop_requested = "SIGTERM"
        return super().due(step)


def assert_same_weights(a, b):
    for (name, x), y in zip(a.items(), b.values()):
        assert torch.equal(x, y), name


@pytest.fixture(scope="module")
def ear_cases():
    kinds = [("left", "right"), ("left",), ("right", "left")]
    return [prepare_case(f"S{i}", f"C{i}", *synthetic_head(i, ears=k, spacing=(4.0, 4.0, 4.0)), SMOKE) for i, k in enumerate(kinds)]


@pytest.mark.parametrize(
    "device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"))]
)
def test_ears_stop_and_resume_matches_unbroken_run(ear_cases, tmp_path, device):
    torch.set_num_threads(1)
    config = SMOKE.replace(device=device)
    unbroken, history = train_network(ear_cases, config, progress=False)
    folder = tmp_path / "model.resume"
    with pytest.raises(TrainingInterrupted, match="run the same command again"):
        train_network(ear_cases, config, progress=False, run=StopAt(folder, "fp", 0, stop_after=6))
    assert json.loads((folder / INFO_FILE).read_text())["step"] == 6
    resumed, resumed_history = train_network(ear_cases, config, progress=False, run=ResumableRun(folder, "fp", 0))
    assert_same_weights(unbroken.state_dict(), resumed.state_dict())
    assert resumed_history["mining_rounds"] == history["mining_rounds"]
    assert resumed_history["patches"] == history["patches"]
    assert resumed_history["resumed_at"] == [7]


def test_checkpoint_of_another_run_or_tampered_is_not_resumed(ear_cases, tmp_path, caplog):
    folder = tmp_path / "model.resume"
    with pytest.raises(TrainingInterrupted):
        train_network(ear_cases, SMOKE, progress=False, run=StopAt(folder, "fp", 0, stop_after=3))
    assert ResumableRun(folder, "another", 0).restore() is None
    assert "another config, data or code version" in caplog.text
    assert ResumableRun(folder, "fp", 0).restore()["step"] == 3
    with open(folder / STATE_FILE, "r+b") as handle:
        handle.seek(100)
        handle.write(b"\x00garbage\x00")
    assert ResumableRun(folder, "fp", 0).restore() is None
    assert "does not match its checksum" in caplog.text
    (folder / INFO_FILE).write_text("{not json")
    assert ResumableRun(folder, "fp", 0).restore() is None
    assert "cannot be read" in caplog.text


def test_periodic_checkpoints_and_finish(tmp_path):
    run = ResumableRun(tmp_path / "r", fingerprint({"a": 1}), every_steps=5)
    assert [s for s in range(12) if run.due(s)] == [4, 9]
    run.save(4, {"weights": torch.ones(3)})
    assert run.restore()["weights"].sum() == 3
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})
    inner = run.child("inner0")
    assert inner.folder == run.folder / "inner0" and inner.every_steps == 5
    assert inner.fingerprint not in (run.fingerprint, run.child("inner1").fingerprint)
    inner.save(2, {"weights": torch.zeros(2)})
    assert run.restore()["step"] == 4 and inner.restore()["step"] == 2
    run.finish()
    assert not run.folder.exists()


@pytest.mark.parametrize("scar_prob", [0.0, 0.5])
def test_lv_stop_and_resume_matches_unbroken_run(lv_cases, tmp_path, scar_prob):  # noqa: F811
    _, rows, _, _ = lv_cases
    config = LVConfig.from_config({"seed": 5, "lv": {**TINY, "iterations": 8, "checkpoint_every": 3, "aug_scar_prob": scar_prob}})
    unbroken, summary = train_lv(rows, config, out_dir=tmp_path / "a", progress=False)
    assert summary["resumed_at_steps"] == []
    assert not resume_folder(tmp_path / "a").exists()

    from medseg.lv import train as lv_train

    original = lv_train.ResumableRun
    lv_train.ResumableRun = lambda folder, fp, every: StopAt(folder, fp, every, stop_after=4)
    try:
        with pytest.raises(TrainingInterrupted):
            train_lv(rows, config, out_dir=tmp_path / "b", progress=False)
    finally:
        lv_train.ResumableRun = original
    assert not (tmp_path / "b").exists() and resume_folder(tmp_path / "b").exists()
    resumed, summary = train_lv(rows, config, out_dir=tmp_path / "b", progress=False)
    assert summary["resumed_at_steps"] == [5]
    assert_same_weights(unbroken.state_dict(), resumed.state_dict())
    assert_same_weights(load_model(tmp_path / "a")[0].state_dict(), load_model(tmp_path / "b")[0].state_dict())
    assert not resume_folder(tmp_path / "b").exists()


def test_lv_fingerprint_ignores_inference_only_settings(lv_cases):  # noqa: F811
    from medseg.lv.config import INFERENCE_ONLY_SETTINGS
    from medseg.lv.train import training_fingerprint

    _, rows, _, _ = lv_cases
    base = LVConfig.from_config({"seed": 5, "lv": TINY})
    reference = training_fingerprint(rows, base, None)
    inference_changes = {"context": 1, "test_flips": 3, "postprocess": False, "max_wall_mm": 9.0, "max_offset_mm": None}
    assert set(inference_changes) == set(INFERENCE_ONLY_SETTINGS)
    for name, value in inference_changes.items():
        assert training_fingerprint(rows, base.replace(**{name: value}), None) == reference, name
    for name, value in {"checkpoint_every": 7, "device": "cpu"}.items():
        assert training_fingerprint(rows, base.replace(**{name: value}), None) == reference, name
    changes = {"iterations": 9, "bound_cavity_only": False, "aug_prob": 0.9, "mixed_precision": True, "threads": 3}
    for name, value in changes.items():  # threads: float sums change order, so the weights differ
        assert training_fingerprint(rows, base.replace(**{name: value}), None) != reference, name


# --- the CLI under real signals -----------------------------------------------------------

SLOW_SMOKE = {
    "spacing_mm": 4.0, "channels": [4, 8, 16], "patch_size": 24, "batch_size": 2, "iterations": 60,
    "hard_negative_start": 10, "hard_negative_every": 20, "hard_negative_min_response": 0.0,
    "threads": 1, "checkpoint_every": 5,
}


@pytest.fixture(scope="module")
def ears_table(tmp_path_factory):
    root = tmp_path_factory.mktemp("ears_cli")
    write_training_table(root, list(enumerate([("left", "right"), ("left",), ("right", "left")])), (4.0, 4.0, 4.0))
    (root / "config.yaml").write_text(yaml.safe_dump({"seed": 11, "ears": SLOW_SMOKE}))
    return root


def _train_command(root: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "medseg", "ears", "train", "--cases", str(root / "cases.tsv"),
            "--config", str(root / "config.yaml"), "--out", str(out)]


def _weights(folder: Path) -> dict:
    return torch.load(folder / "model.pt", map_location="cpu", weights_only=True)


def _kill_after_first_checkpoint(command: list[str], out: Path, sig: int, run: str = "") -> subprocess.CompletedProcess:
    """Send ``sig`` once the run (``""``: the model; ``inner0``: the first inner model) has a checkpoint."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    info = resume_folder(out) / run / INFO_FILE
    deadline = time.monotonic() + 300
    while not info.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "training finished before it could be stopped"
    process.send_signal(sig)
    stdout, stderr = process.communicate(timeout=300)
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


@pytest.fixture(scope="module")
def ears_reference(ears_table, tmp_path_factory):
    reference = tmp_path_factory.mktemp("ears_reference") / "model"
    done = subprocess.run(_train_command(ears_table, reference), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "inner model 3 of 3" in done.stderr  # the threshold is tuned on inner models' predictions
    return reference


@pytest.mark.slow
@pytest.mark.parametrize(
    "sig, run",
    [(signal.SIGTERM, ""), (signal.SIGKILL, ""), (signal.SIGTERM, "inner0")],
    ids=["SIGTERM", "SIGKILL", "SIGTERM-inner-model"],
)
def test_cli_training_killed_then_rerun_matches_unbroken_run(ears_table, ears_reference, tmp_path, sig, run):
    reference = ears_reference
    out = tmp_path / "model"
    killed = _kill_after_first_checkpoint(_train_command(ears_table, out), out, sig, run)
    if sig == signal.SIGTERM:
        assert killed.returncode == 143, killed.stderr
        assert "run the same command again to resume" in killed.stderr
        assert "Traceback" not in killed.stderr
    else:
        assert killed.returncode == -signal.SIGKILL
    assert not out.exists()
    again = subprocess.run(_train_command(ears_table, out), capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    resumed = [line for line in again.stderr.splitlines() if "resuming from" in line]
    assert resumed, again.stderr
    if run:
        assert any(f"{run} at step" in line for line in resumed), resumed  # the inner model went on from its checkpoint
    assert_same_weights(_weights(reference), _weights(out))
    assert json.loads((reference / "threshold.json").read_text()) == json.loads((out / "threshold.json").read_text())
    assert not resume_folder(out).exists()
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    assert np.isfinite(json.loads((out / "manifest.json").read_text())["training"]["final_loss"])


def test_lv_training_time_says_when_it_spans_a_stop():
    from medseg.cli.lv import training_time

    assert training_time({"seconds": 12.34, "resumed_at_steps": []}) == "12.3 s"
    assert training_time({"seconds": 1707.0, "resumed_at_steps": [251]}) == "1707.0 s of training over 2 runs (resumed at step 251)"


def test_a_stop_exits_with_the_shells_code_for_its_signal():
    from medseg.checkpoint import TrainingInterrupted

    assert TrainingInterrupted("stopped", "SIGINT").exit_code == 130
    assert TrainingInterrupted("stopped", "SIGTERM").exit_code == 143
