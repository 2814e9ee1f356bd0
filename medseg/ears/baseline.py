"""Classical baseline: mean-template matching by normalised cross-correlation.

Mean left and right ear templates are cut from the preprocessed training CTs; detection
takes, per side, the strongest normalised cross-correlation peak and calls the ear present
when it exceeds a threshold tuned on the training subjects (each scored with templates it
did not contribute to). No network, no shape constraint.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage, signal

from medseg.checks import read_checked
from medseg.ears.config import EarsConfig
from medseg.ears.decode import find_peaks, refine_peak
from medseg.ears.preprocess import Preprocessed, preprocess
from medseg.ears.targets import EAR_SIDES
from medseg.ears.train import _crop, inner_splits, load_training_cases, read_cases_table, usable_inner_groups
from medseg.errors import MedsegError
from medseg.io.atomic import atomic_dir, write_json
from medseg.model_manifest import verify_manifest, write_manifest
from medseg.provenance import collect_provenance

__all__ = ["TASK", "build_templates", "ncc_map", "match", "out_of_fold_matches", "train_baseline", "detect_baseline_file"]

TASK = "ears-baseline"
_HALF = 10
_GRID = tuple(np.round(np.arange(0.2, 0.95, 0.05), 2))


def build_templates(cases: list, half: int = _HALF) -> dict[str, np.ndarray]:
    """Mean zero-mean, unit-norm template per side from the training cases' ears.

    A side no training case shows takes the other side's template mirrored left-right
    (axis 0 of the LPS grid is patient right-to-left).

    Raises:
        MedsegError: no training case shows any ear.
    """
    out = {}
    for side in EAR_SIDES:
        patches = []
        for case in cases:
            index = case.landmark_indices()[side]
            if index is not None:
                patches.append(_crop(case.prep.array, np.rint(index).astype(int) - half, 2 * half + 1))
        if not patches:
            continue
        mean = np.mean(patches, axis=0)
        mean -= mean.mean()
        out[side] = (mean / max(float(np.linalg.norm(mean)), 1e-9)).astype(np.float32)
    if not out:
        raise MedsegError("no training case shows an ear: the baseline has nothing to learn from")
    for side, other in zip(EAR_SIDES, reversed(EAR_SIDES)):
        if side not in out:
            out[side] = np.ascontiguousarray(out[other][::-1])
    return out


def ncc_map(volume: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Normalised cross-correlation of a zero-mean, unit-norm template at every voxel."""
    size = template.shape[0]
    n = template.size
    volume = volume.astype(np.float32)
    numerator = signal.fftconvolve(volume, template[::-1, ::-1, ::-1], mode="same")
    mean = ndimage.uniform_filter(volume, size, mode="constant")
    square = ndimage.uniform_filter(volume * volume, size, mode="constant")
    variance = np.clip(square - mean * mean, 0.0, None) * n
    return np.where(variance > 1e-6, numerator / np.sqrt(variance + 1e-12), 0.0).astype(np.float32)


def match(prep: Preprocessed, templates: dict[str, np.ndarray]) -> dict[str, tuple[float, np.ndarray] | None]:
    """Per side, the best NCC score and its LPS position (``None`` if no peak)."""
    out: dict[str, tuple[float, np.ndarray] | None] = {}
    for side in EAR_SIDES:
        scores = ncc_map(prep.array, templates[side])
        peaks = find_peaks(scores, -1.0, 3, 1, prep.valid_shape)
        if not peaks:
            out[side] = None
            continue
        index, value = peaks[0]
        out[side] = (value, prep.index_to_world(refine_peak(np.clip(scores, 0, None), index, 1)))
    return out


def out_of_fold_matches(cases: list, groups: list[list[str]]) -> list[dict[str, tuple[float, np.ndarray] | None]]:
    """Each case's best matches with templates built without its subject's group (as the
    network's threshold is tuned, :func:`medseg.ears.train.out_of_fold_candidates`).

    Raises:
        MedsegError: a group's complement shows no ear (see :func:`medseg.ears.train.usable_inner_groups`).
    """
    results: list[dict[str, tuple[float, np.ndarray] | None]] = [{} for _ in cases]
    for inner_cases, held_out in inner_splits(cases, groups):
        templates = build_templates(inner_cases)
        for index in held_out:
            results[index] = match(cases[index].prep, templates)
    return results


def train_baseline(cases_table: str | os.PathLike[str], config: EarsConfig, out_dir: str | os.PathLike[str]) -> Path:
    """Build the templates and tune the threshold on the training cases; write the folder.

    Where inner folds can be used (:func:`medseg.ears.train.usable_inner_groups`), each
    training case is scored with templates its subject did not contribute to; otherwise
    with the templates themselves (optimistic). The middle of the best thresholds is taken.
    """
    started = time.perf_counter()
    cases = load_training_cases(read_cases_table(cases_table), config, progress=False)
    templates = build_templates(cases)
    inner_groups, why_not = usable_inner_groups(cases, config.threshold_inner_folds)
    if inner_groups is not None:
        results = out_of_fold_matches(cases, inner_groups)
        tuned_on = "training subjects, each matched with templates built without it"
    else:
        results = [match(c.prep, templates) for c in cases]
        tuned_on = f"training cases, matched with templates built from them ({why_not})"
    accuracy = []
    for tau in _GRID:
        right = 0
        for case, found in zip(cases, results):
            for side in EAR_SIDES:
                present = found[side] is not None and found[side][0] >= tau
                right += present == (case.landmarks[side] is not None)
        accuracy.append(right / (2 * len(cases)))
    best = max(accuracy)
    ties = [t for t, a in zip(_GRID, accuracy) if a >= best - 1e-12]
    threshold = float(ties[len(ties) // 2])
    out_dir = Path(out_dir)
    settings = {
        "seed": config.seed,
        "ears": {"spacing_mm": config.spacing_mm, "hu_clip": list(config.hu_clip), "threshold_inner_folds": config.threshold_inner_folds},
    }
    record = {"threshold": threshold, "grid": list(_GRID), "accuracy": accuracy, "tuned_on": tuned_on}
    if inner_groups is not None:
        record["inner_groups"] = inner_groups
    with atomic_dir(out_dir, owned="manifest.json") as tmp:
        np.savez(tmp / "templates.npz", **templates)
        write_json(tmp / "threshold.json", record)
        write_manifest(
            tmp,
            TASK,
            {
                "method": "mean-template normalised cross-correlation",
                "config": settings,
                "training": {"cases": len(cases), "subjects": sorted({c.subject for c in cases}), "seconds": round(time.perf_counter() - started, 1)},
                "provenance": collect_provenance(seed=config.seed, settings=settings),
            },
        )
    return out_dir


def detect_baseline_file(
    input_path: str | os.PathLike[str],
    model_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    allow_offset: bool = False,
) -> dict[str, Any]:
    """Run the baseline on one CT and write ``ears.json`` (same layout as the network's).

    Args:
        input_path: CT file or DICOM series folder.
        model_dir: baseline model folder.
        out_dir: output folder.
        allow_offset: accept a CT stored with a +1024 CT-number offset (subtracted).
    """
    model_dir = Path(model_dir)
    manifest = verify_manifest(model_dir, TASK)
    with np.load(model_dir / "templates.npz", allow_pickle=False) as data:
        templates = {side: data[side] for side in EAR_SIDES}
    threshold = float(json.loads((model_dir / "threshold.json").read_text())["threshold"])
    settings = manifest["config"]["ears"]
    image = read_checked(input_path, "ct", allow_offset=allow_offset)
    prep = preprocess(image, float(settings["spacing_mm"]), tuple(settings["hu_clip"]), 1)
    found = match(prep, templates)
    ears: dict[str, Any] = {}
    for side in EAR_SIDES:
        item = found[side]
        present = item is not None and item[0] >= threshold
        position = item[1] if present else None
        ears[side] = {
            "present": present,
            "score": None if item is None else round(float(item[0]), 6),
            "position_lps": None if position is None else [round(float(v), 3) for v in position],
            "position_ras": None if position is None else [round(float(v) * f, 3) for v, f in zip(position, (-1, -1, 1))],
            "voxel_index": None if position is None else [int(v) for v in np.rint(prep.world_to_input_index(position))],
        }
    doc = {
        "coordinate_system": "LPS",
        "input": str(input_path),
        "method": "baseline",
        "n_ears": sum(ears[s]["present"] for s in EAR_SIDES),
        "ears": ears,
        "points": {s: {"present": ears[s]["present"], "position": ears[s]["position_lps"]} for s in EAR_SIDES},
        "decision": {"threshold": threshold},
        "provenance": collect_provenance(seed=manifest["config"].get("seed"), settings=manifest["config"]),
    }
    write_json(Path(out_dir) / "ears.json", doc)
    return doc
