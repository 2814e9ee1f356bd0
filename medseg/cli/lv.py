"""``medseg lv``: train, apply and evaluate the cine LV myocardium segmenter."""

from __future__ import annotations

import argparse
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from medseg.cli.main import positive_int
from medseg.errors import ModelError

logger = logging.getLogger(__name__)

DEFAULT_MODEL = Path("results/models/lv/final/multi_level")

EPILOG = """examples:
  medseg lv train --cases train.tsv --config configs/demo.yaml --out models/lv/fold0 --variant multi_level
  medseg lv train --cases sunnybrook.tsv --config configs/sunnybrook.yaml --out models/lv/sb --init models/lv/phantom
  medseg lv segment study_dicom_folder/ --model results/models/lv/final/multi_level --out seg/
  medseg lv segment cine.nii.gz --out seg/
  medseg lv evaluate --table predictions.tsv --out results/eval/lv

CASES.tsv columns: subject, case, image (4D cine NIfTI), annotation (4D label NIfTI:
0 background, 1 myocardium, 2 cavity, 255 not annotated).
Evaluation TSV columns: case, subject, variant, prediction, reference (label images).
"""


def register(subparsers: argparse._SubParsersAction, formatter_class: type[argparse.HelpFormatter]) -> None:
    """Add ``lv train``, ``lv segment`` and ``lv evaluate``."""
    parser = subparsers.add_parser(
        "lv",
        help="LV myocardium segmentation in cine MR (train, segment, evaluate)",
        description="Multi-level ConvLSTM segmentation of the LV myocardium in short-axis cine MR.",
        epilog=EPILOG,
        formatter_class=formatter_class,
    )
    actions = parser.add_subparsers(dest="lv_command", metavar="ACTION")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])

    train = actions.add_parser(
        "train", help="train a model on a cases table", epilog=EPILOG, formatter_class=formatter_class,
        description="Train a model on the annotated frames of the cases in CASES.tsv; write a model folder.",
    )
    train.add_argument("--cases", required=True, metavar="CASES.tsv", help="training table")
    train.add_argument("--config", required=True, metavar="CONFIG.yaml", help="study config (its lv section and seed)")
    train.add_argument("--out", required=True, metavar="MODEL_DIR", help="model folder to write")
    train.add_argument("--variant", choices=("multi_level", "one_level", "cnn"), default=None, help="override lv.variant")
    train.add_argument("--init", metavar="MODEL_DIR", default=None, help="initialise from this model folder")
    train.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads (default: lv.threads)")
    train.add_argument("--device", default=None, metavar="DEVICE", help="auto, cpu, cuda or cuda:N (default: lv.device)")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(func=run_train)

    segment = actions.add_parser(
        "segment", help="segment a cine study", epilog=EPILOG, formatter_class=formatter_class,
        description="Segment every frame of a cine study; write myocardium.nii.gz, labels.nii.gz, areas.tsv.",
    )
    segment.add_argument("input", metavar="INPUT", help="cine DICOM folder or 4D NIfTI")
    segment.add_argument("--model", default=str(DEFAULT_MODEL), metavar="MODEL_DIR", help="model folder")
    segment.add_argument("--out", required=True, metavar="OUT_DIR", help="output folder")
    segment.add_argument("--threads", type=positive_int, default=None, help="CPU cores used (default: lv.threads of the model)")
    segment.add_argument(
        "--device", default="auto", metavar="DEVICE",
        help="auto (a CUDA GPU when torch sees one, else the CPU), cpu, cuda or cuda:N (default: auto)",
    )
    segment.add_argument(
        "--test-flips",
        type=int,
        choices=(0, 1, 3),
        default=None,
        help="mirrored views averaged at inference (default: lv.test_flips of the model)",
    )
    segment.set_defaults(func=run_segment)

    evaluate = actions.add_parser(
        "evaluate", help="evaluate predictions against references", epilog=EPILOG, formatter_class=formatter_class,
        description="Per-frame, per-subject and per-variant Dice, HD, HD95 and APD; writes summary.json, "
        "per_subject.tsv, ablation.tsv, per_frame.tsv.",
    )
    evaluate.add_argument("--table", required=True, metavar="TSV", help="evaluation table")
    evaluate.add_argument("--out", required=True, metavar="DIR", help="output folder")
    evaluate.add_argument("--config", type=Path, help="study config, recorded with the results' provenance")
    evaluate.set_defaults(func=run_evaluate)


def run_train(args: argparse.Namespace) -> int:
    from medseg.config import load_config
    from medseg.lv.config import LVConfig
    from medseg.lv.dataset import read_cases_table
    from medseg.lv.train import train

    config = LVConfig.from_config(load_config(args.config))
    changes = {}
    if args.variant:
        changes["variant"] = args.variant
    if args.threads:
        changes["threads"] = args.threads
    if args.device:
        changes["device"] = args.device
    config = config.replace(**changes)
    rows = read_cases_table(args.cases)
    _, summary = train(rows, config, out_dir=args.out, init=args.init, progress=not args.no_progress)
    logger.info(
        "lv model %s (%s) trained on %d case(s) in %s -> %s",
        config.variant, f"depth {config.depth}", len(summary["cases"]), training_time(summary), args.out,
    )
    return 0


def training_time(summary: dict) -> str:
    """Training seconds of a run summary, saying when they add up runs broken by a stop."""
    resumed = summary.get("resumed_at_steps") or []
    text = f"{summary['seconds']:.1f} s"
    if resumed:
        text += f" of training over {len(resumed) + 1} runs (resumed at step {', '.join(map(str, resumed))})"
    return text


def run_segment(args: argparse.Namespace) -> int:
    model_dir = Path(args.model)
    if not model_dir.exists():
        hint = (
            " (the default model is made by the study workflow: run `snakemake --cores 8` first, "
            "or pass --model MODEL_DIR)"
            if Path(args.model) == DEFAULT_MODEL
            else ""
        )
        raise ModelError(f"model folder {model_dir} does not exist{hint}")
    from medseg.lv.study import read_volume

    # the study is read on a second thread while torch is imported and the model loaded
    with ThreadPoolExecutor(1, thread_name_prefix="read-study") as reader:
        study = reader.submit(read_volume, args.input)
        from medseg.device import resolve_device
        from medseg.lv.model_io import load_model
        from medseg.lv.segment import segment_study

        model, config, manifest = load_model(model_dir)
        config = config.replace(device=args.device)
        resolve_device(config.device)  # a GPU that is not there fails before anything is written
        if args.threads:
            config = config.replace(threads=args.threads)
        if args.test_flips is not None:
            config = config.replace(test_flips=args.test_flips)
        volume = study.result()
    info = segment_study(args.input, model, config, args.out, manifest, volume)
    logger.info("segmented %s (%s) -> %s", args.input, "x".join(map(str, info["shape_slices_phases_rows_cols"])), args.out)
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from medseg.lv.evaluate import evaluate_table
    from medseg.provenance import study_provenance

    summary = evaluate_table(args.table, args.out, study_provenance(args.config))
    for variant, content in summary.items():
        stats = content["over_subjects"]
        one_empty = sum(s["frames_one_empty"] for s in content["subjects"].values())
        caveat = f"; {one_empty} frame(s) with one mask empty, left out of the distances" if one_empty else ""
        print(
            f"{variant}: Dice {stats['dice']['mean']:.3f} ± {stats['dice']['sd']:.3f}, "
            f"HD {stats['hd']['mean']:.2f} mm, APD endo {stats['apd_endo']['mean']:.2f} mm, "
            f"APD epi {stats['apd_epi']['mean']:.2f} mm ({len(content['subjects'])} subjects{caveat})"
        )
    logger.debug(json.dumps(summary)[:200])
    return 0
