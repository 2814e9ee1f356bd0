import math

import numpy as np
import pytest

from medseg import metrics


def disc(shape, centre, radius):
    rr, cc = np.mgrid[: shape[0], : shape[1]]
    return (rr - centre[0]) ** 2 + (cc - centre[1]) ** 2 <= radius**2


def test_dice_concentric_discs():
    a, b = disc((128, 128), (64, 64), 20), disc((128, 128), (64, 64), 25)
    assert metrics.dice(a, b) == pytest.approx(2 * 400 / (400 + 625), abs=0.01)
    assert metrics.dice(a, a) == 1.0


@pytest.mark.parametrize("spacing", [(1.0, 1.0), (0.5, 0.5)])
def test_hausdorff_and_apd_concentric_discs(spacing):
    a, b = disc((128, 128), (64, 64), 20), disc((128, 128), (64, 64), 25)
    expected = 5.0 * spacing[0]
    assert metrics.hausdorff(a, b, spacing) == pytest.approx(expected, abs=1.0 * spacing[0])
    assert metrics.hausdorff(a, b, spacing, percentile=95) <= metrics.hausdorff(a, b, spacing) + 1e-9
    assert metrics.average_perpendicular_distance(a, b, spacing) == pytest.approx(expected, abs=0.3 * spacing[0])
    assert metrics.average_perpendicular_distance(a, a, spacing) == pytest.approx(0.0, abs=1e-9)


def test_anisotropic_spacing_uses_physical_units():
    a, b = disc((128, 128), (64, 64), 20), disc((128, 128), (64, 74), 20)
    assert metrics.hausdorff(a, b, (1.0, 2.0)) == pytest.approx(20.0, abs=2.1)
    assert metrics.hausdorff(a, b, (2.0, 1.0)) == pytest.approx(10.0, abs=1.1)


def test_empty_cases_are_defined():
    empty, full = np.zeros((32, 32), bool), disc((32, 32), (16, 16), 5)
    assert metrics.dice(empty, empty) == 1.0
    assert metrics.hausdorff(empty, empty, (1, 1)) == 0.0
    assert metrics.average_perpendicular_distance(empty, empty, (1, 1)) == 0.0
    assert metrics.dice(empty, full) == 0.0
    assert math.isnan(metrics.hausdorff(empty, full, (1, 1)))
    assert math.isnan(metrics.average_perpendicular_distance(full, empty, (1, 1)))


def test_frame_metrics_ring_and_ignore():
    outer, inner = disc((96, 96), (48, 48), 30), disc((96, 96), (48, 48), 20)
    ref = np.zeros((96, 96), np.uint8)
    ref[outer] = 1
    ref[inner] = 2
    result = metrics.frame_metrics(ref, ref, (1.3, 1.3))
    assert result["dice"] == 1.0 and result["hd"] == 0.0 and result["apd_endo"] == 0.0
    partial = np.full_like(ref, 255)
    partial[inner] = 2
    pred = ref.copy()
    pred[disc((96, 96), (48, 48), 22) & ~inner] = 2
    result = metrics.frame_metrics(pred, partial, (1.0, 1.0))
    assert math.isnan(result["dice"]) and math.isnan(result["apd_epi"])
    assert result["apd_endo"] == pytest.approx(2.0, abs=0.3)


def test_mean_sd_skips_nan():
    summary = metrics.mean_sd([1.0, 3.0, float("nan")])
    assert summary == {"mean": 2.0, "sd": pytest.approx(math.sqrt(2)), "n": 2, "n_undefined": 1}


def test_myocardium_dice_scores_only_annotated_pixels():
    outer, inner = disc((64, 64), (32, 32), 20), disc((64, 64), (32, 32), 12)
    ref = np.full((64, 64), 255, np.uint8)
    ref[outer] = 1
    ref[inner] = 2
    pred = outer & ~inner
    pred_with_outside = pred | disc((64, 64), (5, 5), 4)  # myocardium predicted where nobody annotated
    assert metrics.myocardium_dice(pred_with_outside, ref) == 1.0
    cavity_only = np.full_like(ref, 255)
    cavity_only[inner] = 2
    assert math.isnan(metrics.myocardium_dice(pred, cavity_only))
    assert metrics.frame_metrics(np.where(pred, 1, 0), ref, (1.0, 1.0))["dice"] == 1.0


def test_mean_sd_text_names_n_when_some_values_are_undefined():
    assert metrics.mean_sd_text(metrics.mean_sd([0.7, 0.9])) == "0.8000 ± 0.1414"
    assert metrics.mean_sd_text(metrics.mean_sd([0.5, 0.9, float("nan")]), 2) == "0.70 ± 0.28 (n=2 of 3)"
    assert metrics.mean_sd_text(metrics.mean_sd([float("nan")])) == "–"
    assert metrics.mean_sd_text({"mean": None, "sd": None, "n": 0, "n_undefined": 2}) == "–"
