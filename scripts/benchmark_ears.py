"""Benchmark ``medseg ears detect`` end to end on a synthetic 512x512x300 head CT.

Prints the median wall time (read, resample, network, decode, write) over ``--runs``
runs and the peak resident memory of the process that ran them. Each run is a fresh
process that imports medseg first, so import time is not counted.

The model is the demo's final model when it exists (``results/models/ears/final/full``),
else untrained weights of the default architecture. Use a trained model for the figures
you report: its heatmaps respond weakly over much of the head, and writing them on the
input grid is most of the time; the untrained model's near-empty heatmaps make the write
step look cheaper than it is.

Example:
    .venv/bin/python scripts/benchmark_ears.py --threads 2 --runs 3
    .venv/bin/python scripts/benchmark_ears.py --model results/models/ears/final/full
    .venv/bin/python scripts/benchmark_ears.py --device cuda   # GPU figures (also peak GPU memory)
    .venv/bin/python scripts/benchmark_ears.py --tilt-deg 15   # an oblique CT (gantry tilt kept)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

DEMO_MODEL = Path("results/models/ears/final/full")

_CHILD = r"""
import json, resource, sys, time
from medseg.ears.detect import detect_file
import torch
image, model, out, threads, device = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
if device.startswith("cuda"):
    torch.zeros(1, device=device)  # the CUDA context is set up once per process, not per CT
start = time.perf_counter()
doc = detect_file(image, model, out, threads=threads, device=device)
seconds = time.perf_counter() - start
gpu_mb = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None
print(json.dumps({"seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "peak_gpu_mb": gpu_mb, "parts": doc["seconds"], "n_ears": doc["n_ears"], "device": doc["device"]}))
"""


def make_ct(path: Path, seed: int, tilt_deg: float = 0.0) -> None:
    """Render a phantom head CT and resample it to 512x512x300 at 0.5 x 0.5 x 0.625 mm.

    ``tilt_deg`` turns the grid about the left-right axis and keeps the turn in the
    direction matrix, as a gantry-tilted series converted without reslicing is stored.
    """
    import numpy as np
    import SimpleITK as sitk

    from medseg.io.image import write_image
    from medseg.phantoms.head_ct import generate_head_scan, sample_head_anatomy

    rng = np.random.default_rng(seed)
    anatomy = sample_head_anatomy(rng)
    scan = generate_head_scan(rng, anatomy, {"max_voxels": 3_000_000, "direction_mix": {"identity": 1.0}}, fov_kind="both")
    source = scan.image
    size = [512, 512, 300]
    spacing = [0.5, 0.5, 0.625]
    centre = np.array(source.TransformContinuousIndexToPhysicalPoint([(s - 1) / 2 for s in source.GetSize()]))
    angle = np.deg2rad(tilt_deg)
    direction = np.array([[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]])
    origin = centre - direction @ (np.array(spacing) * (np.array(size) - 1) / 2)
    ct = sitk.Resample(source, size, sitk.Transform(), sitk.sitkLinear, origin.tolist(), spacing,
                       direction.ravel().tolist(), -1000.0, sitk.sitkInt16)
    write_image(ct, path)


def make_model(path: Path) -> None:
    """A model folder with the default architecture and untrained weights.

    The network costs what a trained one does; the write step does not (see the module
    docstring).

    The output bias is set to -1 so that, as with a trained model, the background is 0.
    """
    import torch

    from medseg.ears.config import EarsConfig
    from medseg.ears.model_io import save_model
    from medseg.ears.network import build_network
    from medseg.ears.shape_prior import fit_shape_prior
    from medseg.ears.train import TrainedEars

    config = EarsConfig()
    torch.manual_seed(0)
    network = build_network(config)
    with torch.no_grad():
        last = [m for m in network.modules() if isinstance(m, torch.nn.modules.conv._ConvNd)][-1]
        last.bias.fill_(-1.0)
    prior = fit_shape_prior([], [], config.shape_k_sd, config.shape_sd_floor_mm, config.shape_max_angle_deg)
    save_model(path, TrainedEars(network, config, prior, {"threshold": 0.5}, {"benchmark": True}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help=f"model folder (default: {DEMO_MODEL} if it exists, else untrained weights)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="cpu (the target's setting), cuda or cuda:N")
    parser.add_argument("--tilt-deg", type=float, default=0.0,
                        help="store the CT with a gantry tilt of this many degrees in its direction matrix")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="medseg-bench-") as tmp:
        tmp_path = Path(tmp)
        image = tmp_path / "ct.nii.gz"
        make_ct(image, args.seed, args.tilt_deg)
        model = args.model
        if model is None and DEMO_MODEL.is_dir():
            model = DEMO_MODEL
        if model is None:
            print(f"no {DEMO_MODEL}: untrained weights, so the write time is understated", file=sys.stderr)
            model = tmp_path / "model"
            make_model(model)
        print(f"model: {model}")
        results = []
        for run in range(args.runs):
            proc = subprocess.run(
                [sys.executable, "-c", _CHILD, str(image), str(model), str(tmp_path / f"out{run}"), str(args.threads), args.device],
                capture_output=True, text=True, check=False,
            )
            if proc.returncode != 0:
                print(proc.stderr, file=sys.stderr)
                return 1
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            last = results[-1]
            gpu = f", peak GPU memory {last['peak_gpu_mb']:.0f} MB" if last["peak_gpu_mb"] is not None else ""
            print(f"run {run + 1}: {last['seconds']:.2f} s, peak RSS {last['peak_rss_mb']:.0f} MB{gpu}, parts {last['parts']}")
    median = statistics.median(r["seconds"] for r in results)
    peak = max(r["peak_rss_mb"] for r in results)
    tilt = f", tilted {args.tilt_deg:g} deg" if args.tilt_deg else ""
    print(f"detect 512x512x300 @ 0.5 mm{tilt}, {args.threads} threads, {results[0]['device']}: median {median:.2f} s "
          f"(target <= 5 s on 2 CPU cores), peak RSS {peak / 1024:.2f} GB (target <= 3 GB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
