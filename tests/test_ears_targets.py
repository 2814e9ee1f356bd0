import numpy as np

from medseg.ears.targets import ear_heatmaps, gaussian_heatmap


def test_gaussian_peak_and_width():
    origin = np.array([0.0, 0.0, 0.0])
    heat = gaussian_heatmap((20, 20, 20), origin, 2.0, np.array([20.0, 10.0, 30.0]), 3.0)
    assert heat.dtype == np.float32
    assert np.unravel_index(heat.argmax(), heat.shape) == (10, 5, 15)
    assert np.isclose(heat.max(), 1.0)
    assert np.isclose(heat[11, 5, 15], np.exp(-4.0 / 18.0), rtol=1e-5)


def test_absent_ear_gives_zeros_and_channel_order():
    heat = ear_heatmaps((8, 8, 8), np.zeros(3), 2.0, {"left": np.array([4.0, 4.0, 4.0]), "right": None}, 3.0)
    assert heat.shape == (2, 8, 8, 8)
    assert heat[0].max() > 0.9
    assert not heat[1].any()
