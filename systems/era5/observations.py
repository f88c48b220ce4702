"""Sparse observations of the forecast window, for guided forecasting (data assimilation).

Stations are a fixed set of grid points (:func:`choose_stations`: a seeded random fraction of
the grid, 1 % by default, at least one), observed every hour of the forecast window; the past
hours are known to the model anyway and carry no observations (:func:`observation_mask`).
:func:`observe` takes the truth at the observed entries, optionally with Gaussian noise.
:func:`misfit` is the guidance objective of one forecast,

    J(u) = sum_{t, j, k, f} m (u - y)^2 / sum m,

the mean squared misfit over the observed entries (``m`` the mask, ``y`` the observations), in
the objective form of :mod:`wdno.control.evaluation`. :func:`lead_rmse` scores forecasts per lead
time at the unobserved and at the observed points separately (latitude-weighted RMSE,
:func:`wdno.evaluation.metrics.latitude_weighted_rmse`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from wdno.evaluation import metrics

__all__ = ["choose_stations", "lead_rmse", "misfit", "observation_mask", "observe"]


def choose_stations(grid_shape, fraction: float = 0.01, *, seed: int = 0) -> np.ndarray:
    """``(lat, lon)`` bool: ``max(1, round(fraction * lat * lon))`` distinct grid points drawn
    uniformly at random (``numpy.random.default_rng(seed)``); same seed, same stations."""
    grid_shape = tuple(int(n) for n in grid_shape)
    if len(grid_shape) != 2 or min(grid_shape) < 1:
        raise ValueError(f"choose_stations: expected a (lat, lon) grid shape, got {grid_shape}")
    if not 0 < fraction <= 1:
        raise ValueError(f"choose_stations: fraction must be in (0, 1], got {fraction}")
    size = grid_shape[0] * grid_shape[1]
    count = max(1, int(round(fraction * size)))
    chosen = np.random.default_rng(seed).choice(size, count, replace=False)
    stations = np.zeros(size, bool)
    stations[chosen] = True
    return stations.reshape(grid_shape)


def observation_mask(stations, num_times: int, past: int, num_fields: int = 1) -> np.ndarray:
    """``(T, lat, lon, F)`` float32, 1 at the stations in the forecast hours ``past .. T - 1``,
    0 elsewhere (the ``past`` known hours included)."""
    stations = np.asarray(stations, bool)
    if stations.ndim != 2:
        raise ValueError(f"observation_mask: stations must be (lat, lon), got {stations.shape}")
    if not 0 <= past < num_times:
        raise ValueError(f"observation_mask: expected 0 <= past < {num_times}, got {past}")
    mask = np.zeros((num_times, *stations.shape, num_fields), np.float32)
    mask[past:] = stations[None, :, :, None]
    return mask


def observe(truth, mask, *, noise_std: float = 0.0, seed: int = 0) -> np.ndarray:
    """Observations ``(N, T, lat, lon, F)``: the truth plus ``noise_std`` (kelvin) times standard
    Gaussian noise (``default_rng(seed)``) where ``mask`` (``(T, lat, lon, F)``) is 1, else 0."""
    truth = np.asarray(truth, np.float32)
    mask = np.asarray(mask, np.float32)
    if truth.shape[1:] != mask.shape:
        raise ValueError(
            f"observe: truth {truth.shape} and mask {mask.shape} differ after the sample axis"
        )
    if not noise_std >= 0:
        raise ValueError(f"observe: noise_std must be >= 0 (kelvin), got {noise_std}")
    noise = np.random.default_rng(seed).standard_normal(truth.shape).astype(np.float32)
    return (mask * (truth + noise_std * noise)).astype(np.float32)


def misfit(state: jax.Array, control: jax.Array, given: dict) -> jax.Array:
    """The guidance objective of one forecast: the mean squared misfit (K²) over the observed
    entries, ``sum m (u - y)^2 / max(sum m, 1)``; ``given["observations"]`` (``y``) and
    ``given["observation_mask"]`` (``m``) have the state's shape ``(T, lat, lon, F)``."""
    del control
    mask = given["observation_mask"]
    squared = mask * jnp.square(state - given["observations"])
    return jnp.sum(squared) / jnp.maximum(jnp.sum(mask), 1.0)


def lead_rmse(prediction, truth, latitude, stations, past: int) -> dict[str, np.ndarray]:
    """Latitude-weighted RMSE per lead time (frames ``past ..``), ``(L,)`` each, at the
    ``"unobserved"`` points (not stations) and the ``"observed"`` ones (stations), against the
    truth; ``prediction``, ``truth``: ``(N, T, lat, lon, F)``, ``stations``: ``(lat, lon)``."""
    stations = np.asarray(stations, bool)
    prediction = np.asarray(prediction)[:, past:]
    truth = np.asarray(truth)[:, past:]
    if prediction.ndim != 5 or stations.shape != prediction.shape[2:4]:
        raise ValueError(
            f"lead_rmse: expected (N, T, lat, lon, F) forecasts and (lat, lon) stations, got "
            f"{prediction.shape} and {stations.shape}"
        )
    result = {}
    for name, points in (("unobserved", ~stations), ("observed", stations)):
        rmse = metrics.latitude_weighted_rmse(prediction, truth, latitude, mask=points[..., None])
        result[name] = np.asarray(rmse, np.float64)
    return result
