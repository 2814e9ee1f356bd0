"""Atomic file output: write to a temporary sibling, then rename into place.

A job that fails part-way leaves no half-written file behind, only the old one (if any).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from medseg.errors import OutputFolderError


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Remove temporaries of ``path`` left by writers that were killed (their process is gone).

    Returns:
        The paths removed.
    """
    removed = []
    prefix = f".{path.name}.tmp-"
    if not path.parent.is_dir():
        return removed
    for candidate in path.parent.iterdir():
        if not candidate.name.startswith(prefix):
            continue
        pid = candidate.name[len(prefix) :].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _process_alive(int(pid)):
            if candidate.is_dir() and not candidate.is_symlink():
                shutil.rmtree(candidate, ignore_errors=True)
            else:
                candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed


def _temporary_sibling(path: Path, is_dir: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    # Keep the full suffix (".nii.gz") so that writers that choose a format by name work.
    name = f".{path.name}.tmp-{os.getpid()}-{next(tempfile._get_candidate_names())}"
    if is_dir:
        return path.parent / name
    suffix = "".join(path.suffixes)
    return path.parent / (name + suffix)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    Args:
        path: the final file path.

    Yields:
        A temporary path in the same folder with the same suffixes.
    """
    final = Path(path)
    tmp = _temporary_sibling(final)
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


def check_replaceable(path: str | os.PathLike[str], owned: str | Callable[[Path], bool] | None = None) -> None:
    """Raise unless the folder ``path`` may be replaced as a whole.

    It may when it does not exist, is empty, or holds an earlier output of the same kind:
    ``owned`` names the file such an output always has (``manifest.json``, ``check.json``,
    ...) or is a test of the folder. The working directory and the folders above it are
    never replaced.

    Raises:
        OutputFolderError: naming the folder and why it is kept.
    """
    final = Path(path)
    if not final.exists():
        return
    if not final.is_dir():
        raise OutputFolderError(f"{final} exists and is not a folder")
    here = Path.cwd().resolve()
    if final.resolve() == here or final.resolve() in here.parents:
        raise OutputFolderError(f"{final} is the working folder or holds it; name a new folder for the output")
    if not any(final.iterdir()):
        return
    if owned is not None and (owned(final) if callable(owned) else (final / owned).is_file()):
        return
    sample = ", ".join(sorted(p.name for p in final.iterdir())[:3])
    kind = f" (it has no {owned})" if isinstance(owned, str) else ""
    raise OutputFolderError(
        f"{final} already holds files that are no earlier output of this command{kind}: {sample}; "
        "refusing to replace it, name a new or empty folder"
    )


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str], owned: str | Callable[[Path], bool] | None = None) -> Iterator[Path]:
    """Yield a temporary folder next to ``path``; it replaces ``path`` on success.

    Args:
        path: the output folder.
        owned: what marks an earlier output that may be replaced (see :func:`check_replaceable`);
            any other non-empty folder is refused before anything is written.
    """
    final = Path(path)
    check_replaceable(final, owned)
    tmp = _temporary_sibling(final, is_dir=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        check_replaceable(final, owned)  # the folder may have changed while the work ran
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def staged_files(folder: str | os.PathLike[str], last: tuple[str, ...] = ()) -> Iterator[Path]:
    """Yield a hidden staging folder inside ``folder``; on success its files move into ``folder``.

    The slow part (writing and compressing) happens in the staging folder, so a run that
    fails or is killed leaves ``folder`` as it was: a complete earlier result is not mixed
    with part of a new one. Only renames remain after the writing. Files named in ``last``
    (the record that describes the others) move in after the rest. Unlike
    :func:`atomic_dir`, nothing else in ``folder`` is touched, so it may be any folder.

    Args:
        folder: the output folder (created if missing).
        last: file names to move in last.

    Yields:
        The staging folder to write the files into (flat).
    """
    final = Path(folder)
    stage = _temporary_sibling(final / "staging", is_dir=True)
    stage.mkdir()
    try:
        yield stage
        for item in sorted(stage.iterdir(), key=lambda p: (p.name in last, p.name)):
            os.replace(item, final / item.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | os.PathLike[str], data: Any) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically.

    NaN and infinite numbers (an undefined metric) are written as ``null``: bare ``NaN`` is
    no JSON, and strict readers (browsers, ``jq``, R's jsonlite) refuse the whole file.
    """
    text = json.dumps(_finite_or_null(data), indent=2, sort_keys=False, default=_json_default, allow_nan=False)
    return write_text(path, text + "\n")


def json_ready(data: Any) -> Any:
    """``data`` exactly as :func:`write_json` stores it and ``json.loads`` gives it back."""
    return json.loads(json.dumps(_finite_or_null(data), default=_json_default, allow_nan=False))


def _finite_or_null(value: Any) -> Any:
    import math

    import numpy as np

    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite_or_null(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_null(item) for item in value]
    if isinstance(value, np.ndarray):
        return _finite_or_null(value.tolist())
    return value


def _json_default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
