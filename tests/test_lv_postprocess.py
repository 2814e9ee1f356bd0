"""Anatomical clean-up of predicted short-axis labels."""

import numpy as np

from medseg.lv.postprocess import (
    CAVITY,
    MYOCARDIUM,
    clean_labels,
    keep_enclosed_cavity,
    keep_largest_component,
    stack_centre,
)


def _disc(shape, centre, radius):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return np.hypot(yy - centre[0], xx - centre[1]) <= radius


def _lv_and_rv(shape=(64, 64)):
    frame = np.zeros(shape, np.uint8)
    frame[_disc(shape, (32, 24), 12)] = MYOCARDIUM
    frame[_disc(shape, (32, 24), 8)] = CAVITY
    # an "RV" labelled as cavity beside the septum, with a partial wall of its own
    rv = _disc(shape, (32, 46), 8) & ~_disc(shape, (32, 24), 12)
    frame[rv & ~_disc(shape, (32, 46), 6)] = MYOCARDIUM
    frame[_disc(shape, (32, 46), 6) & ~_disc(shape, (32, 24), 13)] = CAVITY
    frame[:, 54:] = 0
    return frame


def test_rv_labelled_as_cavity_is_removed_with_its_wall():
    frame = _lv_and_rv()
    cleaned = keep_enclosed_cavity(frame, (1.0, 1.0), max_wall_mm=6.0)
    assert not cleaned[32, 46]  # the RV blood pool
    assert cleaned[32, 24] == CAVITY and cleaned[32, 14] == MYOCARDIUM
    assert not cleaned[32, 52]  # RV free wall, far from the LV cavity
    assert (cleaned == CAVITY).sum() == _disc(frame.shape, (32, 24), 8).sum()


def test_clean_frame_is_unchanged_and_shapes_kept():
    frame = np.zeros((48, 48), np.uint8)
    frame[_disc(frame.shape, (24, 24), 12)] = MYOCARDIUM
    frame[_disc(frame.shape, (24, 24), 8)] = CAVITY
    labels = np.stack([np.stack([frame, frame]), np.stack([frame, np.zeros_like(frame)])])
    cleaned = clean_labels(labels, (1.5, 1.5), 15.0)
    assert cleaned.shape == labels.shape
    np.testing.assert_array_equal(cleaned, labels)


def test_stray_patch_is_dropped_and_frame_without_cavity_kept():
    frame = np.zeros((48, 48), np.uint8)
    frame[_disc(frame.shape, (20, 20), 10)] = MYOCARDIUM
    frame[_disc(frame.shape, (20, 20), 6)] = CAVITY
    frame[40:44, 40:44] = MYOCARDIUM
    cleaned = clean_labels(frame[None], (1.0, 1.0), 15.0)[0]
    assert not cleaned[42, 42].any() and cleaned[20, 20] == CAVITY
    ring_only = np.where(frame == CAVITY, 0, frame)
    np.testing.assert_array_equal(keep_enclosed_cavity(ring_only, (1.0, 1.0), 15.0), ring_only)



def _ring(shape, centre, outer, inner):
    frame = np.zeros(shape, np.uint8)
    frame[_disc(shape, centre, outer)] = MYOCARDIUM
    frame[_disc(shape, centre, inner)] = CAVITY
    return frame


def test_stack_centre_is_the_weighted_median_of_enclosed_cavities():
    shape = (80, 80)
    lv = _ring(shape, (30, 30), 12, 8)
    decoy = _ring(shape, (65, 65), 9, 6)  # better enclosed than nothing, but in one frame only
    labels = np.stack([np.stack([lv, lv, lv]), np.stack([lv, decoy, np.zeros(shape, np.uint8)])])
    centre = stack_centre(labels)
    np.testing.assert_allclose(centre, (30, 30), atol=0.5)
    assert stack_centre(np.zeros((2, 3, 16, 16), np.uint8)) is None


def test_frame_far_from_the_stack_lv_is_corrected_only_with_max_offset():
    shape = (96, 96)
    lv = _ring(shape, (30, 30), 12, 8)
    # a basal frame where a larger, well enclosed "aorta" far from the LV wins on its own
    basal = _ring(shape, (70, 70), 15, 11)
    basal[_ring(shape, (34, 32), 9, 5) > 0] = _ring(shape, (34, 32), 9, 5)[_ring(shape, (34, 32), 9, 5) > 0]
    only_far = _ring(shape, (75, 75), 12, 8)
    labels = np.stack([np.stack([lv, lv])] * 3 + [np.stack([basal, only_far])])  # (slices, phases, ...)
    plain = clean_labels(labels, (1.5, 1.5), 15.0)
    assert plain[3, 0, 70, 70] == CAVITY  # per frame alone, the far region wins
    checked = clean_labels(labels, (1.5, 1.5), 15.0, max_offset_mm=30.0)
    assert checked[3, 0, 70, 70] == 0 and checked[3, 0, 34, 32] == CAVITY
    assert not checked[3, 1].any()  # nothing near the LV: the frame is cleared
    np.testing.assert_array_equal(checked[:3], labels[:3])


def test_clean_labels_equals_frame_by_frame_on_the_whole_frame():
    """The clean-up runs in the box around the labels; the result must not depend on it."""
    rng = np.random.default_rng(3)
    shape = (90, 70)
    labels = np.zeros((2, 3, *shape), np.uint8)
    for index, frame in enumerate(labels.reshape(-1, *shape)):
        frame[:] = _ring(shape, (40 + index, 30), 12, 8)
        frame[_disc(shape, (40, 52), 6)] = CAVITY  # an RV-like region beside it
        frame[rng.integers(20, 70), rng.integers(5, 60)] = MYOCARDIUM  # stray pixels
        frame[0, 66:] = MYOCARDIUM  # a patch on the frame's edge
    expected = np.stack(
        [keep_enclosed_cavity(frame, (1.2, 1.0), 6.0) for frame in labels.reshape(-1, *shape)]
    )
    expected = keep_largest_component(expected).reshape(labels.shape)
    np.testing.assert_array_equal(clean_labels(labels, (1.2, 1.0), 6.0), expected)
    np.testing.assert_array_equal(clean_labels(np.zeros((2, 8, 8), np.uint8), (1.0, 1.0), 6.0), 0)


def test_open_cavity_at_the_edge_of_the_labels_is_scored_with_its_whole_border():
    frame = np.zeros((40, 40), np.uint8)
    frame[4:12, 4:12] = MYOCARDIUM
    frame[5:11, 5:11] = CAVITY  # 36 pixels, closed wall
    frame[19:26, 19:28] = MYOCARDIUM
    frame[20:26, 20:27] = CAVITY  # 42 pixels, wall open at the bottom (the lowest labelled row)
    cleaned = clean_labels(frame[None], (1.0, 1.0), 30.0)[0]
    assert cleaned[7, 7] == CAVITY and not cleaned[22, 22]
