"""Figures for control experiments (paper Sec. 4.2, Burgers control, Table 3).

A control run hands each method the same test problems (initial state ``u0``, target ``u_T``) and
records the force it proposes, the final state the *solver* reaches under that force and the
objective ``J``. These helpers draw:

- :func:`plot_final_states`: reached ``u(T, x)`` against the target, one panel per sample;
- :func:`plot_control_fields`: the forces ``f(t, x)`` side by side on one symmetric colour scale;
- :func:`plot_objective_distribution`: per-sample ``J`` per method (box, points, mean) with
  reference values such as the paper's;
- :func:`plot_objective_vs_time`: mean ``J`` against wall-clock seconds for iterative methods, with
  one-shot methods (WDNO, DDPM) as single points.

Methods are keyed by label strings (``"WDNO"``, ``"solver gradient (converged)"``, ...). Arrays are
NumPy, one spatial axis; a trailing channel axis of size 1 (the channels-last layout) is dropped.
Every function saves a PNG at ``path`` (parents created), closes its figure and returns the path.
"""

from __future__ import annotations

import math
import os
import pathlib
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from wdno.evaluation.plots import save_figure  # noqa: E402

__all__ = [
    "plot_control_fields",
    "plot_final_states",
    "plot_objective_distribution",
    "plot_objective_vs_time",
]


def _finish(figure, path: str | os.PathLike) -> pathlib.Path:
    """Saves ``figure`` as a PNG at ``path``, closes it and returns the path."""
    if path is None:
        raise ValueError("path is required: these helpers save a PNG and close the figure.")
    save_figure(figure, path)
    plt.close(figure)
    return pathlib.Path(path)


def _as_array(value, ndim: int) -> np.ndarray:
    """``value`` as a float array, dropping a trailing channel axis of size 1 beyond ``ndim``."""
    array = np.asarray(value, dtype=float)
    if array.ndim == ndim + 1 and array.shape[-1] == 1:
        array = array[..., 0]
    return array


def _per_method(
    function: str, what: str, arrays: Mapping, ndim: int, layout: str, expected=None, source=None
):
    """Checks ``{label: array}``: non-empty, ``ndim`` axes each, and one shape for all methods.

    ``expected`` fixes the shape (taken from ``source``, named in errors); otherwise the first
    method's shape is the one the rest must have.
    """
    if not arrays:
        raise ValueError(f"{function}: {what} is empty; give at least one method.")
    checked = {}
    for label, value in arrays.items():
        array = _as_array(value, ndim)
        if array.ndim != ndim or array.size == 0:
            raise ValueError(
                f"{function}: method '{label}' in {what} must be a non-empty {layout} array, got "
                f"shape {array.shape}."
            )
        if expected is None:
            expected, source = array.shape, f"method '{label}'"
        elif array.shape != expected:
            raise ValueError(
                f"{function}: method '{label}' in {what} has shape {array.shape}, expected "
                f"{expected} like {source}."
            )
        checked[label] = array
    return checked


def _check_samples(function: str, sample_indices: Sequence[int], count: int) -> list[int]:
    indices = [int(i) for i in sample_indices]
    if not indices or any(not 0 <= i < count for i in indices):
        raise ValueError(
            f"{function}: sample indices {list(sample_indices)} must be non-empty and in "
            f"[0, {count})."
        )
    return indices


def _edges(centres: np.ndarray) -> np.ndarray:
    """Cell edges around 1-D cell centres: midpoints inside, half a spacing beyond the ends."""
    if centres.size == 1:
        return np.array([centres[0] - 0.5, centres[0] + 0.5])
    middle = 0.5 * (centres[1:] + centres[:-1])
    return np.concatenate(
        [
            [centres[0] - (middle[0] - centres[0])],
            middle,
            [centres[-1] + (centres[-1] - middle[-1])],
        ]
    )


def plot_final_states(
    x,
    target,
    reached: Mapping[str, np.ndarray],
    initial=None,
    *,
    sample_indices: Sequence[int] = (0, 1, 2),
    path: str | os.PathLike,
    field_name: str = "u",
    kind: str = "final",
):
    """Reached final states ``u(T, x)`` of every method against the target, one panel per sample
    (``kind="initial"``: the initial states found for the inverse problem against the test
    trajectory's own ``u0``, passed as ``target``).

    The target ``u_T`` is a thick black dashed line, the initial state ``u0`` (if given) a thin grey
    line, each method's solver-reached ``u(T)`` a coloured line; one legend for all panels.

    Args:
        x: ``(X,)`` space coordinates.
        target: ``(N, X)`` target final states ``u_T``.
        reached: ``{method: (N, X)}`` final states the solver reaches under each method's force.
        initial: ``(N, X)`` initial states ``u0``, or None.
        sample_indices: which samples to show, one panel each.
        path: where to save the PNG.
        field_name: the field's symbol for labels.
        kind: ``"final"`` or ``"initial"`` (labels and title only).

    Returns:
        ``path`` as a :class:`pathlib.Path`.
    """
    name = "plot_final_states"
    if kind not in ("final", "initial"):
        raise ValueError(f"{name}: kind must be 'final' or 'initial', got {kind!r}")
    time = "T" if kind == "final" else "0"
    reference = f"target {field_name}_T" if kind == "final" else f"test trajectory's {field_name}0"
    x = np.asarray(x, dtype=float)
    target = _as_array(target, 2)
    if x.ndim != 1 or target.ndim != 2 or target.shape[1] != x.size:
        raise ValueError(
            f"{name}: target must be (N, X) with X = len(x); got target {target.shape}, "
            f"x {x.shape}."
        )
    reached = _per_method(
        name, "reached", reached, 2, "(N, X)", expected=target.shape, source="the target"
    )
    if initial is not None:
        initial = _as_array(initial, 2)
        if initial.shape != target.shape:
            raise ValueError(
                f"{name}: initial has shape {initial.shape}, expected the target's {target.shape}."
            )
    indices = _check_samples(name, sample_indices, target.shape[0])

    columns = min(len(indices), 3)
    rows = math.ceil(len(indices) / columns)
    figure, axes = plt.subplots(
        rows,
        columns,
        squeeze=False,
        figsize=(4.2 * columns, 3.2 * rows + 0.6),
        sharex=True,
        constrained_layout=True,
    )
    for panel, sample in enumerate(indices):
        axis = axes.flat[panel]
        if initial is not None:
            axis.plot(
                x, initial[sample], color="0.6", linewidth=1.0, label=f"initial {field_name}0"
            )
        for index, (label, states) in enumerate(reached.items()):
            axis.plot(x, states[sample], color=f"C{index % 10}", linewidth=1.4, label=label)
        axis.plot(x, target[sample], "k--", linewidth=2.5, label=reference)
        axis.set_title(f"sample {sample}", fontsize=10)
        axis.set_xlabel("x")
        axis.set_ylabel(f"{field_name}({time}, x)")
        axis.grid(True, alpha=0.3)
    for axis in axes.flat[len(indices) :]:
        axis.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    figure.legend(
        handles, labels, loc="outside lower center", ncols=min(len(labels), 4), fontsize=9
    )
    figure.suptitle(
        f"Final state reached by the solver under each control vs target {field_name}_T"
        if kind == "final"
        else f"Initial state found by each method vs the test trajectory's own {field_name}0"
    )
    return _finish(figure, path)


def plot_control_fields(
    t,
    x,
    controls: Mapping[str, np.ndarray],
    *,
    sample: int = 0,
    path: str | os.PathLike,
    reference=None,
    reference_label: str = "reference",
    columns: int = 4,
):
    """Heat maps of each method's force ``f(t, x)`` for one sample, on one symmetric scale.

    Space runs horizontally, time upward; a diverging colour map centred on zero with one colour
    bar. Each title gives the method and its control energy ``sum_{t,x} f(t, x)^2``.

    Args:
        t: time coordinates of the controls: ``T - 1`` cell centres, or ``T`` cell edges (the state
            times; the force acts on ``[t_n, t_{n+1}]``).
        x: ``(X,)`` space coordinates (cell centres).
        controls: ``{method: (N, T - 1, X)}`` forces.
        sample: which sample to show.
        path: where to save the PNG.
        reference: ``(N, T - 1, X)`` force drawn first, e.g. the data's own force, or None.
        reference_label: title of the reference panel.
        columns: panels per row at most.

    Returns:
        ``path`` as a :class:`pathlib.Path`.
    """
    name = "plot_control_fields"
    t, x = np.asarray(t, dtype=float), np.asarray(x, dtype=float)
    fields = {} if reference is None else {reference_label: reference}
    if reference is not None and reference_label in controls:
        raise ValueError(f"{name}: reference_label '{reference_label}' is also a method label.")
    if not controls:
        raise ValueError(f"{name}: controls is empty; give at least one method.")
    fields = _per_method(name, "controls", {**fields, **controls}, 3, "(N, T - 1, X)")
    count, steps, points = next(iter(fields.values())).shape
    if x.shape != (points,):
        raise ValueError(f"{name}: x has shape {x.shape}, expected ({points},) from the controls.")
    if t.shape == (steps + 1,):
        t_edges = t
    elif t.shape == (steps,):
        t_edges = _edges(t)
    else:
        raise ValueError(
            f"{name}: t has shape {t.shape}; expected ({steps},) centres or ({steps + 1},) edges "
            f"for controls with {steps} time steps."
        )
    (sample,) = _check_samples(name, [sample], count)

    shown = {label: field[sample] for label, field in fields.items()}
    bound = max(float(np.max(np.abs(field))) for field in shown.values())
    bound = bound if bound > 0 else 1.0  # an all-zero force (no control) still gets a scale
    columns = max(1, min(columns, len(shown)))
    rows = math.ceil(len(shown) / columns)
    figure, axes = plt.subplots(
        rows,
        columns,
        squeeze=False,
        figsize=(3.4 * columns + 1.2, 3.0 * rows),
        sharex=True,
        sharey=True,
        constrained_layout=True,
    )
    x_edges = _edges(x)
    for axis, (label, field) in zip(axes.flat, shown.items(), strict=False):
        mesh = axis.pcolormesh(
            x_edges, t_edges, field, cmap="RdBu_r", vmin=-bound, vmax=bound, shading="flat"
        )
        axis.set_title(f"{label}\nΣf² = {np.sum(field**2):.3g}", fontsize=9)
        axis.set_xlabel("x")
        axis.set_ylabel("t")
    for axis in axes.flat[len(shown) :]:
        axis.set_visible(False)
    figure.colorbar(mesh, ax=axes.ravel().tolist(), label="f(t, x)", shrink=0.9)
    figure.suptitle(f"Control force f(t, x), sample {sample}")
    return _finish(figure, path)


def plot_objective_distribution(
    objectives: Mapping[str, np.ndarray],
    *,
    path: str | os.PathLike,
    reference: Mapping[str, float] | None = None,
    log: bool = True,
    ylabel: str = "J",
    title: str = "Control objective per test sample",
):
    """Per-method distribution of the objective: box plot, every sample as a point, mean marked.

    Args:
        objectives: ``{method: (N,)}`` per-sample objective values (``N`` may differ).
        path: where to save the PNG.
        reference: ``{label: value}`` drawn as labelled horizontal dashed lines, e.g.
            ``{"paper WDNO (GPU)": 0.0205}``.
        log: logarithmic y axis (then every value must be positive).
        ylabel: y-axis label.
        title: figure title.

    Returns:
        ``path`` as a :class:`pathlib.Path`.
    """
    name = "plot_objective_distribution"
    objectives = {  # N may differ between methods (e.g. diverged problems left out)
        label: _per_method(name, "objectives", {label: values}, 1, "(N,)")[label]
        for label, values in objectives.items()
    }
    if not objectives:
        raise ValueError(f"{name}: no methods to plot")
    reference = dict(reference or {})
    for label, values in objectives.items():
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{name}: method '{label}' has non-finite objective values.")
        if log and np.any(values <= 0):
            raise ValueError(
                f"{name}: method '{label}' has values <= 0, which a log axis cannot show; pass "
                f"log=False."
            )
    for label, value in reference.items():
        if not np.isfinite(value) or (log and value <= 0):
            raise ValueError(f"{name}: reference '{label}' = {value} cannot be drawn.")

    labels = list(objectives)
    positions = np.arange(1, len(labels) + 1)
    figure, axis = plt.subplots(
        figsize=(max(5.0, 1.3 * len(labels) + 2.0), 4.5), constrained_layout=True
    )
    axis.boxplot(
        list(objectives.values()),
        positions=positions,
        widths=0.55,
        showfliers=False,
        medianprops=dict(color="k"),
        boxprops=dict(color="0.3"),
        whiskerprops=dict(color="0.3"),
    )
    jitter = np.random.default_rng(0)  # fixed: the same data give the same picture
    for position, (index, values) in zip(positions, enumerate(objectives.values()), strict=True):
        offsets = jitter.uniform(-0.18, 0.18, size=values.size)
        axis.scatter(
            position + offsets, values, s=10, alpha=0.55, color=f"C{index % 10}", linewidths=0
        )
    means = [float(np.mean(values)) for values in objectives.values()]
    axis.scatter(
        positions, means, marker="D", s=40, color="white", edgecolors="k", zorder=3, label="mean"
    )
    for index, (label, value) in enumerate(reference.items()):
        axis.axhline(
            value,
            linestyle="--",
            linewidth=1.2,
            color=f"C{(len(labels) + index) % 10}",
            label=f"{label}: {value:.3g}",
        )
    if log:
        axis.set_yscale("log")
    axis.set_xticks(positions, labels, rotation=20, ha="right")
    axis.set_ylabel(ylabel)
    axis.set_title(title)
    axis.grid(True, axis="y", which="both", alpha=0.3)
    axis.legend(fontsize=9)
    return _finish(figure, path)


def plot_objective_vs_time(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
    *,
    path: str | os.PathLike,
    markers: Mapping[str, tuple[float, float]] | None = None,
    logx: bool = False,
    ylabel: str = "mean J",
    title: str = "Control objective against wall-clock time",
):
    """Mean objective against wall-clock seconds: lines for iterative methods, points for one-shot.

    Args:
        curves: ``{method: (seconds (K,), mean_J (K,))}`` for iterative methods (e.g. solver
            gradient descent), each with its own ``K``.
        path: where to save the PNG.
        markers: ``{method: (seconds, mean_J)}`` for one-shot methods (WDNO, DDPM), drawn as
            labelled points.
        logx: logarithmic time axis.
        ylabel: y-axis label.
        title: figure title.

    Returns:
        ``path`` as a :class:`pathlib.Path`.
    """
    name = "plot_objective_vs_time"
    markers = dict(markers or {})
    if not curves and not markers:
        raise ValueError(f"{name}: curves and markers are both empty; give at least one method.")
    lines = {}
    for label, pair in curves.items():
        seconds, values = (np.asarray(a, dtype=float) for a in pair)
        if seconds.ndim != 1 or seconds.shape != values.shape or seconds.size == 0:
            raise ValueError(
                f"{name}: curve '{label}' needs non-empty 1-D seconds and mean_J of equal length, "
                f"got seconds {seconds.shape} and mean_J {values.shape}."
            )
        lines[label] = (seconds, values)
    points = {}
    for label, pair in markers.items():
        seconds, value = (np.asarray(a, dtype=float) for a in pair)
        if seconds.shape != () or value.shape != ():
            raise ValueError(
                f"{name}: marker '{label}' needs scalar (seconds, mean_J), got shapes "
                f"{seconds.shape} and {value.shape}."
            )
        points[label] = (seconds[None], value[None])
    for label, (seconds, values) in {**lines, **points}.items():
        if not (np.all(np.isfinite(seconds)) and np.all(np.isfinite(values))):
            raise ValueError(f"{name}: method '{label}' has non-finite seconds or mean_J.")
        if np.any(values <= 0) or (logx and np.any(seconds <= 0)):
            raise ValueError(
                f"{name}: method '{label}' has values <= 0, which a log axis cannot show."
            )

    figure, axis = plt.subplots(figsize=(6.5, 4.5), constrained_layout=True)
    for index, (label, (seconds, values)) in enumerate(lines.items()):
        axis.plot(seconds, values, color=f"C{index % 10}", linewidth=1.6, label=label)
    for index, (label, (seconds, values)) in enumerate(points.items(), start=len(lines)):
        axis.scatter(
            seconds,
            values,
            marker="*",
            s=160,
            color=f"C{index % 10}",
            edgecolors="k",
            zorder=3,
            label=label,
        )
        axis.annotate(
            label, (seconds[0], values[0]), xytext=(6, 6), textcoords="offset points", fontsize=9
        )
    axis.set_yscale("log")
    if logx:
        axis.set_xscale("log")
    axis.set_xlabel("wall-clock time [s]")
    axis.set_ylabel(ylabel)
    axis.set_title(title)
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=9)
    return _finish(figure, path)
