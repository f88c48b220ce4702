"""``wdno burgers``: the Burgers experiments (spec Sec. 8.1).

Verbs: ``generate`` (seeded data sets) and ``export`` (HDF5 to CF NetCDF). Each verb is one
``_add_<verb>(verbs)`` builder listed in ``VERBS``, so a new verb is one function and one entry.
"""

from __future__ import annotations

import argparse
import pathlib
import time

__all__ = ["add_parser"]


def _generate(args) -> int:
    from systems.burgers import generate, presets

    preset = presets.PRESETS[args.preset]
    num = args.num if args.num is not None else preset.num_samples(args.split)
    batch_size = args.batch_size if args.batch_size is not None else preset.batch_size
    path = generate.output_path(args.out, args.split, args.resolution)
    if path.exists() and not args.overwrite:
        print(f"error: {path} exists; pass --overwrite to replace it")
        return 1
    start = time.perf_counter()
    generate.generate(
        path,
        args.split,
        num,
        seed=args.seed,
        batch_size=batch_size,
        factor=args.resolution,
        solver_config=preset.solver,
        overwrite=args.overwrite,
    )
    seconds = time.perf_counter() - start
    print(f"wrote {num} {args.split} trajectories to {path} in {seconds:.1f} s")
    return 0


def _export(args) -> int:
    from wdno import data

    if args.target.exists() and not args.overwrite:
        print(f"error: {args.target} exists; pass --overwrite to replace it")
        return 1
    data.export_netcdf(args.source, args.target, overwrite=args.overwrite, progress=True)
    print(f"wrote {args.target} (open with xarray.open_dataset)")
    return 0


def _add_generate(verbs) -> None:
    from systems.burgers.presets import PRESETS

    parser = verbs.add_parser(
        "generate",
        help="generate a seeded train or test set",
        description="Generate Burgers trajectories into <out>/<split>.h5 (<split>_r<k>.h5 at "
        "resolution k > 1). Same seed, same data; train and test use disjoint key streams.",
    )
    parser.add_argument("--split", choices=("train", "test"), required=True)
    parser.add_argument("--num", type=int, default=None, help="trajectories (default: preset)")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("data/burgers"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=None, help="default: preset")
    parser.add_argument(
        "--resolution",
        type=int,
        choices=(1, 2, 4, 8),
        default=1,
        help="stored grid factor k: u (80k+1) x 120k, f 80k x 120k",
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    parser.add_argument("--overwrite", action="store_true")
    parser.set_defaults(func=_generate)


def _add_export(verbs) -> None:
    parser = verbs.add_parser(
        "export",
        help="export a data file to CF-style NetCDF",
        description="Copy an HDF5 data file to NetCDF4 with dimensions (sample, t, x), units "
        "and coordinates; opens with xarray.open_dataset.",
    )
    parser.add_argument("source", type=pathlib.Path, metavar="IN.h5")
    parser.add_argument("target", type=pathlib.Path, metavar="OUT.nc")
    parser.add_argument("--overwrite", action="store_true")
    parser.set_defaults(func=_export)


VERBS = (_add_generate, _add_export)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``wdno burgers`` and its verbs to the top-level sub-parsers."""
    parser = subparsers.add_parser(
        "burgers",
        help="1-D viscous Burgers with a control force",
        description="1-D viscous Burgers with a control force (WDNO paper, Sec. 4.1).",
    )
    parser.set_defaults(parser=parser, func=None)
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", title="verbs")
    for add_verb in VERBS:
        add_verb(verbs)
    return parser
