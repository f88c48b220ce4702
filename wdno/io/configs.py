"""Frozen configuration dataclasses to and from JSON (run records, checkpoints, simulators).

Configs are typed, immutable Python (STYLE.md); on disk they are plain JSON objects, and a reader
rebuilds them from the dataclass type it expects, never from a class path stored in the file.
"""

from __future__ import annotations

import dataclasses
import types
import typing

__all__ = ["from_json", "to_json"]


def to_json(value):
    """A JSON-able copy of ``value``: dataclasses become dicts, tuples lists (recursively)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value


def _dataclass_in(hint):
    """The dataclass named by a type hint (``C``, ``C | None``), or None."""
    if dataclasses.is_dataclass(hint):
        return hint
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        found = [a for a in typing.get_args(hint) if dataclasses.is_dataclass(a)]
        return found[0] if len(found) == 1 else None
    return None


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def from_json(cls, data: dict):
    """Rebuild the frozen dataclass ``cls`` from :func:`to_json`'s dict.

    Nested dataclass fields are rebuilt from their type hints, lists become tuples, and keys the
    dataclass does not have are rejected (a file written by another version says so clearly).
    """
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__}: expected a JSON object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(
            f"{cls.__name__}: unknown fields {unknown}; expected some of {sorted(names)}"
        )
    values = {}
    for name, value in data.items():
        nested = _dataclass_in(hints.get(name))
        if nested is not None and isinstance(value, dict):
            value = from_json(nested, value)
        values[name] = _tuples(value)
    return cls(**values)
