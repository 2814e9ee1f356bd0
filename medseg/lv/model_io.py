"""LV model folders: ``model.pt`` (state dict) and ``manifest.json`` (checked on load)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from medseg.errors import ModelError
from medseg.io.atomic import atomic_dir
from medseg.lv.config import LVConfig
from medseg.lv.network import CineSegNet
from medseg.model_manifest import MANIFEST, verify_manifest, write_manifest
from medseg.provenance import collect_provenance

TASK = "lv"
ARCHITECTURE = "resnet_multilevel_convlstm"
WEIGHTS = "model.pt"


def build_model(config: LVConfig) -> CineSegNet:
    """The network described by ``config``."""
    return CineSegNet(
        variant=config.variant,  # type: ignore[arg-type]
        depth=config.depth,
        base_channels=config.base_channels,
        bidirectional=config.bidirectional,
        decoder_channels=config.decoder_channels,
    )


def save_model(
    folder: str | Path, model: torch.nn.Module, config: LVConfig, training: dict[str, Any] | None = None
) -> Path:
    """Write a model folder atomically.

    Args:
        folder: the model folder (replaced as a whole).
        model: the trained network.
        config: its settings.
        training: summary of the training data and run (cases, subjects, frames, time).

    Returns:
        The folder path.
    """
    folder = Path(folder)
    with atomic_dir(folder, owned="manifest.json") as tmp:
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, tmp / WEIGHTS)
        write_manifest(
            tmp,
            TASK,
            {
                "architecture": ARCHITECTURE,
                "variant": config.variant,
                "config": config.to_dict(),
                "training": training or {},
                "provenance": collect_provenance(seed=config.seed, settings=config.to_dict()),
            },
        )
    return folder


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """Read and verify a model folder's manifest (task, architecture, file checksums).

    Raises:
        ModelError: the folder or a file is missing, the manifest is unreadable, the model
            is for another task or architecture, or a file's sha256 differs from the manifest.
    """
    manifest = verify_manifest(folder, TASK, required=(WEIGHTS,))
    if manifest.get("architecture") != ARCHITECTURE:
        raise ModelError(f"{folder}: unknown architecture {manifest.get('architecture')!r}")
    return manifest


def load_model(folder: str | Path) -> tuple[CineSegNet, LVConfig, dict[str, Any]]:
    """Load a verified model folder for inference.

    Returns:
        ``(model in eval mode, its config, its manifest)``.

    Raises:
        ModelError: see :func:`read_manifest`; also when the weights do not fit the network.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    try:
        config = LVConfig(**manifest["config"])
    except Exception as error:  # noqa: BLE001 - any bad field means a bad manifest
        raise ModelError(f"{folder / MANIFEST}: invalid config ({error})") from error
    model = build_model(config)
    try:
        state = torch.load(folder / WEIGHTS, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as error:  # noqa: BLE001
        raise ModelError(f"{folder / WEIGHTS}: cannot load the weights ({error})") from error
    return model.eval(), config, manifest


def load_initial_weights(model: torch.nn.Module, folder: str | Path) -> dict[str, int]:
    """Initialise ``model`` from another LV model folder (pre-training).

    Tensors whose name and shape match are copied; the rest keep their initialisation, so
    a ``cnn`` model can seed a ``multi_level`` one.

    Returns:
        ``{"copied": n, "skipped": m}``.
    """
    read_manifest(folder)
    state = torch.load(Path(folder) / WEIGHTS, map_location="cpu", weights_only=True)
    own = model.state_dict()
    matched = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(matched, strict=False)
    return {"copied": len(matched), "skipped": len(own) - len(matched)}
