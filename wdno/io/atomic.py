"""Atomic file writes: a reader (or a crashed writer) never leaves or sees half a file.

Everything wdno writes (data sets, run records, predictions, metrics, normalisers) goes through
:func:`atomic_path`: the content is written to a temporary file beside the target, which is
renamed over the target only when the write succeeded.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib

__all__ = ["atomic_path", "write_json", "write_text"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, overwrite: bool = False):
    """Yield a temporary path beside ``path``; rename it to ``path`` if the block succeeds.

    Raises ``FileExistsError`` up front if ``path`` exists and ``overwrite`` is false. On an
    exception the temporary file is removed and ``path`` is left untouched.
    """
    path = pathlib.Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(
            f"{path} already exists (pass overwrite=True / --overwrite to replace it)"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError as error:  # a file where a directory should be
        raise NotADirectoryError(
            f"cannot write {path}: {error.filename} is a file, not a directory"
        ) from error
    temporary = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()


def write_text(path: str | os.PathLike, text: str) -> pathlib.Path:
    """Write ``text`` to ``path`` atomically (replacing it)."""
    with atomic_path(path, overwrite=True) as temporary:
        pathlib.Path(temporary).write_text(text)
    return pathlib.Path(path)


def write_json(path: str | os.PathLike, value) -> pathlib.Path:
    """Write ``value`` as indented JSON to ``path`` atomically (replacing it)."""
    return write_text(path, json.dumps(value, indent=1) + "\n")
