"""ERA5 as users have it: CDS NetCDF files and WeatherBench-style Zarr stores (spec §8.5).

Two layouts reach us. The Copernicus Climate Data Store (CDS) writes NetCDF with short variable
names (``t2m``, ``t``, ``z``), time as ``time`` or (since 2024) ``valid_time``, latitude
descending from 90 to -90, longitude in [0, 360) or [-180, 180), and pressure levels as ``level``
or ``pressure_level``. WeatherBench (1 and 2) Zarr stores use long names (``2m_temperature``,
``temperature``), ``time``, ``latitude``/``lat``, ``longitude``/``lon`` (ascending) and ``level``.
The CDS's GRIB downloads (read through cfgrib, the ``grib`` extra) look like its NetCDF, with
levels as ``isobaricInhPa``, ensemble members as ``number``, and a single time as a scalar.

:func:`normalize` maps both to ONE form, the only one the rest of the code sees: variable names
the WeatherBench long names, dimensions ``time``, ``latitude``, ``longitude``, ``level``,
``number`` (ensemble member), latitude ascending, longitude in [0, 360) ascending. Everything
stays lazy (backend arrays, or dask chunks where dask is installed) until :func:`load_selection`
reads the selected variable, level, member, region and period, so a multi-year archive is never
read whole.

From the loaded field, :func:`cut_windows` cuts windows of consecutive hours (12 past + 20 future
= 32 frames by default, a configurable stride between window starts) and :func:`split_windows`
cuts them per split, each split a contiguous period of its own: windows are never shuffled across
a split and none straddles a split boundary.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = [
    "DIM_ALIASES",
    "VARIABLE_ALIASES",
    "Selection",
    "WindowConfig",
    "Windows",
    "canonical_variable",
    "check_grid",
    "check_time_steps",
    "cut_windows",
    "load_selection",
    "normalize",
    "open_source",
    "select",
    "split_windows",
]

# CDS / GRIB short names -> the canonical (WeatherBench) long names.
VARIABLE_ALIASES = {
    "t2m": "2m_temperature",
    "2t": "2m_temperature",
    "t": "temperature",
    "z": "geopotential",
    "u10": "10m_u_component_of_wind",
    "v10": "10m_v_component_of_wind",
    "u": "u_component_of_wind",
    "v": "v_component_of_wind",
    "q": "specific_humidity",
    "msl": "mean_sea_level_pressure",
    "sp": "surface_pressure",
    "tp": "total_precipitation",
}
# Dimension / coordinate names -> the canonical ones.
DIM_ALIASES = {
    "valid_time": "time",
    "lat": "latitude",
    "lon": "longitude",
    "pressure_level": "level",
    "isobaricInhPa": "level",
    "plev": "level",
    "realization": "number",
    "member": "number",
}
REQUIRED_DIMS = ("time", "latitude", "longitude")


def canonical_variable(name: str) -> str:
    """The canonical name of a variable given by its short (``t2m``) or long name."""
    return VARIABLE_ALIASES.get(name, name)


def _has_dask() -> bool:
    try:
        import dask  # noqa: F401
    except ImportError:
        return False
    return True


# What cfgrib opens: ERA5 as the CDS delivers it with "data_format": "grib".
GRIB_SUFFIXES = (".grib", ".grib1", ".grib2", ".grb", ".grb1", ".grb2")


def _is_grib(source) -> bool:
    return str(source).lower().endswith(GRIB_SUFFIXES)


def _is_zarr(source) -> bool:
    text = str(source)
    if "://" in text or text.rstrip("/").endswith(".zarr"):
        return True
    return os.path.isdir(text)


def open_source(source, *, chunks: Mapping[str, int] | None = None):
    """Open one NetCDF file, GRIB file or Zarr store lazily, not normalised.

    Args:
        source: a NetCDF path, a GRIB path (``.grib``, ``.grib2``, ``.grb``, ...; needs the
            ``grib`` extra: cfgrib and ecCodes), or a Zarr store (a ``.zarr`` path, a directory
            or a URL such as ``gs://weatherbench2/datasets/era5/...``; remote stores need
            ``gcsfs``).
        chunks: dask chunks by dimension; used only if dask is installed (without dask xarray
            keeps lazy backend arrays and reads only what is indexed).
    """
    import xarray as xr

    chunk_arg = (dict(chunks) if chunks else {}) if _has_dask() else None
    if _is_zarr(source):
        if "://" not in str(source) and not pathlib.Path(source).exists():
            raise FileNotFoundError(f"ERA5 Zarr store {source} not found")
        return xr.open_zarr(source, chunks=chunk_arg)
    if not pathlib.Path(source).exists():
        kind = "GRIB" if _is_grib(source) else "NetCDF"
        raise FileNotFoundError(f"ERA5 {kind} file {source} not found")
    if _is_grib(source):
        try:
            import cfgrib  # noqa: F401  (also loads ecCodes, which raises RuntimeError if absent)
        except (ImportError, RuntimeError) as error:
            raise ImportError(
                f"{source}: reading GRIB needs cfgrib and the ecCodes library; install them with "
                f"pip install 'wdno[grib]' (or convert the file to NetCDF). ({error})"
            ) from error
        # indexpath="": no .idx file written beside the data (which may be read-only)
        return xr.open_dataset(
            source, engine="cfgrib", chunks=chunk_arg, backend_kwargs={"indexpath": ""}
        )
    return xr.open_dataset(source, chunks=chunk_arg)


def normalize(dataset, source: str = "dataset"):
    """The one place where names and orientation are made canonical (see the module docstring).

    Returns a lazy dataset with variables renamed to the long names, dimensions ``time``,
    ``latitude``, ``longitude`` (and ``level``, ``number`` where present), latitude ascending and
    longitude in [0, 360) ascending. Time is the valid time: where a file has both a ``time``
    dimension (cfgrib: the analysis or forecast reference time) and a ``valid_time`` along it,
    ``time`` takes the valid times; a single time given as a scalar becomes a ``time`` dimension
    of length 1.
    """
    renames = {}
    for name in dataset.data_vars:
        canonical = canonical_variable(name)
        if canonical != name and canonical not in dataset.variables:
            renames[name] = canonical
    for name in list(dataset.dims) + list(dataset.coords):
        canonical = DIM_ALIASES.get(name)
        if canonical is None or name in renames:
            continue
        if canonical in dataset.variables and canonical not in dataset.dims:
            # e.g. a CDS file with dimension valid_time and a scalar coordinate named time
            dataset = dataset.drop_vars(canonical)
        if canonical not in dataset.variables:
            renames[name] = canonical
    dataset = dataset.rename(renames)
    if "valid_time" in dataset.coords and dataset["valid_time"].dims == ("time",):
        valid_time = dataset["valid_time"].values
        dataset = dataset.drop_vars("valid_time").assign_coords(time=("time", valid_time))
    if "time" not in dataset.dims and "time" in dataset.coords and dataset["time"].ndim == 0:
        dataset = dataset.expand_dims("time")
    missing = [d for d in REQUIRED_DIMS if d not in dataset.dims]
    if missing:
        raise ValueError(
            f"{source}: expected dimensions {REQUIRED_DIMS} (or their aliases "
            f"{sorted(DIM_ALIASES)}), missing {missing}; got {dict(dataset.sizes)}"
        )
    latitude = dataset["latitude"].values
    if latitude.size > 1 and latitude[0] > latitude[-1]:
        dataset = dataset.isel(latitude=slice(None, None, -1))
    longitude = np.mod(dataset["longitude"].values.astype(np.float64), 360.0)
    order = np.argsort(longitude, kind="stable")
    dataset = dataset.assign_coords(longitude=("longitude", longitude))
    if np.any(order != np.arange(order.size)):
        dataset = dataset.isel(longitude=order)
    return dataset


@dataclasses.dataclass(frozen=True)
class Selection:
    """What to read from an archive.

    Attributes:
        variable: canonical (``2m_temperature``) or short (``t2m``) name.
        level: pressure level in hPa, for a variable with levels (None: a surface variable, or
            the only level).
        latitude: ``(south, north)`` in degrees, inclusive (None: all).
        longitude: ``(west, east)`` in degrees east, inclusive, in [-180, 360); ``west > east``
            (after wrapping to [0, 360)) crosses the 0° meridian, e.g. ``(-10, 30)`` or
            ``(350, 30)`` for Europe. None: all.
        period: ``(first, last)`` times, inclusive, as ISO strings (``"2016-01-01"``,
            ``"2016-12-31T23"``) or None for all.
        member: ensemble member (``number``, e.g. 0..9 in ERA5's ``ensemble_members`` product)
            for a file with members (None: no members, or the only one).
    """

    variable: str = "2m_temperature"
    level: float | None = None
    latitude: tuple[float, float] | None = None
    longitude: tuple[float, float] | None = None
    period: tuple[str, str] | None = None
    member: int | None = None


def _empty(what: str, source: str, coords: np.ndarray):
    span = f"{coords.min()}..{coords.max()}" if coords.size else "empty"
    return ValueError(f"{source}: empty selection: {what} selects no points (available: {span})")


def _choose(field, dim: str, value, keyword: str, source: str, without: str):
    """``field`` at ``dim == value``, or at its only entry when ``value`` is None; the ``dim``
    coordinate is dropped. ``keyword`` is the :class:`Selection` field that sets ``value``."""
    variable = field.name
    if dim not in field.dims:
        if value is not None:
            raise ValueError(
                f"{source}: {variable} has no {dim} dimension ({without}) but "
                f"{keyword}={value} was asked for"
            )
        return field.drop_vars(dim, errors="ignore")
    values = field[dim].values
    if value is None:
        if values.size != 1:
            raise ValueError(
                f"{source}: {variable} has {keyword}s {values.tolist()}; choose one ({keyword}=)"
            )
        index = 0
    else:
        found = np.flatnonzero(np.isclose(values, value))
        if not found.size:
            raise ValueError(
                f"{source}: {keyword} {value} of {variable} not found; available: {values.tolist()}"
            )
        index = int(found[0])
    return field.isel({dim: index}).drop_vars(dim)


def select(dataset, selection: Selection, source: str = "dataset"):
    """The selected variable of a :func:`normalize`-d dataset, lazy, dims ``(time, latitude,
    longitude)``. Raises ``ValueError`` for a missing variable, level or member, an empty
    selection, and any other dimension longer than 1 (those of length 1 are dropped)."""
    variable = canonical_variable(selection.variable)
    if variable not in dataset.data_vars:
        raise KeyError(
            f"{source}: variable {selection.variable!r} (canonical {variable!r}) not found; "
            f"available: {sorted(dataset.data_vars)}"
        )
    field = dataset[variable]
    field = _choose(field, "level", selection.level, "level", source, "a surface variable")
    field = _choose(field, "number", selection.member, "member", source, "no ensemble")
    extra = {dim: size for dim, size in field.sizes.items() if dim not in REQUIRED_DIMS}
    longer = {dim: size for dim, size in extra.items() if size > 1}
    if longer:
        raise ValueError(
            f"{source}: {variable} has dimensions {longer} besides {REQUIRED_DIMS}; only a level "
            "(level=) and an ensemble member (member=) can be chosen"
        )
    field = field.isel({dim: 0 for dim in extra})
    if selection.latitude is not None:
        south, north = sorted(selection.latitude)
        latitude = field["latitude"].values
        index = np.flatnonzero((latitude >= south) & (latitude <= north))
        if not index.size:
            raise _empty(f"latitude {selection.latitude}", source, latitude)
        field = field.isel(latitude=slice(int(index[0]), int(index[-1]) + 1))
    if selection.longitude is not None:
        west, east = (float(v) % 360.0 for v in selection.longitude)
        longitude = field["longitude"].values
        if west <= east:
            index = np.flatnonzero((longitude >= west) & (longitude <= east))
        else:  # across 0°: the western part first, so the box stays contiguous
            index = np.concatenate(
                [np.flatnonzero(longitude >= west), np.flatnonzero(longitude <= east)]
            )
        if not index.size:
            raise _empty(f"longitude {selection.longitude}", source, longitude)
        field = field.isel(longitude=index)
    if selection.period is not None:
        first, last = (np.datetime64(v) for v in selection.period)
        times = field["time"].values
        index = np.flatnonzero((times >= first) & (times <= last + _unit_end(selection.period[1])))
        if not index.size:
            raise _empty(f"period {selection.period}", source, times)
        field = field.isel(time=slice(int(index[0]), int(index[-1]) + 1))
    return field.transpose("time", "latitude", "longitude").reset_coords(drop=True)


def _unit_end(text: str) -> np.timedelta64:
    """How far past its start a period's last value reaches: ``"2016-12-31"`` means the whole
    day (up to ``23:59:59``), ``"2016"`` the whole year; a full timestamp means itself."""
    value = np.datetime64(text)
    unit = np.datetime_data(value.dtype)[0]
    if unit in ("Y", "M"):
        following = (value + 1).astype("datetime64[s]")
        return following - value.astype("datetime64[s]") - np.timedelta64(1, "s")
    if unit in ("D", "h", "m"):
        return np.timedelta64(1, unit).astype("timedelta64[s]") - np.timedelta64(1, "s")
    return np.timedelta64(0, "s")


def check_time_steps(times: np.ndarray, step_hours: int = 1, source: str = "dataset") -> None:
    """Raise ``ValueError`` naming the first gap (or step back) in a time axis."""
    times = np.asarray(times).astype("datetime64[s]")
    step = np.timedelta64(step_hours, "h")
    bad = np.flatnonzero(np.diff(times) != step)
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"{source}: time is not {step_hours}-hourly: {times[i]} is followed by "
            f"{times[i + 1]} (expected {times[i] + step}); first of {bad.size} irregular steps"
        )


def check_grid(shape: Sequence[int], expected: Sequence[int] | None, source: str = "dataset"):
    """Raise ``ValueError`` if a selection's ``(latitude, longitude)`` shape is not the model's."""
    if expected is not None and tuple(shape) != tuple(expected):
        raise ValueError(
            f"{source}: grid mismatch: the model expects (latitude, longitude) = "
            f"{tuple(expected)}, the selection gives {tuple(shape)}; adjust the region or "
            "resolution"
        )


def load_selection(sources, selection: Selection, *, step_hours: int = 1, chunks=None):
    """Read the selection from one or several files/stores into memory, time-sorted and checked.

    Each source is opened lazily, normalised and cut to the selection before anything is read,
    so only the selected variable, level, region and period leave the disk. Sources (e.g. one
    CDS file per month) are concatenated along time.

    Returns:
        An ``xarray.DataArray`` ``(time, latitude, longitude)``, float32, in memory.
    """
    import xarray as xr

    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    parts = []
    for source in sources:
        dataset = normalize(open_source(source, chunks=chunks), str(source))
        try:
            parts.append(select(dataset, selection, str(source)).astype(np.float32).load())
        except ValueError as error:
            if "empty selection: period" in str(error) and len(sources) > 1:
                continue  # a file outside the period; others may hold it
            raise
        finally:
            dataset.close()
    name = ", ".join(str(s) for s in sources)
    if not parts:
        raise ValueError(f"{name}: empty selection: period {selection.period} in no source")
    field = xr.concat(parts, dim="time") if len(parts) > 1 else parts[0]
    field = field.sortby("time")
    check_time_steps(field["time"].values, step_hours, name)
    return field


@dataclasses.dataclass(frozen=True)
class WindowConfig:
    """Windows of consecutive frames: ``past`` known hours then ``future`` hours to predict,
    a new window every ``stride`` frames."""

    past: int = 12
    future: int = 20
    stride: int = 6

    def __post_init__(self):
        if self.past < 1 or self.future < 1 or self.stride < 1:
            raise ValueError(f"WindowConfig: past, future and stride must be >= 1, got {self}")

    @property
    def length(self) -> int:
        return self.past + self.future


@dataclasses.dataclass(frozen=True)
class Windows:
    """Windows of one split.

    Attributes:
        values: ``(N, past + future, latitude, longitude)`` float32.
        start_times: ``(N,)`` datetime64, the time of each window's first frame.
        hours: ``(past + future,)`` hours relative to the last known frame
            (``-past + 1 .. future``).
        latitude, longitude: the grid (ascending latitude; longitude in [0, 360)).
    """

    values: np.ndarray
    start_times: np.ndarray
    hours: np.ndarray
    latitude: np.ndarray
    longitude: np.ndarray

    @property
    def valid_times(self) -> np.ndarray:
        """``(N, past + future)`` datetime64: the time of every frame."""
        offsets = (self.hours - self.hours[0]).astype("timedelta64[h]")
        return self.start_times[:, None] + offsets[None]


def cut_windows(values: np.ndarray, length: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """``(T, ...)`` consecutive frames to ``(N, length, ...)`` windows starting every ``stride``
    frames; also returns the start indices ``(N,)``."""
    values = np.asarray(values)
    if len(values) < length:
        raise ValueError(f"cut_windows: {len(values)} frames are fewer than one window of {length}")
    starts = np.arange(0, len(values) - length + 1, stride)
    view = np.lib.stride_tricks.sliding_window_view(values, length, axis=0)[starts]
    return np.ascontiguousarray(np.moveaxis(view, -1, 1)), starts


def split_windows(
    field,
    periods: Mapping[str, tuple[str, str]],
    window: WindowConfig = WindowConfig(),
    *,
    expected_grid: Sequence[int] | None = None,
    step_hours: int = 1,
    source: str = "dataset",
) -> dict[str, Windows]:
    """Windows of each split, each split a contiguous period (``{"train": ("1979", "2015"),
    "val": ("2016", "2016"), "test": ("2017", "2018")}``); periods must not overlap."""
    check_grid(field.shape[1:], expected_grid, source)
    bounds = {
        name: (np.datetime64(a, "s"), np.datetime64(b, "s") + _unit_end(b))
        for name, (a, b) in periods.items()
    }
    ordered = sorted(bounds.items(), key=lambda item: item[1][0])
    for (name_a, (_, end_a)), (name_b, (start_b, _)) in zip(ordered, ordered[1:], strict=False):
        if start_b <= end_a:
            raise ValueError(
                f"split periods overlap: {name_a} {periods[name_a]} and {name_b} {periods[name_b]}"
            )
    times = field["time"].values.astype("datetime64[s]")
    hours = np.arange(-window.past + 1, window.future + 1)
    result = {}
    for name, (first, last) in bounds.items():
        inside = np.flatnonzero((times >= first) & (times <= last))
        where = f"{source}, split {name} {periods[name]}"
        if not inside.size:
            raise ValueError(f"{where}: empty selection: no times in the period")
        check_time_steps(times[inside], step_hours, where)
        values = np.asarray(field.values[inside[0] : inside[-1] + 1], np.float32)
        if len(values) < window.length:
            raise ValueError(
                f"{where}: {len(values)} hours are fewer than one window of {window.length}"
            )
        windows, starts = cut_windows(values, window.length, window.stride)
        result[name] = Windows(
            values=windows,
            start_times=times[inside[0] + starts],
            hours=hours,
            latitude=np.asarray(field["latitude"].values, np.float64),
            longitude=np.asarray(field["longitude"].values, np.float64),
        )
    return result
