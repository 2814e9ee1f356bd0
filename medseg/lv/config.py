"""Settings of the LV myocardium segmenter (the ``lv`` section of a study config)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from medseg.device import device_name_problem
from medseg.errors import ConfigError
from medseg.lv.network import VARIANTS


#: Settings read only when segmenting: changing them needs no retraining, and a stopped
#: training resumes across a change of them.
INFERENCE_ONLY_SETTINGS = ("context", "test_flips", "postprocess", "max_wall_mm", "max_offset_mm")


@dataclass
class LVConfig:
    """LV segmenter settings.

    The encoder defaults to the published ResNet-56 (``depth: 56``). The other defaults
    (1.5 mm crops, 48-pixel training sub-crops, 250 steps) were tuned for a CPU budget of
    about 90 s of 1-thread training per model with ``depth: 20``, which reaches held-out
    myocardium Dice about 0.89 on the demo phantoms (configs/lv_tuning_notes.md); the demo
    config sets ``depth: 20``.

    Attributes:
        variant: ``multi_level`` | ``one_level`` | ``cnn``.
        depth: CIFAR ResNet depth 6n+2 (56 = the published ResNet-56; 20 fits the demo budget).
        base_channels: ResNet stage-1 channels (stages 1x/2x/4x).
        decoder_channels: channels of the fusion convolutions.
        bidirectional: bidirectional ConvLSTMs (the cycle is known at inference).
        pixel_spacing_mm: in-plane spacing the crop is resampled to.
        crop_size: crop side in pixels (a multiple of 4) centred on the detected heart.
        train_crop: side of the random sub-crop each training window is cut to (a multiple
            of 4; null, or a value >= ``crop_size``, = the whole crop). The network is fully
            convolutional, so inference still sees the whole crop; smaller training crops
            buy more steps per CPU second.
        window: frames per training sequence (random, cyclic windows).
        context: frames added cyclically on each side of the cycle at inference.
        batch_size: sequences per training step.
        iterations: training steps.
        learning_rate: AdamW learning rate (cosine decay to 5 %).
        weight_decay: AdamW weight decay.
        dice_weight: weight of the soft Dice term (cross-entropy has weight 1).
        bound_cavity_only: frames annotated with the cavity alone (an endocardial contour
            without its epicardium) also teach that everything outside the cavity is
            myocardium or background; false: those pixels are ignored.
        propagate_labels: training only: carry each slice's fully annotated frame to its
            other phases by deformable registration (:mod:`medseg.lv.label_propagation`),
            so that every phase of the cycle is supervised. For data annotated at one or two
            phases; no effect where every phase is annotated.
        aug_prob: probability of each augmentation.
        aug_rotate_deg: maximum in-plane rotation.
        aug_scale: maximum relative zoom.
        aug_flip: random flips (same for every frame).
        aug_gamma: [low, high] gamma range.
        aug_bias_field: bias-field coefficient range (intensity inhomogeneity).
        aug_noise_std: Gaussian noise SD (images are scaled to about [0, 1]).
        aug_elastic_prob: probability of a smooth random deformation (control points
            ``aug_elastic_grid_mm`` apart, each moved at random, interpolated between them),
            the same for every frame: wall shapes the training hearts do not have. 0 turns
            it off.
        aug_elastic_mm: largest SD of the control points' displacement, mm (each sample
            draws its SD from [0, aug_elastic_mm], then a normal offset per point and axis).
        aug_elastic_grid_mm: distance between the deformation's control points, mm.
        aug_scar_prob: probability that a training window gets a synthetic scar: one
            sector of the annotated wall repainted to a signal in ``aug_scar_signal``.
        aug_scar_signal: [low, high] scar signal as a fraction of the blood signal.
        roi_smooth_mm: smoothing of the motion map that locates the heart.
        postprocess: anatomical clean-up per frame: the cavity region best enclosed by
            myocardium (near the study's LV centre), the wall within ``max_wall_mm`` of
            it, the largest connected region.
        max_wall_mm: the thickest myocardial wall expected (clean-up only).
        max_offset_mm: how far a frame's LV cavity may lie from the study's LV centre
            (clean-up only; null: no study-wide check).
        test_flips: mirrored copies averaged at inference: 0 none, 1 left-right,
            3 left-right, up-down and both (about 1 + n times the network time).
        init: model folder whose weights initialise training (pre-training), or null.
        threads: torch CPU threads.
        device: where the network runs: ``auto`` (a CUDA GPU when torch sees one, else
            the CPU), ``cpu``, ``cuda`` or ``cuda:N``.
        mixed_precision: autocast on CUDA (bfloat16, or float16 with loss scaling); no
            effect on CPU.
        seed: every random choice derives from it (the config's top-level ``seed``).
        checkpoint_every: training steps between resumable checkpoints (0: only when stopped).
    """

    variant: str = "multi_level"
    depth: int = 56
    base_channels: int = 16
    decoder_channels: int = 32
    bidirectional: bool = True
    pixel_spacing_mm: float = 1.5
    crop_size: int = 64
    train_crop: int | None = 48
    window: int = 5
    context: int = 3
    batch_size: int = 2
    iterations: int = 500
    learning_rate: float = 0.004
    weight_decay: float = 0.0001
    dice_weight: float = 1.0
    bound_cavity_only: bool = True
    propagate_labels: bool = False
    aug_prob: float = 0.3
    aug_rotate_deg: float = 20.0
    aug_scale: float = 0.15
    aug_flip: bool = True
    aug_gamma: list[float] = field(default_factory=lambda: [0.7, 1.5])
    aug_bias_field: list[float] = field(default_factory=lambda: [-0.4, 0.4])
    aug_noise_std: float = 0.03
    aug_elastic_prob: float = 0.0
    aug_elastic_mm: float = 2.0
    aug_elastic_grid_mm: float = 24.0
    aug_scar_prob: float = 0.0
    aug_scar_signal: list[float] = field(default_factory=lambda: [0.1, 0.9])
    roi_smooth_mm: float = 30.0
    postprocess: bool = True
    max_wall_mm: float = 15.0
    max_offset_mm: float | None = 30.0
    test_flips: int = 0
    init: str | None = None
    threads: int = 2
    device: str = "auto"
    mixed_precision: bool = False
    seed: int = 0
    checkpoint_every: int = 25

    def __post_init__(self) -> None:
        problems = []
        if self.variant not in VARIANTS:
            problems.append(f"lv.variant must be one of {', '.join(VARIANTS)}, got {self.variant!r}")
        if self.depth < 8 or (self.depth - 2) % 6:
            problems.append(f"lv.depth must be 6n+2 (8, 14, 20, ..., 56), got {self.depth}")
        if self.crop_size < 16 or self.crop_size % 4:
            problems.append(f"lv.crop_size must be a multiple of 4 and >= 16, got {self.crop_size}")
        if self.train_crop is not None and (self.train_crop < 16 or self.train_crop % 4):
            problems.append(f"lv.train_crop must be null or a multiple of 4 and >= 16, got {self.train_crop}")
        for name in ("pixel_spacing_mm", "learning_rate"):
            if getattr(self, name) <= 0:
                problems.append(f"lv.{name} must be positive")
        for name in ("window", "batch_size", "iterations", "threads", "base_channels", "decoder_channels"):
            if getattr(self, name) < 1:
                problems.append(f"lv.{name} must be at least 1")
        if self.context < 0:
            problems.append("lv.context must be >= 0")
        if self.max_offset_mm is not None and self.max_offset_mm <= 0:
            problems.append("lv.max_offset_mm must be positive or null")
        if self.test_flips not in (0, 1, 3):
            problems.append(f"lv.test_flips must be 0, 1 or 3, got {self.test_flips}")
        if len(self.aug_gamma) != 2 or len(self.aug_bias_field) != 2:
            problems.append("lv.aug_gamma and lv.aug_bias_field are [low, high] pairs")
        if not 0.0 <= self.aug_elastic_prob <= 1.0:
            problems.append(f"lv.aug_elastic_prob must lie in [0, 1], got {self.aug_elastic_prob}")
        if self.aug_elastic_mm < 0:
            problems.append(f"lv.aug_elastic_mm must be >= 0, got {self.aug_elastic_mm}")
        if self.aug_elastic_grid_mm <= 0:
            problems.append(f"lv.aug_elastic_grid_mm must be positive, got {self.aug_elastic_grid_mm}")
        if not 0.0 <= self.aug_scar_prob <= 1.0:
            problems.append(f"lv.aug_scar_prob must lie in [0, 1], got {self.aug_scar_prob}")
        if len(self.aug_scar_signal) != 2 or not 0.0 < self.aug_scar_signal[0] <= self.aug_scar_signal[1]:
            problems.append(f"lv.aug_scar_signal must be a [low, high] pair with 0 < low <= high, got {self.aug_scar_signal}")
        if problem := device_name_problem(self.device):
            problems.append("lv." + problem)
        if problems:
            raise ConfigError("; ".join(problems))

    @classmethod
    def from_config(cls, config: dict[str, Any] | None) -> LVConfig:
        """Build from a study config: its ``lv`` section and top-level ``seed``.

        Raises:
            ConfigError: unknown key or invalid value in ``lv``.
        """
        config = config or {}
        section = dict(config.get("lv") or {})
        names = {f.name for f in dataclasses.fields(cls)} - {"seed"}
        unknown = sorted(set(section) - names)
        if unknown:
            raise ConfigError(f"unknown key(s) in config section lv: {', '.join(unknown)}")
        if "seed" in config:
            section["seed"] = int(config["seed"])
        try:
            return cls(**section)
        except TypeError as error:
            raise ConfigError(f"invalid lv config: {error}") from error

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of every setting (for manifests)."""
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> LVConfig:
        """A copy with some settings changed."""
        return dataclasses.replace(self, **changes)


def from_config(config: dict[str, Any] | None) -> LVConfig:
    """Shortcut for :meth:`LVConfig.from_config`."""
    return LVConfig.from_config(config)
