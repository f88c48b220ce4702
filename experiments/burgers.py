"""``wdno burgers``: the Burgers experiments (spec Sec. 8.1).

Verbs: ``generate`` (seeded data sets), ``export`` (HDF5 to CF NetCDF), ``train``, ``simulate``,
``evaluate``, ``plot`` (the simulation experiment, :mod:`systems.burgers.workflow`) and ``demo``
(all of them in a row). Each verb is one ``_add_<verb>(verbs)`` builder listed in ``VERBS``, so a
new verb is one function and one entry. The library does the work; this module parses arguments.
"""

from __future__ import annotations

import argparse
import pathlib
import time

__all__ = ["add_parser"]


def _generate(args) -> int:
    from systems.burgers import generate, presets

    preset = presets.PRESETS[args.preset]
    num = args.num if args.num is not None else preset.num_samples(args.split)
    batch_size = args.batch_size if args.batch_size is not None else preset.batch_size
    path = generate.output_path(args.out, args.split, args.resolution)
    if path.exists() and not args.overwrite:
        print(f"error: {path} exists; pass --overwrite to replace it")
        return 1
    start = time.perf_counter()
    generate.generate(
        path,
        args.split,
        num,
        seed=args.seed,
        batch_size=batch_size,
        factor=args.resolution,
        solver_config=preset.solver,
        overwrite=args.overwrite,
    )
    seconds = time.perf_counter() - start
    print(f"wrote {num} {args.split} trajectories to {path} in {seconds:.1f} s")
    return 0


def _export(args) -> int:
    from wdno.io import data

    if args.target.exists() and not args.overwrite:
        print(f"error: {args.target} exists; pass --overwrite to replace it")
        return 1
    data.export_netcdf(args.source, args.target, overwrite=args.overwrite, progress=True)
    print(f"wrote {args.target} (open with xarray.open_dataset)")
    return 0


def _add_generate(verbs) -> None:
    from systems.burgers.presets import PRESETS

    parser = verbs.add_parser(
        "generate",
        help="generate a seeded train or test set",
        description="Generate Burgers trajectories into <out>/<split>.h5 (<split>_r<k>.h5 at "
        "resolution k > 1). Same seed, same data; train and test use disjoint key streams.",
    )
    parser.add_argument("--split", choices=("train", "test"), required=True)
    parser.add_argument("--num", type=int, default=None, help="trajectories (default: preset)")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("data/burgers"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=None, help="default: preset")
    parser.add_argument(
        "--resolution",
        type=int,
        choices=(1, 2, 4, 8),
        default=1,
        help="stored grid factor k: u (80k+1) x 120k, f 80k x 120k",
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    parser.add_argument("--overwrite", action="store_true")
    parser.set_defaults(func=_generate)


def _add_export(verbs) -> None:
    parser = verbs.add_parser(
        "export",
        help="export a data file to CF-style NetCDF",
        description="Copy an HDF5 data file to NetCDF4 with dimensions (sample, t, x), units "
        "and coordinates; opens with xarray.open_dataset.",
    )
    parser.add_argument("source", type=pathlib.Path, metavar="IN.h5")
    parser.add_argument("target", type=pathlib.Path, metavar="OUT.nc")
    parser.add_argument("--overwrite", action="store_true")
    parser.set_defaults(func=_export)


# ---- the simulation experiment ---------------------------------------------------------------
_OVERRIDES = {  # CLI option -> RunPreset field
    "num_train": int,
    "num_test": int,
    "steps": int,
    "batch_size": int,
    "learning_rate": float,
    "sampling_steps": int,
    "seed": int,
}


def _preset(args):
    import dataclasses

    from systems.burgers.workflow import RUN_PRESETS

    preset = RUN_PRESETS[args.preset]
    overrides = {k: getattr(args, k) for k in _OVERRIDES if getattr(args, k, None) is not None}
    return dataclasses.replace(preset, **overrides)


def _models(text: str) -> tuple[str, ...]:
    from systems.burgers.workflow import MODELS

    models = tuple(m.strip() for m in text.split(",") if m.strip())
    bad = [m for m in models if m not in MODELS]
    if bad or not models:
        raise argparse.ArgumentTypeError(f"expected a comma list of {MODELS}, got {text!r}")
    return models


def _add_run_options(parser, *, preset: bool) -> None:
    parser.add_argument(
        "--run",
        type=pathlib.Path,
        default=None,
        help="run directory (default: runs/burgers-<preset>)",
    )
    if not preset:
        return
    from systems.burgers.workflow import MODELS, RUN_PRESETS

    parser.add_argument(
        "--preset",
        choices=sorted(RUN_PRESETS),
        default="cpu",
        help="tiny: tests; cpu: this 2-core CPU (default); paper: a GPU, the paper's settings",
    )
    parser.add_argument(
        "--data",
        type=pathlib.Path,
        default=None,
        help="data directory (default: data/burgers-<preset>)",
    )
    parser.add_argument(
        "--models", type=_models, default=MODELS, help="comma list of wdno,ddpm,fno (default: all)"
    )
    group = parser.add_argument_group("overrides of the preset")
    for name, kind in _OVERRIDES.items():
        group.add_argument("--" + name.replace("_", "-"), type=kind, default=None)


def _run_dir(args) -> pathlib.Path:
    if args.run is not None:
        return args.run
    return pathlib.Path(f"runs/burgers-{getattr(args, 'preset', 'cpu')}")


def _data_dir(args) -> pathlib.Path:
    return args.data if args.data is not None else pathlib.Path(f"data/burgers-{args.preset}")


def _train(args) -> int:
    from systems.burgers import workflow

    preset = _preset(args)
    run = _run_dir(args)
    summary = workflow.train_run(run, preset, _data_dir(args), models=args.models)
    for kind, info in summary.items():
        print(
            f"{kind}: {info['steps']} steps in {info['train_seconds']:.0f} s, "
            f"final loss {info['final_loss']:.4g}"
        )
    print(f"trained models are in {run}/")
    return 0


def _simulate(args) -> int:
    from systems.burgers import workflow

    path = workflow.simulate_run(_run_dir(args), num_test=args.num_test)
    print(f"wrote {path}")
    return 0


def _evaluate(args) -> int:
    from systems.burgers import workflow
    from wdno.evaluation import metrics

    run = _run_dir(args)
    result = workflow.evaluate_run(run)
    print(metrics.format_table(result["metrics"]))
    print(f"wrote {run}/metrics.json and {run}/results.md")
    return 0


def _plot(args) -> int:
    from systems.burgers import workflow

    for path in workflow.plot_run(_run_dir(args)):
        print(f"wrote {path}")
    return 0


def _demo(args) -> int:
    from systems.burgers import workflow
    from wdno.evaluation import metrics

    preset = _preset(args)
    run = _run_dir(args)
    result = workflow.run_all(run, preset, _data_dir(args), models=args.models)
    print()
    print(metrics.format_table(result["metrics"]))
    print(f"\ntotal {result['total_seconds'] / 60:.1f} min")
    print(f"table:   {run}/results.md")
    print(f"figures: {run}/figures/ (fields.png, per_time_mae.png, training_loss.png)")
    return 0


def _add_experiment_verb(
    verbs, name, func, help, description, *, preset
) -> argparse.ArgumentParser:
    parser = verbs.add_parser(name, help=help, description=description)
    _add_run_options(parser, preset=preset)
    parser.set_defaults(func=func)
    return parser


def _add_train(verbs) -> None:
    _add_experiment_verb(
        verbs,
        "train",
        _train,
        "train WDNO and the DDPM and FNO baselines with the same budget",
        "Train the simulators on <data>/train.h5 into <run>/<model>/.",
        preset=True,
    )


def _add_simulate(verbs) -> None:
    parser = _add_experiment_verb(
        verbs,
        "simulate",
        _simulate,
        "simulate the test set with the trained models",
        "Sample u from (u0, f) for the test set; writes <run>/predictions.nc.",
        preset=False,
    )
    parser.add_argument("--num-test", type=int, default=None, help="default: the run's preset")


def _add_evaluate(verbs) -> None:
    _add_experiment_verb(
        verbs,
        "evaluate",
        _evaluate,
        "metrics table of a simulated run",
        "MSE (t > 0), MAE, max error, relative L2, spectral bands, per-time MAE; writes "
        "<run>/metrics.json and <run>/results.md.",
        preset=False,
    )


def _add_plot(verbs) -> None:
    _add_experiment_verb(
        verbs,
        "plot",
        _plot,
        "figures of a simulated run",
        "Heat maps (truth, predictions, errors), per-time MAE, training loss; writes "
        "<run>/figures/*.png.",
        preset=False,
    )


def _add_demo(verbs) -> None:
    _add_experiment_verb(
        verbs,
        "demo",
        _demo,
        "generate -> train -> simulate -> evaluate -> plot in one go",
        "The whole simulation experiment (cpu preset: about 12 minutes on 2 cores).",
        preset=True,
    )


VERBS = (_add_generate, _add_export, _add_train, _add_simulate, _add_evaluate, _add_plot, _add_demo)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``wdno burgers`` and its verbs to the top-level sub-parsers."""
    parser = subparsers.add_parser(
        "burgers",
        help="1-D viscous Burgers with a control force",
        description="1-D viscous Burgers with a control force (WDNO paper, Sec. 4.1).",
    )
    parser.set_defaults(parser=parser, func=None)
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", title="verbs")
    for add_verb in VERBS:
        add_verb(verbs)
    return parser
