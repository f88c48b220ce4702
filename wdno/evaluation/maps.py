"""Maps of a forecast on a latitude-longitude grid: truth, forecast and error at a few lead times.

One column per lead time; rows: the truth, the forecast (one colour scale for both) and the error
``forecast - truth`` (a diverging scale symmetric about zero). Coastlines are drawn with cartopy
when it is installed; it is optional (not a dependency of wdno), and it downloads Natural Earth
coastlines on first use, so on a machine that cannot, or without cartopy, the maps are drawn as
plain images with latitude and longitude axes.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from wdno.evaluation.plots import save_figure  # noqa: E402

__all__ = ["contiguous_longitude", "plot_forecast_maps"]


def contiguous_longitude(longitude) -> np.ndarray:
    """Longitudes in degrees made increasing across the 0/360 seam, in (-180, 540).

    A box crossing the prime meridian is stored ``350, 355, 0, 5`` (longitude in [0, 360)); it is
    drawn at ``-10, -5, 0, 5``. Raises ``ValueError`` if the longitudes wrap more than once.
    """
    longitude = np.asarray(longitude, np.float64)
    if longitude.ndim != 1 or longitude.size == 0:
        raise ValueError(f"contiguous_longitude: expected a 1-D axis, got {longitude.shape}")
    wraps = np.concatenate([[0], np.cumsum(np.diff(longitude) < 0)])
    if wraps[-1] > 1:
        raise ValueError(
            f"contiguous_longitude: longitudes wrap {wraps[-1]} times; expected a box of at most "
            f"360 degrees, got {longitude.tolist()}"
        )
    unwrapped = longitude + 360.0 * wraps
    return unwrapped - 360.0 if unwrapped[0] >= 180.0 else unwrapped


def _cartopy_crs():
    try:
        import cartopy.crs as crs
    except ImportError:
        return None
    return crs


def plot_forecast_maps(
    truth,
    forecast,
    *,
    latitude,
    longitude,
    titles: Sequence[str],
    forecast_name: str = "forecast",
    field_name: str = "",
    units: str = "",
    coastlines: bool | None = None,
    suptitle: str = "",
    path=None,
):
    """Truth, forecast and error maps of one sample at a few lead times.

    Args:
        truth, forecast: ``(K, latitude, longitude)``: the K lead times to show.
        latitude: ``(latitude,)`` degrees north.
        longitude: ``(longitude,)`` degrees east, in [0, 360) or [-180, 180) (a box crossing the
            0/360 seam is drawn contiguous, :func:`contiguous_longitude`).
        titles: K column titles (e.g. ``"+6 h"``).
        forecast_name: the forecast's row label (e.g. the model).
        field_name, units: for the colour bars.
        coastlines: True: draw them (cartopy required); False: never; None: when cartopy is
            importable, falling back to plain maps if drawing them fails (offline).
        suptitle: figure title.
        path: where to save the PNG, or None.

    Returns:
        The matplotlib Figure.
    """
    truth, forecast = np.asarray(truth), np.asarray(forecast)
    latitude = np.asarray(latitude, np.float64)
    if truth.ndim != 3 or forecast.shape != truth.shape:
        raise ValueError(
            "plot_forecast_maps: expected truth and forecast of one shape (K, latitude, "
            f"longitude), got {truth.shape} and {forecast.shape}"
        )
    if latitude.shape != truth.shape[1:2] or np.shape(longitude) != truth.shape[2:]:
        raise ValueError(
            f"plot_forecast_maps: latitude {latitude.shape} and longitude {np.shape(longitude)} "
            f"do not match the maps' grid {truth.shape[1:]}"
        )
    if len(titles) != len(truth):
        raise ValueError(f"plot_forecast_maps: {len(titles)} titles for {len(truth)} lead times")
    crs = _cartopy_crs()
    if coastlines and crs is None:
        raise ImportError("plot_forecast_maps: coastlines=True needs cartopy (pip install cartopy)")
    arguments = (truth, forecast, latitude, contiguous_longitude(longitude), titles)
    options = dict(forecast_name=forecast_name, field_name=field_name, units=units)
    if crs is None or coastlines is False:
        return save_figure(_draw(*arguments, crs=None, suptitle=suptitle, **options), path)
    figure = _draw(*arguments, crs=crs, suptitle=suptitle, **options)
    if path is None:
        return figure
    try:
        return save_figure(figure, path)  # coastlines are fetched when first drawn
    except Exception as error:  # any failure of the optional coastlines (e.g. offline)
        if coastlines:
            raise
        plt.close(figure)
        warnings.warn(
            f"plot_forecast_maps: coastlines could not be drawn ({error}); plain maps instead",
            stacklevel=2,
        )
        return save_figure(_draw(*arguments, crs=None, suptitle=suptitle, **options), path)


def _draw(
    truth, forecast, latitude, longitude, titles, *, crs, forecast_name, field_name, units, suptitle
):
    error = forecast - truth
    low = float(min(truth.min(), forecast.min()))
    high = float(max(truth.max(), forecast.max()))
    bound = max(float(np.abs(error).max()), 1e-12)
    rows = (
        ("truth", truth, dict(cmap="viridis", vmin=low, vmax=high)),
        (forecast_name, forecast, dict(cmap="viridis", vmin=low, vmax=high)),
        (f"{forecast_name} − truth", error, dict(cmap="RdBu_r", vmin=-bound, vmax=bound)),
    )
    width = float(np.ptp(longitude)) or 1.0
    height = float(np.ptp(latitude)) or 1.0
    panel = 2.8
    figure, axes = plt.subplots(
        3,
        len(truth),
        squeeze=False,
        figsize=(panel * len(truth) + 1.5, 3 * panel * min(max(height / width, 0.3), 1.5) + 1.0),
        constrained_layout=True,
        subplot_kw={} if crs is None else {"projection": crs.PlateCarree()},
    )
    extra = {} if crs is None else {"transform": crs.PlateCarree()}
    label = f"{field_name} [{units}]" if units else field_name
    images = []
    for row, (name, values, style) in enumerate(rows):
        for column, title in enumerate(titles):
            axis = axes[row, column]
            image = axis.pcolormesh(
                longitude, latitude, values[column], shading="nearest", **style, **extra
            )
            if crs is None:
                axis.set_aspect("equal")
                if row == 2:
                    axis.set_xlabel("longitude [°E]")
                if column == 0:
                    axis.set_ylabel("latitude [°N]")
            else:
                axis.coastlines(linewidth=0.6)
                grid = axis.gridlines(draw_labels=True, linewidth=0.3, alpha=0.5)
                grid.top_labels = grid.right_labels = False
                grid.left_labels, grid.bottom_labels = column == 0, row == 2
            axis.set_title(f"{name}, {title}", fontsize=9)
        images.append(image)
    figure.colorbar(images[0], ax=axes[:2].ravel().tolist(), label=label, shrink=0.9)
    figure.colorbar(images[2], ax=axes[2].tolist(), label=f"error [{units}]" if units else "error")
    if suptitle:
        figure.suptitle(suptitle)
    return figure
