"""A slice's full annotation carried to its other phases by deformable registration."""

import numpy as np
import pytest

from medseg.lv.config import LVConfig
from medseg.lv.dataset import IGNORE, load_training_sequences
from medseg.lv.label_propagation import full_frames, propagate_labels, register_frames, warp_labels
from medseg.lv.partial_labels import NOT_CAVITY, bound_cavity_only_frames
from medseg.metrics import dice
from test_lv_synthetic import make_cine, write_case


def _beating_slice(phases=8):
    frames, labels = make_cine(slices=1, phases=phases, seed=3)
    return frames[0], labels[0]


def _sparse_case(folder):
    """A training-table row of a two-slice, eight-phase study labelled at phases 0 and 4."""
    write_case(folder, seed=5, sparse=True)
    return {"subject": "s", "case": "c", "image": str(folder / "image.nii.gz"), "annotation": str(folder / "labels.nii.gz")}


def test_full_frames_need_both_myocardium_and_cavity():
    labels = np.full((4, 6, 6), IGNORE, np.uint8)
    labels[0, 1:5, 1:5], labels[0, 2:4, 2:4] = 1, 2
    labels[1, 2:4, 2:4] = 2
    labels[2] = 0
    labels[3, 1:5, 1:5], labels[3, 2:4, 2:4] = 1, 2
    assert full_frames(labels).tolist() == [0, 3]


def test_registration_follows_the_contraction():
    """Warping end-diastole onto end-systole matches the truth far better than copying it."""
    frames, labels = _beating_slice()
    systole = len(frames) // 2
    warped = warp_labels(labels[0], register_frames(frames[systole], frames[0]))
    truth = labels[systole]
    assert dice(labels[0] == 2, truth == 2) < 0.7, "the phantom must move enough to test anything"
    assert dice(warped == 2, truth == 2) > 0.9
    assert dice(warped == 1, truth == 1) > 0.75
    assert dice(warped == 1, truth == 1) > dice(labels[0] == 1, truth == 1) + 0.2


def test_every_phase_gets_labels_from_the_nearest_full_frame():
    frames, labels = _beating_slice()
    sparse = np.full_like(labels, IGNORE)
    sparse[0] = labels[0]
    out = propagate_labels(frames, sparse)
    assert np.array_equal(out[0], labels[0]), "annotated frames stay as they are"
    for phase in range(1, len(frames)):
        assert dice(out[phase] == 1, labels[phase] == 1) > 0.75, phase
        assert dice(out[phase] == 2, labels[phase] == 2) > 0.9, phase
    assert sparse[1:].min() == IGNORE, "the input is not modified"


def test_nearest_source_is_cyclic(monkeypatch):
    """Phase 7 of 8 lies next to phase 0 across the cycle's end; ties (phases 2, 6) take the first."""
    import medseg.lv.label_propagation as propagation

    frames, labels = _beating_slice()
    sparse = np.full_like(labels, IGNORE)
    sparse[0], sparse[4] = labels[0], labels[4]
    sources = {}
    real = propagation.register_frames

    def spy(fixed, moving):
        phase = next(t for t in range(len(frames)) if np.array_equal(frames[t], fixed))
        sources[phase] = next(t for t in (0, 4) if np.array_equal(frames[t], moving))
        return real(fixed, moving)

    monkeypatch.setattr(propagation, "register_frames", spy)
    propagate_labels(frames, sparse)
    assert sources[7] == 0 and sources[1] == 0
    assert sources[3] == 4 and sources[5] == 4
    assert sources[2] == 0 and sources[6] == 0
    assert set(sources) == {1, 2, 3, 5, 6, 7}


def test_a_contoured_cavity_wins_and_only_its_unknown_outside_is_filled():
    frames, labels = _beating_slice()
    systole = len(frames) // 2
    sparse = np.full((1, *labels.shape), IGNORE, np.uint8)
    sparse[0, 0] = labels[0]
    sparse[0, systole] = np.where(labels[systole] == 2, 2, IGNORE)
    bounded = bound_cavity_only_frames(sparse)[0]
    out = propagate_labels(frames, bounded)
    end_systole = out[systole]
    assert np.array_equal(end_systole == 2, labels[systole] == 2), "the contour alone decides the cavity"
    assert set(np.unique(end_systole)) <= {0, 1, 2, NOT_CAVITY}
    assert dice(end_systole == 1, labels[systole] == 1) > 0.6
    unbounded = propagate_labels(frames, sparse[0])[systole]
    assert np.array_equal(unbounded == 2, labels[systole] == 2), "no cavity added outside the contour"


def test_a_slice_without_a_full_frame_is_returned_unchanged():
    frames, labels = _beating_slice()
    cavity_only = np.where(labels == 2, 2, IGNORE).astype(np.uint8)
    assert np.array_equal(propagate_labels(frames, cavity_only), cavity_only)


def test_shapes_must_match():
    with pytest.raises(ValueError, match="same"):
        propagate_labels(np.zeros((3, 8, 8)), np.zeros((2, 8, 8), np.uint8))


def test_training_sequences_are_propagated_only_when_asked(tmp_path):
    row = _sparse_case(tmp_path)
    base = LVConfig(depth=8, crop_size=32, train_crop=None, seed=1)
    plain = load_training_sequences([row], base)
    propagated = load_training_sequences([row], base.replace(propagate_labels=True))
    assert [len(s.labelled_frames) for s in plain] == [2, 2]
    assert [len(s.labelled_frames) for s in propagated] == [8, 8]
    for before, after in zip(plain, propagated):
        for phase in before.labelled_frames:
            assert np.array_equal(before.label[phase], after.label[phase])


def test_training_windows_still_hold_an_annotated_frame(tmp_path):
    """Propagated frames add supervision around the annotations; they do not dilute them."""
    from medseg.lv.dataset import sample_window

    row = _sparse_case(tmp_path)
    sequence = load_training_sequences([row], LVConfig(depth=8, crop_size=32, train_crop=None, propagate_labels=True))[0]
    assert sequence.annotated_frames.tolist() == [0, 4]
    rng = np.random.default_rng(0)
    windows = [set(sample_window(sequence, 3, rng).tolist()) for _ in range(200)]
    assert all(window & {0, 4} for window in windows)
    assert set().union(*windows) == set(range(8)), "every phase still gets trained on"


def test_the_thread_count_is_restored_and_does_not_change_the_result():
    import SimpleITK as sitk

    frames, labels = _beating_slice()
    sparse = np.full_like(labels, IGNORE)
    sparse[0] = labels[0]
    before = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    one = propagate_labels(frames, sparse, threads=1)
    assert sitk.ProcessObject.GetGlobalDefaultNumberOfThreads() == before
    assert np.array_equal(one, propagate_labels(frames, sparse, threads=2))
