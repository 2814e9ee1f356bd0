"""Segmenting a whole cine study: every slice's full cycle at once, mapped back to its grid."""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medseg.device import autocast, describe_device, module_device, resolve_device
from medseg.io.atomic import staged_files, write_json, write_text
from medseg.lv.config import LVConfig
from medseg.lv.dataset import study_roi
from medseg.lv.network import CineSegNet, fold_batchnorm
from medseg.lv.postprocess import MYOCARDIUM, clean_labels, keep_largest_component  # noqa: F401 - re-exported
from medseg.lv.roi import Roi, normalise_intensity
from medseg.lv.study import CineVolume, labels_to_image, read_volume


def cyclic_pad(sequence: torch.Tensor, context: int) -> torch.Tensor:
    """Pad (B, T, ...) with ``context`` frames from the other end of the cycle on each side."""
    if context <= 0:
        return sequence
    t = sequence.shape[1]
    index = torch.arange(-context, t + context) % t
    return sequence[:, index]


#: Spatial axes of (B, T, C, H, W) mirrored per test-time view, by ``test_flips``.
FLIP_VIEWS: dict[int, tuple[tuple[int, ...], ...]] = {0: ((),), 1: ((), (4,)), 3: ((), (4,), (3,), (3, 4))}


#: Frames per forward pass by device type: on CPU one slice per pass is fastest (the
#: activations stay in cache); a GPU takes a whole study at once.
MAX_FRAMES = {"cpu": 32, "cuda": 1024}


@torch.inference_mode()
def predict_probabilities(
    model: CineSegNet,
    crops: np.ndarray,
    context: int,
    max_frames: int | None = None,
    flips: int = 0,
    mixed_precision: bool = False,
    workers: int = 1,
) -> torch.Tensor:
    """Class probabilities of cropped sequences, on the model's device.

    Each slice's cycle goes through the network whole; the ConvLSTMs see ``context``
    frames from the other end of the cycle on each side (the encoder runs once per frame).
    As many slices as fit in ``max_frames`` frames share one forward pass.

    Args:
        model: network in eval mode (ideally :func:`~medseg.lv.network.fold_batchnorm`-ed).
        crops: (slices, phases, S, S) normalised float32 crops.
        context: cyclic context frames on each side.
        max_frames: frames per forward pass (at least one whole slice; default by device,
            see :data:`MAX_FRAMES`).
        flips: mirrored views averaged with the plain one (0, 1 or 3; see :data:`FLIP_VIEWS`).
        mixed_precision: autocast on CUDA.
        workers: on CPU, forward passes (one per batch of slices and view) run on this many
            threads at once, each on one core: the ConvLSTM steps are too small to keep
            several cores busy inside one pass. The result does not depend on it.

    Returns:
        (slices, phases, 3, S, S) float32 probabilities, on the CPU.
    """
    device = module_device(model)
    phases = crops.shape[1]
    context = min(context, phases) if model.lstm_low is not None else 0
    batch_slices = max(1, (max_frames or MAX_FRAMES.get(device.type, 32)) // phases)
    views = FLIP_VIEWS[flips]
    x_all = torch.from_numpy(np.ascontiguousarray(crops, dtype=np.float32))[:, :, None]
    starts = range(0, len(crops), batch_slices)

    @torch.inference_mode()
    def one_pass(job: tuple[int, tuple[int, ...]]) -> torch.Tensor:
        start, dims = job
        x = x_all[start : start + batch_slices].to(device)
        with autocast(device, mixed_precision):
            x = x.flip(dims) if dims else x
            probabilities = torch.softmax(model(x, context).float(), dim=2)
        return probabilities.flip(dims) if dims else probabilities

    jobs = [(start, dims) for start in starts for dims in views]
    if device.type == "cpu" and workers > 1 and len(jobs) > 1:
        # the initializer also sets OpenMP's per-thread count, which oneDNN reads in each worker
        pool = ThreadPoolExecutor(min(workers, len(jobs)), initializer=torch.set_num_threads, initargs=(1,))
        with intra_op_threads(1), pool:
            passes = list(pool.map(one_pass, jobs))
    else:
        passes = [one_pass(job) for job in jobs]
    out = []
    for index in range(len(starts)):
        total = passes[index * len(views)]
        for other in passes[index * len(views) + 1 : (index + 1) * len(views)]:
            total += other
        out.append((total / len(views) if len(views) > 1 else total).cpu())
    return out[0] if len(out) == 1 else torch.cat(out)


@contextlib.contextmanager
def intra_op_threads(count: int) -> Iterator[None]:
    """Set torch's intra-op thread count for a block, then restore it."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def segment_volume(
    model: CineSegNet, config: LVConfig, volume: CineVolume, roi: Roi | None = None
) -> tuple[np.ndarray, Roi]:
    """Label every frame of a study (0 background, 1 myocardium, 2 cavity).

    Args:
        model: network (switched to eval mode; inference runs on a copy with BatchNorm
            folded into the convolutions, on ``config.device``; channels-last on CPU).
        config: its settings (crop, context, device, mixed precision).
        volume: the study.
        roi: crop to use; by default found from the image.

    Returns:
        ``(labels (slices, phases, rows, cols) uint8, roi)``.
    """
    torch.set_num_threads(config.threads)
    roi = roi or study_roi(volume, config)
    crops = np.stack([normalise_intensity(roi.crop(volume.frames[z])) for z in range(volume.frames.shape[0])])
    device = resolve_device(config.device)
    fast = fold_batchnorm(model.eval())
    fast = fast.to(device) if device.type == "cuda" else fast.to(memory_format=torch.channels_last)
    probs = predict_probabilities(
        fast, crops, config.context, flips=config.test_flips, mixed_precision=config.mixed_precision, workers=config.threads
    )
    labels = np.empty(volume.frames.shape, dtype=np.uint8)
    with torch.inference_mode():
        for z in range(probs.shape[0]):
            labels[z] = roi.uncrop_labels(probs[z])
    if config.postprocess:
        labels = clean_labels(labels, volume.spacing, config.max_wall_mm, config.max_offset_mm)
    return labels, roi


def areas_table(labels: np.ndarray, spacing: tuple[float, float], slice_spacing: float) -> str:
    """``areas.tsv`` text: slice, phase, myocardium area (mm²), myocardial volume per phase (mL).

    The volume of a phase sums area x slice spacing over its slices (the same on every
    row of the phase); it is left blank when the slice spacing is unknown (NaN: a single
    2D+t slice).
    """
    pixel_area = float(spacing[0]) * float(spacing[1])
    area = (labels == MYOCARDIUM).sum(axis=(2, 3)) * pixel_area
    volume_ml = area.sum(axis=0) * float(slice_spacing) / 1000.0
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n")
    writer.writerow(["slice", "phase", "area_mm2", "volume_ml"])
    for z in range(area.shape[0]):
        for t in range(area.shape[1]):
            writer.writerow([z, t, f"{area[z, t]:.2f}", f"{volume_ml[t]:.3f}" if np.isfinite(volume_ml[t]) else ""])
    return buffer.getvalue()


def segment_study(
    input_path: str | Path,
    model: CineSegNet,
    config: LVConfig,
    out_dir: str | Path,
    manifest: dict[str, Any] | None = None,
    volume: CineVolume | None = None,
) -> dict[str, Any]:
    """Segment a study and write ``myocardium.nii.gz``, ``labels.nii.gz``, ``areas.tsv``, ``segment.json``.

    Args:
        input_path: DICOM folder or 4D NIfTI.
        model: network in eval mode.
        config: its settings.
        out_dir: output folder, created only once the segmentation exists. The files are
            written into a staging folder first and moved in together, ``segment.json``
            last, so a failed run leaves an earlier result in ``out_dir`` whole.
        manifest: the model manifest (recorded in ``segment.json``).
        volume: the study, when the caller has already read it from ``input_path``.

    Returns:
        The ``segment.json`` content.
    """
    from medseg.io.image import write_image
    from medseg.provenance import collect_provenance

    volume = volume if volume is not None else read_volume(input_path)
    labels, roi = segment_volume(model, config, volume)
    info = {
        "input": str(input_path),
        "shape_slices_phases_rows_cols": list(volume.frames.shape),
        "roi": {"centre_row_col": list(roi.centre), "spacing_mm": roi.spacing, "size": roi.size},
        "model": {"variant": config.variant, "training": (manifest or {}).get("training", {})},
        "inference": {
            "device": describe_device(resolve_device(config.device), config.mixed_precision),
            "test_flips": config.test_flips,
            "postprocess": config.postprocess,
            "max_wall_mm": config.max_wall_mm,
            "max_offset_mm": config.max_offset_mm,
        },
        "provenance": collect_provenance(seed=config.seed, settings=config.to_dict()),
    }
    with staged_files(out_dir, last=("segment.json",)) as stage:
        write_image(labels_to_image(labels, volume.reference), stage / "labels.nii.gz")
        write_image(labels_to_image((labels == MYOCARDIUM).astype(np.uint8), volume.reference), stage / "myocardium.nii.gz")
        write_text(stage / "areas.tsv", areas_table(labels, volume.spacing, volume.slice_spacing))
        write_json(stage / "segment.json", info)
    return info
