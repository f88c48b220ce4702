"""Plotting helpers for results: field comparisons (paper Figs. 3-4), per-time error curves
(Fig. 6), metrics against lead time (forecasts) and training-loss curves.

Matplotlib with the non-interactive Agg backend. Every function returns the ``Figure`` and, when
given ``path``, saves a PNG there (creating parent folders). Callers close figures they no longer
need (``matplotlib.pyplot.close(figure)``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = [
    "plot_field_comparison",
    "plot_lead_time_metrics",
    "plot_loss_curves",
    "plot_time_curves",
    "save_figure",
]


def save_figure(figure, path: str | os.PathLike | None, *, dpi: int = 120):
    """Saves ``figure`` as a PNG at ``path`` (parents created); does nothing if ``path`` is None."""
    if path is not None:
        directory = os.path.dirname(os.fspath(path))
        if directory:
            os.makedirs(directory, exist_ok=True)
        figure.savefig(path, dpi=dpi, bbox_inches="tight")
    return figure


def plot_field_comparison(
    truth,
    predictions: Mapping[str, np.ndarray],
    *,
    t,
    x,
    sample_indices: Sequence[int] = (0, 1, 2),
    path=None,
    field_name: str = "u",
    time_unit: str = "",
    space_unit: str = "",
):
    """Heat maps over ``(t, x)`` of the truth, each prediction and each absolute error.

    Rows are samples; columns are the truth, every prediction, then ``|prediction - truth|`` for
    every prediction. Space runs horizontally, time upward. Truth and predictions share one colour
    scale (symmetric about zero when the data change sign); the errors share another.

    Args:
        truth: reference fields, shape ``(N, T, X)``.
        predictions: ``{model name: (N, T, X) array}``.
        t: ``(T,)`` time coordinates.
        x: ``(X,)`` space coordinates.
        sample_indices: which samples to show, one row each.
        path: where to save the PNG, or None.
        field_name: the field's symbol for titles and colourbar labels.
        time_unit, space_unit: units for the axis labels (omitted when empty).

    Returns:
        The matplotlib Figure.
    """
    truth = np.asarray(truth)
    t, x = np.asarray(t), np.asarray(x)
    if truth.ndim != 3:
        raise ValueError(f"plot_field_comparison: truth must be (N, T, X), got {truth.shape}.")
    if not predictions:
        raise ValueError("plot_field_comparison: predictions is empty; give at least one model.")
    predictions = {name: np.asarray(value) for name, value in predictions.items()}
    for name, value in predictions.items():
        if value.shape != truth.shape:
            raise ValueError(
                f"plot_field_comparison: prediction '{name}' has shape {value.shape}, "
                f"expected the truth's shape {truth.shape}."
            )
    if t.shape != (truth.shape[1],) or x.shape != (truth.shape[2],):
        raise ValueError(
            f"plot_field_comparison: t {t.shape} and x {x.shape} must match the truth's time and "
            f"space axes ({truth.shape[1]},) and ({truth.shape[2]},)."
        )
    sample_indices = list(sample_indices)
    bad = [i for i in sample_indices if not 0 <= i < truth.shape[0]]
    if not sample_indices or bad:
        raise ValueError(
            f"plot_field_comparison: sample_indices {sample_indices} must be non-empty and in "
            f"[0, {truth.shape[0]})."
        )

    shown = [truth[sample_indices]] + [p[sample_indices] for p in predictions.values()]
    low = min(float(np.min(a)) for a in shown)
    high = max(float(np.max(a)) for a in shown)
    if low < 0 < high:
        bound = max(-low, high)
        low, high, field_cmap = -bound, bound, "RdBu_r"
    else:
        field_cmap = "viridis"
    errors = {name: np.abs(p - truth)[sample_indices] for name, p in predictions.items()}
    error_high = max(max(float(np.max(e)) for e in errors.values()), 1e-12)

    names = list(predictions)
    columns = 1 + 2 * len(names)
    figure, axes = plt.subplots(
        len(sample_indices),
        columns,
        squeeze=False,
        figsize=(3.0 * columns + 1.5, 2.6 * len(sample_indices)),
        constrained_layout=True,
    )
    extent = (float(x[0]), float(x[-1]), float(t[0]), float(t[-1]))
    image_options = dict(origin="lower", aspect="auto", extent=extent, interpolation="nearest")
    time_label = f"t [{time_unit}]" if time_unit else "t"
    space_label = f"x [{space_unit}]" if space_unit else "x"
    field_image = error_image = None
    for row, sample in enumerate(sample_indices):
        panels = [("truth", truth[sample], False)]
        panels += [(name, predictions[name][sample], False) for name in names]
        panels += [
            (f"|{name} − truth|", np.abs(predictions[name][sample] - truth[sample]), True)
            for name in names
        ]
        for column, (title, data, is_error) in enumerate(panels):
            axis = axes[row, column]
            if is_error:
                error_image = axis.imshow(
                    data, cmap="magma", vmin=0.0, vmax=error_high, **image_options
                )
            else:
                field_image = axis.imshow(
                    data, cmap=field_cmap, vmin=low, vmax=high, **image_options
                )
            axis.set_title(f"{title}, sample {sample}", fontsize=9)
            if row == len(sample_indices) - 1:
                axis.set_xlabel(space_label)
            if column == 0:
                axis.set_ylabel(time_label)
    field_bar = figure.colorbar(
        field_image, ax=axes[:, : 1 + len(names)].ravel().tolist(), label=field_name, shrink=0.9
    )
    field_bar.ax.yaxis.set_label_position("left")  # keep the label off the error panels
    figure.colorbar(
        error_image,
        ax=axes[:, 1 + len(names) :].ravel().tolist(),
        label=f"|error| in {field_name}",
        shrink=0.9,
    )
    figure.suptitle(f"{field_name}(t, x): truth, predictions and absolute errors")
    return save_figure(figure, path)


def plot_time_curves(
    curves: Mapping[str, np.ndarray],
    *,
    t,
    ylabel: str = "MAE",
    logy: bool = True,
    path=None,
    xlabel: str = "t",
    title: str = "Error per time step",
):
    """One line per model of a per-time quantity, e.g. `wdno.metrics.per_time_mae` (Fig. 6).

    Args:
        curves: ``{model name: (T,) array}``.
        t: ``(T,)`` time coordinates.
        ylabel: y-axis label.
        logy: logarithmic y axis.
        path: where to save the PNG, or None.
        xlabel: x-axis label (add units here, e.g. ``"t [s]"``).
        title: figure title.

    Returns:
        The matplotlib Figure.
    """
    t = np.asarray(t)
    if not curves:
        raise ValueError("plot_time_curves: curves is empty; give at least one model.")
    if t.ndim != 1:
        raise ValueError(f"plot_time_curves: t must be 1-D, got shape {t.shape}.")
    figure, axis = plt.subplots(figsize=(6, 4), constrained_layout=True)
    for name, values in curves.items():
        values = np.asarray(values)
        if values.shape != t.shape:
            raise ValueError(
                f"plot_time_curves: curve '{name}' has shape {values.shape}, expected t's shape "
                f"{t.shape}."
            )
        axis.plot(t, values, marker=".", markersize=3, label=name)
    if logy:
        axis.set_yscale("log")
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.set_title(title)
    axis.grid(True, which="both", alpha=0.3)
    axis.legend()
    return save_figure(figure, path)


def plot_lead_time_metrics(
    curves: Mapping[str, Mapping[str, np.ndarray]],
    *,
    lead_times,
    path=None,
    xlabel: str = "lead time",
    title: str = "Metrics per lead time",
):
    """One panel per metric, one line per method, against lead time (linear axes, as in
    WeatherBench's score cards). NaN values (e.g. an undefined ACC) leave gaps.

    Args:
        curves: ``{metric label: {method name: (L,) array}}``.
        lead_times: ``(L,)`` lead times.
        path: where to save the PNG, or None.
        xlabel: x-axis label (add units here, e.g. ``"lead time [h]"``).
        title: figure title.

    Returns:
        The matplotlib Figure.
    """
    lead_times = np.asarray(lead_times)
    if not curves or not all(curves.values()):
        raise ValueError(
            "plot_lead_time_metrics: curves is empty; give {metric: {method: (L,) array}}."
        )
    if lead_times.ndim != 1:
        raise ValueError(f"plot_lead_time_metrics: lead_times must be 1-D, got {lead_times.shape}.")
    methods = list(dict.fromkeys(name for by_method in curves.values() for name in by_method))
    colors = {name: f"C{index % 10}" for index, name in enumerate(methods)}
    figure, axes = plt.subplots(
        1, len(curves), squeeze=False, figsize=(4.2 * len(curves), 3.6), constrained_layout=True
    )
    for axis, (label, by_method) in zip(axes[0], curves.items(), strict=True):
        for name, values in by_method.items():
            values = np.asarray(values)
            if values.shape != lead_times.shape:
                raise ValueError(
                    f"plot_lead_time_metrics: {label!r} of {name!r} has shape {values.shape}, "
                    f"expected lead_times' {lead_times.shape}."
                )
            axis.plot(lead_times, values, marker=".", color=colors[name], label=name)
        axis.set_xlabel(xlabel)
        axis.set_title(label, fontsize=10)
        axis.grid(True, alpha=0.3)
    handles = [plt.Line2D([], [], color=colors[name], marker=".") for name in methods]
    figure.legend(handles, methods, loc="outside right upper", fontsize=8)
    figure.suptitle(title)
    return save_figure(figure, path)


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average with a window shrinking at the start (same length as input)."""
    cumulative = np.concatenate([[0.0], np.cumsum(values)])
    index = np.arange(1, len(values) + 1)
    start = np.maximum(index - window, 0)
    return (cumulative[index] - cumulative[start]) / (index - start)


def plot_loss_curves(
    logs: Mapping[str, tuple[np.ndarray, np.ndarray]],
    *,
    path=None,
    smoothing_window: int | None = None,
    title: str = "Training loss",
):
    """Training-loss curves on a log scale: the raw values faint, a moving average on top.

    Args:
        logs: ``{run name: (steps, losses)}`` with two 1-D arrays of equal length.
        path: where to save the PNG, or None.
        smoothing_window: moving-average window in logged points (default ``max(1, len // 20)``).
        title: figure title.

    Returns:
        The matplotlib Figure.
    """
    if not logs:
        raise ValueError("plot_loss_curves: logs is empty; give at least one run.")
    figure, axis = plt.subplots(figsize=(6, 4), constrained_layout=True)
    for index, (name, (steps, losses)) in enumerate(logs.items()):
        steps, losses = np.asarray(steps), np.asarray(losses, dtype=float)
        if steps.ndim != 1 or steps.shape != losses.shape or steps.size == 0:
            raise ValueError(
                f"plot_loss_curves: run '{name}' needs non-empty 1-D steps and losses of equal "
                f"length, got steps {steps.shape} and losses {losses.shape}."
            )
        color = f"C{index % 10}"
        window = smoothing_window or max(1, len(losses) // 20)
        axis.plot(steps, losses, color=color, alpha=0.25, linewidth=0.8)
        axis.plot(steps, _smooth(losses, window), color=color, linewidth=1.8, label=name)
    axis.set_yscale("log")
    axis.set_xlabel("training step")
    axis.set_ylabel("loss")
    axis.set_title(title)
    axis.grid(True, which="both", alpha=0.3)
    axis.legend()
    return save_figure(figure, path)
