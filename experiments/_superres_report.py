"""The files of `wdno burgers superres` (:mod:`experiments._burgers_superres`): NetCDF, the
markdown table and the figures, from the driver's arrays and its ``superres.json`` content.

* ``superres.nc``: per level ``r`` (factor 1, 2, 4, ...) the truth ``u_true_r<r>``, the force
  ``f_r<r>``, every method's prediction ``u_<method>_r<r>`` (``single-pair`` spelled
  ``single_pair``) and, for the diffusion cascades, ``initial_state_error_<method>_r<r>``, on the
  stored coordinates ``t_r<r>``, ``t_force_r<r>``, ``x_r<r>``;
* ``superres.md``: one row per method and level, then the interpolation baseline and floors;
* ``figures/superres.png``: one test trajectory at every level, the truth beside each method;
* ``figures/superres_error.png``: every method's MSE against the resolution factor, at native
  resolution and interpolated (linearly) to the finest grid, with the interpolation floor.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np

from wdno.io import atomic

__all__ = ["plot_errors", "plot_sample", "table", "variable_name", "write_netcdf"]


def variable_name(method: str) -> str:
    """A method's name in NetCDF variable names (``single-pair`` -> ``single_pair``)."""
    return method.replace("-", "_")


def write_netcdf(path, states, initial_state_errors, truths, forces, grids, result) -> None:
    """Every level's truth and force and every method's prediction (module docstring).

    ``states[method][k]``: ``(N, T_k, X_k)``; ``initial_state_errors[method]``: ``[(N,), ...]``
    or None.
    """
    import xarray as xr

    variables, coords = {}, {"sample": np.arange(len(truths[0]))}
    for k, (truth, force, axes) in enumerate(zip(truths, forces, grids, strict=True)):
        r = 2**k
        t, t_force, x = f"t_r{r}", f"t_force_r{r}", f"x_r{r}"
        coords[t], coords[t_force], coords[x] = axes["t"], axes["t_force"], axes["x"]
        variables[f"u_true_r{r}"] = (("sample", t, x), truth)
        variables[f"f_r{r}"] = (("sample", t_force, x), force)
        for method, levels in states.items():
            key = variable_name(method)
            variables[f"u_{key}_r{r}"] = (("sample", t, x), np.asarray(levels[k], np.float32))
            if initial_state_errors[method] is not None:
                error = initial_state_errors[method][k]
                variables[f"initial_state_error_{key}_r{r}"] = (("sample",), error)
    dataset = xr.Dataset(
        variables,
        coords=coords,
        attrs={
            "title": "Burgers zero-shot super-resolution: truth and every method's prediction "
            "per level",
            "system": "burgers",
            "factor": result["factor"],
            "levels": ",".join(f"r{2**k}" for k in range(len(truths))),
            "methods": ",".join(states),
            "sampler": json.dumps(result["sampler"]),
        },
    )
    with atomic.atomic_path(path, overwrite=True) as temporary:
        dataset.to_netcdf(temporary)


def _number(value) -> str:
    return "" if value is None else f"{value:.3g}"


def table(result: dict) -> str:
    """``superres.md``: the metrics of ``superres.json`` as one markdown table."""
    factor = result["factor"]
    finest = next(iter(result["methods"].values()))["levels"][-1]["shape"]
    grid = "x".join(str(n) for n in finest)
    sampler = result["sampler"]
    lines = [
        f"Burgers super-resolution to x{factor} ({grid}) of {result['num_test']} test "
        f"trajectories; every MSE over t >= 1; levels above x1 are zero-shot (never seen in "
        f"training). Sampler: {sampler['method']} {sampler['num_steps']} steps, eta "
        f"{sampler['eta']}.",
        "",
        f"| method | level | grid | MSE native | MSE nearest to {grid} | MSE linear to {grid} | "
        "max abs u(0) error |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for entry in result["methods"].values():
        for row in entry["levels"]:
            shape = "x".join(str(n) for n in row["shape"])
            lines.append(
                f"| {entry['label']} | x{row['factor']} | {shape} | {_number(row['mse_native'])} "
                f"| {_number(row['mse_nearest'])} | {_number(row['mse_linear'])} | "
                f"{_number(row.get('initial_state_error_max'))} |"
            )
    if "baseline" in result:
        base = result["baseline"]
        lines.append(
            f"| baseline: base WDNO interpolated | x1 | | | {_number(base['mse_nearest'])} | "
            f"{_number(base['mse_linear'])} | |"
        )
    for row in result["truth_interpolation"][:-1]:
        lines.append(
            f"| floor: true x{row['factor']} interpolated | x{row['factor']} | | | "
            f"{_number(row['nearest'])} | {_number(row['linear'])} | |"
        )
    return "\n".join(lines) + "\n"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_sample(run_dir, states, result, truths, grids, sample) -> pathlib.Path:
    """``figures/superres.png``: one test trajectory at every level (rows), the truth and every
    method (columns), on one colour scale."""
    plt = _pyplot()
    sample = min(sample, len(truths[0]) - 1)
    figures = pathlib.Path(run_dir) / "figures"
    figures.mkdir(exist_ok=True)
    columns = [("truth", truths)] + [
        (result["methods"][name]["label"], levels) for name, levels in states.items()
    ]
    rows = len(truths)
    fig, axes = plt.subplots(
        rows,
        len(columns),
        figsize=(3.2 * len(columns), 2.4 * rows),
        squeeze=False,
        layout="constrained",
    )
    low = min(float(levels[-1][sample].min()) for _, levels in columns)
    high = max(float(levels[-1][sample].max()) for _, levels in columns)
    for k, coords in enumerate(grids):
        extent = (coords["x"][0], coords["x"][-1], coords["t"][0], coords["t"][-1])
        for column, (name, levels) in enumerate(columns):
            ax = axes[k, column]
            values = levels[k][sample]
            image = ax.imshow(
                values, origin="lower", aspect="auto", extent=extent, vmin=low, vmax=high
            )
            ax.set_title(f"x{2**k} ({values.shape[0]}x{values.shape[1]}): {name}", fontsize=8)
            ax.set_xlabel("x")
            ax.set_ylabel("t")
        fig.colorbar(image, ax=axes[k].tolist(), shrink=0.8)
    fig.suptitle(f"Burgers super-resolution to x{result['factor']}, test sample {sample}")
    path = figures / "superres.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def plot_errors(run_dir, result) -> pathlib.Path:
    """``figures/superres_error.png``: MSE against the resolution factor, per method (module
    docstring)."""
    plt = _pyplot()
    figures = pathlib.Path(run_dir) / "figures"
    figures.mkdir(exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    finest = None
    for entry in result["methods"].values():
        factors = [row["factor"] for row in entry["levels"]]
        finest = "x".join(str(n) for n in entry["levels"][-1]["shape"])
        for ax, key in zip(axes, ("mse_native", "mse_linear"), strict=True):
            ax.plot(factors, [row[key] for row in entry["levels"]], "o-", label=entry["label"])
    floor = result["truth_interpolation"][:-1]  # the finest level's own is zero
    axes[1].plot(
        [row["factor"] for row in floor],
        [row["linear"] for row in floor],
        "kx:",
        label="true level interpolated (floor)",
    )
    if "baseline" in result:
        axes[1].axhline(
            result["baseline"]["mse_linear"],
            color="gray",
            linestyle="--",
            label="base WDNO interpolated",
        )
    axes[0].set_title("at the level's own grid")
    axes[1].set_title(f"interpolated (linear) to {finest}")
    factors = [row["factor"] for row in result["truth_interpolation"]]
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(factors, [f"x{f}" for f in factors])
        ax.set_xlabel("resolution factor (x1: 81x120, training resolution)")
        ax.set_ylabel("MSE over t >= 1")
        ax.grid(True, which="both", alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.suptitle(
        f"Burgers super-resolution: error against resolution ({result['num_test']} "
        "test trajectories)"
    )
    path = figures / "superres_error.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
