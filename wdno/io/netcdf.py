"""Export of data files to xarray and CF-style NetCDF4 (data plumbing around spec Sec. 8).

``to_xarray(reader_or_path, start=0, stop=None)`` gives an in-memory ``xarray.Dataset``;
``export_netcdf(source, target, overwrite=False)`` a chunked, atomic CF-style NetCDF4 copy.
``xarray``, ``netCDF4`` and ``tqdm`` are imported on first use.
"""

from __future__ import annotations

import pathlib

import numpy as np

from wdno.io.hdf5 import Reader, atomic_path


def to_xarray(source, start: int = 0, stop: int | None = None, parameters: bool = True):
    """Samples ``[start, stop)`` of a data file (path or :class:`Reader`) as an ``xarray.Dataset``.

    Dimensions ``sample`` plus the fields' own axes (``t``, ``x``, ...); coordinates carry
    ``units`` and ``long_name``; root attributes become dataset attributes.
    """
    import xarray as xr

    reader = source if isinstance(source, Reader) else Reader(source)
    try:
        start, stop, _ = slice(start, stop).indices(len(reader))
        names = list(reader.fields) + (list(reader.parameters) if parameters else [])
        batch = reader.read(start, stop, names)
        variables = {}
        for name in names:
            variables[name.split("/")[-1]] = (reader.dims(name), batch[name], reader.info(name))
        coords = {
            "sample": ("sample", np.arange(start, stop), {"long_name": "sample index in the file"})
        }
        for name, values in reader.coords.items():
            coords[name] = (name, values, reader.info(name))
        attrs = {"Conventions": "CF-1.8", **{k: _netcdf_attr(v) for k, v in reader.attrs.items()}}
        return xr.Dataset(variables, coords=coords, attrs=attrs)
    finally:
        if reader is not source:
            reader.close()


def _netcdf_attr(value):
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, bytes):
        return value.decode()
    return value


def export_netcdf(
    source, target, overwrite: bool = False, chunk_samples: int = 512, progress: bool = False
):
    """Copy a data file to CF-style NetCDF4, ``chunk_samples`` samples at a time, atomically.

    The result opens with ``xarray.open_dataset(target)`` with named dimensions and units.
    """
    import netCDF4
    import tqdm

    with Reader(source) as reader, atomic_path(target, overwrite) as temporary:
        first = to_xarray(reader, 0, min(1, len(reader)))
        with netCDF4.Dataset(temporary, "w", format="NETCDF4") as out:
            out.createDimension("sample", len(reader))
            for name, size in first.sizes.items():
                if name != "sample":
                    out.createDimension(name, size)
            for name, variable in first.coords.items():
                created = out.createVariable(name, variable.dtype, variable.dims)
                created.setncatts({k: v for k, v in variable.attrs.items() if v != ""})
                created[:] = np.arange(len(reader)) if name == "sample" else variable.values
            for name, variable in first.data_vars.items():
                chunks = (min(chunk_samples, max(1, len(reader))), *variable.shape[1:])
                created = out.createVariable(name, variable.dtype, variable.dims, chunksizes=chunks)
                created.setncatts({k: v for k, v in variable.attrs.items() if v != ""})
            out.setncatts(first.attrs)
            starts = range(0, len(reader), chunk_samples)
            for start in tqdm.tqdm(starts, desc="export", unit="chunk", disable=not progress):
                part = to_xarray(reader, start, start + chunk_samples)
                for name, variable in part.data_vars.items():
                    out[name][start : start + len(variable)] = variable.values
    return pathlib.Path(target)
