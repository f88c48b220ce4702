"""The networks a checkpoint may hold, by kind: a model is saved as ``{"kind", "config"}`` and
rebuilt as ``cls(config, rngs=...)`` from this table, never by importing a class path read from a
file.

A user network joins with :func:`register` (a frozen config dataclass attribute ``config`` and a
constructor ``cls(config, *, rngs)`` are all it needs).
"""

from __future__ import annotations

import dataclasses

from flax import nnx

from wdno.io import configs
from wdno.nets.fno import FNO, FNOConfig
from wdno.nets.unet import UNet, UNetConfig

__all__ = ["NETWORKS", "build", "describe", "register"]

NETWORKS: dict[str, tuple[type, type]] = {"unet": (UNet, UNetConfig), "fno": (FNO, FNOConfig)}


def register(kind: str, module_class: type, config_class: type) -> None:
    """Make ``module_class(config_class(...), rngs=...)`` saveable under the name ``kind``."""
    if not dataclasses.is_dataclass(config_class):
        raise TypeError(f"register: {config_class.__name__} is not a dataclass")
    known = NETWORKS.get(kind)
    if known is not None and known != (module_class, config_class):
        raise ValueError(f"register: kind {kind!r} is already {known[0].__name__}")
    NETWORKS[kind] = (module_class, config_class)


def describe(model: nnx.Module) -> dict:
    """``{"kind", "config"}`` of a registered network (JSON-able)."""
    for kind, (module_class, _) in NETWORKS.items():
        if type(model) is module_class:
            return {"kind": kind, "config": configs.to_json(model.config)}
    raise ValueError(
        f"Cannot describe {type(model).__name__} for a checkpoint: register it with "
        f"wdno.nets.registry.register(kind, {type(model).__name__}, ConfigClass); known kinds: "
        f"{sorted(NETWORKS)}."
    )


def build(description: dict, *, abstract: bool = False, seed: int = 0) -> nnx.Module:
    """The network of a :func:`describe` dict (``abstract``: shapes only, no weights)."""
    kind = description.get("kind")
    if kind not in NETWORKS:
        raise ValueError(f"network kind: expected one of {sorted(NETWORKS)}, got {kind!r}")
    module_class, config_class = NETWORKS[kind]
    config = configs.from_json(config_class, description["config"])
    make = lambda: module_class(config, rngs=nnx.Rngs(seed))
    return nnx.eval_shape(make) if abstract else make()
