from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from medseg.errors import ImageReadError
from medseg.io.landmarks import lps_to_ras, ras_to_lps, read_landmarks, write_landmarks

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
POINTS = {"left": np.array([36.5, -12.25, -40.0]), "right": None, "nasion": np.array([0.0, 90.125, 3.5])}


def _assert_points(found, expected):
    assert list(found) == list(expected)
    for name, value in expected.items():
        if value is None:
            assert found[name] is None
        else:
            np.testing.assert_allclose(found[name], value, atol=1e-9)


def test_lps_ras_conversion_both_ways():
    lps = np.array([10.0, -20.0, 30.0])
    np.testing.assert_array_equal(lps_to_ras(lps), [-10.0, 20.0, 30.0])
    np.testing.assert_array_equal(ras_to_lps([-10.0, 20.0, 30.0]), lps)
    many = np.arange(12.0).reshape(4, 3)
    np.testing.assert_array_equal(ras_to_lps(lps_to_ras(many)), many)


@pytest.mark.parametrize("name", ["points.json", "points.mrk.json", "points.fcsv"])
@pytest.mark.parametrize("system", ["RAS", "LPS"])
def test_round_trip_every_format(tmp_path, name, system):
    path = write_landmarks(tmp_path / name, POINTS, coordinate_system=system)
    _assert_points(read_landmarks(path), POINTS)
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_slicer_files_are_ras_by_default(tmp_path):
    mrk = json.loads(write_landmarks(tmp_path / "p.mrk.json", POINTS).read_text())
    markup = mrk["markups"][0]
    assert markup["coordinateSystem"] == "RAS"
    assert markup["controlPoints"][0]["position"] == [-36.5, 12.25, -40.0]
    assert markup["controlPoints"][1]["positionStatus"] == "missing"
    fcsv = write_landmarks(tmp_path / "p.fcsv", POINTS).read_text().splitlines()
    assert "# CoordinateSystem = RAS" in fcsv
    assert fcsv[3].split(",")[1:4] == ["-36.5", "12.25", "-40.0"]
    medseg = json.loads(write_landmarks(tmp_path / "p.json", POINTS).read_text())
    assert medseg["coordinate_system"] == "LPS"
    assert medseg["points"]["left"] == {"present": True, "position": [36.5, -12.25, -40.0]}
    assert medseg["points"]["right"] == {"present": False, "position": None}


def test_slicer_json_respects_coordinate_system_and_status(tmp_path):
    data = {
        "markups": [
            {
                "type": "Fiducial",
                "coordinateSystem": "LPS",
                "controlPoints": [
                    {"label": "a", "position": [1.0, 2.0, 3.0], "positionStatus": "defined"},
                    {"label": "b", "position": [0.0, 0.0, 0.0], "positionStatus": "missing"},
                    {"label": "c"},
                ],
            },
            {"type": "Fiducial", "controlPoints": [{"label": "d", "position": [1.0, 2.0, 3.0]}]},
        ]
    }
    path = tmp_path / "slicer.mrk.json"
    path.write_text(json.dumps(data))
    # "d" states no coordinate system: Slicer reads such a .mrk.json as LPS
    _assert_points(read_landmarks(path), {"a": [1.0, 2.0, 3.0], "b": None, "c": None, "d": [1.0, 2.0, 3.0]})


def test_fcsv_with_a_byte_order_mark_keeps_its_header(tmp_path):
    path = tmp_path / "bom.fcsv"
    path.write_text(
        "\ufeff# CoordinateSystem = LPS\n# columns = id,x,y,z,ow,ox,oy,oz,vis,sel,lock,label,desc,associatedNodeID\n"
        "1,1.5,2,3,0,0,0,1,1,1,0,left,,\n",
        encoding="utf-8",
    )
    _assert_points(read_landmarks(path), {"left": [1.5, 2.0, 3.0]})


@pytest.mark.parametrize(
    ("name", "text"),
    [("empty.mrk.json", '{"markups": [{"type": "Fiducial", "controlPoints": []}]}'), ("empty.fcsv", "# CoordinateSystem = LPS\n")],
)
def test_a_file_without_points_is_an_error_not_two_absent_ears(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ImageReadError, match="holds no points; state an absent landmark explicitly"):
        read_landmarks(path)


def test_old_fcsv_with_numeric_coordinate_system(tmp_path):
    path = tmp_path / "old.fcsv"
    path.write_text(
        "# Markups fiducial file version = 4.6\n# CoordinateSystem = 0\n"
        "# columns = id,x,y,z,ow,ox,oy,oz,vis,sel,lock,label,desc,associatedNodeID\n"
        "vtkMRMLMarkupsFiducialNode_1,-1.5,2,3,0,0,0,1,1,1,0,cochlea_L,,vtkMRMLScalarVolumeNode1\n"
    )
    _assert_points(read_landmarks(path), {"cochlea_L": [1.5, -2.0, 3.0]})
    path.write_text(path.read_text().replace("CoordinateSystem = 0", "CoordinateSystem = 1"))
    _assert_points(read_landmarks(path), {"cochlea_L": [-1.5, 2.0, 3.0]})


def test_shared_data_formats(tmp_path):
    sided = tmp_path / "sided.json"
    sided.write_text(json.dumps({"coordinate_system": "LPS (mm, ITK)", "right": [-36, 36, -42], "left": [36, 36, -42]}))
    _assert_points(read_landmarks(sided), {"left": [36, 36, -42], "right": [-36, 36, -42]})
    unsided = tmp_path / "unsided.json"
    unsided.write_text(json.dumps({"coordinate_system": "LPS", "ears_unsided": [[1, 2, 3], [4, 5, 6]]}))
    _assert_points(read_landmarks(unsided), {"ear_1": [1, 2, 3], "ear_2": [4, 5, 6]})


def test_real_shared_files():
    path = SHARED / "head_ct" / "vtk_headsq_quarter.ears.json"
    if not path.exists():
        pytest.skip(f"shared data not found at {path}")
    points = read_landmarks(path)
    assert set(points) == {"ear_1", "ear_2"}
    assert read_landmarks(SHARED / "head_ct" / "ct_template_mni_2mm.ears.json")["left"][0] == 36.0


def test_errors_name_the_file(tmp_path):
    with pytest.raises(ImageReadError, match="absent.json: no such landmark file"):
        read_landmarks(tmp_path / "absent.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ImageReadError, match="bad.json: not valid JSON"):
        read_landmarks(bad)
    dup = tmp_path / "dup.fcsv"
    dup.write_text("x,1,2,3,0,0,0,1,1,1,0,a,,\ny,1,2,3,0,0,0,1,1,1,0,a,,\n")
    with pytest.raises(ImageReadError, match="'a' appears twice"):
        read_landmarks(dup)
    other = tmp_path / "points.txt"
    other.write_text("1 2 3")
    with pytest.raises(ImageReadError, match="unknown landmark format"):
        read_landmarks(other)
    with pytest.raises(ValueError, match="unknown landmark format"):
        write_landmarks(tmp_path / "p.csv", POINTS)
