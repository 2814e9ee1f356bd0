"""Cavity-only frames: the outside of an endocardial contour is known to be not cavity."""

import numpy as np
import pytest
import torch

from medseg.lv.config import LVConfig
from medseg.lv.dataset import IGNORE, load_training_sequences
from medseg.lv.partial_labels import NOT_CAVITY, bound_cavity_only_frames, cavity_only_frames
from medseg.lv.train import MaskedDiceCELoss


def _frames() -> np.ndarray:
    """(slices 1, phases 3, 8, 8): full labels, cavity only, nothing."""
    labels = np.full((1, 3, 8, 8), IGNORE, np.uint8)
    labels[0, 0] = 0
    labels[0, 0, 2:6, 2:6] = 1
    labels[0, 0, 3:5, 3:5] = 2
    labels[0, 1, 3:5, 3:5] = 2
    return labels


def test_only_frames_with_the_cavity_alone_are_found():
    assert cavity_only_frames(_frames()).tolist() == [[False, True, False]]


def test_bounding_marks_the_outside_of_cavity_only_frames():
    labels = _frames()
    out = bound_cavity_only_frames(labels)
    assert (out[0, 1][labels[0, 1] == IGNORE] == NOT_CAVITY).all()
    assert (out[0, 1][labels[0, 1] == 2] == 2).all()
    assert np.array_equal(out[0, 0], labels[0, 0]) and np.array_equal(out[0, 2], labels[0, 2])
    assert np.array_equal(labels, _frames()), "the input must not change"


def test_loss_without_bounded_pixels_is_cross_entropy_plus_dice():
    from monai.losses import MaskedDiceLoss

    torch.manual_seed(0)
    logits = torch.randn(3, 3, 8, 8)
    target = torch.randint(0, 3, (3, 8, 8)).to(torch.uint8)
    target[0, :3] = IGNORE
    mask = target != IGNORE
    clean = torch.where(mask, target, torch.zeros_like(target)).long().unsqueeze(1)
    expected = torch.nn.functional.cross_entropy(logits, target.long(), ignore_index=IGNORE) + MaskedDiceLoss(
        include_background=False, to_onehot_y=True, softmax=True, batch=True
    )(logits, clean, mask=mask.unsqueeze(1).float())
    assert MaskedDiceCELoss()(logits, target).item() == pytest.approx(expected.item(), rel=1e-5)


def test_bounded_pixels_punish_cavity_and_accept_myocardium_or_background():
    loss = MaskedDiceCELoss()
    target = torch.full((1, 4, 4), NOT_CAVITY, dtype=torch.uint8)

    def logits_for(winner: int) -> torch.Tensor:
        logits = torch.zeros(1, 3, 4, 4)
        logits[:, winner] = 8.0
        return logits

    cavity, myocardium, background = (loss(logits_for(k), target).item() for k in (2, 1, 0))
    assert cavity > 5.0
    assert myocardium < 0.01 and background < 0.01


def test_bounded_pixels_train_only_the_cavity_channel_against_the_others():
    logits = torch.zeros(1, 3, 4, 4, requires_grad=True)
    target = torch.full((1, 4, 4), NOT_CAVITY, dtype=torch.uint8)
    MaskedDiceCELoss()(logits, target).backward()
    grad = logits.grad[0].mean(dim=(1, 2))
    assert grad[2] > 0, "descent must lower the cavity logit"
    assert grad[0] < 0 and grad[1] < 0 and grad[0] == pytest.approx(grad[1].item())


def test_training_sequences_carry_the_bound_only_when_asked(tmp_path):
    import SimpleITK as sitk

    from test_lv_synthetic import make_cine

    frames, labels = make_cine(seed=0)
    labels[:, 2:] = IGNORE
    labels[:, 1] = np.where(labels[:, 1] == 2, 2, IGNORE)  # phase 1: endocardium only
    for name, array in (("image.nii.gz", frames), ("labels.nii.gz", labels)):
        image = sitk.GetImageFromArray(np.ascontiguousarray(array.transpose(1, 0, 2, 3)), isVector=False)
        image.SetSpacing([2.0, 2.0, 8.0, 40.0])
        sitk.WriteImage(image, str(tmp_path / name))
    row = {"subject": "s", "case": "c", "image": str(tmp_path / "image.nii.gz"), "annotation": str(tmp_path / "labels.nii.gz")}
    base = LVConfig(depth=8, crop_size=32, train_crop=None, seed=1)
    bounded = load_training_sequences([row], base)
    ignored = load_training_sequences([row], base.replace(bound_cavity_only=False))
    assert [len(s.labelled_frames) for s in bounded] == [2, 2]
    for seq_b, seq_i in zip(bounded, ignored):
        assert np.array_equal(seq_b.label[0], seq_i.label[0]), "fully labelled frames are unchanged"
        assert (seq_b.label[1] == NOT_CAVITY).sum() > (seq_b.label[1] == 2).sum() > 0
        assert not (seq_i.label == NOT_CAVITY).any()
