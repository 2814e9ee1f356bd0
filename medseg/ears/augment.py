"""Training-patch augmentation of the inner-ear localiser: pose and appearance.

The phantom heads share one pose convention and one way of rendering bone, so a network
trained on them alone learns both. Pose augmentation (a random rotation and scaling about
the patch centre, applied to image and target alike) and appearance augmentation (gamma,
blur, lower resolution, noise, a smooth bias field; image only) make the absolute HU
levels, edge sharpness and head pose carry less weight. Built from MONAI transforms;
every random draw derives from the caller's generator, so a resumed run draws the same.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from monai.transforms import (
    Affine,
    RandAdjustContrast,
    RandBiasField,
    RandGaussianNoise,
    RandGaussianSmooth,
    RandSimulateLowResolution,
)

__all__ = ["PatchAugmenter", "context_size"]


def context_size(patch_size: int, rotate_deg: float, scale: float) -> int:
    """Edge of the crop that still covers a ``patch_size`` cube after the largest pose change.

    Turned by up to ``rotate_deg`` about each axis and zoomed out by up to ``1 + scale``,
    the patch reads from a cube at most ``(cos a + sin a)^2 / (1 - scale)`` times its edge
    (a conservative bound for the three turns combined; tested by sampling).
    """
    if rotate_deg <= 0 and scale <= 0:
        return patch_size
    angle = math.radians(min(rotate_deg, 45.0))
    spread = (math.cos(angle) + math.sin(angle)) ** 2 / (1.0 - min(scale, 0.5))
    return int(math.ceil(patch_size * spread / 2.0)) * 2


class PatchAugmenter:
    """Random pose and appearance changes of one training patch.

    Args:
        patch_size: edge of the output patch in voxels.
        rotate_deg: largest rotation about each axis (0: none).
        scale: largest relative zoom in or out (0: none).
        appearance_prob: probability of each appearance change (0: none).
        rng: the training generator; every draw comes from it.
    """

    def __init__(self, patch_size: int, rotate_deg: float, scale: float, appearance_prob: float, rng: np.random.Generator) -> None:
        self.patch_size = patch_size
        self.rotate = math.radians(rotate_deg)
        self.scale = scale
        self.rng = rng
        self.context = context_size(patch_size, rotate_deg, scale)
        p = appearance_prob
        self.appearance = (
            [
                RandAdjustContrast(prob=p, gamma=(0.6, 1.6)),
                RandBiasField(prob=p, coeff_range=(0.05, 0.2), degree=2),
                RandSimulateLowResolution(prob=p, zoom_range=(0.4, 0.9)),
                RandGaussianSmooth(prob=p, sigma_x=(0.25, 1.2), sigma_y=(0.25, 1.2), sigma_z=(0.25, 1.2)),
                RandGaussianNoise(prob=p, mean=0.0, std=0.03),
            ]
            if p > 0
            else []
        )

    @property
    def moves(self) -> bool:
        """Whether patches are rotated or scaled (and so need the larger context crop)."""
        return self.context > self.patch_size

    def pose(self, image: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rotate and scale ``(C, S, S, S)`` context crops about their centre to the patch size."""
        if not self.moves:
            return image, target
        angles = self.rng.uniform(-self.rotate, self.rotate, 3)
        zoom = float(np.exp(self.rng.uniform(math.log(1.0 - self.scale), math.log(1.0 + self.scale))))
        size = (self.patch_size,) * 3
        stacked = torch.from_numpy(np.concatenate([image, target]).astype(np.float32))
        affine = Affine(rotate_params=tuple(angles), scale_params=(zoom,) * 3, spatial_size=size, mode="bilinear", padding_mode="zeros", image_only=True)
        moved = affine(stacked).numpy()
        channels = image.shape[0]
        return moved[:channels], moved[channels:]

    def look(self, intensities: np.ndarray) -> np.ndarray:
        """Appearance changes of one ``(S, S, S)`` intensity patch scaled to ``[0, 1]``.

        Switched off, the patch comes back as it is and nothing is drawn from the generator.
        """
        if not self.appearance:
            return intensities
        out = torch.from_numpy(np.ascontiguousarray(intensities, np.float32))[None]
        for transform in self.appearance:
            transform.set_random_state(seed=int(self.rng.integers(2**31 - 1)))
            out = transform(out)
        out = torch.as_tensor(out)
        return out[0].clamp(0.0, 1.0).numpy()
