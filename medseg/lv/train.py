"""Training the cine LV segmenter on labelled frames, with temporal context from all frames."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from monai.losses import MaskedDiceLoss
from monai.utils import set_determinism
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
from medseg.device import autocast, describe_device, grad_scaler, module_device, resolve_device
from medseg.errors import InputRejected
from medseg.lv.augment import CineAugment
from medseg.lv.config import INFERENCE_ONLY_SETTINGS, LVConfig
from medseg.lv.dataset import IGNORE, CineSequence, load_training_sequences, sample_window
from medseg.lv.model_io import build_model, load_initial_weights, save_model
from medseg.lv.network import CineSegNet
from medseg.lv.partial_labels import NOT_CAVITY
from medseg.lv.scar import SyntheticScar
from medseg.metrics import MYOCARDIUM

log = logging.getLogger(__name__)


class MaskedDiceCELoss(torch.nn.Module):
    """Cross-entropy plus soft Dice over annotated pixels only (label 255 is ignored).

    Pixels labelled :data:`~medseg.lv.partial_labels.NOT_CAVITY` (myocardium or
    background) add ``-log(p_background + p_myocardium)`` to the cross-entropy, averaged
    with the other annotated pixels; the Dice term leaves them out.

    Args:
        dice_weight: weight of the Dice term (cross-entropy has weight 1).
    """

    def __init__(self, dice_weight: float = 1.0) -> None:
        super().__init__()
        self.dice_weight = dice_weight
        self.dice = MaskedDiceLoss(include_background=False, to_onehot_y=True, softmax=True, batch=True)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Loss of (N, C, H, W) logits against (N, H, W) integer labels."""
        if (target == IGNORE).all():
            return logits.sum() * 0.0
        bounded = target == NOT_CAVITY
        exact = (target != IGNORE) & ~bounded
        exact_target = torch.where(bounded, torch.full_like(target, IGNORE), target).long()
        if bounded.any():
            log_p = F.log_softmax(logits, dim=1)
            not_cavity = torch.logsumexp(log_p[:, [0, MYOCARDIUM]], dim=1)  # background or myocardium
            ce_sum = F.cross_entropy(logits, exact_target, ignore_index=IGNORE, reduction="sum")
            loss = (ce_sum - not_cavity[bounded].sum()) / (exact.sum() + bounded.sum())
        else:
            loss = F.cross_entropy(logits, exact_target, ignore_index=IGNORE)
        if exact.any():
            clean = torch.where(exact, target, torch.zeros_like(target)).long().unsqueeze(1)
            loss = loss + self.dice_weight * self.dice(logits, clean, mask=exact.unsqueeze(1).float())
        return loss


class BatchSampler:
    """Random cyclic windows of labelled sequences, augmented consistently over time.

    Args:
        sequences: training sequences (each with at least one labelled frame).
        config: LV settings.
    """

    def __init__(self, sequences: list[CineSequence], config: LVConfig) -> None:
        if not sequences:
            raise InputRejected("no annotated frames to train on", ["no annotated frames"])
        self.sequences = sequences
        self.config = config
        self.rng = np.random.default_rng(config.seed)
        self.augment = CineAugment(config, seed=config.seed)
        self.scar = SyntheticScar(config.aug_scar_prob, signal=tuple(config.aug_scar_signal))
        weights = np.array([len(s.annotated_frames) for s in sequences], dtype=np.float64)
        self.weights = weights / weights.sum()

    def __call__(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, W, 1, S, S) images and (B, W, S, S) labels."""
        images, labels = [], []
        for _ in range(self.config.batch_size):
            sequence = self.sequences[int(self.rng.choice(len(self.sequences), p=self.weights))]
            index = sample_window(sequence, self.config.window, self.rng)  # wraps round a cycle shorter than the window
            image, label = sequence.image[index], sequence.label[index]
            image, label = self.augment(self.scar(image, label, self.rng), label)
            image, label = self._sub_crop(image, label)
            images.append(image)
            labels.append(label)
        return torch.from_numpy(np.stack(images))[:, :, None], torch.from_numpy(np.stack(labels))

    def _sub_crop(self, image: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cut a (T, S, S) pair to a random ``train_crop`` square (the same for every frame)."""
        size = self.config.train_crop
        if size is None or size >= image.shape[-1]:
            return image, label
        row, col = (int(self.rng.integers(0, n - size + 1)) for n in image.shape[-2:])
        window = (Ellipsis, slice(row, row + size), slice(col, col + size))
        return np.ascontiguousarray(image[window]), np.ascontiguousarray(label[window])


def fit(
    model: CineSegNet,
    sequences: list[CineSequence],
    config: LVConfig,
    progress: bool = True,
    run: ResumableRun | None = None,
) -> dict[str, Any]:
    """Train ``model`` in place.

    A run resumed from a checkpoint of ``run`` ends with the same weights as one never
    stopped (same seed, thread count and device). Training runs where ``model`` lies, with
    autocast when ``config.mixed_precision`` is set and that is a CUDA device.

    Args:
        model: the network (on its training device).
        sequences: labelled training sequences.
        config: LV settings (iterations, batch, window, learning rate, ...).
        progress: show a tqdm bar.
        run: checkpoints to resume from and save to (None: no checkpoints).

    Returns:
        Run summary: iterations, final loss (mean of the last 10 %), seconds, frames/s.

    Raises:
        TrainingInterrupted: SIGTERM/SIGINT arrived; the checkpoint was saved first.
    """
    torch.set_num_threads(config.threads)
    set_determinism(seed=config.seed)
    sampler = BatchSampler(sequences, config)
    loss_fn = MaskedDiceCELoss(config.dice_weight)
    device = module_device(model)
    scaler = grad_scaler(device, config.mixed_precision)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    warmup = max(1, config.iterations // 20)

    def lr_factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress_ = (step - warmup) / max(1, config.iterations - warmup)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress_))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, lr_factor)
    losses: list[float] = []
    frames = 0
    seconds = 0.0
    first = 0
    resumed: list[int] = []
    saved = run.restore() if run is not None else None
    if saved is not None:
        restore_training_state(saved, model, optimiser, scheduler)
        set_generator_state(sampler.rng, saved["numpy_rng"])
        sampler.augment.restore(saved["augment"])
        if saved.get("scaler"):
            scaler.load_state_dict(saved["scaler"])
        progress_state = json.loads(saved["progress"])
        losses, frames, seconds, resumed = progress_state["losses"], progress_state["frames"], progress_state["seconds"], progress_state["resumed"]
        first = int(saved["step"]) + 1
        resumed.append(first)
    model.train()
    start = time.perf_counter()
    bar = tqdm(range(first, config.iterations), desc=f"lv train {config.variant}", disable=not progress, leave=False)
    with run.signals() if run is not None else contextlib.nullcontext():
        for step in bar:
            images, labels = sampler()
            images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            with autocast(device, config.mixed_precision):
                logits = model(images)
            loss = loss_fn(logits.float().flatten(0, 1), labels.flatten(0, 1))
            optimiser.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimiser)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            scaler.step(optimiser)
            scaler.update()
            scheduler.step()
            losses.append(loss.detach().item())
            frames += images.shape[0] * images.shape[1]
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
            if run is not None and step < config.iterations - 1 and run.due(step):
                elapsed = seconds + time.perf_counter() - start
                run.save(
                    step,
                    training_state(
                        model,
                        optimiser,
                        scheduler,
                        numpy_rng=generator_state(sampler.rng),
                        augment=sampler.augment.state(),
                        scaler=scaler.state_dict(),
                        progress=json.dumps({"losses": losses, "frames": frames, "seconds": elapsed, "resumed": resumed}),
                    ),
                )
    seconds += time.perf_counter() - start
    tail = losses[-max(1, len(losses) // 10) :]
    model.eval()
    return {
        "iterations": config.iterations,
        "final_loss": float(np.mean(tail)) if tail else None,
        "first_loss": losses[0] if losses else None,
        "seconds": round(seconds, 2),
        "frames_per_second": round(frames / seconds, 2) if seconds > 0 else None,
        "resumed_at_steps": resumed,
    }


def train(
    rows: list[dict[str, str]],
    config: LVConfig,
    out_dir: str | Path | None = None,
    init: str | Path | None = None,
    progress: bool = True,
) -> tuple[CineSegNet, dict[str, Any]]:
    """Train an LV model on the cases of a training table and (optionally) save it.

    Args:
        rows: training-table rows (subject, case, image, annotation).
        config: LV settings.
        out_dir: model folder to write, or None.
        init: model folder to initialise from (overrides ``config.init``).
        progress: show a progress bar.

    Returns:
        ``(model, training summary)``.
    """
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    device = resolve_device(config.device)
    sequences = load_training_sequences(rows, config)
    model = build_model(config)
    summary: dict[str, Any] = {
        "device": describe_device(device, config.mixed_precision),
        "cases": sorted({s.case for s in sequences}),
        "subjects": sorted({s.subject for s in sequences}),
        "sequences": len(sequences),
        "labelled_frames": int(sum(len(s.labelled_frames) for s in sequences)),
        "annotated_frames": int(sum(len(s.annotated_frames) for s in sequences)),
    }
    init = init or config.init
    if init:
        summary["init"] = {"from": str(init), **load_initial_weights(model, init)}
    model.to(device)
    log.info(
        "training %s on %d sequences (%d labelled frames) on %s",
        config.variant, len(sequences), summary["labelled_frames"], summary["device"],
    )
    run = None
    if out_dir is not None:
        run = ResumableRun(resume_folder(out_dir), training_fingerprint(rows, config, init), config.checkpoint_every)
    summary.update(fit(model, sequences, config, progress=progress, run=run))
    if out_dir is not None:
        save_model(out_dir, model, config, summary)
        run.finish()
    return model, summary


def training_fingerprint(rows: list[dict[str, str]], config: LVConfig, init: str | Path | None) -> str:
    """Identifies a training run: settings that change the weights (the thread count and the
    device among them), the cases, their files, the initial weights."""
    from medseg import __version__
    from medseg.provenance import path_digest

    settings = fingerprint_settings(config.to_dict(), config.device, skip=INFERENCE_ONLY_SETTINGS)
    files = [[row.get("case"), path_digest(row["image"]), path_digest(row["annotation"])] for row in rows]
    start = path_digest(Path(init) / "model.pt") if init else None
    return fingerprint("lv", __version__, settings, files, start)
