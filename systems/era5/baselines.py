"""Forecasts that need no training: persistence and climatology (WeatherBench's reference rows).

Persistence repeats the last known hour; climatology predicts the training period's mean, by hour
of day (the diurnal cycle) or overall. Both act on windows ``(N, past + future, lat, lon[, F])``
or on past frames and valid times, and return the ``future`` frames ``(N, future, lat, lon[, F])``.
The climatology is fitted on the training split's frames, each hour once (:func:`unique_frames`:
its windows overlap).
"""

from __future__ import annotations

import numpy as np

__all__ = ["climatology_forecast", "fit_climatology", "persistence", "unique_frames"]


def persistence(past: np.ndarray, future: int) -> np.ndarray:
    """``past (N, P, ...)`` -> ``(N, future, ...)``: the last known frame, repeated."""
    past = np.asarray(past)
    if past.ndim < 2 or past.shape[1] < 1:
        raise ValueError(f"persistence: expected past frames (N, P >= 1, ...), got {past.shape}")
    return np.repeat(past[:, -1:], future, axis=1)


def unique_frames(values: np.ndarray, valid_times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Overlapping windows to a series: each valid time once, in time order.

    Args:
        values: ``(N, L, ...)`` windows.
        valid_times: ``(N, L)`` datetime64, the time of every frame.

    Returns:
        ``(frames (T, ...), times (T,))``; where windows overlap, the first window's frame.
    """
    values, valid_times = np.asarray(values), np.asarray(valid_times)
    if values.shape[:2] != valid_times.shape:
        raise ValueError(
            f"unique_frames: windows {values.shape} and valid times {valid_times.shape} do not "
            "match on (N, L)"
        )
    times, first = np.unique(valid_times.reshape(-1), return_index=True)
    return values.reshape(-1, *values.shape[2:])[first], times


def fit_climatology(values: np.ndarray, times: np.ndarray, *, by_hour: bool = True) -> np.ndarray:
    """Mean of a training period: ``(24, ...)`` by UTC hour of day, or ``(1, ...)`` overall.

    Args:
        values: ``(T, ...)`` frames (e.g. the loaded training field, or the training windows
            flattened to frames, duplicates included).
        times: ``(T,)`` datetime64 of the frames.
        by_hour: one mean per hour of day (every hour must occur), else a single mean.
    """
    values = np.asarray(values, np.float64)
    times = np.asarray(times)
    if len(values) != len(times) or not len(values):
        raise ValueError(
            f"fit_climatology: {len(values)} frames and {len(times)} times; expected equal, > 0"
        )
    if not by_hour:
        return values.mean(axis=0, keepdims=True).astype(np.float32)
    hour = _hour_of_day(times)
    missing = sorted(set(range(24)) - set(hour.tolist()))
    if missing:
        raise ValueError(f"fit_climatology: no training frames at hours {missing} (UTC)")
    return np.stack([values[hour == h].mean(axis=0) for h in range(24)]).astype(np.float32)


def climatology_forecast(climatology: np.ndarray, valid_times: np.ndarray) -> np.ndarray:
    """The climatology at each valid time: ``(N, L)`` datetime64 -> ``(N, L, ...)``."""
    climatology = np.asarray(climatology)
    valid_times = np.asarray(valid_times)
    if len(climatology) == 1:
        return np.broadcast_to(climatology[0], (*valid_times.shape, *climatology.shape[1:])).copy()
    if len(climatology) != 24:
        raise ValueError(f"climatology_forecast: expected 1 or 24 entries, got {len(climatology)}")
    return climatology[_hour_of_day(valid_times)]


def _hour_of_day(times: np.ndarray) -> np.ndarray:
    return np.asarray(times).astype("datetime64[h]").astype(np.int64) % 24
