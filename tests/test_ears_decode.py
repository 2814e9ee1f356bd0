import numpy as np

from medseg.ears.decode import Candidate, decide, extract_candidates, find_peaks, refine_peak
from medseg.ears.preprocess import Grid, Preprocessed
from medseg.ears.shape_prior import ShapePrior
from medseg.ears.targets import gaussian_heatmap

PRIOR = ShapePrior(100.0, 5.0, (1.0, 0.0, 0.0), 20.0, 30.0, 5.0, 3.0, 10, 20)


def _prep(shape=(40, 30, 30)):
    grid = Grid(shape, (0.0, 0.0, 0.0), (2.0, 2.0, 2.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    return Preprocessed(np.zeros(shape, np.float32), np.zeros(3), 2.0, shape, grid)


def test_find_peaks_orders_and_separates():
    volume = np.zeros((30, 30, 30), np.float32)
    volume[5, 5, 5], volume[6, 5, 5], volume[20, 20, 20] = 0.5, 0.4, 0.9
    peaks = find_peaks(volume, 0.1, 3, 5)
    assert [p[0] for p in peaks] == [(20, 20, 20), (5, 5, 5)]
    assert find_peaks(volume, 0.1, 3, 5, valid_shape=(15, 15, 15)) == [((5, 5, 5), 0.5)]


def test_subvoxel_refinement():
    center = np.array([21.3, 17.8, 30.45])
    heat = gaussian_heatmap((30, 30, 30), np.zeros(3), 2.0, center, 3.0)
    index = np.unravel_index(heat.argmax(), heat.shape)
    refined = refine_peak(heat, index)
    assert np.linalg.norm(refined * 2.0 - center) < 0.05
    assert np.linalg.norm(np.asarray(index) * 2.0 - center) > 0.5


def test_extract_candidates_maps_to_world():
    prep = _prep()
    heat = np.stack([gaussian_heatmap(prep.array.shape, prep.origin, 2.0, np.array([60.0, 30.0, 30.0]), 3.0),
                     gaussian_heatmap(prep.array.shape, prep.origin, 2.0, np.array([10.0, 30.0, 30.0]), 3.0) * 0.8])
    cands = extract_candidates(heat, prep, 0.05, 10.0, 3)
    assert np.allclose(cands["left"][0].position, [60, 30, 30], atol=0.1)
    assert np.isclose(cands["right"][0].score, 0.8, atol=0.01)


def _cand(side, score, x, other=0.0, depths=None):
    return Candidate(side, score, np.zeros(3), np.array([x, 0.0, 0.0]), other, depths or {})


def test_pair_under_shape_constraint_beats_stronger_false_peak():
    cands = {
        "left": [_cand("left", 0.9, 20.0), _cand("left", 0.7, 50.0)],
        "right": [_cand("right", 0.8, -50.0)],
    }
    free = decide(cands, 0.3, None)
    assert free.ears["left"].position[0] == 20.0
    constrained = decide(cands, 0.3, PRIOR)
    assert constrained.ears["left"].position[0] == 50.0 and constrained.ears["right"].position[0] == -50.0
    reasons = [r for c, r in constrained.rejected if c.position[0] == 20.0]
    assert reasons and "inter-ear distance" in reasons[0]


def test_swapped_channels_are_resolved_by_side_order():
    cands = {"left": [_cand("left", 0.8, -50.0, other=0.5)], "right": [_cand("right", 0.7, 50.0, other=0.6)]}
    decision = decide(cands, 0.3, PRIOR)
    assert decision.ears["left"].position[0] == 50.0 and decision.ears["right"].position[0] == -50.0
    assert np.isclose(decision.ears["left"].score, 0.6)


def test_lone_candidate_must_lie_where_an_ear_can():
    inside = {"left": (30.0, False), "right": (120.0, False)}
    deep = {"left": (70.0, False), "right": (60.0, False)}
    ok = decide({"left": [_cand("left", 0.8, 40.0, depths=inside)], "right": []}, 0.3, PRIOR)
    assert ok.present("left") and not ok.present("right")
    bad = decide({"left": [_cand("left", 0.8, 0.0, depths=deep)], "right": []}, 0.3, PRIOR)
    assert not bad.present("left")
    assert "lone" in bad.rejected[0][1]
    weak = decide({"left": [_cand("left", 0.2, 40.0, depths=inside)], "right": []}, 0.3, PRIOR)
    assert not weak.present("left") and "below threshold" in weak.rejected[0][1]
