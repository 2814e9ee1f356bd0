"""Model manifests: written with every file's checksum, verified before anything is loaded."""

import json

import pytest

from medseg.errors import ModelError
from medseg.model_manifest import MANIFEST, verify_manifest, write_manifest


@pytest.fixture()
def folder(tmp_path):
    (tmp_path / "model.pt").write_bytes(b"weights")
    (tmp_path / "threshold.json").write_text("{}")
    write_manifest(tmp_path, "ears", {"architecture": {"name": "x"}})
    return tmp_path


def test_round_trip_lists_every_file(folder):
    manifest = verify_manifest(folder, "ears", required=["model.pt"])
    assert set(manifest["files"]) == {"model.pt", "threshold.json"}
    assert manifest["architecture"] == {"name": "x"}


def _edit(folder, change) -> None:
    manifest = json.loads((folder / MANIFEST).read_text())
    change(manifest)
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2))


def test_a_manifest_from_before_self_checking_is_still_read(folder, caplog):
    _edit(folder, lambda m: m.pop("manifest_sha256"))
    assert verify_manifest(folder, "ears")["architecture"] == {"name": "x"}
    assert "taken on trust" in caplog.text


def test_numbers_and_nan_survive_the_self_check(tmp_path):
    import numpy as np

    (tmp_path / "model.pt").write_bytes(b"w")
    write_manifest(tmp_path, "lv", {"training": {"loss": np.float32(0.1234567), "dice": float("nan"), "steps": np.int64(3)}})
    assert verify_manifest(tmp_path, "lv")["training"]["dice"] is None


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda f: (f / "model.pt").write_bytes(b"weightz"), "does not match its checksum"),
        (lambda f: (f / "model.pt").unlink(), "model.pt is missing"),
        (lambda f: (f / MANIFEST).write_text("{"), "unreadable manifest"),
        (lambda f: (f / MANIFEST).unlink(), "not a medseg model folder"),
        (lambda f: (f / MANIFEST).write_text(json.dumps({"task": "ears", "files": {"../model.pt": "0"}})), "is missing"),
        (lambda f: _edit(f, lambda m: m["architecture"].update(name="y")), "manifest was edited after the model was written"),
    ],
    ids=["tampered", "missing_file", "bad_json", "no_manifest", "path_escape", "edited_settings"],
)
def test_damage_is_named(folder, damage, message):
    damage(folder)
    with pytest.raises(ModelError, match=message):
        verify_manifest(folder, "ears")


def test_wrong_task_and_missing_requirement(folder, tmp_path):
    with pytest.raises(ModelError, match="for task 'ears', not 'lv'"):
        verify_manifest(folder, "lv")
    with pytest.raises(ModelError, match="does not list shape_prior.json"):
        verify_manifest(folder, "ears", required=["shape_prior.json"])
    with pytest.raises(ModelError, match="no such model folder"):
        verify_manifest(tmp_path / "absent", "ears")
