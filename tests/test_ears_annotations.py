import json

import numpy as np
import pytest
import SimpleITK as sitk

from medseg.ears.annotations import convert_annotation, load_landmarks
from medseg.errors import InputRejected
from medseg.io.landmarks import write_landmarks


@pytest.fixture()
def image():
    img = sitk.Image([50, 50, 20], sitk.sitkInt16)
    img.SetSpacing((2.0, 2.0, 3.0))
    img.SetOrigin((-50.0, -50.0, 0.0))
    return img


def test_slicer_ras_to_medseg_lps(image, tmp_path):
    source = write_landmarks(tmp_path / "ears.mrk.json", {"left": np.array([30.0, 5.0, 20.0]), "right": None}, coordinate_system="RAS")
    out = convert_annotation(source, image, tmp_path / "landmarks.json")
    data = json.loads(out.read_text())
    assert data["coordinate_system"] == "LPS"
    assert data["points"]["left"] == {"present": True, "position": [30.0, 5.0, 20.0]}
    assert data["points"]["right"] == {"present": False, "position": None}
    assert np.allclose(load_landmarks(out)["left"], [30.0, 5.0, 20.0])


def test_point_outside_image_is_rejected(image, tmp_path):
    source = write_landmarks(tmp_path / "landmarks.json", {"left": np.array([30.0, 5.0, 200.0]), "right": np.array([-30.0, 0.0, 10.0])})
    with pytest.raises(InputRejected, match="left ear .* lies outside the image") as error:
        convert_annotation(source, image, tmp_path / "out.json")
    assert len(error.value.reasons) == 1
    assert not (tmp_path / "out.json").exists()


def test_unknown_names_are_rejected(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"coordinate_system": "LPS", "points": {"nose": {"present": True, "position": [0, 0, 0]}}}))
    with pytest.raises(Exception, match="left/right"):
        load_landmarks(path)


def test_a_position_that_is_no_number_is_named(image, tmp_path):
    from medseg.errors import ImageReadError

    path = tmp_path / "bad.json"
    points = {"left": {"present": True, "position": ["12a", 3, 4]}, "right": {"present": False, "position": None}}
    path.write_text(json.dumps({"coordinate_system": "LPS", "points": points}))
    with pytest.raises(ImageReadError, match=r"point 'left' has no valid x, y, z position"):
        load_landmarks(path)
    with pytest.raises(ImageReadError):
        convert_annotation(path, image, tmp_path / "out.json")
    assert not (tmp_path / "out.json").exists()


def test_present_ear_without_a_position_is_an_error_not_an_absent_ear(tmp_path):
    from medseg.errors import ImageReadError

    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"coordinate_system": "LPS", "points": {"left": {"present": True}, "right": None}}))
    with pytest.raises(ImageReadError, match="marked present but has no position"):
        load_landmarks(path)
