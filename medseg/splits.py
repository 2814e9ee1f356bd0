"""Cross-validation folds grouped by subject: leave-one-subject-out (default) or k-fold.

A subject is never in the training and test set of the same fold, and every subject is tested
in exactly one fold. Folds depend only on the set of subjects, the scheme, ``k`` and the seed.
"""

from __future__ import annotations

import json
import logging
import os
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from medseg.errors import ConfigError
from medseg.io.atomic import write_json

logger = logging.getLogger(__name__)

Scheme = Literal["loso", "kfold"]
SCHEMES: tuple[str, ...] = ("loso", "kfold")


@dataclass(frozen=True)
class Fold:
    """One cross-validation fold.

    Attributes:
        name: ``fold00``, ``fold01``, ...
        train_subjects: subjects to train on (sorted).
        test_subjects: subjects to test on (sorted).
    """

    name: str
    train_subjects: tuple[str, ...]
    test_subjects: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"name": self.name, "train_subjects": list(self.train_subjects), "test_subjects": list(self.test_subjects)}


def make_folds(subjects: Iterable[str], scheme: Scheme = "loso", k: int = 5, seed: int = 0) -> list[Fold]:
    """Split subjects into folds.

    Args:
        subjects: subject IDs (duplicates allowed: one per case is fine).
        scheme: ``"loso"`` (one fold per subject) or ``"kfold"`` (``k`` groups of subjects).
        k: number of folds for ``"kfold"``; clamped, with a warning, to the number of subjects.
        seed: seed of the shuffle for ``"kfold"`` (``"loso"`` does not depend on it).

    Returns:
        The folds, in order of name.

    Raises:
        ConfigError: unknown scheme, fewer than 2 subjects, or ``k < 2``.
    """
    unique = sorted(set(subjects))
    if scheme not in SCHEMES:
        raise ConfigError(f"unknown split scheme {scheme!r} (expected one of: {', '.join(SCHEMES)})")
    if len(unique) < 2:
        raise ConfigError(f"at least 2 subjects are needed for cross-validation, found {len(unique)}")
    if scheme == "loso":
        groups = [[subject] for subject in unique]
    else:
        if k < 2:
            raise ConfigError(f"k-fold needs k >= 2, got k={k}")
        if k > len(unique):
            logger.warning("k=%d is more than the %d subjects; using k=%d", k, len(unique), len(unique))
            k = len(unique)
        shuffled = list(unique)
        random.Random(seed).shuffle(shuffled)
        groups = [shuffled[i::k] for i in range(k)]
    everyone = set(unique)
    return [
        Fold(
            name=f"fold{i:02d}",
            train_subjects=tuple(sorted(everyone - set(group))),
            test_subjects=tuple(sorted(group)),
        )
        for i, group in enumerate(groups)
    ]


def assign_fold(subject: str, folds: Sequence[Fold]) -> str:
    """Return the name of the fold that tests ``subject``.

    Raises:
        KeyError: no fold tests ``subject``.
    """
    for fold in folds:
        if subject in fold.test_subjects:
            return fold.name
    raise KeyError(f"subject {subject!r} is not in any fold")


def validate_folds(folds: Sequence[Fold]) -> None:
    """Check that no subject leaks and that every subject is tested exactly once.

    Raises:
        ConfigError: a fold trains and tests on the same subject, a subject is tested twice or
            never, or two folds share a name.
    """
    names = [fold.name for fold in folds]
    if len(set(names)) != len(names):
        raise ConfigError("fold names are not unique")
    everyone = set().union(*(set(f.train_subjects) | set(f.test_subjects) for f in folds)) if folds else set()
    tested: dict[str, str] = {}
    for fold in folds:
        leak = set(fold.train_subjects) & set(fold.test_subjects)
        if leak:
            raise ConfigError(f"{fold.name} trains and tests on subject(s) {', '.join(sorted(leak))}")
        for subject in fold.test_subjects:
            if subject in tested:
                raise ConfigError(f"subject {subject!r} is tested in {tested[subject]} and {fold.name}")
            tested[subject] = fold.name
    untested = everyone - set(tested)
    if untested:
        raise ConfigError(f"subject(s) never tested: {', '.join(sorted(untested))}")


def splits_to_json(
    folds: Sequence[Fold],
    *,
    cases_by_subject: Mapping[str, Sequence[str]] | None = None,
    excluded: Sequence[Mapping[str, Any]] = (),
    **meta: Any,
) -> dict[str, Any]:
    """Return the ``splits.json`` content.

    Args:
        folds: the folds.
        cases_by_subject: when given, each fold also lists ``train_cases`` and ``test_cases``.
        excluded: cases left out, each a dict with at least ``case`` and ``reasons``.
        **meta: extra top-level keys (``task``, ``scheme``, ``k``, ``seed``, ...).
    """
    entries = []
    for fold in folds:
        entry = fold.to_json()
        if cases_by_subject is not None:
            entry["train_cases"] = sorted(c for s in fold.train_subjects for c in cases_by_subject.get(s, ()))
            entry["test_cases"] = sorted(c for s in fold.test_subjects for c in cases_by_subject.get(s, ()))
        entries.append(entry)
    return {**meta, "folds": entries, "excluded": [dict(item) for item in excluded]}


def write_splits(path: str | os.PathLike[str], folds: Sequence[Fold], **kwargs: Any) -> Path:
    """Validate ``folds`` and write them (atomically) as JSON; ``kwargs`` go to :func:`splits_to_json`."""
    validate_folds(folds)
    return write_json(path, splits_to_json(folds, **kwargs))


def read_splits(path: str | os.PathLike[str]) -> list[Fold]:
    """Read the folds of a ``splits.json`` and validate them.

    Raises:
        ConfigError: the file is missing, not JSON, or its folds are malformed or leak.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        folds = [
            Fold(
                name=str(entry["name"]),
                train_subjects=tuple(str(s) for s in entry["train_subjects"]),
                test_subjects=tuple(str(s) for s in entry["test_subjects"]),
            )
            for entry in data["folds"]
        ]
    except FileNotFoundError:
        raise ConfigError(f"splits file not found: {path}") from None
    except (ValueError, KeyError, TypeError) as error:
        raise ConfigError(f"{path} is not a valid splits file ({type(error).__name__}: {error})") from None
    validate_folds(folds)
    return folds
