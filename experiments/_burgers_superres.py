"""Burgers zero-shot super-resolution, end to end (paper Sec. 3.4, Fig. 4, Tables 16-17; spec §7.2).

:func:`run` takes a run directory with trained base models and compares, on the first ``num`` test
trajectories at resolution factor ``F`` (2, 4 or 8: up to 641x960 from the base 81x120), the
methods of :data:`METHODS` (``methods=`` picks some):

* ``wdno``: WDNO's super-resolution model (SRM, :class:`wdno.superres.SuperResolutionModel`),
  trained in wavelet space on ``num_levels`` resolution levels of the training set (81x120 and
  its coarser versions, a random pair per step) into ``<run>/superres/``; it refines the base
  WDNO's output (``<run>/wdno``) 2x per level.
* ``ddpm``: the same multi-resolution scheme in physical space (the SRM with
  ``transform="identity"``: the fields themselves instead of their coefficients) into
  ``<run>/superres_ddpm/``, refining the physical-space DDPM's output (``<run>/ddpm``): the
  paper's ablation "DDPM + multi-resolution training" (Fig. 4c).
* ``single-pair``: WDNO's SRM trained on one resolution pair only, the finest (41x60 -> 81x120),
  into ``<run>/superres_single_pair/``, refining the base WDNO's output: multi-resolution against
  single-resolution training (Fig. 4c).
* ``fno``: the run's FNO (``<run>/fno``, trained at 81x120 only) evaluated zero-shot at every
  level's grid from ``u0`` and ``f`` at that grid. Time is one of the FNO's grid axes, so a level
  is one evaluation on the finer (t, x) grid, with the domain padding rescaled to keep its
  physical extent (:mod:`wdno.superres.zero_shot`).

The three SRMs get the same data, steps, batch, learning-rate schedule, seed and U-Net (the run
preset's, or what :data:`systems.burgers.presets.SUPERRES_PRESETS` sets for it); one already
trained for the steps asked is reused, a shorter or interrupted one resumed.

Steps:

1. train the SRMs asked for (above);
2. generate, if missing, the test set at factor ``F`` (``<data>/test_r<F>.h5``, the first ``num``
   trajectories, same seed and solver as the run's data preset);
3. simulate the base level (81x120) with each base model needed, from ``u0`` and ``f``
   sub-sampled from the factor-``F`` data (``[::F]``: exactly the base grid,
   :mod:`systems.burgers.superres`);
4. refine each base 2x per level up to ``F`` with its SRM, conditioned on ``u0`` and ``f``
   sub-sampled to each level's grid; evaluate the FNO on every level's grid;
5. write ``<run>/superres.nc`` (every level's truth, force and every method's prediction),
   ``<run>/superres.json`` (metrics), ``<run>/superres.md`` (the table) and the figures
   ``<run>/figures/superres.png`` (one sample) and ``superres_error.png`` (error against
   resolution), :mod:`experiments._superres_report`. They hold the methods of this call.

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
the WDNO's level-0 nearest and linear MSEs (each method's level 0 is its own interpolation
baseline). ``truth_interpolation`` is the interpolation error of the *true* coarse trajectories:
what no refinement of a perfect coarse prediction by interpolation can beat.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import time
from collections.abc import Sequence

import numpy as np

from experiments import _superres_report as report
from systems.burgers import generate, presets
from systems.burgers import superres as burgers_superres
from systems.burgers.task import TASK
from wdno import simulators
from wdno.io import atomic, checkpoint, rundir
from wdno.simulators.sampling import SamplerConfig
from wdno.superres import zero_shot
from wdno.superres.simulator import SuperResolutionModel
from wdno.training import parallel

__all__ = [
    "FACTORS",
    "METHODS",
    "Method",
    "interpolate_to_finest",
    "level_metrics",
    "mse",
    "run",
]

FACTORS = (2, 4, 8)


@dataclasses.dataclass(frozen=True)
class Method:
    """One method of the comparison (module docstring).

    Attributes:
        name: its name in ``--methods`` and in ``superres.json``.
        label: its name in the table and figures.
        base: the run's model that simulates the base level.
        directory: the SRM's directory in the run (None: no SRM, the base model is evaluated
            zero-shot at every level: the FNO).
        transform: the SRM's transform (``"wavelet"`` or ``"identity"``).
        single_pair: the SRM is trained on the finest resolution pair only (2 levels).
    """

    name: str
    label: str
    base: str
    directory: str | None = None
    transform: str = "wavelet"
    single_pair: bool = False

    def num_levels(self, num_levels: int) -> int:
        """Levels the SRM is trained on, given the command's ``num_levels``."""
        return 2 if self.single_pair else num_levels


METHODS = {
    method.name: method
    for method in (
        Method("wdno", "WDNO", "wdno", "superres"),
        Method("ddpm", "DDPM (physical space)", "ddpm", "superres_ddpm", transform="identity"),
        Method("fno", "FNO (zero-shot)", "fno"),
        Method("single-pair", "WDNO, one pair", "wdno", "superres_single_pair", single_pair=True),
    )
}


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
    methods: Sequence[str] | None = None,
    num: int | None = None,
    num_levels: int = 4,
    steps: int | None = None,
    unet=None,
    sampler: SamplerConfig | None = None,
    batch_size: int | None = None,
    plot_sample: int = 0,
    progress: bool = True,
) -> dict:
    """Train the SRMs, super-resolve the first ``num`` test trajectories to ``factor``, score.

    Args:
        run_dir: a Burgers run (``run.json``) with the base models the methods need trained
            (``<run>/wdno`` for wdno and single-pair, ``<run>/ddpm``, ``<run>/fno``).
        factor: final resolution factor ``F`` (2, 4 or 8: 161x240, 321x480, 641x960).
        methods: names in :data:`METHODS` (default: all).
        num: test trajectories (default: the super-resolution preset's, else the run preset's
            ``num_test``).
        num_levels: training levels of the multi-resolution SRMs, finest (base) included (spec:
            4); the single-pair SRM always has 2.
        steps: SRM training steps (default: the super-resolution preset's, else the run's).
        unet: the SRMs' U-Net (default: the super-resolution preset's, else the run's).
        sampler: sampler of every diffusion model (default: the run preset's).
        batch_size: trajectories per sampling call (default: the super-resolution preset's).
        plot_sample: the test trajectory drawn in ``figures/superres.png``.
        progress: progress output.

    Returns:
        ``superres.json``'s content, with ``"figures"`` (paths) added.
    """
    run_dir = pathlib.Path(run_dir)
    record = rundir.read_run(run_dir, system=TASK.name)
    preset = record.preset
    if factor not in FACTORS:
        raise ValueError(f"superres: factor must be one of {FACTORS}, got {factor}")
    methods = tuple(METHODS) if methods is None else tuple(dict.fromkeys(methods))
    unknown = [name for name in methods if name not in METHODS]
    if unknown or not methods:
        raise ValueError(f"superres: methods must be among {tuple(METHODS)}, got {methods}")
    missing = sorted({METHODS[m].base for m in methods} - _trained(run_dir))
    if missing:
        raise FileNotFoundError(
            f"{run_dir}: no trained {', '.join(missing)} (needed by "
            f"{[m for m in methods if METHODS[m].base in missing]}); run `wdno burgers train "
            f"--preset {preset.name} --models {','.join(missing)} --data {record.data_dir} "
            f"--run {run_dir}` first"
        )
    if num_levels < 2:
        raise ValueError(f"superres: num_levels must be >= 2, got {num_levels}")
    settings = presets.SUPERRES_PRESETS.get(preset.name, presets.SuperResPreset())
    num = (settings.num_test or preset.num_test) if num is None else int(num)
    if num < 1:
        raise ValueError(f"superres: num must be >= 1, got {num}")
    options = _Options(
        factor=factor,
        num=num,
        num_levels=num_levels,
        steps=int(steps or settings.steps or preset.steps),
        unet=unet or settings.unet,
        sampler=sampler or preset.sampler,
        batch_size=int(batch_size or settings.batch_size),
        plot_sample=plot_sample,
    )
    train = TASK.read_split(record.data_dir, "train", preset.num_train)  # checked before writes
    with rundir.lock(run_dir, enabled=parallel.is_main_process()):
        return _run(
            run_dir, record, preset, train, [METHODS[m] for m in methods], options, progress
        )


@dataclasses.dataclass(frozen=True)
class _Options:
    factor: int
    num: int
    num_levels: int
    steps: int
    unet: object
    sampler: SamplerConfig
    batch_size: int
    plot_sample: int


def _trained(run_dir: pathlib.Path) -> set[str]:
    return {name for name in simulators.MODELS if (run_dir / name / "simulator.json").exists()}


def _train_srm(run_dir, method: Method, train, preset, options: _Options, progress) -> dict | None:
    """Train (or resume) a method's SRM; its training record, or None if already trained."""
    workdir = run_dir / method.directory
    num_levels = method.num_levels(options.num_levels)
    trained = checkpoint.latest_step(workdir) if workdir.exists() else None
    if trained is not None:
        description = json.loads((workdir / "simulator.json").read_text())
        saved = (description["num_levels"], description["encoding"]["transform"])
        if saved != (num_levels, method.transform):
            raise ValueError(
                f"{workdir}: the SRM was trained on {saved[0]} levels with the {saved[1]} "
                f"transform, {num_levels} levels with {method.transform} asked; ask for "
                f"{saved[0]} levels or move {workdir} away"
            )
    if trained is not None and trained >= options.steps:
        if progress:
            print(f"[superres] {method.directory}: already trained for {trained} steps")
        return None
    if progress:
        print(
            f"[superres] training {method.directory} ({method.label}): {options.steps} steps, "
            f"{num_levels} levels, {method.transform} transform"
        )
    return SuperResolutionModel.fit(
        workdir,
        train.state,
        train.control,
        preset=preset,
        num_levels=num_levels,
        transform=method.transform,
        unet=options.unet,
        steps=options.steps,
        progress=progress,
    )


@dataclasses.dataclass(frozen=True)
class _Prediction:
    """A method's trajectories at every level, base first (``(N, T_k, X_k)`` each), with the
    model's own ``u(t=0)`` error and the decoded force's error per level (None: not defined)."""

    states: list
    initial_state_error: list | None
    control_error: list | None
    steps: dict
    seconds: dict


def _run(run_dir, record, preset, train, methods, options: _Options, progress) -> dict:
    records = {
        method.name: _train_srm(run_dir, method, train, preset, options, progress)
        for method in methods
        if method.directory is not None
    }
    seconds = {}
    start = time.perf_counter()
    u, f, finest = _test_data(record.data_dir, preset.data, options.factor, options.num, progress)
    seconds["data"] = time.perf_counter() - start
    num_refinements = options.factor.bit_length() - 1
    strides = [options.factor // 2**k for k in range(num_refinements + 1)]  # level k -> stride
    truths = [u[:, ::s, ::s] for s in strides]
    forces = [f[:, ::s, ::s] for s in strides]
    conditions = [burgers_superres.conditions(t, c) for t, c in zip(truths, forces, strict=True)]

    bases, predictions = {}, {}
    for method in methods:
        if method.directory is None:
            predictions[method.name] = _zero_shot(
                run_dir / method.base, preset, conditions, options, progress
            )
            continue
        if method.base not in bases:
            bases[method.base] = _simulate_base(
                run_dir / method.base, preset, conditions[0], options, progress
            )
        predictions[method.name] = _cascade(
            run_dir / method.directory,
            preset,
            bases[method.base],
            conditions,
            forces,
            options,
            progress,
        )

    result = {
        "factor": options.factor,
        "num_test": options.num,
        "sampler": dataclasses.asdict(options.sampler),
        "methods": {},
        "truth_interpolation": [],
        "seconds": seconds,
    }
    for k, stride in enumerate(strides):
        errors = level_metrics(truths[k], truths[k], u, stride)
        result["truth_interpolation"].append(
            {
                "level": k,
                "factor": 2**k,
                "nearest": errors["mse_nearest"],
                "linear": errors["mse_linear"],
            }
        )
    for method in methods:
        prediction = predictions[method.name]
        finite = [bool(np.isfinite(p).all()) for p in prediction.states]
        if not all(finite):
            raise FloatingPointError(
                f"superres: {method.name}: non-finite predictions at levels {finite}"
            )
        rows = []
        for k, (state, truth, stride) in enumerate(
            zip(prediction.states, truths, strides, strict=True)
        ):
            row = {"level": k, "factor": 2**k, "shape": list(state.shape[1:])}
            row.update(level_metrics(state, truth, u, stride))
            if prediction.initial_state_error is not None:
                row["initial_state_error_max"] = float(prediction.initial_state_error[k].max())
            if prediction.control_error is not None:
                row["control_error_max"] = float(prediction.control_error[k])
            rows.append(row)
        result["methods"][method.name] = {
            "label": method.label,
            "base_model": method.base,
            "model": method.directory,
            "transform": method.transform if method.directory else None,
            "num_levels": method.num_levels(options.num_levels) if method.directory else None,
            **prediction.steps,
            "levels": rows,
            "seconds": prediction.seconds,
            "train": records.get(method.name),
        }
    if "wdno" in bases:
        errors = level_metrics(bases["wdno"][0][..., 0], truths[0], u, strides[0])
        result["baseline"] = {
            "description": "the base WDNO output interpolated to the finest grid",
            "mse_nearest": errors["mse_nearest"],
            "mse_linear": errors["mse_linear"],
        }
    grids = [{name: c[::s] for name, c in finest.items()} for s in strides]
    states = {name: p.states for name, p in predictions.items()}
    errors = {name: p.initial_state_error for name, p in predictions.items()}
    report.write_netcdf(run_dir / "superres.nc", states, errors, truths, forces, grids, result)
    atomic.write_json(run_dir / "superres.json", result)
    atomic.write_text(run_dir / "superres.md", report.table(result))
    result["figures"] = [
        str(report.plot_sample(run_dir, states, result, truths, grids, options.plot_sample)),
        str(report.plot_errors(run_dir, result)),
    ]
    return result


def _simulate_base(workdir, preset, condition, options: _Options, progress):
    """``(state (N, 81, 120, 1), step, seconds)`` of a base diffusion model."""
    start = time.perf_counter()
    model = simulators.load(workdir, use_ema=preset.use_ema)
    u0, f0 = condition
    state = model.predict(
        u0, f0, key=preset.seed, sampler=options.sampler, batch_size=options.batch_size,
        progress=progress,
    )  # fmt: skip
    return state, model.step, time.perf_counter() - start


def _cascade(workdir, preset, base, conditions, forces, options: _Options, progress) -> _Prediction:
    base_state, base_step, base_seconds = base
    start = time.perf_counter()
    model = SuperResolutionModel.load(workdir, use_ema=preset.use_ema)
    levels = model.upscale(
        base_state, conditions[0][1], conditions[1:], factor=options.factor, key=preset.seed,
        sampler=options.sampler, batch_size=options.batch_size, progress=progress,
    )  # fmt: skip
    return _Prediction(
        states=[level.state[..., 0] for level in levels],
        initial_state_error=[level.initial_state_error for level in levels],
        # the control is imposed: the decoded force differs from the given one by round-off
        control_error=[
            float(np.abs(level.control[..., 0] - force).max())
            for level, force in zip(levels, forces, strict=True)
        ],
        steps={"base_step": base_step, "model_step": model.step},
        seconds={"base": base_seconds, "superres": time.perf_counter() - start},
    )


def _zero_shot(workdir, preset, conditions, options: _Options, progress) -> _Prediction:
    """The FNO on every level's grid (:mod:`wdno.superres.zero_shot`); ``u(t=0)`` is the given
    ``u0`` by construction."""
    start = time.perf_counter()
    model = simulators.load(workdir, use_ema=preset.use_ema)
    states = []
    for k, (u0, f) in enumerate(conditions):
        level = zero_shot.fno_at_resolution(model, 2**k)
        states.append(
            level.predict(u0, f, batch_size=options.batch_size, progress=progress)[..., 0]
        )
    return _Prediction(
        states=states,
        initial_state_error=None,
        control_error=None,
        steps={"base_step": model.step},
        seconds={"levels": time.perf_counter() - start},
    )
