"""Tests of medseg.provenance."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from medseg import __version__
from medseg.provenance import collect_provenance, config_hash, file_sha256, git_revision, stamp


def test_config_hash_is_stable_under_key_order_and_changes_with_values() -> None:
    a = {"seed": 1, "ears": {"lr": 0.001, "epochs": 10}, "tasks": ["ears", "lv"]}
    b = {"tasks": ["ears", "lv"], "ears": {"epochs": 10, "lr": 0.001}, "seed": 1}
    assert config_hash(a) == config_hash(b)
    assert len(config_hash(a)) == 64
    assert config_hash(a) != config_hash({**a, "seed": 2})
    assert config_hash(a) != config_hash({**a, "tasks": ["lv", "ears"]})
    assert config_hash({"p": Path("x"), "n": np.int64(3)}) == config_hash({"p": "x", "n": 3})


def test_collect_provenance_fields() -> None:
    config = {"seed": 5}
    info = collect_provenance(config, seed=5)
    assert info["medseg_version"] == __version__
    assert info["config_sha256"] == config_hash(config)
    assert info["seed"] == 5
    assert set(info["packages"]) >= {"torch", "monai", "SimpleITK", "numpy", "snakemake", "scikit-image", "pydicom"}
    assert info["packages"]["numpy"] == np.__version__
    assert info["cpu_count"] >= 1 and info["python"].count(".") == 2
    assert set(info["cpu"]) == {"model", "torch_capability", "isa_limits"}
    assert info["created_utc"].endswith("+00:00")
    assert isinstance(info["git_revision"], str) and info["git_dirty"] in (True, False, None)
    json.dumps(info)
    assert collect_provenance()["config_sha256"] is None


def test_git_revision_outside_a_checkout(tmp_path: Path) -> None:
    assert git_revision(tmp_path) == {"revision": "unknown", "dirty": None}


def test_stamp_adds_provenance_without_mutating() -> None:
    data = {"dice": 0.9}
    stamped = stamp(data, {"seed": 1})
    assert stamped == {"dice": 0.9, "provenance": {"seed": 1}}
    assert data == {"dice": 0.9}


def test_file_sha256(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    payload = bytes(range(256)) * 5000
    path.write_bytes(payload)
    assert file_sha256(path, chunk_size=1000) == hashlib.sha256(payload).hexdigest()


def test_cpu_description_names_the_kernel_level_and_its_limits(monkeypatch) -> None:
    """Trained weights differ between CPU kinds, so a result must say which kind made it."""
    import torch

    from medseg.provenance import cpu_description

    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)
    cpu = cpu_description()
    assert cpu["torch_capability"] == torch.backends.cpu.get_cpu_capability()
    assert cpu["isa_limits"] == {"ONEDNN_MAX_CPU_ISA": "AVX2"}
    assert cpu["model"] is None or isinstance(cpu["model"], str)


def test_settings_hash_covers_what_can_change_a_result(tmp_path):
    from medseg.provenance import path_digest, settings_hash

    settings = {"depth": 20, "variant": "multi_level", "threads": 2, "device": "auto", "seed": 1, "checkpoint_every": 25}
    assert settings_hash(settings) == settings_hash({**settings, "checkpoint_every": 5})
    assert settings_hash(settings) != settings_hash({**settings, "threads": 8})  # float sums change order
    assert settings_hash(settings) != settings_hash({**settings, "depth": 56})
    info = collect_provenance(seed=1, settings=settings)
    assert info["config_sha256"] is None and info["settings_sha256"] == settings_hash(settings)

    series = tmp_path / "series"
    series.mkdir()
    (series / "IM-1.dcm").write_bytes(b"one")
    before = path_digest(series)
    (series / "IM-1.dcm").write_bytes(b"two")
    assert path_digest(series) != before and path_digest(tmp_path / "gone") == str(tmp_path / "gone")
