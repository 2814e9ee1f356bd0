import json

import numpy as np
import pytest
import SimpleITK as sitk
from test_ears_synth import synthetic_head, write_training_table

from medseg.ears.baseline import build_templates, detect_baseline_file, match, ncc_map, out_of_fold_matches, train_baseline
from medseg.ears.config import EarsConfig
from medseg.ears.train import prepare_case, usable_inner_groups
from medseg.errors import MedsegError

CONFIG = EarsConfig(spacing_mm=2.0, seed=3)
SPACING = (CONFIG.spacing_mm,) * 3


def _unit(template: np.ndarray) -> np.ndarray:
    template = template - template.mean()
    return (template / np.linalg.norm(template)).astype(np.float32)


def _case(seed: int, ears: tuple[str, ...] = ("left", "right"), **kwargs):
    image, truth = synthetic_head(seed, ears=ears, spacing=SPACING, **kwargs)
    return prepare_case(f"S{seed}", f"c{seed}", image, truth, CONFIG), image, truth


@pytest.fixture(scope="module")
def training():
    return [_case(seed)[0] for seed in (1, 2, 3)]


def test_ncc_is_one_where_the_template_was_planted_and_ignores_gain_and_offset():
    rng = np.random.default_rng(0)
    template = _unit(rng.normal(size=(7, 7, 7)))
    volume = rng.normal(scale=0.3, size=(30, 32, 34)).astype(np.float32)
    volume[10:17, 12:19, 20:27] = 5.0 * template + 2.0
    scores = ncc_map(volume, template)
    assert np.unravel_index(np.argmax(scores), scores.shape) == (13, 15, 23)
    assert scores[13, 15, 23] == pytest.approx(1.0, abs=1e-4)
    assert np.all(scores <= 1.0 + 1e-4) and np.all(scores >= -1.0 - 1e-4)
    interior = (slice(3, -3),) * 3
    assert np.allclose(ncc_map(3.0 * volume - 7.0, template)[interior], scores[interior], atol=1e-4)


def test_ncc_of_a_flat_region_is_zero_not_nan():
    # Outside the volume counts as 0, the preprocessed value of air, so only the interior is flat.
    template = _unit(np.random.default_rng(1).normal(size=(5, 5, 5)))
    scores = ncc_map(np.full((12, 12, 12), 0.4, np.float32), template)
    assert np.all(np.isfinite(scores)) and np.all(scores[2:-2, 2:-2, 2:-2] == 0.0)


def test_templates_are_zero_mean_unit_norm_per_side(training):
    templates = build_templates(training, half=4)
    assert set(templates) == {"left", "right"}
    for template in templates.values():
        assert template.shape == (9, 9, 9)
        assert abs(float(template.mean())) < 1e-5
        assert float(np.linalg.norm(template)) == pytest.approx(1.0, abs=1e-4)
    assert not np.allclose(templates["left"], templates["right"][::-1], atol=1e-3)


def test_a_side_no_case_shows_is_the_other_side_mirrored():
    left_only = [_case(seed, ears=("left",))[0] for seed in (4, 5)]
    templates = build_templates(left_only, half=4)
    assert np.array_equal(templates["right"], templates["left"][::-1])


def test_no_ear_in_any_case_is_a_clear_error():
    with pytest.raises(MedsegError, match="no training case shows an ear"):
        build_templates([_case(6, ears=())[0]], half=4)


def test_match_finds_both_ears_of_an_unseen_head(training):
    templates = build_templates(training)
    case, _, truth = _case(40, flip_direction=True)
    found = match(case.prep, templates)
    for side in ("left", "right"):
        score, position = found[side]
        assert score > 0.5
        assert np.linalg.norm(position - truth[side]) < 2 * CONFIG.spacing_mm


def test_out_of_fold_matches_use_templates_without_the_subject(training):
    groups, _ = usable_inner_groups(training, 3)
    assert groups == [["S1"], ["S2"], ["S3"]]
    results = out_of_fold_matches(training, groups)
    own = build_templates(training)
    for number, (case, found) in enumerate(zip(training, results)):
        others = build_templates([c for i, c in enumerate(training) if i != number])
        expected = match(case.prep, others)
        in_sample = match(case.prep, own)
        for side in ("left", "right"):
            assert found[side][0] == expected[side][0]
            assert found[side][0] < in_sample[side][0]  # a template holding the case's own ear flatters it


def test_tuning_falls_back_to_the_training_cases_when_an_inner_fold_has_no_ear(tmp_path):
    heads = [(1, ("left", "right")), (4, ()), (6, ())]
    model = train_baseline(write_training_table(tmp_path, heads, SPACING), CONFIG.replace(threshold_inner_folds=3), tmp_path / "model")
    tuned = json.loads((model / "threshold.json").read_text())
    assert "inner_groups" not in tuned
    assert tuned["tuned_on"] == "training cases, matched with templates built from them (without subject(s) S1 no training case shows an ear)"


def test_trained_threshold_separates_present_from_absent_ears(tmp_path):
    heads = [(1, ("left", "right")), (2, ("left",)), (3, ("right",)), (4, ()), (5, ("left", "right"))]
    model = train_baseline(write_training_table(tmp_path, heads, SPACING), CONFIG, tmp_path / "model")
    tuned = json.loads((model / "threshold.json").read_text())
    assert max(tuned["accuracy"]) >= 0.9
    assert tuned["threshold"] in tuned["grid"]
    assert tuned["inner_groups"] == [["S1", "S4"], ["S2", "S5"], ["S3"]]
    assert tuned["tuned_on"] == "training subjects, each matched with templates built without it"

    image, truth = synthetic_head(60, ears=("left",), spacing=SPACING)
    sitk.WriteImage(image, str(tmp_path / "new.nii.gz"))
    doc = detect_baseline_file(tmp_path / "new.nii.gz", model, tmp_path / "out")
    assert doc == json.loads((tmp_path / "out" / "ears.json").read_text())
    assert doc["method"] == "baseline" and doc["decision"]["threshold"] == tuned["threshold"]
    left, right = doc["ears"]["left"], doc["ears"]["right"]
    assert left["present"] and not right["present"] and doc["n_ears"] == 1
    assert np.linalg.norm(np.array(left["position_lps"]) - truth["left"]) < 2 * CONFIG.spacing_mm
    assert np.allclose(left["position_ras"], np.array(left["position_lps"]) * [-1, -1, 1])
    assert list(image.TransformPhysicalPointToIndex(left["position_lps"])) == left["voxel_index"]

    # the same head stored as CT number + 1024 (an old export): refused unless the offset is corrected
    sitk.WriteImage(sitk.Cast(image, sitk.sitkFloat32) + 1024.0, str(tmp_path / "offset.nii.gz"))
    with pytest.raises(MedsegError, match="1024"):
        detect_baseline_file(tmp_path / "offset.nii.gz", model, tmp_path / "refused")
    assert not (tmp_path / "refused").exists()
    corrected = detect_baseline_file(tmp_path / "offset.nii.gz", model, tmp_path / "corrected", allow_offset=True)
    assert corrected["ears"]["left"]["position_lps"] == left["position_lps"]
    assert not corrected["ears"]["right"]["present"]
