import numpy as np
import pytest

from medseg.ears.preprocess import Grid, Preprocessed
from medseg.ears.shape_prior import ShapePrior, fit_shape_prior, head_threshold, lateral_depth


def test_fit_and_check_pair():
    rng = np.random.default_rng(0)
    landmarks = []
    for _ in range(6):
        right = rng.normal(0, 5, 3)
        landmarks.append({"left": right + np.array([100.0 + rng.normal(0, 2), rng.normal(0, 2), 0.0]), "right": right})
    landmarks.append({"left": np.zeros(3), "right": None})
    prior = fit_shape_prior(landmarks, [30.0, 32.0, 28.0], 3.0, 4.0, 15.0)
    assert prior.n_pairs == 6 and abs(prior.distance_mean - 100) < 5
    assert prior.distance_sd >= 4.0
    assert prior.check_pair(np.array([100.0, 0, 0]), np.zeros(3)) is None
    assert "patient's left" in prior.check_pair(np.zeros(3), np.array([100.0, 0, 0]))
    assert "distance" in prior.check_pair(np.array([40.0, 0, 0]), np.zeros(3))
    assert "direction" in prior.check_pair(np.array([70.0, 70.0, 0]), np.zeros(3))
    assert ShapePrior.from_dict(prior.to_dict()) == prior


def test_defaults_with_few_cases():
    prior = fit_shape_prior([{"left": np.zeros(3), "right": None}], [], 3.0, 4.0, 15.0)
    assert prior.n_pairs == 0 and prior.distance_mean == 100.0


def test_lateral_depth_and_lone_check():
    shape = (60, 10, 10)
    array = np.zeros(shape, np.float32)
    array[10:50] = 0.3  # head from x = 20 to 98 mm
    grid = Grid(shape, (0.0, 0.0, 0.0), (2.0,) * 3, (1, 0, 0, 0, 1, 0, 0, 0, 1))
    prep = Preprocessed(array, np.zeros(3), 2.0, shape, grid)
    threshold = head_threshold(-300, (-1000, 3000))
    left = lateral_depth(prep, np.array([70.0, 10.0, 10.0]), "left", threshold)
    right = lateral_depth(prep, np.array([70.0, 10.0, 10.0]), "right", threshold)
    assert left == (30.0, False) and right == (52.0, False)
    assert lateral_depth(prep, np.array([5.0, 10.0, 10.0]), "left", threshold)[0] == np.inf
    array[:] = 0.3
    assert lateral_depth(prep, np.array([70.0, 10.0, 10.0]), "left", threshold)[1] is True
    prior = ShapePrior(100.0, 5.0, (1.0, 0.0, 0.0), 20.0, 30.0, 4.0, 3.0, 5, 10)
    assert prior.check_lone((30.0, False), (130.0, False)) is None
    assert prior.other_side_least_depth() == pytest.approx(85.0 * np.cos(np.radians(20.0)) + 18.0)
    assert "other ear" in prior.check_lone((30.0, False), (50.0, False))  # near the midline: the jaw, not an ear
    assert prior.check_lone((30.0, False), (50.0, True)) is None  # the field of view ends: no evidence
    assert "outside" in prior.check_lone((60.0, False))
    assert "other side" in prior.check_lone((30.0, False), (20.0, False))
    assert "at least" in prior.check_lone((80.0, True))
    assert "not inside" in prior.check_lone((np.inf, False))
