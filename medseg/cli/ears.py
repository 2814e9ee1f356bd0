"""``medseg ears``: train, detect, baseline and evaluate the inner-ear localiser."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from medseg.cli.main import positive_int
from medseg.errors import ConfigError, ModelError

DEFAULT_MODEL = Path("results/models/ears/final/full")
DEVICE_HELP = "auto (a CUDA GPU when torch sees one, else the CPU), cpu, cuda or cuda:N (default: auto)"


def _add_ct_offset(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ct-offset",
        choices=["reject", "correct"],
        default="reject",
        help="a CT stored with a +1024 CT-number offset: refuse it (default) or subtract the offset",
    )


def register(subparsers: argparse._SubParsersAction, formatter_class: type) -> None:
    parser = subparsers.add_parser(
        "ears",
        help="inner-ear detection and localisation in head CT",
        formatter_class=formatter_class,
        description="Train, run and evaluate the inner-ear localiser (volume-to-volume regression network "
        "with false-positive suppression and a shape constraint).",
        epilog="example:\n  medseg ears detect ct.nii.gz --out results/ears/ct_001",
    )
    commands = parser.add_subparsers(dest="ears_command", metavar="ACTION")

    train = commands.add_parser(
        "train",
        help="train a model folder from a cases table",
        formatter_class=formatter_class,
        description="Train the network on patches (with false-positive suppression unless --variant no_fps), "
        "learn the shape prior and tune the presence threshold on the training cases only: each training "
        "subject is predicted by an inner model that never saw it (ears.threshold_inner_folds inner models, "
        "one more training each; 0 tunes on the model's own training predictions).",
        epilog="example:\n  medseg ears train --cases results/ears/folds/fold00/train.tsv --config configs/demo.yaml \\\n"
        "      --out results/models/ears/fold00/full --variant full --threads 2",
    )
    train.add_argument("--cases", required=True, type=Path, help="TSV with subject, case, image, annotation")
    train.add_argument("--config", type=Path, help="study config (YAML); its 'ears' section and 'seed' are read")
    train.add_argument("--out", required=True, type=Path, help="model folder to write")
    train.add_argument("--variant", choices=["full", "no_fps"], default="full", help="no_fps = without false-positive suppression")
    train.add_argument("--threads", type=positive_int, help="torch threads (default: ears.threads of the config)")
    train.add_argument("--device", metavar="DEVICE", help="auto, cpu, cuda or cuda:N (default: ears.device of the config)")
    train.set_defaults(func=_train)

    detect = commands.add_parser(
        "detect",
        help="find the inner ears in one CT",
        formatter_class=formatter_class,
        description="Write ears.json (presence, score, LPS/RAS position and voxel index per ear, rejected "
        "candidates), heatmap_left/right.nii.gz on the input grid and ears.mrk.json (3D Slicer).",
        epilog="example:\n  medseg ears detect dicom/series_3/ --model results/models/ears/final/full --out results/ears/ct_001",
    )
    detect.add_argument("input", type=Path, help="CT: DICOM series folder or image file (NIfTI, NRRD, MHA)")
    detect.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="model folder")
    detect.add_argument("--out", required=True, type=Path, help="output folder")
    detect.add_argument("--no-shape-constraint", action="store_true", help="skip the shape constraint (ablation)")
    detect.add_argument("--threads", type=positive_int, help="torch threads (default: the model's)")
    detect.add_argument("--device", default="auto", metavar="DEVICE", help=DEVICE_HELP)
    _add_ct_offset(detect)
    detect.set_defaults(func=_detect)

    baseline = commands.add_parser(
        "baseline",
        help="classical template-matching baseline (train/detect)",
        formatter_class=formatter_class,
        description="A template-matching baseline: mean ear templates from the training cases, normalised "
        "cross-correlation, a tuned presence threshold. Writes the same ears.json as detect.",
        epilog="example:\n  medseg ears baseline train --cases train.tsv --config configs/demo.yaml --out results/models/ears/fold00/baseline\n"
        "  medseg ears baseline detect ct.nii.gz --model results/models/ears/fold00/baseline --out results/ears_baseline/ct_001",
    )
    actions = baseline.add_subparsers(dest="baseline_command", metavar="ACTION")
    btrain = actions.add_parser("train", help="build the templates", formatter_class=formatter_class,
                                epilog="example:\n  medseg ears baseline train --cases train.tsv --out model_dir")
    btrain.add_argument("--cases", required=True, type=Path, help="TSV with subject, case, image, annotation")
    btrain.add_argument("--config", type=Path, help="study config (YAML)")
    btrain.add_argument("--out", required=True, type=Path, help="baseline model folder to write")
    btrain.set_defaults(func=_baseline_train)
    bdetect = actions.add_parser("detect", help="run the baseline on one CT", formatter_class=formatter_class,
                                 epilog="example:\n  medseg ears baseline detect ct.nii.gz --model model_dir --out out_dir")
    bdetect.add_argument("input", type=Path, help="CT: DICOM series folder or image file")
    bdetect.add_argument("--model", required=True, type=Path, help="baseline model folder")
    bdetect.add_argument("--out", required=True, type=Path, help="output folder (ears.json)")
    _add_ct_offset(bdetect)
    bdetect.set_defaults(func=_baseline_detect)
    baseline.set_defaults(func=lambda args: (baseline.print_help(), 2)[1])

    evaluate = commands.add_parser(
        "evaluate",
        help="presence accuracy, 0/1/2-ear confusion and localisation error per variant",
        formatter_class=formatter_class,
        description="Read a TSV with columns case, subject, variant, prediction (ears.json) and reference "
        "(landmark JSON); write summary.json, per_case.tsv and ablation.tsv.",
        epilog="example:\n  medseg ears evaluate --table results/ears/predictions.tsv --out results/ears/evaluation",
    )
    evaluate.add_argument("--table", required=True, type=Path, help="TSV: case, subject, variant, prediction, reference")
    evaluate.add_argument("--out", required=True, type=Path, help="output folder")
    evaluate.add_argument("--config", type=Path, help="study config (YAML); checked, no setting of it is needed here")
    evaluate.add_argument("--match-radius-mm", type=float, default=10.0, help="a found ear farther than this from the reference counts as wrong")
    evaluate.set_defaults(func=_evaluate)

    real = commands.add_parser(
        "real-ct",
        help="check a model on a real CT and on crops of it that hold no ears",
        formatter_class=formatter_class,
        description="Run the model on a real CT (expected: the annotated ears, sided or not) and on crops "
        "along the patient's z axis without skull base (expected: no ears). Writes summary.json and the "
        "detections (full/, crops/NAME/).",
        epilog="example:\n  medseg ears real-ct ../shared/data/head_ct/vtk_headsq_quarter.nrrd "
        "--annotation ../shared/data/head_ct/vtk_headsq_quarter.ears.json --ct-offset correct "
        "--crop neck=0:45 --crop jaw=45:90 --out results/ears/real_ct/headsq",
    )
    real.add_argument("input", type=Path, help="CT: DICOM series folder or image file")
    real.add_argument("--annotation", required=True, type=Path, help="ear positions (landmark JSON, .mrk.json, .fcsv)")
    real.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="model folder")
    real.add_argument("--out", required=True, type=Path, help="output folder")
    real.add_argument("--crop", action="append", default=[], metavar="NAME=LOW:HIGH",
                      help="a region without ears, as an LPS z range in mm (repeatable)")
    _add_ct_offset(real)
    real.add_argument("--match-radius-mm", type=float, default=15.0, help="a found ear this near an annotated one counts")
    real.add_argument("--name", help="label of the CT in the summary")
    real.add_argument("--device", default="auto", metavar="DEVICE", help=DEVICE_HELP)
    real.set_defaults(func=_real_ct)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def _config(path: Path | None):
    from medseg.config import load_config
    from medseg.ears.config import from_config

    return from_config(load_config(path) if path else {})


def _train(args: argparse.Namespace) -> int:
    from medseg.ears.train import train

    config = _config(args.config)
    if args.threads:
        config = config.replace(threads=args.threads)
    if args.device:
        config = config.replace(device=args.device)
    from medseg.device import resolve_device

    resolve_device(config.device)  # a GPU that is not there is named before any case is read
    out = train(args.cases, config, args.out, variant=args.variant, progress=not getattr(args, "quiet", False))
    print(json.dumps({"model": str(out), "variant": args.variant}))
    return 0


def _require_model(path: Path) -> None:
    if path.is_dir():
        return
    if path == DEFAULT_MODEL:
        raise ModelError(
            f"no model at {path} (relative to {Path.cwd()}); train one first by running "
            "`snakemake --cores 8` in the study folder, or pass --model MODEL_DIR"
        )
    raise ModelError(f"{path}: no such model folder")


def _detect(args: argparse.Namespace) -> int:
    from medseg.ears.detect import detect_file

    _require_model(args.model)
    doc = detect_file(
        args.input, args.model, args.out, shape_constraint=not args.no_shape_constraint, threads=args.threads,
        allow_offset=args.ct_offset == "correct", device=args.device,
    )
    print(json.dumps({side: {"present": doc["ears"][side]["present"], "score": doc["ears"][side]["score"],
                             "position_lps": doc["ears"][side]["position_lps"]} for side in ("left", "right")}))
    return 0


def _baseline_train(args: argparse.Namespace) -> int:
    from medseg.ears.baseline import train_baseline

    out = train_baseline(args.cases, _config(args.config), args.out)
    print(json.dumps({"model": str(out)}))
    return 0


def _baseline_detect(args: argparse.Namespace) -> int:
    from medseg.ears.baseline import detect_baseline_file

    doc = detect_baseline_file(args.input, args.model, args.out, allow_offset=args.ct_offset == "correct")
    print(json.dumps({side: doc["ears"][side]["present"] for side in ("left", "right")}))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from medseg.ears.evaluate import evaluate_table

    from medseg.provenance import study_provenance

    summary = evaluate_table(
        args.table, args.out, match_radius_mm=args.match_radius_mm, provenance=study_provenance(args.config)
    )
    print(json.dumps({v: {k: s[k] for k in ("presence_accuracy", "error_mean_mm")} for v, s in summary["variants"].items()}))
    return 0


def _parse_crop(text: str) -> tuple[str, tuple[float, float]]:
    try:
        name, bounds = text.split("=", 1)
        low, high = (float(v) for v in bounds.split(":"))
    except ValueError:
        raise ConfigError(f"--crop {text!r}: expected NAME=LOW:HIGH (LPS z in mm), e.g. jaw=45:90") from None
    if not name or low >= high:
        raise ConfigError(f"--crop {text!r}: needs a name and LOW < HIGH")
    return name, (low, high)


def _real_ct(args: argparse.Namespace) -> int:
    from medseg.ears.real_ct import check_real_ct

    _require_model(args.model)
    parsed = [_parse_crop(text) for text in args.crop]
    crops = dict(parsed)
    if len(crops) < len(parsed):
        names = [name for name, _ in parsed]
        raise ConfigError(f"--crop names must differ; {sorted({n for n in names if names.count(n) > 1})} given twice")
    summary = check_real_ct(
        args.input, args.annotation, args.model, args.out, crops,
        allow_offset=args.ct_offset == "correct", match_radius_mm=args.match_radius_mm, name=args.name,
        device=args.device,
    )
    print(json.dumps({"ok": summary["ok"], "full": {k: summary["full"][k] for k in ("expected_ears", "found_ears", "ok")},
                      "crops": {k: v.get("found_ears", v.get("skipped")) for k, v in summary["crops"].items()}}))
    return 0
