"""The one experiment driver: data -> train -> simulate -> evaluate -> plot, for any system.

Every function takes the system's :class:`wdno.task.Task` and a run directory
(:mod:`wdno.io.rundir` lists its files). The models of a run (:data:`wdno.simulators.MODELS`:
WDNO, the physical-space DDPM and the FNO) are trained on the same training set with the same
steps, batch size, learning-rate schedule and seed (paper Table 1's comparison), simulate the same
test trajectories from their known parts (simulation mode: the initial state and the control), and
are scored with the same metrics. Training resumes from the checkpoints of a run directory.
A Task may add baselines that need no training and metrics per lead time (``Task.scoring``),
scored and plotted beside the models, and figures of its own (``Task.figures``).

Every verb that writes a run holds its lock (:func:`wdno.io.rundir.lock`): a second process
writing the same run is refused. Inputs are read and checked before anything is written, so a bad
input leaves no partial run behind.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import pathlib
import time

import numpy as np

from wdno import simulators
from wdno.evaluation import metrics, plots
from wdno.io import atomic, checkpoint, rundir
from wdno.preset import RunPreset
from wdno.task import EvaluationData, Scoring, Task
from wdno.training import parallel

__all__ = [
    "check_models",
    "ensure_data",
    "evaluate",
    "plot",
    "run_all",
    "simulate",
    "train",
]

DEFAULT_MODELS = tuple(simulators.MODELS)


def check_models(models) -> tuple[str, ...]:
    """The model names, checked against :data:`wdno.simulators.MODELS`."""
    models = tuple(models)
    unknown = [m for m in models if m not in simulators.MODELS]
    if unknown or not models:
        raise ValueError(
            f"models: expected a non-empty subset of {tuple(simulators.MODELS)}, got {models}"
        )
    return models


# ---- data --------------------------------------------------------------------------------------
def ensure_data(task: Task, data_dir, preset: RunPreset, *, progress: bool = True) -> pathlib.Path:
    """Generate the train and test splits of the preset's data preset if they are missing."""
    data_dir = pathlib.Path(data_dir)
    for split in ("train", "test"):
        if not task.data_file(data_dir, split).exists():
            task.generate(data_dir, split, preset.data, progress=progress)
    return data_dir


# ---- train -------------------------------------------------------------------------------------
def train(
    task: Task,
    run_dir,
    preset: RunPreset,
    data_dir,
    *,
    models=DEFAULT_MODELS,
    mode: str = "simulation",
    progress: bool = True,
) -> dict:
    """Train ``models`` on the same data with the same budget; returns ``train.json``'s content.

    ``mode="control"`` trains the control models (state and control generated jointly from the
    initial and final states, :mod:`wdno.control`) into ``<run>/<model>_control/``; their
    records are ``train.json``'s ``<model>_control`` entries.

    A model already trained for the preset's steps is skipped; one trained for fewer, or
    interrupted, resumes from its checkpoint (its reported time is then the total). On SIGINT or
    SIGTERM the model being trained is checkpointed and
    :class:`wdno.training.TrainingInterrupted` raised; calling again resumes it.
    """
    models = check_models(models)
    run_dir = pathlib.Path(run_dir)
    data = task.read_split(data_dir, "train", preset.num_train)  # checked before any write
    if preset.batch_size > len(data):
        raise ValueError(
            f"batch size {preset.batch_size} exceeds the {len(data)} training trajectories of "
            f"{data_dir}; use a batch size <= {len(data)} (--batch-size) or more data"
        )
    if mode not in task.known:
        raise ValueError(f"{task.name} has no {mode!r} mode; it has {sorted(task.known)}")
    for name in models:
        if mode not in simulators.MODELS[name].modes:
            raise ValueError(
                f"model {name!r} cannot be trained for {mode}; models that can: "
                f"{[m for m, spec in simulators.MODELS.items() if mode in spec.modes]}"
            )
    main = parallel.is_main_process()  # one writer of the run's files
    with rundir.lock(run_dir, enabled=main):
        return _train(task, run_dir, preset, data_dir, data, models, main, progress, mode)


def _train(task, run_dir, preset, data_dir, data, models, main, progress, mode) -> dict:
    run_dir.mkdir(parents=True, exist_ok=True)
    if main:
        rundir.write_run(
            run_dir, system=task.name, preset=preset, data_dir=data_dir, num_train=len(data)
        )
    path = run_dir / "train.json"
    summary = json.loads(path.read_text()) if path.exists() else {}
    run_preset = preset
    for model in models:
        preset = run_preset.for_model(model)
        name = simulators.MODELS[model].directory(mode)
        previous = summary.get(name) if (run_dir / name).exists() else None
        if previous and previous["steps"] >= preset.steps:
            # Already trained: fitting again would resume at the last step, train nothing, and
            # replace the real record (loss, seconds) with that of the no-op.
            if progress:
                print(f"[train] {name}: already trained for {previous['steps']} steps")
            continue
        if progress:
            print(
                f"[train] {name}: {preset.steps} steps, batch {preset.batch_size}, "
                f"{len(data)} trajectories"
            )
            resumed = checkpoint.latest_step(run_dir / name)
            if resumed is not None:
                print(f"[train] {name}: resuming from the checkpoint of step {resumed}")
        options = {}
        if mode == "control":  # the inverse problem: the initial state generated, not given
            options["initial_given"] = "initial_state" in task.known["control"]
        record = simulators.MODELS[model].fit(
            run_dir / name,
            data.state,
            data.control,
            preset=preset,
            mode=mode,
            past_frames=task.past_frames,
            progress=progress,
            **options,
        )
        summary[name] = record
        if main:
            atomic.write_json(path, summary)
    return summary


# ---- simulate ----------------------------------------------------------------------------------
def _trained_models(run_dir: pathlib.Path, models) -> tuple[str, ...]:
    if models:
        return check_models(models)
    found = tuple(m for m in simulators.MODELS if (run_dir / m / "simulator.json").exists())
    if not found:
        raise FileNotFoundError(f"{run_dir}: no trained model; train one first")
    return found


def simulate(
    task: Task, run_dir, *, models=None, num_test: int | None = None, progress: bool = True
) -> pathlib.Path:
    """Simulate the test set with every trained model; writes ``predictions.nc``."""
    run_dir = pathlib.Path(run_dir)
    record = rundir.read_run(run_dir, system=task.name)
    preset = record.preset
    models = _trained_models(run_dir, models)
    num_test = preset.num_test if num_test is None else num_test
    if num_test < 1:
        raise ValueError(f"num_test: expected >= 1, got {num_test}")
    data = task.read_split(record.data_dir, "test", num_test)
    with rundir.lock(run_dir, enabled=parallel.is_main_process()):
        return _simulate(task, run_dir, preset, models, data, progress)


def _simulate(task, run_dir, preset, models, data, progress) -> pathlib.Path:
    import xarray as xr

    state_dims = ("sample", *task.dims)
    control_dims = ("sample", *task.control_dims)
    variables = {}
    for index, field in enumerate(task.state_fields):
        variables[f"{field.name}_true"] = (state_dims, data.state[..., index])
    for index, field in enumerate(task.control_fields):
        variables[field.name] = (control_dims, data.control[..., index])
    seconds = {}
    for name in models:
        simulator = simulators.load(run_dir / name, use_ema=preset.use_ema)
        start = time.perf_counter()
        known = data.state[:, 0] if task.past_frames == 1 else data.state[:, : task.past_frames]
        state = simulator.predict(
            known,
            data.control,
            key=preset.seed,
            sampler=preset.sampler,
            batch_size=preset.sim_batch_size,
            progress=progress,
        )
        seconds[name] = time.perf_counter() - start
        finite = np.isfinite(state.reshape(len(state), -1)).all(axis=1)
        if not finite.all():
            raise FloatingPointError(
                f"simulate: model {name!r} of {run_dir} produced NaN/inf in samples "
                f"{np.flatnonzero(~finite)[:10].tolist()}; nothing written (check its training "
                f"log {run_dir / name / 'log.csv'} for divergence)"
            )
        for index, field in enumerate(task.state_fields):
            variables[f"{field.name}_{name}"] = (state_dims, state[..., index])
    coords = {"sample": np.arange(len(data)), **data.coords}
    if task.control_fields:
        coords[task.control_time_dim] = np.asarray(data.coords["t"])[:-1]
    dataset = xr.Dataset(
        variables,
        coords=coords,
        attrs={
            "title": f"WDNO {task.title} simulation: test trajectories and model predictions",
            "system": task.name,
            "models": ",".join(models),
            "simulate_seconds": json.dumps(seconds),
            "sampler": json.dumps(dataclasses.asdict(preset.sampler)),
        },
    )
    path = run_dir / "predictions.nc"
    with atomic.atomic_path(path, overwrite=True) as temporary:
        dataset.to_netcdf(temporary)
    return path


def read_predictions(task: Task, run_dir) -> tuple[np.ndarray, dict[str, np.ndarray], dict]:
    """``(truth, {model: prediction}, dataset attrs)`` from ``predictions.nc``; states with the
    fields stacked on the last axis, ``(N, T, *spatial, Fs)``."""
    import xarray as xr

    path = pathlib.Path(run_dir) / "predictions.nc"
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found: run `wdno {task.name} simulate --run {run_dir}`"
        )
    with xr.open_dataset(path) as dataset:
        models = [m for m in dataset.attrs["models"].split(",") if m]

        def stacked(suffix):
            return np.stack(
                [dataset[f"{f.name}_{suffix}"].values for f in task.state_fields], axis=-1
            )

        truth = stacked("true")
        predictions = {name: stacked(name) for name in models}
        attrs = dict(dataset.attrs)
    return truth, predictions, attrs


# ---- evaluate ----------------------------------------------------------------------------------
def evaluate(task: Task, run_dir) -> dict:
    """Metrics of every model in ``predictions.nc`` and of the task's baselines (``task.scoring``,
    with its metrics per lead time); writes ``metrics.json`` and ``results.md``."""
    run_dir = pathlib.Path(run_dir)
    truth, predictions, attrs = read_predictions(task, run_dir)
    with rundir.lock(run_dir, enabled=parallel.is_main_process()):
        return _evaluate(task, run_dir, truth, predictions, attrs)


def _evaluate(task, run_dir, truth, predictions, attrs) -> dict:
    simulate_seconds = json.loads(attrs.get("simulate_seconds", "{}"))
    train_path = run_dir / "train.json"
    trained = json.loads(train_path.read_text()) if train_path.exists() else {}
    scoring, data = _scoring(task, run_dir, truth, predictions)
    methods = {**predictions, **(scoring.baselines if scoring else {})}
    skip = task.past_frames if task.skip_initial else 0
    rows, curves = {}, {}
    for name, prediction in methods.items():  # models and baselines: the same metrics
        rows[name] = metrics.summarize(
            prediction,
            truth,
            skip_initial=skip,
            spectral_axis=task.spectral_axis % truth.ndim,
        )
        rows[name]["nrmse"] = float(metrics.nrmse(prediction, truth, skip_initial=skip))
        if name in predictions:  # a baseline has no training or simulation time
            rows[name]["train_s"] = trained.get(name, {}).get("train_seconds", float("nan"))
            rows[name]["simulate_s"] = simulate_seconds.get(name, float("nan"))
        curves[name] = np.asarray(metrics.per_time_mae(prediction, truth)).tolist()
    result = {"num_test": len(truth), "metrics": rows, "per_time_mae": curves}
    lead_tables = ""
    if scoring is not None:
        result["baselines"] = list(scoring.baselines)
        if scoring.lead_metrics is not None:
            lead_times, per_lead = _lead_curves(task, scoring, data, methods)
            result["lead_times"] = lead_times.tolist()
            result["per_lead"] = {
                metric: {name: values.tolist() for name, values in by_method.items()}
                for metric, by_method in per_lead.items()
            }
            lead_tables = _lead_tables(scoring, lead_times, per_lead)
    atomic.write_json(run_dir / "metrics.json", result)
    table = metrics.format_table(rows)
    text = _results_markdown(task, run_dir, table, len(truth))
    if scoring is not None and scoring.baselines:
        text += (
            f"Baselines without training: {', '.join(scoring.baselines)} (scored on the same "
            "frames as the models).\n"
        )
    atomic.write_text(run_dir / "results.md", text + lead_tables)
    return result


def _read_coords(task: Task, run_dir: pathlib.Path) -> dict[str, np.ndarray]:
    import xarray as xr

    with xr.open_dataset(run_dir / "predictions.nc") as dataset:
        return {dim: dataset[dim].values for dim in task.dims}


def _scoring(task, run_dir, truth, predictions) -> tuple[Scoring | None, EvaluationData | None]:
    """The task's :class:`wdno.task.Scoring` of this test set (None without ``task.scoring``),
    its baselines checked, and the :class:`wdno.task.EvaluationData` it was made from."""
    if task.scoring is None:
        return None, None
    data = _evaluation_data(task, run_dir, truth)
    scoring = task.scoring(data)
    for name, baseline in scoring.baselines.items():
        if name in predictions:
            raise ValueError(
                f"{task.name}: baseline {name!r} has the name of a model in {run_dir}; "
                "rename the baseline"
            )
        if np.shape(baseline) != truth.shape:
            raise ValueError(
                f"{task.name}: baseline {name!r} has shape {np.shape(baseline)}, expected the "
                f"test trajectories' {truth.shape} (whole trajectories, known frames included)"
            )
    return scoring, data


def _evaluation_data(task: Task, run_dir: pathlib.Path, truth: np.ndarray) -> EvaluationData:
    return EvaluationData(
        truth=truth,
        coords=_read_coords(task, run_dir),
        past_frames=task.past_frames,
        data_dir=rundir.read_run(run_dir).data_dir,
        run_dir=run_dir,
    )


def _lead_curves(task, scoring: Scoring, data: EvaluationData, methods) -> tuple[np.ndarray, dict]:
    """``(lead_times (L,), {metric: {method: (L,)}})``: the task's metrics on the frames after
    ``past_frames`` (the generated ones), per lead time."""
    past = task.past_frames
    lead_times = np.asarray(data.coords["t"])[past:]
    per_lead: dict[str, dict[str, np.ndarray]] = {}
    for name, prediction in methods.items():
        values = scoring.lead_metrics(np.asarray(prediction)[:, past:], data.truth[:, past:])
        for metric, curve in values.items():
            curve = np.asarray(curve, np.float64)
            if curve.shape != lead_times.shape:
                raise ValueError(
                    f"{task.name}: lead metric {metric!r} of {name!r} has shape {curve.shape}, "
                    f"expected one value per lead time {lead_times.shape}"
                )
            per_lead.setdefault(metric, {})[name] = curve
    return lead_times, per_lead


def _lead_label(lead: float, unit: str) -> str:
    return f"+{lead:g} {unit}".rstrip()


def _lead_tables(scoring: Scoring, lead_times: np.ndarray, per_lead: dict) -> str:
    """One markdown table per lead metric: a row per method, a column per lead time."""
    text = ""
    for metric, by_method in per_lead.items():
        rows = {
            name: {
                _lead_label(t, scoring.lead_unit): v
                for t, v in zip(lead_times, values, strict=True)
            }
            for name, values in by_method.items()
        }
        label = scoring.metric_labels.get(metric, metric)
        text += f"\n## {label} by lead time\n\n{metrics.format_table(rows)}\n"
    return text


def _steps_text(preset: RunPreset) -> str:
    if not preset.model_steps:
        return f"every model trained for {preset.steps} steps"
    others = ", ".join(f"{model} {steps}" for model, steps in preset.model_steps)
    return f"trained for {preset.steps} steps ({others}: the same wall-clock budget)"


def _results_markdown(task: Task, run_dir: pathlib.Path, table: str, num_test: int) -> str:
    record = rundir.read_run(run_dir)
    preset = record.preset
    hardware = record["hardware"]
    given = "t > 0" if task.past_frames == 1 else f"t >= {task.past_frames}"
    metric = f"over {given} " if task.skip_initial else ""
    text = (
        f"# {task.title} simulation, preset `{preset.name}`\n\n"
        f"Test MSE {metric}(paper metric) on {num_test} test trajectories; "
        f"{record['num_train']} training trajectories; {_steps_text(preset)} "
        f"of batch {preset.batch_size} (seed {preset.seed}).\n\n"
        f"{table}\n\n"
        f"Command: `{record['command']}`  \n"
        f"Hardware: {hardware['processor']}, {hardware['cpu_count']} CPUs, "
        f"JAX {hardware['jax_version']} on {hardware['jax_backend']}.\n"
    )
    if task.reference:
        quoted = ", ".join(
            f"{simulators.MODELS[m].label if m in simulators.MODELS else m} MSE {v:.1e}"
            for m, v in task.reference.items()
        )
        text += f"Paper{f' ({task.reference_note})' if task.reference_note else ''}: {quoted}.\n"
    return text


# ---- plot --------------------------------------------------------------------------------------
def _loss_logs(run_dir: pathlib.Path, models) -> dict:
    logs = {}
    for name in models:
        path = run_dir / name / "log.csv"
        if path.exists():
            with path.open() as handle:
                rows = list(csv.DictReader(handle))
            logs[simulators.MODELS[name].label] = (
                np.array([float(r["step"]) for r in rows]),
                np.array([float(r["loss"]) for r in rows]),
            )
    return logs


def plot(task: Task, run_dir, *, samples=(0, 1, 2)) -> list[pathlib.Path]:
    """Fields (truth, predictions, errors) per state field, per-time MAE and training-loss
    curves under ``<run_dir>/figures``. Field maps are drawn for systems with one spatial axis.
    With ``task.scoring``, the baselines join the MAE curves and every lead metric is plotted
    against lead time (``lead_time_metrics.png``); ``task.figures`` adds the task's own."""
    run_dir = pathlib.Path(run_dir)
    truth, predictions, _ = read_predictions(task, run_dir)
    with rundir.lock(run_dir, enabled=parallel.is_main_process()):
        return _plot(task, run_dir, truth, predictions, samples)


def _plot(task, run_dir, truth, predictions, samples) -> list[pathlib.Path]:
    import matplotlib.pyplot as plt

    figures = run_dir / "figures"
    figures.mkdir(exist_ok=True)
    labels = {simulators.MODELS[name].label: p for name, p in predictions.items()}
    coords = _read_coords(task, run_dir)
    samples = [s for s in samples if s < len(truth)]
    paths = []
    if len(task.dims) == 2:
        for index, field in enumerate(task.state_fields):
            stem = "fields" if len(task.state_fields) == 1 else f"fields_{field.name}"
            path = figures / f"{stem}.png"
            plots.plot_field_comparison(
                truth[..., index],
                {label: p[..., index] for label, p in labels.items()},
                t=coords["t"],
                x=coords[task.dims[1]],
                sample_indices=samples,
                path=path,
                field_name=field.name,
            )
            paths.append(path)
    scoring, data = _scoring(task, run_dir, truth, predictions)
    methods = {**labels, **(scoring.baselines if scoring else {})}
    curves = {label: np.asarray(metrics.per_time_mae(p, truth)) for label, p in methods.items()}
    path = figures / "per_time_mae.png"
    plots.plot_time_curves(
        curves, t=coords["t"], path=path, title=f"{task.title}: MAE per time step"
    )
    paths.append(path)
    path = figures / "training_loss.png"
    plots.plot_loss_curves(_loss_logs(run_dir, predictions), path=path)
    paths.append(path)
    if scoring is not None and scoring.lead_metrics is not None:
        named = {**predictions, **scoring.baselines}
        lead_times, per_lead = _lead_curves(task, scoring, data, named)
        path = figures / "lead_time_metrics.png"
        plots.plot_lead_time_metrics(
            {
                scoring.metric_labels.get(metric, metric): {
                    simulators.MODELS[n].label if n in predictions else n: v
                    for n, v in by_method.items()
                }
                for metric, by_method in per_lead.items()
            },
            lead_times=lead_times,
            xlabel=f"lead time [{scoring.lead_unit}]" if scoring.lead_unit else "lead time",
            title=f"{task.title}: metrics per lead time",
            path=path,
        )
        paths.append(path)
    if task.figures is not None and samples:
        if data is None:
            data = _evaluation_data(task, run_dir, truth)
        paths.extend(task.figures(data, predictions, figures, samples))
    plt.close("all")
    return paths


# ---- everything --------------------------------------------------------------------------------
def run_all(
    task: Task,
    run_dir,
    preset: RunPreset,
    data_dir,
    *,
    models=DEFAULT_MODELS,
    progress: bool = True,
) -> dict:
    """generate (if missing) -> train -> simulate -> evaluate -> plot; returns the metrics."""
    start = time.perf_counter()
    ensure_data(task, data_dir, preset, progress=progress)
    main = parallel.is_main_process()
    with rundir.lock(run_dir, enabled=main):  # held across the verbs, each of which nests it
        train(task, run_dir, preset, data_dir, models=models, progress=progress)
        simulate(task, run_dir, models=models, progress=progress)
        result = evaluate(task, run_dir)
        plot(task, run_dir)
        result["total_seconds"] = time.perf_counter() - start
        atomic.write_json(pathlib.Path(run_dir) / "metrics.json", result)
    return result
