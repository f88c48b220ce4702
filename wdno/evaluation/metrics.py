"""Evaluation metrics for generated trajectories (paper Sec. 4 and App. metrics; spec §9).

The paper's simulation metric is the MSE over the whole generated trajectory excluding the given
initial state (Burgers: ``u[:, 1:]``); the 1-D compressible Navier-Stokes table adds MAE and the
maximum error, ERA5 adds the relative L2 error, and Fig. 6 plots the per-time-step MAE. A spectral
split of the squared error shows which spatial scales a model gets wrong.

Every function is system-agnostic and works on numpy or JAX arrays laid out channels-last,
``(N, t, [y,] x[, fields])``: axis 0 indexes samples and axis 1 is time. Shapes must match exactly
(no broadcasting), and a mismatch raises ``ValueError`` naming the function. Functions return JAX
scalars/arrays (usable under ``jit``); ``summarize`` converts to Python floats for tables.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import jax.numpy as jnp

__all__ = [
    "anomaly_correlation",
    "band_edges",
    "format_table",
    "latitude_weighted_rmse",
    "latitude_weights",
    "max_error",
    "mean_absolute_error",
    "nrmse",
    "per_time_mae",
    "relative_l2",
    "simulation_mse",
    "spectral_band_errors",
    "summarize",
]


def _prepare(pred, true, *, skip_initial: bool | int, where: str):
    """Checks shapes, converts to float arrays and drops the initial time level if asked
    (``skip_initial``: True or 1 drops ``t = 0``; an integer ``k`` drops the first ``k`` levels,
    the known past of a forecast)."""
    pred = jnp.asarray(pred)
    true = jnp.asarray(true)
    if pred.shape != true.shape:
        raise ValueError(
            f"{where}: pred and true must have the same shape, got pred {pred.shape} "
            f"and true {true.shape}."
        )
    if pred.ndim < 2:
        raise ValueError(
            f"{where}: expected arrays of shape (N, t, ...) with at least 2 axes, "
            f"got shape {pred.shape}."
        )
    skip = int(skip_initial)
    if skip:
        if pred.shape[1] < skip + 1:
            raise ValueError(
                f"{where}: skip_initial={skip_initial} needs at least {skip + 1} time levels on "
                f"axis 1, got shape {pred.shape}."
            )
        pred, true = pred[:, skip:], true[:, skip:]
    dtype = jnp.result_type(pred.dtype, true.dtype, jnp.float32)
    return pred.astype(dtype), true.astype(dtype)


def simulation_mse(pred, true, *, skip_initial: bool = True):
    """Mean squared error over all samples, generated time steps, positions and fields.

    Args:
        pred: predicted trajectories, shape ``(N, t, ...)``.
        true: reference trajectories, same shape.
        skip_initial: exclude time level 0 (the given initial state), as in the paper.

    Returns:
        Scalar ``mean((pred - true)**2)`` over ``[:, 1:]`` (or everything if not skipping).
    """
    pred, true = _prepare(pred, true, skip_initial=skip_initial, where="simulation_mse")
    return jnp.mean(jnp.square(pred - true))


def mean_absolute_error(pred, true, *, skip_initial: bool = True):
    """Mean absolute error, same conventions as `simulation_mse`. Returns a scalar."""
    pred, true = _prepare(pred, true, skip_initial=skip_initial, where="mean_absolute_error")
    return jnp.mean(jnp.abs(pred - true))


def max_error(pred, true, *, skip_initial: bool = True):
    """Maximum absolute error (L-infinity), conventions of `simulation_mse`. Returns a scalar."""
    pred, true = _prepare(pred, true, skip_initial=skip_initial, where="max_error")
    return jnp.max(jnp.abs(pred - true))


def relative_l2(pred, true, *, skip_initial: bool = True):
    """Per-sample relative L2 error ``||pred_n - true_n||_2 / ||true_n||_2``.

    The norms run over all non-sample axes (time, space, fields). A sample whose reference is
    identically zero gives ``inf`` or ``nan``.

    Args:
        pred: predicted trajectories, shape ``(N, t, ...)``.
        true: reference trajectories, same shape.
        skip_initial: exclude time level 0.

    Returns:
        ``(per_sample, mean)``: an ``(N,)`` array and its mean (scalar).
    """
    pred, true = _prepare(pred, true, skip_initial=skip_initial, where="relative_l2")
    axes = tuple(range(1, pred.ndim))
    error_norm = jnp.sqrt(jnp.sum(jnp.square(pred - true), axis=axes))
    true_norm = jnp.sqrt(jnp.sum(jnp.square(true), axis=axes))
    per_sample = error_norm / true_norm
    return per_sample, jnp.mean(per_sample)


def nrmse(pred, true, *, skip_initial: bool | int = True):
    """PDEBench's normalised RMSE (Takamoto et al. 2022, ``err_nRMSE`` with ``if_mean``):

        nRMSE = mean_{n, t, f} ||pred[n, t, ..., f] - true[n, t, ..., f]|| / ||true[n, t, ..., f]||

    the spatial L2 error of every sample, time level and field relative to the truth's norm,
    averaged. Arrays are ``(N, T, *spatial, F)`` (the field axis last); ``skip_initial`` as in
    :func:`simulation_mse`. A truth that vanishes at some time level makes it infinite, as in
    PDEBench.
    """
    pred, true = _prepare(pred, true, skip_initial=skip_initial, where="nrmse")
    if pred.ndim < 4:
        raise ValueError(f"nrmse: expected (N, T, *spatial, F) arrays, got shape {pred.shape}")
    spatial = tuple(range(2, pred.ndim - 1))
    error = jnp.sqrt(jnp.mean(jnp.square(pred - true), axis=spatial))
    norm = jnp.sqrt(jnp.mean(jnp.square(true), axis=spatial))
    return jnp.mean(error / norm)


def per_time_mae(pred, true, *, skip_initial: bool = False):
    """Mean absolute error at each time level (the paper's Fig. 6 curve).

    Args:
        pred: predicted trajectories, shape ``(N, t, ...)``.
        true: reference trajectories, same shape.
        skip_initial: drop time level 0 from the curve (default keeps it, so index = time level).

    Returns:
        ``(t,)`` array (``(t - 1,)`` when skipping): the MAE averaged over samples, space, fields.
    """
    pred, true = _prepare(pred, true, skip_initial=skip_initial, where="per_time_mae")
    axes = (0,) + tuple(range(2, pred.ndim))
    return jnp.mean(jnp.abs(pred - true), axis=axes)


def band_edges(length: int, num_bands: int = 3) -> tuple[int, ...]:
    """Edges of the wavenumber bands used by `spectral_band_errors`.

    A real signal of ``length`` points has ``length // 2 + 1`` rfft wavenumbers ``k = 0 ..
    length // 2``. They are split into ``num_bands`` contiguous, nearly equal groups; band ``b``
    holds ``edges[b] <= k < edges[b + 1]`` with ``edges[b] = round(b * (length // 2 + 1) /
    num_bands)``. Example: ``length = 120`` gives 61 wavenumbers and edges ``(0, 20, 41, 61)``.

    Raises:
        ValueError: if there are fewer wavenumbers than bands.
    """
    num_wavenumbers = length // 2 + 1
    if num_bands < 1 or num_wavenumbers < num_bands:
        raise ValueError(
            f"band_edges: cannot split {num_wavenumbers} rfft wavenumbers (axis length {length}) "
            f"into num_bands={num_bands} non-empty bands."
        )
    return tuple(
        int(math.floor(b * num_wavenumbers / num_bands + 0.5)) for b in range(num_bands + 1)
    )


def spectral_band_errors(
    pred, true, *, axis: int = -1, num_bands: int = 3, skip_initial: bool = True
):
    """Splits the mean squared error into spatial-frequency bands (low, mid, high, ...).

    The error ``e = pred - true`` is Fourier transformed along the spatial ``axis`` of length
    ``n`` with an rfft. By Parseval, ``sum_x e_x**2 = (1/n) sum_k w_k |E_k|**2`` where ``w_k = 2``
    for the wavenumbers the rfft folds (both ``+k`` and ``-k``) and ``w_k = 1`` for ``k = 0`` and,
    for even ``n``, the Nyquist ``k = n/2``. The wavenumbers are grouped as in `band_edges`, and
    each band's energy is divided by the number of error entries, so the band values sum to
    `simulation_mse` (with the same ``skip_initial``). Spatial frequency ignores periodicity: for
    non-periodic fields the jump between the ends adds some energy to all bands.

    Args:
        pred: predicted trajectories, shape ``(N, t, [y,] x[, fields])``.
        true: reference trajectories, same shape.
        axis: the spatial axis to transform, e.g. ``-1`` for ``(N, t, x)`` or ``-2`` when a
            trailing field axis is present. Must not be the sample or time axis.
        num_bands: number of bands (3: low, mid, high).
        skip_initial: exclude time level 0.

    Returns:
        ``(num_bands,)`` array of MSE contributions from lowest to highest band.
    """
    pred, true = _prepare(pred, true, skip_initial=skip_initial, where="spectral_band_errors")
    if not -pred.ndim <= axis < pred.ndim:
        raise ValueError(
            f"spectral_band_errors: axis={axis} is out of range for shape {pred.shape}."
        )
    axis = axis % pred.ndim
    if axis < 2:
        raise ValueError(
            f"spectral_band_errors: axis={axis} is the sample or time axis; pass a spatial axis "
            f"(>= 2 or negative), shape {pred.shape}."
        )
    length = pred.shape[axis]
    edges = band_edges(length, num_bands)
    spectrum = jnp.fft.rfft(pred - true, axis=axis)
    power = jnp.moveaxis(jnp.square(jnp.abs(spectrum)), axis, -1)
    power = power.reshape(-1, power.shape[-1]).sum(axis=0)  # (n // 2 + 1,)
    weights = jnp.full(power.shape, 2.0, dtype=power.dtype).at[0].set(1.0)
    if length % 2 == 0:
        weights = weights.at[-1].set(1.0)
    energy = weights * power / length
    total_count = pred.size
    return (
        jnp.stack([jnp.sum(energy[edges[b] : edges[b + 1]]) for b in range(num_bands)])
        / total_count
    )


_BAND_NAMES = {1: ("all",), 2: ("low", "high"), 3: ("low", "mid", "high")}


def summarize(
    pred, true, *, skip_initial: bool = True, spectral_axis: int | None = None, num_bands: int = 3
) -> dict[str, float]:
    """Collects the scalar metrics of one model for a results table.

    Args:
        pred: predicted trajectories, shape ``(N, t, ...)``.
        true: reference trajectories, same shape.
        skip_initial: exclude time level 0 from every metric.
        spectral_axis: if given, add the band split of `spectral_band_errors` along this axis as
            ``mse_low``, ``mse_mid``, ``mse_high`` (``mse_band<i>`` for other band counts).
        num_bands: number of spectral bands.

    Returns:
        ``{"mse", "mae", "max_error", "relative_l2"[, "mse_<band>"...]}`` as Python floats.
    """
    kwargs = dict(skip_initial=skip_initial)
    summary = {
        "mse": float(simulation_mse(pred, true, **kwargs)),
        "mae": float(mean_absolute_error(pred, true, **kwargs)),
        "max_error": float(max_error(pred, true, **kwargs)),
        "relative_l2": float(relative_l2(pred, true, **kwargs)[1]),
    }
    if spectral_axis is not None:
        bands = spectral_band_errors(pred, true, axis=spectral_axis, num_bands=num_bands, **kwargs)
        names = _BAND_NAMES.get(num_bands, tuple(f"band{b}" for b in range(num_bands)))
        for name, value in zip(names, bands, strict=True):
            summary[f"mse_{name}"] = float(value)
    return summary


def _format_number(value) -> str:
    if value is None:
        return "—"
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        return str(value)
    return f"{value:.2e}"


def format_table(rows: Mapping[str, Mapping[str, float]]) -> str:
    """Formats ``{model name: {metric: value}}`` as a markdown table.

    Columns are the metrics in order of first appearance; a metric a model lacks shows as "—".
    Numbers use scientific notation with 3 significant digits (``1.40e-04``).

    Returns:
        The table as a string, one header line, one alignment line and one line per model.
    """
    if not rows:
        raise ValueError("format_table: rows is empty; expected {model name: {metric: value}}.")
    metrics: list[str] = []
    for values in rows.values():
        for metric in values:
            if metric not in metrics:
                metrics.append(metric)
    lines = [
        "| model | " + " | ".join(metrics) + " |",
        "| --- | " + " | ".join("---:" for _ in metrics) + " |",
    ]
    for name, values in rows.items():
        cells = [_format_number(values.get(metric)) for metric in metrics]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ---- weather metrics (ERA5, WeatherBench conventions) --------------------------------------------
# Arrays are ``(N, t, latitude, longitude[, fields])``: axis 0 the forecasts (initial times), axis
# 1 the lead time, axes 2 and 3 the grid. Every function returns one value per lead time, ``(t,)``.


def latitude_weights(latitude):
    """WeatherBench's area weights: ``w_j = cos(lat_j) / mean_j cos(lat_j)`` (mean 1 over the
    latitude rows). ``latitude`` in degrees, ``(lat,)``; returns ``(lat,)``."""
    latitude = jnp.asarray(latitude, jnp.float32)
    if latitude.ndim != 1 or latitude.size == 0:
        raise ValueError(f"latitude_weights: expected a 1-D latitude axis, got {latitude.shape}")
    weights = jnp.cos(jnp.deg2rad(latitude))
    return weights / jnp.mean(weights)


def _weather_prepare(pred, true, latitude, where: str):
    pred, true = _prepare(pred, true, skip_initial=False, where=where)
    if pred.ndim < 4:
        raise ValueError(
            f"{where}: expected (N, t, latitude, longitude[, fields]), got shape {pred.shape}"
        )
    weights = latitude_weights(latitude)
    if weights.shape[0] != pred.shape[2]:
        raise ValueError(
            f"{where}: {weights.shape[0]} latitudes given for a latitude axis (axis 2) of "
            f"{pred.shape[2]} in shape {pred.shape}"
        )
    weights = weights.reshape((1, 1, -1) + (1,) * (pred.ndim - 3))
    return pred, true, weights


def latitude_weighted_rmse(pred, true, latitude, *, mask=None):
    """Latitude-weighted RMSE per lead time, WeatherBench 2's convention (Rasp et al. 2024):
    ``RMSE_t = sqrt(mean_{n, j, k, f} w_j (pred - true)^2)`` with :func:`latitude_weights`,
    the mean over forecasts ``n``, latitudes ``j``, longitudes ``k`` and fields ``f``, i.e. the
    root of the forecast-mean weighted MSE (WeatherBench 1, Rasp et al. 2020, eq. 1, averaged the
    per-forecast RMSEs instead).

    With ``mask`` (0/1 or bool, broadcastable to ``pred``'s shape, e.g. ``(lat, lon, 1)`` for a
    set of points), the weighted mean over the masked entries only:
    ``RMSE_t = sqrt(sum m w (pred - true)^2 / sum m w)`` (the same as above for a mask of ones;
    NaN at a lead time with no masked entry).

    Args:
        pred, true: ``(N, t, latitude, longitude[, fields])``.
        latitude: ``(latitude,)`` in degrees.
        mask: optional, see above.

    Returns:
        ``(t,)``.
    """
    pred, true, weights = _weather_prepare(pred, true, latitude, "latitude_weighted_rmse")
    axes = (0,) + tuple(range(2, pred.ndim))
    if mask is None:
        return jnp.sqrt(jnp.mean(weights * jnp.square(pred - true), axis=axes))
    try:
        mask = jnp.broadcast_to(jnp.asarray(mask, jnp.float32), pred.shape)
    except ValueError:
        raise ValueError(
            f"latitude_weighted_rmse: mask of shape {jnp.shape(mask)} does not broadcast to "
            f"{pred.shape}"
        ) from None
    weights = mask * weights
    squared = jnp.sum(weights * jnp.square(pred - true), axis=axes)
    return jnp.sqrt(squared / jnp.sum(weights, axis=axes))


def anomaly_correlation(pred, true, climatology, latitude, *, centered: bool = False):
    """Latitude-weighted anomaly correlation coefficient per lead time (WeatherBench 2).

    With anomalies ``a' = pred - climatology`` and ``b' = true - climatology`` (optionally minus
    their weighted spatial mean, ``centered=True``), for each forecast ``n`` and lead time ``t``
    ``ACC_{n,t} = sum_jk w_j a' b' / sqrt(sum_jk w_j a'^2 * sum_jk w_j b'^2)``, the sums over
    latitude, longitude (and fields); the result is its mean over the forecasts.

    Args:
        pred, true: ``(N, t, latitude, longitude[, fields])``.
        climatology: broadcastable to ``pred`` (e.g. ``(N, t, lat, lon[, F])`` for the
            climatology at each valid time, or ``(lat, lon[, F])``).
        latitude: ``(latitude,)`` in degrees.
        centered: subtract each map's weighted mean anomaly first.

    Returns:
        ``(t,)``.
    """
    pred, true, weights = _weather_prepare(pred, true, latitude, "anomaly_correlation")
    try:
        climatology = jnp.broadcast_to(jnp.asarray(climatology, pred.dtype), pred.shape)
    except ValueError as error:
        raise ValueError(
            f"anomaly_correlation: climatology of shape {jnp.shape(climatology)} does not "
            f"broadcast to the forecasts' {pred.shape}"
        ) from error
    axes = tuple(range(2, pred.ndim))
    pred_anomaly, true_anomaly = pred - climatology, true - climatology
    if centered:
        total = jnp.sum(jnp.broadcast_to(weights, pred.shape), axis=axes, keepdims=True)
        pred_anomaly -= jnp.sum(weights * pred_anomaly, axis=axes, keepdims=True) / total
        true_anomaly -= jnp.sum(weights * true_anomaly, axis=axes, keepdims=True) / total
    covariance = jnp.sum(weights * pred_anomaly * true_anomaly, axis=axes)
    norms = jnp.sum(weights * pred_anomaly**2, axis=axes) * jnp.sum(
        weights * true_anomaly**2, axis=axes
    )
    return jnp.mean(covariance / jnp.sqrt(norms), axis=0)
