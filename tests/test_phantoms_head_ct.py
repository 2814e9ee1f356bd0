"""Head CT phantom: ground truth agrees with the rendered geometry, whatever the pose or direction."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from medseg.phantoms.head_ct import (
    HEAD_CT_DEFAULTS,
    ear_ground_truth,
    generate_head_scan,
    render_head_ct,
    sample_head_anatomy,
    sample_scan_geometry,
    to_image,
)

SMALL = {"max_voxels": 400_000}


@pytest.fixture(scope="module")
def anatomy():
    return sample_head_anatomy(np.random.default_rng(3))


def _value_at(image: sitk.Image, array: np.ndarray, world: list[float]) -> float:
    i, j, k = np.round(image.TransformPhysicalPointToContinuousIndex([float(v) for v in world])).astype(int)
    return float(array[k, j, i])


def _max_within(image: sitk.Image, array: np.ndarray, world: list[float], radius_mm: float) -> float:
    centre = np.array(image.TransformPhysicalPointToContinuousIndex([float(v) for v in world]))
    spacing = np.array(image.GetSpacing())
    lo = np.maximum(np.floor(centre - radius_mm / spacing).astype(int), 0)
    hi = np.minimum(np.ceil(centre + radius_mm / spacing).astype(int) + 1, np.array(image.GetSize()))
    return float(array[lo[2] : hi[2], lo[1] : hi[1], lo[0] : hi[0]].max())


@pytest.mark.parametrize("direction", ["identity", "flipped", "oblique"])
def test_ear_centre_is_labyrinth_fluid_inside_dense_otic_capsule(anatomy, direction):
    settings = {**HEAD_CT_DEFAULTS, "max_voxels": 600_000, "direction_mix": {direction: 1.0}}
    for side in ("left", "right"):
        geometry = sample_scan_geometry(np.random.default_rng(11), anatomy, settings, fov_kind=side)
        assert geometry.direction_kind == direction
        image = to_image(render_head_ct(anatomy, geometry), geometry)  # noise-free
        array = sitk.GetArrayFromImage(image)
        truth = ear_ground_truth(anatomy, geometry)[side]
        assert truth["present"]
        assert _value_at(image, array, truth["position"]) < 400, "centre is not in fluid"
        assert _max_within(image, array, truth["position"], 5.0) > 1700, "no dense otic capsule around the centre"
        i, j, k = np.round(image.TransformPhysicalPointToContinuousIndex(truth["position"])).astype(int)
        assert array[k - 1 : k + 2, j - 1 : j + 2, i - 1 : i + 2].mean() < 700, "centre is too close to bone"


def test_presence_agrees_with_field_of_view(anatomy):
    settings = {**HEAD_CT_DEFAULTS, **SMALL, "max_rotation_deg": 0.0, "direction_mix": {"identity": 1.0}}
    expected = {"both": (True, True), "left": (True, False), "right": (False, True), "vertex": (False, False), "jaw": (False, False)}
    for kind, flags in expected.items():
        scan = generate_head_scan(np.random.default_rng(5), anatomy, settings, fov_kind=kind)
        assert (scan.ears["left"]["present"], scan.ears["right"]["present"]) == flags, kind
        size = np.array(scan.image.GetSize())
        spacing = np.array(scan.image.GetSpacing())
        for side, truth in scan.ears.items():
            index = np.array(scan.image.TransformPhysicalPointToContinuousIndex(truth["position"]))
            border = np.min(np.minimum(index, size - 1 - index) * spacing)
            assert truth["present"] == (border >= HEAD_CT_DEFAULTS["presence_margin_mm"]), (kind, side)


def test_left_ear_is_plus_x_whatever_the_direction(anatomy):
    for direction in ("identity", "flipped", "oblique"):
        settings = {**HEAD_CT_DEFAULTS, **SMALL, "direction_mix": {direction: 1.0}}
        scan = generate_head_scan(np.random.default_rng(8), anatomy, settings, fov_kind="both")
        left, right = (np.array(scan.ears[s]["position"]) for s in ("left", "right"))
        assert left[0] > right[0] + 60
        i_left = scan.image.TransformPhysicalPointToContinuousIndex(left.tolist())[0]
        i_right = scan.image.TransformPhysicalPointToContinuousIndex(right.tolist())[0]
        if direction == "flipped":  # i runs towards patient right, so the left ear has the smaller i
            assert np.allclose(np.array(scan.image.GetDirection()).reshape(3, 3), np.diag([-1, -1, 1]))
            assert i_left < i_right
        elif direction == "identity":
            assert i_left > i_right


def test_anatomy_varies_within_limits():
    distances, scales = [], []
    for seed in range(12):
        a = sample_head_anatomy(np.random.default_rng(seed))
        distances.append(a.ear_distance)
        scales.append(a.scale)
    assert 90 - 3 <= min(distances) and max(distances) <= 110 + 3
    assert np.std(distances) > 1.0
    assert 0.85 <= min(scales) and max(scales) <= 1.15


def test_voxel_cap_and_spacing_ranges(anatomy):
    settings = {**HEAD_CT_DEFAULTS, "max_voxels": 500_000}
    for seed in range(20):
        g = sample_scan_geometry(np.random.default_rng(seed), anatomy, settings)
        assert np.prod(g.size) <= 500_000
        assert 0.3 <= g.spacing[0] <= 1.0 and g.spacing[0] == g.spacing[1]
        assert 0.5 <= g.spacing[2] <= 3.0


def test_dense_distractors_in_scans_without_ears(anatomy):
    scan = generate_head_scan(np.random.default_rng(2), anatomy, {**SMALL, "max_rotation_deg": 0.0}, fov_kind="jaw")
    array = sitk.GetArrayFromImage(scan.image)
    assert not any(t["present"] for t in scan.ears.values())
    assert (array > 1800).sum() > 50  # teeth, vertebrae, mandible: dense like the otic capsule
    assert array.min() <= -900  # air (outside, pharynx, sinuses)


def test_same_seed_same_scan(anatomy):
    a = generate_head_scan(np.random.default_rng(4), anatomy, SMALL)
    b = generate_head_scan(np.random.default_rng(4), sample_head_anatomy(np.random.default_rng(3)), SMALL)
    assert np.array_equal(sitk.GetArrayFromImage(a.image), sitk.GetArrayFromImage(b.image))
    assert a.image.GetOrigin() == b.image.GetOrigin() and a.ears == b.ears
    c = generate_head_scan(np.random.default_rng(5), anatomy, SMALL)
    assert c.info != a.info


def test_noise_and_offset_are_applied(anatomy):
    settings = {**HEAD_CT_DEFAULTS, **SMALL, "noise_sd_hu": [30.0, 30.0], "max_rotation_deg": 0.0}
    scan = generate_head_scan(np.random.default_rng(6), anatomy, settings, fov_kind="vertex")
    array = sitk.GetArrayFromImage(scan.image).astype(float)
    outside = array[array < -700]
    assert 15 < outside[outside > -1000].std() or outside.std() > 10  # noisy air (clipped at -1024)
    assert scan.image.GetPixelID() == sitk.sitkInt16


def test_every_scan_holds_the_ears_its_kind_names(anatomy):
    from medseg.phantoms.head_ct import _EARS_OF_KIND, draw_scan_geometry, ears_in_view

    settings = {**HEAD_CT_DEFAULTS, "max_voxels": 500_000}  # the smoke study's cap: thin slabs, rotated heads
    rng = np.random.default_rng(0)
    for kind in ("both", "left", "right", "vertex", "jaw") * 40:
        geometry = draw_scan_geometry(rng, anatomy, settings, fov_kind=kind)
        assert ears_in_view(anatomy, geometry, settings["presence_margin_mm"]) == _EARS_OF_KIND[kind], kind
