"""Learning curve: test error of WDNO, the DDPM and the FNO against training wall-clock and steps.

The instrument of the learning-efficiency work (issue 10): every model of a system's run preset is
trained with the preset's one budget, and every ``--eval-every`` steps the current weights
simulate the first ``--num-eval`` test trajectories; the MSE over t > 0 (the paper's metric) and
the relative L2 are recorded against the steps and the training wall-clock (evaluation time
excluded). Prints a table, writes JSON and a plot.

Run from the repository root (the data are generated if missing)::

    .venv/bin/python benchmarks/learning_curve.py --preset cpu --steps 2000 --eval-every 250 \
        [--models wdno,ddpm,fno] [--batch-size 8] [--learning-rate 2e-3] [--num-eval 32] \
        [--json benchmarks/results/learning_curve.json] [--plot docs/figures/learning_curve.png]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _task(name: str):
    import importlib

    return importlib.import_module(f"systems.{name}.task").TASK


def measure(task, preset, data_dir, models, *, num_eval: int, workdir, progress=True) -> dict:
    """``{model: [{"step", "train_seconds", "mse", "relative_l2"}, ...]}``."""
    from wdno import experiment, simulators
    from wdno.evaluation import metrics

    experiment.ensure_data(task, data_dir, preset, progress=progress)
    train = task.read_split(data_dir, "train", preset.num_train)
    test = task.read_split(data_dir, "test", num_eval)
    curves = {}
    for name in models:
        started, evaluating = time.perf_counter(), [0.0]
        points = []

        def monitor(
            simulator, step, name=name, points=points, started=started, evaluating=evaluating
        ):
            begin = time.perf_counter()
            state = simulator.predict(
                test.state[:, 0],
                test.control,
                key=preset.seed,
                sampler=preset.sampler,
                batch_size=preset.sim_batch_size,
                progress=False,
            )
            point = {
                "step": step,
                "train_seconds": begin - started - evaluating[0],
                "mse": float(metrics.simulation_mse(state, test.state)),
                "relative_l2": float(metrics.relative_l2(state, test.state)[1]),
            }
            evaluating[0] += time.perf_counter() - begin
            points.append(point)
            if progress:
                print(
                    f"  {name} step {step}: mse {point['mse']:.4g}, "
                    f"rel L2 {point['relative_l2']:.3g}, {point['train_seconds']:.0f} s"
                )
            return {k: v for k, v in point.items() if k != "step"}

        print(f"[learning curve] {name}")
        simulators.MODELS[name].fit(
            pathlib.Path(workdir) / name,
            train.state,
            train.control,
            preset=preset.for_model(name),
            monitor=monitor,
            progress=progress,
        )
        curves[name] = points
    return curves


def table(curves: dict) -> str:
    lines = [
        "| model | step | train s | MSE (t > 0) | rel. L2 |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, points in curves.items():
        for p in points:
            lines.append(
                f"| {name} | {p['step']} | {p['train_seconds']:.0f} | {p['mse']:.3g} | "
                f"{p['relative_l2']:.3g} |"
            )
    return "\n".join(lines)


def plot(curves: dict, path: pathlib.Path, title: str) -> None:
    """Relative L2 against wall-clock and steps; ``curves`` keyed by model name or any label."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from wdno import simulators

    figure, axes = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    for name, points in curves.items():
        label = simulators.MODELS[name].label if name in simulators.MODELS else name
        seconds = [p["train_seconds"] for p in points]
        axes[0].plot(seconds, [p["relative_l2"] for p in points], "o-", label=label)
        axes[1].plot(
            [p["step"] for p in points], [p["relative_l2"] for p in points], "o-", label=label
        )
    for ax, xlabel in zip(axes, ("training wall-clock [s]", "training steps"), strict=True):
        ax.set(xlabel=xlabel, ylabel="test relative L2 (t > 0)", yscale="log")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    figure.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)


def _fields(assignments) -> dict:
    """``["field=value", ...]`` as RunPreset overrides, each value parsed by the field's type."""
    import dataclasses

    from wdno.preset import RunPreset

    types = {f.name: f.default for f in dataclasses.fields(RunPreset)}
    values = {}
    for assignment in assignments:
        name, _, text = assignment.partition("=")
        if name not in types or isinstance(types[name], dataclasses.Field | type(None)):
            raise SystemExit(f"--set {assignment}: not a settable RunPreset field")
        default = types[name]
        if isinstance(default, bool):
            values[name] = text.lower() in ("1", "true", "yes")
        elif isinstance(default, int | float | str):
            values[name] = type(default)(text)
        else:
            raise SystemExit(
                f"--set {assignment}: field {name} cannot be set from the command line"
            )
    return values


def main(argv=None) -> int:
    from wdno.preset import OVERRIDES

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--system", default="burgers")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--data", type=pathlib.Path, default=None)
    parser.add_argument("--models", default="wdno,ddpm,fno")
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--num-eval", type=int, default=32)
    parser.add_argument("--json", type=pathlib.Path, default=None)
    parser.add_argument("--plot", type=pathlib.Path, default=None)
    for name, kind in OVERRIDES.items():
        parser.add_argument("--" + name.replace("_", "-"), type=kind, default=None)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="any other RunPreset field, e.g. --set prediction=x0 --set loss_weighting=min_snr",
    )
    parser.add_argument("--label", default=None, help="name of this configuration in the JSON")
    parser.add_argument(
        "--combine",
        nargs="+",
        type=pathlib.Path,
        default=None,
        metavar="JSON",
        help="no training: tabulate and plot the curves of earlier runs' JSON files together, "
        "each curve labelled '<model> (<label>)'",
    )
    args = parser.parse_args(argv)
    if args.combine:
        curves = {}
        for path in args.combine:
            record = json.loads(path.read_text())
            for name, points in record["curves"].items():
                curves[f"{name} ({record.get('label', record['preset'])})"] = points
        print(table(curves))
        if args.plot:
            plot(curves, args.plot, "Test error while training (learning-curve runs combined)")
            print(f"wrote {args.plot}")
        return 0

    from wdno.io import rundir

    task = _task(args.system)
    preset = task.preset(args.preset).override(
        **{k: getattr(args, k) for k in OVERRIDES}, eval_every=args.eval_every, **_fields(args.set)
    )
    data_dir = args.data or pathlib.Path(f"data/{task.name}-{preset.data}")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    with tempfile.TemporaryDirectory() as workdir:
        curves = measure(task, preset, data_dir, models, num_eval=args.num_eval, workdir=workdir)
    print(table(curves))
    record = {
        "system": task.name,
        "preset": preset.name,
        "label": args.label or preset.name,
        "settings": {
            "overrides": _fields(args.set),
            "steps": {name: preset.for_model(name).steps for name in models},
            "batch_size": preset.batch_size,
            "learning_rate": preset.learning_rate,
            "sampling_steps": preset.sampling_steps,
            "num_eval": args.num_eval,
            "seed": preset.seed,
        },
        "command": " ".join(sys.argv),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "hardware": rundir.hardware(),
        "curves": curves,
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=1))
        print(f"wrote {args.json}")
    if args.plot:
        plot(curves, args.plot, f"{task.title}, preset {preset.name}: test error while training")
        print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
