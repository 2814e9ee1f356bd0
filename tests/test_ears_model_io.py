import json

import pytest
import torch

from medseg.ears.config import EarsConfig
from medseg.ears.model_io import load_model, save_model
from medseg.ears.network import build_network
from medseg.ears.shape_prior import ShapePrior
from medseg.ears.train import TrainedEars
from medseg.errors import ModelError


@pytest.fixture()
def model_dir(tmp_path):
    config = EarsConfig(channels=(4, 8), patch_size=32, seed=5)
    torch.manual_seed(0)
    trained = TrainedEars(
        build_network(config),
        config,
        ShapePrior(100.0, 5.0, (1.0, 0.0, 0.0), 20.0, 30.0, 5.0, 3.0, 4, 8),
        {"threshold": 0.35, "threshold_no_shape": 0.5},
        {"cases": 3},
    )
    return save_model(tmp_path / "model", trained, variant="no_fps"), trained


def test_roundtrip(model_dir):
    path, trained = model_dir
    assert {p.name for p in path.iterdir()} == {"model.pt", "manifest.json", "shape_prior.json", "threshold.json"}
    model = load_model(path)
    assert model.config == trained.config
    assert model.threshold(True) == 0.35 and model.threshold(False) == 0.5
    assert model.shape_prior == trained.shape_prior
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["task"] == "ears" and manifest["variant"] == "no_fps"
    assert set(manifest["files"]) == {"model.pt", "shape_prior.json", "threshold.json"}
    assert "torch" in manifest["provenance"]["packages"]
    for key, value in trained.network.state_dict().items():
        assert torch.equal(model.network.state_dict()[key], value)


def test_model_saved_before_mirror_averaging_keeps_plain_decoding(model_dir):
    """Its threshold was tuned without the mirrored view, so loading must not switch it on."""
    path, trained = model_dir
    assert trained.config.test_flip_lr and load_model(path).config.test_flip_lr
    manifest = json.loads((path / "manifest.json").read_text())
    del manifest["config"]["ears"]["test_flip_lr"]
    del manifest["manifest_sha256"]  # such a model was written before manifests checked themselves
    (path / "manifest.json").write_text(json.dumps(manifest))
    assert load_model(path).config.test_flip_lr is False


def test_an_edited_setting_in_the_manifest_is_refused(model_dir):
    path, _ = model_dir
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["config"]["ears"]["candidate_min_score"] = 0.0
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="manifest was edited after the model was written"):
        load_model(path)


def test_tampered_file_is_refused(model_dir):
    path, _ = model_dir
    (path / "threshold.json").write_text('{"threshold": 0.01}')
    with pytest.raises(ModelError, match="threshold.json does not match its checksum"):
        load_model(path)


def test_wrong_task_and_missing_folder(model_dir, tmp_path):
    path, _ = model_dir
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["task"] = "lv"
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="for task 'lv', not 'ears'"):
        load_model(path)
    with pytest.raises(ModelError, match="no such model folder"):
        load_model(tmp_path / "absent")
    (path / "model.pt").unlink()
    manifest["task"] = "ears"
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="model.pt is missing"):
        load_model(path)
