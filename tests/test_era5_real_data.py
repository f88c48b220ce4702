"""The ERA5 loader on real ERA5 files as third parties ship them, opened unchanged.

The files (``tests/fixtures/era5/README.md``: source, licence, attribution) are a pair of CDS
NetCDF downloads of 2 m temperature (earthkit-data's test data), a CDS GRIB download with one time
(cfgrib's sample data) and a Zarr store made from ERA5 GRIB (earthkit-data). Each is opened
through the public entry points exactly as a user would, and checked against the same file read by
a second route that does not go through xarray (netCDF4, ecCodes, zarr with the packing undone by
hand) and against physical ranges. A larger file, cfgrib's ensemble-member GRIB, is tested when it
is present (``WDNO_ERA5_MEMBERS_GRIB``; docs/era5.md says how to fetch it).
"""

from __future__ import annotations

import datetime
import os
import pathlib
import sys

import numpy as np
import pytest

from systems.era5 import loader

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "era5"
CDS_NETCDF = [FIXTURES / "era5_2t_1.nc", FIXTURES / "era5_2t_2.nc"]
CDS_GRIB = FIXTURES / "era5-single-level-scalar-time.grib"
ZARR = FIXTURES / "test_zarr"
MEMBERS_GRIB = os.environ.get("WDNO_ERA5_MEMBERS_GRIB")


def _hours_since(units: str, hours) -> np.ndarray:
    """CF ``hours since <date>`` to datetime64, by hand (no xarray, no cftime)."""
    word, since, origin = units.split(" ", 2)
    assert (word, since) == ("hours", "since"), units
    start = np.datetime64(origin.strip().replace(" ", "T").split(".")[0], "s")
    return start + (np.asarray(hours, np.int64) * 3600).astype("timedelta64[s]")


def test_cds_netcdf_downloads_open_unchanged():
    netCDF4 = pytest.importorskip("netCDF4")
    # one file per day, as the CDS delivers a request split in two; daily at 12 UTC
    field = loader.load_selection(CDS_NETCDF, loader.Selection("t2m"), step_hours=24)

    # the second route: netCDF4 reads the packed short integers and applies scale and offset
    times, values = [], []
    for path in CDS_NETCDF:
        with netCDF4.Dataset(path) as nc:
            assert nc["t2m"].dtype == np.int16  # the CDS's packed layout, untouched
            times.append(_hours_since(nc["time"].units, nc["time"][:]))
            latitude, longitude = nc["latitude"][:], nc["longitude"][:]
            values.append(np.ma.filled(nc["t2m"][:], np.nan))
    times = np.concatenate(times)
    np.testing.assert_array_equal(
        times, np.array(["2021-03-01T12", "2021-03-02T12"], "datetime64[s]")
    )
    np.testing.assert_array_equal(field["time"].values.astype("datetime64[s]"), times)
    assert latitude[0] == 80 and latitude[-1] == -80  # the file runs north to south
    assert field.dims == ("time", "latitude", "longitude") and field.shape == (2, 9, 18)
    np.testing.assert_array_equal(field["latitude"], np.arange(-80.0, 80.1, 20.0))
    np.testing.assert_array_equal(field["longitude"], np.arange(0.0, 360.0, 20.0))
    np.testing.assert_array_equal(field["longitude"], longitude)
    expected = np.concatenate(values)[:, ::-1]  # to south-to-north
    np.testing.assert_allclose(field.values, expected, rtol=0, atol=1e-4)

    # physics: 2 m temperature on a 20 degree grid in early March
    assert field.dtype == np.float32 and np.all(np.isfinite(field.values))
    assert 200 < field.values.min() and field.values.max() < 320
    tropics = field.sel(latitude=[-20.0, 0.0, 20.0]).values.mean()
    poles = field.sel(latitude=[-80.0, 80.0]).values.mean()
    assert tropics > poles + 30


def test_cds_grib_download_with_one_time_opens_unchanged():
    pytest.importorskip("cfgrib", reason="reading GRIB needs the grib extra (cfgrib, ecCodes)")
    eccodes = pytest.importorskip("eccodes")
    # Europe across the 0 degree meridian, as the europe preset selects it
    field = loader.load_selection(CDS_GRIB, loader.Selection("2m_temperature", longitude=(-10, 30)))

    # the second route: ecCodes reads the one GRIB message itself
    with open(CDS_GRIB, "rb") as file:
        message = eccodes.codes_grib_new_from_file(file)
        try:
            keys = {
                key: eccodes.codes_get(message, key)
                for key in ("class", "shortName", "Ni", "Nj", "jScansPositively")
                + ("latitudeOfFirstGridPointInDegrees", "longitudeOfFirstGridPointInDegrees")
                + ("validityDate", "validityTime")
            }
            values = eccodes.codes_get_values(message).reshape(keys["Nj"], keys["Ni"])
        finally:
            eccodes.codes_release(message)
        assert eccodes.codes_grib_new_from_file(file) is None  # one message only
    assert keys["class"] == "ea" and keys["shortName"] == "2t"  # ERA5 2 m temperature
    # 0.25 degrees, 60 N -> 30 N (north first), 10 W -> 40 E
    assert (keys["Nj"], keys["Ni"], keys["jScansPositively"]) == (121, 201, 0)
    assert keys["latitudeOfFirstGridPointInDegrees"] == 60.0
    assert keys["longitudeOfFirstGridPointInDegrees"] == -10.0
    valid = datetime.datetime.strptime(
        f"{keys['validityDate']}{keys['validityTime']:04d}", "%Y%m%d%H%M"
    )
    assert str(np.datetime64(valid, "s")) == "2017-01-01T12:00:00"

    # a single time becomes a time axis of length 1; the box is 10 W..30 E, i.e. the file's
    # first 161 columns, relabelled 350..359.75 then 0..30; rows south to north
    assert field.dims == ("time", "latitude", "longitude") and field.shape == (1, 121, 161)
    np.testing.assert_array_equal(field["time"].values, [np.datetime64(valid, "ns")])
    np.testing.assert_array_equal(field["latitude"], np.arange(30.0, 60.01, 0.25))
    np.testing.assert_array_equal(
        field["longitude"],
        np.concatenate([np.arange(350.0, 360.0, 0.25), np.arange(0, 30.1, 0.25)]),
    )
    np.testing.assert_array_equal(field.values[0], values[::-1, :161].astype(np.float32))

    # physics: a January noon over Europe and North Africa, warmer in the south
    assert 240 < field.values.min() and field.values.max() < 300
    assert field.values[0, :20].mean() > field.values[0, -20:].mean() + 5  # 30-35 N, 55-60 N


def test_zarr_store_opens_unchanged():
    zarr = pytest.importorskip("zarr")
    temperature = loader.load_selection(ZARR, loader.Selection("t", level=850))
    geopotential = loader.load_selection(ZARR, loader.Selection("geopotential", level=500))

    # the second route: zarr's raw int16 chunks, unpacked by hand from the CF attributes
    group = zarr.open_group(str(ZARR), mode="r")
    levels = np.asarray(group["level"][...])
    np.testing.assert_array_equal(levels, [500, 850])
    latitude = np.asarray(group["latitude"][...])
    assert latitude[0] == 90 and latitude[-1] == -90 and latitude.size == 181

    def unpacked(name, level):
        array = group[name]
        assert array.dtype == np.int16
        raw = np.asarray(array[0, list(levels).index(level)], np.float64)
        return raw * array.attrs["scale_factor"] + array.attrs["add_offset"]

    times = _hours_since(group["time"].attrs["units"], group["time"][...])
    np.testing.assert_array_equal(times, np.array(["2007-01-01T12"], "datetime64[s]"))
    for field, name, level in ((temperature, "t", 850), (geopotential, "z", 500)):
        assert field.dims == ("time", "latitude", "longitude") and field.shape == (1, 181, 360)
        np.testing.assert_array_equal(field["time"].values.astype("datetime64[s]"), times)
        np.testing.assert_array_equal(field["latitude"], np.arange(-90.0, 90.1, 1.0))
        np.testing.assert_array_equal(field["longitude"], np.arange(0.0, 360.0, 1.0))
        expected = unpacked(name, level)[::-1]
        np.testing.assert_allclose(field.values[0], expected, rtol=1e-6)

    # physics: 850 hPa temperature, and the 500 hPa surface ~5.5 km up (z = g * height)
    assert 220 < temperature.values.min() and temperature.values.max() < 310
    height = geopotential.values / 9.80665
    assert 4500 < height.min() and height.max() < 6000


def test_grib_without_cfgrib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "cfgrib", None)  # import cfgrib now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'wdno\[grib\]'"):
        loader.open_source(CDS_GRIB)


@pytest.mark.skipif(
    not (MEMBERS_GRIB and pathlib.Path(MEMBERS_GRIB).is_file()),
    reason="cfgrib's era5-levels-members.grib (2.4 MB, not shipped): set WDNO_ERA5_MEMBERS_GRIB "
    "to it; docs/era5.md ('Tried on real data') fetches it with pip download",
)
def test_cds_grib_with_ensemble_members_and_levels_opens_unchanged():
    pytest.importorskip("cfgrib", reason="reading GRIB needs the grib extra (cfgrib, ecCodes)")
    eccodes = pytest.importorskip("eccodes")
    path = pathlib.Path(MEMBERS_GRIB)
    with pytest.raises(ValueError, match=r"has members \[0, 1, 2, .*, 9\]; choose one \(member=\)"):
        loader.load_selection(path, loader.Selection("t", level=850), step_hours=12)
    with pytest.raises(ValueError, match=r"time is not 1-hourly: 2017-01-01T00:00:00 is followed"):
        loader.load_selection(path, loader.Selection("t", level=850, member=3))
    field = loader.load_selection(path, loader.Selection("t", level=850, member=3), step_hours=12)

    # the second route: ecCodes, every message of t at 850 hPa for member 3, by valid time
    expected = {}
    with open(path, "rb") as file:
        while (message := eccodes.codes_grib_new_from_file(file)) is not None:
            try:
                key = lambda name: eccodes.codes_get(message, name)  # noqa: B023
                assert key("class") == "ea"
                if (key("shortName"), key("level"), key("number")) == ("t", 850, 3):
                    valid = f"{key('validityDate')}{key('validityTime'):04d}"
                    values = eccodes.codes_get_values(message)
                    expected[valid] = values.reshape(key("Nj"), key("Ni"))
            finally:
                eccodes.codes_release(message)
    times = [datetime.datetime.strptime(valid, "%Y%m%d%H%M") for valid in sorted(expected)]
    assert [str(np.datetime64(t, "h")) for t in times] == [
        "2017-01-01T00",
        "2017-01-01T12",
        "2017-01-02T00",
        "2017-01-02T12",
    ]
    assert field.shape == (4, 61, 120)  # 3 degrees
    np.testing.assert_array_equal(field["time"].values, np.array(times, "datetime64[ns]"))
    np.testing.assert_array_equal(field["latitude"], np.arange(-90.0, 90.1, 3.0))
    stacked = np.stack([expected[valid][::-1] for valid in sorted(expected)])
    np.testing.assert_array_equal(field.values, stacked.astype(np.float32))
    assert 210 < field.values.min() and field.values.max() < 310
