"""Settings of the inner-ear localiser, read from the ``ears`` section of a study config."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from medseg.device import device_name_problem
from medseg.errors import ConfigError

__all__ = ["EarsConfig", "from_config", "SMOKE_OVERRIDES"]


@dataclasses.dataclass(frozen=True)
class EarsConfig:
    """Every setting of preprocessing, network, training, decoding and the shape prior.

    Attributes:
        seed: the study seed (top-level ``seed``); every random choice derives from it.
        spacing_mm: isotropic voxel size the CT is resampled to.
        hu_clip: HU window ``[low, high]``; values are clipped, then scaled to ``[0, 1]``.
        sigma_mm: standard deviation of the Gaussian target around each ear.
        channels: feature channels per network level (the first is full resolution).
        num_res_units: residual units per network block (0 = plain convolutions).
        patch_size: edge length of the cubic training patches, in voxels.
        batch_size: patches per training step.
        iterations: training steps.
        lr: Adam learning rate (cosine-annealed to 5 % of it).
        weight_decay: Adam weight decay.
        foreground_weight: weight of the error around the ears (normalised by the target mass).
        background_weight: weight of the false-positive term (squared over-response where
            the target is background); 0 turns it off.
        positive_fraction: share of patches that contain an ear.
        flip_lr: mirror patches left-right (swapping the left and right channels).
        intensity_jitter: amplitude of random intensity scale/shift augmentation.
        rotate_deg: largest random rotation of a training patch about each axis (0: none).
        scale_range: largest random relative zoom of a training patch (0: none).
        appearance_prob: probability of each appearance change of a training patch (gamma,
            bias field, lower resolution, blur, noise); 0 turns them off.
        hard_negative_mining: mine peaks away from the ears and train on them again.
        hard_negative_every: training steps between mining rounds.
        hard_negative_start: first step at which mining runs.
        hard_negative_fraction: share of patches centred on mined negatives (once any exist).
        hard_negative_radius_mm: peaks closer than this to an ear are not negatives.
        hard_negative_min_response: peaks weaker than this are not negatives.
        hard_negative_max_per_case: negatives kept per case and round.
        candidates_per_channel: local maxima kept per channel when decoding.
        candidate_min_score: local maxima weaker than this are not candidates.
        peak_distance_mm: minimum distance between two candidates of one channel.
        refine_radius: half-width in voxels of the sub-voxel peak refinement window.
        test_flip_lr: average the heatmaps with those of the left-right mirrored volume
            (channels swapped back) when decoding, in threshold tuning and in detection.
        threshold: presence threshold; ``None`` = tuned on the training cases.
        threshold_grid: thresholds tried when tuning.
        threshold_inner_folds: inner folds (training subjects grouped) whose models predict
            the held-out training subjects the threshold is tuned on; 0 = tune on the final
            model's own training predictions instead (faster, optimistic).
        shape_constraint: apply the shape prior when decoding.
        shape_k_sd: accepted inter-ear distance is mean +- k SD (and likewise lateral depth).
        shape_sd_floor_mm: lower bound on the learnt SDs (few training cases).
        shape_max_angle_deg: lower bound on the accepted angle to the mean inter-ear direction.
        head_threshold_hu: HU above which a voxel counts as head when measuring lone ears.
        threads: torch threads used by training and detection.
        device: where the network runs: ``auto`` (a CUDA GPU when torch sees one, else
            the CPU), ``cpu``, ``cuda`` or ``cuda:N``.
        mixed_precision: autocast on CUDA (bfloat16, or float16 with loss scaling); no
            effect on CPU.
        checkpoint_every: training steps between resumable checkpoints (0: only when stopped).
    """

    seed: int = 20261126
    spacing_mm: float = 2.0
    hu_clip: tuple[float, float] = (-1000.0, 3000.0)
    sigma_mm: float = 3.0
    channels: tuple[int, ...] = (8, 16, 24, 32, 48)
    num_res_units: int = 0
    patch_size: int = 48
    batch_size: int = 4
    iterations: int = 800
    lr: float = 5e-3
    weight_decay: float = 1e-5
    foreground_weight: float = 3.0
    background_weight: float = 10.0
    positive_fraction: float = 0.5
    flip_lr: bool = True
    intensity_jitter: float = 0.1
    rotate_deg: float = 0.0
    scale_range: float = 0.0
    appearance_prob: float = 0.0
    hard_negative_mining: bool = True
    hard_negative_every: int = 250
    hard_negative_start: int = 300
    hard_negative_fraction: float = 0.25
    hard_negative_radius_mm: float = 15.0
    hard_negative_min_response: float = 0.3
    hard_negative_max_per_case: int = 6
    candidates_per_channel: int = 5
    candidate_min_score: float = 0.05
    peak_distance_mm: float = 10.0
    refine_radius: int = 1
    test_flip_lr: bool = True
    threshold: float | None = None
    threshold_grid: tuple[float, ...] = (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85)
    threshold_inner_folds: int = 3
    shape_constraint: bool = True
    shape_k_sd: float = 3.0
    shape_sd_floor_mm: float = 4.0
    shape_max_angle_deg: float = 30.0
    head_threshold_hu: float = -300.0
    threads: int = 2
    device: str = "auto"
    mixed_precision: bool = False
    checkpoint_every: int = 100

    def __post_init__(self) -> None:
        problems = []
        if self.spacing_mm <= 0:
            problems.append("spacing_mm must be > 0")
        if len(self.hu_clip) != 2 or self.hu_clip[0] >= self.hu_clip[1]:
            problems.append("hu_clip must be [low, high] with low < high")
        if self.sigma_mm <= 0:
            problems.append("sigma_mm must be > 0")
        if len(self.channels) < 2 or any(c < 1 for c in self.channels):
            problems.append("channels needs at least two positive numbers")
        if self.patch_size % self.stride:
            problems.append(f"patch_size must be a multiple of the network stride {self.stride}")
        for name in ("batch_size", "iterations", "hard_negative_every", "candidates_per_channel", "threads"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1")
        for name in ("positive_fraction", "hard_negative_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                problems.append(f"{name} must lie in [0, 1]")
        if self.positive_fraction + self.hard_negative_fraction > 1.0:
            problems.append("positive_fraction + hard_negative_fraction must be <= 1")
        if self.rotate_deg < 0 or self.rotate_deg > 45:
            problems.append("rotate_deg must lie in [0, 45]")
        if not 0.0 <= self.scale_range < 0.5:
            problems.append("scale_range must lie in [0, 0.5)")
        if not 0.0 <= self.appearance_prob <= 1.0:
            problems.append("appearance_prob must lie in [0, 1]")
        if self.threshold is not None and not 0.0 < self.threshold < 1.0:
            problems.append("threshold must lie in (0, 1) or be null")
        if not self.threshold_grid:
            problems.append("threshold_grid must not be empty")
        if self.threshold_inner_folds < 0 or self.threshold_inner_folds == 1:
            problems.append("threshold_inner_folds must be 0 (no inner folds) or at least 2")
        if problem := device_name_problem(self.device):
            problems.append(problem)
        if problems:
            raise ConfigError("ears config: " + "; ".join(problems))

    @property
    def stride(self) -> int:
        """Total down-sampling factor of the network; volumes are padded to a multiple of it."""
        return 2 ** (len(self.channels) - 1)

    def replace(self, **changes: Any) -> EarsConfig:
        """Return a copy with ``changes`` applied (validated like the constructor)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The ``ears`` section this config corresponds to (plus ``seed``), JSON-ready."""
        out = dataclasses.asdict(self)
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
        return out


_TUPLE_FIELDS = {f.name for f in dataclasses.fields(EarsConfig) if str(f.type).startswith("tuple")}

#: Settings that make training take seconds (tests, the smoke DAG).
SMOKE_OVERRIDES: dict[str, Any] = {
    "channels": [4, 8, 16],
    "patch_size": 32,
    "batch_size": 2,
    "iterations": 20,
    "hard_negative_every": 10,
    "hard_negative_start": 10,
}


def from_config(config: Mapping[str, Any] | None) -> EarsConfig:
    """Build an :class:`EarsConfig` from a study config.

    Args:
        config: the whole study config; its ``ears`` section (absent = defaults) and
            top-level ``seed`` are read.

    Returns:
        The validated settings.

    Raises:
        ConfigError: unknown keys, wrong types or out-of-range values.
    """
    config = dict(config or {})
    section = config.get("ears") or {}
    if not isinstance(section, Mapping):
        raise ConfigError("ears config: the 'ears' section must be a mapping")
    fields = {f.name: f for f in dataclasses.fields(EarsConfig)}
    unknown = sorted(k for k in section if k not in fields or k == "seed")
    if unknown:
        raise ConfigError(f"ears config: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(fields))}")
    values: dict[str, Any] = {}
    if "seed" in config:
        values["seed"] = config["seed"]
    values.update(section)
    defaults = EarsConfig()
    for key, value in list(values.items()):
        values[key] = _coerce(key, value, getattr(defaults, key))
    return EarsConfig(**values)


def _coerce(key: str, value: Any, default: Any) -> Any:
    if key in _TUPLE_FIELDS:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"ears config: {key} must be a list, got {type(value).__name__}")
        item_type = float if key in ("hu_clip", "threshold_grid") else int
        return tuple(_scalar(key, v, item_type) for v in value)
    if key == "threshold":
        return None if value is None else _scalar(key, value, float)
    return _scalar(key, value, type(default))


def _scalar(key: str, value: Any, kind: type) -> Any:
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"ears config: {key} must be text, got {value!r}")
        return value
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"ears config: {key} must be true or false, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"ears config: {key} must be a number, got {value!r}")
    if kind is int:
        if float(value) != int(value):
            raise ConfigError(f"ears config: {key} must be an integer, got {value!r}")
        return int(value)
    return float(value)
