"""``wdno era5``: 2 m temperature forecasting from ERA5 reanalysis (WDNO paper, Sec. 4.5).

No solver: the data are cut from a user's ERA5 archive (``generate --source``: CDS NetCDF files
or a WeatherBench-style Zarr store); the ``tiny`` preset writes a synthetic field in the CDS
layout so that everything runs offline. See docs/era5.md.
"""

from __future__ import annotations

import pathlib

from experiments import _options


def _task():
    from systems.era5.task import TASK

    return TASK


def add_parser(subparsers):
    return _options.add_system(
        subparsers,
        "era5",
        _task,
        help="ERA5 2 m temperature: forecast 20 hours from the past 12 (real data)",
        description="ERA5 2 m temperature (WDNO paper, Sec. 4.5): windows of 32 hours, the "
        "first 12 given, the next 20 generated. `generate --source` reads a CDS NetCDF file (or "
        "several) or a WeatherBench-style Zarr store; the tiny preset makes a synthetic one.",
        generate_options={
            "source": dict(
                type=pathlib.Path,
                nargs="+",
                default=None,
                help="ERA5 NetCDF file(s) or a Zarr store (default: the preset's; tiny: synthetic)",
            ),
        },
    )
