"""The ERA5 loader on small files in both real layouts (CDS NetCDF, WeatherBench Zarr)."""

from __future__ import annotations

import numpy as np
import pytest

from systems.era5 import loader, synthetic

pytest.importorskip("xarray")
zarr = pytest.importorskip("zarr")

LATITUDE = np.arange(30.0, 70.1, 5.0)  # 9 rows
LONGITUDE = np.arange(0.0, 360.0, 10.0)  # 36 columns
EUROPE = loader.Selection(latitude=(35, 60), longitude=(-20, 30))  # across 0 degrees


@pytest.fixture(scope="module")
def field():
    return synthetic.synthetic_field("2020-01-01", 24 * 6, LATITUDE, LONGITUDE, seed=1)


@pytest.fixture(scope="module")
def sources(field, tmp_path_factory):
    folder = tmp_path_factory.mktemp("era5")
    return {
        "cds_0_360": synthetic.write_cds_netcdf(folder / "cds360.nc", field),
        "cds_180": synthetic.write_cds_netcdf(
            folder / "cds180.nc", field, longitude_convention="-180..180"
        ),
        "weatherbench": synthetic.write_weatherbench_zarr(folder / "wb.zarr", field),
    }


def test_files_are_written_in_the_real_layouts(sources):
    import xarray as xr

    with xr.open_dataset(sources["cds_180"]) as cds:
        assert set(cds.data_vars) == {"t2m"} and "valid_time" in cds.dims
        assert cds.latitude.values[0] > cds.latitude.values[-1]  # descending, as the CDS writes
        assert cds.longitude.values.min() < 0
    with xr.open_zarr(sources["weatherbench"], chunks=None) as wb:
        assert set(wb.data_vars) == {"2m_temperature"} and {"lat", "lon", "time"} <= set(wb.dims)


def test_both_layouts_normalise_to_identical_arrays(sources, field):
    loaded = {name: loader.load_selection(path, EUROPE) for name, path in sources.items()}
    reference = loaded["weatherbench"]
    assert reference.dims == ("time", "latitude", "longitude")
    # the box across 0 degrees: 340, 350, 0, ..., 30 (west part first, contiguous)
    np.testing.assert_array_equal(reference.longitude, [340, 350, 0, 10, 20, 30])
    np.testing.assert_array_equal(reference.latitude, np.arange(35.0, 60.1, 5.0))
    for name, other in loaded.items():
        np.testing.assert_array_equal(other.values, reference.values, err_msg=name)
        np.testing.assert_array_equal(other.longitude, reference.longitude, err_msg=name)
        np.testing.assert_array_equal(other.time, reference.time, err_msg=name)
    # and the values are the written field's at those points
    expected = field.sel(latitude=reference.latitude, longitude=reference.longitude)
    np.testing.assert_array_equal(reference.values, expected.values)


def test_normalize_makes_names_and_orientation_canonical(sources):
    dataset = loader.normalize(loader.open_source(sources["cds_180"]))
    assert "2m_temperature" in dataset.data_vars and "time" in dataset.dims
    assert np.all(np.diff(dataset.latitude.values) > 0)
    longitude = dataset.longitude.values
    assert longitude.min() >= 0 and longitude.max() < 360 and np.all(np.diff(longitude) > 0)


def test_levels_select_and_squeeze(tmp_path, field):
    # a CDS pressure-level file: short name t, dimension pressure_level
    levels = field.expand_dims(pressure_level=[500.0, 850.0], axis=1).copy()
    levels[:, 1] += 10.0
    levels.rename("t").rename({"time": "valid_time"}).to_netcdf(tmp_path / "t.nc")
    hot = loader.load_selection(tmp_path / "t.nc", loader.Selection("t", level=850))
    np.testing.assert_allclose(hot.values, field.values + 10.0)
    with pytest.raises(ValueError, match=r"has levels \[500.0, 850.0\]; choose one"):
        loader.load_selection(tmp_path / "t.nc", loader.Selection("temperature"))
    with pytest.raises(ValueError, match=r"level 700 of temperature not found"):
        loader.load_selection(tmp_path / "t.nc", loader.Selection("t", level=700))


def test_members_valid_time_and_other_dimensions(tmp_path, field):
    # cfgrib's layout: dims number, time (the reference time), isobaricInhPa, latitude,
    # longitude; valid_time a coordinate along time (here 6 h later: forecasts); a scalar step
    members = field.expand_dims(number=[0, 1, 2], isobaricInhPa=[850.0], axis=(0, 2)).copy()
    members[1] += 1.0
    valid = members["time"].values + np.timedelta64(6, "h")
    members = members.rename("t").assign_coords(
        valid_time=("time", valid), step=np.timedelta64(6, "h")
    )
    members.to_netcdf(tmp_path / "members.nc")
    second = loader.load_selection(tmp_path / "members.nc", loader.Selection("t", member=1))
    np.testing.assert_array_equal(second.values, field.values + 1.0)
    np.testing.assert_array_equal(second["time"].values, valid)  # the valid time, not the start
    with pytest.raises(ValueError, match=r"temperature has members \[0, 1, 2\]; choose one"):
        loader.load_selection(tmp_path / "members.nc", loader.Selection("t"))
    with pytest.raises(ValueError, match=r"member 7 of temperature not found"):
        loader.load_selection(tmp_path / "members.nc", loader.Selection("t", member=7))
    # a dimension that cannot be chosen is named; one of length 1 is dropped
    steps = field.expand_dims(step=[0, 1], expver=[1]).rename("t2m")
    steps.to_netcdf(tmp_path / "steps.nc")
    with pytest.raises(ValueError, match=r"dimensions \{'step': 2\} besides"):
        loader.load_selection(tmp_path / "steps.nc", loader.Selection())
    steps.isel(step=[0]).to_netcdf(tmp_path / "one_step.nc")
    one = loader.load_selection(tmp_path / "one_step.nc", loader.Selection())
    np.testing.assert_array_equal(one.values, field.values)
    with pytest.raises(ValueError, match=r"no number dimension \(no ensemble\) but member=0"):
        loader.load_selection(tmp_path / "one_step.nc", loader.Selection(member=0))


def test_a_single_time_as_a_scalar_becomes_a_time_axis(tmp_path, field):
    field.isel(time=5).rename("t2m").to_netcdf(tmp_path / "one.nc")  # time a scalar coordinate
    one = loader.load_selection(tmp_path / "one.nc", loader.Selection())
    assert one.dims == ("time", "latitude", "longitude") and one.shape[0] == 1
    np.testing.assert_array_equal(one["time"].values, field["time"].values[5:6])
    np.testing.assert_array_equal(one.values, field.values[5:6])


def test_missing_variable_lists_the_available_ones(sources):
    with pytest.raises(KeyError, match=r"'z'.*'geopotential'.*available: \['2m_temperature'\]"):
        loader.load_selection(sources["weatherbench"], loader.Selection("z"))


def test_empty_selection_names_what_selected_nothing(sources):
    with pytest.raises(ValueError, match=r"empty selection: latitude \(75, 80\).*30.0..70.0"):
        loader.load_selection(sources["cds_0_360"], loader.Selection(latitude=(75, 80)))
    with pytest.raises(ValueError, match=r"empty selection: period"):
        loader.load_selection(
            sources["cds_0_360"], loader.Selection(period=("2021-01-01", "2021-01-02"))
        )


def test_a_gap_in_time_is_named(tmp_path, field):
    gappy = field.drop_isel(time=[30, 31])  # 2020-01-02T06 and T07 missing
    path = synthetic.write_cds_netcdf(tmp_path / "gap.nc", gappy)
    with pytest.raises(ValueError, match=r"2020-01-02T05:00:00 is followed by 2020-01-02T08:00:00"):
        loader.load_selection(path, EUROPE)


def test_several_files_concatenate_in_time(tmp_path, field, sources):
    # two monthly-style CDS files, given out of order
    late = synthetic.write_cds_netcdf(tmp_path / "late.nc", field.isel(time=slice(48, None)))
    early = synthetic.write_cds_netcdf(tmp_path / "early.nc", field.isel(time=slice(None, 48)))
    joined = loader.load_selection([late, early], EUROPE)
    whole = loader.load_selection(sources["weatherbench"], EUROPE)
    np.testing.assert_array_equal(joined.values, whole.values)


def test_period_is_inclusive_of_its_last_day(sources):
    day = loader.Selection(period=("2020-01-02", "2020-01-02"))
    selected = loader.load_selection(sources["weatherbench"], day)
    assert len(selected.time) == 24
    assert str(selected.time.values[-1]).startswith("2020-01-02T23")


def test_windows_are_consecutive_hours_with_a_stride():
    values = np.arange(40)[:, None, None] * np.ones((1, 2, 3))
    windows, starts = loader.cut_windows(values, 32, 4)
    np.testing.assert_array_equal(starts, [0, 4, 8])
    assert windows.shape == (3, 32, 2, 3)
    np.testing.assert_array_equal(windows[2, :, 0, 0], np.arange(8, 40))


def test_splits_are_time_ordered_and_no_window_straddles_a_boundary(sources):
    field = loader.load_selection(sources["weatherbench"], EUROPE)
    periods = {
        "train": ("2020-01-01", "2020-01-02"),
        "val": ("2020-01-03", "2020-01-04T07"),
        "test": ("2020-01-04T08", "2020-01-06"),
    }
    window = loader.WindowConfig(past=12, future=20, stride=3)
    splits = loader.split_windows(field, periods, window, expected_grid=(6, 6))
    assert len(splits["train"].values) == (48 - 32) // 3 + 1
    assert len(splits["val"].values) == 1  # exactly 32 hours
    assert len(splits["test"].values) == (64 - 32) // 3 + 1
    bounds = {}
    for name, windows in splits.items():
        valid = windows.valid_times
        bounds[name] = (valid.min(), valid.max())
        np.testing.assert_array_equal(
            np.diff(valid, axis=1), np.full((len(valid), 31), np.timedelta64(1, "h"))
        )
        # each window's values are the field's at its valid times
        for n in range(len(valid)):
            np.testing.assert_array_equal(windows.values[n], field.sel(time=valid[n]).values)
        np.testing.assert_array_equal(windows.hours, np.arange(-11, 21))
    assert bounds["train"][1] < bounds["val"][0] <= bounds["val"][1] < bounds["test"][0]


def test_split_errors(sources):
    field = loader.load_selection(sources["weatherbench"], EUROPE)
    with pytest.raises(ValueError, match=r"expects \(latitude, longitude\) = \(32, 64\).*\(6, 6\)"):
        loader.split_windows(field, {"train": ("2020-01-01", "2020-01-06")}, expected_grid=(32, 64))
    with pytest.raises(ValueError, match="overlap"):
        loader.split_windows(
            field, {"train": ("2020-01-01", "2020-01-02"), "test": ("2020-01-02", "2020-01-06")}
        )
    with pytest.raises(ValueError, match="fewer than one window of 32"):
        loader.split_windows(field, {"val": ("2020-01-03", "2020-01-03")})
