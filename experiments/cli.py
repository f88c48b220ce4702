"""The ``wdno`` console command: one sub-command per physical system.

Each system has a thin module ``experiments/<system>.py`` that defines
``add_parser(subparsers)`` on the shared builders of ``experiments/_options.py``:
it adds ``wdno <system>`` with the standard verbs (``generate``, ``train``,
``simulate``, ...). A system appears here as soon as its module exists (every
public module of this package but ``cli``), so ``wdno --help`` always lists
exactly what is installed.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

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


def build_parser() -> argparse.ArgumentParser:
    systems = available_systems()
    parser = argparse.ArgumentParser(
        prog="wdno",
        description=(
            "Wavelet Diffusion Neural Operator: generative simulation and control of "
            "physical systems. Systems available: " + (", ".join(systems) or "none yet") + "."
        ),
    )
    parser.add_argument("--version", action="version", version=f"wdno {wdno.__version__}")
    subparsers = parser.add_subparsers(dest="system", metavar="SYSTEM", title="systems")
    for system in systems:
        importlib.import_module(f"experiments.{system}").add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        # `wdno` or `wdno <system>` without a verb: show the relevant help.
        (getattr(args, "parser", None) or parser).print_help()
        return 0 if args.system is None else 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
