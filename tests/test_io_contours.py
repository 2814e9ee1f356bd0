from pathlib import Path

import numpy as np
import pytest

from medseg.errors import ImageReadError
from medseg.io import contours

SUNNYBROOK = Path(__file__).resolve().parents[2] / "shared" / "data" / "sunnybrook"


def write_contour(path: Path, points) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{x:.2f} {y:.2f}\n" for x, y in points))


def circle(cx, cy, r, n=60):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], axis=1)


def test_read_folder_and_instance_mapping(tmp_path):
    write_contour(tmp_path / "i-contours" / "IM-0001-0048-icontour-manual.txt", circle(40, 30, 5))
    write_contour(tmp_path / "o-contours" / "IM-0001-0048-ocontour-manual.txt", circle(40, 30, 9))
    write_contour(tmp_path / "i-contours" / "IM-0001-0052-icontour-manual.txt", circle(40, 30, 4))
    result = contours.read_contour_folder(tmp_path)
    assert result.instances == [48, 52]
    assert set(result.endo) == {48, 52} and set(result.epi) == {48}
    index = contours.instance_index(np.arange(1, 41).reshape(2, 20))
    assert index[27] == (1, 6) and index[1] == (0, 0)


def test_x_is_column_and_pixel_centres():
    square = np.array([[9.5, 1.5], [19.5, 1.5], [19.5, 4.5], [9.5, 4.5]], float)
    mask = contours.polygon_to_mask(square, (8, 32))
    rows, cols = np.nonzero(mask)
    assert rows.min() == 2 and rows.max() == 4 and cols.min() == 10 and cols.max() == 19
    assert contours.polygon_area(square) == 30.0


def test_rasterised_disc_area():
    mask = contours.polygon_to_mask(circle(50, 40, 15, n=200), (100, 100))
    assert mask.sum() == pytest.approx(np.pi * 15**2, rel=0.03)
    assert np.argwhere(mask).mean(axis=0) == pytest.approx([40, 50], abs=0.3)


def test_self_intersection():
    assert not contours.is_self_intersecting(circle(0, 0, 5))
    assert contours.is_self_intersecting(np.array([[0, 0], [4, 4], [4, 0], [0, 4]], float))


def test_bad_files_name_the_file(tmp_path):
    bad = tmp_path / "IM-0001-0001-icontour-manual.txt"
    bad.write_text("1 2\nthree four\n")
    with pytest.raises(ImageReadError, match="IM-0001-0001"):
        contours.read_contour_file(bad)
    with pytest.raises(ImageReadError, match="no Sunnybrook contour"):
        contours.read_contour_folder(tmp_path / "empty_dir" if (tmp_path / "empty_dir").mkdir() is None else tmp_path)


@pytest.mark.skipif(not SUNNYBROOK.is_dir(), reason="Sunnybrook data not present beside the project")
def test_sunnybrook_contours_read():
    result = contours.read_contour_folder(SUNNYBROOK / "contourfiles" / "SC-HF-I-1")
    assert len(result.endo) == 18 and len(result.epi) == 9
    for instance, epi in result.epi.items():
        assert contours.polygon_area(epi) > contours.polygon_area(result.endo[instance])


def test_origin_is_subtracted_on_reading(tmp_path):
    path = tmp_path / "IM-0001-0001-icontour-manual.txt"
    write_contour(path, circle(40, 30, 5))
    raw = contours.read_contour_file(path)
    np.testing.assert_allclose(contours.read_contour_file(path, origin=1.0), raw - 1.0)
    folder = contours.read_contour_folder(tmp_path, origin=contours.SUNNYBROOK_ORIGIN)
    np.testing.assert_allclose(folder.endo[1], raw - contours.SUNNYBROOK_ORIGIN)
