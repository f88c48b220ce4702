"""wdno.data: HDF5 round trip, atomic writes, error messages, PDEBench files, NetCDF export."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from wdno.io import data


def _layout():
    fields = [
        data.Field("u", (3, 4), ("t", "x"), "m s-1", "velocity"),
        data.Field("parameters/amplitude", (2,), ("mode",), "1", "amplitudes"),
    ]
    coordinates = [
        data.Coordinate("t", np.linspace(0, 1, 3), "s", "time"),
        data.Coordinate("x", np.linspace(0, 1, 4), "m", "position"),
    ]
    return fields, coordinates


def _write(path, num=10, batch=4, **kwargs):
    fields, coordinates = _layout()
    values = np.arange(num * 12, dtype=np.float32).reshape(num, 3, 4)
    amplitude = np.arange(num * 2, dtype=np.float32).reshape(num, 2)
    with data.Writer(
        path, num, fields, coordinates, {"seed": 3, "system": "toy"}, **kwargs
    ) as writer:
        for start in range(0, num, batch):
            writer.append(
                {
                    "u": values[start : start + batch],
                    "parameters/amplitude": amplitude[start : start + batch],
                }
            )
    return values, amplitude


def test_round_trip_and_lazy_slices(tmp_path):
    path = tmp_path / "toy.h5"
    values, amplitude = _write(path)
    with data.Reader(path, expect={"u": (3, 4)}) as reader:
        assert len(reader) == 10 and reader.fields == ("u",)
        assert reader.attrs["seed"] == 3 and reader.attrs["complete"]
        np.testing.assert_array_equal(reader[2:5]["u"], values[2:5])
        np.testing.assert_array_equal(
            reader.read(7, 10, ["parameters/amplitude"])["parameters/amplitude"], amplitude[7:]
        )
        np.testing.assert_array_equal(reader[-1]["u"], values[-1])
        np.testing.assert_array_equal(reader.coords["x"], np.linspace(0, 1, 4))
        assert reader.dims("u") == ["sample", "t", "x"] and reader.info("x")["units"] == "m"
    assert [p.name for p in tmp_path.iterdir()] == ["toy.h5"]  # no temporary left


def test_writes_are_atomic(tmp_path):
    path = tmp_path / "toy.h5"
    fields, coordinates = _layout()
    with pytest.raises(RuntimeError, match="boom"):
        with data.Writer(path, 4, fields, coordinates) as writer:
            writer.append({"u": np.zeros((2, 3, 4)), "parameters/amplitude": np.zeros((2, 2))})
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError, match="only 2 of 4"):
        with data.Writer(path, 4, fields, coordinates) as writer:
            writer.append({"u": np.zeros((2, 3, 4)), "parameters/amplitude": np.zeros((2, 2))})
    assert list(tmp_path.iterdir()) == []
    _write(path)
    with pytest.raises(FileExistsError, match="overwrite"):
        _write(path)
    _write(path, overwrite=True)


def test_bad_files_name_the_file_key_and_expectation(tmp_path):
    path = tmp_path / "toy.h5"
    _write(path)
    with pytest.raises(data.DataFileError, match=r"toy\.h5.*missing key 'f'.*\(80, 120\)"):
        data.Reader(path, expect={"f": (80, 120)})
    with pytest.raises(data.DataFileError, match=r"toy\.h5.*'u'.*\(3, 4\), expected \(81, 120\)"):
        data.Reader(path, expect={"u": (81, 120)})
    with h5py.File(path, "a") as file:
        file["u"][5, 1, 2] = np.nan
    with data.Reader(path) as reader:
        reader.read(0, 5)
        with pytest.raises(data.DataFileError, match=r"toy\.h5.*'u'.*NaN.*\[5\].*finite"):
            reader.read(0, 10)
    with h5py.File(path, "a") as file:
        file.attrs["complete"] = False
    with pytest.raises(data.DataFileError, match="incomplete"):
        data.Reader(path)


def _pdebench_file(path, kind, num=3, num_t=5, num_x=8):
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as file:
        file["x-coordinate"] = np.linspace(0, 1, num_x)
        file["t-coordinate"] = np.linspace(0, 2, num_t + 1)  # published files have T + 1 entries
        keys = ["tensor"] if kind == "advection" else ["density", "Vx", "pressure"]
        arrays = {key: rng.normal(size=(num, num_t, num_x)).astype(np.float32) for key in keys}
        for key, value in arrays.items():
            file[key] = value
    return arrays


def test_pdebench_reader(tmp_path):
    arrays = _pdebench_file(tmp_path / "adv.hdf5", "advection")
    with data.open_pdebench(tmp_path / "adv.hdf5") as reader:
        assert len(reader) == 3 and reader.fields == ("u",)
        np.testing.assert_array_equal(reader[1:3]["u"], arrays["tensor"][1:3])
        assert reader.coords["t"].shape == (5,) and reader.coords["x"].shape == (8,)
        dataset = data.to_xarray(reader)
        assert dataset["u"].dims == ("sample", "t", "x")
    arrays = _pdebench_file(tmp_path / "cfd.hdf5", "cfd")
    with data.open_pdebench(tmp_path / "cfd.hdf5") as reader:
        assert reader.fields == ("density", "velocity", "pressure")
        np.testing.assert_array_equal(reader[0]["velocity"], arrays["Vx"][0])
    with h5py.File(tmp_path / "cfd.hdf5", "a") as file:
        del file["pressure"]
        file["pressure"] = np.zeros((3, 5, 7))
    with pytest.raises(data.DataFileError, match=r"cfd\.hdf5.*'pressure'.*\(3, 5, 7\).*X = 8"):
        data.open_pdebench(tmp_path / "cfd.hdf5")
    with h5py.File(tmp_path / "other.hdf5", "w") as file:
        file["something"] = np.zeros(3)
    with pytest.raises(data.DataFileError, match=r"other\.hdf5.*'tensor'"):
        data.open_pdebench(tmp_path / "other.hdf5")


def test_netcdf_export_opens_with_xarray(tmp_path):
    import xarray as xr

    values, amplitude = _write(tmp_path / "toy.h5")
    data.export_netcdf(tmp_path / "toy.h5", tmp_path / "toy.nc", chunk_samples=3)
    with xr.open_dataset(tmp_path / "toy.nc") as dataset:
        assert dataset["u"].dims == ("sample", "t", "x")
        assert dataset["u"].attrs["units"] == "m s-1" and dataset["x"].attrs["units"] == "m"
        np.testing.assert_array_equal(dataset["u"].values, values)
        np.testing.assert_array_equal(dataset["amplitude"].values, amplitude)
        assert dataset.attrs["seed"] == 3
    with pytest.raises(FileExistsError):
        data.export_netcdf(tmp_path / "toy.h5", tmp_path / "toy.nc")
