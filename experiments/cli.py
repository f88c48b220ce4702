"""The ``wdno`` console command: one sub-command per physical system.

Each system has a thin module ``experiments/<system>.py`` that defines
``add_parser(subparsers)`` on the shared builders of ``experiments/_options.py``:
it adds ``wdno <system>`` with the standard verbs (``generate``, ``train``,
``simulate``, ...). A system appears here as soon as its module exists (every
public module of this package but ``cli``), so ``wdno --help`` always lists
exactly what is installed.

Errors: a user error (a missing or corrupt file, a bad value, a run locked by another process,
non-finite results, no space left, a read-only location) prints one line ``wdno: error: ...``
and exits with status 2; a job stopped by SIGINT/SIGTERM after saving its progress prints where
the progress is and exits with 130/143. ``--debug`` (or ``WDNO_DEBUG=1``) shows the traceback
instead; an unexpected internal error always does.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import pathlib
import pkgutil
import signal
import sys
import threading
import traceback

import wdno

# The paper's systems first, in this order; any other system module follows alphabetically.
KNOWN_SYSTEMS = ("burgers", "advection", "compressible_ns", "smoke", "era5")


def available_systems() -> list[str]:
    """Systems whose experiment module is present in this installation."""
    import experiments

    found = {
        module.name
        for module in pkgutil.iter_modules(experiments.__path__)
        if not module.name.startswith("_") and module.name != "cli"
    }
    return [s for s in KNOWN_SYSTEMS if s in found] + sorted(found - set(KNOWN_SYSTEMS))


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (the sub-commands' parsers are of this class too)."""

    def error(self, message):
        self.exit(2, f"wdno: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    systems = available_systems()
    parser = _Parser(
        prog="wdno",
        description=(
            "Wavelet Diffusion Neural Operator: generative simulation and control of "
            "physical systems. Systems available: " + (", ".join(systems) or "none yet") + "."
        ),
    )
    parser.add_argument("--version", action="version", version=f"wdno {wdno.__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the Python traceback of an error (also WDNO_DEBUG=1)",
    )
    subparsers = parser.add_subparsers(dest="system", metavar="SYSTEM", title="systems")
    for system in systems:
        importlib.import_module(f"experiments.{system}").add_parser(subparsers)
    return parser


# Where the project's own code lives: a ValueError raised there is a checked input, one raised
# deeper (numpy, JAX) is a bug and keeps its traceback.
_OWN_CODE = tuple(
    str(pathlib.Path(__file__).resolve().parents[1] / name) + os.sep
    for name in ("wdno", "systems", "experiments")
)
# errno -> what to do about it.
_OS_HINTS = {
    errno.ENOSPC: "free some space or write elsewhere",
    errno.EDQUOT: "free some space or write elsewhere",
    errno.EROFS: "choose a writable location (--run, --out, --data)",
    errno.EACCES: "choose a writable location (--run, --out, --data)",
    errno.EPERM: "choose a writable location (--run, --out, --data)",
}


def user_error(error: BaseException) -> str | None:
    """The one-line message of a user error, or None for an internal error (a bug)."""
    from wdno.io.hdf5 import DataFileError
    from wdno.io.lock import LockedError

    if isinstance(error, OSError) and (error.errno in _OS_HINTS or error.strerror):
        if error.filename and error.strerror:
            text = f"{error.filename}: {error.strerror}"
        else:
            text = str(error)
        if error.errno in _OS_HINTS:
            text += f"; {_OS_HINTS[error.errno]}"
    elif isinstance(error, (OSError, FloatingPointError, LockedError, DataFileError)):
        text = str(error)  # our own FileNotFoundError, FileExistsError, ... with a message
    elif isinstance(error, ValueError):
        frames = traceback.extract_tb(error.__traceback__)
        if not frames or not frames[-1].filename.startswith(_OWN_CODE):
            return None
        text = str(error)
    else:
        return None
    return " ".join(text.split()) or type(error).__name__


class _Terminated(BaseException):
    """SIGTERM outside a job's own handling: unwind (locks and temporary files are removed)."""


def _terminate(number, frame):
    raise _Terminated


def _start_distributed(argv: list[str] | None) -> None:
    """Multi-process JAX must start before anything else touches JAX (docs/scaling.md)."""
    words = sys.argv[1:] if argv is None else argv
    if "--distributed" in words or os.environ.get("WDNO_DISTRIBUTED", "").lower() in (
        "1",
        "true",
        "yes",
    ):
        from wdno.training import parallel

        parallel.initialize_distributed(True)


def main(argv: list[str] | None = None) -> int:
    _start_distributed(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        # `wdno` or `wdno <system>` without a verb: show the relevant help.
        (getattr(args, "parser", None) or parser).print_help()
        return 0 if args.system is None else 2
    debug = args.debug or os.environ.get("WDNO_DEBUG", "") not in ("", "0")
    from wdno.interrupts import Interrupted

    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main_thread else None
    try:
        return int(args.func(args) or 0)
    except Interrupted as error:
        print(f"wdno: {error}", file=sys.stderr)
        return error.exit_status
    except (KeyboardInterrupt, _Terminated) as error:
        if debug:
            raise
        number = signal.SIGINT if isinstance(error, KeyboardInterrupt) else signal.SIGTERM
        print(
            f"wdno: interrupted ({number.name}); what was saved before is kept: rerun the same "
            "command to continue",
            file=sys.stderr,
        )
        return 128 + number
    except Exception as error:
        message = None if debug else user_error(error)
        if message is None:
            raise
        print(f"wdno: error: {message}", file=sys.stderr)
        return 2
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


if __name__ == "__main__":
    sys.exit(main())
