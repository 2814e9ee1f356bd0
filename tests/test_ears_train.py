import numpy as np
import pytest
import torch
from test_ears_synth import synthetic_head

from medseg.ears.config import EarsConfig
from medseg.ears.train import PatchSampler, apply_variant, fit, heatmap_loss, prepare_case, train_network
from medseg.errors import ConfigError

SMOKE = EarsConfig(spacing_mm=4.0, channels=(4, 8, 16), patch_size=24, batch_size=2, iterations=12,
                   hard_negative_start=4, hard_negative_every=4, hard_negative_min_response=0.0, threads=1, seed=3,
                   device="cpu")  # tests/test_cuda.py runs the GPU


@pytest.fixture(scope="module")
def cases():
    kinds = [("left", "right"), ("left",), ("right", "left"), ()]
    return [prepare_case(f"S{i}", f"C{i}", *synthetic_head(i, ears=k, spacing=(4.0, 4.0, 4.0)), SMOKE) for i, k in enumerate(kinds)]


def test_prepared_case_target_marks_ears(cases):
    case = cases[1]
    assert case.target.shape == (2,) + case.prep.array.shape
    index = np.rint(case.landmark_indices()["left"]).astype(int)
    assert case.target[0][tuple(index)] > 0.5
    assert not case.target[1].any()


def test_loss_weights_false_positives():
    target = torch.zeros(1, 2, 8, 8, 8)
    target[0, 0, 4, 4, 4] = 1.0
    pred = target.clone()
    pred[0, 1, 0, 0, 0] = 0.5
    plain = heatmap_loss(pred, target, 1.0, 0.0)
    weighted = heatmap_loss(pred, target, 1.0, 10.0)
    assert weighted > plain > 0
    assert heatmap_loss(target, target, 1.0, 10.0) == 0


def test_training_is_deterministic_and_mines(cases):
    torch.set_num_threads(1)
    a, history = train_network(cases, SMOKE, progress=False)
    b, _ = train_network(cases, SMOKE, progress=False)
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name
    assert [r["step"] for r in history["mining_rounds"]] == [4, 8]
    assert history["patches"]["hard_negative"] > 0
    off, history = train_network(cases, apply_variant(SMOKE, "no_fps"), progress=False)
    assert history["mining_rounds"] == [] and history["patches"]["hard_negative"] == 0


def test_augmented_patches_keep_the_ear_and_training_stays_deterministic(cases):
    config = SMOKE.replace(rotate_deg=15.0, scale_range=0.15, appearance_prob=0.5, positive_fraction=1.0, hard_negative_fraction=0.0)
    sampler = PatchSampler(cases, config, np.random.default_rng(0))
    assert sampler.augmenter.context > config.patch_size
    for _ in range(4):
        image, target, counts = sampler.batch()
        assert image.shape == target.shape == (2, 2, 24, 24, 24)
        assert counts["positive"] == 2
        assert -0.05 <= float(image[:, 0].min()) and float(image[:, 0].max()) <= 1.3  # [0, 1] plus the jitter
        # every positive patch still holds its ear's peak after rotation and zoom
        assert (target.amax(dim=(1, 2, 3, 4)) > 0.5).all()
    torch.set_num_threads(1)
    a, _ = train_network(cases, config.replace(iterations=4), progress=False)
    b, _ = train_network(cases, config.replace(iterations=4), progress=False)
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name


def test_fit_tunes_threshold_and_prior_on_training_cases(cases):
    trained = fit(cases, SMOKE.replace(iterations=4, hard_negative_mining=False), progress=False)
    assert trained.thresholds["threshold"] in SMOKE.threshold_grid
    assert len(trained.thresholds["accuracy"]) == len(SMOKE.threshold_grid)
    assert trained.shape_prior.n_pairs == 2
    assert 80 < trained.shape_prior.distance_mean < 120
    assert trained.summary["ears_per_case"] == {"two": 2, "one": 1, "none": 1}


def test_variants():
    assert apply_variant(SMOKE, "no_fps").background_weight == 0
    assert apply_variant(SMOKE, "full") == SMOKE
    with pytest.raises(ConfigError):
        apply_variant(SMOKE, "nope")


def test_mixed_precision_is_inert_on_cpu(cases):
    torch.set_num_threads(1)
    config = SMOKE.replace(device="cpu", iterations=6)
    plain, history = train_network(cases, config, progress=False)
    mixed, _ = train_network(cases, config.replace(mixed_precision=True), progress=False)
    for (name, x), (_, y) in zip(plain.state_dict().items(), mixed.state_dict().items()):
        assert torch.equal(x, y), name
    assert history["device"] == "cpu"
