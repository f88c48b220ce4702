"""A data-file writer that keeps what an interrupted run wrote, so rerunning continues it.

Not a part of the paper's method; the data plumbing for long generations (40,000 Burgers
trajectories, 20,000 smoke episodes). :class:`ResumableWriter` writes the layout of
:mod:`wdno.io.hdf5` (same fields, attributes and coordinates) beside the target::

    <name>.partial          the HDF5 file being written: every dataset allocated in full when
                            it is created (contiguous, no fill), so a write never moves anything
    <name>.partial.json     the settings it was started with and the samples written so far
                            (recorded only after the HDF5 file was flushed), with a checksum of
                            the last batch
    <name>.lock             the writing process (:mod:`wdno.io.lock`; one writer at a time)

An interrupted run (Ctrl-C, SIGTERM, SIGKILL, a crash) leaves them; opening the same target
with the same settings continues after the recorded samples, and a batch that was being written
is simply written again. Because nothing is allocated after creation, the completed file is the
same, byte for byte, as one written without interruption (given the same batches). Other
settings are refused (``FileExistsError``) unless ``overwrite``; a partial file that does not
verify (unreadable, wrong layout, last batch not as recorded) is discarded and started again.
When the last sample is in, ``complete`` is set and the file is renamed to the target.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pathlib
from collections.abc import Mapping, Sequence

import h5py
import numpy as np

from wdno.io import atomic
from wdno.io import lock as locks
from wdno.io.hdf5 import FORMAT, FORMAT_VERSION, Coordinate, Field, _attrs_for

__all__ = ["ResumableWriter", "partial_paths"]


def partial_paths(path) -> tuple[pathlib.Path, pathlib.Path, pathlib.Path]:
    """``(<path>.partial, <path>.partial.json, <path>.lock)``."""
    path = pathlib.Path(path)
    suffixes = (".partial", ".partial.json", ".lock")
    return tuple(path.with_name(path.name + suffix) for suffix in suffixes)


def _plain(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def _identity(num_samples, fields, coordinates, attrs, batch_size) -> dict:
    """What must match for a partial file to be continued (JSON-normal)."""
    identity = {
        "num_samples": int(num_samples),
        "batch_size": batch_size,
        "fields": [[f.name, list(f.shape), f.dtype] for f in fields],
        "coordinates": {
            c.name: hashlib.sha256(np.ascontiguousarray(c.values).tobytes()).hexdigest()
            for c in coordinates
        },
        "attrs": dict(attrs),
    }
    return json.loads(json.dumps(identity, default=_plain))


def _differences(then: dict, now: dict) -> list[str]:
    flat = lambda d: {**{k: v for k, v in d.items() if k != "attrs"}, **d.get("attrs", {})}
    then, now = flat(then), flat(now)
    return [
        f"{key} {then.get(key)!r} then, {now.get(key)!r} now"
        for key in sorted(set(then) | set(now))
        if then.get(key) != now.get(key)
    ]


def _checksum(batch: Mapping[str, np.ndarray], names) -> str:
    digest = hashlib.sha256()
    for name in names:
        digest.update(np.ascontiguousarray(batch[name]).tobytes())
    return digest.hexdigest()


class ResumableWriter:
    """Resumable writer of one data file; the interface of :class:`wdno.io.hdf5.Writer`.

    Args:
        path: the target file.
        num_samples: samples the file will hold.
        fields, coordinates, attrs: the layout (:mod:`wdno.io.hdf5`).
        overwrite: replace an existing target and discard a partial file.
        batch_size: the batch size of the appends, recorded with the settings (the same batches
            give the same bytes; a continuation with other batches is refused).

    Attributes:
        written: samples in the file; after opening, those kept from an interrupted run.
        note: a sentence when a partial file was discarded (unreadable or not as recorded).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        num_samples: int,
        fields: Sequence[Field],
        coordinates: Sequence[Coordinate],
        attrs: Mapping | None = None,
        overwrite: bool = False,
        *,
        batch_size: int | None = None,
    ):
        self.path = pathlib.Path(path)
        self.num_samples = int(num_samples)
        self.fields = {field.name: field for field in fields}
        self.partial, self.record_path, lock_path = partial_paths(self.path)
        self.written, self.note, self._file = 0, "", None
        if self.path.exists() and not overwrite:
            raise FileExistsError(
                f"{self.path} already exists (pass overwrite=True / --overwrite to replace it)"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = locks.hold(lock_path, what=str(self.path))
        self._lock.__enter__()
        self._locked = True
        try:
            attrs = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "num_samples": self.num_samples,
                "complete": False,
                **dict(attrs or {}),
            }
            self._identity = _identity(num_samples, fields, coordinates, attrs, batch_size)
            if overwrite:
                self._discard()
            self._open_partial()
            if self._file is None:
                self._discard()
                self._create(coordinates, attrs)
        except BaseException:
            self._suspend()
            raise

    # ---- opening -------------------------------------------------------------------------------
    def _open_partial(self) -> None:
        """Continue the partial file if it verifies; refuse one of other settings."""
        if not (self.partial.exists() and self.record_path.exists()):
            return
        try:
            record = json.loads(self.record_path.read_text())
            identity, written = record["identity"], int(record["written"])
        except (OSError, ValueError, KeyError, TypeError):
            self.note = f"discarded {self.partial}: its record is unreadable"
            return
        differences = _differences(identity, self._identity)
        if differences:
            raise FileExistsError(
                f"{self.partial} holds an interrupted run started with other settings "
                f"({'; '.join(differences)}): rerun with those settings to continue it, or "
                "pass overwrite=True / --overwrite to start again"
            )
        try:
            file = h5py.File(self.partial, "r+")
        except OSError as error:
            self.note = f"discarded {self.partial}: unreadable ({error})"
            return
        try:
            shapes_ok = all(
                name in file and file[name].shape == (self.num_samples, *field.shape)
                for name, field in self.fields.items()
            )
            check = record.get("check") or {}
            if not shapes_ok or not 0 <= written <= self.num_samples:
                self.note = f"discarded {self.partial}: its layout is not as recorded"
            elif check and _checksum(
                {name: file[name][check["start"] : check["stop"]] for name in self.fields},
                self.fields,
            ) != check.get("sha256"):
                self.note = f"discarded {self.partial}: its last batch is not as recorded"
            else:
                self._file, self.written = file, written
                return
        except (OSError, KeyError, TypeError) as error:
            self.note = f"discarded {self.partial}: unreadable ({error})"
        file.close()

    def _create(self, coordinates, attrs) -> None:
        file = self._file = h5py.File(self.partial, "w")
        file.attrs.update(attrs)
        for coordinate in coordinates:
            dataset = file.create_dataset(coordinate.name, data=np.asarray(coordinate.values))
            dataset.attrs.update(_attrs_for(coordinate))
        for field in self.fields.values():
            # Allocated in full now, never written as fill: later writes move nothing.
            creation = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
            creation.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
            creation.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
            dataset = file.create_dataset(
                field.name,
                shape=(self.num_samples, *field.shape),
                dtype=field.dtype,
                dcpl=creation,
            )
            dataset.attrs.update(_attrs_for(field))
        file.flush()
        self._record(None)

    def _record(self, check: dict | None) -> None:
        value = {"identity": self._identity, "written": self.written, "check": check}
        atomic.write_json(self.record_path, value)

    # ---- writing -------------------------------------------------------------------------------
    def append(self, batch: Mapping[str, np.ndarray]) -> None:
        """Write the next ``B`` samples (every field ``[B, *shape]``); recorded once flushed."""
        missing = set(self.fields) - set(batch)
        if missing:
            raise KeyError(f"{self.path}: batch lacks fields {sorted(missing)}")
        size = len(next(iter(batch.values())))
        if self.written + size > self.num_samples:
            raise ValueError(
                f"{self.path}: writing {size} samples after {self.written} exceeds "
                f"num_samples={self.num_samples}"
            )
        values = {}
        for name, field in self.fields.items():
            values[name] = np.asarray(batch[name], field.dtype)
            if values[name].shape != (size, *field.shape):
                raise ValueError(
                    f"{self.path}: field {name!r} expected shape {(size, *field.shape)}, "
                    f"got {values[name].shape}"
                )
        start = self.written
        for name, value in values.items():
            self._file[name][start : start + size] = value
        self._file.flush()
        self.written += size
        check = {"start": start, "stop": self.written, "sha256": _checksum(values, self.fields)}
        self._record(check)

    # ---- ending --------------------------------------------------------------------------------
    def _discard(self) -> None:
        for path in (self.partial, self.record_path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def _suspend(self) -> None:
        """Close, keeping the partial file and its record for a later run."""
        if self._file is not None:
            with contextlib.suppress(Exception):
                self._file.close()
            self._file = None
        self._unlock()

    def _unlock(self) -> None:
        if self._locked:
            self._locked = False
            self._lock.__exit__(None, None, None)

    def close(self) -> pathlib.Path:
        """Finish: every sample written, mark complete, rename into place."""
        if self.written != self.num_samples:
            self._suspend()
            raise RuntimeError(
                f"{self.path}: only {self.written} of {self.num_samples} samples written; kept "
                f"in {self.partial}"
            )
        self._file.attrs.modify("complete", True)  # in place: the same bytes as ever
        self._file.close()
        self._file = None
        os.replace(self.partial, self.path)
        self._discard()
        self._unlock()
        return self.path

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        if kind is None:
            self.close()
        else:
            self._suspend()
        return False
