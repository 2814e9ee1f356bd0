"""Training of the ear localiser: patches, background-weighted loss, hard negative mining,
threshold tuning and the shape prior, all from the training cases only."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from medseg.checkpoint import (
    ResumableRun,
    fingerprint,
    fingerprint_settings,
    generator_state,
    restore_training_state,
    resume_folder,
    set_generator_state,
    training_state,
)
from medseg.device import autocast, describe_device, grad_scaler, resolve_device
from medseg.ears.annotations import load_landmarks
from medseg.ears.augment import PatchAugmenter
from medseg.ears.config import EarsConfig
from medseg.ears.decode import Candidate, decide, extract_candidates
from medseg.ears.hard_negatives import HardNegativePool, mine_volume
from medseg.ears.network import build_network, predict_volume
from medseg.ears.preprocess import Preprocessed, preprocess, read_ct
from medseg.ears.shape_prior import ShapePrior, fit_shape_prior, head_threshold, lateral_depth
from medseg.ears.targets import EAR_SIDES, ear_heatmaps
from medseg.errors import ConfigError, InputRejected
from medseg.tables import TRAINING_COLUMNS, read_stage_table

__all__ = [
    "VARIANTS",
    "TrainingCase",
    "TrainedEars",
    "apply_variant",
    "read_cases_table",
    "prepare_case",
    "heatmap_loss",
    "train_network",
    "inner_subject_groups",
    "inner_splits",
    "usable_inner_groups",
    "fit_case_prior",
    "out_of_fold_candidates",
    "middle_of_best",
    "tune_thresholds",
    "fit",
    "mine_hard_negatives",
    "case_candidates",
    "load_training_cases",
    "train",
    "training_fingerprint",
]

log = logging.getLogger(__name__)

#: Ablation variants: ``full`` = the method; ``no_fps`` = without false-positive suppression.
VARIANTS = ("full", "no_fps")


@dataclasses.dataclass
class TrainingCase:
    """One preprocessed training case with its target heatmaps."""

    subject: str
    case: str
    prep: Preprocessed
    landmarks: dict[str, np.ndarray | None]
    target: np.ndarray

    def landmark_indices(self) -> dict[str, np.ndarray | None]:
        """Continuous network-grid index of each present ear."""
        return {s: (None if p is None else self.prep.world_to_index(p)) for s, p in self.landmarks.items()}


@dataclasses.dataclass
class TrainedEars:
    """Everything a model folder holds, before it is written."""

    network: torch.nn.Module
    config: EarsConfig
    shape_prior: ShapePrior
    thresholds: dict[str, Any]
    summary: dict[str, Any]


def apply_variant(config: EarsConfig, variant: str) -> EarsConfig:
    """The config of an ablation variant (``no_fps`` drops the background weight and mining)."""
    if variant not in VARIANTS:
        raise ConfigError(f"unknown ears variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    if variant == "no_fps":
        return config.replace(background_weight=0.0, hard_negative_mining=False)
    return config


def read_cases_table(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    """Rows of a training table (``subject case image annotation``); paths made absolute.

    Raises:
        InputRejected: missing file, missing columns, an empty image or annotation, or no rows.
    """
    return read_stage_table(path, TRAINING_COLUMNS, ("image", "annotation"), required=("image", "annotation"))


def prepare_case(subject: str, case: str, image: Any, landmarks: dict[str, np.ndarray | None], config: EarsConfig) -> TrainingCase:
    """Preprocess a CT and build its target."""
    prep = preprocess(image, config.spacing_mm, config.hu_clip, config.stride)
    target = ear_heatmaps(prep.array.shape, prep.origin, prep.spacing, landmarks, config.sigma_mm)
    return TrainingCase(subject, case, prep, {s: landmarks.get(s) for s in EAR_SIDES}, target)


def heatmap_loss(pred: torch.Tensor, target: torch.Tensor, foreground_weight: float, background_weight: float) -> torch.Tensor:
    """Squared error balanced between the ear peaks and the background, plus the FP term.

    ``w_fg * sum(t (p - t)^2) / sum(t)`` (error around the ears, normalised by the target
    mass so the few ear voxels are not drowned) ``+ mean((p - t)^2)`` ``+ w_bg *
    mean([t < 0.01] relu(p)^2)`` (responses where there is no ear; 0 turns it off).
    """
    error = (pred - target) ** 2
    loss = error.mean()
    mass = target.sum()
    if float(mass) > 0:
        loss = loss + foreground_weight * (target * error).sum() / mass
    if background_weight > 0:
        loss = loss + background_weight * ((target < 0.01).float() * torch.relu(pred) ** 2).mean()
    return loss


def _crop(array: np.ndarray, start: np.ndarray, size: int) -> np.ndarray:
    """``array[..., start:start+size]`` over the last three axes, zero outside."""
    shape = np.asarray(array.shape[-3:])
    out = np.zeros(array.shape[:-3] + (size,) * 3, array.dtype)
    lo = np.maximum(start, 0)
    hi = np.minimum(start + size, shape)
    if np.any(hi <= lo):
        return out
    dst_lo = lo - start
    dst_hi = dst_lo + (hi - lo)
    out[..., dst_lo[0] : dst_hi[0], dst_lo[1] : dst_hi[1], dst_lo[2] : dst_hi[2]] = array[..., lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    return out


class PatchSampler:
    """Draws training patches: around ears, at mined hard negatives, or anywhere in the head.

    Args:
        cases: the training cases.
        config: settings (patch size, fractions, augmentation).
        rng: the random generator (seeded by the caller).
    """

    def __init__(self, cases: Sequence[TrainingCase], config: EarsConfig, rng: np.random.Generator) -> None:
        self.cases = list(cases)
        self.config = config
        self.rng = rng
        self.pool = HardNegativePool(4 * config.hard_negative_max_per_case)
        self.augmenter = PatchAugmenter(config.patch_size, config.rotate_deg, config.scale_range, config.appearance_prob, rng)
        self.inputs = [c.prep.network_input() for c in self.cases]
        self.ears = [(i, idx) for i, c in enumerate(self.cases) for idx in c.landmark_indices().values() if idx is not None]
        threshold = head_threshold(config.head_threshold_hu, config.hu_clip)
        self.head_voxels = []
        for c in self.cases:
            coords = np.argwhere(c.prep.array[::4, ::4, ::4] > threshold) * 4
            self.head_voxels.append(coords if len(coords) else np.zeros((1, 3), int))

    def _center(self) -> tuple[int, np.ndarray, str]:
        u = self.rng.random()
        half = self.config.patch_size / 2
        if self.ears and u < self.config.positive_fraction:
            case, index = self.ears[int(self.rng.integers(len(self.ears)))]
            jitter = self.rng.uniform(-(half - 6), half - 6, 3)
            return case, np.asarray(index) + jitter, "positive"
        if len(self.pool) and u < self.config.positive_fraction + self.config.hard_negative_fraction:
            negative = self.pool.sample(self.rng)
            return negative.case, np.asarray(negative.index) + self.rng.uniform(-half / 2, half / 2, 3), "hard_negative"
        case = int(self.rng.integers(len(self.cases)))
        if self.rng.random() < 0.7:
            voxels = self.head_voxels[case]
            center = voxels[int(self.rng.integers(len(voxels)))] + self.rng.uniform(0, 4, 3)
        else:
            center = self.rng.uniform(0, self.cases[case].prep.valid_shape)
        return case, center, "background"

    def batch(self) -> tuple[torch.Tensor, torch.Tensor, dict[str, int]]:
        """One batch ``(input (B,2,P,P,P), target (B,2,P,P,P), counts per kind)``."""
        context = self.augmenter.context  # the patch itself unless pose augmentation is on
        images, targets, counts = [], [], {"positive": 0, "hard_negative": 0, "background": 0}
        for _ in range(self.config.batch_size):
            case, center, kind = self._center()
            counts[kind] += 1
            start = np.floor(center - context / 2).astype(int)
            image = _crop(self.inputs[case], start, context)
            target = _crop(self.cases[case].target, start, context)
            if self.config.flip_lr and self.rng.random() < 0.5:
                image = image[:, ::-1]
                target = target[::-1, ::-1]
            image, target = self.augmenter.pose(image, target)
            image = np.array(image, np.float32)
            image[0] = self.augmenter.look(image[0])
            if self.config.intensity_jitter > 0:
                a = self.config.intensity_jitter
                image[0] = image[0] * (1.0 + self.rng.uniform(-a, a)) + self.rng.uniform(-a, a) * 0.1
            images.append(image)
            targets.append(np.ascontiguousarray(target, np.float32))
        return torch.from_numpy(np.stack(images)), torch.from_numpy(np.stack(targets)), counts


def train_network(
    cases: Sequence[TrainingCase], config: EarsConfig, progress: bool = True, run: ResumableRun | None = None
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Train the network on patches of ``cases``.

    Deterministic on CPU for a given ``config.seed`` and thread count; a run resumed from
    a checkpoint of ``run`` ends with the same weights as one never stopped (on the same
    device). Runs on ``config.device``, with autocast when ``config.mixed_precision`` is
    set and that is a CUDA device.

    Args:
        cases: the training cases.
        config: settings.
        progress: show a tqdm bar.
        run: checkpoints to resume from and save to (None: no checkpoints).

    Returns:
        The trained network (eval mode, on the training device) and a history (loss
        curve, mining rounds, device).

    Raises:
        TrainingInterrupted: SIGTERM/SIGINT arrived; the checkpoint was saved first.
    """
    torch.manual_seed(config.seed)
    torch.set_flush_denormal(True)
    device = resolve_device(config.device)
    if device.type == "cuda":
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    scaler = grad_scaler(device, config.mixed_precision)
    rng = np.random.default_rng(config.seed)
    model = build_network(config).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=config.iterations, eta_min=0.05 * config.lr)
    sampler = PatchSampler(cases, config, rng)
    history: dict[str, Any] = {"loss": [], "mining_rounds": [], "patches": {"positive": 0, "hard_negative": 0, "background": 0}}
    history["device"] = describe_device(device, config.mixed_precision)
    running = None
    first = 0
    saved = run.restore() if run is not None else None
    if saved is not None:
        restore_training_state(saved, model, optimiser, scheduler)
        set_generator_state(rng, saved["numpy_rng"])
        sampler.pool.restore(json.loads(saved["pool"]))
        history = {**json.loads(saved["history"]), "device": history["device"]}
        if saved.get("scaler"):
            scaler.load_state_dict(saved["scaler"])
        running = saved["running"]
        first = int(saved["step"]) + 1
        history.setdefault("resumed_at", []).append(first)
    bar = tqdm(range(first, config.iterations), desc="ears train", disable=not progress, leave=False, mininterval=1.0)
    with run.signals() if run is not None else contextlib.nullcontext():
        for step in bar:
            if (
                config.hard_negative_mining
                and step >= config.hard_negative_start
                and (step - config.hard_negative_start) % config.hard_negative_every == 0
            ):
                found = mine_hard_negatives(model, cases, config)
                sampler.pool.update(found)
                history["mining_rounds"].append({"step": step, "found": len(found), "pool": len(sampler.pool)})
            model.train()
            image, target, counts = sampler.batch()
            image, target = image.to(device, non_blocking=True), target.to(device, non_blocking=True)
            for key, value in counts.items():
                history["patches"][key] += value
            optimiser.zero_grad(set_to_none=True)
            with autocast(device, config.mixed_precision):
                prediction = model(image)
            loss = heatmap_loss(prediction.float(), target, config.foreground_weight, config.background_weight)
            scaler.scale(loss).backward()
            scaler.step(optimiser)
            scaler.update()
            scheduler.step()
            value = float(loss.detach())
            running = value if running is None else 0.95 * running + 0.05 * value
            if step % 10 == 0 or step == config.iterations - 1:
                history["loss"].append([step, round(running, 6)])
                bar.set_postfix(loss=f"{running:.4f}", negatives=len(sampler.pool))
            if run is not None and step < config.iterations - 1 and run.due(step):
                run.save(
                    step,
                    training_state(
                        model,
                        optimiser,
                        scheduler,
                        numpy_rng=generator_state(rng),
                        pool=json.dumps(sampler.pool.state()),
                        history=json.dumps(history),
                        scaler=scaler.state_dict(),
                        running=running,
                    ),
                )
    model.eval()
    return model, history


def mine_hard_negatives(model: torch.nn.Module, cases: Sequence[TrainingCase], config: EarsConfig) -> list:
    """Run the model on every training volume and collect its false peaks."""
    found = []
    for number, case in enumerate(cases):
        heatmaps = predict_volume(model, case.prep.network_input(), config.mixed_precision)
        found.extend(
            mine_volume(
                number,
                heatmaps,
                case.landmark_indices(),
                case.prep.spacing,
                config.hard_negative_radius_mm,
                config.hard_negative_min_response,
                config.hard_negative_max_per_case,
                case.prep.valid_shape,
            )
        )
    return found


def case_candidates(model: torch.nn.Module, case_prep: Preprocessed, config: EarsConfig) -> tuple[np.ndarray, dict[str, list[Candidate]]]:
    """Heatmaps and decoding candidates (with lateral depths) of one preprocessed volume."""
    heatmaps = predict_volume(model, case_prep.network_input(), config.mixed_precision, config.test_flip_lr)
    threshold = head_threshold(config.head_threshold_hu, config.hu_clip)
    candidates = extract_candidates(
        heatmaps,
        case_prep,
        config.candidate_min_score,
        config.peak_distance_mm,
        config.candidates_per_channel,
        config.refine_radius,
        depth=lambda position: {side: lateral_depth(case_prep, position, side, threshold) for side in EAR_SIDES},
    )
    return heatmaps, candidates


def inner_subject_groups(subjects: Sequence[str], folds: int) -> list[list[str]]:
    """The training subjects, sorted and dealt in turn into ``min(folds, n)`` groups."""
    ordered = sorted(set(subjects))
    count = min(folds, len(ordered))
    return [ordered[i::count] for i in range(count)]


def inner_splits(cases: Sequence[Any], groups: Sequence[Sequence[str]]) -> Iterator[tuple[list[Any], list[int]]]:
    """Per subject group: the cases of every other group (an inner model's training cases)
    and the indices of the group's own cases, which that model must never see."""
    for held_out in groups:
        yield [c for c in cases if c.subject not in held_out], [i for i, c in enumerate(cases) if c.subject in held_out]


def usable_inner_groups(cases: Sequence[TrainingCase], folds: int) -> tuple[list[list[str]] | None, str]:
    """The inner subject groups for out-of-fold threshold tuning, or ``None`` and why not.

    Inner folds need at least two training subjects, and every group's complement must
    show an ear to learn from.
    """
    if folds < 2:
        return None, "no inner folds (threshold_inner_folds: 0)"
    groups = inner_subject_groups([c.subject for c in cases], folds)
    if len(groups) < 2:
        return None, "a single training subject, no inner folds"
    for held_out, (inner_cases, _) in zip(groups, inner_splits(cases, groups)):
        if not any(p is not None for c in inner_cases for p in c.landmarks.values()):
            return None, f"without subject(s) {', '.join(held_out)} no training case shows an ear"
    return groups, ""


def fit_case_prior(cases: Sequence[TrainingCase], config: EarsConfig) -> ShapePrior:
    """The shape prior of ``cases``' landmarks (lateral depths truncated by the scan left out)."""
    threshold = head_threshold(config.head_threshold_hu, config.hu_clip)
    depths = [lateral_depth(c.prep, p, side, threshold) for c in cases for side, p in c.landmarks.items() if p is not None]
    return fit_shape_prior(
        [c.landmarks for c in cases], [d for d, truncated in depths if not truncated], config.shape_k_sd, config.shape_sd_floor_mm, config.shape_max_angle_deg
    )


def out_of_fold_candidates(
    cases: Sequence[TrainingCase],
    groups: Sequence[Sequence[str]],
    config: EarsConfig,
    progress: bool = True,
    run: ResumableRun | None = None,
) -> tuple[list[dict[str, list[Candidate]]], list[ShapePrior]]:
    """Each case's candidates from an inner model that never saw its subject.

    For each group of subjects (:func:`usable_inner_groups`), a network and a shape prior
    are fitted on the other groups' cases exactly as the outer model is, and the group's
    cases are decoded with them.

    Returns:
        Per case, its candidates and the shape prior to judge them with.
    """
    candidates: list[dict[str, list[Candidate]]] = [{} for _ in cases]
    priors: list[ShapePrior] = [None] * len(cases)  # type: ignore[list-item]
    for number, (inner_cases, held_out) in enumerate(inner_splits(cases, groups)):
        log.info("inner model %d of %d: subjects %s held out", number + 1, len(groups), ", ".join(groups[number]))
        network, _ = train_network(inner_cases, config, progress, run.child(f"inner{number}") if run is not None else None)
        prior = fit_case_prior(inner_cases, config)
        for index in held_out:
            candidates[index] = case_candidates(network, cases[index].prep, config)[1]
            priors[index] = prior
    return candidates, priors


def middle_of_best(grid: Sequence[float], accuracies: Sequence[float], accuracy: Callable[[float], float]) -> float:
    """The middle of the longest run of neighbouring grid thresholds with the best accuracy.

    The midpoint of the run's two ends is taken when it scores the best accuracy too
    (``accuracy`` is asked, since it may lie off the grid); otherwise the run's middle grid
    value. A run, not all best thresholds: between two separate runs accuracy is worse.
    """
    best = max(accuracies)
    runs = [
        [tau for tau, _ in run]
        for is_best, run in itertools.groupby(sorted(zip(grid, accuracies)), key=lambda pair: pair[1] >= best - 1e-12)
        if is_best
    ]
    longest = max(runs, key=len)
    midpoint = round((longest[0] + longest[-1]) / 2, 6)
    if midpoint in longest or accuracy(midpoint) >= best - 1e-12:
        return float(midpoint)
    return float(longest[len(longest) // 2])


def tune_thresholds(
    candidates: Sequence[dict[str, list[Candidate]]],
    landmarks: Sequence[dict[str, np.ndarray | None]],
    priors: Sequence[ShapePrior],
    config: EarsConfig,
    out_of_fold: bool = True,
) -> dict[str, Any]:
    """Choose the presence threshold from training predictions, with and without the prior.

    An ear counts as right when presence agrees and, if present, the position is within
    ``hard_negative_radius_mm``. When the predictions are out-of-fold, the middle of the
    best-accuracy thresholds is taken (:func:`middle_of_best`: the widest margin either
    way); when they are the model's own training predictions, the one at the lower quarter
    of them, since responses on unseen cases are weaker than on the training cases.

    Args:
        candidates: per case, the candidates of each channel.
        landmarks: per case, the reference position of each ear (None: absent).
        priors: per case, the shape prior to decode it with.
        config: the grid, a fixed threshold if any, the match radius.
        out_of_fold: whether ``candidates`` come from models that never saw their subject.

    Returns:
        ``{"threshold", "threshold_no_shape", "grid", "accuracy", "accuracy_no_shape", "tuned_on"}``.
    """
    def accuracy(tau: float, use_prior: bool) -> float:
        right = total = 0
        for cands, truth, prior in zip(candidates, landmarks, priors):
            decision = decide(cands, tau, prior if use_prior else None)
            for side in EAR_SIDES:
                total += 1
                found = decision.ears[side]
                if truth.get(side) is None:
                    right += found is None
                elif found is not None:
                    right += float(np.linalg.norm(found.position - truth[side])) <= config.hard_negative_radius_mm
        return right / max(total, 1)

    out: dict[str, Any] = {"grid": list(config.threshold_grid)}
    for key, use_prior in (("", True), ("_no_shape", False)):
        accuracies = [accuracy(tau, use_prior) for tau in config.threshold_grid]
        if out_of_fold:
            tuned = middle_of_best(config.threshold_grid, accuracies, lambda tau: accuracy(tau, use_prior))
        else:
            best = max(accuracies)
            ties = [t for t, a in zip(config.threshold_grid, accuracies) if a >= best - 1e-12]
            tuned = float(ties[(len(ties) - 1) // 4])
        out[f"threshold{key}"] = float(config.threshold) if config.threshold is not None else round(tuned, 6)
        out[f"accuracy{key}"] = [round(a, 6) for a in accuracies]
    if config.threshold is not None:
        out["tuned_on"] = "fixed in config"
    elif out_of_fold:
        out["tuned_on"] = "training subjects, each predicted by an inner model that never saw it (middle of the best thresholds)"
    else:
        out["tuned_on"] = "training cases (predictions of the final model; lower quarter of the best thresholds)"
    return out


def fit(cases: Sequence[TrainingCase], config: EarsConfig, progress: bool = True, run: ResumableRun | None = None) -> TrainedEars:
    """Train the network, learn the shape prior and tune the threshold on ``cases``.

    Where inner folds can be used (:func:`usable_inner_groups`), the threshold is tuned on
    out-of-fold predictions of inner models (:func:`out_of_fold_candidates`), which costs one
    more training per inner fold; otherwise on the model's own predictions.

    Args:
        cases: the training cases.
        config: settings (after :func:`apply_variant`).
        progress: show progress bars.
        run: checkpoints to resume from and save to (None: no checkpoints).

    Returns:
        The :class:`TrainedEars` ready for :func:`medseg.ears.model_io.save_model`.
    """
    if not cases:
        raise InputRejected("no training cases")
    torch.set_num_threads(max(1, int(config.threads)))
    started = time.perf_counter()
    network, history = train_network(cases, config, progress, run)
    prior = fit_case_prior(cases, config)
    landmarks = [c.landmarks for c in cases]
    subjects = sorted({c.subject for c in cases})
    groups, why_not = usable_inner_groups(cases, config.threshold_inner_folds) if config.threshold is None else (None, "")
    if groups is not None:
        candidates, priors = out_of_fold_candidates(cases, groups, config, progress, run)
        thresholds = tune_thresholds(candidates, landmarks, priors, config, out_of_fold=True)
        thresholds["inner_groups"] = groups
    else:
        if why_not and config.threshold_inner_folds >= 2:
            log.warning("%s: the threshold is tuned on the model's own training predictions", why_not)
        candidates = [case_candidates(network, c.prep, config)[1] for c in cases]
        thresholds = tune_thresholds(candidates, landmarks, [prior] * len(cases), config, out_of_fold=False)
        if why_not:
            thresholds["tuned_on"] += f"; {why_not}"
    counts = {"two": 0, "one": 0, "none": 0}
    for c in cases:
        n = sum(p is not None for p in c.landmarks.values())
        counts[("none", "one", "two")[n]] += 1
    summary = {
        "cases": len(cases),
        "subjects": subjects,
        "case_ids": [c.case for c in cases],
        "ears_per_case": counts,
        "seconds": round(time.perf_counter() - started, 1),
        "device": history["device"],
        "final_loss": history["loss"][-1][1] if history["loss"] else None,
        "mining_rounds": history["mining_rounds"],
        "patches": history["patches"],
        "resumed_at_steps": history.get("resumed_at", []),
    }
    return TrainedEars(network, config, prior, thresholds, summary)


def load_training_cases(rows: Sequence[dict[str, str]], config: EarsConfig, progress: bool = True) -> list[TrainingCase]:
    """Read and preprocess the cases of a training table."""
    out = []
    for row in tqdm(rows, desc="ears load", disable=not progress, leave=False):
        image = read_ct(row["image"])
        landmarks = load_landmarks(row["annotation"])
        out.append(prepare_case(row["subject"], row["case"], image, landmarks, config))
    return out


def train(
    cases_table: str | os.PathLike[str],
    config: EarsConfig,
    out_dir: str | os.PathLike[str],
    variant: str = "full",
    progress: bool = True,
) -> Path:
    """Train from a cases table and write the model folder.

    Args:
        cases_table: TSV with ``subject case image annotation``.
        config: settings (the variant is applied here).
        out_dir: the model folder to write (atomically).
        variant: ``full`` or ``no_fps``.
        progress: show progress bars.

    Returns:
        ``out_dir``.
    """
    from medseg.ears.model_io import save_model

    config = apply_variant(config, variant)
    torch.set_num_threads(max(1, int(config.threads)))
    rows = read_cases_table(cases_table)
    cases = load_training_cases(rows, config, progress)
    run = ResumableRun(resume_folder(out_dir), training_fingerprint(rows, config, variant), config.checkpoint_every)
    trained = fit(cases, config, progress, run)
    trained.summary["variant"] = variant
    trained.summary["cases_table"] = str(cases_table)
    log.info(
        "trained ears (%s) on %d cases in %.1f s; threshold %.3f",
        variant,
        len(cases),
        trained.summary["seconds"],
        trained.thresholds["threshold"],
    )
    saved = save_model(out_dir, trained, variant=variant)
    run.finish()
    return saved


def training_fingerprint(rows: Sequence[dict[str, str]], config: EarsConfig, variant: str) -> str:
    """Identifies a training run: settings that change the result (the thread count and the
    device among them: they change the weights' last bits), the cases and their files."""
    from medseg import __version__
    from medseg.provenance import path_digest

    settings = fingerprint_settings(config.to_dict(), config.device)
    files = [[row["case"], path_digest(row["image"]), path_digest(row["annotation"])] for row in rows]
    return fingerprint("ears", __version__, variant, settings, files)
