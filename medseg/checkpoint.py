"""Resumable training: periodic atomic checkpoints, verified on load, and a clean stop on SIGTERM.

A training loop asks :class:`ResumableRun` whether to save after each step; the run saves
every ``every_steps`` steps and as soon as SIGTERM or SIGINT arrives, then stops with
:class:`TrainingInterrupted`. The same command run again restores the last checkpoint
and continues from it, so the final model equals that of an uninterrupted run with the
same seed. A checkpoint is used only if its checksum and its fingerprint (config, data,
code version) match; anything else is reported and training starts over.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import signal
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medseg.device import resolve_device
from medseg.errors import MedsegError
from medseg.io.atomic import atomic_path, write_json
from medseg.provenance import file_sha256

__all__ = [
    "ResumableRun",
    "TrainingInterrupted",
    "fingerprint",
    "generator_state",
    "set_generator_state",
    "resume_folder",
    "training_state",
    "restore_training_state",
]

log = logging.getLogger(__name__)

STATE_FILE = "checkpoint.pt"
INFO_FILE = "checkpoint.json"
FORMAT = 1


class TrainingInterrupted(MedsegError):
    """Training stopped on a signal after saving its checkpoint; the exit code is the
    shell's for that signal (130 for SIGINT / Ctrl-C, 143 for SIGTERM)."""

    def __init__(self, message: str, signal_name: str = "SIGTERM") -> None:
        super().__init__(message)
        self.exit_code = 128 + int(signal.Signals[signal_name])


def resume_folder(out_dir: str | Path) -> Path:
    """Where the checkpoints of the run that writes ``out_dir`` live (a sibling folder).

    It sits beside the model folder, not in it, so a workflow manager that deletes the
    outputs of a failed job leaves it alone.
    """
    out_dir = Path(out_dir)
    return out_dir.parent / f"{out_dir.name}.resume"


def fingerprint(*parts: Any) -> str:
    """A sha256 over JSON-serialisable parts (config, table contents, code version)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def fingerprint_settings(settings: Mapping[str, Any], device: str, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The settings that identify a training run: all but ``checkpoint_every`` and ``skip``,
    with the device name replaced by the type it resolves to ("auto" may mean another device
    next time). The thread count stays: it changes the weights' last bits."""
    chosen = {key: value for key, value in settings.items() if key not in ("device", "checkpoint_every", *skip)}
    chosen["device_type"] = resolve_device(device).type
    return chosen


def generator_state(rng: np.random.Generator) -> str:
    """A numpy generator's state as JSON text (safe to keep in a weights-only checkpoint)."""
    return json.dumps(rng.bit_generator.state)


def set_generator_state(rng: np.random.Generator, state: str) -> None:
    """Restore what :func:`generator_state` returned."""
    rng.bit_generator.state = json.loads(state)


def training_state(
    model: torch.nn.Module, optimiser: torch.optim.Optimizer, scheduler: Any, **extra: Any
) -> dict[str, Any]:
    """What every training loop must save to resume exactly: weights, optimiser, schedule,
    torch's random state, plus the loop's own ``extra`` entries (tensors, numbers, text)."""
    return {
        "model": model.state_dict(),
        "optimiser": optimiser.state_dict(),
        "scheduler": scheduler.state_dict(),
        "torch_rng": torch.get_rng_state(),
        **extra,
    }


def restore_training_state(
    saved: Mapping[str, Any], model: torch.nn.Module, optimiser: torch.optim.Optimizer, scheduler: Any
) -> None:
    """Put back what :func:`training_state` saved (the loop restores its ``extra`` entries)."""
    model.load_state_dict(saved["model"])
    optimiser.load_state_dict(saved["optimiser"])
    scheduler.load_state_dict(saved["scheduler"])
    torch.set_rng_state(saved["torch_rng"])


class ResumableRun:
    """Checkpoints of one training run.

    Args:
        folder: the checkpoint folder (see :func:`resume_folder`).
        run_fingerprint: identifies the run; a checkpoint of another run is never resumed.
        every_steps: save after every this many steps (0: only on a signal).
    """

    def __init__(self, folder: str | Path, run_fingerprint: str, every_steps: int) -> None:
        self.folder = Path(folder)
        self.fingerprint = run_fingerprint
        self.every_steps = max(0, int(every_steps))
        self.stop_requested: str | None = None

    def restore(self) -> dict[str, Any] | None:
        """The saved state, or ``None`` when there is no usable checkpoint (reason logged)."""
        info_path, state_path = self.folder / INFO_FILE, self.folder / STATE_FILE
        if not info_path.exists():
            return None
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
            problem = None
            if info.get("format") != FORMAT:
                problem = f"format {info.get('format')!r} is not {FORMAT}"
            elif info.get("fingerprint") != self.fingerprint:
                problem = "it belongs to another config, data or code version"
            elif not state_path.exists():
                problem = f"{STATE_FILE} is missing"
            elif file_sha256(state_path) != info.get("sha256"):
                problem = f"{STATE_FILE} does not match its checksum"
            if problem is None:
                state = torch.load(state_path, map_location="cpu", weights_only=True)
                if int(state.get("step", -1)) != int(info.get("step", -2)):
                    problem = "its step does not match its record"
        except (OSError, ValueError, RuntimeError, KeyError, TypeError) as error:
            problem = f"it cannot be read ({error})"
        if problem is not None:
            log.warning("not resuming from %s: %s; training starts over", self.folder, problem)
            return None
        log.info("resuming from %s at step %d", self.folder, state["step"])
        return state

    def due(self, step: int) -> bool:
        """Whether to save after ``step`` (0-based) steps have completed ``step + 1`` steps."""
        if self.stop_requested:
            return True
        return self.every_steps > 0 and (step + 1) % self.every_steps == 0

    def save(self, step: int, state: Mapping[str, Any]) -> None:
        """Write the state of the run after ``step + 1`` completed steps, atomically.

        Raises:
            TrainingInterrupted: a stop was requested; the checkpoint is saved first.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        payload = {**state, "step": int(step)}
        with atomic_path(self.folder / STATE_FILE) as tmp:
            torch.save(payload, tmp)
            digest = file_sha256(tmp)
        write_json(self.folder / INFO_FILE, {"format": FORMAT, "fingerprint": self.fingerprint, "step": int(step), "sha256": digest})
        if self.stop_requested:
            raise TrainingInterrupted(
                f"training stopped by {self.stop_requested} after step {step + 1}; the checkpoint is in "
                f"{self.folder}: run the same command again to resume",
                self.stop_requested,
            )

    def child(self, name: str) -> ResumableRun:
        """Checkpoints of a run nested in this one (an inner model), kept in a sub-folder
        until :meth:`finish` removes this run's folder."""
        return ResumableRun(self.folder / name, fingerprint(self.fingerprint, name), self.every_steps)

    def finish(self) -> None:
        """Remove the checkpoints once the model is written."""
        shutil.rmtree(self.folder, ignore_errors=True)

    @contextmanager
    def signals(self) -> Iterator[None]:
        """Within the block, SIGTERM and SIGINT ask for a save-and-stop at the next step."""
        handlers: dict[int, Callable | int | None] = {}

        def request(signum: int, _frame: Any) -> None:
            self.stop_requested = signal.Signals(signum).name

        try:
            for sig in (signal.SIGTERM, signal.SIGINT):
                handlers[sig] = signal.signal(sig, request)
        except ValueError:  # not the main thread: signals stay as they are
            pass
        try:
            yield
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
