"""ERA5-like synthetic 2 m temperature, written in the two real layouts (tests and the tiny preset).

Not reanalysis: a smooth, seeded field with ERA5's shape and units, so the loader, the Task and
the generic pipeline can run offline. ``T(t, lat, lon) = 288 - 30 sin^2(lat) + 6 cos(2 pi (t_utc
+ lon / 15 - 14) / 24) cos(lat) + 2 sin(3 lon - 2 pi t / 48) + noise`` in kelvin: a meridional
gradient, a diurnal cycle peaking at 14 h local solar time, an eastward-travelling wave and small
Gaussian noise. :func:`write_cds_netcdf` writes it as the CDS does (``t2m``, ``valid_time``,
latitude descending, longitude in [0, 360) or [-180, 180)); :func:`write_weatherbench_zarr` as
WeatherBench stores do (``2m_temperature``, ``time``, ``lat``, ``lon`` ascending).
"""

from __future__ import annotations

import pathlib

import numpy as np

__all__ = ["synthetic_field", "write_cds_netcdf", "write_weatherbench_zarr"]


def synthetic_field(
    start: str = "2020-01-01",
    num_hours: int = 24 * 10,
    latitude: np.ndarray | None = None,
    longitude: np.ndarray | None = None,
    *,
    seed: int = 0,
    noise: float = 0.3,
):
    """The canonical ``xarray.DataArray`` ``2m_temperature (time, latitude, longitude)``, hourly,
    latitude ascending, longitude in [0, 360)."""
    import xarray as xr

    latitude = np.arange(30.0, 70.1, 5.0) if latitude is None else np.asarray(latitude, float)
    longitude = np.arange(0.0, 360.0, 10.0) if longitude is None else np.asarray(longitude, float)
    times = np.datetime64(start, "h") + np.arange(num_hours).astype("timedelta64[h]")
    hours = np.arange(num_hours, dtype=np.float64)[:, None, None]
    lat = np.deg2rad(latitude)[None, :, None]
    lon = np.deg2rad(longitude)[None, None, :]
    hour_of_day = (times.astype("datetime64[h]").astype(np.int64) % 24)[:, None, None]
    local = hour_of_day + np.rad2deg(lon) / 15.0
    values = (
        288.0
        - 30.0 * np.sin(lat) ** 2
        + 6.0 * np.cos(2 * np.pi * (local - 14.0) / 24.0) * np.cos(lat)
        + 2.0 * np.sin(3 * lon - 2 * np.pi * hours / 48.0)
    )
    values = values + noise * np.random.default_rng(seed).standard_normal(values.shape)
    return xr.DataArray(
        values.astype(np.float32),
        dims=("time", "latitude", "longitude"),
        coords={
            "time": times.astype("datetime64[ns]"),
            "latitude": latitude,
            "longitude": longitude,
        },
        name="2m_temperature",
        attrs={"units": "K", "long_name": "2 metre temperature (synthetic)"},
    )


def write_cds_netcdf(path, field, *, longitude_convention: str = "0..360") -> pathlib.Path:
    """Write a canonical field as a CDS download: ``t2m (valid_time, latitude, longitude)``,
    latitude descending, longitude ``"0..360"`` or ``"-180..180"``."""
    if longitude_convention not in ("0..360", "-180..180"):
        raise ValueError(
            f"longitude_convention: '0..360' or '-180..180', got {longitude_convention!r}"
        )
    cds = field.rename("t2m").rename({"time": "valid_time"}).isel(latitude=slice(None, None, -1))
    if longitude_convention == "-180..180":
        longitude = (cds["longitude"].values + 180.0) % 360.0 - 180.0
        cds = cds.assign_coords(longitude=longitude).sortby("longitude")
    cds.attrs = {"units": "K", "long_name": "2 metre temperature", "GRIB_shortName": "2t"}
    dataset = cds.to_dataset()
    dataset = dataset.assign_coords(
        number=0, expver=("valid_time", ["0001"] * cds.sizes["valid_time"])
    )
    dataset.attrs = {"Conventions": "CF-1.7", "institution": "synthetic, not ECMWF"}
    path = pathlib.Path(path)
    dataset.to_netcdf(path)
    return path


def write_weatherbench_zarr(path, field) -> pathlib.Path:
    """Write a canonical field as a WeatherBench-style Zarr store: ``2m_temperature (time, lat,
    lon)``, latitude and longitude ascending."""
    store = field.rename({"latitude": "lat", "longitude": "lon"}).to_dataset()
    path = pathlib.Path(path)
    store.to_zarr(path, mode="w", zarr_format=2, consolidated=True)
    return path
