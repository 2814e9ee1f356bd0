"""Errors that carry a plain message for the user (no traceback unless --debug)."""

from __future__ import annotations


class MedsegError(Exception):
    """Base class of every error whose message is meant for the user as it is."""


class ImageReadError(MedsegError):
    """An image, series or annotation cannot be read or is not what it claims to be."""


class InputRejected(MedsegError):
    """An input was read but fails a check; ``reasons`` lists one plain reason per problem."""

    def __init__(self, message: str, reasons: list[str] | None = None) -> None:
        super().__init__(message)
        self.reasons = list(reasons or [])


class ConfigError(MedsegError):
    """A configuration file is missing a key, has a wrong type or an unknown key."""


class ModelError(MedsegError):
    """A model folder is missing, for another task, or fails its manifest check."""


class OutputFolderError(MedsegError):
    """An output folder holds other files (or the working folder) and is not replaced."""
