"""Pose and appearance augmentation of the ear localiser's training patches."""

from __future__ import annotations

import numpy as np
import pytest

from medseg.ears.augment import PatchAugmenter, context_size


def _blob(size: int, centre: tuple[float, float, float], sigma: float) -> np.ndarray:
    grid = np.stack(np.meshgrid(*[np.arange(size)] * 3, indexing="ij"), axis=-1)
    return np.exp(-np.sum((grid - np.asarray(centre)) ** 2, axis=-1) / (2 * sigma**2)).astype(np.float32)


def test_context_is_the_patch_without_pose_changes() -> None:
    assert context_size(48, 0.0, 0.0) == 48
    assert context_size(48, 15.0, 0.15) > context_size(48, 15.0, 0.0) > 48
    assert context_size(48, 0.0, 0.2) > 48


@pytest.mark.parametrize("seed", range(5))
def test_pose_never_reads_outside_the_context_crop(seed: int) -> None:
    augmenter = PatchAugmenter(24, 15.0, 0.15, 0.0, np.random.default_rng(seed))
    size = augmenter.context
    image = np.ones((2, size, size, size), np.float32)
    target = np.ones((2, size, size, size), np.float32)
    moved_image, moved_target = augmenter.pose(image, target)
    assert moved_image.shape == (2, 24, 24, 24) and moved_target.shape == (2, 24, 24, 24)
    # zero padding would show as values below one near the patch corners
    assert moved_image.min() > 0.99 and moved_target.min() > 0.99


@pytest.mark.parametrize("seed", range(4))
def test_pose_moves_image_and_target_together(seed: int) -> None:
    augmenter = PatchAugmenter(32, 20.0, 0.2, 0.0, np.random.default_rng(seed))
    size = augmenter.context
    centre = (size / 2 + 6, size / 2 - 4, size / 2 + 3)
    image = np.stack([_blob(size, centre, 2.0), np.ones((size,) * 3, np.float32)])
    target = np.stack([_blob(size, centre, 3.0), np.zeros((size,) * 3, np.float32)])
    moved_image, moved_target = augmenter.pose(image, target)
    image_peak = np.unravel_index(np.argmax(moved_image[0]), moved_image[0].shape)
    target_peak = np.unravel_index(np.argmax(moved_target[0]), moved_target[0].shape)
    assert np.abs(np.subtract(image_peak, target_peak)).max() <= 1
    # the blob is off-centre, so a rotation or zoom moves it away from its unmoved place
    unmoved = np.subtract(centre, (size - 32) / 2)
    assert np.linalg.norm(np.subtract(target_peak, unmoved)) > 0.5
    assert moved_target[1].max() == 0.0


def test_pose_is_the_identity_when_switched_off() -> None:
    augmenter = PatchAugmenter(16, 0.0, 0.0, 0.0, np.random.default_rng(0))
    image = np.random.default_rng(1).random((2, 16, 16, 16)).astype(np.float32)
    target = np.random.default_rng(2).random((2, 16, 16, 16)).astype(np.float32)
    moved_image, moved_target = augmenter.pose(image, target)
    assert moved_image is image and moved_target is target


def test_look_changes_intensities_within_the_unit_range() -> None:
    patch = np.random.default_rng(3).random((24, 24, 24)).astype(np.float32) * 0.8 + 0.1
    augmenter = PatchAugmenter(24, 0.0, 0.0, 1.0, np.random.default_rng(4))
    looked = augmenter.look(patch)
    assert looked.shape == patch.shape and looked.dtype == np.float32
    assert looked.min() >= 0.0 and looked.max() <= 1.0
    assert np.abs(looked - patch).mean() > 0.01


def test_look_is_the_identity_when_switched_off() -> None:
    patch = np.random.default_rng(5).random((16, 16, 16)).astype(np.float32)
    looked = PatchAugmenter(16, 0.0, 0.0, 0.0, np.random.default_rng(6)).look(patch)
    np.testing.assert_array_equal(looked, patch)


def test_draws_follow_the_generator() -> None:
    patch = np.random.default_rng(7).random((16, 16, 16)).astype(np.float32)
    image = np.stack([patch, np.ones_like(patch)])
    first = PatchAugmenter(8, 10.0, 0.1, 0.5, np.random.default_rng(8))
    second = PatchAugmenter(8, 10.0, 0.1, 0.5, np.random.default_rng(8))
    size = first.context
    crop = image[:, :size, :size, :size]
    for _ in range(3):
        a = first.look(first.pose(crop, crop)[0][0])
        b = second.look(second.pose(crop, crop)[0][0])
        np.testing.assert_array_equal(a, b)
