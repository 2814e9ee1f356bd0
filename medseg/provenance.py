"""Provenance of a result: code version, configuration hash, seed, environment and time."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from medseg import __version__

PACKAGES: tuple[str, ...] = ("torch", "monai", "SimpleITK", "numpy", "snakemake", "scikit-image", "pydicom")
UNKNOWN = "unknown"


def config_hash(config: Any) -> str:
    """Return the sha256 (hex) of the canonical JSON of ``config`` (sorted keys, compact).

    Args:
        config: a JSON-like value (dicts, lists, strings, numbers, paths, numpy scalars).
    """
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def path_digest(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file, or of a folder's files (each relative name with its sha256, in
    order: a DICOM series replaced under the same folder name changes it); the path itself
    when it is neither."""
    path = Path(path)
    if path.is_file():
        return file_sha256(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        return config_hash([[p.relative_to(path).as_posix(), file_sha256(p)] for p in files])
    return str(path)


def file_sha256(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    """Return the sha256 (hex) of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def git_revision(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Return ``{"revision": sha | "unknown", "dirty": bool | None}`` for the checkout holding ``path``.

    Never raises: outside a git checkout, or without git, the revision is ``"unknown"``.
    """
    where = Path(path) if path is not None else Path(__file__).resolve().parent
    revision = _git(where, "rev-parse", "HEAD")
    if revision is None:
        return {"revision": UNKNOWN, "dirty": None}
    status = _git(where, "status", "--porcelain", "--untracked-files=no")
    return {"revision": revision, "dirty": None if status is None else bool(status)}


def package_versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Return the installed version of each package (None when absent), without importing it."""
    versions: dict[str, str | None] = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def cuda_device() -> str | None:
    """Return the name of CUDA device 0, or None (no torch, no GPU, or any failure)."""
    try:
        import torch

        if torch.cuda.is_available():
            return str(torch.cuda.get_device_name(0))
    except Exception:  # noqa: BLE001 - provenance must never fail a run
        return None
    return None


def cpu_description() -> dict[str, Any]:
    """The CPU and the kernel level torch uses on it.

    Trained weights depend on it: torch and oneDNN pick their kernels by instruction set,
    so the same run repeats bit for bit on one kind of CPU but not across kinds.

    Returns:
        ``model`` (from /proc/cpuinfo, else ``platform.processor()``), ``torch_capability``
        (for example ``AVX512``, ``AVX2``; None without torch) and ``isa_limits`` (the
        ``ONEDNN_MAX_CPU_ISA`` / ``ATEN_CPU_CAPABILITY`` settings in force, if any).
    """
    model = platform.processor() or None
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import torch

        capability = str(torch.backends.cpu.get_cpu_capability())
    except Exception:  # noqa: BLE001 - provenance must never fail a run
        capability = None
    limits = {name: os.environ[name] for name in ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY") if os.environ.get(name)}
    return {"model": model, "torch_capability": capability, "isa_limits": limits}


#: Method settings that change nothing in a result. Threads and device are not among them:
#: on a CPU the thread count changes the order of float sums, so trained weights differ in
#: their last bits, and a GPU differs more.
RUNTIME_SETTINGS: tuple[str, ...] = ("checkpoint_every",)


def settings_hash(settings: dict[str, Any]) -> str:
    """:func:`config_hash` of a method's settings without :data:`RUNTIME_SETTINGS`."""
    return config_hash({key: value for key, value in settings.items() if key not in RUNTIME_SETTINGS})


def collect_provenance(
    config: dict[str, Any] | None = None, seed: int | None = None, settings: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Collect what is needed to reproduce a result.

    Args:
        config: the study configuration used (hashed, not copied); None when there is none.
        seed: the random seed used, if any.
        settings: the method settings a model or prediction was made with (a model
            manifest keeps them whole; hashed here by :func:`settings_hash`).

    Returns:
        A JSON-ready dict: ``medseg_version``, ``git_revision``, ``git_dirty``,
        ``config_sha256`` (the study config, or None), ``settings_sha256`` (the method
        settings, or None), ``seed``, ``python``, ``packages``, ``platform``, ``cpu_count``,
        ``cpu`` (:func:`cpu_description`), ``cuda_device``, ``created_utc``.
    """
    git = git_revision()
    return {
        "medseg_version": __version__,
        "git_revision": git["revision"],
        "git_dirty": git["dirty"],
        "config_sha256": None if config is None else config_hash(config),
        "settings_sha256": None if settings is None else settings_hash(settings),
        "seed": seed,
        "python": platform.python_version(),
        "packages": package_versions(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpu": cpu_description(),
        "cuda_device": cuda_device(),
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def stamp(data: dict[str, Any], provenance: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return a copy of ``data`` with a ``"provenance"`` key (collected now when not given)."""
    return {**data, "provenance": collect_provenance() if provenance is None else provenance}


def _git(where: Path, *args: str) -> str | None:
    try:
        completed = subprocess.run(
            ["git", *args],
            cwd=where if where.is_dir() else where.parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if completed.returncode != 0:
        return None
    return completed.stdout.strip()


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist") and callable(value.tolist):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"cannot hash {type(value).__name__} as part of a configuration")


def study_provenance(config_path: str | os.PathLike[str] | None) -> dict[str, Any]:
    """Provenance of a result computed under a study config file (or none)."""
    if config_path is None:
        return collect_provenance()
    from medseg.config import load_config

    config = load_config(config_path)
    return collect_provenance(config, config.get("seed"))
