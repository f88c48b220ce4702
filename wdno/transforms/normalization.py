"""Per-channel normalisation of encoded trajectories, fitted on the training set (spec §3.5).

Each channel of the encoded tensor (:mod:`wdno.transforms.encoding`) is divided by a scale from
the training set: the maximum absolute value, so training data lie in [-1, 1], which the sampler's
clipping of the predicted clean sample relies on (spec pitfall 7). Optional headroom (a factor on
the maximum) keeps test data above the training maximum from being clipped at every sampling step;
the original's rule ``int(max) + 1`` (``round_up``) also keeps tiny detail bands from being
stretched to [-1, 1]. Scales are data, stored with the model, never hard-coded.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

from wdno.io import atomic

__all__ = [
    "SCALE_FLOOR",
    "Normalizer",
    "channel_max_abs",
    "fit_channel_scales",
    "scales_from_max",
]

SCALE_FLOOR = 1e-6  # smallest normalisation scale: an all-zero channel stays finite
BATCH = 256  # samples reduced per call


def channel_max_abs(values, *, batch_size: int = BATCH) -> np.ndarray:
    """Max |value| per channel (last axis) of a ``(N, ..., C)`` array or an iterable of batches."""
    if isinstance(values, np.ndarray | jax.Array):
        array = values
        values = (array[i : i + batch_size] for i in range(0, len(array), batch_size))
    result = None
    for batch in values:
        batch = jnp.asarray(batch)
        found = np.asarray(jnp.max(jnp.abs(batch), axis=tuple(range(batch.ndim - 1))))
        result = found if result is None else np.maximum(result, found)
    if result is None:
        raise ValueError("channel_max_abs: no data")
    return result.astype(np.float64)


def scales_from_max(max_abs, *, headroom: float = 1.0, round_up: bool = False) -> np.ndarray:
    """Normalisation scales from per-channel max |value| of the training set (spec §3.5).

    Args:
        max_abs: ``(C,)`` max |value| per channel.
        headroom: factor >= 1 on the maximum, so test data above the training maximum are not
            clipped at every sampling step (1: the exact maximum).
        round_up: the original's rule, ``int(max) + 1``: every scale an integer >= 1, so small
            detail bands are not stretched to [-1, 1]; applied after ``headroom``.
    """
    if headroom < 1.0:
        raise ValueError(f"scale headroom: expected >= 1, got {headroom}")
    scale = np.asarray(max_abs, np.float64) * headroom
    if round_up:
        scale = np.floor(scale) + 1.0
    return np.maximum(scale, SCALE_FLOOR).astype(np.float32)


def fit_channel_scales(
    layout, encoded_batches, *, headroom: float = 1.0, round_up: bool = False
) -> np.ndarray:
    """Per-channel scales of encoded training data for a :class:`~wdno.transforms.encoding.
    TrajectoryLayout` (:func:`scales_from_max`)."""
    max_abs = channel_max_abs(encoded_batches)
    if max_abs.shape != (layout.num_channels,):
        raise ValueError(
            f"fit_channel_scales: {max_abs.shape[0]} channels, layout has {layout.num_channels}"
        )
    return scales_from_max(max_abs, headroom=headroom, round_up=round_up)


@dataclasses.dataclass(frozen=True)
class Normalizer:
    """Per-channel scaling of the encoded tensor, fitted on the training set (spec Sec. 3.5)."""

    scale: np.ndarray  # (C,)

    def normalize(self, encoded: jax.Array) -> jax.Array:
        return encoded / jnp.asarray(self.scale, encoded.dtype)

    def denormalize(self, normalized: jax.Array) -> jax.Array:
        return normalized * jnp.asarray(self.scale, normalized.dtype)

    def save(self, path: str | pathlib.Path) -> None:
        atomic.write_json(path, {"scale": [float(s) for s in self.scale]})

    @classmethod
    def load(cls, path: str | pathlib.Path) -> Normalizer:
        data = json.loads(pathlib.Path(path).read_text())
        return cls(scale=np.asarray(data["scale"], dtype=np.float32))
