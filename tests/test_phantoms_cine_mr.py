"""Cine MR phantom: labels form a ring in every frame, the cycle and infarcts behave as configured."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from medseg.phantoms.cine_mr import (
    CINE_MR_DEFAULTS,
    UNANNOTATED,
    generate_cine,
    sample_heart,
    sparse_labels,
    wall_radii,
)

SMALL = {"slices": [3, 3], "phases": [12, 12], "matrix": 96}


@pytest.fixture(scope="module")
def infarcted():
    return generate_cine(np.random.default_rng(21), {**SMALL, "infarct_probability": 1.0})


@pytest.fixture(scope="module")
def healthy():
    return generate_cine(np.random.default_rng(22), {**SMALL, "infarct_probability": 0.0, "contraction": [0.35, 0.35]})


def test_shapes_and_ranges(healthy):
    n_ph, n_sl, rows, cols = healthy.image.shape
    assert (n_ph, n_sl, rows, cols) == (12, 3, 96, 96)
    assert healthy.labels.shape == healthy.image.shape and healthy.labels.dtype == np.uint8
    assert set(np.unique(healthy.labels)) <= {0, 1, 2}
    h = healthy.heart
    assert 1.2 <= h.pixel_mm <= 1.8 and 8.0 <= h.slice_spacing_mm <= 10.0
    assert 0 < h.es_phase < n_ph
    assert np.allclose(np.linalg.det(h.direction), 1.0)


@pytest.mark.parametrize("which", ["healthy", "infarcted"])
def test_myocardium_is_a_ring_around_the_cavity_in_every_frame(which, request):
    study = request.getfixturevalue(which)
    for p in range(study.labels.shape[0]):
        for s in range(study.labels.shape[1]):
            lab = study.labels[p, s]
            myo, cav = lab == 1, lab == 2
            assert cav.sum() > 20 and myo.sum() > 20, (p, s)
            assert ndimage.label(myo)[1] == 1, f"myocardium not one piece at phase {p}, slice {s}"
            assert ndimage.label(cav)[1] == 1
            touching = ndimage.binary_dilation(cav) & (lab == 0)
            assert not touching.any(), f"cavity touches background at phase {p}, slice {s}"
            assert np.all(ndimage.binary_fill_holes(myo)[cav]), "cavity not enclosed by myocardium"


def test_end_systolic_cavity_is_smaller_by_the_configured_fraction(healthy):
    h = healthy.heart
    area = (healthy.labels == 2).sum(axis=(2, 3)).astype(float)
    ratio = area[h.es_phase] / area[0]
    assert h.contraction == pytest.approx(0.35)
    assert np.allclose(ratio, (1 - 0.35) ** 2, atol=0.06), ratio
    assert np.all(area.argmin(axis=0) == h.es_phase)
    wall = (healthy.labels == 1).sum(axis=(2, 3))
    assert np.allclose(wall[h.es_phase] / wall[0], 1.0, atol=0.12)  # wall area is conserved


def test_infarcted_sector_is_thinner_and_thickens_less(infarcted):
    h = infarcted.heart
    assert h.infarcts
    inf = h.infarcts[0]
    s = inf.slices[0]
    theta = np.arange(0.0, 360.0, 1.0)
    endo, epi = wall_radii(h, s, theta)
    off = np.abs((theta - inf.centre_deg + 180) % 360 - 180)
    inside = off < inf.width_deg / 2 - 10
    remote = off > inf.width_deg / 2 + 40
    for other in h.infarcts[1:]:
        remote &= np.abs((theta - other.centre_deg + 180) % 360 - 180) > other.width_deg / 2 + 40
    thick_ed = epi[0] - endo[0]
    thick_es = epi[h.es_phase] - endo[h.es_phase]
    assert thick_ed[inside].mean() < 0.75 * thick_ed[remote].mean()
    thickening = thick_es / thick_ed - 1
    assert thickening[inside].mean() < 0.5 * thickening[remote].mean()
    # ... and the labels show it: fewer myocardium pixels in the infarct wedge than in a remote one.
    n = h.matrix
    coords = (np.arange(n) - (n - 1) / 2) * h.pixel_mm
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    ang = np.rad2deg(np.arctan2(yy - h.centres[s, 1], xx - h.centres[s, 0]) - np.deg2rad(h.rotation_deg)) % 360
    wedge_off = np.abs((ang - inf.centre_deg + 180) % 360 - 180)
    myo = infarcted.labels[0, s] == 1
    in_wedge = (myo & (wedge_off < 25)).sum()
    remote_angle = theta[remote][len(theta[remote]) // 2]
    remote_off = np.abs((ang - remote_angle + 180) % 360 - 180)
    assert in_wedge < 0.8 * (myo & (remote_off < 25)).sum()


def test_sparse_labels_keep_ed_and_es_only(healthy):
    h = healthy.heart
    sparse = sparse_labels(healthy.labels, [0, h.es_phase])
    for p in range(h.n_phases):
        if p in (0, h.es_phase):
            assert np.array_equal(sparse[p], healthy.labels[p])
        else:
            assert np.all(sparse[p] == UNANNOTATED)


def test_same_seed_same_study():
    a = generate_cine(np.random.default_rng(5), SMALL)
    b = generate_cine(np.random.default_rng(5), SMALL)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.labels, b.labels)
    c = generate_cine(np.random.default_rng(6), SMALL)
    assert not np.array_equal(a.labels, c.labels)


def test_four_d_image_geometry(healthy):
    image = healthy.to_image()
    h = healthy.heart
    assert image.GetDimension() == 4
    assert image.GetSize() == (96, 96, 3, 12)
    assert np.allclose(image.GetSpacing()[:3], (h.pixel_mm, h.pixel_mm, h.slice_spacing_mm))
    assert np.allclose(np.array(image.GetDirection()).reshape(4, 4)[:3, :3], h.direction)
    labels = healthy.to_image(healthy.labels)
    assert labels.GetSize() == image.GetSize() and labels.GetOrigin() == image.GetOrigin()


def test_defaults_draw_the_documented_ranges():
    for seed in range(5):
        h = sample_heart(np.random.default_rng(seed))
        assert CINE_MR_DEFAULTS["slices"][0] <= h.n_slices <= CINE_MR_DEFAULTS["slices"][1]
        assert 20 <= h.n_phases <= 30
        assert 0.25 <= h.contraction <= 0.40
        assert np.all((h.wall >= 6.0) & (h.wall <= 12.0))
        for inf in h.infarcts:
            assert 60 <= inf.width_deg <= 120
