import numpy as np
import pytest
import SimpleITK as sitk

from medseg.ears.separable_resample import kept_axis, resample_axis_aligned, resample_sparse, signed_permutation

AXIS_ALIGNED = [
    (1, 0, 0, 0, 1, 0, 0, 0, 1),
    (-1, 0, 0, 0, -1, 0, 0, 0, 1),  # RAS-stored
    (0, 1, 0, -1, 0, 0, 0, 0, 1),  # rows and columns swapped
    (0, 0, 1, 1, 0, 0, 0, 1, 0),  # sagittal slices
    (1, 0, 0, 0, 0, -1, 0, 1, 0),  # coronal slices
]


def _sitk_reference(volume, origin, spacing, size, target_origin, target_spacing, direction):
    source = sitk.GetImageFromArray(np.ascontiguousarray(volume.transpose(2, 1, 0)))
    source.SetOrigin([float(v) for v in origin])
    source.SetSpacing([float(spacing)] * 3)
    reference = sitk.Image([int(v) for v in size], sitk.sitkUInt8)
    reference.SetOrigin([float(v) for v in target_origin])
    reference.SetSpacing([float(v) for v in target_spacing])
    reference.SetDirection([float(v) for v in direction])
    return sitk.GetArrayFromImage(sitk.Resample(source, reference, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32))


@pytest.mark.parametrize("direction", AXIS_ALIGNED)
def test_matches_simpleitk_linear_resampling(direction):
    """Values, edges (half a voxel of edge value, then 0) and axis order as sitk.Resample gives them."""
    rng = np.random.default_rng(3)
    volume = rng.uniform(0.0, 1.0, (14, 12, 10)).astype(np.float32)
    origin, spacing = np.array([-12.3, 4.1, 7.7]), 2.0
    size, target_spacing = (37, 31, 23), (0.7, 0.9, 1.3)
    matrix = np.asarray(direction, float).reshape(3, 3)
    centre = origin + spacing * (np.asarray(volume.shape) - 1) / 2
    # the target reaches beyond the source on every side, so the edge rule is exercised
    target_origin = centre - matrix @ (np.asarray(target_spacing) * (np.asarray(size) - 1) / 2) + [0.31, -0.23, 0.47]
    expected = _sitk_reference(volume, origin, spacing, size, target_origin, target_spacing, direction)
    values = resample_axis_aligned(volume, origin, spacing, size, target_origin, target_spacing, direction)
    assert values.shape == tuple(size[::-1]) and values.dtype == np.float32
    assert 0.1 < (expected == 0).mean() < 0.9
    np.testing.assert_allclose(values, expected, atol=1e-6)


def test_upsampling_a_large_sparse_map_matches_simpleitk():
    """The heatmap case: a fine target several times larger than the source, a few hot voxels."""
    volume = np.zeros((16, 16, 12), np.float32)
    volume[5, 7, 4], volume[6, 7, 4], volume[12, 3, 9] = 0.9, 0.4, 0.6
    origin, spacing = np.zeros(3), 2.0
    size, target_spacing, direction = (64, 64, 38), (0.5, 0.5, 0.625), (-1, 0, 0, 0, -1, 0, 0, 0, 1)
    target_origin = (31.5, 31.5, 0.1)
    expected = _sitk_reference(volume, origin, spacing, size, target_origin, target_spacing, direction)
    values = resample_axis_aligned(volume, origin, spacing, size, target_origin, target_spacing, direction)
    np.testing.assert_allclose(values, expected, atol=1e-6)
    assert 0.5 < values.max() <= 0.9


def test_oblique_direction_is_left_to_a_general_resampler():
    angle = np.deg2rad(10)
    tilted = (1, 0, 0, 0, np.cos(angle), -np.sin(angle), 0, np.sin(angle), np.cos(angle))
    assert signed_permutation(tilted) is None
    assert resample_axis_aligned(np.ones((4, 4, 4), np.float32), np.zeros(3), 1.0, (5, 5, 5), (0, 0, 0), (1, 1, 1), tilted) is None


def test_signed_permutation_reads_axes_and_signs():
    assert signed_permutation((0, 0, 1, -1, 0, 0, 0, 1, 0)) == [(1, -1.0), (2, 1.0), (0, 1.0)]
    assert signed_permutation((1, 0, 0, 1, 0, 0, 0, 0, 1)) is None  # two image axes along LPS x


def _turn(axis: int, degrees: float) -> np.ndarray:
    """Rotation matrix about LPS ``axis``."""
    c, s = np.cos(np.deg2rad(degrees)), np.sin(np.deg2rad(degrees))
    i, j = [a for a in range(3) if a != axis]
    matrix = np.eye(3)
    matrix[i, i], matrix[i, j], matrix[j, i], matrix[j, j] = c, -s, s, c
    return matrix


TILTED = [
    _turn(0, 15.0),  # gantry tilt: slices turned about the left-right axis
    _turn(1, -20.0),
    _turn(2, 30.0),
    _turn(0, 12.0) @ np.diag([-1.0, -1.0, 1.0]),  # tilted and stored RAS-wise
    _turn(1, 25.0)[:, [2, 0, 1]],  # tilted sagittal slices: the kept axis is the image's z
]


@pytest.mark.parametrize("matrix", TILTED + [np.reshape(direction, (3, 3)) for direction in AXIS_ALIGNED])
def test_sparse_matches_simpleitk_linear_resampling(matrix):
    """Sparse values, edges and axis order as sitk.Resample gives them, tilted or axis-aligned grids."""
    rng = np.random.default_rng(5)
    volume = (rng.uniform(0.0, 1.0, (14, 12, 10)) * (rng.uniform(size=(14, 12, 10)) < 0.1)).astype(np.float32)
    volume[0, 5, 5], volume[-1, -1, -1], volume[6, 0, 9] = 0.7, 0.5, 0.9  # hot voxels on the source's faces
    origin, spacing = np.array([-12.3, 4.1, 7.7]), 2.0
    size, target_spacing = (37, 31, 23), (0.7, 0.9, 1.3)
    direction = tuple(matrix.ravel())
    centre = origin + spacing * (np.asarray(volume.shape) - 1) / 2
    target_origin = centre - matrix @ (np.asarray(target_spacing) * (np.asarray(size) - 1) / 2) + [0.31, -0.23, 0.47]
    expected = _sitk_reference(volume, origin, spacing, size, target_origin, target_spacing, direction)
    values = resample_sparse(volume, origin, spacing, size, target_origin, target_spacing, direction)
    assert values.shape == tuple(size[::-1]) and values.dtype == np.float32
    assert 0.1 < (expected != 0).mean() < 0.9
    np.testing.assert_allclose(values, expected, atol=1e-6)


def test_sparse_leaves_double_oblique_and_dense_volumes_to_other_resamplers():
    sparse_volume = np.zeros((6, 6, 6), np.float32)
    sparse_volume[2, 3, 1] = 1.0
    grid = ((8, 8, 8), (0, 0, 0), (1, 1, 1))
    double_oblique = tuple((_turn(0, 10.0) @ _turn(2, 10.0)).ravel())
    assert kept_axis(double_oblique) is None
    assert resample_sparse(sparse_volume, np.zeros(3), 1.0, *grid[:1], grid[1], grid[2], double_oblique) is None
    tilted = tuple(_turn(0, 10.0).ravel())
    assert resample_sparse(np.ones((6, 6, 6), np.float32), np.zeros(3), 1.0, grid[0], grid[1], grid[2], tilted) is None
    assert resample_sparse(sparse_volume, np.zeros(3), 1.0, grid[0], grid[1], grid[2], tilted) is not None


def test_kept_axis_reads_the_axis_left_on_a_patient_axis():
    assert kept_axis(tuple(_turn(0, 15.0).ravel())) == (0, 0, 1.0)
    assert kept_axis(tuple((_turn(1, 25.0)[:, [2, 0, 1]]).ravel())) == (2, 1, 1.0)
    assert kept_axis(tuple((_turn(2, 5.0) @ np.diag([1.0, 1.0, -1.0])).ravel())) == (2, 2, -1.0)
