"""Model folders: ``model.pt``, ``manifest.json`` (checksums verified on load), ``shape_prior.json``, ``threshold.json``."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import torch

from medseg.ears.config import EarsConfig, from_config
from medseg.ears.network import architecture, network_from_architecture
from medseg.ears.shape_prior import ShapePrior
from medseg.errors import ModelError
from medseg.io.atomic import atomic_dir, write_json
from medseg.model_manifest import verify_manifest, write_manifest
from medseg.provenance import collect_provenance

__all__ = ["EarsModel", "save_model", "load_model"]

TASK = "ears"


@dataclasses.dataclass
class EarsModel:
    """A loaded, verified ear model."""

    network: torch.nn.Module
    config: EarsConfig
    shape_prior: ShapePrior
    thresholds: dict[str, Any]
    manifest: dict[str, Any]
    path: Path

    def threshold(self, shape_constraint: bool = True) -> float:
        """The presence threshold tuned for decoding with or without the shape constraint."""
        key = "threshold" if shape_constraint else "threshold_no_shape"
        return float(self.thresholds.get(key, self.thresholds["threshold"]))


def save_model(out_dir: str | os.PathLike[str], trained: Any, variant: str = "full") -> Path:
    """Write a model folder atomically.

    Args:
        out_dir: the folder (replaced if it exists).
        trained: a :class:`medseg.ears.train.TrainedEars`.
        variant: the ablation variant it was trained as.

    Returns:
        ``out_dir``.
    """
    out_dir = Path(out_dir)
    with atomic_dir(out_dir, owned="manifest.json") as tmp:
        state = {k: v.detach().cpu().contiguous() for k, v in trained.network.state_dict().items()}
        torch.save(state, tmp / "model.pt")
        write_json(tmp / "shape_prior.json", trained.shape_prior.to_dict())
        write_json(tmp / "threshold.json", trained.thresholds)
        write_manifest(
            tmp,
            TASK,
            {
                "variant": variant,
                "architecture": architecture(trained.config),
                "config": {"seed": trained.config.seed, "ears": {k: v for k, v in trained.config.to_dict().items() if k != "seed"}},
                "training": trained.summary,
                "provenance": collect_provenance(seed=trained.config.seed, settings=trained.config.to_dict()),
            },
        )
    return out_dir


def load_model(model_dir: str | os.PathLike[str]) -> EarsModel:
    """Load and verify an ear model folder.

    Raises:
        ModelError: missing folder, wrong task, a tampered or missing file, unloadable weights.
    """
    model_dir = Path(model_dir)
    manifest = verify_manifest(model_dir, TASK, required=("model.pt", "shape_prior.json", "threshold.json"))
    try:
        stored = dict(manifest["config"])
        # a model saved before mirror averaging existed had its threshold tuned without it
        stored["ears"] = {"test_flip_lr": False, **(stored.get("ears") or {})}
        config = from_config(stored)
        network = network_from_architecture(manifest["architecture"])
        state = torch.load(model_dir / "model.pt", map_location="cpu", weights_only=True)
        network.load_state_dict(state)
        prior = ShapePrior.from_dict(json.loads((model_dir / "shape_prior.json").read_text(encoding="utf-8")))
        thresholds = json.loads((model_dir / "threshold.json").read_text(encoding="utf-8"))
    except ModelError:
        raise
    except Exception as error:  # noqa: BLE001 - any failure here means an unusable folder
        raise ModelError(f"{model_dir}: cannot load the model ({type(error).__name__}: {error})") from None
    network.eval()
    return EarsModel(network, config, prior, thresholds, manifest, model_dir)
