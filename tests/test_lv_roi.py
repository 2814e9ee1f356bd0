from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_lv_synthetic import make_cine

from medseg.lv.roi import Roi, locate_heart, make_roi

SUNNYBROOK = Path(__file__).resolve().parents[2] / "shared" / "data" / "sunnybrook"


def test_crop_contains_the_lv_and_maps_back():
    frames, labels = make_cine(slices=2, phases=8, size=96, spacing=1.5, centre=(40.0, 55.0))
    roi = make_roi(frames, (1.5, 1.5), crop_spacing=2.0, crop_size=48, smooth_mm=15)
    assert np.hypot(roi.centre[0] - 40, roi.centre[1] - 55) * 1.5 < 20
    crop = roi.crop(labels[0], nearest=True)
    assert crop.shape == (8, 48, 48)
    lv_in = (crop == 1).sum() * 4.0
    lv_all = (labels[0] == 1).sum() * 2.25
    assert lv_in == pytest.approx(lv_all, rel=0.1), "the crop holds the whole myocardium"
    onehot = np.stack([(crop == k) for k in range(3)], axis=1).astype(np.float32)
    back = roi.uncrop_probabilities(onehot).argmax(dim=1).numpy()
    dice = 2 * ((back == 1) & (labels[0] == 1)).sum() / ((back == 1).sum() + (labels[0] == 1).sum())
    assert dice > 0.8


def test_identity_roi_round_trip():
    rng = np.random.default_rng(0)
    image = rng.random((2, 32, 32)).astype(np.float32)
    roi = Roi(centre=(15.5, 15.5), input_spacing=(1.0, 1.0), input_shape=(32, 32), spacing=1.0, size=32)
    assert np.allclose(roi.crop(image), image, atol=1e-5)
    outside = roi.crop(np.zeros((1, 32, 32), np.uint8), nearest=True)
    assert (outside == 0).all()
    shifted = Roi(centre=(0.0, 0.0), input_spacing=(1.0, 1.0), input_shape=(32, 32), spacing=1.0, size=8)
    assert (shifted.crop(np.zeros((32, 32), np.uint8), nearest=True)[0, 0] == 255)


def _uncrop_whole_grid(roi: Roi, probabilities: torch.Tensor) -> torch.Tensor:
    """The reference: every input pixel sampled from the crop."""
    grid = roi._input_grid().expand(probabilities.shape[0], -1, -1, -1)
    out = F.grid_sample(probabilities, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    out[:, 0] += (1.0 - out.sum(dim=1)).clamp_min(0.0)
    return out


@pytest.mark.parametrize(
    "centre, spacing, size",
    [((40.3, 55.7), 1.5, 24), ((1.0, 90.0), 2.0, 32), ((-30.0, 40.0), 1.0, 16), ((47.5, 47.5), 0.5, 200), ((500.0, 3.0), 1.0, 8)],
)
def test_uncropping_inside_the_box_equals_uncropping_the_whole_grid(centre, spacing, size):
    roi = Roi(centre=centre, input_spacing=(1.3, 1.1), input_shape=(96, 90), spacing=spacing, size=size)
    logits = torch.randn(4, 3, size, size, generator=torch.Generator().manual_seed(1)) * 3
    probabilities = torch.softmax(logits, dim=1)
    reference = _uncrop_whole_grid(roi, probabilities)
    assert torch.equal(roi.uncrop_probabilities(probabilities), reference)
    labels = roi.uncrop_labels(probabilities)
    assert labels.dtype == np.uint8 and labels.shape == (4, 96, 90)
    assert np.array_equal(labels, reference.argmax(dim=1).numpy())
    rows, cols = roi.input_box()
    outside = np.ones((96, 90), bool)
    outside[rows, cols] = False
    assert (reference[:, 1:].numpy()[:, :, outside] == 0).all(), "the box holds every pixel the crop reaches"


@pytest.mark.skipif(not SUNNYBROOK.is_dir(), reason="Sunnybrook data not present beside the project")
def test_sunnybrook_crop_contains_lv():
    from medseg.io.cine import read_cine
    from medseg.io.contours import read_contour_folder

    study = read_cine(SUNNYBROOK / "dicoms" / "SCD0000101")
    contours = read_contour_folder(SUNNYBROOK / "contourfiles" / "SC-HF-I-1")
    row, col = locate_heart(study.frames, study.pixel_spacing)
    half = 96.0
    for points in list(contours.epi.values()) + list(contours.endo.values()):
        offset_mm = np.abs(points[:, ::-1] - [row, col]) * study.pixel_spacing[0]
        assert offset_mm.max() < half, "contour outside a 192 mm crop"
