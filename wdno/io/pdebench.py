"""Reading PDEBench 1-D files as wdno data (data plumbing around spec Sec. 8, not the method).

PDEBench stores one HDF5 file per equation with its own key names; :func:`open_pdebench`
maps them onto a :class:`~wdno.io.hdf5.Reader` with fields ``[N, T, X]`` and coordinates ``t``,
``x``.
"""

from __future__ import annotations

import pathlib

import h5py

from wdno.io.hdf5 import DataFileError, Reader

PDEBENCH_LAYOUTS = (
    {"u": "tensor"},
    {"density": "density", "velocity": "Vx", "pressure": "pressure"},
)


def open_pdebench(path) -> Reader:
    """A :class:`Reader` over a PDEBench 1-D file (fields ``[N, T, X]``, coordinates ``t``, ``x``).

    Advection/Burgers files hold ``tensor`` (read as ``u``); compressible NS files hold
    ``density``, ``Vx`` (read as ``velocity``) and ``pressure``. Both hold ``x-coordinate``
    [X] and ``t-coordinate`` ([T], or [T + 1] with the last entry dropped, as published).
    """
    path = pathlib.Path(path)
    with h5py.File(path, "r") as file:
        keys = set(file.keys())
        layout = next((lay for lay in PDEBENCH_LAYOUTS if set(lay.values()) <= keys), None)
        if layout is None:
            raise DataFileError(
                f"{path}: not a PDEBench 1-D file: expected key 'tensor' or keys "
                f"'density', 'Vx', 'pressure', found {sorted(keys)}"
            )
        for key in ("x-coordinate", "t-coordinate"):
            if key not in keys:
                raise DataFileError(f"{path}: missing key {key!r}, expected a 1-D coordinate")
        shapes = {key: file[key].shape for key in layout.values()}
        num_x, num_t = file["x-coordinate"].shape[0], file["t-coordinate"].shape[0]
    for key, shape in shapes.items():
        if len(shape) != 3 or shape[2] != num_x or shape[1] not in (num_t, num_t - 1):
            raise DataFileError(
                f"{path}: key {key!r} has shape {shape}, expected [N, T, X] with X = {num_x} "
                f"(x-coordinate) and T = {num_t} or {num_t - 1} (t-coordinate)"
            )
    reader = Reader(
        path,
        field_keys=layout,
        coordinate_keys={"t": "t-coordinate", "x": "x-coordinate"},
        field_dims=("sample", "t", "x"),
    )
    reader.coords["t"] = reader.coords["t"][: next(iter(shapes.values()))[1]]
    return reader


TEST_FRACTION = 0.1  # PDEBench's test_ratio: a single file's last 10 % is its test split


def split_file(data_dir, split: str) -> pathlib.Path:
    """``<data_dir>/<split>.hdf5``, or ``data_dir`` itself when it is one (PDEBench) file."""
    data_dir = pathlib.Path(data_dir)
    return data_dir if data_dir.is_file() else data_dir / f"{split}.hdf5"


def split_range(
    data_dir, split: str, limit: int | None, hint: str
) -> tuple[pathlib.Path, int, int]:
    """``(path, start, stop)`` of the first ``limit`` trajectories of ``split``: the whole
    ``<split>.hdf5`` of a data directory, or, for one PDEBench file, its first 90 % (train) or the
    rest (test). ``hint`` says how to make a missing file."""
    path = split_file(data_dir, split)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; {hint}, or pass a PDEBench file")
    with open_pdebench(path) as reader:
        total = len(reader)
    start, stop = 0, total
    if pathlib.Path(data_dir).is_file():
        boundary = int(total * (1 - TEST_FRACTION))
        start, stop = (0, boundary) if split == "train" else (boundary, total)
    if limit is not None:
        if limit > stop - start:
            raise ValueError(f"{path} holds {stop - start} {split} trajectories, {limit} requested")
        stop = start + limit
    return path, start, stop
