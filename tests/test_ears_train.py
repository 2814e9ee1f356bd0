import numpy as np
import pytest
import torch
from test_ears_synth import synthetic_head

from medseg.ears.config import EarsConfig
from medseg.ears.decode import Candidate
from medseg.ears.train import (
    PatchSampler,
    apply_variant,
    fit,
    heatmap_loss,
    inner_subject_groups,
    middle_of_best,
    prepare_case,
    train_network,
    tune_thresholds,
    usable_inner_groups,
)
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
    trained = fit(cases, SMOKE.replace(iterations=4, hard_negative_mining=False, threshold_inner_folds=0), progress=False)
    assert trained.thresholds["threshold"] in SMOKE.threshold_grid
    assert len(trained.thresholds["accuracy"]) == len(SMOKE.threshold_grid)
    assert "lower quarter" in trained.thresholds["tuned_on"]
    assert trained.shape_prior.n_pairs == 2
    assert 80 < trained.shape_prior.distance_mean < 120
    assert trained.summary["ears_per_case"] == {"two": 2, "one": 1, "none": 1}


def test_inner_subject_groups_hold_out_each_subject_once():
    assert inner_subject_groups(["S3", "S1", "S2", "S1", "S0"], 3) == [["S0", "S3"], ["S1"], ["S2"]]
    assert inner_subject_groups(["B", "A"], 5) == [["A"], ["B"]]


def test_threshold_is_tuned_on_inner_models_that_never_saw_the_subject(cases, monkeypatch):
    import medseg.ears.train as train_module

    trained_on, decoded_by = [], {}
    real_train, real_candidates = train_module.train_network, train_module.case_candidates

    def recording_train(train_cases, *args, **kwargs):
        network, history = real_train(train_cases, *args, **kwargs)
        network.seen = {c.subject for c in train_cases}
        trained_on.append(network.seen)
        return network, history

    def recording_candidates(network, prep, config):
        case = next(c for c in cases if c.prep is prep)
        decoded_by[case.subject] = network.seen
        return real_candidates(network, prep, config)

    prior_seen, judged = {}, []
    real_prior, real_tune = train_module.fit_case_prior, train_module.tune_thresholds

    def recording_prior(prior_cases, config):
        prior = real_prior(prior_cases, config)
        prior_seen[id(prior)] = {c.subject for c in prior_cases}
        return prior

    def recording_tune(candidates, landmarks, priors, config, out_of_fold=True):
        judged.extend(prior_seen[id(p)] for p in priors)
        return real_tune(candidates, landmarks, priors, config, out_of_fold)

    monkeypatch.setattr(train_module, "train_network", recording_train)
    monkeypatch.setattr(train_module, "case_candidates", recording_candidates)
    monkeypatch.setattr(train_module, "fit_case_prior", recording_prior)
    monkeypatch.setattr(train_module, "tune_thresholds", recording_tune)
    trained = fit(cases, SMOKE.replace(iterations=4, hard_negative_mining=False, threshold_inner_folds=2), progress=False)
    assert trained_on == [{"S0", "S1", "S2", "S3"}, {"S1", "S3"}, {"S0", "S2"}]  # the model, then the inner models
    assert trained.thresholds["inner_groups"] == [["S0", "S2"], ["S1", "S3"]]
    assert set(decoded_by) == {"S0", "S1", "S2", "S3"}
    assert all(subject not in seen for subject, seen in decoded_by.items())
    # each case is judged with a shape prior fitted without its subject (and with the other group's)
    assert judged == [{"S1", "S3"}, {"S0", "S2"}, {"S1", "S3"}, {"S0", "S2"}]
    assert "inner model" in trained.thresholds["tuned_on"]
    assert trained.shape_prior.n_pairs == 2  # the model's own prior comes from every training case


def test_inner_folds_need_an_ear_beside_every_group(cases):
    assert usable_inner_groups(cases, 2) == ([["S0", "S2"], ["S1", "S3"]], "")
    assert usable_inner_groups(cases, 0)[0] is None
    assert usable_inner_groups(cases[:1], 3) == (None, "a single training subject, no inner folds")
    groups, why_not = usable_inner_groups([cases[0], cases[3]], 2)  # S3 shows no ear: without S0 nothing is left
    assert groups is None and why_not == "without subject(s) S0 no training case shows an ear"
    trained = fit([cases[0], cases[3]], SMOKE.replace(iterations=2, hard_negative_mining=False), progress=False)
    assert "inner_groups" not in trained.thresholds and trained.thresholds["tuned_on"].endswith(why_not)


def test_middle_of_best_stays_inside_one_run_of_best_thresholds():
    flat = lambda tau: 1.0  # noqa: E731 - every threshold between grid values scores the best too
    assert middle_of_best([0.3, 0.4, 0.5, 0.6], [1, 1, 1, 0.5], flat) == 0.4
    assert middle_of_best([0.3, 0.4, 0.5, 0.6], [1, 1, 1, 1], flat) == 0.45
    assert middle_of_best([0.6, 0.3, 0.5, 0.4], [1, 1, 1, 1], flat) == 0.45  # the grid's order does not matter
    dip = lambda tau: 0.5  # noqa: E731 - a midpoint off the grid that scores worse is not taken
    assert middle_of_best([0.3, 0.4, 0.5, 0.6], [1, 1, 1, 1], dip) == 0.5
    # two separate runs: the middle of the longer one, not the gap between them
    grid = [0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85]
    accuracies = [0.75] * 4 + [0.5] * 8 + [0.75] * 4
    assert middle_of_best(grid, accuracies, flat) == pytest.approx(0.175)
    assert middle_of_best(grid, [0.75] * 4 + [0.5] * 7 + [0.75] * 5, flat) == pytest.approx(0.75)


def _candidate(side, score, position):
    return Candidate(side, score, np.zeros(3), np.asarray(position, float))


def test_threshold_choice_within_the_best_range():
    # case 1: a true left ear scoring 0.7; case 2: no ears, a false peak of 0.3. Every
    # threshold in (0.3, 0.7] is right on both, the grid holds 0.35 ... 0.7 of them.
    candidates = [{"left": [_candidate("left", 0.7, (50, 0, 0))], "right": []}, {"left": [_candidate("left", 0.3, (50, 0, 0))], "right": []}]
    landmarks = [{"left": np.array([50.0, 0, 0]), "right": None}, {"left": None, "right": None}]
    config = SMOKE.replace(threshold_grid=(0.2, 0.35, 0.4, 0.5, 0.6, 0.7, 0.8))
    priors = [None, None]
    out_of_fold = tune_thresholds(candidates, landmarks, priors, config, out_of_fold=True)
    assert out_of_fold["accuracy_no_shape"] == [0.75, 1.0, 1.0, 1.0, 1.0, 1.0, 0.75]
    assert out_of_fold["threshold_no_shape"] == 0.525  # the middle of 0.35 ... 0.7
    in_sample = tune_thresholds(candidates, landmarks, priors, config, out_of_fold=False)
    assert in_sample["threshold_no_shape"] == 0.4  # optimistic scores: the lower quarter
    assert tune_thresholds(candidates, landmarks, priors, config.replace(threshold=0.65))["threshold"] == 0.65


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
