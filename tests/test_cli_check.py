"""Tests of ``medseg check``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from medseg.cli.main import main


def _write(path: Path, array: np.ndarray, spacing: tuple[float, float, float] = (0.8, 0.8, 1.0)) -> Path:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    sitk.WriteImage(image, str(path))
    return path


def _head_ct() -> np.ndarray:
    rng = np.random.default_rng(0)
    z, y, x = np.indices((40, 64, 64))
    r = np.sqrt(((z - 20) / 18) ** 2 + ((y - 32) / 27) ** 2 + ((x - 32) / 24) ** 2)
    volume = np.where(r < 0.85, 35.0, np.where(r < 0.95, 1200.0, np.where(r < 1.0, -90.0, -1000.0)))
    return (volume + rng.normal(0, 10, volume.shape)).astype(np.float32)


def test_accepted_image_exits_0_and_prints_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path / "ct.nii.gz", _head_ct())
    out = tmp_path / "deep" / "check.json"
    assert main(["check", str(path), "--modality", "ct", "--out", str(out)]) == 0
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["status"] == "accepted" and verdict["codes"] == []
    assert verdict["modality"] == "ct" and verdict["measurements"]["size"] == [64, 64, 40]
    assert json.loads(out.read_text()) == verdict


def test_rejected_image_exits_1_with_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path / "offset.nii.gz", _head_ct() + 1024)
    assert main(["check", str(path), "--modality", "ct"]) == 1
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["status"] == "rejected" and verdict["codes"] == ["ct_not_hu"]
    assert main(["check", str(path), "--modality", "ct", "--allow-offset"]) == 0
    assert json.loads(capsys.readouterr().out)["measurements"]["hu_offset"] == 1024


def test_bad_file_is_rejected_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    garbage = tmp_path / "broken.nii.gz"
    garbage.write_bytes(b"\x1f\x8b\x08 truncated")
    assert main(["check", str(garbage), "--modality", "mr"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["codes"] == ["unreadable"]
    assert "Traceback" not in captured.err
    assert main(["check", str(tmp_path / "absent"), "--modality", "cine"]) == 1
    assert "absent" in json.loads(capsys.readouterr().out)["reasons"][0]


@pytest.mark.parametrize("argv", [["check", "x.nii"], ["check", "x.nii", "--modality", "pet"], ["check"]])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_help_has_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    text = capsys.readouterr().out
    assert "medseg check ct.nii.gz --modality ct" in text and "exit status" in text
