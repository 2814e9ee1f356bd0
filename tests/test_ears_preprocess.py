import numpy as np
import pytest
import SimpleITK as sitk

from medseg.ears.preprocess import Grid, preprocess, resample_to_lps, scale_hu, to_input_grid


def _image_with_dot(direction, dot_lps, spacing=(1.0, 1.0, 1.5), size=(40, 36, 30), origin=(10.0, -5.0, 3.0)):
    image = sitk.Image(list(size), sitk.sitkFloat32)
    image += -1000.0
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    image.SetDirection(direction)
    index = image.TransformPhysicalPointToIndex(dot_lps)
    for di in range(-2, 3):
        for dj in range(-2, 3):
            for dk in range(-1, 2):
                image[index[0] + di, index[1] + dj, index[2] + dk] = 2000.0
    return image


def test_flipped_direction_maps_to_lps_grid():
    flipped = (-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0)
    image = _image_with_dot(flipped, (-5.0, -20.0, 20.0))
    dot = np.array(image.TransformIndexToPhysicalPoint(image.TransformPhysicalPointToIndex((-5.0, -20.0, 20.0))))
    prep = preprocess(image, 2.0, (-1000, 3000), 8)
    assert all(s % 8 == 0 for s in prep.array.shape)
    assert prep.array.min() >= 0 and prep.array.max() <= 1
    peak = np.array(np.unravel_index(np.argmax(prep.array), prep.array.shape))
    assert np.linalg.norm(prep.index_to_world(peak) - dot) < 3.0
    # +x of the array is patient left: the left end of the grid has larger LPS x
    assert prep.index_to_world([prep.valid_shape[0] - 1, 0, 0])[0] > prep.index_to_world([0, 0, 0])[0]
    back = prep.world_to_input_index(dot)
    assert np.allclose(back, image.TransformPhysicalPointToContinuousIndex(dot.tolist()), atol=1e-6)


def test_resample_covers_extent_and_keeps_values():
    image = _image_with_dot((1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0), (25.0, 10.0, 20.0))
    out = resample_to_lps(image, 2.0)
    assert out.GetDirection() == (1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0)
    assert out.GetSize()[0] == 20 and out.GetSize()[2] == 23
    assert sitk.GetArrayViewFromImage(out).max() > 500


def test_scale_hu():
    values = scale_hu(np.array([-3000.0, -1000.0, 1000.0, 9000.0]), (-1000, 3000))
    assert np.allclose(values, [0.0, 0.0, 0.5, 1.0])


def test_heatmap_back_on_input_grid():
    flipped = (-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0)
    image = _image_with_dot(flipped, (-5.0, -20.0, 20.0))
    prep = preprocess(image, 2.0, (-1000, 3000), 4)
    volume = (prep.array > 0.5).astype(np.float32)
    back = to_input_grid(volume, prep)
    assert back.GetSize() == image.GetSize()
    assert back.GetDirection() == image.GetDirection()
    assert Grid.of(back).origin == Grid.of(image).origin
    values = sitk.GetArrayFromImage(back)
    original = sitk.GetArrayFromImage(image) > 0
    assert values[original].mean() > 0.3 and values[~original].mean() < 0.05


_TILT = np.deg2rad(12.0)
_DOUBLE_OBLIQUE = np.array(
    [[np.cos(_TILT), -np.sin(_TILT), 0.0], [np.sin(_TILT), np.cos(_TILT), 0.0], [0.0, 0.0, 1.0]]
) @ np.array([[1.0, 0.0, 0.0], [0.0, np.cos(_TILT), -np.sin(_TILT)], [0.0, np.sin(_TILT), np.cos(_TILT)]])


@pytest.mark.parametrize(
    "direction",
    [
        # axis-aligned: the local response by a 1D pass and a sparse bilinear map, the wide one a pass per axis
        (-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0),
        # turned about x: the local response as above, the wide one by SimpleITK
        (1.0, 0.0, 0.0, 0.0, np.cos(_TILT), -np.sin(_TILT), 0.0, np.sin(_TILT), np.cos(_TILT)),
        tuple(_DOUBLE_OBLIQUE.ravel()),  # double oblique: SimpleITK, in a box
    ],
)
def test_wide_and_narrow_heatmaps_come_back_the_same_way(direction):
    """A response over most of the volume and a local one agree where both are set."""
    centre = np.array([10.0, -5.0, 3.0]) + np.reshape(direction, (3, 3)) @ (np.array([1.0, 1.0, 1.5]) * [20, 18, 15])
    image = _image_with_dot(direction, tuple(centre))
    prep = preprocess(image, 2.0, (-1000, 3000), 4)
    rng = np.random.default_rng(0)
    wide = rng.uniform(0.05, 1.0, prep.array.shape).astype(np.float32)
    narrow = np.zeros_like(wide)
    lo = np.array([n // 3 for n in prep.array.shape])
    box = tuple(slice(a, a + 6) for a in lo)
    narrow[box] = wide[box]
    wide_back, narrow_back = to_input_grid(wide, prep), to_input_grid(narrow, prep)
    for back in (wide_back, narrow_back):
        assert back.GetSize() == image.GetSize() and back.GetDirection() == image.GetDirection()
        assert back.GetOrigin() == image.GetOrigin() and back.GetSpacing() == image.GetSpacing()
        assert back.GetPixelID() == sitk.sitkFloat32
    wide_values, narrow_values = sitk.GetArrayFromImage(wide_back), sitk.GetArrayFromImage(narrow_back)
    assert (wide_values > 0).mean() > 0.5
    k, j, i = np.indices(narrow_values.shape)
    world = np.array([image.TransformIndexToPhysicalPoint([int(a), int(b), int(c)]) for a, b, c in zip(i.ravel(), j.ravel(), k.ravel())])
    network_index = (world - np.asarray(prep.origin)) / prep.spacing
    inside = np.all((network_index >= lo + 1) & (network_index <= lo + 4), axis=1).reshape(narrow_values.shape)
    assert inside.sum() > 10
    assert np.allclose(wide_values[inside], narrow_values[inside], atol=1e-6)


def test_grid_mapping_roundtrip():
    grid = Grid((10, 10, 10), (1.0, 2.0, 3.0), (0.5, 0.5, 2.0), (0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0))
    point = grid.index_to_world([1.5, 2.0, 3.0])
    assert np.allclose(grid.world_to_index(point), [1.5, 2.0, 3.0])
    assert grid.contains(point) and not grid.contains(point + 100)


def test_field_of_view_mask_of_oblique_image():
    angle = np.deg2rad(30)
    direction = (np.cos(angle), -np.sin(angle), 0.0, np.sin(angle), np.cos(angle), 0.0, 0.0, 0.0, 1.0)
    image = _image_with_dot(direction, (20.0, 20.0, 20.0))
    prep = preprocess(image, 2.0, (-1000, 3000), 8)
    fov = prep.field_of_view()
    assert fov.shape == prep.array.shape
    valid = fov[: prep.valid_shape[0], : prep.valid_shape[1], : prep.valid_shape[2]]
    assert 0.45 < valid.mean() < 0.6  # a 30-degree rotated box fills ~53 % of its bounding box
    assert fov[0, 0, 0] == 0 and not fov[prep.valid_shape[0]:].any()
    centre = np.array(image.TransformContinuousIndexToPhysicalPoint([(s - 1) / 2 for s in image.GetSize()]))
    index = np.rint(prep.world_to_index(centre)).astype(int)
    assert fov[tuple(index)] == 1
    assert prep.network_input().shape == (2,) + prep.array.shape


def test_block_averaging_keeps_the_last_partial_block():
    array = np.full((20, 40, 103), -1000.0, np.float32)
    array[:, :, 97:] = 2000.0  # bone in the last 6 of 103 columns at 0.5 mm
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.5, 0.5, 2.0))
    resampled = sitk.GetArrayFromImage(resample_to_lps(image, 2.0))
    assert resampled.shape[2] == 26  # 51.5 mm of columns
    assert resampled[:, :, -1].min() > 1500.0 and resampled[:, :, :20].max() == -1000.0
