"""Benchmark of the LV segmenter on CPU.

Prints the median end-to-end ``segment`` time (read NIfTI -> crop -> network -> map back ->
write outputs) for a synthetic study of 12 slices x 20 phases x 256² (target <= 10 s on 2
threads), in one process and as the whole ``medseg lv segment`` command (with Python's start
and the imports), and the training throughput in frames per second.

    python scripts/benchmark_lv.py [--threads 2] [--repeats 3] [--device cpu] [--lv-config KEY=VALUE ...]

``--device cuda`` gives the GPU figures (``--lv-config mixed_precision=true`` for autocast).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch

from medseg.device import describe_device, resolve_device
from medseg.lv.config import LVConfig
from medseg.lv.dataset import CineSequence
from medseg.lv.model_io import build_model, save_model
from medseg.lv.segment import segment_study
from medseg.lv.train import fit


def synthetic_study(slices: int = 12, phases: int = 20, size: int = 256, spacing: float = 1.4) -> sitk.Image:
    """A 4D image (x, y, slice, phase) with a beating bright disc in a dark ring."""
    rr, cc = np.mgrid[:size, :size].astype(np.float32)
    rng = np.random.default_rng(0)
    frames = np.empty((phases, slices, size, size), np.float32)
    for t in range(phases):
        radius = 20 + 6 * np.cos(2 * np.pi * t / phases)
        dist = np.hypot(rr - size * 0.48, cc - size * 0.52) * spacing
        frame = np.where(dist < radius, 800.0, np.where(dist < radius + 10, 250.0, 120.0))
        frames[t] = frame + rng.normal(0, 20, (slices, size, size))
    image = sitk.GetImageFromArray(frames, isVector=False)
    image.SetSpacing([spacing, spacing, 8.0, 45.0])
    return image


def parse_overrides(items: list[str]) -> dict[str, object]:
    import yaml

    return {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in items)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train-steps", type=int, default=5)
    parser.add_argument("--device", default="cpu", help="cpu (the target's setting), cuda or cuda:N")
    parser.add_argument("--lv-config", nargs="*", default=[], metavar="KEY=VALUE", help="lv settings to override")
    args = parser.parse_args()
    config = LVConfig(**{**parse_overrides(args.lv_config), "threads": args.threads, "device": args.device})
    device = resolve_device(config.device)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sitk.WriteImage(synthetic_study(), str(tmp / "study.nii.gz"))
        model = build_model(config).eval()
        save_model(tmp / "model", model, config)
        times = []
        for repeat in range(args.repeats + 1):
            start = time.perf_counter()
            segment_study(tmp / "study.nii.gz", model, config, tmp / f"out{repeat}")
            if repeat:
                times.append(time.perf_counter() - start)
        print(
            f"segment 12x20x256^2, {config.variant}, depth {config.depth}, crop {config.crop_size} "
            f"@ {config.pixel_spacing_mm} mm, test_flips {config.test_flips}, {args.threads} threads, "
            f"{describe_device(device, config.mixed_precision)}, read to write in one process: "
            f"median {statistics.median(times):.2f} s (target <= 10 s; runs {', '.join(f'{t:.2f}' for t in times)})"
        )
        command = [sys.executable, "-m", "medseg", "-q", "lv", "segment", str(tmp / "study.nii.gz"),
                   "--model", str(tmp / "model"), "--threads", str(args.threads), "--device", args.device]
        times = []
        for repeat in range(args.repeats):
            start = time.perf_counter()
            subprocess.run([*command, "--out", str(tmp / f"command{repeat}")], check=True)
            times.append(time.perf_counter() - start)
        print(
            f"the whole `medseg lv segment` command (interpreter start and imports included): "
            f"median {statistics.median(times):.2f} s (runs {', '.join(f'{t:.2f}' for t in times)})"
        )
        rng = np.random.default_rng(0)
        sequences = [
            CineSequence("b", "b", z, rng.random((20, config.crop_size, config.crop_size), dtype=np.float32),
                         rng.integers(0, 3, (20, config.crop_size, config.crop_size)).astype(np.uint8))
            for z in range(4)
        ]
        summary = fit(build_model(config).to(device), sequences, config.replace(iterations=args.train_steps), progress=False)
        print(
            f"training: {summary['frames_per_second']:.1f} frames/s "
            f"(batch {config.batch_size} x window {config.window}, {args.train_steps} steps in {summary['seconds']:.1f} s)"
        )


if __name__ == "__main__":
    main()
