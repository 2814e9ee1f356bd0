"""Model-folder manifests: what a model is, what made it, and a checksum of every file.

Both methods write ``manifest.json`` with :func:`write_manifest` and check a folder with
:func:`verify_manifest` before any weight is loaded, so a model for another task, a
missing file or a changed byte stops with a clear :class:`~medseg.errors.ModelError`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from medseg.errors import ModelError
from medseg.io.atomic import json_ready, write_json
from medseg.provenance import config_hash, file_sha256

__all__ = ["MANIFEST", "write_manifest", "verify_manifest"]

MANIFEST = "manifest.json"
#: Key of the manifest's hash of its own content (every other key), so that an edited
#: setting is caught as a changed weight file is.
SELF_DIGEST = "manifest_sha256"

logger = logging.getLogger(__name__)


def write_manifest(folder: str | os.PathLike[str], task: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Write ``manifest.json`` with ``task``, ``fields`` and the sha256 of every other file.

    Args:
        folder: the model folder (all its files already written).
        task: ``ears`` or ``lv``.
        fields: architecture, config, training summary, provenance, ...

    Returns:
        The manifest written.
    """
    folder = Path(folder)
    files = {p.name: file_sha256(p) for p in sorted(folder.iterdir()) if p.is_file() and p.name != MANIFEST}
    manifest = {"task": task, **fields, "files": files}
    manifest = json_ready(manifest)
    manifest[SELF_DIGEST] = config_hash(manifest)
    write_json(folder / MANIFEST, manifest)
    return manifest


def verify_manifest(folder: str | os.PathLike[str], task: str, required: Iterable[str] = ()) -> dict[str, Any]:
    """Read ``manifest.json`` and check the task and every listed file's sha256.

    Args:
        folder: the model folder.
        task: the task the caller needs.
        required: files the manifest must list.

    Returns:
        The manifest.

    Raises:
        ModelError: missing folder or manifest, unreadable or edited manifest, another
            task, a required file not listed, a listed file missing or changed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelError(f"{folder}: no such model folder")
    path = folder / MANIFEST
    if not path.is_file():
        raise ModelError(f"{folder}: not a medseg model folder (no {MANIFEST})")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelError(f"{path}: unreadable manifest ({error})") from None
    if not isinstance(manifest, dict):
        raise ModelError(f"{path}: unreadable manifest (not a JSON object)")
    if manifest.get("task") != task:
        raise ModelError(f"{folder}: this model is for task {manifest.get('task')!r}, not {task!r}")
    if SELF_DIGEST in manifest:
        content = {key: value for key, value in manifest.items() if key != SELF_DIGEST}
        if config_hash(content) != manifest[SELF_DIGEST]:
            raise ModelError(
                f"{path}: the manifest was edited after the model was written (its settings are what "
                "inference uses); retrain or restore the folder"
            )
    else:
        logger.warning("%s: written before manifests checked themselves; its settings are taken on trust", path)
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise ModelError(f"{path}: the manifest lists no files")
    for name in required:
        if name not in files:
            raise ModelError(f"{path}: the manifest does not list {name}")
    for name, digest in files.items():
        file = folder / name
        if Path(name).name != name or not file.is_file():
            raise ModelError(f"{folder}: {name} is missing (listed in the manifest)")
        if file_sha256(file) != digest:
            raise ModelError(
                f"{folder}: {name} does not match its checksum in the manifest (changed or corrupt); "
                "retrain or restore the folder"
            )
    return manifest
