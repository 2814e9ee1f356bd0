"""Detection on one CT: preprocess, run the network, decode, write the prediction folder."""

from __future__ import annotations

import dataclasses
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
import torch

from medseg.checks import read_checked
from medseg.device import describe_device, resolve_device
from medseg.ears.decode import Candidate, Decision, decide
from medseg.ears.model_io import EarsModel, load_model
from medseg.ears.preprocess import Preprocessed, preprocess, to_input_grid
from medseg.ears.shape_prior import ShapePrior
from medseg.ears.targets import EAR_SIDES
from medseg.ears.train import case_candidates
from medseg.io.atomic import staged_files, write_json
from medseg.provenance import collect_provenance

__all__ = ["Detection", "detect", "detection_document", "write_detection", "detect_file", "lps_to_ras"]

_LPS_TO_RAS = np.array([-1.0, -1.0, 1.0])

#: Heatmap values below this are written as 0: the decoder's default ``candidate_min_score``,
#: so nothing weaker could have been a candidate. A trained model answers weakly over much
#: of the head; writing those values made the files ten times slower to resample and compress.
HEATMAP_FLOOR = 0.05


def lps_to_ras(point: np.ndarray) -> np.ndarray:
    """LPS mm to RAS mm (and back)."""
    return np.asarray(point, float) * _LPS_TO_RAS


@dataclasses.dataclass
class Detection:
    """The result of :func:`detect`."""

    decision: Decision
    heatmaps: np.ndarray
    prep: Preprocessed
    threshold: float
    shape_constraint: bool
    seconds: dict[str, float]
    device: str = "cpu"
    mirror_averaging: bool = False


def detect(
    image: sitk.Image, model: EarsModel, shape_constraint: bool = True, threads: int | None = None, device: str = "auto"
) -> Detection:
    """Find the inner ears in a CT.

    Args:
        image: the CT in HU, any geometry.
        model: a loaded model (its network is moved to ``device``).
        shape_constraint: apply the shape prior (off = ablation).
        threads: torch threads (default: the model config's).
        device: ``auto`` (a CUDA GPU when torch sees one, else the CPU), ``cpu``,
            ``cuda`` or ``cuda:N``; the model's ``mixed_precision`` applies on CUDA.

    Returns:
        The :class:`Detection`.

    Raises:
        ConfigError: ``device`` names a GPU torch cannot see.
    """
    torch.set_num_threads(max(1, int(threads or model.config.threads)))
    target = resolve_device(device)
    model.network.to(target)
    t0 = time.perf_counter()
    config = model.config
    prep = preprocess(image, config.spacing_mm, config.hu_clip, config.stride)
    t1 = time.perf_counter()
    heatmaps, candidates = case_candidates(model.network, prep, config)
    t2 = time.perf_counter()
    threshold = model.threshold(shape_constraint)
    decision = decide(candidates, threshold, model.shape_prior if shape_constraint else None)
    t3 = time.perf_counter()
    seconds = {"preprocess": t1 - t0, "network": t2 - t1, "decode": t3 - t2}
    device_name = describe_device(target, config.mixed_precision)
    return Detection(decision, heatmaps, prep, threshold, shape_constraint, seconds, device_name, config.test_flip_lr)


def _candidate_entry(candidate: Candidate, prep: Preprocessed) -> dict[str, Any]:
    index = prep.world_to_input_index(candidate.position)
    return {
        "score": round(float(candidate.score), 6),
        "position_lps": [round(float(v), 3) for v in candidate.position],
        "position_ras": [round(float(v), 3) for v in lps_to_ras(candidate.position)],
        "voxel_index": [int(v) for v in np.rint(index)],
        "continuous_index": [round(float(v), 3) for v in index],
        "lateral_depth_mm": {
            side: {"distance": round(float(d), 2) if np.isfinite(d) else None, "truncated": bool(t)} for side, (d, t) in candidate.depths.items()
        },
    }


def expected_positions(found: dict[str, Candidate | None], prior: ShapePrior) -> dict[str, np.ndarray]:
    """Where each absent ear would lie, by the shape prior, when the other ear was found:
    the found ear plus or minus the mean inter-ear vector (right to left ear, LPS)."""
    vector = prior.distance_mean * np.asarray(prior.direction, float)
    out: dict[str, np.ndarray] = {}
    if found.get("left") is None and found.get("right") is not None:
        out["left"] = np.asarray(found["right"].position, float) + vector
    if found.get("right") is None and found.get("left") is not None:
        out["right"] = np.asarray(found["left"].position, float) - vector
    return out


def detection_document(detection: Detection, source: str | None = None, model: EarsModel | None = None) -> dict[str, Any]:
    """The ``ears.json`` document.

    Holds ``ears`` (per side: present, score, position LPS/RAS mm, voxel index in the input
    image), ``points`` (the same in medseg landmark JSON form, so landmark readers accept
    the file), ``rejected`` candidates with the reason, and the decision settings.
    """
    prep = detection.prep
    ears: dict[str, Any] = {}
    for side, channel in zip(EAR_SIDES, detection.heatmaps):
        chosen = detection.decision.ears[side]
        if chosen is not None:
            ears[side] = {"present": True, **_candidate_entry(chosen, prep)}
        else:
            valid = channel[: prep.valid_shape[0], : prep.valid_shape[1], : prep.valid_shape[2]]
            ears[side] = {
                "present": False,
                "score": round(float(valid.max()), 6) if valid.size else 0.0,
                "position_lps": None,
                "position_ras": None,
                "voxel_index": None,
                "continuous_index": None,
            }
    if model is not None:
        for side, position in expected_positions(detection.decision.ears, model.shape_prior).items():
            ears[side]["prior_position_lps"] = [round(float(v), 3) for v in position]
    rejected = [{"side": c.side, **_candidate_entry(c, prep), "reason": reason} for c, reason in detection.decision.rejected]
    doc: dict[str, Any] = {
        "coordinate_system": "LPS",
        "input": source,
        "n_ears": sum(1 for s in EAR_SIDES if ears[s]["present"]),
        "ears": ears,
        "points": {s: {"present": ears[s]["present"], "position": ears[s]["position_lps"]} for s in EAR_SIDES},
        "rejected": rejected,
        "decision": {
            "threshold": detection.threshold,
            "shape_constraint": detection.shape_constraint,
            "mirror_averaging": detection.mirror_averaging,
        },
        "device": detection.device,
        "seconds": {k: round(v, 3) for k, v in detection.seconds.items()},
    }
    if model is not None:
        doc["model"] = {"path": str(model.path), "variant": model.manifest.get("variant"), "model_sha256": model.manifest["files"].get("model.pt")}
        doc["provenance"] = collect_provenance(seed=model.config.seed, settings=model.config.to_dict())
    return doc


def _slicer_markups(points: dict[str, np.ndarray | None]) -> dict[str, Any]:
    control = []
    for side in EAR_SIDES:
        p = points.get(side)
        if p is None:
            continue
        control.append(
            {"id": str(len(control) + 1), "label": side, "position": [float(v) for v in lps_to_ras(p)], "positionStatus": "defined", "selected": True, "locked": False, "visibility": True}
        )
    return {
        "@schema": "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/Resources/Schema/markups-schema-v1.0.3.json#",
        "markups": [{"type": "Fiducial", "coordinateSystem": "RAS", "coordinateUnits": "mm", "controlPoints": control}],
    }


def write_detection(detection: Detection, out_dir: str | os.PathLike[str], source: str | None = None, model: EarsModel | None = None) -> dict[str, Any]:
    """Write ``ears.json``, ``heatmap_left.nii.gz``, ``heatmap_right.nii.gz`` and ``ears.mrk.json``.

    Heatmaps are resampled onto the input image's grid (``float32``; values below
    :data:`HEATMAP_FLOOR` written as 0); the files are written into a staging folder and moved
    in together, ``ears.json`` last, so a failed run leaves an earlier result whole.

    Returns:
        The ``ears.json`` document.
    """
    started = time.perf_counter()
    with staged_files(out_dir, last=("ears.json",)) as stage:

        def write_heatmap(side: str, channel: np.ndarray) -> None:
            heatmap = to_input_grid(np.where(channel >= HEATMAP_FLOOR, channel, 0.0), detection.prep)
            sitk.WriteImage(heatmap, str(stage / f"heatmap_{side}.nii.gz"), True, 1)

        with ThreadPoolExecutor(max_workers=len(EAR_SIDES)) as pool:  # SimpleITK works without the GIL
            list(pool.map(write_heatmap, EAR_SIDES, detection.heatmaps))
        points = {s: (None if detection.decision.ears[s] is None else detection.decision.ears[s].position) for s in EAR_SIDES}
        try:
            from medseg.io.landmarks import write_landmarks
        except ImportError:
            write_json(stage / "ears.mrk.json", _slicer_markups(points))
        else:
            write_landmarks(stage / "ears.mrk.json", points, coordinate_system="RAS")
        detection.seconds["write"] = time.perf_counter() - started
        doc = detection_document(detection, source, model)
        write_json(stage / "ears.json", doc)
    return doc


def detect_file(
    input_path: str | os.PathLike[str],
    model_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    shape_constraint: bool = True,
    threads: int | None = None,
    allow_offset: bool = False,
    device: str = "auto",
) -> dict[str, Any]:
    """Read a CT (file or DICOM folder), check it, detect the ears and write the prediction folder.

    Args:
        input_path: image file or DICOM series folder.
        model_dir: the model folder.
        out_dir: the prediction folder to write (staged: see :func:`write_detection`).
        shape_constraint: apply the shape constraint.
        threads: torch threads (default: the model's).
        allow_offset: accept a CT stored with a +1024 CT-number offset (subtracted).
        device: where the network runs (see :func:`detect`).

    Returns:
        The ``ears.json`` document.

    Raises:
        InputRejected: the input fails the CT checks (MR, constant, NaN, too large, ...).
        ConfigError: ``device`` names a GPU torch cannot see.
    """
    resolve_device(device)  # a GPU that is not there fails before the CT is read
    model = load_model(model_dir)
    t0 = time.perf_counter()
    image = read_checked(input_path, "ct", allow_offset=allow_offset)
    read_seconds = time.perf_counter() - t0
    detection = detect(image, model, shape_constraint, threads, device)
    detection.seconds["read"] = read_seconds
    return write_detection(detection, out_dir, str(input_path), model)
