"""Small synthetic inputs of the QA pages, in the formats of docs/contracts.md.

Builders only (imported by the other ``test_qa_*`` modules); the one test here checks
that the fixtures are what the contract says.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from medseg.io.atomic import write_json

LEFT_EAR = np.array([30.0, 10.0, 20.0])  # LPS mm: patient left is +x
RIGHT_EAR = np.array([-30.0, 10.0, 20.0])


def _check(case: str, subject: str, task: str, status: str = "accepted", reasons: list[str] | None = None) -> dict[str, Any]:
    return {"case": case, "subject": subject, "task": task, "status": status, "codes": [] if status == "accepted" else ["unreadable"],
            "reasons": reasons or [], "measurements": {"spacing_mm": [0.8, 0.8, 1.5], "fov_mm": [102.4, 102.4, 72.0]}}


def head_ct() -> sitk.Image:
    """A small anisotropic head CT (HU) with bone and two dense inner-ear blobs."""
    size = (80, 80, 40)
    spacing = (1.2, 1.2, 2.0)
    origin = (-47.4, -37.4, -19.0)
    x = origin[0] + np.arange(size[0]) * spacing[0]
    y = origin[1] + np.arange(size[1]) * spacing[1]
    z = origin[2] + np.arange(size[2]) * spacing[2]
    zz, yy, xx = np.meshgrid(z, y, x, indexing="ij")
    r = np.sqrt((xx / 42) ** 2 + ((yy - 10) / 36) ** 2 + ((zz - 10) / 34) ** 2)
    ct = np.full(zz.shape, -1000.0, np.float32)
    ct[r < 1.0] = 900.0
    ct[r < 0.9] = 40.0
    for ear in (LEFT_EAR, RIGHT_EAR):
        d = np.sqrt((xx - ear[0]) ** 2 + (yy - ear[1]) ** 2 + (zz - ear[2]) ** 2)
        ct[d < 9] = 1200.0
        ct[d < 3] = 0.0  # the cochlea lumen
    image = sitk.GetImageFromArray(ct)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    return image


def _heatmap(image: sitk.Image, centre: np.ndarray | None, peak: float) -> sitk.Image:
    size = image.GetSize()
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in size[::-1]], indexing="ij"), -1)[..., ::-1].reshape(-1, 3)
    heat = np.zeros(size[::-1], np.float32)
    if centre is not None:
        pts = np.asarray(image.GetOrigin()) + idx * np.asarray(image.GetSpacing())
        heat = (peak * np.exp(-np.sum((pts - centre) ** 2, axis=1) / (2 * 4.0**2))).reshape(size[::-1]).astype(np.float32)
    out = sitk.GetImageFromArray(heat)
    out.CopyInformation(image)
    return out


def make_ears_case(root: Path, case: str = "ear01", subject: str = "S01") -> tuple[Path, Path]:
    """Ingest and prediction folders of an ears case: left found, right missed (reference has both).

    Flags expected: one_ear, low_margin (right: 0.45 vs 0.5), shape_rejected, reference_disagrees.
    """
    ingest = root / "ingest" / "ears" / case
    pred = root / "pred" / "ears" / case
    ingest.mkdir(parents=True)
    pred.mkdir(parents=True)
    image = head_ct()
    sitk.WriteImage(image, str(ingest / "image.nii.gz"))
    write_json(ingest / "check.json", _check(case, subject, "ears"))
    write_json(ingest / "landmarks.json", {"coordinate_system": "LPS", "points": {
        "left": {"present": True, "position": (LEFT_EAR + [1.0, 0.5, 0.0]).tolist()},
        "right": {"present": True, "position": RIGHT_EAR.tolist()}}})
    sitk.WriteImage(_heatmap(image, LEFT_EAR, 0.82), str(pred / "heatmap_left.nii.gz"))
    sitk.WriteImage(_heatmap(image, RIGHT_EAR + [0, 4, 0], 0.45), str(pred / "heatmap_right.nii.gz"))
    left_entry = {"present": True, "score": 0.82, "position_lps": LEFT_EAR.tolist(), "position_ras": (LEFT_EAR * [-1, -1, 1]).tolist(),
                  "voxel_index": [64, 39, 20], "continuous_index": [64.0, 39.0, 19.5], "lateral_depth_mm": 4.0}
    doc = {
        "coordinate_system": "LPS", "input": "/data/image.nii.gz", "n_ears": 1,
        "ears": {"left": left_entry, "right": {"present": False, "score": 0.45, "position_lps": None, "position_ras": None,
                                                 "voxel_index": None, "continuous_index": None}},
        "points": {"left": {"present": True, "position": LEFT_EAR.tolist()}, "right": {"present": False, "position": None}},
        "rejected": [{"side": "right", "score": 0.61, "position_lps": (RIGHT_EAR + [0, 4, 0]).tolist(), "reason": "no valid partner (distance 52 mm outside 55–70 mm)"}],
        "decision": {"threshold": 0.5, "shape_constraint": True},
        "seconds": {"preprocess": 0.1},
        "model": {"path": "/models/ears", "variant": "full", "model_sha256": "0" * 64},
    }
    write_json(pred / "ears.json", doc)
    return ingest, pred


def ring(shape: tuple[int, int], centre: tuple[float, float], r_in: float, r_out: float) -> np.ndarray:
    """A filled annulus (myocardium) mask."""
    rr, cc = np.mgrid[: shape[0], : shape[1]]
    d = np.hypot(rr - centre[0], cc - centre[1])
    return (d >= r_in) & (d <= r_out)


def make_lv_case(root: Path, case: str = "lv01", subject: str = "S02", phases: int = 12, slices: int = 2) -> tuple[Path, Path]:
    """Ingest and prediction folders of an LV case (4D x, y, slice, phase).

    The prediction is a ring in every frame except: slice 0 phase 4 has a gap (not a ring),
    slice 1 phase 7 is twice as thick (area jump); the reference (phases 0 and 6) has a
    different radius in slice 1 phase 6 (Dice drop).
    """
    ingest = root / "ingest" / "lv" / case
    pred = root / "pred" / "lv" / case
    ingest.mkdir(parents=True)
    pred.mkdir(parents=True)
    rows, cols = 64, 56
    rng = np.random.default_rng(0)
    image = np.zeros((slices, phases, rows, cols), np.float32)
    labels = np.zeros((slices, phases, rows, cols), np.uint8)
    reference = np.full((slices, phases, rows, cols), 255, np.uint8)
    for z in range(slices):
        for t in range(phases):
            scale = 1.0 - 0.25 * np.sin(np.pi * t / phases)
            r_in, r_out = 9 * scale - z, 14 * scale - z * 0.5
            myo = ring((rows, cols), (32, 28), r_in, r_out)
            cavity = ring((rows, cols), (32, 28), 0, r_in - 0.01)
            image[z, t] = 100 + 300 * cavity + 150 * myo + rng.normal(0, 15, (rows, cols))
            lab = np.where(myo, 1, np.where(cavity, 2, 0)).astype(np.uint8)
            if (z, t) == (1, 7):
                lab[ring((rows, cols), (32, 28), r_in - 4, r_out + 4)] = 1
            if (z, t) == (0, 4):
                lab[30:35, 28:] = np.where(lab[30:35, 28:] == 1, 0, lab[30:35, 28:])
            labels[z, t] = lab
            if t in (0, 6):
                ref = ring((rows, cols), (32, 28), r_in + (5 if (z, t) == (1, 6) else 0), r_out + (5 if (z, t) == (1, 6) else 0))
                reference[z, t] = np.where(ref, 1, np.where(cavity, 2, 0))

    def to_image(array: np.ndarray) -> sitk.Image:
        img = sitk.GetImageFromArray(np.ascontiguousarray(array.transpose(1, 0, 2, 3)), isVector=False)  # (phase, slice, rows, cols)
        img.SetSpacing((1.5, 1.3, 8.0, 1.0))
        return img

    sitk.WriteImage(to_image(image), str(ingest / "image.nii.gz"))
    sitk.WriteImage(to_image(reference), str(ingest / "labels.nii.gz"))
    write_json(ingest / "check.json", _check(case, subject, "lv"))
    write_json(ingest / "label_check.json", {"problems": []})
    sitk.WriteImage(to_image(labels), str(pred / "labels.nii.gz"))
    sitk.WriteImage(to_image((labels == 1).astype(np.uint8)), str(pred / "myocardium.nii.gz"))
    from medseg.lv.segment import areas_table

    (pred / "areas.tsv").write_text(areas_table(labels, (1.3, 1.5), 8.0))
    return ingest, pred


def make_rejected_case(root: Path, case: str = "bad01", subject: str = "S03", task: str = "lv") -> Path:
    """An ingest folder holding only a rejecting ``check.json``."""
    ingest = root / "ingest" / task / case
    ingest.mkdir(parents=True)
    write_json(ingest / "check.json", _check(case, subject, task, "rejected", ["/data/cohort/DOE_JANE/cine: a cine study needs the phases of the cardiac cycle; found 1 phase(s)"]))
    return ingest


def make_study(root: Path) -> dict[str, Path]:
    """study_summary.json, cohort_status.tsv, two evaluation folders, splits and a ratings file."""
    (root / "ears" / "evaluation").mkdir(parents=True)
    (root / "lv" / "evaluation").mkdir(parents=True)
    status = root / "cohort_status.tsv"
    status.write_text(
        "task\tsubject\tcase\tstatus\tcodes\treasons\n"
        "ears\tS01\tear01\taccepted\t\t\n"
        "ears\tS04\tear02\taccepted\t\t\n"
        "lv\tS02\tlv01\taccepted\t\t\n"
        "lv\tS03\tbad01\trejected\tunreadable\t/data/cohort/DOE_JANE/cine: found 1 phase(s)\n"
    )
    provenance = {"medseg_version": "0.1.0", "git_revision": "abc123", "git_dirty": False, "config_sha256": "f" * 64, "seed": 7,
                  "python": "3.11.9", "packages": {"torch": "2.4.0", "numpy": "2.0"}, "platform": "Linux", "cpu_count": 8,
                  "cpu": {"model": "Example CPU", "torch_capability": "AVX2", "isa_limits": {"ONEDNN_MAX_CPU_ISA": "AVX2"}},
                  "cuda_device": None, "created_utc": "2026-01-02T03:04:05+00:00"}
    summary = {"study_name": "demo", "seed": 7,
               "cohort": {"ears": {"subjects": 2, "cases": 2, "accepted": 2, "rejected": []},
                          "lv": {"subjects": 2, "cases": 2, "accepted": 1, "rejected": [{"case": "bad01", "subject": "S03", "reasons": ["/x/y: found 1 phase(s)"]}]}},
               "tasks": {}, "provenance": provenance}
    write_json(root / "study_summary.json", summary)
    conf = {"rows": "reference ears", "columns": "predicted ears", "matrix": [[0, 0, 0], [0, 0, 0], [0, 1, 1]]}
    ears = {"match_radius_mm": 10.0, "variants": {
        "full": {"cases": 2, "subjects": 2, "ears": 4, "presence_accuracy": 0.75, "detection_accuracy": 0.75, "volume_accuracy": 0.5,
                 "false_positive_ears": 0, "false_negative_ears": 1, "mislocalised_ears": 0, "confusion_0_1_2": conf,
                 "error_mm": {"n": 3, "mean": 1.5, "sd": 0.5, "median": 1.2, "max": 2.1}, "error_mean_mm": 1.5},
        "no_shape": {"cases": 2, "subjects": 2, "ears": 4, "presence_accuracy": 1.0, "detection_accuracy": 0.75, "volume_accuracy": 1.0,
                     "false_positive_ears": 0, "false_negative_ears": 0, "mislocalised_ears": 1,
                     "confusion_0_1_2": {**conf, "matrix": [[0, 0, 0], [0, 0, 0], [0, 0, 2]]},
                     "error_mm": {"n": 4, "mean": 4.0, "sd": 5.0, "median": 1.5, "max": 12.0}, "error_mean_mm": 4.0}},
        "provenance": provenance}
    write_json(root / "ears" / "evaluation" / "summary.json", ears)
    (root / "ears" / "evaluation" / "per_case.tsv").write_text(
        "case\tsubject\tvariant\tn_true\tn_pred\tleft_true\tleft_pred\tleft_presence_ok\tleft_detection_ok\tleft_error_mm\tright_true\tright_pred\tright_presence_ok\tright_detection_ok\tright_error_mm\tthreshold\n"
        "ear01\tS01\tfull\t2\t1\tTrue\tTrue\tTrue\tTrue\t1.1180\tTrue\tFalse\tFalse\tFalse\t\t0.4250\n"
        "ear02\tS04\tfull\t2\t2\tTrue\tTrue\tTrue\tTrue\t1.2000\tTrue\tTrue\tTrue\tTrue\t2.1000\t0.5750\n"
        "ear01\tS01\tno_shape\t2\t2\tTrue\tTrue\tTrue\tTrue\t1.1180\tTrue\tTrue\tTrue\tFalse\t12.0000\t0.6000\n"
        "ear02\tS04\tno_shape\t2\t2\tTrue\tTrue\tTrue\tTrue\t1.2000\tTrue\tTrue\tTrue\tTrue\t1.7000\t0.6500\n"
    )
    metrics = ["dice", "hd", "hd95", "apd_endo", "apd_epi", "dice_cavity"]

    def stats(m: float) -> dict[str, float]:
        return {"mean": m, "sd": 0.02, "n": 2}

    lv = {"metrics": metrics, "units": "Dice; distances in mm", "variants": {
        v: {"subjects": {"S02": {**{m: base for m in metrics}, "frames": 4}, "S05": {**{m: base - 0.1 for m in metrics}, "frames": 4}},
            "over_subjects": {m: stats(base) for m in metrics}, "over_frames": {m: stats(base) for m in metrics}}
        for v, base in (("full", 0.86), ("no_lstm", 0.78))}}
    write_json(root / "lv" / "evaluation" / "summary.json", lv)
    splits = root / "splits.json"
    write_json(splits, {"scheme": "loso", "folds": [
        {"name": "fold00", "train_subjects": ["S04", "S05"], "test_subjects": ["S01", "S02"]},
        {"name": "fold01", "train_subjects": ["S01", "S02"], "test_subjects": ["S04", "S05"]}]})
    ratings = root / "ratings.tsv"
    ratings.write_text(
        "case\ttask\tverdict\tcomment\treviewer\ttimestamp\n"
        "ear01\tears\tneeds_correction\tright ear missed\tAB\t2026-01-05T10:00:00Z\n"
        "lv01\tlv\taccept\t\tAB\t2026-01-05T10:01:00Z\n"
        "lv01\tlv\treject\tgap in ring\tCD\t2026-01-05T11:00:00Z\n"
    )
    return {"summary": root / "study_summary.json", "status": status, "ears_eval": root / "ears" / "evaluation",
            "lv_eval": root / "lv" / "evaluation", "splits": splits, "ratings": ratings}


def test_fixtures_follow_the_contract(tmp_path: Path) -> None:
    ingest, pred = make_lv_case(tmp_path)
    image = sitk.ReadImage(str(ingest / "image.nii.gz"))
    assert image.GetDimension() == 4 and image.GetSize()[2:] == (2, 12)
    assert json.loads((ingest / "check.json").read_text())["status"] == "accepted"
    assert (pred / "areas.tsv").read_text().startswith("slice\tphase\tarea_mm2\tvolume_ml")
