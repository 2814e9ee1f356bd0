"""Entry point of the ``medseg`` command.

Each sub-command lives in its own module under ``medseg.cli`` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a callable taking the
parsed arguments and returning an exit code. Errors derived from
:class:`medseg.errors.MedsegError` are printed as one plain line; a traceback is shown
only with ``--debug``.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib
import logging
import os
import sys
import threading
from collections.abc import Sequence
from typing import NoReturn

from medseg import __version__
from medseg.errors import MedsegError

#: Modules that contribute sub-commands, in the order ``--help`` lists them.
COMMAND_MODULES = (
    "medseg.cli.convert",
    "medseg.cli.check",
    "medseg.cli.ingest",
    "medseg.cli.phantoms",
    "medseg.cli.splits",
    "medseg.cli.table",
    "medseg.cli.cohort",
    "medseg.cli.ears",
    "medseg.cli.lv",
    "medseg.cli.report",
    "medseg.cli.qa",
)

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 3


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keeps the examples in epilogs as written and shows defaults.

    A default is added to an option's help only when it has a value and the help does not
    already say what the default is.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default is None or action.default is False or "(default" in text:
            return action.help
        return super()._get_help_string(action)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``medseg`` parser.

    Args:
        command: a sub-command's name: only its module is imported and registered, so a
            command starts without loading the others' dependencies. ``None``, or a name
            no module has, registers every command.
    """
    modules = COMMAND_MODULES
    if command is not None and f"medseg.cli.{command}" in COMMAND_MODULES:
        modules = (f"medseg.cli.{command}",)
    parser = argparse.ArgumentParser(
        prog="medseg",
        formatter_class=HelpFormatter,
        description="Inner-ear localisation in head CT and LV myocardium segmentation in cine MR.",
        epilog="example:\n  medseg convert dicom_folder/ ct.nii.gz\n  medseg check ct.nii.gz --modality ct",
    )
    parser.add_argument("--version", action="version", version=f"medseg {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in modules:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name == module_name:
                continue
            raise
        module.register(subparsers, HelpFormatter)
    return parser


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (threads, workers)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _command_name(argv: Sequence[str]) -> str | None:
    """The sub-command named on a command line (the first word that is not an option)."""
    return next((word for word in argv if not word.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv[1:]  # every error says "rerun with --debug": take it after the command too
    if debug:
        argv = [argv[0]] + [word for word in argv[1:] if word != "--debug"]
    parser = build_parser(_command_name(argv))
    args = parser.parse_args(argv)
    args.debug = getattr(args, "debug", False) or debug
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USER_ERROR
    try:
        return int(args.func(args) or 0)
    except MedsegError as error:
        if args.debug:
            raise
        print(f"medseg {args.command}: error: {error}", file=sys.stderr)
        return int(getattr(error, "exit_code", EXIT_USER_ERROR))
    except KeyboardInterrupt:
        print(f"medseg {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as error:  # a path the user named: missing, unreadable, not writable
        if args.debug:
            raise
        where = f": {error.filename}" if error.filename else ""
        print(f"medseg {args.command}: error: {error.strerror or error}{where}", file=sys.stderr)
        return EXIT_USER_ERROR
    except Exception as error:  # noqa: BLE001 - last line of defence for the user
        if args.debug:
            raise
        print(
            f"medseg {args.command}: internal error: {type(error).__name__}: {error} "
            "(rerun with --debug for the traceback, and please report it)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL_ERROR


def run() -> NoReturn:
    """The ``medseg`` console command: :func:`main`, then a quick exit.

    Tearing down an interpreter that has imported torch takes about 0.6 s (it frees every
    module's objects one by one), more than some commands spend after writing their last
    file. So once :func:`main` has returned, the exit handlers run and the output streams
    are flushed, and the process ends without that teardown. Every file the commands write
    is closed by then. While another thread is still alive the normal exit is kept.
    """
    code = main()
    if threading.active_count() > 1:
        raise SystemExit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
