"""Atomic writes: a failed writer leaves nothing, a killed writer's leftovers are swept."""

import subprocess
import sys

import pytest

from medseg.io.atomic import atomic_dir, atomic_path, remove_stale_temporaries, staged_files, write_json


def test_failed_write_leaves_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.json"
    write_json(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("writer died")
    assert target.read_text().strip().startswith("{")
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_atomic_dir_replaces_whole_folder(tmp_path):
    target = tmp_path / "model"
    with atomic_dir(target, owned="b") as tmp:
        (tmp / "a").write_text("1")
        (tmp / "b").write_text("1")
    with atomic_dir(target, owned="b") as tmp:
        (tmp / "b").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["b"]
    with pytest.raises(ValueError):
        with atomic_dir(target, owned="b") as tmp:
            (tmp / "c").write_text("3")
            raise ValueError
    assert sorted(p.name for p in target.iterdir()) == ["b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_staged_files_move_in_together_and_a_failed_run_changes_nothing(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "notes.txt").write_text("the user's own file")
    with staged_files(target, last=("record.json",)) as stage:
        assert stage.parent == target and stage.name.startswith(".")
        (stage / "image.nii.gz").write_text("run 1")
        (stage / "record.json").write_text("run 1")
        assert not (target / "image.nii.gz").exists()
    assert sorted(p.name for p in target.iterdir()) == ["image.nii.gz", "notes.txt", "record.json"]
    with pytest.raises(RuntimeError):
        with staged_files(target, last=("record.json",)) as stage:
            (stage / "image.nii.gz").write_text("run 2")
            raise RuntimeError("killed before the record was written")
    assert {p.name: p.read_text() for p in target.iterdir()} == {
        "image.nii.gz": "run 1", "notes.txt": "the user's own file", "record.json": "run 1"}


def test_leftovers_of_killed_writers_are_swept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    stale_dir = tmp_path / f".model.tmp-{dead_pid}-abc"
    stale_dir.mkdir()
    (stale_dir / "model.pt").write_bytes(b"partial")
    stale_file = tmp_path / f".summary.json.tmp-{dead_pid}-xyz.json"
    stale_file.write_text("{")
    live = tmp_path / f".model.tmp-1-keep"  # pid 1 is alive: not ours to remove
    live.mkdir()
    with atomic_dir(tmp_path / "model") as tmp:
        (tmp / "model.pt").write_bytes(b"whole")
    assert not stale_dir.exists() and live.exists()
    assert remove_stale_temporaries(tmp_path / "summary.json") == [stale_file]
    assert (tmp_path / "model" / "model.pt").read_bytes() == b"whole"


def test_json_writes_undefined_numbers_as_null(tmp_path):
    import json

    import numpy as np

    from medseg.io.atomic import write_json

    path = write_json(tmp_path / "s.json", {"dice": float("nan"), "hd": np.float32("inf"), "n": [1.5, np.nan], "ok": np.float64(2.0)})
    assert path.read_text().count("null") == 3 and "NaN" not in path.read_text()
    assert json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"bare {c}")) == {"dice": None, "hd": None, "n": [1.5, None], "ok": 2.0}


def test_a_folder_with_other_files_or_the_working_folder_is_never_replaced(tmp_path, monkeypatch):
    from medseg.errors import OutputFolderError

    work = tmp_path / "mywork"
    work.mkdir()
    (work / "notes.txt").write_text("keep me")
    with pytest.raises(OutputFolderError, match=r"mywork already holds files .*\(it has no manifest\.json\): notes\.txt"):
        with atomic_dir(work, owned="manifest.json") as tmp:
            (tmp / "manifest.json").write_text("{}")
    assert (work / "notes.txt").read_text() == "keep me"

    earlier = tmp_path / "model"
    earlier.mkdir()
    (earlier / "manifest.json").write_text("old")
    with atomic_dir(earlier, owned="manifest.json") as tmp:
        (tmp / "manifest.json").write_text("new")
    assert (earlier / "manifest.json").read_text() == "new"

    monkeypatch.chdir(earlier)
    with pytest.raises(OutputFolderError, match="working folder"):
        with atomic_dir(".", owned="manifest.json"):
            pass
    assert (earlier / "manifest.json").read_text() == "new"
