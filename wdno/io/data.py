"""Trajectory data files: the HDF5 layout every system writes, a lazy reader, NetCDF export.

Not a part of the paper's method; the data plumbing around spec Sec. 8 (the original stores
pickled tensors). System-agnostic: a system describes its arrays with :class:`Field` and
:class:`Coordinate` and hands them to :class:`Writer`; training code reads with :class:`Reader`.

The parts, one module each, re-exported here: :mod:`wdno.io.hdf5` (the HDF5 layout, with
:class:`Writer` and :class:`Reader`), :mod:`wdno.io.pdebench` (PDEBench files) and
:mod:`wdno.io.netcdf` (xarray and NetCDF export).

API:
    Writer(path, num_samples, fields, coordinates, attrs, overwrite=False)
        context manager; ``append(batch)`` in sample order; writes ``.<name>.partial-<pid>``
        in the target directory and renames it to ``path`` only when every sample is in, so an
        interrupted run leaves no file that looks complete.
    ResumableWriter(path, num_samples, fields, coordinates, attrs, overwrite=False, batch_size=)
        the same file, written through ``<name>.partial``: an interrupted run keeps its batches
        and rerunning continues them, giving the same bytes (:mod:`wdno.io.resumable`).
    Reader(path, expect=None)
        ``len(reader)``, ``reader[start:stop]`` / ``reader.read(start, stop, names=None)`` ->
        ``{name: np.ndarray}``, ``reader.fields``, ``reader.parameters``, ``reader.coords``,
        ``reader.attrs``; context manager. Arrays are read lazily, slice by slice; every read is
        checked for NaN/inf. ``expect={"u": (81, 120)}`` checks per-sample shapes at open time.
    open_pdebench(path)          a Reader over a PDEBench 1-D file (advection/Burgers ``tensor``;
                                 compressible NS ``density``, ``Vx``, ``pressure``).
    to_xarray(reader_or_path, start=0, stop=None)   an in-memory ``xarray.Dataset``.
    export_netcdf(source, target, overwrite=False)  chunked, atomic CF-style NetCDF4 copy.

Bad files raise :class:`DataFileError` naming the file, the key, and what was expected.
"""

from __future__ import annotations

from wdno.io.hdf5 import (
    FORMAT,
    FORMAT_VERSION,
    Coordinate,
    DataFileError,
    Field,
    Reader,
    Writer,
    atomic_path,
)
from wdno.io.netcdf import export_netcdf, to_xarray
from wdno.io.pdebench import open_pdebench
from wdno.io.resumable import ResumableWriter, partial_paths

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "Coordinate",
    "DataFileError",
    "Field",
    "Reader",
    "ResumableWriter",
    "Writer",
    "atomic_path",
    "export_netcdf",
    "open_pdebench",
    "partial_paths",
    "to_xarray",
]
