import numpy as np
import pytest

from medseg.lv.scar import IGNORE, SyntheticScar


def ring_window(frames: int = 4, labelled: tuple[int, ...] = (0, 1, 2, 3), size: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """A cavity (signal 1.0) inside a wall (0.3) on tissue (0.5); a ring that shrinks over time."""
    rows, cols = np.mgrid[:size, :size]
    rho = np.hypot(rows - size / 2, cols - size / 2)
    image = np.full((frames, size, size), 0.5, np.float32)
    label = np.full((frames, size, size), IGNORE, np.uint8)
    for t in range(frames):
        endo, epi = 9.0 - t, 14.0 - 0.5 * t
        truth = np.where(rho < endo, 2, np.where(rho < epi, 1, 0)).astype(np.uint8)
        image[t][truth == 1] = 0.3
        image[t][truth == 2] = 1.0
        if t in labelled:
            label[t] = truth
    return image, label


def test_off_draws_nothing_and_returns_the_input():
    image, label = ring_window()
    rng = np.random.default_rng(0)
    before = rng.bit_generator.state
    assert SyntheticScar(0.0)(image, label, rng) is image
    assert rng.bit_generator.state == before


def test_repaints_one_sector_of_the_wall_only():
    image, label = ring_window()
    scar = SyntheticScar(1.0, signal=(0.8, 0.8), width_deg=(90.0, 90.0))
    out = scar(image, label, np.random.default_rng(1))
    changed = np.abs(out - image) > 1e-3
    assert changed.any()
    wall_or_edge = np.stack([np.isin(label[t], (1,)) for t in range(len(label))])
    from scipy import ndimage

    near_wall = ndimage.binary_dilation(wall_or_edge, iterations=2, structure=np.ones((1, 3, 3)))
    assert not (changed & ~near_wall).any(), "pixels away from the wall changed"
    core = ndimage.binary_erosion(wall_or_edge, iterations=1, structure=np.ones((1, 3, 3))) & changed
    assert np.median(out[core]) == pytest.approx(0.8, abs=0.01), "the scar takes the drawn fraction of the blood signal"
    assert out[core].min() >= 0.3 - 1e-6 and out[core].max() <= 0.8 + 1e-6, "soft edges blend wall and scar"
    share = changed[0][label[0] == 1].mean()
    assert 0.15 < share < 0.4, f"a 90° sector is about a quarter of the wall, got {share:.2f}"
    assert out.dtype == np.float32


def test_same_sector_in_every_frame_and_unlabelled_frames_follow_the_nearest_labelled():
    image, label = ring_window(frames=4, labelled=(0, 3))
    out = SyntheticScar(1.0, signal=(0.1, 0.1))(image, label, np.random.default_rng(2))
    changed = np.abs(out - image) > 1e-3
    for t in range(4):
        assert changed[t].any(), f"frame {t} has no scar"
    masks = SyntheticScar.wall_masks(label)
    assert np.array_equal(masks[1], masks[0]) and np.array_equal(masks[2], masks[3])
    angles = [np.degrees(np.arctan2(*(np.argwhere(changed[t]).mean(axis=0) - 24.0))) for t in range(4)]
    assert np.ptp(angles) < 10.0, f"the sector moved between frames: {angles}"


def test_no_wall_no_change():
    image, label = ring_window()
    label[label == 1] = 0
    assert SyntheticScar(1.0)(image, label, np.random.default_rng(0)) is image
    assert SyntheticScar(1.0)(image, np.full_like(label, IGNORE), np.random.default_rng(0)) is image


def test_same_generator_state_same_scar():
    image, label = ring_window()
    a = SyntheticScar(1.0)(image, label, np.random.default_rng(7))
    b = SyntheticScar(1.0)(image, label, np.random.default_rng(7))
    c = SyntheticScar(1.0)(image, label, np.random.default_rng(8))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize("kwargs", [{"prob": 1.5}, {"prob": 0.5, "signal": (0.9, 0.1)}, {"prob": 0.5, "signal": (0.0, 0.5)}])
def test_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError):
        SyntheticScar(**kwargs)
