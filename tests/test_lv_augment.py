"""Tests of medseg.lv.augment: one draw per sequence, labels kept on the image."""

from __future__ import annotations

import numpy as np
import pytest
from monai.transforms import Rand2DElasticd

from medseg.errors import ConfigError
from medseg.lv.annotations import IGNORE
from medseg.lv.augment import CineAugment
from medseg.lv.config import LVConfig

SIZE = 48
FRAMES = 4
STILL = {"aug_gamma": [1.0, 1.0], "aug_bias_field": [0.0, 0.0], "aug_noise_std": 0.0}


def ring_sequence(frames: int = FRAMES) -> tuple[np.ndarray, np.ndarray]:
    """A bright cavity in a darker wall ring on a dim background; the image is the label map's picture."""
    rows, cols = np.mgrid[:SIZE, :SIZE]
    radius = np.hypot(rows - SIZE / 2 + 3, cols - SIZE / 2 + 2)
    label = np.zeros((SIZE, SIZE), np.uint8)
    label[radius < 14] = 1
    label[radius < 8] = 2
    picture = np.choose(label, [0.2, 0.5, 0.9]).astype(np.float32)
    return np.repeat(picture[None], frames, axis=0), np.repeat(label[None], frames, axis=0)


def config(**changes) -> LVConfig:
    return LVConfig(crop_size=SIZE, pixel_spacing_mm=2.0, **{**STILL, **changes})


def test_shapes_dtypes_and_label_values_are_kept() -> None:
    image, label = ring_sequence()
    out_image, out_label = CineAugment(config(aug_prob=1.0, aug_noise_std=0.03), seed=3)(image, label)
    assert out_image.shape == image.shape and out_image.dtype == np.float32
    assert out_label.shape == label.shape and out_label.dtype == np.uint8
    assert set(np.unique(out_label)) <= {0, 1, 2, IGNORE}


@pytest.mark.parametrize("elastic", [0.0, 1.0])
def test_every_frame_gets_the_same_draw(elastic: float) -> None:
    image, label = ring_sequence()
    augment = CineAugment(config(aug_prob=1.0, aug_elastic_prob=elastic, aug_gamma=[0.6, 1.6], aug_bias_field=[-0.4, 0.4]), seed=5)
    for _ in range(4):
        out_image, out_label = augment(image, label)
        assert all(np.array_equal(out_label[0], frame) for frame in out_label[1:])
        np.testing.assert_allclose(out_image[1:], np.repeat(out_image[:1], FRAMES - 1, axis=0), atol=1e-5)


@pytest.mark.parametrize("elastic", [0.0, 1.0])
def test_labels_stay_on_the_structures_they_name(elastic: float) -> None:
    image, label = ring_sequence()
    augment = CineAugment(config(aug_prob=1.0, aug_rotate_deg=30.0, aug_elastic_prob=elastic, aug_elastic_mm=4.0), seed=11)
    for _ in range(6):
        out_image, out_label = augment(image, label)
        assert not np.array_equal(out_label, label)
        # bilinear image against nearest labels: away from edges the picture's level names the label
        expected = np.choose(np.where(out_label == IGNORE, 0, out_label), [0.2, 0.5, 0.9])
        inside = out_label != IGNORE
        agree = np.abs(out_image - expected)[inside] < 0.1
        assert agree.mean() > 0.9


def test_pixels_from_outside_the_crop_are_not_annotated() -> None:
    image, label = ring_sequence()
    augment = CineAugment(config(aug_prob=1.0, aug_rotate_deg=45.0, aug_scale=0.0, aug_flip=False), seed=2)
    out_labels = [augment(image, label)[1] for _ in range(8)]
    corners = [lab[:, :3, :3] for lab in out_labels]
    assert any((corner == IGNORE).all() for corner in corners)
    assert all(((lab == IGNORE) | (lab == 0))[:, 0, :].all() for lab in out_labels)


def test_elastic_deformation_is_off_by_default_and_bends_the_wall_when_on() -> None:
    assert not any(isinstance(t, Rand2DElasticd) for t in CineAugment(LVConfig()).transform.transforms)
    image, label = ring_sequence(frames=1)
    augment = CineAugment(config(aug_prob=0.0, aug_flip=False, aug_elastic_prob=1.0, aug_elastic_mm=4.0), seed=7)
    changed = []
    for _ in range(5):
        _, out_label = augment(image, label)
        wall_before, wall_after = label[0] == 1, out_label[0] == 1
        changed.append((wall_before ^ wall_after).sum() / wall_before.sum())
        # a smooth deformation moves the wall, not re-draws it: area within 30 %
        assert abs(int(wall_after.sum()) - int(wall_before.sum())) < 0.3 * wall_before.sum()
    assert np.median(changed) > 0.05


def test_same_seed_same_draws_and_restored_state_repeats_them() -> None:
    image, label = ring_sequence()
    settings = config(aug_prob=0.8, aug_elastic_prob=0.5, aug_noise_std=0.03)
    first, second = CineAugment(settings, seed=9), CineAugment(settings, seed=9)
    for _ in range(3):
        a, b = first(image, label), second(image, label)
        assert np.array_equal(a[1], b[1]) and np.array_equal(a[0], b[0])
    saved = first.state()
    expected = [first(image, label) for _ in range(3)]
    resumed = CineAugment(settings, seed=123)
    resumed.restore(saved)
    for want in expected:
        got = resumed(image, label)
        assert np.array_equal(got[1], want[1]) and np.array_equal(got[0], want[0])


def test_elastic_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="aug_elastic_prob"):
        LVConfig(aug_elastic_prob=1.5)
    with pytest.raises(ConfigError, match="aug_elastic_mm must be >= 0"):
        LVConfig(aug_elastic_mm=-1.0)
    with pytest.raises(ConfigError, match="aug_elastic_grid_mm must be positive"):
        LVConfig(aug_elastic_grid_mm=0.0)
