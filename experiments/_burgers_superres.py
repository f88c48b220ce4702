"""Burgers zero-shot super-resolution, end to end (paper Sec. 3.4 / Tables 16-17, spec §7.2).

:func:`run` takes a run directory with a trained base WDNO (``<run>/wdno``) and

1. trains the super-resolution model (:class:`wdno.superres.SuperResolutionModel`) into
   ``<run>/superres/`` on the run's training set (base resolution 81x120 and ``num_levels - 1``
   coarser levels; resumed if a checkpoint is there, skipped if trained for the steps asked);
2. generates, if missing, the test set at resolution factor ``F`` (``<data>/test_r<F>.h5``, the
   first ``num`` trajectories, same seed and solver as the run's data preset);
3. simulates the base level (81x120) with the base WDNO from ``u0`` and ``f`` sub-sampled from the
   factor-``F`` data (``[::F]``: exactly the base grid, :mod:`systems.burgers.superres`);
4. refines it 2x per level up to ``F`` with the SRM, conditioned on ``u0`` and ``f`` sub-sampled
   to each level's grid;
5. writes ``<run>/superres.nc`` (every level's prediction, truth and force), ``<run>/superres.json``
   (metrics) and ``<run>/figures/superres.png`` (one sample at every level beside the truth).

Metrics (the paper's three, spec §7.2), every MSE over ``t >= 1`` (the given ``u0`` excluded):

* ``mse_native``: level ``k`` (factor ``2**k``) against the truth on its own grid;
* ``mse_nearest``, ``mse_linear``: level ``k`` interpolated to the finest grid (factor ``F``)
  against the truth there.

Interpolation works on the stored coordinates, which are nested: level ``k``'s points are the
finest grid's every ``s = F / 2**k``-th point in ``t`` and in ``x``, starting at index 0 (both
axes are uniform). ``linear`` is separable linear interpolation in ``t`` then ``x`` (bilinear,
what ``np.interp`` gives along each axis; beyond the last coarse ``x`` point, the finest grid's last
``s - 1`` points, the value is held constant as ``np.interp`` does); ``nearest`` takes the nearest
coarse point, the earlier one on ties (the mid points). This differs from the original's
``F.interpolate(align_corners=False)`` on index space, which ignores where the samples lie.

The baseline (``baseline`` in ``superres.json``): plain interpolation of the base WDNO output, i.e.
level 0's nearest and linear MSEs. ``truth_interpolation`` is the interpolation error of the *true*
coarse trajectories: what no refinement of a perfect coarse prediction by interpolation can beat.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import time

import numpy as np

from systems.burgers import generate
from systems.burgers import superres as burgers_superres
from systems.burgers.task import TASK
from wdno import simulators
from wdno.io import atomic, checkpoint, rundir
from wdno.simulators.sampling import SamplerConfig
from wdno.superres.simulator import SuperResolutionModel
from wdno.training import parallel

__all__ = ["FACTORS", "interpolate_to_finest", "level_metrics", "mse", "run"]

FACTORS = (2, 4, 8)
DIRECTORY = "superres"


# ---- interpolation and metrics -------------------------------------------------------------------
def _axis_weights(num_fine: int, num_coarse: int, stride: int, method: str):
    """``(lower, upper, weight)`` indices into the coarse axis for every fine index."""
    position = np.arange(num_fine) / stride
    if method == "nearest":
        index = np.minimum(np.ceil(position - 0.5).astype(int), num_coarse - 1)  # ties: earlier
        return index, index, np.zeros(num_fine)
    lower = np.minimum(np.floor(position).astype(int), num_coarse - 1)
    upper = np.minimum(lower + 1, num_coarse - 1)
    weight = np.where(position >= num_coarse - 1, 0.0, position - lower)
    return lower, upper, weight


def interpolate_to_finest(values, stride: int, fine_shape, method: str = "linear") -> np.ndarray:
    """``(N, T, X)`` on a grid nested in the finest one (every ``stride``-th point from index 0 in
    ``t`` and ``x``) to ``(N, *fine_shape)`` (module docstring: ``"nearest"`` or ``"linear"``)."""
    if method not in ("nearest", "linear"):
        raise ValueError(f"interpolate_to_finest: method must be nearest or linear, got {method!r}")
    out = np.asarray(values, np.float64)
    for axis, num_fine in zip((1, 2), fine_shape, strict=True):
        lower, upper, weight = _axis_weights(num_fine, out.shape[axis], stride, method)
        shape = [1, 1, 1]
        shape[axis] = num_fine
        weight = weight.reshape(shape)
        out = (1.0 - weight) * np.take(out, lower, axis=axis) + weight * np.take(
            out, upper, axis=axis
        )
    return out


def mse(prediction, truth) -> float:
    """Mean squared error over ``t >= 1`` of ``(N, T, X)`` arrays (float64)."""
    diff = np.asarray(prediction, np.float64)[:, 1:] - np.asarray(truth, np.float64)[:, 1:]
    return float(np.mean(diff**2))


def level_metrics(prediction, truth_level, truth_finest, stride: int) -> dict:
    """``{"mse_native", "mse_nearest", "mse_linear"}`` of one level (module docstring)."""
    fine_shape = np.shape(truth_finest)[1:]
    return {
        "mse_native": mse(prediction, truth_level),
        **{
            f"mse_{method}": mse(
                interpolate_to_finest(prediction, stride, fine_shape, method), truth_finest
            )
            for method in ("nearest", "linear")
        },
    }


# ---- data ----------------------------------------------------------------------------------------
def _test_data(data_dir: pathlib.Path, data_preset: str, factor: int, num: int, progress: bool):
    """``(u (num, 80F+1, 120F), f (num, 80F, 120F), {"t", "t_force", "x"})`` of
    ``test_r<F>.h5``, generated if missing or too short (the generator is deterministic per
    sample: a longer file keeps the first trajectories)."""
    path = generate.output_path(data_dir, "test", factor)
    held = 0
    if path.exists():
        with generate.open_dataset(path, factor) as reader:
            held = len(reader)
    if held < num:
        TASK.generate(
            data_dir,
            "test",
            data_preset,
            num=num,
            resolution=factor,
            overwrite=path.exists(),
            progress=progress,
        )
    with generate.open_dataset(path, factor) as reader:
        fields = reader.read(0, num, ["u", "f"])
        coords = {name: np.asarray(reader.coords[name]) for name in ("t", "t_force", "x")}
    return np.asarray(fields["u"], np.float32), np.asarray(fields["f"], np.float32), coords


# ---- the driver ----------------------------------------------------------------------------------
def run(
    run_dir,
    *,
    factor: int = 8,
    num: int | None = None,
    num_levels: int = 4,
    steps: int | None = None,
    unet=None,
    sampler: SamplerConfig | None = None,
    batch_size: int | None = None,
    plot_sample: int = 0,
    progress: bool = True,
) -> dict:
    """Train the SRM, super-resolve the first ``num`` test trajectories to ``factor``, score.

    Args:
        run_dir: a Burgers run (``run.json``) with a trained base WDNO in ``<run>/wdno``.
        factor: final resolution factor ``F`` (2, 4 or 8: 161x240, 321x480, 641x960).
        num: test trajectories (default: the run preset's ``num_test``).
        num_levels: SRM training levels, finest (base) included (spec: 4).
        steps: SRM training steps (default: the preset's; the paper trains 250k).
        unet: the SRM's U-Net (default: the preset's).
        sampler: sampler of both models (default: the preset's).
        batch_size: trajectories per sampling call (default: the preset's ``sim_batch_size``).
        plot_sample: the test trajectory drawn in ``figures/superres.png``.
        progress: progress output.

    Returns:
        ``superres.json``'s content.
    """
    run_dir = pathlib.Path(run_dir)
    record = rundir.read_run(run_dir, system=TASK.name)
    preset = record.preset
    if factor not in FACTORS:
        raise ValueError(f"superres: factor must be one of {FACTORS}, got {factor}")
    if not (run_dir / "wdno" / "simulator.json").exists():
        raise FileNotFoundError(
            f"{run_dir}/wdno: no trained base WDNO; run `wdno burgers train --models wdno "
            f"--run {run_dir}` first"
        )
    num = preset.num_test if num is None else int(num)
    if num < 1:
        raise ValueError(f"superres: num must be >= 1, got {num}")
    steps = preset.steps if steps is None else int(steps)
    sampler = sampler or preset.sampler
    batch_size = preset.sim_batch_size if batch_size is None else batch_size
    train = TASK.read_split(record.data_dir, "train", preset.num_train)  # checked before writes
    with rundir.lock(run_dir, enabled=parallel.is_main_process()):
        return _run(
            run_dir, record, preset, train, factor, num, num_levels, steps, unet, sampler,
            batch_size, plot_sample, progress,
        )  # fmt: skip


def _run(
    run_dir, record, preset, train, factor, num, num_levels, steps, unet, sampler, batch_size,
    plot_sample, progress,
) -> dict:  # fmt: skip
    seconds = {}
    workdir = run_dir / DIRECTORY
    trained = checkpoint.latest_step(workdir) if workdir.exists() else None
    if trained is not None:
        saved = json.loads((workdir / "simulator.json").read_text())["num_levels"]
        if saved != num_levels:
            raise ValueError(
                f"{workdir}: the SRM was trained on {saved} levels, {num_levels} asked; use "
                f"{saved} or move {workdir} away"
            )
    train_record = None
    if trained is None or trained < steps:
        if progress:
            print(f"[superres] training the SRM: {steps} steps, {num_levels} levels")
        train_record = SuperResolutionModel.fit(
            workdir,
            train.state,
            train.control,
            preset=preset,
            num_levels=num_levels,
            unet=unet,
            steps=steps,
            progress=progress,
        )
    elif progress:
        print(f"[superres] SRM already trained for {trained} steps")

    start = time.perf_counter()
    u, f, finest = _test_data(record.data_dir, preset.data, factor, num, progress)
    seconds["data"] = time.perf_counter() - start
    num_refinements = factor.bit_length() - 1
    strides = [factor // 2**k for k in range(num_refinements + 1)]  # level k -> finest stride
    truths = [u[:, ::s, ::s] for s in strides]
    forces = [f[:, ::s, ::s] for s in strides]

    start = time.perf_counter()
    base_model = simulators.load(run_dir / "wdno", use_ema=preset.use_ema)
    u0, f0 = burgers_superres.conditions(truths[0], forces[0])
    base_state = base_model.predict(
        u0, f0, key=preset.seed, sampler=sampler, batch_size=batch_size, progress=progress
    )
    seconds["base"] = time.perf_counter() - start

    start = time.perf_counter()
    model = SuperResolutionModel.load(workdir, use_ema=preset.use_ema)
    conditions = [
        burgers_superres.conditions(t, c) for t, c in zip(truths[1:], forces[1:], strict=True)
    ]
    levels = model.upscale(
        base_state, f0, conditions, factor=factor, key=preset.seed, sampler=sampler,
        batch_size=batch_size, progress=progress,
    )  # fmt: skip
    seconds["superres"] = time.perf_counter() - start

    predictions = [level.state[..., 0] for level in levels]
    finite = [bool(np.isfinite(p).all()) for p in predictions]
    if not all(finite):
        raise FloatingPointError(f"superres: non-finite predictions at levels {finite}")
    metrics = []
    for k, (prediction, truth, stride) in enumerate(zip(predictions, truths, strides, strict=True)):
        row = {"level": k, "factor": 2**k, "shape": list(prediction.shape[1:])}
        row.update(level_metrics(prediction, truth, u, stride))
        row["truth_interpolation"] = {
            key.removeprefix("mse_"): value
            for key, value in level_metrics(truth, truth, u, stride).items()
            if key != "mse_native"
        }
        row["initial_state_error_max"] = float(levels[k].initial_state_error.max())
        decoded = levels[k].control[..., 0]  # the control bands are imposed: round-off only
        row["control_error_max"] = float(np.abs(decoded - forces[k]).max())
        metrics.append(row)
    result = {
        "factor": factor,
        "num_test": num,
        "num_levels": num_levels,
        "srm_step": model.step,
        "base_step": base_model.step,
        "sampler": dataclasses.asdict(sampler),
        "levels": metrics,
        "baseline": {
            "description": "the base WDNO output interpolated to the finest grid",
            "mse_nearest": metrics[0]["mse_nearest"],
            "mse_linear": metrics[0]["mse_linear"],
        },
        "seconds": seconds,
        "train": train_record,
    }
    grids = [{name: c[::s] for name, c in finest.items()} for s in strides]
    _write_netcdf(run_dir / "superres.nc", levels, truths, forces, grids, factor, result)
    atomic.write_json(run_dir / "superres.json", result)
    result["figure"] = str(_plot(run_dir, predictions, truths, grids, factor, plot_sample))
    return result


def _write_netcdf(path, levels, truths, forces, grids, factor, result) -> None:
    import xarray as xr

    variables, coords = {}, {"sample": np.arange(len(truths[0]))}
    for k, (level, truth, force, axes) in enumerate(
        zip(levels, truths, forces, grids, strict=True)
    ):
        r = 2**k
        t, t_force, x = f"t_r{r}", f"t_force_r{r}", f"x_r{r}"
        coords[t], coords[t_force], coords[x] = axes["t"], axes["t_force"], axes["x"]
        variables[f"u_pred_r{r}"] = (("sample", t, x), level.state[..., 0])
        variables[f"u_true_r{r}"] = (("sample", t, x), truth)
        variables[f"f_r{r}"] = (("sample", t_force, x), force)
        variables[f"initial_state_error_r{r}"] = (("sample",), level.initial_state_error)
    dataset = xr.Dataset(
        variables,
        coords=coords,
        attrs={
            "title": "WDNO Burgers zero-shot super-resolution: predictions and truth per level",
            "system": "burgers",
            "factor": factor,
            "levels": ",".join(f"r{2**k}" for k in range(len(levels))),
            "sampler": json.dumps(result["sampler"]),
        },
    )
    with atomic.atomic_path(path, overwrite=True) as temporary:
        dataset.to_netcdf(temporary)


def _plot(run_dir, predictions, truths, grids, factor, sample) -> pathlib.Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sample = min(sample, len(truths[0]) - 1)
    figures = run_dir / "figures"
    figures.mkdir(exist_ok=True)
    rows = len(predictions)
    fig, axes = plt.subplots(rows, 2, figsize=(8, 2.6 * rows), squeeze=False, layout="constrained")
    low = min(float(truths[-1][sample].min()), float(predictions[-1][sample].min()))
    high = max(float(truths[-1][sample].max()), float(predictions[-1][sample].max()))
    for k, (prediction, truth, coords) in enumerate(zip(predictions, truths, grids, strict=True)):
        r = 2**k
        extent = (coords["x"][0], coords["x"][-1], coords["t"][0], coords["t"][-1])
        for column, (values, name) in enumerate(((prediction, "prediction"), (truth, "truth"))):
            ax = axes[k, column]
            image = ax.imshow(
                values[sample], origin="lower", aspect="auto", extent=extent, vmin=low, vmax=high
            )
            ax.set_title(f"x{r} ({values.shape[1]}x{values.shape[2]}): {name}", fontsize=9)
            ax.set_xlabel("x")
            ax.set_ylabel("t")
        fig.colorbar(image, ax=axes[k].tolist(), shrink=0.8)
    fig.suptitle(f"Burgers super-resolution to x{factor}, test sample {sample}")
    path = figures / "superres.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
