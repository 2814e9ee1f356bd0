"""Augmentation of cine crop sequences, identical for every frame of a sequence.

Frames are handled as the channels of one 2D image, so MONAI's spatial and intensity
transforms draw one set of parameters for the whole sequence (same rotation, zoom, flip,
bias field and gamma at every phase), as a real study would be.
"""

from __future__ import annotations

import json
import math

import numpy as np
import torch
from monai.transforms import (
    Compose,
    Rand2DElasticd,
    RandAdjustContrastd,
    RandAffined,
    RandBiasFieldd,
    RandFlipd,
    RandGaussianNoised,
)
from monai.transforms.transform import Transform

from medseg.lv.annotations import IGNORE
from medseg.lv.config import LVConfig


class CineAugment:
    """Random spatial and intensity changes of a (T, H, W) image / label sequence pair.

    Labels are resampled by nearest neighbour; pixels that come from outside the crop are
    marked 255 (not annotated) rather than background.

    Args:
        config: LV settings (``aug_*`` keys).
        seed: seed of the transforms' random state.
    """

    def __init__(self, config: LVConfig, seed: int = 0) -> None:
        p = config.aug_prob
        angle = math.radians(config.aug_rotate_deg)
        transforms = [
            RandAffined(
                keys=("image", "label"),
                prob=p,
                rotate_range=(angle,),
                scale_range=(config.aug_scale, config.aug_scale),
                translate_range=(0.08 * config.crop_size, 0.08 * config.crop_size),
                mode=("bilinear", "nearest"),
                padding_mode="zeros",
            ),
        ]
        if config.aug_elastic_prob > 0:
            pixels = config.pixel_spacing_mm
            transforms.append(
                Rand2DElasticd(
                    keys=("image", "label"),
                    spacing=config.aug_elastic_grid_mm / pixels,
                    magnitude_range=(0.0, config.aug_elastic_mm / pixels),
                    prob=config.aug_elastic_prob,
                    mode=("bilinear", "nearest"),
                    padding_mode="zeros",
                )
            )
        if config.aug_flip:
            transforms += [
                RandFlipd(keys=("image", "label"), prob=0.5, spatial_axis=0),
                RandFlipd(keys=("image", "label"), prob=0.5, spatial_axis=1),
            ]
        transforms += [
            RandBiasFieldd(keys="image", prob=p, coeff_range=tuple(config.aug_bias_field)),
            RandAdjustContrastd(keys="image", prob=p, gamma=tuple(config.aug_gamma)),
            RandGaussianNoised(keys="image", prob=p, std=config.aug_noise_std),
        ]
        self.transform = Compose(transforms, lazy=False)
        self.transform.set_random_state(seed=seed)

    def random_states(self) -> list[np.random.RandomState]:
        """Every random state the transforms draw from, in a fixed order."""
        found: list[np.random.RandomState] = []
        seen: set[int] = set()

        def visit(obj: object) -> None:
            if id(obj) in seen:
                return
            seen.add(id(obj))
            state = getattr(obj, "R", None)
            if isinstance(state, np.random.RandomState) and id(state) not in seen:
                seen.add(id(state))
                found.append(state)
            for value in vars(obj).values() if hasattr(obj, "__dict__") else ():
                for item in value if isinstance(value, (list, tuple)) else (value,):
                    if isinstance(item, Transform):
                        visit(item)

        visit(self.transform)
        return found

    def state(self) -> str:
        """The random states as JSON text (for checkpoints)."""
        return json.dumps([[name, keys.tolist(), pos, gauss, cached] for name, keys, pos, gauss, cached in (r.get_state() for r in self.random_states())])

    def restore(self, state: str) -> None:
        """Restore what :meth:`state` returned."""
        for random_state, (name, keys, pos, gauss, cached) in zip(self.random_states(), json.loads(state), strict=True):
            random_state.set_state((name, np.asarray(keys, dtype=np.uint32), pos, gauss, cached))

    def __call__(self, image: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Augment one sequence.

        Args:
            image: (T, H, W) float32 frames.
            label: (T, H, W) uint8 labels (255 = not annotated).

        Returns:
            The augmented ``(image, label)`` with the same shapes and dtypes.
        """
        encoded = np.where(label == IGNORE, 0, label.astype(np.float32) + 1.0).astype(np.float32)
        out = self.transform({"image": torch.from_numpy(image.copy()), "label": torch.from_numpy(encoded)})
        image_out = np.asarray(out["image"], dtype=np.float32)
        label_out = np.rint(np.asarray(out["label"]))
        label_out = np.where(label_out <= 0, IGNORE, label_out - 1).astype(np.uint8)
        return image_out, label_out
