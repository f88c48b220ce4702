"""Shared CLI builders: ``wdno <system> generate|export|train|simulate|evaluate|plot|demo``.

Every system's CLI module is a few lines: it names its :class:`wdno.task.Task` (through a
zero-argument loader, so ``wdno --help`` stays fast) and any system-specific ``generate`` options,
and calls :func:`add_system`. The verbs, their options and their output are spelled the same for
every system; the library (:mod:`wdno.experiment`) does the work. Option values are checked here
(a negative count is an argparse error); errors of the work itself are turned into one line by
:func:`experiments.cli.main`.
"""

from __future__ import annotations

import argparse
import functools
import pathlib
import time
from collections.abc import Callable, Mapping

__all__ = ["add_system", "number"]


def number(kind: type = int, minimum: float = 1, *, strict: bool = False) -> Callable:
    """An argparse ``type``: ``kind`` (int or float) at least ``minimum`` (above it if strict)."""
    bound = f"> {minimum}" if strict else f">= {minimum}"
    expected = f"expected {'an integer' if kind is int else 'a number'} {bound}"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{expected}, got {text!r}") from None
        if value < minimum or (strict and value == minimum) or value != value:
            raise argparse.ArgumentTypeError(f"{expected}, got {text!r}")
        return value

    return parse


# The bounds of the preset overrides (wdno.preset.OVERRIDES); any other override is a count >= 1.
_OVERRIDE_BOUNDS = {
    "seed": (0, False),
    "learning_rate": (0, True),
    "checkpoint_every": (0, False),
    "checkpoint_minutes": (0, False),
}


def _models(text: str) -> tuple[str, ...]:
    from wdno import simulators

    models = tuple(m.strip() for m in text.split(",") if m.strip())
    bad = [m for m in models if m not in simulators.MODELS]
    if bad or not models:
        raise argparse.ArgumentTypeError(
            f"expected a comma list of {tuple(simulators.MODELS)}, got {text!r}"
        )
    return models


def _superres_methods(text: str) -> tuple[str, ...]:
    from experiments._burgers_superres import METHODS

    methods = tuple(m.strip() for m in text.split(",") if m.strip())
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise argparse.ArgumentTypeError(f"expected a comma list of {tuple(METHODS)}, got {text!r}")
    return methods


class _System:
    """The verbs of one system, bound to its task loader."""

    def __init__(self, name: str, load_task: Callable, generate_options: Mapping[str, dict]):
        self.name, self._load_task, self.generate_options = name, load_task, generate_options

    @functools.cached_property
    def task(self):
        return self._load_task()

    # ---- option groups -------------------------------------------------------------------------
    def run_options(self, parser, *, preset: bool) -> None:
        parser.add_argument(
            "--run",
            type=pathlib.Path,
            default=None,
            help=f"run directory (default: runs/{self.name}-<preset>)",
        )
        if not preset:
            return
        from wdno.preset import OVERRIDES

        task = self.task
        parser.add_argument(
            "--preset",
            choices=sorted(task.presets),
            default=task.default_preset,
            help=f"run preset (default: {task.default_preset})",
        )
        parser.add_argument(
            "--data",
            type=pathlib.Path,
            default=None,
            help=f"data directory (default: data/{self.name}-<data preset of --preset>)",
        )
        parser.add_argument(
            "--models",
            type=_models,
            default=None,
            help="comma list of wdno,ddpm,fno (default: all)",
        )
        parser.add_argument(
            "--distributed",
            action="store_true",
            help="multi-process training: call jax.distributed.initialize (also "
            "WDNO_DISTRIBUTED=1); see docs/scaling.md",
        )
        group = parser.add_argument_group("overrides of the preset")
        for name, kind in OVERRIDES.items():
            minimum, strict = _OVERRIDE_BOUNDS.get(name, (1, False))
            check = number(kind, minimum, strict=strict)
            group.add_argument("--" + name.replace("_", "-"), type=check, default=None)

    def run_dir(self, args) -> pathlib.Path:
        if args.run is not None:
            return args.run
        return pathlib.Path(f"runs/{self.name}-{getattr(args, 'preset', None) or 'cpu'}")

    def data_dir(self, args) -> pathlib.Path:
        """``--data``, else ``data/<system>-<data preset>``: a run preset names its data preset
        (``cpu-hour`` trains on the ``cpu`` data), ``generate``'s ``--preset`` is one."""
        if args.data is not None:
            return args.data
        name = args.preset
        if name in self.task.presets:
            name = self.task.presets[name].data
        return pathlib.Path(f"data/{self.name}-{name}")

    def preset(self, args):
        from wdno.preset import OVERRIDES
        from wdno.training import parallel

        parallel.initialize_distributed(True if args.distributed else None)  # or the env var
        preset = self.task.preset(args.preset)
        return preset.override(**{k: getattr(args, k) for k in OVERRIDES})

    def models(self, args):
        from wdno import experiment

        return args.models or experiment.DEFAULT_MODELS

    # ---- verbs ---------------------------------------------------------------------------------
    def generate(self, args) -> int:
        options = {k: getattr(args, k) for k in self.generate_options}
        start = time.perf_counter()
        path = self.task.generate(
            args.out,
            args.split,
            args.preset,
            num=args.num,
            seed=args.seed,
            overwrite=args.overwrite,
            progress=True,
            **options,
        )
        seconds = time.perf_counter() - start
        print(f"wrote {args.split} trajectories to {path} in {seconds:.1f} s")
        return 0

    def export(self, args) -> int:
        from wdno.io import data

        data.export_netcdf(args.source, args.target, overwrite=args.overwrite, progress=True)
        print(f"wrote {args.target} (open with xarray.open_dataset)")
        return 0

    def train(self, args) -> int:
        from wdno import experiment

        run = self.run_dir(args)
        summary = experiment.train(
            self.task, run, self.preset(args), self.data_dir(args), models=self.models(args)
        )
        for name, info in summary.items():
            print(
                f"{name}: {info['steps']} steps in {info['train_seconds']:.0f} s, "
                f"final loss {info['final_loss']:.4g}"
            )
        print(f"trained models are in {run}/")
        return 0

    def simulate(self, args) -> int:
        from wdno import experiment

        path = experiment.simulate(self.task, self.run_dir(args), num_test=args.num_test)
        print(f"wrote {path}")
        return 0

    def evaluate(self, args) -> int:
        from wdno import experiment
        from wdno.evaluation import metrics

        run = self.run_dir(args)
        result = experiment.evaluate(self.task, run)
        print(metrics.format_table(result["metrics"]))
        print(f"wrote {run}/metrics.json and {run}/results.md")
        return 0

    def plot(self, args) -> int:
        from wdno import experiment

        for path in experiment.plot(self.task, self.run_dir(args)):
            print(f"wrote {path}")
        return 0

    def demo(self, args) -> int:
        from wdno import experiment
        from wdno.evaluation import metrics

        run = self.run_dir(args)
        start = time.perf_counter()
        preset = self.preset(args)
        result = experiment.run_all(
            self.task, run, preset, self.data_dir(args), models=self.models(args)
        )
        print()
        print(metrics.format_table(result["metrics"]))
        if self.has_control and "wdno" in self.models(args):
            # The demo's control part: WDNO against the solver gradient with its wall-clock, the
            # hybrid and the floors (`wdno <system> control` adds the DDPM's control model and
            # the solver gradient run to convergence, the demo's slowest part left out).
            self._control(
                run, preset, self.data_dir(args), ("wdno",), baselines_on=True, converged=False
            )
            print(
                f"(`wdno {self.name} control --run {run}` adds the DDPM and the solver gradient "
                "run to convergence)"
            )
        print(f"\ntotal {(time.perf_counter() - start) / 60:.1f} min")
        print(f"tables:  {run}/results.md" + (f", {run}/control.md" if self.has_control else ""))
        print(f"figures: {run}/figures/")
        return 0

    @property
    def has_control(self) -> bool:
        task = self.task
        return "control" in task.known and task.rollout is not None

    @staticmethod
    def control_models() -> tuple[str, ...]:
        from wdno import simulators

        return tuple(m for m, spec in simulators.MODELS.items() if "control" in spec.modes)

    def _control(self, run, preset, data_dir, models, *, baselines_on, converged=True) -> None:
        from wdno import experiment
        from wdno.control import experiment as control_experiment

        experiment.ensure_data(self.task, data_dir, preset)
        experiment.train(self.task, run, preset, data_dir, models=models, mode="control")
        control_experiment.run(
            self.task, run, models=models, baselines_on=baselines_on, converged=converged
        )
        paths = control_experiment.plot(self.task, run)
        print()
        print((run / "control.md").read_text())
        print("wrote " + ", ".join(str(p) for p in [run / "control.nc", *paths]))

    def control(self, args) -> int:
        if not self.has_control:
            raise ValueError(f"{self.name} has no control task")
        models = args.models or self.control_models()
        bad = [m for m in models if m not in self.control_models()]
        if bad:
            raise ValueError(
                f"--models: {bad} cannot generate controls; choose among {self.control_models()}"
            )
        from wdno.io import rundir

        preset = self.preset(args)
        run, data_dir = self.run_dir(args), self.data_dir(args)
        if args.data is None and (run / rundir.RUN_FILE).exists():
            data_dir = rundir.read_run(run, system=self.name).data_dir  # the run's own data
        self._control(run, preset, data_dir, models, baselines_on=not args.no_baselines)
        return 0

    def superres(self, args) -> int:
        from experiments import _burgers_superres

        run = self.run_dir(args)
        result = _burgers_superres.run(
            run,
            factor=args.factor,
            methods=args.methods,
            num=args.num,
            num_levels=args.levels,
            steps=args.steps,
            batch_size=args.batch_size,
        )
        print()
        print((run / "superres.md").read_text())
        written = [run / name for name in ("superres.nc", "superres.json", "superres.md")]
        print("wrote " + ", ".join(str(p) for p in [*written, *result["figures"]]))
        return 0

    # ---- parsers -------------------------------------------------------------------------------
    def add_verbs(self, verbs) -> None:
        task = self.task
        parser = verbs.add_parser(
            "generate",
            help="generate a seeded train or test set (the system's solver or data source)",
            description=f"Generate {task.title} trajectories. Same seed, same data; train and "
            "test use disjoint random streams.",
        )
        parser.add_argument("--split", choices=("train", "test"), required=True)
        parser.add_argument(
            "--num", type=number(), default=None, help="trajectories (default: preset)"
        )
        parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path(f"data/{self.name}"))
        parser.add_argument("--seed", type=number(int, 0), default=0)
        parser.add_argument(
            "--preset", choices=sorted(task.data_presets), default=task.default_preset
        )
        parser.add_argument(
            "--overwrite",
            action="store_true",
            help="replace an existing file and discard an interrupted run's partial file",
        )
        for option, settings in self.generate_options.items():
            parser.add_argument("--" + option.replace("_", "-"), dest=option, **settings)
        parser.set_defaults(func=self.generate)

        parser = verbs.add_parser(
            "export",
            help="export a data file to CF-style NetCDF",
            description="Copy an HDF5 data file to NetCDF4 with dimensions, units and "
            "coordinates; opens with xarray.open_dataset.",
        )
        parser.add_argument("source", type=pathlib.Path, metavar="IN.h5")
        parser.add_argument("target", type=pathlib.Path, metavar="OUT.nc")
        parser.add_argument("--overwrite", action="store_true")
        parser.set_defaults(func=self.export)

        experiment_verbs = (
            (
                "train",
                self.train,
                True,
                "train WDNO and the DDPM and FNO baselines with the same budget",
                "Train the simulators on <data>/train into <run>/<model>/.",
            ),
            (
                "simulate",
                self.simulate,
                False,
                "simulate the test set with the trained models",
                "Sample each test trajectory from its known parts; writes <run>/predictions.nc.",
            ),
            (
                "evaluate",
                self.evaluate,
                False,
                "metrics table of a simulated run",
                "MSE (the paper's metric), MAE, max error, relative L2, spectral bands, per-time "
                "MAE; writes <run>/metrics.json and <run>/results.md.",
            ),
            (
                "plot",
                self.plot,
                False,
                "figures of a simulated run",
                "Fields (truth, predictions, errors), per-time MAE, training loss; writes "
                "<run>/figures/*.png.",
            ),
            (
                "demo",
                self.demo,
                True,
                "generate -> train -> simulate -> evaluate -> plot (-> control)",
                "The whole simulation experiment on a preset, then the control experiment "
                "for a system with a control task.",
            ),
        )
        if self.has_control:
            experiment_verbs += (
                (
                    "control",
                    self.control,
                    True,
                    "train the control models, then find controls for test problems",
                    "Trains <run>/<model>_control (state and control generated from the "
                    "initial and target states) if needed, then solves the first --num-control "
                    "test problems with guided WDNO/DDPM sampling, solver-gradient descent, the "
                    "hybrid and the floors; every J from the true solver. Writes "
                    "<run>/control.nc, control.json, control.md and figures/control_*.png.",
                ),
            )
        for name, func, preset, help_text, description in experiment_verbs:
            parser = verbs.add_parser(name, help=help_text, description=description)
            self.run_options(parser, preset=preset)
            if name == "simulate":
                parser.add_argument(
                    "--num-test", type=number(), default=None, help="default: the run's preset"
                )
            if name == "control":
                parser.add_argument(
                    "--no-baselines",
                    action="store_true",
                    help="only the control models (no solver gradient, hybrid or floors)",
                )
            parser.set_defaults(func=func)
        if self.name == "burgers":
            parser = verbs.add_parser(
                "superres",
                help="zero-shot super-resolution: WDNO's SRM against the DDPM's, the FNO and "
                "single-pair training",
                description="Trains the super-resolution models if needed (<run>/superres: WDNO, "
                "on the run's training set at 81x120 and its coarser levels; "
                "<run>/superres_ddpm: the same in physical space; <run>/superres_single_pair: "
                "WDNO's on the finest pair only), generates the test set at --factor (if "
                "missing), simulates the base level with <run>/wdno and <run>/ddpm and refines "
                "it 2x per level to --factor, and evaluates <run>/fno zero-shot at every level's "
                "grid. Writes <run>/superres.nc, superres.json, superres.md (MSE per method and "
                "level at native resolution and nearest/linear-interpolated to the finest grid, "
                "the interpolated base WDNO baseline) and figures/superres.png, "
                "superres_error.png.",
            )
            self.run_options(parser, preset=False)
            parser.add_argument(
                "--factor", type=int, choices=(2, 4, 8), default=8, help="default: 8 (641x960)"
            )
            parser.add_argument(
                "--methods",
                type=_superres_methods,
                default=None,
                help="comma list of wdno,ddpm,fno,single-pair (default: all)",
            )
            parser.add_argument(
                "--num",
                type=number(),
                default=None,
                help="test trajectories (default: the super-resolution preset's, cpu 20)",
            )
            parser.add_argument(
                "--levels",
                type=number(int, 2),
                default=4,
                help="training levels of the multi-resolution SRMs (default 4)",
            )
            parser.add_argument(
                "--steps",
                type=number(),
                default=None,
                help="SRM steps (default: the super-resolution preset's, else the run's)",
            )
            parser.add_argument(
                "--batch-size",
                type=number(),
                default=None,
                help="trajectories per sampling call (default: the super-resolution preset's, "
                "cpu 4: the finest level's middle-block attention spans 9,840 positions for "
                "WDNO, 38,880 for the DDPM, at 641x960)",
            )
            parser.set_defaults(func=self.superres)


class _AliasedVerbs:
    """The verbs' sub-parsers, adding each verb's aliases (``verb_aliases`` of add_system)."""

    def __init__(self, verbs, aliases: Mapping[str, tuple[str, ...]]):
        self.verbs, self.aliases = verbs, aliases

    def add_parser(self, name: str, **options):
        return self.verbs.add_parser(name, aliases=list(self.aliases.get(name, ())), **options)


def add_system(
    subparsers,
    name: str,
    load_task: Callable,
    *,
    help: str,
    description: str,
    generate_options: Mapping[str, dict] | None = None,
    extra_verbs: Callable | None = None,
    verb_aliases: Mapping[str, tuple[str, ...]] | None = None,
) -> argparse.ArgumentParser:
    """Add ``wdno <name>`` with the standard verbs.

    Args:
        subparsers: the top-level sub-parsers of ``wdno``.
        name: the system's CLI name.
        load_task: zero-argument callable returning the system's :class:`wdno.task.Task`.
        help, description: texts of ``wdno <name> --help``.
        generate_options: extra ``generate`` options, ``{dest: add_argument keywords}``; their
            values are passed to ``task.generate`` as keyword arguments.
        extra_verbs: ``extra_verbs(verbs)`` adds a system's own verbs to the sub-parsers
            ``verbs`` (each sets its ``func``; the work is done by the library).
        verb_aliases: other names of standard verbs in the system's own words, e.g. ERA5's
            ``{"generate": ("prepare",), "simulate": ("forecast",)}``.
    """
    system = _System(name, load_task, dict(generate_options or {}))
    parser = subparsers.add_parser(name, help=help, description=description)
    parser.set_defaults(parser=parser, func=None)
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", title="verbs")
    system.add_verbs(_AliasedVerbs(verbs, dict(verb_aliases or {})))
    if extra_verbs is not None:
        extra_verbs(verbs)
    return parser
