"""``wdno era5``: 2 m temperature forecasting from ERA5 reanalysis (WDNO paper, Sec. 4.5).

No solver: the data are cut from a user's ERA5 archive (``generate --source``: CDS NetCDF files
or a WeatherBench-style Zarr store); the ``tiny`` preset writes a synthetic field in the CDS
layout so that everything runs offline. See docs/era5.md.
"""

from __future__ import annotations

import argparse
import pathlib

from experiments import _options


def _task():
    from systems.era5.task import TASK

    return TASK


def _fraction(text: str) -> float:
    value = _options.number(float, 0, strict=True)(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1], got {text!r}")
    return value


def assimilate(args) -> int:
    from experiments import _era5_assimilation as assimilation

    assimilation.run(
        args.run,
        fraction=args.fraction,
        scales=args.scale or (assimilation.DEFAULT_SCALE,),
        num=args.num,
        noise_std=args.noise,
        seed=args.seed,
        schedule=args.schedule,
    )
    print()
    print((args.run / "assimilation.md").read_text())
    written = [args.run / "assimilation.json", args.run / "assimilation.md"]
    print("wrote " + ", ".join(map(str, [*written, args.run / "figures" / "assimilation.png"])))
    return 0


def _add_assimilate(verbs) -> None:
    parser = verbs.add_parser(
        "assimilate",
        help="guided forecasts with sparse observations of the forecast window",
        description="Forecast the first --num test windows of a trained run with <run>/wdno "
        "(and <run>/ddpm if present) unguided and guided by the misfit to observations: "
        "the truth at a seeded random --fraction of the grid points, every forecast hour. "
        "Writes <run>/assimilation.json, assimilation.md (latitude-weighted RMSE per lead time "
        "at the unobserved points and at the stations) and figures/assimilation.png.",
    )
    parser.add_argument("--run", type=pathlib.Path, required=True, help="a trained ERA5 run")
    parser.add_argument(
        "--fraction",
        type=_fraction,
        default=0.01,
        help="share of grid points observed (default 0.01; at least one point)",
    )
    parser.add_argument(
        "--scale",
        type=_options.number(float, 0, strict=True),
        nargs="+",
        default=None,
        help="guidance scale(s); several give a sweep (default: experiments._era5_assimilation."
        "DEFAULT_SCALE)",
    )
    parser.add_argument(
        "--num", type=_options.number(), default=None, help="test windows (default: the preset's)"
    )
    parser.add_argument(
        "--noise",
        type=_options.number(float, 0),
        default=0.0,
        help="observation noise standard deviation in K (default 0)",
    )
    parser.add_argument(
        "--seed", type=_options.number(int, 0), default=0, help="stations and noise (default 0)"
    )
    parser.add_argument(
        "--schedule",
        choices=("constant", "cosine_beta"),
        default="constant",
        help="guidance weight schedule (default constant)",
    )
    parser.set_defaults(func=assimilate)


def add_parser(subparsers):
    return _options.add_system(
        subparsers,
        "era5",
        _task,
        help="ERA5 2 m temperature: forecast 20 hours from the past 12 (real data)",
        description="ERA5 2 m temperature (WDNO paper, Sec. 4.5): windows of 32 hours, the "
        "first 12 given, the next 20 generated. `generate` (or `prepare`) `--source` reads a "
        "CDS NetCDF file (or several) or a WeatherBench-style Zarr store; the tiny preset makes "
        "a synthetic one. `simulate` is also called `forecast`.",
        generate_options={
            "source": dict(
                type=pathlib.Path,
                nargs="+",
                default=None,
                help="ERA5 NetCDF file(s) or a Zarr store (default: the preset's; tiny: synthetic)",
            ),
        },
        extra_verbs=_add_assimilate,
        verb_aliases={"generate": ("prepare",), "simulate": ("forecast",)},
    )
