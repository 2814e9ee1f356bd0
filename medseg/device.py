"""Where the networks run: device choice and mixed precision.

Both methods read two settings: ``device`` (``auto``: the first CUDA GPU when torch sees
one, else the CPU; or ``cpu``, ``cuda``, ``cuda:N``) and ``mixed_precision`` (autocast on
CUDA: bfloat16, or float16 with loss scaling on GPUs without bfloat16; no effect on CPU).
"""

from __future__ import annotations

import contextlib
import os
import re
from typing import ContextManager

import torch

from medseg.errors import ConfigError

__all__ = [
    "DEVICE_PATTERN",
    "device_name_problem",
    "resolve_device",
    "autocast_dtype",
    "autocast",
    "grad_scaler",
    "module_device",
    "describe_device",
    "available_cpus",
    "oversubscription_env",
]

#: Accepted ``device`` values (also the config schema's pattern).
DEVICE_PATTERN = r"^(auto|cpu|cuda(:[0-9]+)?)$"


def device_name_problem(name: object, shown: object = None) -> str | None:
    """Why ``name`` is not a ``device`` setting (quoting ``shown`` if given), or None."""
    if re.match(DEVICE_PATTERN, str(name)):
        return None
    return f"device must be auto, cpu, cuda or cuda:N, got {name if shown is None else shown!r}"


def resolve_device(requested: str) -> torch.device:
    """The torch device a ``device`` setting names.

    Raises:
        ConfigError: an unknown name, or a CUDA device torch cannot see.
    """
    name = str(requested).strip().lower()
    if problem := device_name_problem(name, shown=requested):
        raise ConfigError(problem)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError(f"device {requested!r} asked for, but torch {torch.__version__} sees no CUDA GPU (use device: auto or cpu)")
    device = torch.device(name)
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise ConfigError(f"device {requested!r} asked for, but torch sees {count} CUDA GPU(s)")
    return device


def autocast_dtype(device: torch.device, mixed_precision: bool) -> torch.dtype | None:
    """The autocast type for ``device``: None (full precision), bfloat16 or float16."""
    if not mixed_precision or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(device: torch.device, mixed_precision: bool) -> ContextManager[object]:
    """Autocast for the forward pass (a no-op in full precision or on CPU)."""
    dtype = autocast_dtype(device, mixed_precision)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(device: torch.device, mixed_precision: bool) -> torch.amp.GradScaler:
    """Loss scaling, enabled only for float16 autocast (bfloat16 needs none)."""
    enabled = autocast_dtype(device, mixed_precision) == torch.float16
    return torch.amp.GradScaler(device.type, enabled=enabled)


def module_device(module: torch.nn.Module) -> torch.device:
    """The device of a module's first parameter (CPU for a module without any)."""
    for parameter in module.parameters():
        return parameter.device
    return torch.device("cpu")


def describe_device(device: torch.device, mixed_precision: bool = False) -> str:
    """Human-readable device, for logs and manifests: ``cpu``, ``cuda:0 (NVIDIA H100, bfloat16)``."""
    if device.type != "cuda":
        return "cpu"
    index = device.index if device.index is not None else torch.cuda.current_device()
    dtype = autocast_dtype(device, mixed_precision)
    precision = "float32" if dtype is None else str(dtype).removeprefix("torch.")
    return f"cuda:{index} ({torch.cuda.get_device_name(index)}, {precision})"


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def oversubscription_env(requested_cores: int | None, cpus: int | None = None) -> dict[str, str]:
    """Environment for jobs when more cores are asked for than the machine has.

    Several multi-threaded torch jobs on fewer CPUs make OpenMP threads spin while they
    wait for each other; passive waiting lets them take turns. Measured with four 2-thread
    LV trainings on 2 CPUs: each took about 100 s spinning, 21 s waiting passively
    (6 s alone).

    Args:
        requested_cores: the workflow's ``--cores`` (None: not known, nothing to do).
        cpus: CPUs available (default: :func:`available_cpus`).

    Returns:
        ``{"OMP_WAIT_POLICY": "PASSIVE"}`` when oversubscribed, else ``{}``.
    """
    if requested_cores is None or requested_cores <= (cpus or available_cpus()):
        return {}
    return {"OMP_WAIT_POLICY": "PASSIVE"}
