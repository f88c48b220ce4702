"""The HDF5 layout every system writes: field descriptions, an atomic writer, a lazy reader.

Not a part of the paper's method; the data plumbing around spec Sec. 8 (the original stores
pickled tensors). A system describes its arrays with :class:`Field` and :class:`Coordinate` and
hands them to :class:`Writer`; training code reads with :class:`Reader`, which also reads mapped
foreign files (:mod:`wdno.io.pdebench`).

HDF5 layout (``FORMAT = "wdno-data"``, ``FORMAT_VERSION = 1``)::

    /<field>              [N, *sample_shape]  one per stored quantity, e.g. Burgers u [N, 81, 120]
                          attrs: dims ("sample t x"), units, long_name
    /<coordinate>         [size]              1-D coordinates named in the fields' dims (t, x, ...)
                          attrs: dims (its own name), units, long_name
    /parameters/<name>    [N, ...]            optional per-sample physical parameters (same attrs)
    root attrs            format, format_version, num_samples, complete (True only once every
                          sample is written) and whatever the system adds (system, split, seed,
                          generator_version, physical constants, solver settings as JSON, ...)

API:
    Writer(path, num_samples, fields, coordinates, attrs, overwrite=False)
        context manager; ``append(batch)`` in sample order; writes ``.<name>.partial-<pid>``
        in the target directory and renames it to ``path`` only when every sample is in, so an
        interrupted run leaves no file that looks complete.
    Reader(path, expect=None)
        ``len(reader)``, ``reader[start:stop]`` / ``reader.read(start, stop, names=None)`` ->
        ``{name: np.ndarray}``, ``reader.fields``, ``reader.parameters``, ``reader.coords``,
        ``reader.attrs``; context manager. Arrays are read lazily, slice by slice; every read is
        checked for NaN/inf. ``expect={"u": (81, 120)}`` checks per-sample shapes at open time.

Bad files raise :class:`DataFileError` naming the file, the key, and what was expected (a missing
file: ``FileNotFoundError``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
from collections.abc import Mapping, Sequence

import h5py
import numpy as np

from wdno.io.atomic import atomic_path

FORMAT = "wdno-data"
FORMAT_VERSION = 1
PARAMETER_GROUP = "parameters"


class DataFileError(ValueError):
    """A data file is missing a key, has a wrong shape, or holds non-finite values."""


@dataclasses.dataclass(frozen=True)
class Field:
    """A per-sample array stored as ``[N, *shape]``.

    Attributes:
        name: HDF5 key (``"u"``; ``"parameters/<name>"`` for physical parameters).
        shape: per-sample shape.
        dims: names of the per-sample axes (the leading ``sample`` axis is implicit).
        units: CF-style units string (``"1"`` for dimensionless).
        long_name: human-readable description.
        dtype: stored dtype.
    """

    name: str
    shape: tuple[int, ...]
    dims: tuple[str, ...]
    units: str = "1"
    long_name: str = ""
    dtype: str = "float32"

    def __post_init__(self):
        if len(self.shape) != len(self.dims):
            raise ValueError(
                f"Field {self.name!r}: shape {self.shape} does not match dims {self.dims}"
            )


@dataclasses.dataclass(frozen=True, eq=False)
class Coordinate:
    """A 1-D coordinate (``t``, ``x``, ...) stored as its own dataset."""

    name: str
    values: np.ndarray
    units: str = "1"
    long_name: str = ""


def _attrs_for(item) -> dict:
    dims = " ".join(("sample", *item.dims)) if isinstance(item, Field) else item.name
    return {"dims": dims, "units": item.units, "long_name": item.long_name}


class Writer:
    """Chunked, atomic writer of one data file (see the module docstring for the layout)."""

    def __init__(
        self,
        path: str | os.PathLike,
        num_samples: int,
        fields: Sequence[Field],
        coordinates: Sequence[Coordinate],
        attrs: Mapping | None = None,
        overwrite: bool = False,
        chunk_samples: int = 64,
    ):
        self.path = pathlib.Path(path)
        self.num_samples = int(num_samples)
        self.fields = {field.name: field for field in fields}
        self._written = 0
        self._context = atomic_path(self.path, overwrite)
        self._temporary = self._context.__enter__()
        try:
            self._file = h5py.File(self._temporary, "w")
            self._file.attrs.update(
                {
                    "format": FORMAT,
                    "format_version": FORMAT_VERSION,
                    "num_samples": self.num_samples,
                    "complete": False,
                    **dict(attrs or {}),
                }
            )
            for coordinate in coordinates:
                dataset = self._file.create_dataset(
                    coordinate.name, data=np.asarray(coordinate.values)
                )
                dataset.attrs.update(_attrs_for(coordinate))
            for field in fields:
                chunks = (max(1, min(chunk_samples, self.num_samples)), *field.shape)
                dataset = self._file.create_dataset(
                    field.name,
                    shape=(self.num_samples, *field.shape),
                    dtype=field.dtype,
                    chunks=chunks,
                )
                dataset.attrs.update(_attrs_for(field))
        except BaseException:
            self._abort()
            raise

    def append(self, batch: Mapping[str, np.ndarray]) -> None:
        """Write the next ``B`` samples: ``batch`` maps every field name to ``[B, *shape]``."""
        missing = set(self.fields) - set(batch)
        if missing:
            raise KeyError(f"{self.path}: batch lacks fields {sorted(missing)}")
        size = len(next(iter(batch.values())))
        if self._written + size > self.num_samples:
            raise ValueError(
                f"{self.path}: writing {size} samples after {self._written} exceeds "
                f"num_samples={self.num_samples}"
            )
        for name, field in self.fields.items():
            values = np.asarray(batch[name])
            if values.shape != (size, *field.shape):
                raise ValueError(
                    f"{self.path}: field {name!r} expected shape {(size, *field.shape)}, "
                    f"got {values.shape}"
                )
            self._file[name][self._written : self._written + size] = values
        self._written += size

    def _abort(self):
        with contextlib.suppress(Exception):
            self._file.close()
        with contextlib.suppress(Exception):
            self._context.__exit__(RuntimeError, RuntimeError("aborted"), None)

    def close(self) -> pathlib.Path:
        """Finish: check that every sample was written, mark complete, rename into place."""
        if self._written != self.num_samples:
            self._abort()
            raise RuntimeError(
                f"{self.path}: only {self._written} of {self.num_samples} samples written"
            )
        self._file.attrs["complete"] = True
        self._file.close()
        self._context.__exit__(None, None, None)
        return self.path

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        if kind is None:
            self.close()
        else:
            self._abort()
        return False


class Reader:
    """Lazy reader of a data file written by :class:`Writer` (or mapped, e.g. PDEBench).

    Args:
        path: the HDF5 file.
        expect: optional ``{field: per-sample shape}``; ``None`` entries match any size.
        field_keys: optional ``{name: hdf5 key}`` of the fields (default: every dataset whose
            ``dims`` attribute starts with ``sample``).
        coordinate_keys: optional ``{name: hdf5 key}`` of the coordinates (default: every
            dataset named in the fields' dims).
        field_dims: axis names for fields whose dataset has no ``dims`` attribute.
    """

    def __init__(
        self,
        path,
        expect: Mapping[str, tuple] | None = None,
        field_keys: Mapping[str, str] | None = None,
        coordinate_keys: Mapping[str, str] | None = None,
        field_dims: Sequence[str] | None = None,
    ):
        self.path = pathlib.Path(path)
        self._field_dims = list(field_dims) if field_dims else None
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path} not found: expected an HDF5 data file")
        try:
            self._file = h5py.File(self.path, "r")
        except (OSError, FileNotFoundError) as error:
            raise DataFileError(f"{self.path}: cannot open as HDF5 ({error})") from error
        try:
            self._setup(expect, field_keys, coordinate_keys)
        except BaseException:
            self._file.close()
            raise

    def _setup(self, expect, field_keys, coordinate_keys):
        file = self._file
        if field_keys is None:
            if file.attrs.get("format") == FORMAT and not file.attrs.get("complete", False):
                raise DataFileError(
                    f"{self.path}: file is marked incomplete (an interrupted write?)"
                )
            field_keys = {
                k: k
                for k, v in file.items()
                if isinstance(v, h5py.Dataset) and _dims(v)[:1] == ["sample"]
            }
            parameters = file.get(PARAMETER_GROUP, {})
            self.parameters = tuple(f"{PARAMETER_GROUP}/{k}" for k in parameters)
        else:
            self.parameters = ()
        self._keys = dict(field_keys)
        for name in self.parameters:
            self._keys[name] = name
        for name, shape in (expect or {}).items():
            if name not in self._keys:
                raise DataFileError(
                    f"{self.path}: missing key {name!r}, expected a dataset of per-sample "
                    f"shape {shape} "
                    f"(found {sorted(self._keys)})"
                )
            actual = self._file[self._keys[name]].shape[1:]
            if len(actual) != len(shape) or any(
                e is not None and e != a for e, a in zip(shape, actual, strict=True)
            ):
                raise DataFileError(
                    f"{self.path}: key {self._keys[name]!r} has per-sample shape {actual}, "
                    f"expected {shape}"
                )
        self.fields = tuple(k for k in field_keys)
        if not self.fields:
            raise DataFileError(
                f"{self.path}: no sample fields found (datasets with dims 'sample ...')"
            )
        sizes = {name: self._file[key].shape[0] for name, key in self._keys.items()}
        if len(set(sizes.values())) != 1:
            raise DataFileError(f"{self.path}: fields disagree on the number of samples: {sizes}")
        self._length = next(iter(sizes.values()))
        if coordinate_keys is None:
            names = {d for key in self._keys.values() for d in _dims(self._file[key])[1:]}
            coordinate_keys = {n: n for n in sorted(names) if n in self._file}
        self._coordinate_keys = dict(coordinate_keys)
        self.coords = {}
        for name, key in coordinate_keys.items():
            if key not in self._file:
                raise DataFileError(f"{self.path}: missing coordinate key {key!r}")
            self.coords[name] = np.asarray(self._file[key][...])
        self.attrs = dict(self._file.attrs)

    def __len__(self) -> int:
        return self._length

    def dims(self, name: str) -> list[str]:
        """Axis names of ``name`` (``["sample", ...]``; generic names if the file has none)."""
        dataset = self._file[self._keys[name]]
        if _dims(dataset):
            return _dims(dataset)
        if self._field_dims and len(self._field_dims) == dataset.ndim:
            return list(self._field_dims)
        return ["sample"] + [f"axis_{i}" for i in range(1, dataset.ndim)]

    def info(self, name: str) -> dict:
        """``units`` and ``long_name`` of a field or coordinate (empty strings if absent)."""
        dataset = self._file[self._keys.get(name) or self._coordinate_keys[name]]
        return {k: _text(dataset.attrs.get(k, "")) for k in ("units", "long_name")}

    def read(
        self, start: int = 0, stop: int | None = None, names: Sequence[str] | None = None
    ) -> dict:
        """Samples ``[start, stop)`` of ``names`` (default: all fields) as ``{name: array}``."""
        start, stop, _ = slice(start, stop).indices(self._length)
        batch = {}
        for name in names or self.fields:
            if name not in self._keys:
                raise KeyError(f"{self.path}: no field {name!r} (fields: {sorted(self._keys)})")
            values = np.asarray(self._file[self._keys[name]][start:stop])
            if values.dtype.kind == "f" and not np.all(np.isfinite(values)):
                bad = start + np.flatnonzero(
                    ~np.isfinite(values.reshape(len(values), -1)).all(axis=1)
                )
                raise DataFileError(
                    f"{self.path}: key {self._keys[name]!r} holds NaN/inf in samples "
                    f"{bad[:10].tolist()}, "
                    "expected finite values"
                )
            batch[name] = values
        return batch

    def __getitem__(self, index):
        if isinstance(index, slice):
            if index.step not in (None, 1):
                raise ValueError("Reader slicing supports step 1 only")
            return self.read(index.start or 0, index.stop)
        index = int(index) + (self._length if int(index) < 0 else 0)
        if not 0 <= index < self._length:
            raise IndexError(f"{self.path}: sample {index} out of range [0, {self._length})")
        return {k: v[0] for k, v in self.read(index, index + 1).items()}

    def close(self):
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _dims(dataset) -> list[str]:
    return _text(dataset.attrs.get("dims", "")).split()
