"""ERA5 presets: what to read from an archive (data) and how to train on it (runs).

Data presets name a variable, a region, split periods and windows. ``tiny`` reads a synthetic
ERA5-like file that :mod:`systems.era5.synthetic` writes into the data directory (tests, offline
demos); ``europe`` reads real hourly ERA5 2 m temperature at 0.25 degrees over central Europe
(64 x 128 points), which the user downloads first (docs/era5.md) and passes as ``source``. The
paper does not state its region, resolution, years or split (spec §8.5): ``europe`` is our choice.

Run presets: ``tiny`` (seconds, tests) and ``europe`` (a GPU; a 3-D U-Net over (t, lat, lon)
coefficients, untested at scale).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from systems.era5.loader import Selection, WindowConfig
from wdno.nets.fno import FNOConfig
from wdno.nets.unet import UNetConfig
from wdno.preset import RunPreset
from wdno.transforms.encoding import EncodingConfig

__all__ = ["DATA_PRESETS", "ENCODING", "RUN_PRESETS", "DataPreset"]

# As the paper's other 2-D system (smoke): bior1.3 with zero boundaries, here over (t, lat, lon);
# a regional box is not periodic, so periodization would couple its opposite edges.
ENCODING = EncodingConfig(wavelet="bior1.3", mode="zero", level=1)


@dataclasses.dataclass(frozen=True)
class DataPreset:
    """What a data set holds.

    Attributes:
        name: preset name.
        selection: variable, level and region (its period is set per split).
        periods: split -> ``(first, last)`` times, inclusive, contiguous, not overlapping.
        window: past / future hours and stride between windows.
        grid: the ``(latitude, longitude)`` shape the run presets' networks expect.
        source: default archive (None: pass ``source=``), relative paths under the data dir.
        synthetic: write a synthetic ERA5-like source when it is missing (tests, offline demos).
    """

    name: str
    selection: Selection
    periods: Mapping[str, tuple[str, str]]
    window: WindowConfig = WindowConfig()
    grid: tuple[int, int] | None = None
    source: str | None = None
    synthetic: bool = False

    def num_samples(self, split: str) -> int:
        """Windows in a split, if its period is gap-free and hourly."""
        first, last = self.periods[split]
        hours = int((np.datetime64(last, "h") - np.datetime64(first, "h")).astype(int))
        hours += _hours_in_last(last)
        return max(0, (hours - self.window.length) // self.window.stride + 1)


def _hours_in_last(text: str) -> int:
    """Hours covered by the last value of a period: a day string covers 24, an hour 1."""
    value = np.datetime64(text)
    unit = np.datetime_data(value.dtype)[0]
    if unit == "h" or unit in ("m", "s", "ms", "us", "ns"):
        return 1
    following = (value + 1).astype("datetime64[h]")
    return int((following - value.astype("datetime64[h]")).astype(int))


DATA_PRESETS = {
    "tiny": DataPreset(
        "tiny",
        selection=Selection("2m_temperature", latitude=(30, 65), longitude=(-40, 30)),
        periods={
            "train": ("2020-01-01", "2020-01-06"),
            "val": ("2020-01-07", "2020-01-08"),
            "test": ("2020-01-09", "2020-01-10"),
        },
        window=WindowConfig(past=12, future=20, stride=4),
        grid=(8, 8),
        source="synthetic_era5.nc",
        synthetic=True,
    ),
    "europe": DataPreset(
        "europe",
        selection=Selection("2m_temperature", latitude=(40.25, 56.0), longitude=(-10.0, 21.75)),
        periods={
            "train": ("2015-01-01", "2018-12-31"),
            "val": ("2019-01-01", "2019-12-31"),
            "test": ("2020-01-01", "2020-12-31"),
        },
        window=WindowConfig(past=12, future=20, stride=6),
        grid=(64, 128),
    ),
}

TINY_UNET = UNetConfig(
    1,
    dim=8,
    dim_mults=(1, 2),
    num_spatial_dims=3,
    num_groups=2,
    attention=False,
    linear_attention=False,
    init_kernel_size=3,
)
EUROPE_UNET = UNetConfig(1, dim=64, dim_mults=(1, 2, 4), num_spatial_dims=3, num_groups=8)

RUN_PRESETS = {
    "tiny": RunPreset(
        "tiny",
        data="tiny",
        num_test=4,
        unet=TINY_UNET,
        fno=FNOConfig(1, 1, width=8, modes=(4, 2, 2), padding=0),
        encoding=ENCODING,
        steps=3,
        batch_size=4,
        warmup_steps=0,
        sampling_steps=2,
        sim_batch_size=4,
    ),
    "europe": RunPreset(
        "europe",
        data="europe",
        num_test=200,
        unet=EUROPE_UNET,
        fno=FNOConfig(1, 1, width=32, modes=(8, 16, 16), padding=(8, 8, 8)),
        encoding=ENCODING,
        prediction="x0",
        steps=100_000,
        batch_size=8,
        learning_rate=1e-4,
        sampling_steps=50,
        sim_batch_size=16,
        checkpoint_every=5_000,
    ),
}
