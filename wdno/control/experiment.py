"""The control experiment of a run: every method on the same problems, scored by the true solver.

Problems are the first ``num`` test trajectories: the initial state ``u0`` and the final state
``u_T`` of each (spec §8.1: the target is the test trajectory's own final state). Methods:

- the control models (``<run>/wdno_control``, ``<run>/ddpm_control``, trained by
  ``wdno.experiment.train(..., mode="control")``), guided by the task's objective
  (:class:`wdno.control.Controller`);
- solver-gradient control: Adam on the control through the differentiable solver, from ``f = 0``,
  with WDNO's wall-clock (``gradient_equal_time``) and run for the preset's ``gradient_steps``
  (``gradient_converged``, the reference optimum of this ``J``); gradients through the task's
  ``gradient_rollout`` when it has one (a coarser solver), ``J`` always from ``rollout``;
- the hybrid: WDNO's control refined by ``hybrid_steps`` solver-gradient steps;
- floors: no control (``f = 0``) and the training control whose initial state is nearest.

Every ``J`` is the task's evaluation objective on the solver's rollout from the true ``u0``.

The inverse problem (``task.known["control"] == ("target",)``, e.g. compressible NS) decides the
initial state instead: the control models generate it from the target alone; the solver-gradient
methods descend on it (:func:`wdno.control.baselines.initial_state_gradient`, through the task's
``decision_parametrization``) from the nearest training start (the initial state of the training
trajectory whose final state is nearest to the target), the hybrid from WDNO's; the floor is that
nearest training start. ``J`` is then the objective on the solver's rollout from each method's
initial state, and ``initial_misfit`` its distance to the test trajectory's own ``u0``.

The run directory gets ``control.nc`` (problems, controls, reached states, ``J``), ``control.json``
(the summary and the gradient methods' ``J`` against wall-clock), ``control.md`` (the table) and
``figures/control_*.png``.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import time

import numpy as np

from wdno import simulators
from wdno.control import baselines, evaluation
from wdno.control.controller import Controller
from wdno.io import atomic, rundir
from wdno.training import parallel

__all__ = ["LABELS", "METHODS", "plot", "run"]

LABELS = {
    "wdno": "WDNO",
    "ddpm": "DDPM",
    "gradient_equal_time": "solver gradient (WDNO's time)",
    "gradient_converged": "solver gradient (converged)",
    "hybrid": "hybrid (WDNO + solver gradient)",
    "no_control": "no control",
    "nearest_training": "nearest training control",
}
METHODS = tuple(LABELS)
MODELS = ("wdno", "ddpm")


def _check_task(task):
    if "control" not in task.known or task.rollout is None or task.control_objective is None:
        raise ValueError(
            f"{task.name}: no control task (it needs known['control'], a rollout and a "
            "control_objective)"
        )


def _problems(task, data_dir, num):
    test = task.read_split(data_dir, "test", num)
    if test.control is None:  # no control fields: an empty control fixes T for the rollouts
        shape = (len(test.state), test.state.shape[1] - 1, *test.state.shape[2:-1], 0)
        test = dataclasses.replace(test, control=np.zeros(shape, np.float32))
    return test.state[:, 0], test.state[:, -1], test


def is_inverse(task) -> bool:
    """The task's control problem decides the initial state (only the target is given)."""
    return "initial_state" not in task.known["control"]


def run(
    task,
    run_dir,
    *,
    models=MODELS,
    num: int | None = None,
    baselines_on: bool = True,
    converged: bool = True,
    progress: bool = True,
) -> dict:
    """Solve ``num`` control problems with every method; writes the files listed above.

    ``baselines_on=False`` runs the control models only; ``converged=False`` leaves out the
    solver gradient run for ``gradient_steps`` (the slowest baseline; the demo does)."""
    _check_task(task)
    run_dir = pathlib.Path(run_dir)
    record = rundir.read_run(run_dir, system=task.name)
    preset = record.preset
    num = preset.num_control if num is None else num
    if num < 1:
        raise ValueError(f"num: expected >= 1 control problems, got {num}")
    for name in models:
        path = run_dir / simulators.MODELS[name].directory("control") / "simulator.json"
        if not path.exists():
            raise FileNotFoundError(
                f"{path.parent}: no trained control model; run `wdno {task.name} control "
                f"--run {run_dir}` (it trains the control models first)"
            )
    u0, target, test = _problems(task, record.data_dir, num)
    train = task.read_split(record.data_dir, "train", preset.num_train) if baselines_on else None
    with rundir.lock(run_dir, enabled=parallel.is_main_process()):
        if is_inverse(task):
            return _run_inverse(
                task, run_dir, preset, models, u0, target, test, train, converged, progress
            )
        return _run(task, run_dir, preset, models, u0, target, test, train, converged, progress)


def _score(task, u0, control, given, batch_size):
    state, objective = evaluation.solver_objective(
        task.rollout, task.control_objective, u0, control, given, batch_size=batch_size
    )
    return state, objective


def _guided(task, run_dir, preset, models, u0, target, progress):
    """Every control model's guided samples: ``{model: ControlResult}``."""
    results = {}
    for name in models:
        model = simulators.load(
            run_dir / simulators.MODELS[name].directory("control"), use_ema=preset.use_ema
        )
        controller = Controller(model, task, sampler=preset.sampler)
        results[name] = controller.optimize(
            u0, target, key=preset.seed, batch_size=preset.sim_batch_size, progress=progress
        )
    return results


def _gradient_methods(descend, start, wdno_start, seconds, preset, converged):
    """The solver-gradient methods, lazily: ``(name, GradientResult)`` for the descent from
    ``start`` with WDNO's wall-clock (if WDNO ran), the one run for ``gradient_steps`` (if
    ``converged``) and the hybrid from ``wdno_start`` (if WDNO ran)."""
    if "wdno" in seconds:
        yield "gradient_equal_time", descend(start, max_steps=10**6, time_budget=seconds["wdno"])
    if converged:
        yield "gradient_converged", descend(start, max_steps=preset.gradient_steps)
    if wdno_start is not None:
        yield "hybrid", descend(wdno_start, max_steps=preset.hybrid_steps)


def _record_descent(name, result, seconds, curves, extra):
    """A gradient method's time, J-against-time curve and steps; the hybrid's clock starts after
    WDNO's sampling."""
    seconds[name] = result.seconds + result.compile_seconds
    offset = seconds["wdno"] if name == "hybrid" else 0.0
    curves[name] = {
        "seconds": (offset + np.asarray(result.history["seconds"])).tolist(),
        "mean_J": np.asarray(result.history["mean_objective"]).tolist(),
    }
    extra[name] = {"steps": int(result.steps), "compile_seconds": result.compile_seconds}


def _run(task, run_dir, preset, models, u0, target, test, train, converged, progress) -> dict:
    given = {"initial_state": u0, "target": target}
    batch = preset.sim_batch_size
    controls, states, objectives, seconds, extra = {}, {}, {}, {}, {}
    curves = {}
    for name, result in _guided(task, run_dir, preset, models, u0, target, progress).items():
        controls[name], states[name], objectives[name] = (
            result.control,
            result.state,
            result.objective,
        )
        seconds[name] = result.seconds
        extra[name] = {
            "J_generated_start_mean": float(np.mean(result.objective_generated_start)),
            "J_generated_start_median": float(np.median(result.objective_generated_start)),
            "J_predicted_mean": float(np.mean(result.predicted_objective)),
        }
    if train is not None:
        control_shape = test.control.shape[1:]
        start = time.perf_counter()
        controls["no_control"] = baselines.zero_control(u0, control_shape)
        seconds["no_control"] = time.perf_counter() - start
        start = time.perf_counter()
        controls["nearest_training"], chosen = baselines.nearest_training_control(
            train.state[:, 0], train.control, u0
        )
        seconds["nearest_training"] = time.perf_counter() - start
        extra["nearest_training"] = {"indices": chosen.tolist()}
        for name in ("no_control", "nearest_training"):
            states[name], objectives[name] = _score(task, u0, controls[name], given, batch)

        def descend(init, **options):
            return baselines.solver_gradient(
                task.rollout,
                task.control_objective,
                u0,
                given,
                init=init,
                control_shape=test.control.shape[1:],
                learning_rate=preset.gradient_learning_rate,
                gradient_rollout=task.gradient_rollout,
                progress=progress,
                **options,
            )

        wdno = controls.get("wdno")
        for name, result in _gradient_methods(descend, None, wdno, seconds, preset, converged):
            controls[name] = result.control
            states[name], objectives[name] = _score(task, u0, result.control, given, batch)
            _record_descent(name, result, seconds, curves, extra)
    return _write(
        task,
        run_dir,
        preset,
        u0,
        target,
        test,
        controls,
        states,
        objectives,
        seconds,
        extra,
        curves,
    )


def _run_inverse(
    task, run_dir, preset, models, u0, target, test, train, converged, progress
) -> dict:
    """The inverse problem: every method decides the initial state (module docstring)."""
    given = {"target": target}
    batch = preset.sim_batch_size
    control = test.control  # fixed (empty for a system without control)
    controls, states, objectives, seconds, extra, curves = {}, {}, {}, {}, {}, {}
    for name, result in _guided(task, run_dir, preset, models, None, target, progress).items():
        controls[name], states[name], objectives[name] = control, result.state, result.objective
        seconds[name] = result.seconds
        extra[name] = {"J_predicted_mean": float(np.mean(result.predicted_objective))}
    if train is not None:
        start = time.perf_counter()
        nearest, chosen = baselines.nearest_training_start(
            train.state[:, -1], train.state[:, 0], target
        )
        seconds["nearest_training"] = time.perf_counter() - start
        extra["nearest_training"] = {"indices": chosen.tolist()}
        controls["nearest_training"] = control
        states["nearest_training"], objectives["nearest_training"] = _score(
            task, nearest, control, given, batch
        )

        def descend(init, **options):
            return baselines.initial_state_gradient(
                task.rollout,
                task.control_objective,
                given,
                init=init,
                control=control,
                parametrization=task.decision_parametrization,
                learning_rate=preset.gradient_learning_rate,
                gradient_rollout=task.gradient_rollout,
                batch_size=batch,
                progress=progress,
                **options,
            )

        start = states["nearest_training"][:, 0]
        # The hybrid starts from the initial state the solver started from (floored).
        wdno = states["wdno"][:, 0] if "wdno" in states else None
        for name, result in _gradient_methods(descend, start, wdno, seconds, preset, converged):
            controls[name] = control
            states[name], objectives[name] = _score(
                task, result.initial_state, control, given, batch
            )
            _record_descent(name, result, seconds, curves, extra)
    for name, state in states.items():  # how far each found u0 is from the test trajectory's
        axes = tuple(range(1, u0.ndim))
        extra.setdefault(name, {})["initial_misfit_mean"] = float(
            np.mean(np.mean((state[:, 0] - u0) ** 2, axis=axes))
        )
    return _write(
        task,
        run_dir,
        preset,
        u0,
        target,
        test,
        controls,
        states,
        objectives,
        seconds,
        extra,
        curves,
    )


def _label(task, name) -> str:
    if name == "nearest_training" and is_inverse(task):
        return "nearest training initial state (by final state)"
    return LABELS.get(name, name)


def _summary(task, objectives, controls, states, target, seconds, extra, num):
    rows = {}
    for name, objective in objectives.items():
        misfit = np.mean((states[name][:, -1] - target) ** 2, axis=tuple(range(1, target.ndim)))
        energy = np.sum(controls[name] ** 2, axis=tuple(range(1, controls[name].ndim)))
        label = _label(task, name)
        finite = np.isfinite(objective)  # a diverged rollout is counted, not averaged
        if not finite.all():
            label += f" ({int((~finite).sum())} of {len(finite)} diverged, excluded)"
        rows[name] = {
            "label": label,
            "J_mean": float(np.mean(objective[finite])) if finite.any() else float("nan"),
            "J_median": float(np.median(objective[finite])) if finite.any() else float("nan"),
            "diverged": int((~finite).sum()),
            "misfit_mean": float(np.nanmean(misfit)) if finite.any() else float("nan"),
            "energy_mean": float(np.mean(energy)),
            "seconds_per_problem": float(seconds[name] / num),
            **extra.get(name, {}),
        }
    return rows


def _write(
    task, run_dir, preset, u0, target, test, controls, states, objectives, seconds, extra, curves
) -> dict:
    import xarray as xr

    num = len(u0)
    rows = _summary(task, objectives, controls, states, target, seconds, extra, num)
    record = rundir.read_run(run_dir)
    result = {
        "num_problems": num,
        "preset": preset.name,
        "guidance": {
            "scale": task.guidance.scale if task.guidance else None,
            "schedule": str(task.guidance.schedule) if task.guidance else None,
        },
        "methods": rows,
        "curves": curves,
        "hardware": record["hardware"],
    }
    frame_dims = ("sample", *task.dims[1:])
    state_dims = ("sample", *task.dims)
    control_dims = ("sample", *task.control_dims)
    variables = {}
    for index, field in enumerate(task.state_fields):
        variables[f"{field.name}_initial"] = (frame_dims, u0[..., index])
        variables[f"{field.name}_target"] = (frame_dims, target[..., index])
        for name, state in states.items():
            variables[f"{field.name}_{name}"] = (state_dims, state[..., index])
            if is_inverse(task):
                variables[f"{field.name}_initial_{name}"] = (frame_dims, state[:, 0, ..., index])
    for index, field in enumerate(task.control_fields):
        variables[f"{field.name}_true"] = (control_dims, test.control[..., index])
        for name, control in controls.items():
            variables[f"{field.name}_{name}"] = (control_dims, control[..., index])
    for name, objective in objectives.items():
        variables[f"J_{name}"] = (("sample",), objective)
        final = np.mean((states[name][:, -1] - target) ** 2, axis=tuple(range(1, target.ndim)))
        variables[f"misfit_{name}"] = (("sample",), final)
        energy = np.sum(controls[name] ** 2, axis=tuple(range(1, controls[name].ndim)))
        variables[f"energy_{name}"] = (("sample",), energy)
    coords = {"sample": np.arange(num), **test.coords}
    coords[task.control_time_dim] = np.asarray(test.coords["t"])[:-1]
    dataset = xr.Dataset(
        variables,
        coords=coords,
        attrs={
            "title": f"WDNO {task.title} control: problems, controls, solver rollouts, J",
            "system": task.name,
            "methods": ",".join(objectives),
        },
    )
    with atomic.atomic_path(run_dir / "control.nc", overwrite=True) as temporary:
        dataset.to_netcdf(temporary)
    atomic.write_json(run_dir / "control.json", result)
    atomic.write_text(run_dir / "control.md", _markdown(task, preset, result, record))
    return result


def _markdown(task, preset, result, record) -> str:
    hardware = record["hardware"]
    inverse = is_inverse(task)
    if inverse:
        intro = (
            f"{result['num_problems']} inverse problems (the final states of the first test "
            "trajectories): find an initial state that reaches it. J is the task's objective on "
            "the true solver's rollout from each method's initial state; initial misfit is that "
            "state's mean squared distance to the test trajectory's own initial state."
        )
        last = ("initial misfit", "initial_misfit_mean")
    else:
        intro = (
            f"{result['num_problems']} problems (initial and final states of the first test "
            "trajectories). J is the task's objective on the true solver's rollout of each "
            "method's control from the true initial state."
        )
        last = ("energy sum f^2", "energy_mean")
    lines = [
        f"# {task.title} {'inverse problem' if inverse else 'control'}, preset `{preset.name}`",
        "",
        intro,
        "",
        f"| method | mean J | median J | final misfit | {last[0]} | s / problem |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in result["methods"].values():
        lines.append(
            f"| {row['label']} | {row['J_mean']:.4g} | {row['J_median']:.4g} | "
            f"{row['misfit_mean']:.4g} | {row[last[1]]:.4g} | "
            f"{row['seconds_per_problem']:.3g} |"
        )
    for row in result["methods"].values():
        if "J_generated_start_mean" in row:
            lines.append(
                f"\n{row['label']}: J with the solver started from the model's generated u(0) "
                f"(the released evaluation): mean {row['J_generated_start_mean']:.4g}, median "
                f"{row['J_generated_start_median']:.4g}; J of its own predicted trajectory: "
                f"mean {row['J_predicted_mean']:.4g}."
            )
    if task.control_reference:
        quoted = ", ".join(f"{k} J = {v:g}" for k, v in task.control_reference.items())
        lines.append(f"\nPaper: {quoted} ({task.control_reference_note}).")
    lines += [
        "",
        f"Command: `{record['command']}`  ",
        f"Hardware: {hardware['processor']}, {hardware['cpu_count']} CPUs, "
        f"JAX {hardware['jax_version']} on {hardware['jax_backend']}.",
    ]
    return "\n".join(lines) + "\n"


def plot(task, run_dir, *, samples=(0, 1, 2)) -> list[pathlib.Path]:
    """Reached vs target final states, control fields (the inverse problem: the initial states
    found), J per method, J against wall-clock."""
    import matplotlib.pyplot as plt
    import xarray as xr

    from wdno.evaluation import control_plots

    run_dir = pathlib.Path(run_dir)
    path = run_dir / "control.nc"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run `wdno {task.name} control` first")
    result = json.loads((run_dir / "control.json").read_text())
    figures = run_dir / "figures"
    figures.mkdir(exist_ok=True)
    inverse = is_inverse(task)
    state_name = task.state_fields[0].name
    control_name = None if inverse else task.control_fields[0].name
    with xr.open_dataset(path) as data:
        methods = [m for m in data.attrs["methods"].split(",") if m]
        x = data[task.dims[-1]].values
        t = data[task.control_time_dim].values
        labels = {m: _label(task, m) for m in methods}
        target = data[f"{state_name}_target"].values
        initial = data[f"{state_name}_initial"].values
        reached = {labels[m]: data[f"{state_name}_{m}"].values[:, -1] for m in methods}
        if inverse:
            second = {labels[m]: data[f"{state_name}_initial_{m}"].values for m in methods}
        else:
            second = {labels[m]: data[f"{control_name}_{m}"].values for m in methods}
        objectives = {}
        for m in methods:  # diverged problems (non-finite J) are left out and counted
            values = data[f"J_{m}"].values
            finite = np.isfinite(values)
            label = labels[m] if finite.all() else f"{labels[m]} ({(~finite).sum()} diverged)"
            if finite.any():
                objectives[label] = values[finite]
    samples = [s for s in samples if s < len(target)]
    names = ("final_states", "initial_states" if inverse else "forces", "J", "J_vs_time")
    paths = [figures / f"control_{n}.png" for n in names]
    if len(task.dims) == 2:
        control_plots.plot_final_states(
            x,
            target,
            reached,
            initial=None if inverse else initial,
            sample_indices=samples,
            path=paths[0],
            field_name=state_name,
        )
        if inverse:
            control_plots.plot_final_states(
                x,
                initial,
                second,
                sample_indices=samples,
                path=paths[1],
                field_name=state_name,
                kind="initial",
            )
        else:
            control_plots.plot_control_fields(t, x, second, sample=samples[0], path=paths[1])
    else:
        paths = paths[2:]
    reference = {f"paper {k}": v for k, v in task.control_reference.items()}
    control_plots.plot_objective_distribution(objectives, path=paths[-2], reference=reference)
    curves = {
        labels.get(m, m): (np.asarray(c["seconds"]), np.asarray(c["mean_J"]))
        for m, c in result["curves"].items()
    }
    markers = {
        labels[m]: (
            result["methods"][m]["seconds_per_problem"] * result["num_problems"],
            result["methods"][m]["J_mean"],
        )
        for m in methods
        if m in MODELS
    }
    if curves:
        control_plots.plot_objective_vs_time(curves, path=paths[-1], markers=markers)
    else:
        paths = paths[:-1]
    plt.close("all")
    return paths
