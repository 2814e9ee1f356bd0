import numpy as np

from medseg.ears.hard_negatives import HardNegative, HardNegativePool, mine_volume


def test_mines_peaks_away_from_the_ear_of_that_channel():
    heat = np.zeros((2, 40, 40, 40), np.float32)
    heat[0, 10, 10, 10] = 0.9  # the left ear
    heat[0, 30, 30, 30] = 0.5  # false peak (bone elsewhere)
    heat[1, 10, 10, 10] = 0.4  # right channel answering at the left ear
    heat[1, 20, 5, 5] = 0.1  # too weak
    ears = {"left": np.array([10.0, 10.0, 11.0]), "right": None}
    found = mine_volume(3, heat, ears, 2.0, 15.0, 0.2, 10)
    assert [(n.side, n.index) for n in found] == [("left", (30, 30, 30)), ("right", (10, 10, 10))]
    assert all(n.case == 3 for n in found)
    assert len(mine_volume(3, heat, ears, 2.0, 15.0, 0.2, 1)) == 1


def test_pool_caps_and_samples():
    pool = HardNegativePool(2)
    pool.update([HardNegative(0, (i, 0, 0), "left", 0.5) for i in range(3)] + [HardNegative(1, (0, 0, 0), "right", 0.3)])
    assert len(pool) == 3
    pool.update([HardNegative(0, (9, 9, 9), "left", 0.8)])
    assert pool.items()[0].index == (9, 9, 9) and len(pool) == 3
    assert pool.sample(np.random.default_rng(0)) in pool.items()
